//! The server dies in the middle of a crawl and comes back on the same port: with tries and
//! backoff enough to outlast the pause, every strategy and variant still ends with exactly the
//! manifest's URLs and outcomes, closing connections and keeping them; with one try, what the
//! death cut off ends as errors the report counts, and each URL still ends once.
//!
//! The kill is the test server dropped: its runtime goes, and with it every connection it held
//! (in flight, or kept idle for the crawler's next request). A crawl at C = 1,000 on pages
//! held 100 ms has about a thousand fetches in flight when it comes.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::atomic::Ordering,
    thread,
    time::{Duration, Instant},
};

use c10k_core::{Config, Report, Status, urls_out};
use c10k_harness::{Strategy, StrategyOptions, raise_fd_limit};
use c10k_testsite::{Server, ServerOptions, SiteSpec};
use common::{loops, per_core};

mod common;

const CONCURRENCY: usize = 1000;
/// Requests served before the kill.
const KILL_AFTER: u64 = 600;
/// How long the port refuses connections.
const PAUSE: Duration = Duration::from_millis(300);
/// A crawl that takes longer has hung (the watchdog's bound).
const WATCHDOG: Duration = Duration::from_secs(60);

fn site() -> SiteSpec {
    SiteSpec {
        pages: 2000,
        delay: Duration::from_millis(100),
        ..SiteSpec::default()
    }
}

fn start(addr: SocketAddr) -> Server {
    Server::start(ServerOptions {
        spec: site(),
        addr,
        threads: 2,
        ..ServerOptions::default()
    })
    .expect("the test server starts")
}

/// Every variant: each strategy as it runs by default, and its parallel forms.
fn variants() -> Vec<(Strategy, StrategyOptions)> {
    let mut variants: Vec<_> = Strategy::ALL
        .iter()
        .map(|&strategy| (strategy, StrategyOptions::default()))
        .collect();
    variants.push((Strategy::Callbacks, loops(2)));
    variants.push((Strategy::Generators, loops(2)));
    variants.push((Strategy::Uring, loops(2)));
    variants.push((Strategy::Async, per_core(2)));
    variants.push((
        Strategy::Async,
        StrategyOptions {
            runtime_threads: Some(2),
            ..StrategyOptions::default()
        },
    ));
    variants
        .into_iter()
        .filter(|(strategy, _)| !common::skipped(*strategy))
        .collect()
}

/// Crawls a server that is killed once `KILL_AFTER` requests have been read and started
/// again on the same port `PAUSE` later; returns the report and the manifest's `--urls-out`.
fn crawl_through_a_restart(
    strategy: Strategy,
    options: &StrategyOptions,
    configure: impl FnOnce(&mut Config),
) -> (Report, String) {
    let first = start(SocketAddr::from(([127, 0, 0, 1], 0)));
    let addr = first.addr();
    let manifest = first.manifest(&site()).urls_out();
    let mut config = common::config(&first, CONCURRENCY);
    config.timeout = Duration::from_secs(5);
    configure(&mut config);
    let crawl = {
        let options = options.clone();
        thread::spawn(move || c10k_harness::run(strategy, &config, &options))
    };
    let started = Instant::now();
    while first.stats().served.load(Ordering::Relaxed) < KILL_AFTER {
        assert!(
            !crawl.is_finished() && started.elapsed() < WATCHDOG,
            "{strategy} {options:?}: the crawl ended or hung before the kill"
        );
        thread::sleep(Duration::from_millis(2));
    }
    drop(first);
    thread::sleep(PAUSE);
    let second = start(addr);
    while !crawl.is_finished() {
        assert!(
            started.elapsed() < WATCHDOG,
            "{strategy} {options:?}: no end within {WATCHDOG:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
    drop(second);
    let report = crawl.join().expect("no panic").expect("the strategy runs");
    (report, manifest)
}

/// Each URL ended once.
fn each_url_once(report: &Report) {
    let mut seen = HashSet::new();
    for record in &report.records {
        assert!(seen.insert(&record.url), "{} ended twice", record.url);
    }
}

#[test]
fn enough_tries_outlast_a_restart_exactly() {
    raise_fd_limit().expect("the open-file limit");
    for (strategy, options) in variants() {
        for keep_alive in [false, true] {
            let (report, manifest) = crawl_through_a_restart(strategy, &options, |config| {
                config.keep_alive = keep_alive;
                config.max_tries = 10;
                config.backoff = Duration::from_millis(50);
                config.max_wait = Duration::from_secs(1);
            });
            let what = format!("{strategy} {options:?} keep-alive {keep_alive}");
            each_url_once(&report);
            assert!(
                report.retries > 0,
                "{what}: the kill cut no fetch, so nothing was tested"
            );
            assert_eq!(urls_out(&report.records), manifest, "{what}");
            assert!(
                report.records.iter().all(|record| record.tries <= 10),
                "{what}"
            );
        }
    }
}

#[test]
fn one_try_ends_what_the_death_cut_off_as_errors() {
    raise_fd_limit().expect("the open-file limit");
    for (strategy, options) in variants() {
        let (report, manifest) = crawl_through_a_restart(strategy, &options, |config| {
            config.max_tries = 1;
        });
        let what = format!("{strategy} {options:?}");
        each_url_once(&report);
        let failed = report
            .records
            .iter()
            .filter(|record| {
                matches!(record.status, Status::Error(kind) if matches!(
                    kind.as_str(),
                    "connect" | "reset" | "timeout"
                ))
            })
            .count();
        assert!(failed > 0, "{what}: the kill cut no fetch");
        let counted: usize = ["connect", "reset", "timeout"]
            .iter()
            .filter_map(|kind| report.error_counts.get(*kind))
            .sum();
        assert_eq!(counted, failed, "{what}: the report counts them");
        let again: Vec<_> = report
            .records
            .iter()
            .filter(|record| record.tries > 1)
            .map(|record| (&record.url, record.tries, &record.status))
            .collect();
        assert!(again.is_empty(), "{what}: tried again: {again:?}");
        // What was not cut off is as the manifest says.
        let expected: HashSet<&str> = manifest.lines().collect();
        let out = urls_out(&report.records);
        for line in out.lines().filter(|line| !line.starts_with("error:")) {
            assert!(
                expected.contains(line),
                "{what}: {line} is not in the manifest"
            );
        }
    }
}
