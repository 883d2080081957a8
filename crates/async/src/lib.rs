//! The crawler as native coroutines on tokio: the lecture's fourth design, "Con corrutinas"
//! (`async`/`await` with an event loop, a queue and N workers).
//!
//! `crawl.rs` is written as a tokio user would write it, and reads like
//! `crates/threads/src/crawl.rs` on purpose: the steps both take (`crawl`, `run`, `worker`,
//! `next_fetch`, `complete`, `fetch_page`, `connect`, `read_response`) have the same names, in
//! the same order, with the same shape, so that a diff of the two is the concurrency model
//! and little else. `scripts/compare.sh threads async` word-diffs each step against its
//! namesake, then lists the helpers only one of them has (here `ticker`, `on_the_pool`,
//! `timed_out`, `traced`; there `remaining`):
//!
//! | threads | async |
//! |---|---|
//! | `thread::Builder::spawn_scoped` × C | `JoinSet::spawn` × C tasks |
//! | `Condvar::wait` / `notify_one` / `notify_all` | `Notify::notified().await` / `notify_one` / `notify_waiters` |
//! | `Condvar::wait_timeout` until a retry is due | `time::timeout_at(due, notified)` |
//! | blocking `connect` (bounded by the send timeout), `write_all`, `peek`, `read` | `TcpStream::connect`, `write_all`, `peek`, `read`, each `.await` |
//! | socket-option timeouts, set to what is left before each call | `time::timeout` around the connect, `time::timeout_at(deadline, …)` around each later step |
//!
//! The time-keeping for retries and politeness (which idle task waits for a time) is in
//! `clock.rs`, a second read, as it is in threads'.
//!
//! This is the idiomatic form, not the smallest. Every task's future keeps room for the
//! largest of its waits; `docs/async-bytes.md` and [`bytes`] take the worker here, one
//! measured change at a time (`let … else`, readiness reads, a connect written out, one timer
//! per fetch, …), down to the smallest this crate has run, and say what each change costs
//! the reader.
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
//!                                   fetch_page: connect:
//!                                   TcpStream::connect → Pending;
//!                                   the waker sits in the socket's
//!  ◀── Pending (state saved) ────── slot (and the timeout's Sleep)
//!  park: epoll_wait … writable
//!  I/O driver: waker.wake() ──────▶ into the run queue
//!  poll(task) ────────────────────▶ connect → Ready                 task woke in connect
//!                                                                   connected
//!                                   write_all → Ready at once       request written
//!                                   peek → Pending
//!  ◀── Pending ────────────────────
//!  … readable: wake, poll(task) ──▶ peek → Ready                    task woke in peek
//!                                   read_response: read → n bytes   read N bytes
//!                                   feed … NeedMore; read → Pending
//!  … readable: wake, poll(task) ──▶ read → Ready, feed → Done       task woke in read …
//!                                   fetch.finish (parse)
//!                                   complete: frontier.complete,    completed 200
//!                                   notify_one per URL queued
//!                                   next_fetch …
//!  … or first, the Sleep is due ──▶ timeout_at returns Elapsed: the step's future and the
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
//! **Memory.** Whatever lives across an `.await` is stored in the task's future, for every
//! task. So a fetch waits for its response to begin with a one-byte `peek`, as a thread does,
//! and only then takes its read buffer, from the heap: a task waiting for a server holds no
//! buffer. The future's size is in [`state_sizes`]; [`bytes`] measures what each further
//! change would save.

#![deny(missing_docs)]

mod clock;
mod conn;
mod crawl;
mod percore;

pub use crawl::{Options, bytes, crawl, state_sizes};
