//! The crawler as native coroutines on tokio: the lecture's fourth design, "Con corrutinas"
//! (`async`/`await` with an event loop, a queue and N workers).
//!
//! `crawl.rs` reads like `crates/threads/src/crawl.rs` on purpose — same functions, same
//! names, same order of steps (take a URL, connect, send the request, read until complete,
//! hand the response to the core, wake whoever waits) — so that a diff of the two files is
//! the concurrency model and nothing else; `scripts/compare.sh threads async` word-diffs
//! each function against its namesake:
//!
//! | threads | async |
//! |---|---|
//! | `thread::Builder::spawn_scoped` × C | `JoinSet::spawn` × C tasks |
//! | `Condvar::wait` / `notify_one` / `notify_all` | `Notify::notified().await` / `notify_one` / `notify_waiters` |
//! | `Condvar::wait_timeout` until a retry is due | `time::timeout_at(due, notified)` |
//! | blocking `connect` (bounded by the send timeout), `write_all`, `peek`, `read` | mio's `connect` then `poll_write_ready`, `write_all`, `poll_read_ready` + `try_read`, each `.await` |
//! | socket-option timeouts, set to what is left before each call | one `Sleep` per fetch, raced against each step (`within!`), reset once connected |
//!
//! Why C workers on a shared frontier rather than a coordinator spawning a task per URL into a
//! `JoinSet`: it is the shape of the lecture's crawler (that of "A Web Crawler With asyncio
//! Coroutines", A. Jesse Jiryu Davis and Guido van Rossum, in *500 Lines or Less*), the
//! concurrency limit is simply the number of workers, and it keeps the code line for line
//! comparable with the threads crawler. The `JoinSet` here only waits for the workers to finish.
//!
//! **What tokio does for us** that `crates/generators` does by hand:
//! - *the state machines*: each `async fn` is compiled into an enum of its suspension points,
//!   like `Connect`, `WriteAll`, `ReadResponse` and `FetchPage` there;
//! - *the executor* (`Task::step` there): tokio's scheduler polls a task when it is woken;
//! - *the waker* (`Future::add_done_callback` there): each `poll` carries a `Waker` that a
//!   resource stores and calls when it becomes ready;
//! - *the reactor* (`crates/eventloop` there): tokio's I/O driver owns the epoll instance and
//!   its timer wheel fires the `Sleep` of each fetch's deadline.
//!
//! **One fetch, drawn.** The compiler turned `worker` and `fetch_page` into one state
//! machine (the task's future); tokio polls it when a waker says so (`c10k crawl --strategy
//! async --trace` prints the right-hand column):
//!
//! ```text
//!  tokio (one thread)               worker task #N: its future      trace
//!  ───────────────────────────────  ──────────────────────────────  ───────────────────────
//!  run queue: poll(task) ─────────▶ next_fetch: enable(), lock,     start
//!                                   frontier.next_fetch
//!                                   fetch_page: mio connect
//!                                   → EINPROGRESS; poll_write_ready
//!                                   → Pending; the
//!                                   waker sits in the socket's slot
//!  ◀── Pending (state saved) ────── (and the deadline's Sleep)
//!  park: epoll_wait … writable
//!  I/O driver: waker.wake() ──────▶ into the run queue
//!  poll(task) ────────────────────▶ poll_write_ready → Ready        task woke in connect
//!                                                                   connected
//!                                   write_all → Ready at once       request written
//!                                   poll_read_ready → Pending
//!  ◀── Pending ────────────────────
//!  … readable: wake, poll(task) ──▶ poll_read_ready → Ready         task woke in read
//!                                   try_read, feed … WouldBlock     read N bytes
//!  … readable: wake, poll(task) ──▶ try_read, feed → Done           task woke in read …
//!                                   fetch.finish (parse)
//!                                   complete: frontier.complete,    completed 200
//!                                   notify_one per URL queued
//!                                   next_fetch …
//!  … or first, the Sleep is due ──▶ within! returns Timeout: the step's future and the
//!                                   stream are dropped (cancelled, closed)
//! ```
//!
//! Where the fetch's state lives between two polls: in the task's future, one allocation
//! per task, laid out by rustc like `FetchPage` in `crates/generators`. Who resumes it: the
//! runtime, polling the task its waker put in the run queue.
//!
//! **Runtime.** By default a current-thread runtime: one thread, like the event loop of the
//! callbacks and generators crawlers, so the comparison is fair. `--threads N` (`--runtime
//! stealing`) runs a multi-thread runtime with N workers that steal each other's tasks, on one
//! frontier. `--runtime per-core --threads N` (`percore.rs`) runs N current-thread runtimes on
//! N threads instead, each with its own shard of the frontier (`c10k_core::Shard`), the links
//! of other shards crossing through channels: thread per core, sharing nothing. The frontier
//! sits behind a `std::sync::Mutex` so the same tasks work on all three; it is never held
//! across an `.await`, on one thread it is never contended, and with a runtime per core each
//! mutex is only ever taken by its own thread.
//!
//! **CPU work.** Parsing a page (and `--work-us`) runs in `finish`, inside the worker task:
//! on a current-thread runtime nothing else runs meanwhile, which the report's loop lag shows
//! (a task whose timer is due every 10 ms, and how late it wakes). With `--offload` the work
//! goes to the rayon pool and the task awaits a `oneshot` channel for the outcome.
//!
//! **Memory.** Whatever lives across an `.await` is stored in the task's future, for every task.
//! So the read buffer is a local of the loop body, after the wait for readiness: it lives on
//! the stack of the poll that uses it, not in each of the C futures. For the same reason a
//! fetch holds one timer, not a `timeout` inside a `timeout_at`, and waits for readiness with
//! `poll_read_ready`, whose waker lives in the socket's slot, rather than `readable()`, whose
//! waiter node would live in the future.

#![deny(missing_docs)]

mod crawl;
mod percore;

pub use crawl::{Options, crawl, state_sizes};
