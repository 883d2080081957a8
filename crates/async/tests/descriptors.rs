//! Every connection the keep-alive pools kept is closed before the crawl returns, on every
//! runtime. Descriptors are counted per process, so this is its own test binary with a single
//! test.

use c10k_async::{Options, crawl};
use c10k_core::{Config, Report};
use support::checks;

#[path = "../../threads/tests/support/mod.rs"]
mod support;

fn run(config: &Config, threads: Option<usize>, per_core: bool) -> Report {
    let options = Options {
        threads,
        per_core,
        ..Options::default()
    };
    crawl(config, &options).expect("the crawl runs")
}

#[test]
fn kept_connections_are_closed_before_the_crawl_returns() {
    checks::kept_connections_are_closed_before_the_crawl_returns(&[
        ("current-thread", &|config| run(config, None, false)),
        ("per-core 3", &|config| run(config, Some(3), true)),
        ("stealing 2", &|config| run(config, Some(2), false)),
    ]);
}
