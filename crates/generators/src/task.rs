//! `Task`: what drives a coroutine — the lecture's `Task` class (as "A Web Crawler With
//! asyncio Coroutines", in *500 Lines or Less*, writes it):
//!
//! ```python
//! class Task:
//!     def __init__(self, coro):
//!         self.coro = coro
//!         f = Future()
//!         f.set_result(None)
//!         self.step(f)
//!
//!     def step(self, future):
//!         try:
//!             next_future = self.coro.send(future.result)
//!         except StopIteration:
//!             return
//!         next_future.add_done_callback(self.step)
//! ```

use std::{cell::RefCell, rc::Rc};

use c10k_eventloop::EventLoop;

use crate::{
    coroutine::{Coroutine, Step},
    future::Future,
};

/// Drives a coroutine: resumes it with each future's result and, when it yields again,
/// registers itself as that future's done-callback.
pub struct Task<C: Coroutine> {
    coro: RefCell<C>,
    /// Resolved with the coroutine's result when it completes (a Python `Task` is itself a
    /// `Future`).
    done: Future<C::Output>,
}

impl<C> Task<C>
where
    C: Coroutine + 'static,
    C::Input: Clone + Default + 'static,
    C::Output: Clone + 'static,
{
    /// Starts `coro` on the loop: its first step runs on the next turn, with the input's
    /// default value (Python sends `None`). Returns the future of its result.
    pub fn spawn(lp: &mut EventLoop, coro: C) -> Future<C::Output> {
        let task = Rc::new(Task {
            coro: RefCell::new(coro),
            done: Future::new(),
        });
        let result = task.done.clone();
        let start = Future::done(C::Input::default());
        start.add_done_callback(lp, move |lp, future| task.step(lp, future));
        result
    }

    /// Sends the future's result into the coroutine, then waits on whatever it yields next.
    ///
    /// The task is kept alive by the callback it leaves on the future it waits for.
    fn step(self: Rc<Self>, lp: &mut EventLoop, future: &Future<C::Input>) {
        // Done-callbacks only run once the result is set.
        let input = future.result().expect("a done future has a result");
        let step = self.coro.borrow_mut().resume(lp, input);
        match step {
            Step::Yielded(next) => {
                next.add_done_callback(lp, move |lp, future| self.step(lp, future))
            }
            Step::Complete(value) => {
                self.done.set_result(lp, value);
            }
        }
    }
}
