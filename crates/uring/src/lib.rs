//! The crawler as callbacks on a completion loop written on io_uring: a fifth way, one step
//! past the lecture's history of event loops.
//!
//! **Readiness, then completion.** The lecture's loop asks the kernel which sockets are
//! *ready*, then does the I/O itself:
//!
//! - `select` (4.2BSD, 1983) passes bitmaps of every descriptor on every call, at most 1,024,
//!   and the kernel scans them all;
//! - `poll` (System V Release 3; Linux 2.2) passes an array instead: no 1,024 cap, still a scan
//!   of every descriptor per call;
//! - `epoll` (Linux 2.5.44, 2002) keeps the interest set in the kernel (`epoll_ctl` once per
//!   change) and `epoll_wait` returns only the ready ones. Still readiness: each step of a
//!   fetch is a system call of its own — `connect`, `epoll_ctl`, `send`, `recv`, `close` —
//!   and that is what `crates/eventloop` (mio) does for callbacks and generators, and tokio
//!   for async;
//! - io_uring (Linux 5.1, 2019) turns it around: the program *submits the operations* —
//!   socket, connect, send, receive, close, each with a deadline — into a submission queue
//!   shared with the kernel, and the kernel reports them *completed* in a completion queue;
//!   one `io_uring_enter` hands over every queued operation and waits for any completion.
//!   The design is the Proactor's (Windows' IOCP, 1994), where epoll loops are Reactors.
//!
//! [`Ring::run`] is the lecture's five-line loop, turned into a completion loop:
//!
//! ```text
//! while operations are in flight:
//!     submit every queued operation; wait for at least one completion   # one io_uring_enter
//!     for completion in completion_queue:
//!         operation = in_flight.pop(completion.user_data)                # a slab key
//!         operation.callback(completion.result, what the operation had lent the kernel)
//! ```
//!
//! **Beside the other four.** `threads` blocks a thread per connection; `callbacks` chains
//! callbacks on readiness; `generators` writes the same fetch as state machines on that loop;
//! `async` has the compiler write them, on tokio. This crate is `callbacks` again, on a
//! completion loop instead of a readiness loop, so that `diff crates/callbacks/src/crawl.rs
//! crates/uring/src/crawl.rs` shows readiness turning into completion and nothing else:
//!
//! | `crates/callbacks` (readiness) | here, `crawl.rs` (completion) |
//! |---|---|
//! | `Fetcher::fetch`: `socket` + non-blocking `connect`, register for writability, arm a timer | `Fetcher::fetch`: submit `socket`; `Fetcher::connect`: submit `connect`, linked to its deadline |
//! | `connected`: writable; ask `take_error` whether the connect worked | `connected`: the completion *is* the connect's result |
//! | `send_request`: write until `WouldBlock`, re-register for writability | `send_request` + `sent`: the kernel writes; a short send is submitted again |
//! | `read_response`: read until `WouldBlock`, one shared buffer | `read_response` + `received`: one `recv` per completion, a pool buffer per chunk |
//! | `timed_out`: a loop timer finishes the fetch | none: every operation carries the deadline; a late one completes with `TimedOut` |
//! | `finish`: deregister, drop the socket (`close(2)`) | `finish`: submit `close` |
//!
//! The frontier, the lag tick (`c10k_core::LAG_TICK`, a `Timeout` operation here) and
//! `--offload` (a [`Mailbox`] whose wake-up is an eventfd `read`, a completion like the rest)
//! are the same as in `callbacks`.
//!
//! **One fetch, drawn.** Each callback submits the next operation with what it lends the
//! kernel, and gets it back with the completion (`c10k crawl --strategy uring --trace`
//! prints the right-hand column):
//!
//! ```text
//!  Ring::run                          Fetcher #N, in its Rc<RefCell>       trace
//!  ─────────────────────────────────  ───────────────────────────────────  ──────────────────
//!  start_fetchers: next_fetch ──────▶ Fetcher::fetch: submit socket        start
//!  io_uring_enter: submit; wait
//!  CQE(socket) → slab[user_data] ───▶ Fetcher::connect: submit connect     callback connect
//!                                     (+ linked timeout: connect deadline)
//!  io_uring_enter … CQE(connect) ───▶ Fetcher::connected: Ok               callback connected
//!                                                                          connected
//!                                     send_request: submit send, lending
//!                                     the socket and the request
//!  … CQE(send), both given back ────▶ Fetcher::sent: all out               callback sent
//!                                     read_response: submit recv           request written
//!  … CQE(recv): a pool buffer ──────▶ Fetcher::received: feed → NeedMore   callback received
//!                                     (buffer back to the pool);           read N bytes
//!                                     submit recv again
//!  … CQE(recv) ─────────────────────▶ received: feed → Done                callback received
//!                                     finish: submit close, fetch.finish
//!                                     (parse); complete: frontier.complete completed 200
//!                                     → start_fetchers
//!  … or first, the linked timeout ──▶ the operation completes TimedOut → finish(Timeout)
//! ```
//!
//! Where the fetch's state lives between two completions: in the `Fetcher`, and what it lent
//! the kernel in the operation's slab entry. Who resumes it: [`Ring::run`], calling the
//! callback its completion's `user_data` names.
//!
//! **Ownership.** Every buffer, address and socket the kernel uses belongs to its operation
//! until the completion arrives, and is handed back to the callback with it: the types say so
//! ([`Ring::send`] takes the `Vec<u8>` and the [`Socket`] and gives them back). Received bytes
//! come from a shared pool the kernel picks from only when bytes arrive (`buffers.rs`), as a
//! [`Chunk`] that returns its buffer when dropped.
//!
//! **What one connection costs**, while it waits for its response (64-bit Linux; the live
//! figures are [`state_sizes`], which the benchmarks print):
//!
//! | what | bytes | where |
//! |---|---:|---|
//! | the `Fetcher` in its `Rc<RefCell<_>>`: the `Fetch` 160 (its URL, address, tries), the `ResponseReader` 32 (its parser comes with the first bytes), `started` 16, the request's `Vec` 24 (empty once sent), `written` 8, the crawl's `Rc` 8, the socket 4 (+4 padding), the `RefCell` flag 8, the `Rc` counts 16 | 280 | heap |
//! | the URL's text, owned by the `Fetch` | its length | heap |
//! | the `recv` in flight: its slab entry (socket, deadline, boxed callback, generation) | 56 | the ring's slab |
//! | its callback: a closure holding the fetcher's `Rc` | 8 | heap |
//! | the completion-queue slots owed to it (the `recv`, its linked timeout) | 32 | ring memory, two slots per connection |
//! | a receive buffer | 0 | none until bytes arrive: then one of the pool's, for one callback |
//! | a submission slot | 0 | consumed by the kernel at submission |
//!
//! 376 bytes and the URL's text, before the allocator's rounding (the request's bytes, about
//! 150, live only until sent). Shared by all connections and fixed: the pool (up to 256 buffers of 4 KiB),
//! the submission queue (1,024 slots of 64 bytes) and the `timespec`s beside it. The kernel's
//! side (the socket, the in-flight request) is kernel memory, as it is for epoll's.
//!
//! **Every core: `--loops N`** (`loops.rs`, on `rings.rs`). One ring is concurrency, not
//! parallelism: it uses one core. With N rings, each on its own thread, the frontier is split
//! into shards (`c10k_core::Shard`) and each ring runs the code above, unchanged, on its own
//! shard with its share of the concurrency; links that belong to another shard go to its
//! ring's [`Mailbox`], and the shards agree on the end as in `callbacks`. The one-ring crawl is
//! the case N = 1: a shard that never has anything to send.
//!
//! **`unsafe`.** Forbidden in the rest of the workspace; here allowed in two modules only:
//! `ring.rs` (pushing submission entries that point at memory the operation owns; adopting
//! the descriptor a `socket` completion returns) and `buffers.rs` (the pool's memory, shared
//! with the kernel). Each `unsafe` block says why it is sound in a `// SAFETY:` comment, which
//! clippy's `undocumented_unsafe_blocks` enforces; nothing unsafe is public.
//!
//! **Where io_uring is unavailable** (a kernel older than 5.19, `kernel.io_uring_disabled`, a
//! container's seccomp filter), [`Ring::new`] fails with the reason and [`unavailable`] says
//! it in one line: `c10k crawl --strategy uring` exits 2 with it, and the tests say they skip.
//!
//! Start with `crawl.rs` beside `crates/callbacks/src/crawl.rs`; then `ring.rs` (the loop,
//! operations and their ownership, deadlines, the mailbox), `buffers.rs` (the pool),
//! `loops.rs` beside `crates/callbacks/src/loops.rs` and `rings.rs` (rings on threads), and
//! `tests.rs` (the loop on its own against loopback sockets).

#![deny(missing_docs)]

mod buffers;
mod crawl;
mod loops;
mod ring;
mod rings;

pub use buffers::Chunk;
pub use crawl::{Options, crawl, state_sizes};
pub use ring::{Mailbox, Peer, Ring, Socket, Stats, TimerId};

/// Why the completion loop cannot run on this machine (an old kernel,
/// `kernel.io_uring_disabled`, a seccomp filter), in one line; `None` when it can.
pub fn unavailable() -> Option<String> {
    Ring::new(1).err().map(|err| err.to_string())
}

#[cfg(test)]
mod tests;
