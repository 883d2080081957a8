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

#[path = "../../callbacks/tests/support/memory.rs"]
mod memory;
#[path = "../../callbacks/tests/support/site.rs"]
mod site;

memory_tests!(c10k_generators, "generators");
