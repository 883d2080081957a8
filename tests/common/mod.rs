//! What the integration tests share: a test server on a free port, and a crawl config for it.

use c10k_core::{Config, parse_root};
use c10k_harness::StrategyOptions;
use c10k_testsite::{Server, ServerOptions, SiteSpec};

/// Starts an in-process test server for `spec` on a free port.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub(crate) fn start(spec: &SiteSpec) -> Server {
    Server::start(ServerOptions {
        spec: spec.clone(),
        ..ServerOptions::default()
    })
    .expect("the test server starts on a free port")
}

/// Starts an in-process test server for `spec` on a free port that keeps a log of its
/// requests, calling itself `name` in its links if given.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub(crate) fn start_logged(spec: &SiteSpec, name: Option<&str>) -> Server {
    Server::start(ServerOptions {
        spec: spec.clone(),
        name: name.map(ToOwned::to_owned),
        log: true,
        ..ServerOptions::default()
    })
    .expect("the test server starts on a free port")
}

/// The first wait before a retry in the suites that crawl the fault site: its silent pages
/// are tried `--max-tries` times each, and the default backoff (100 ms, doubled each time)
/// would add most of a second to every such chain, and over half a minute to the run of the
/// tests, to test nothing more (conformance tests the backoff's own rule).
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub(crate) const SHORT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);

/// A crawl of the fault site: short deadlines, so silence costs little; short waits between
/// tries ([`SHORT_BACKOFF`]); a small body cap, so the endless body ends soon.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub(crate) fn on_the_fault_site(config: &mut Config) {
    config.timeout = std::time::Duration::from_millis(400);
    config.connect_timeout = config.timeout;
    config.backoff = SHORT_BACKOFF;
    config.limits.max_body = 1024 * 1024;
}

/// A crawl of `server`'s site at `concurrency`, with default limits.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub(crate) fn config(server: &Server, concurrency: usize) -> Config {
    let mut config = Config::new(
        parse_root(&server.url()).expect("the server's URL"),
        server.addr(),
    );
    config.concurrency = concurrency;
    config
}

/// `n` event loops, each with a shard of the frontier (callbacks, generators, uring).
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub(crate) fn loops(n: usize) -> StrategyOptions {
    StrategyOptions {
        loops: Some(n),
        ..StrategyOptions::default()
    }
}

/// `n` current-thread runtimes, each with a shard of the frontier (async).
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub(crate) fn per_core(n: usize) -> StrategyOptions {
    StrategyOptions {
        runtime_threads: Some(n),
        per_core: true,
        ..StrategyOptions::default()
    }
}

/// Whether `strategy` cannot run on this machine (io_uring unavailable, say); if so, says on
/// stderr that the test skips it and why. Written to stderr directly, so that `cargo test`
/// shows it even while it captures the test's output.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub(crate) fn skipped(strategy: c10k_harness::Strategy) -> bool {
    let Some(reason) = strategy.unavailable() else {
        return false;
    };
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipping {strategy}: {reason}");
    true
}

/// `$strategy`, or — when it cannot run on this machine — a return from the calling test,
/// which then passes having said on stderr why it skipped (see [`skipped`]).
// Not every test binary that includes this module uses it (here and in the `use` below).
#[allow(unused_macros)]
macro_rules! or_skip {
    ($strategy:expr) => {{
        let strategy = $strategy;
        if common::skipped(strategy) {
            return;
        }
        strategy
    }};
}
#[allow(unused_imports)]
pub(crate) use or_skip;

/// A port on 127.0.0.1 that refuses connections for as long as the returned socket lives:
/// bound but not listening, so no other test's server can take it meanwhile (a port freed by
/// dropping a listener can be).
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub(crate) fn refusing_port() -> (socket2::Socket, std::net::SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bound to a free port");
    let addr = socket
        .local_addr()
        .ok()
        .and_then(|addr| addr.as_socket())
        .expect("a bound address");
    (socket, addr)
}
