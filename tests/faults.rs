//! The fault site: every strategy survives a hostile server, records the stated outcome for
//! every misbehaving page, fetches every good page, bounds its retries, and agrees with the
//! others.

use std::process::Command;

use c10k_core::{Config, ErrorKind, Report, Status, parse_root, urls_out};
use c10k_harness::{Strategy, StrategyOptions};
use c10k_testsite::{Server, SiteSpec, faults::FAULT_PAGES};
use common::{loops, per_core, start};

mod common;

fn fault_site() -> SiteSpec {
    SiteSpec {
        pages: 60,
        faults: true,
        ..SiteSpec::default()
    }
}

/// The fault site's deadlines and limits, with the default tries and redirects the manifest
/// assumes.
fn config(server: &Server, concurrency: usize) -> Config {
    let mut config = common::config(server, concurrency);
    common::on_the_fault_site(&mut config);
    config
}

fn crawl(strategy: Strategy, options: &StrategyOptions, concurrency: usize) -> (Report, String) {
    let spec = fault_site();
    let server = start(&spec);
    let report = c10k_harness::run(strategy, &config(&server, concurrency), options)
        .expect("the strategy runs");
    (report, server.manifest(&spec).urls_out())
}

fn record<'a>(report: &'a Report, path: &str) -> &'a c10k_core::Record {
    report
        .records
        .iter()
        .find(|r| r.url.ends_with(path))
        .unwrap_or_else(|| panic!("{path} is recorded"))
}

/// The whole fault site, at one concurrency: outcomes, retries, and the good pages.
fn survives(strategy: Strategy, options: StrategyOptions, concurrency: usize) {
    let (report, expected) = crawl(strategy, &options, concurrency);
    assert_eq!(
        urls_out(&report.records),
        expected,
        "{strategy} at C = {concurrency}"
    );
    // Every good page, plus the fault pages that are good HTML in the end: bad-utf8 and its
    // target, chunked and its target, flaky; userinfo and its target; percent and its two
    // targets; the late link and the end of the relinked chain; the two Transfer-Encoding
    // pages and their target, the tab, leading zeros and length list pages; the four coded
    // pages and their targets; the three charset pages, the XHTML, noscript and SVG pages,
    // and their eight targets.
    assert_eq!(report.pages, 60 + 5 + 2 + 3 + 2 + 3 + 3 + 8 + 6 + 8);

    // Transport failures are tried exactly --max-tries times; bad responses once.
    let max_tries = Config::new(
        parse_root("http://h/").unwrap(),
        "127.0.0.1:1".parse().unwrap(),
    )
    .max_tries;
    for path in [
        "/fault/reset-before",
        "/fault/silent",
        "/fault/drip",
        "/fault/head-then-silence",
    ] {
        assert_eq!(record(&report, path).tries, max_tries, "{path}");
    }
    for path in [
        "/fault/garbage",
        "/fault/endless",
        "/fault/short-body",
        "/fault/500",
        "/fault/interim-then-close",
    ] {
        assert_eq!(record(&report, path).tries, 1, "{path}");
    }
    // The flaky page: reset twice, then fetched on the third try.
    let flaky = record(&report, "/fault/flaky");
    assert_eq!((flaky.status, flaky.tries), (Status::Http(200), 3));
    assert_eq!(
        record(&report, "/fault/endless").status,
        Status::Error(ErrorKind::TooLarge)
    );
    assert!(
        FAULT_PAGES
            .iter()
            .all(|page| report.records.iter().any(|r| r.url.ends_with(page.path)))
    );
}

macro_rules! fault_suite {
    ($($name:ident => $strategy:expr, $options:expr;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn survives_the_fault_site_sequentially() {
                survives($strategy, $options, 1);
            }

            #[test]
            fn survives_the_fault_site_at_100() {
                survives($strategy, $options, 100);
            }
        }
    )*};
}

fault_suite! {
    threads => Strategy::Threads, StrategyOptions::default();
    callbacks => Strategy::Callbacks, StrategyOptions::default();
    generators => Strategy::Generators, StrategyOptions::default();
    async_current_thread => Strategy::Async, StrategyOptions::default();
    async_two_threads => Strategy::Async, StrategyOptions {
        runtime_threads: Some(2),
        ..StrategyOptions::default()
    };
    callbacks_two_loops => Strategy::Callbacks, loops(2);
    callbacks_three_loops => Strategy::Callbacks, loops(3);
    generators_two_loops => Strategy::Generators, loops(2);
    generators_three_loops => Strategy::Generators, loops(3);
    async_per_core_two => Strategy::Async, per_core(2);
    async_per_core_three => Strategy::Async, per_core(3);
    uring => common::or_skip!(Strategy::Uring), StrategyOptions::default();
    uring_two_loops => common::or_skip!(Strategy::Uring), loops(2);
    uring_three_loops => common::or_skip!(Strategy::Uring), loops(3);
}

/// An endless HTML body cannot make a crawler hold more than `--max-body`: the crawl ends,
/// the page is too large, and the process stays small (measured from outside, per strategy).
#[test]
fn an_endless_body_keeps_memory_bounded() {
    let spec = fault_site();
    let server = start(&spec);
    for &strategy in Strategy::ALL.iter().filter(|&&s| !common::skipped(s)) {
        let output = Command::new(env!("CARGO_BIN_EXE_c10k"))
            .args([
                "crawl",
                &server.url(),
                "--strategy",
                strategy.name(),
                "--concurrency",
                "20",
            ])
            .args(["--timeout-ms", "400", "--max-body", "4194304", "--json"])
            .output()
            .expect("the c10k binary runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            report["error_counts"]["too-large"], 7,
            "{strategy}: {report}"
        );
        let rss_mib = report["process"]["max_rss_kib"].as_u64().unwrap() / 1024;
        // Several 4 MiB bodies may be in flight at once; buffering the endless one would grow
        // without bound (the server never stops sending), and inflating the gzip bomb whole
        // would take 1 GiB.
        assert!(rss_mib < 96, "{strategy}: peak RSS {rss_mib} MiB");
    }
}

/// The fault table of `docs/faults.md` lists every fault page with its outcome.
#[test]
fn the_docs_document_every_fault() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/faults.md")).unwrap();
    for page in FAULT_PAGES {
        let row = doc
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", page.path)))
            .unwrap_or_else(|| panic!("docs/faults.md has no row for {}", page.path));
        assert!(row.ends_with(&format!("| `{}` |", page.outcome)), "{row}");
    }
}
