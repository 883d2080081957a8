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
//! Timeouts are socket options: `connect_timeout` for the connect, and a read/write timeout
//! set before each call to whatever is left of the whole-fetch deadline.
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
//!    TcpStream::connect_timeout ───────────────────────▶ SYN … SYN-ACK
//!      ◀────────────────────────────── returns: connected                        connected
//!    set_write_timeout; write_all(request) ────────────▶ copied to the socket    request written
//!    loop:
//!      set_read_timeout(what is left of the deadline)
//!      read(&mut chunk) ───────────────────────────────▶ thread parked until
//!        ◀────────────────────────────── n bytes          bytes arrive           read N bytes
//!      reader.feed(chunk): NeedMore → read again;
//!                          Done(response) → return
//!  fetch.finish(result): parse the links (no lock held)
//!  complete: lock; Crawler::complete; unlock;                                    completed 200
//!    notify_one per URL queued (notify_all once done)
//! ```
//!
//! Where the fetch's state lives between two waits: in `fetch_page`'s stack frame (`stream`,
//! `reader`, `chunk`), on this thread's own stack. Who resumes it: the kernel, returning from
//! the blocking call.
//!
//! Read [`crawl`] in `crawl.rs` next to `crates/async/src/crawl.rs`: the steps and their names
//! are the same, and the difference is the concurrency model. A word diff shows it best:
//! `git diff --no-index --word-diff crates/threads/src/crawl.rs crates/async/src/crawl.rs`.

#![deny(missing_docs)]

mod crawl;
mod limits;

pub use crawl::{Options, crawl, state_sizes};
pub use limits::thread_headroom;
