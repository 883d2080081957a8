//! The crawler as generator-style coroutines, written by hand: the lecture's third design,
//! "Con corrutinas basadas en generadores" — and the heart of the lesson.
//!
//! The lecture builds coroutines from three pieces on top of the callback loop; so does this
//! crate, on top of [`c10k_eventloop`] (no `std::future::Future`, no `Waker`, no tokio):
//!
//! | lecture | here | file |
//! |---|---|---|
//! | `class Future` (`result`, `add_done_callback`, `set_result`) | [`Future`] | `future.rs` |
//! | a generator: `send(value)`, `yield future`, `StopIteration(result)` | [`Coroutine::resume`] → [`Step::Yielded`] / [`Step::Complete`] | `coroutine.rs` |
//! | `yield from sub_coroutine()` | [`yield_from!`] | `coroutine.rs` |
//! | `class Task` and `Task.step` | [`Task`] | `task.rs` |
//! | `on_connected` → `f.set_result(None)` | `Socket` and its `Waiter` | `socket.rs` |
//! | `fetch` as a coroutine: `connect`, send, `read_all` | `FetchPage`, `Connect`, `WriteAll`, `ReadResponse` | `fetch.rs` |
//! | `asyncio.Queue` + N workers + `join` | `Get`, `Worker`, the frontier's getters | `crawl.rs` |
//! | `asyncio.sleep` | `Ticker` (which measures the loop lag) | `crawl.rs` |
//! | `loop.run_in_executor(pool, ...)` | `Offload`, rayon and the loop's `Mailbox` | `crawl.rs` |
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
//! (`wake_when_due`), which wakes the waiting getters.
//!
//! Everything runs on one thread; the frontier is a `RefCell`, never locked.
//!
//! **Every core: `--loops N`** (`loops.rs`). One loop is concurrency, not parallelism: it
//! uses one core. With N loops, each on its own thread, the frontier is split into shards
//! (`c10k_core::Shard`) and each loop runs the coroutines above, unchanged, on its own shard
//! with its share of the workers; links that belong to another shard go to its loop's
//! `Mailbox`. The one-loop crawl is the case N = 1: a shard that never has anything to send.

#![deny(missing_docs)]

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
