//! The checks both crates' connection tests run, each against every variant it is given (a
//! name, and a crawl), one variant after the other on one site.

use std::time::Duration;

use c10k_core::{Config, Report};

use super::{Fault, Site, Spec};

/// A variant of a strategy: its name, and a crawl with it.
pub(crate) type Variant<'a> = (&'a str, &'a dyn Fn(&Config) -> Report);

/// Crawls `config` with each variant; `check` gets its name, its report, and how many
/// connections the site accepted during it.
fn each(
    variants: &[Variant<'_>],
    site: &Site,
    config: &Config,
    check: impl Fn(&str, &Report, usize),
) {
    for (name, crawl) in variants {
        let before = site.accepted();
        let report = crawl(config);
        check(name, &report, site.accepted() - before);
    }
}

/// The root and its pages, all 200, each fetched once (robots.txt is a 404).
fn assert_exact(name: &str, report: &Report, site: &Site) {
    let scheme = if site.spec.tls { "https" } else { "http" };
    let mut expected: Vec<String> = (1..=site.spec.pages)
        .map(|n| format!("200\t{scheme}://{}/p/{n}", site.addr))
        .collect();
    expected.push(format!("200\t{scheme}://{}/", site.addr));
    expected.sort();
    let mut lines: Vec<String> = report.records.iter().map(|r| r.line()).collect();
    lines.sort();
    assert_eq!(lines, expected, "{name}: {report:?}");
    assert!(
        report.records.iter().all(|r| r.tries == 1),
        "{name}: {report:?}"
    );
}

/// Fetches: robots.txt, the root and its pages.
fn fetches(site: &Site) -> u64 {
    2 + site.spec.pages as u64
}

/// Keep-alive over http: robots.txt (HTTP/1.0, closed) and the pages over at most as many
/// connections as the concurrency, every other fetch on a kept one.
pub(crate) fn keep_alive_takes_connections_from_the_pool(variants: &[Variant<'_>]) {
    let site = Site::start(Spec::default());
    let mut config = site.config(4);
    config.keep_alive = true;
    each(variants, &site, &config, |name, report, accepted| {
        assert_exact(name, report, &site);
        assert!(accepted <= 1 + 4, "{name}: {accepted} connections");
        let c = &report.connections;
        assert_eq!(c.reused, fetches(&site) - accepted as u64, "{name}: {c:?}");
        assert!(c.kept >= c.reused && c.stale == 0, "{name}: {c:?}");
    });
}

/// Without keep-alive, as before it: a connection per fetch, none kept.
pub(crate) fn close_mode_opens_a_connection_per_fetch(variants: &[Variant<'_>]) {
    let site = Site::start(Spec::default());
    each(
        variants,
        &site,
        &site.config(4),
        |name, report, accepted| {
            assert_exact(name, report, &site);
            assert_eq!(accepted as u64, fetches(&site), "{name}");
            let c = &report.connections;
            assert_eq!(
                c.reused + c.kept + c.handshakes + c.resumed,
                0,
                "{name}: {c:?}"
            );
        },
    );
}

/// https, a connection per fetch: a handshake each, and the later ones resume the session.
pub(crate) fn https_every_page_once_with_resumed_sessions(variants: &[Variant<'_>]) {
    let site = Site::start(Spec {
        tls: true,
        keep_alive: false,
        ..Spec::default()
    });
    each(variants, &site, &site.config(4), |name, report, _| {
        assert_exact(name, report, &site);
        let c = &report.connections;
        assert_eq!(
            c.handshakes + c.resumed,
            fetches(&site),
            "{name}: one per fetch"
        );
        assert!(c.resumed > 0, "{name}: {c:?}");
    });
}

/// https with keep-alive: a handshake per connection opened, none on a kept one.
pub(crate) fn https_kept_connections_carry_no_new_handshake(variants: &[Variant<'_>]) {
    let site = Site::start(Spec {
        tls: true,
        ..Spec::default()
    });
    let mut config = site.config(4);
    config.keep_alive = true;
    each(variants, &site, &config, |name, report, accepted| {
        assert_exact(name, report, &site);
        let c = &report.connections;
        assert_eq!(c.handshakes + c.resumed, accepted as u64, "{name}: {c:?}");
        assert_eq!(c.reused, fetches(&site) - accepted as u64, "{name}: {c:?}");
    });
}

/// A server that closes a kept connection when its second request comes: the request goes
/// again on a new connection, without counting a try, and the crawl is exact.
pub(crate) fn a_kept_connection_the_server_let_go_is_sent_again_once(variants: &[Variant<'_>]) {
    for tls in [false, true] {
        let site = Site::start(Spec {
            tls,
            fault: Fault::DropSecond,
            pages: 10,
            ..Spec::default()
        });
        let mut config = site.config(2);
        config.keep_alive = true;
        each(variants, &site, &config, |name, report, _| {
            assert_exact(name, report, &site);
            let c = &report.connections;
            assert!(
                c.stale > 0 && c.stale <= c.reused,
                "{name}, tls {tls}: {c:?}"
            );
            assert_eq!(report.retries, 0, "{name}, tls {tls}: no try counted");
        });
    }
}

/// A response's worth of bytes that come on a kept connection while it is idle: the
/// connection is closed, never reused, so they are not read as the next fetch's response.
pub(crate) fn bytes_that_came_on_an_idle_connection_are_never_read_as_a_response(
    variants: &[Variant<'_>],
) {
    for tls in [false, true] {
        let site = Site::start(Spec {
            tls,
            fault: Fault::StrayAfter,
            pages: 5,
            ..Spec::default()
        });
        let mut config = site.config(1);
        config.keep_alive = true;
        // One fetch at a time, 100 ms apart: the stray bytes are there before the next.
        config.delay = Duration::from_millis(100);
        each(variants, &site, &config, |name, report, _| {
            assert_exact(name, report, &site);
            assert_eq!(report.connections.reused, 0, "{name}, tls {tls}");
        });
    }
}

/// A body delimited by the close is whole after `close_notify`, truncated without it.
pub(crate) fn a_tls_stream_cut_without_close_notify_is_truncated(variants: &[Variant<'_>]) {
    for (fault, expected) in [
        (Fault::UncleanEnd, "error:truncated"),
        (Fault::CleanEnd, "200"),
    ] {
        let site = Site::start(Spec {
            tls: true,
            fault,
            pages: 0,
            ..Spec::default()
        });
        each(variants, &site, &site.config(1), |name, report, _| {
            let root = format!("https://{}/", site.addr);
            let record = report.records.iter().find(|r| r.url == root);
            let line = record.expect("the root's record").line();
            assert_eq!(line.split('\t').next(), Some(expected), "{name}, {fault:?}");
        });
    }
}

/// Descriptors open in this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("Linux: /proc/self/fd")
        .count()
}

/// Every connection kept is closed before the crawl returns, over http and https: the
/// process has no more descriptors after it than before. (Counted per process: call it from
/// a test binary with no other test.)
pub(crate) fn kept_connections_are_closed_before_the_crawl_returns(variants: &[Variant<'_>]) {
    for tls in [false, true] {
        let site = Site::start(Spec {
            tls,
            pages: 60,
            ..Spec::default()
        });
        let mut config = site.config(8);
        config.keep_alive = true;
        for (name, crawl) in variants {
            let before = open_fds();
            let report = crawl(&config);
            assert!(report.connections.kept > 0, "{name}, tls {tls}");
            // The site closes its side of a connection on its own thread once the crawler
            // has closed its own: give it a moment.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            let mut after = open_fds();
            while after > before && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
                after = open_fds();
            }
            assert!(
                after <= before,
                "{name}, tls {tls}: {before} descriptors before, {after} after"
            );
        }
    }
}
