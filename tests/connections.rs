//! The conformance suite over the real web's connections: HTTPS and keep-alive, for every
//! strategy and variant. The same site and manifest as plain http with one connection per
//! fetch, and what the connections did, counted in the report:
//!
//! - over TLS, every fetch of a new connection shakes hands, and most resume the shard's
//!   session; each TLS failure of the test server's fault listeners gives its outcome;
//! - with keep-alive, connections are reused and the server sees several requests on one;
//!   a server that drops a kept connection (`--max-requests`, silently) costs a retry on a
//!   fresh one, never a try or an error; one that says `Connection: close` costs nothing;
//! - both together: pooled TLS connections carry no new handshake.
//!
//! A strategy joins by adding one line to the `connections!` list at the bottom.

use std::{sync::Arc, time::Duration};

use c10k_core::{Config, Report, urls_out};
use c10k_harness::{Strategy, StrategyOptions};
use c10k_testsite::{
    KeepAlive, Server, ServerOptions, SiteSpec,
    tls::{Ca, Tls, TlsMode},
};
use common::{loops, per_core};

mod common;

/// How the crawler's connections go, and the server to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tls,
    KeepAlive,
    TlsKeepAlive,
}

impl Transport {
    fn tls(self) -> bool {
        matches!(self, Transport::Tls | Transport::TlsKeepAlive)
    }

    fn keep_alive(self) -> bool {
        matches!(self, Transport::KeepAlive | Transport::TlsKeepAlive)
    }
}

/// A server for `spec` over `transport`'s protocol (it keeps connections whenever the client
/// asks), with `keep_alive`'s limits.
fn serve(spec: &SiteSpec, transport: Transport, keep_alive: KeepAlive) -> Server {
    Server::start(ServerOptions {
        spec: spec.clone(),
        tls: transport.tls().then(|| Tls::new(TlsMode::Valid)),
        keep_alive,
        ..ServerOptions::default()
    })
    .expect("the test server starts on a free port")
}

/// A crawl of `server` at `concurrency` over `transport`, trusting the server's CA.
fn config(server: &Server, concurrency: usize, transport: Transport) -> Config {
    let mut config = common::config(server, concurrency);
    trust(&mut config, server.ca());
    config.keep_alive = transport.keep_alive();
    config
}

fn trust(config: &mut Config, ca: Option<&Arc<Ca>>) {
    if let Some(ca) = ca {
        config.tls.extra_roots.push(ca.der());
    }
}

fn crawl(strategy: Strategy, options: &StrategyOptions, config: &Config) -> Report {
    c10k_harness::run(strategy, config, options).expect("the strategy runs")
}

/// The standard site at C = 8 and 200: exactly the manifest, and the connections counted.
fn matches_the_manifest(strategy: Strategy, options: StrategyOptions, transport: Transport) {
    let spec = SiteSpec {
        pages: 300,
        ..SiteSpec::default()
    };
    for concurrency in [8, 200] {
        let server = serve(&spec, transport, KeepAlive::default());
        let config = config(&server, concurrency, transport);
        let report = crawl(strategy, &options, &config);
        let context = format!("{strategy} {options:?} over {transport:?} at C = {concurrency}");
        assert_eq!(
            urls_out(&report.records),
            server.manifest(&spec).urls_out(),
            "{context}"
        );
        assert_eq!(report.errors, 0, "{context}");
        assert_eq!(report.retries, 0, "{context}");
        let c = report.connections;
        let fetches = report.fetched as u64 + 1; // and robots.txt
        let handshakes = c.handshakes + c.resumed;
        if transport.tls() {
            assert!(c.resumed > 0, "{context}: {c:?}");
        } else {
            assert_eq!(handshakes, 0, "{context}: {c:?}");
        }
        if transport.keep_alive() {
            // Every fetch is on a new connection or a reused one, and no more connections
            // are opened than can be busy at once (one origin: none is ever evicted).
            let opened = fetches - c.reused;
            assert!(
                opened <= concurrency as u64 + c.stale,
                "{context}: {c:?} of {fetches}"
            );
            assert!(c.kept >= c.reused, "{context}: {c:?}");
            let reused = server
                .stats()
                .reused
                .load(std::sync::atomic::Ordering::Relaxed);
            assert!(reused > 0, "{context}");
            if transport.tls() {
                // One handshake per connection opened, none per reuse.
                assert_eq!(handshakes + c.reused, fetches, "{context}: {c:?}");
            }
        } else {
            assert_eq!((c.reused, c.kept), (0, 0), "{context}: {c:?}");
            if transport.tls() {
                assert_eq!(handshakes, fetches, "{context}: {c:?}");
            }
        }
    }
}

