//! HTTPS and keep-alive in the threads crawler: every page once over TLS, connections taken
//! from the pool and kept, a kept connection the server let go sent again once, bytes that
//! came on an idle connection never read as a response, and the end of a TLS stream told
//! apart from a cut one. Against a site in this process (`support`, whose checks the async
//! crate runs too); the shared suites at the root run the test server's TLS and keep-alive
//! sites.

use c10k_core::{Config, Report};
use c10k_threads::{Options, crawl};
use support::checks::{self, Variant};

mod support;

fn threads(config: &Config) -> Report {
    crawl(config, &Options::default()).expect("the crawl runs")
}

const THREADS: &[Variant<'static>] = &[("threads", &threads)];

#[test]
fn keep_alive_takes_connections_from_the_pool() {
    checks::keep_alive_takes_connections_from_the_pool(THREADS);
}

#[test]
fn close_mode_opens_a_connection_per_fetch() {
    checks::close_mode_opens_a_connection_per_fetch(THREADS);
}

#[test]
fn https_every_page_once_with_resumed_sessions() {
    checks::https_every_page_once_with_resumed_sessions(THREADS);
}

#[test]
fn https_kept_connections_carry_no_new_handshake() {
    checks::https_kept_connections_carry_no_new_handshake(THREADS);
}

#[test]
fn a_kept_connection_the_server_let_go_is_sent_again_once() {
    checks::a_kept_connection_the_server_let_go_is_sent_again_once(THREADS);
}

#[test]
fn bytes_that_came_on_an_idle_connection_are_never_read_as_a_response() {
    checks::bytes_that_came_on_an_idle_connection_are_never_read_as_a_response(THREADS);
}

#[test]
fn a_tls_stream_cut_without_close_notify_is_truncated() {
    checks::a_tls_stream_cut_without_close_notify_is_truncated(THREADS);
}
