//! What one connection costs generators in heap, plain and over TLS, in flight and kept, and a
//! bare rustls client for the comparison, counted by an allocator that wraps the system's
//! (`support/memory.rs` in callbacks' tests says how). Prints the table the crate's page quotes:
//!
//! ```sh
//! cargo test -p c10k-generators --release --test memory -- --nocapture
//! ```
//!
//! One test in this binary (and the site's process, ignored), so that no other test allocates
//! while the heap is counted.

use c10k_core::{Config, Report};
use c10k_generators::{Options, crawl};

#[path = "../../callbacks/tests/support/memory.rs"]
mod memory;
#[path = "../../callbacks/tests/support/site.rs"]
mod site;

#[global_allocator]
static GLOBAL: memory::Counting = memory::COUNTING;

fn generators(config: &Config, loops: usize) -> Report {
    let options = Options {
        loops,
        ..Options::default()
    };
    crawl(config, &options).expect("the crawl runs")
}

#[test]
fn heap_per_connection() {
    memory::report(GLOBAL, "generators", generators);
}

/// The site, in a process of its own (see `support/memory.rs`).
#[test]
#[ignore = "run by heap_per_connection, in a child process"]
fn site_process() {
    memory::serve();
}