/// A server that closes a kept connection after 3 responses, silently: the client meets the
/// close when it reuses the connection, and sends again on a fresh one (no try counted, no
/// error). Announced with `Connection: close` instead, the connection is never reused past it.
fn a_dropped_connection_is_retried_fresh(strategy: Strategy, options: StrategyOptions) {
    let spec = SiteSpec {
        pages: 200,
        ..SiteSpec::default()
    };
    for transport in [Transport::KeepAlive, Transport::TlsKeepAlive] {
        for announce_last in [false, true] {
            let keep_alive = KeepAlive {
                max_requests: Some(3),
                announce_last,
                ..KeepAlive::default()
            };
            let server = serve(&spec, transport, keep_alive);
            let report = crawl(strategy, &options, &config(&server, 8, transport));
            let context =
                format!("{strategy} {options:?} over {transport:?}, announced: {announce_last}");
            assert_eq!(
                urls_out(&report.records),
                server.manifest(&spec).urls_out(),
                "{context}"
            );
            assert_eq!((report.errors, report.retries), (0, 0), "{context}");
            let c = report.connections;
            assert!(c.reused > 0, "{context}: {c:?}");
            if announce_last {
                assert_eq!(c.stale, 0, "{context}: {c:?}");
            }
        }
    }
}

/// The fault site over TLS with keep-alive: the same outcomes as over plain http (resets,
/// silence, garbage, huge heads…), plus the TLS pages (a body cut without close_notify is
/// truncated) and the keep-alive pages (an unframed response, bytes past Content-Length, an
/// interim response, a silent drop), none read as another page's response.
fn the_fault_site_over_tls_with_keep_alive(strategy: Strategy, options: StrategyOptions) {
    let spec = SiteSpec {
        pages: 30,
        faults: true,
        ..SiteSpec::default()
    };
    for transport in [
        Transport::Tls,
        Transport::TlsKeepAlive,
        Transport::KeepAlive,
    ] {
        let server = serve(&spec, transport, KeepAlive::default());
        let mut config = config(&server, 8, transport);
        common::on_the_fault_site(&mut config);
        let report = crawl(strategy, &options, &config);
        assert_eq!(
            urls_out(&report.records),
            server.manifest(&spec).urls_out(),
            "{strategy} {options:?} over {transport:?}"
        );
    }
}

/// Each of the test server's TLS fault listeners: the outcome its manifest states, with the
/// reason in the error (robots.txt not asked for, so the root's own fetch meets the fault).
fn tls_faults_give_their_outcome(strategy: Strategy, options: StrategyOptions) {
    let ca = Arc::new(Ca::new().expect("a CA"));
    for mode in TlsMode::FAULTS {
        let server = Server::start(ServerOptions {
            spec: SiteSpec {
                pages: 5,
                ..SiteSpec::default()
            },
            tls: Some(Tls::with_ca(mode, Arc::clone(&ca))),
            ..ServerOptions::default()
        })
        .expect("the fault listener starts");
        let mut config = common::config(&server, 2);
        trust(&mut config, Some(&ca));
        config.robots = false;
        config.timeout = Duration::from_millis(300);
        config.connect_timeout = config.timeout;
        config.max_tries = 2;
        let report = crawl(strategy, &options, &config);
        let root = report.root_record().expect("the root is recorded");
        assert_eq!(
            root.status.to_string(),
            mode.outcome(),
            "{strategy} {options:?}: {}",
            mode.name()
        );
    }
}

macro_rules! connections {
    ($($name:ident => $strategy:expr, $options:expr;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn tls_matches_the_manifest() {
                matches_the_manifest($strategy, $options, Transport::Tls);
            }

            #[test]
            fn keep_alive_matches_the_manifest() {
                matches_the_manifest($strategy, $options, Transport::KeepAlive);
            }

            #[test]
            fn tls_keep_alive_matches_the_manifest() {
                matches_the_manifest($strategy, $options, Transport::TlsKeepAlive);
            }

            #[test]
            fn a_dropped_connection_is_retried_fresh() {
                super::a_dropped_connection_is_retried_fresh($strategy, $options);
            }

            #[test]
            fn the_fault_site_over_tls_with_keep_alive() {
                super::the_fault_site_over_tls_with_keep_alive($strategy, $options);
            }

            #[test]
            fn tls_faults_give_their_outcome() {
                super::tls_faults_give_their_outcome($strategy, $options);
            }
        }
    )*};
}

fn runtime(threads: usize) -> StrategyOptions {
    StrategyOptions {
        runtime_threads: Some(threads),
        ..StrategyOptions::default()
    }
}

connections! {
    threads => Strategy::Threads, StrategyOptions::default();
    callbacks => Strategy::Callbacks, StrategyOptions::default();
    generators => Strategy::Generators, StrategyOptions::default();
    async_current_thread => Strategy::Async, StrategyOptions::default();
    async_two_threads => Strategy::Async, runtime(2);
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
