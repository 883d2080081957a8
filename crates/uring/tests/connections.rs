//! The crawler over TLS and with kept connections, against a small site served on loopback
//! by the test (`common`): every page fetched, in close
//! mode with a handshake per connection and resumed sessions, with keep-alive on as few
//! connections as the concurrency, a reused connection the server had closed sent again on a
//! fresh one, a server that ends a connection after a few requests, a certificate nobody
//! trusts; one ring and several. Every test needs io_uring: where it is unavailable, each
//! says so on stderr and passes without running.

use std::sync::{Arc, atomic::Ordering};

use c10k_core::{Config, ErrorKind, Report, Status, Tracer, trace::Memory};
use c10k_uring::Options;
use common::{Behaviour, Site, skipped};

mod common;

fn crawl(config: &Config, loops: usize) -> Report {
    let options = Options {
        loops,
        ..Options::default()
    };
    c10k_uring::crawl(config, &options).expect("the crawl runs")
}

/// Every page of the site is fetched and answered 200 (the root and its `pages` links).
fn every_page(report: &Report, behaviour: Behaviour) {
    assert_eq!(report.pages, behaviour.pages + 1, "{report:#?}");
    assert_eq!(report.errors, 0, "{:?}", report.error_counts);
    assert_eq!(report.retries, 0, "no try counted");
}

#[test]
fn over_tls_each_connection_has_a_handshake_and_later_ones_resume() {
    if skipped() {
        return;
    }
    let behaviour = Behaviour {
        tls: true,
        ..Behaviour::default()
    };
    let site = Site::start(behaviour);
    for loops in [1, 2] {
        let before = site.accepted.load(Ordering::SeqCst);
        let report = crawl(&site.config(4, false), loops);
        every_page(&report, behaviour);
        let fetches = site.accepted.load(Ordering::SeqCst) - before;
        let conns = report.connections;
        // One handshake per fetch, robots.txt's included.
        assert_eq!(
            conns.handshakes + conns.resumed,
            fetches as u64,
            "{conns:?}"
        );
        assert!(conns.resumed > 0, "sessions are resumed: {conns:?}");
        assert_eq!((conns.reused, conns.kept), (0, 0));
        assert!(site.all_ended());
    }
}

#[test]
fn kept_connections_carry_the_crawl_on_as_many_connections_as_fetches_in_flight() {
    if skipped() {
        return;
    }
    for tls in [false, true] {
        let behaviour = Behaviour {
            tls,
            ..Behaviour::default()
        };
        let site = Site::start(behaviour);
        for loops in [1, 2] {
            let before = site.accepted.load(Ordering::SeqCst);
            let report = crawl(&site.config(4, true), loops);
            every_page(&report, behaviour);
            let conns = report.connections;
            let opened = site.accepted.load(Ordering::SeqCst) - before;
            // At most one connection per fetch in flight.
            assert!(
                opened <= 4,
                "tls {tls}, loops {loops}: {opened} connections"
            );
            assert_eq!(conns.stale, 0);
            assert!(
                conns.reused + opened as u64 > behaviour.pages as u64,
                "tls {tls}, loops {loops}: {conns:?}"
            );
            if tls {
                assert_eq!(conns.handshakes + conns.resumed, opened as u64);
            }
            // Every kept connection was reused or closed at the end: the server saw them end.
            assert!(conns.kept >= conns.reused);
            assert!(
                site.all_ended(),
                "the pool is drained before the crawl returns"
            );
        }
    }
}

#[test]
fn a_reused_connection_the_server_closed_is_sent_again_on_a_fresh_one() {
    if skipped() {
        return;
    }
    for tls in [false, true] {
        let behaviour = Behaviour {
            tls,
            pages: 20,
            drop_after_response: true,
            ..Behaviour::default()
        };
        let site = Site::start(behaviour);
        let report = crawl(&site.config(2, true), 1);
        every_page(&report, behaviour);
        let conns = report.connections;
        assert!(conns.stale > 0, "tls {tls}: {conns:?}");
        assert_eq!(
            conns.stale, conns.reused,
            "tls {tls}: every reuse found closed"
        );
        assert!(site.all_ended());
    }
}

#[test]
fn a_server_that_ends_connections_after_some_requests() {
    if skipped() {
        return;
    }
    for tls in [false, true] {
        let behaviour = Behaviour {
            tls,
            max_requests: 3,
            ..Behaviour::default()
        };
        let site = Site::start(behaviour);
        let report = crawl(&site.config(3, true), 1);
        every_page(&report, behaviour);
        let conns = report.connections;
        let opened = site.accepted.load(Ordering::SeqCst) as u64;
        // Two of every three responses leave the connection kept, the third closes it.
        assert_eq!(conns.stale, 0, "{conns:?}");
        assert!(opened >= (behaviour.pages as u64 + 1) / 3, "{opened}");
        assert!(conns.reused > 0 && conns.reused < behaviour.pages as u64);
        assert!(site.all_ended());
    }
}

#[test]
fn a_certificate_nobody_trusts_is_a_tls_error() {
    if skipped() {
        return;
    }
    let site = Site::start(Behaviour {
        tls: true,
        ..Behaviour::default()
    });
    for keep_alive in [false, true] {
        let mut config = site.config(2, keep_alive);
        config.tls.extra_roots.clear();
        config.robots = false;
        config.max_tries = 1;
        let report = crawl(&config, 1);
        assert_eq!(report.records.len(), 1);
        assert_eq!(
            report.records[0].status,
            Status::Error(ErrorKind::Tls),
            "{report:#?}"
        );
        assert!(site.all_ended());
    }
}

/// The trace shows a connection's life: the handshake after the connect, the reuse, the
/// connection kept just before the fetch completes.
#[test]
fn the_trace_shows_handshakes_reuse_and_kept_connections() {
    if skipped() {
        return;
    }
    let site = Site::start(Behaviour {
        tls: true,
        pages: 10,
        ..Behaviour::default()
    });
    let mut config = site.config(2, true);
    let memory = Memory::default();
    config.trace = Some(Arc::new(Tracer::new(memory.clone())));
    crawl(&config, 1);
    let text = memory.text();
    for event in [
        "tls handshake done",
        "connection reused",
        "connection kept for the next fetch",
    ] {
        assert!(text.contains(event), "no {event:?} in\n{text}");
    }
    // A line: time, "ms", fetch id, thread, then the event's words.
    let lines: Vec<(&str, String)> = text
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words[2], words[4..].join(" "))
        })
        .collect();
    // On a kept connection the request's records go out and its response comes back, and
    // nothing else: no connect, no handshake.
    for (id, _) in lines
        .iter()
        .filter(|(_, event)| event == "connection reused")
    {
        let events: Vec<&str> = lines
            .iter()
            .filter(|(of, _)| of == id)
            .map(|(_, event)| event.as_str())
            .collect();
        assert!(
            events
                .iter()
                .all(|event| !event.starts_with("connected") && !event.starts_with("tls")),
            "{events:#?}"
        );
    }
}
