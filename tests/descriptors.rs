//! Every socket a crawl opens is closed when it returns, for every strategy — with one loop or
//! runtime and with several — on a good site and on the fault site, where connections end by
//! resets, timeouts and oversized bodies, over plain http and over TLS with kept connections
//! (whose pool is drained before the crawl returns). (Each loop's poller and waker are
//! descriptors too.)
//!
//! Descriptors are counted per process, so this is its own test binary with a single test:
//! nothing else runs beside it to open or close descriptors while it counts.

use std::{
    thread,
    time::{Duration, Instant},
};

use c10k_harness::{Strategy, StrategyOptions, open_fds};
use c10k_testsite::{
    Server, ServerOptions, SiteSpec,
    tls::{Tls, TlsMode},
};
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
    // Plain http with a connection per fetch, and TLS with kept connections (the pool is
    // drained before the crawl returns).
    let plain = |spec: &SiteSpec| common::start(spec);
    let tls = |spec: &SiteSpec| {
        Server::start(ServerOptions {
            spec: spec.clone(),
            tls: Some(Tls::new(TlsMode::Valid)),
            ..ServerOptions::default()
        })
        .expect("the TLS server starts")
    };
    let servers: [&dyn Fn(&SiteSpec) -> Server; 2] = [&plain, &tls];
    for (spec, start) in [&good, &hostile]
        .into_iter()
        .flat_map(|s| servers.map(|f| (s, f)))
    {
        let server = start(spec);
        for (strategy, options) in variants.iter().filter(|(s, _)| !common::skipped(*s)) {
            let mut config = common::config(&server, 50);
            if let Some(ca) = server.ca() {
                config.tls.extra_roots.push(ca.der());
                config.keep_alive = true;
            }
            // One retry is enough to open and close a second socket for a URL; each further
            // try of the fault site's silent pages would only wait out one more timeout.
            config.timeout = Duration::from_millis(300);
            config.max_tries = 2;
            config.backoff = common::SHORT_BACKOFF;
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
                "{strategy} {options:?} (faults: {}, tls and keep-alive: {}): {before} descriptors before the crawl, {after} after",
                spec.faults,
                config.keep_alive
            );
        }
    }
}
