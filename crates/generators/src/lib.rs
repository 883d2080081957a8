//! The crawler as generator-style coroutines, written by hand: the lecture's third design,
//! "Con corrutinas basadas en generadores" — and the heart of the lesson.
//!
//! The lecture builds coroutines from three pieces on top of the callback loop; so does this
//! crate, on top of [`c10k_eventloop`] (no `std::future::Future`, no `Waker`, no tokio). The
//! lecture shows `class Task` and `yield from`; the rest of its Python — the `Future` class,
//! the socket callbacks that resolve futures, `read`/`read_all`, the queue and its workers —
//! is in the chapter it follows, "A Web Crawler With asyncio Coroutines" (A. Jesse Jiryu Davis
//! and Guido van Rossum, in *500 Lines or Less*), marked "500 Lines" below:
//!
//! | Python | here | file |
//! |---|---|---|
//! | `class Future` (`result`, `add_done_callback`, `set_result`) (500 Lines) | [`Future`] | `future.rs` |
//! | a generator: `send(value)`, `yield future`, `StopIteration(result)` | [`Coroutine::resume`] → [`Step::Yielded`] / [`Step::Complete`] | `coroutine.rs` |
//! | `yield from sub_coroutine()` | [`yield_from!`] | `coroutine.rs` |
//! | `class Task` and `Task.step` (the lecture) | [`Task`] | `task.rs` |
//! | `on_connected` → `f.set_result(None)` (500 Lines) | `Socket` and its `Waiter` | `socket.rs` |
//! | `fetch` as a coroutine: `connect`, send, `read_all` (500 Lines) | `FetchPage`, `Connect`, `WriteAll`, `ReadResponse` | `fetch.rs` |
//! | `asyncio.Queue` + N workers + `join` (500 Lines) | `Get`, `Worker`, the frontier's getters | `crawl.rs` |
//! | `asyncio.sleep` | `Ticker` (which measures the loop lag) | `crawl.rs` |
//! | `loop.run_in_executor(pool, ...)` (the lecture) | `Offload`, rayon and the loop's `Mailbox` | `crawl.rs` |
//!
//! Read `SumOfThree` in `tests.rs` first: the smallest coroutine here, three timer futures
//! and a sum, driven by a [`Task`] — everything below without a socket.
//!
//! **Generators as state machines.** Stable Rust has no `yield`, so each coroutine is an
//! `enum` with one variant per suspension point, holding exactly the locals that are alive
//! there, and a `resume` that runs from one suspension to the next. The straight-line version
//! of each sits in the doc comment above its `enum`; read them side by side. Composition is
//! `yield from`: `fetch_page` holds its current sub-coroutine in its state and forwards each
//! resume to it until it completes.
//!
//! **How `async fn` would write the same enums.** For `async fn fetch_page(..)`, rustc
//! generates an anonymous type: an enum with a variant for "not started", one for each
//! `.await` (holding the locals live across it, and the inner future being awaited — our
//! `Connecting(Connect)`, `Sending(WriteAll)`, `Reading(ReadResponse)`), and "returned". Its
//! `poll` is our `resume`: match the state, run to the next `.await`, return `Pending` (our
//! `Yielded`) or `Ready` (our `Complete`); `.await` on a sub-future is our `yield_from!`, and
//! polling after `Ready` panics just like resuming our `Done` state. What differs is who wakes
//! whom: here the future carries its callbacks and the [`Task`] registers itself on each one,
//! as in Python; in Rust's design a `Waker` is passed down on every `poll` instead. See
//! `crates/async`, where the compiler writes all of this.
//!
//! **Timeouts and retries.** A fetch's deadline is a loop timer that resolves whatever its
//! socket is waiting on with `Wake::TimedOut`; every state machine checks that input and ends
//! with a timeout. Retries are the frontier's: a failed URL goes back in the queue, not
//! before its backoff, and some worker's `get` picks it up again, exactly as in every other
//! strategy; a `get` that finds nothing due yet sets a loop timer for when something will be
//! (`Clock::keep`, in `clock.rs`), which wakes the getter that has waited longest; one that
//! takes a URL while more wait for a time no timer is set for wakes the next.
//!
//! Everything runs on one thread; the frontier is a `RefCell`, never locked.
//!
//! **One fetch, drawn.** Each arrow is one call; who calls whom when a socket becomes ready,
//! hop by hop (`c10k crawl --strategy generators --trace` prints the `resumed` lines):
//!
//! ```text
//!  what runs                                              who runs it      trace
//!  ──────────────────────────────────────────────────────  ───────────────  ─────────────────
//!  Worker::resume: Get → frontier.next_fetch()             Task::step       start
//!    FetchPage::new; FetchPage::resume: arm the deadline
//!    Connect::resume: Socket::connect → EINPROGRESS;
//!      lp.register(fd, on_ready); socket.wait() parks a
//!      new Future<Wake> in the Waiter
//!    ◀── Step::Yielded(future), up through yield_from!
//!  Task::step: future.add_done_callback(Task::step)        (the task sleeps)
//!  ···················· the socket becomes writable ····················
//!  EventLoop::run: poll() → reactor.take(token)            the loop
//!    on_ready → Waiter::wake(Ready) → Future::set_result
//!      → lp.call_soon(Task::step)    (scheduled, not called: no recursion)
//!  next turn: Task::step → Worker::resume                  the loop         resumed in connect
//!    → FetchPage::resume → Connect::resume
//!        connect_result() → Ok(socket)                                      connected
//!    WriteAll::resume: write(request) → all out                             request written
//!    ReadResponse::resume: read → WouldBlock
//!        socket.wait() parks a new Future in the Waiter
//!    ◀── Step::Yielded(future)
//!  ·············· readable: the same hops, to ReadResponse ··············
//!    ReadResponse::resume: read → feed → … Done            Task::step       resumed in
//!        socket.close()                                                     read_response;
//!                                                                           read N bytes
//!    ◀── Step::Complete(result); FetchPage cancels the deadline
//!  Worker: fetch.finish(result) (parse the links),
//!    crawl.complete(outcome): one getter woken per URL                      completed 200
//! ```
//!
//! Ten hops from `epoll` to the line that reads, across six files (the event loop's `lib.rs`,
//! then `socket.rs`, `future.rs`, `task.rs`, `crawl.rs` and `fetch.rs` here): the loop's
//! dispatch, the socket's callback, `Waiter::wake`, `Future::set_result`, `call_soon`, the
//! next turn, `Task::step`, `Worker::resume`, `FetchPage::resume`, the sub-coroutine's
//! `resume` — and back up as `Step::Yielded`. `async fn` folds the same path into a waker and a poll
//! (`crates/async`).
//!
//! **Every core: `--loops N`** (`loops.rs`). One loop is concurrency, not parallelism: it
//! uses one core. With N loops, each on its own thread, the frontier is split into shards
//! (`c10k_core::Shard`) and each loop runs the coroutines above, unchanged, on its own shard
//! with its share of the workers; links that belong to another shard go to its loop's
//! `Mailbox`. The one-loop crawl is the case N = 1: a shard that never has anything to send.

#![deny(missing_docs)]

mod clock;
mod connection;
mod coroutine;
mod crawl;
mod fetch;
mod future;
mod loops;
mod socket;
mod task;

pub use coroutine::{Coroutine, Step};
pub use crawl::{Options, crawl, state_sizes};
pub use future::Future;
pub use socket::Wake;
pub use task::Task;

#[cfg(test)]
mod tests;
