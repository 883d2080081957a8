//! Every connection the keep-alive pool kept is closed before the crawl returns. Descriptors
//! are counted per process, so this is its own test binary with a single test.

use c10k_core::{Config, Report};
use c10k_threads::{Options, crawl};
use support::checks;

mod support;

fn threads(config: &Config) -> Report {
    crawl(config, &Options::default()).expect("the crawl runs")
}

#[test]
fn kept_connections_are_closed_before_the_crawl_returns() {
    checks::kept_connections_are_closed_before_the_crawl_returns(&[("threads", &threads)]);
}
