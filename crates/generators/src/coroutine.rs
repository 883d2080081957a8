//! Coroutines as explicit state machines, and `yield from`.
//!
//! A Python generator is a function whose frame survives a `yield`; `send(value)` resumes it
//! where it stopped, and it ends by raising `StopIteration(result)`. Stable Rust has no
//! `yield`, so a coroutine here is a value that *is* the frame: an `enum` with one variant per
//! place the function can be suspended, holding the locals alive at that point.
//! [`Coroutine::resume`] is `send`: it runs from the current state to the next suspension and
//! returns [`Step::Yielded`] with the future to wait for — or [`Step::Complete`] with the result,
//! the `StopIteration`.
//!
//! This is what the compiler generates for an `async fn`: an anonymous enum of the states
//! between `.await` points, and a `poll` method that matches on the state, runs to the next
//! `.await`, stores the live locals in the next variant, and returns `Poll::Pending` (our
//! `Yielded`) or `Poll::Ready(value)` (our `Complete`). `crates/async` lets rustc write them.

use c10k_eventloop::EventLoop;

use crate::future::Future;

/// What one resume of a coroutine led to.
#[derive(Debug)]
pub enum Step<I, O> {
    /// Suspended: resume me with this future's result (Python: `yield future`).
    Yielded(Future<I>),
    /// Finished with a value (Python: `return value`, i.e. `StopIteration(value)`).
    Complete(O),
}

/// A resumable computation, driven by a [`crate::Task`] or by an outer coroutine.
pub trait Coroutine {
    /// What the futures it yields resolve to; sent back in by the next `resume`.
    type Input;
    /// What it returns when it completes.
    type Output;

    /// Runs until the next suspension or the end. `input` is the result of the future
    /// yielded last (for the first resume, a start value).
    ///
    /// Resuming a coroutine after it completed is a bug, and panics as a completed `async fn`
    /// does when polled again.
    fn resume(&mut self, lp: &mut EventLoop, input: Self::Input)
    -> Step<Self::Input, Self::Output>;
}

/// `yield from` (and `.await`): resumes a sub-coroutine; if it yields, the enclosing
/// coroutine yields the same future; if it completes, evaluates to its result.
///
/// ```ignore
/// let socket = yield_from!(connect.resume(lp, input));
/// ```
#[macro_export]
macro_rules! yield_from {
    ($step:expr) => {
        match $step {
            $crate::Step::Yielded(future) => return $crate::Step::Yielded(future),
            $crate::Step::Complete(value) => value,
        }
    };
}
