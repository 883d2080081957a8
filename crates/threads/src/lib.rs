//! The crawler as a pool of blocking OS threads: the lecture's first design, "El enfoque
//! tradicional".
//!
//! Each of `concurrency` threads loops: take a URL from the shared frontier, `connect`, send
//! the request, `recv` until the response is complete, hand the response to the core, and go
//! back for another URL. Every call blocks its thread, so the pool needs one thread per
//! connection in flight — which is the whole cost of the model:
//!
//! - **Shared state needs locks.** The frontier sits behind a [`std::sync::Mutex`]; a
//!   [`std::sync::Condvar`] parks threads while the queue is empty and wakes one per URL
//!   queued (or all of them once the crawl is done). Link extraction runs *outside* the lock.
//! - **Threads cost memory.** Each thread has its own stack (`--thread-stack-kb`, default
//!   256 KiB reserved, of which only the touched pages count in RSS) plus a kernel stack and
//!   task structure that RSS does not show. The benchmarks measure both.
//! - **The OS runs out of threads.** Spawning fails (and [`crawl`] returns the error) when
//!   `kernel.threads-max`, `kernel.pid_max` or memory say no. On a stock Linux the first limit
//!   met is usually `vm.max_map_count` (65,530): every thread maps four regions (stack, guard,
//!   signal stack, guard), so one process gets about 16,000 threads — fewer than the sockets it
//!   may open. [`thread_headroom`] checks it before the pool is built.
//!
//! Timeouts are socket options: the send timeout bounds the connect too (on Linux a blocking
//! `connect` obeys it), and a read/write timeout is set before each call that may block to
//! whatever is left of the whole-fetch deadline. A thread waits for its response to begin
//! with a one-byte `peek`, and only then takes a read buffer, from the heap, giving it back
//! once the response is read: a waiting thread holds no buffer, and one that has read and
//! parsed pages keeps three touched pages of stack, not the four a buffer on the stack
//! would leave it.
//!
//! This crate needs no CPU offload (`--offload` is for the event-driven strategies): a thread
//! busy parsing a page, or doing `--work-us` of work, blocks only itself, and the OS scheduler
//! preempts it so the other threads keep their sockets moving — the pool already *is* a
//! thread pool, on all cores. What it pays instead is context switches, which the benchmarks
//! count. There is no loop, so there is no loop lag either.
//!
//! **One fetch, drawn.** One thread does every step, and each call blocks it until the
//! kernel is done; nothing else runs on this thread meanwhile (`c10k crawl --trace` prints
//! the right-hand column):
//!
//! ```text
//!  the worker thread (crawl.rs)                          the kernel              trace
//!  ────────────────────────────────────────────────────  ──────────────────────  ───────────────
//!  next_fetch: lock the frontier; Crawler::next_fetch                            start
//!    (queue empty, fetches in flight: Condvar::wait)     futex: thread parked
//!  fetch_page:
//!    connect: socket, SO_SNDTIMEO, connect ────────────▶ SYN … SYN-ACK
//!      ◀────────────────────────────── returns: connected                        connected
//!    set_write_timeout; write_all(request) ────────────▶ copied to the socket    request written
//!    set_read_timeout; peek(1 byte) ───────────────────▶ thread parked until
//!      ◀────────────────────────────── the answer begins  bytes arrive
//!    read_response:
//!      read(&mut chunk) ───────────────────────────────▶ (blocks only if the
//!        ◀────────────────────────────── n bytes          rest is still coming)  read N bytes
//!      reader.feed(chunk): NeedMore → set_read_timeout,
//!                          read again; Done → return
//!  fetch.finish(result): parse the links (no lock held)
//!  complete: lock; Crawler::complete; unlock;                                    completed 200
//!    notify_one per URL queued (notify_all once done)
//! ```
//!
//! Where the fetch's state lives between two waits: in the stack frames of `fetch_page`
//! (`stream`, the deadline) and, once the answer begins, `read_response` (`reader`, and
//! `chunk`, whose 4 KiB are on the heap while the response is read), on this thread's own
//! stack. Who resumes it: the kernel, returning from
//! the blocking call.
//!
//! Read [`crawl`] in `crawl.rs` next to `crates/async/src/crawl.rs`: the steps and their names
//! are the same, and the difference is the concurrency model. `scripts/compare.sh threads
//! async` word-diffs each function against its namesake.

#![deny(missing_docs)]

mod clock;
mod conn;
mod crawl;
mod limits;

pub use crawl::{Options, crawl, state_sizes};
pub use limits::thread_headroom;
