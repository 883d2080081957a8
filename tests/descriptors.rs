//! Every socket a crawl opens is closed when it returns, for every strategy — with one loop or
//! runtime and with several — on a good site and on the fault site, where connections end by
//! resets, timeouts and oversized bodies. (Each loop's poller and waker are descriptors too.)
//!
//! Descriptors are counted per process, so this is its own test binary with a single test:
//! nothing else runs beside it to open or close descriptors while it counts.

use std::{
    thread,
    time::{Duration, Instant},
};

use c10k_harness::{Strategy, StrategyOptions, open_fds};
use c10k_testsite::SiteSpec;
use common::{loops, per_core};

mod common;

#[test]
fn crawls_leave_no_descriptor_open() {
    let good = SiteSpec {
        pages: 300,
        ..SiteSpec::default()
    };
    let hostile = SiteSpec {
        pages: 30,
        faults: true,
        ..SiteSpec::default()
    };
    let mut variants: Vec<_> = Strategy::ALL
        .iter()
        .map(|&strategy| (strategy, StrategyOptions::default()))
        .collect();
    for n in [2, 3] {
        variants.push((Strategy::Callbacks, loops(n)));
        variants.push((Strategy::Generators, loops(n)));
        variants.push((Strategy::Async, per_core(n)));
        variants.push((Strategy::Uring, loops(n)));
    }
    for spec in [good, hostile] {
        let server = common::start(&spec);
        for (strategy, options) in variants.iter().filter(|(s, _)| !common::skipped(*s)) {
            let mut config = common::config(&server, 50);
            config.timeout = Duration::from_millis(300);
            config.limits.max_body = 1024 * 1024;
            let before = open_fds().unwrap();
            let report = c10k_harness::run(*strategy, &config, options).unwrap();
            assert!(report.pages >= 30, "{strategy} {options:?}");
            // The server closes its side of the last connections on its own thread (and holds
            // the silent ones until the client leaves): give it a moment.
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut after = open_fds().unwrap();
            while after > before && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
                after = open_fds().unwrap();
            }
            assert!(
                after <= before,
                "{strategy} {options:?} (faults: {}): {before} descriptors before the crawl, {after} after",
                spec.faults
            );
        }
    }
}
