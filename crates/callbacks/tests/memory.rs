//! What one connection costs callbacks in heap, plain and over TLS, in flight and kept, and a
//! bare rustls client for the comparison, counted by an allocator that wraps the system's
//! (`support/memory.rs` says how). Prints the table the crate's page quotes:
//!
//! ```sh
//! cargo test -p c10k-callbacks --release --test memory -- --nocapture
//! ```
//!
//! One test in this binary (and the site's process, ignored), so that no other test allocates
//! while the heap is counted.

use c10k_callbacks::{Options, crawl};
use c10k_core::{Config, Report};

#[path = "support/memory.rs"]
mod memory;
#[path = "support/site.rs"]
mod site;

#[global_allocator]
static GLOBAL: memory::Counting = memory::COUNTING;

fn callbacks(config: &Config, loops: usize) -> Report {
    let options = Options {
        loops,
        ..Options::default()
    };
    crawl(config, &options).expect("the crawl runs")
}

#[test]
fn heap_per_connection() {
    memory::report(GLOBAL, "callbacks", callbacks);
}

/// The site, in a process of its own (see `support/memory.rs`).
#[test]
#[ignore = "run by heap_per_connection, in a child process"]
fn site_process() {
    memory::serve();
}
