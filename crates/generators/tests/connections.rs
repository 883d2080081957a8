//! https and keep-alive with generators, on one loop and on two: against a small site of this
//! crate's tests (`support/site.rs`, shared with callbacks' tests).

use c10k_core::{Config, Report};
use c10k_generators::{Options, crawl};

#[path = "../../callbacks/tests/support/site.rs"]
mod site;

fn generators(config: &Config, loops: usize) -> Report {
    let options = Options {
        loops,
        ..Options::default()
    };
    crawl(config, &options).expect("the crawl runs")
}

#[test]
fn https_one_connection_per_fetch() {
    site::tls_close(generators, 1);
    site::tls_close(generators, 2);
}

#[test]
fn keep_alive() {
    site::keep_alive(generators, 1, false);
    site::keep_alive(generators, 2, false);
}

#[test]
fn keep_alive_over_tls() {
    site::keep_alive(generators, 1, true);
    site::keep_alive(generators, 2, true);
}

#[test]
fn a_kept_connection_the_server_closed_is_opened_again() {
    site::stale(generators, 1, false);
    site::stale(generators, 2, true);
}

#[test]
fn a_connection_the_server_closes_is_not_kept() {
    site::closed_by_the_server(generators, 1, false);
    site::closed_by_the_server(generators, 2, true);
}

#[test]
fn tls_failures_are_outcomes() {
    site::tls_failures(generators, 1);
    site::tls_failures(generators, 2);
}

#[test]
fn the_trace_shows_handshakes_and_reuse_in_order() {
    site::trace_order(generators, 1, false);
    site::trace_order(generators, 2, true);
}
