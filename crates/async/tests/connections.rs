//! HTTPS and keep-alive in the async crawler, on every runtime (one thread, a runtime per
//! core, work stealing, and one thread with the offload): every page once over TLS,
//! connections taken from the pool and kept, a kept connection the server let go sent again
//! once, bytes that came on an idle connection never read as a response, and the end of a
//! TLS stream told apart from a cut one. Against a site in this process, with the checks of
//! the threads crate's tests (one module, included by path); the shared suites at the root
//! run the test server's TLS and keep-alive sites.

use c10k_async::{Options, crawl};
use c10k_core::{Config, Report};
use support::checks::{self, Variant};

#[path = "../../threads/tests/support/mod.rs"]
mod support;

fn run(config: &Config, options: Options) -> Report {
    crawl(config, &options).expect("the crawl runs")
}

fn current_thread(config: &Config) -> Report {
    run(config, Options::default())
}

fn per_core(config: &Config) -> Report {
    let options = Options {
        threads: Some(2),
        per_core: true,
        ..Options::default()
    };
    run(config, options)
}

fn stealing(config: &Config) -> Report {
    let options = Options {
        threads: Some(2),
        ..Options::default()
    };
    run(config, options)
}

fn offload(config: &Config) -> Report {
    let options = Options {
        offload: true,
        ..Options::default()
    };
    run(config, options)
}

const RUNTIMES: &[Variant<'static>] = &[
    ("current-thread", &current_thread),
    ("per-core 2", &per_core),
    ("stealing 2", &stealing),
    ("offload", &offload),
];

#[test]
fn keep_alive_takes_connections_from_the_pool() {
    checks::keep_alive_takes_connections_from_the_pool(RUNTIMES);
}

#[test]
fn close_mode_opens_a_connection_per_fetch() {
    checks::close_mode_opens_a_connection_per_fetch(RUNTIMES);
}

#[test]
fn https_every_page_once_with_resumed_sessions() {
    checks::https_every_page_once_with_resumed_sessions(RUNTIMES);
}

#[test]
fn https_kept_connections_carry_no_new_handshake() {
    checks::https_kept_connections_carry_no_new_handshake(RUNTIMES);
}

#[test]
fn a_kept_connection_the_server_let_go_is_sent_again_once() {
    checks::a_kept_connection_the_server_let_go_is_sent_again_once(RUNTIMES);
}

#[test]
fn bytes_that_came_on_an_idle_connection_are_never_read_as_a_response() {
    checks::bytes_that_came_on_an_idle_connection_are_never_read_as_a_response(RUNTIMES);
}

#[test]
fn a_tls_stream_cut_without_close_notify_is_truncated() {
    checks::a_tls_stream_cut_without_close_notify_is_truncated(RUNTIMES);
}
