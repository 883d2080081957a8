//! `Future`: a result that is not there yet, and the callbacks to run when it arrives — the
//! `Future` class the lecture's generator section relies on without showing. It is the one of
//! "A Web Crawler With asyncio Coroutines" (A. Jesse Jiryu Davis and Guido van Rossum, in
//! *500 Lines or Less*), the chapter the lecture's crawler comes from:
//!
//! ```python
//! class Future:
//!     def __init__(self):
//!         self.result = None
//!         self._callbacks = []
//!     def add_done_callback(self, fn):
//!         self._callbacks.append(fn)
//!     def set_result(self, result):
//!         self.result = result
//!         for fn in self._callbacks:
//!             fn(self)
//! ```
//!
//! One difference, taken from `asyncio`: callbacks are not called from inside `set_result` but
//! scheduled on the loop (`call_soon`). Whoever resolves a future — a socket callback, a timer
//! — returns before the coroutines waiting on it resume, so resuming can never recurse.

use std::{cell::RefCell, fmt, rc::Rc};

use c10k_eventloop::EventLoop;

type DoneCallback<T> = Box<dyn FnOnce(&mut EventLoop, &Future<T>)>;

/// A result slot plus done-callbacks, shared by whoever resolves it and whoever waits on it.
pub struct Future<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

struct Inner<T> {
    result: Option<T>,
    callbacks: Vec<DoneCallback<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            inner: Rc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("Future")
            .field("done", &inner.result.is_some())
            .field("callbacks", &inner.callbacks.len())
            .finish()
    }
}

impl<T: Clone + 'static> Default for Future<T> {
    fn default() -> Self {
        Future::new()
    }
}

impl<T: Clone + 'static> Future<T> {
    /// A pending future.
    pub fn new() -> Future<T> {
        Future {
            inner: Rc::new(RefCell::new(Inner {
                result: None,
                callbacks: Vec::new(),
            })),
        }
    }

    /// A future that is already resolved with `value`.
    pub fn done(value: T) -> Future<T> {
        let future = Future::new();
        future.inner.borrow_mut().result = Some(value);
        future
    }

    /// Resolves the future and schedules its callbacks. Only the first result counts (a
    /// socket and a deadline may race to resolve the same wait); returns whether this one did.
    pub fn set_result(&self, lp: &mut EventLoop, value: T) -> bool {
        let callbacks = {
            let mut inner = self.inner.borrow_mut();
            if inner.result.is_some() {
                return false;
            }
            inner.result = Some(value);
            std::mem::take(&mut inner.callbacks)
        };
        for callback in callbacks {
            let future = self.clone();
            lp.call_soon(move |lp| callback(lp, &future));
        }
        true
    }

    /// Runs `callback` once the future is resolved (on the next turn of the loop if it
    /// already is).
    pub fn add_done_callback(
        &self,
        lp: &mut EventLoop,
        callback: impl FnOnce(&mut EventLoop, &Future<T>) + 'static,
    ) {
        if self.is_done() {
            let future = self.clone();
            lp.call_soon(move |lp| callback(lp, &future));
        } else {
            self.inner.borrow_mut().callbacks.push(Box::new(callback));
        }
    }

    /// Whether the result is set.
    pub fn is_done(&self) -> bool {
        self.inner.borrow().result.is_some()
    }

    /// A copy of the result, once set.
    pub fn result(&self) -> Option<T> {
        self.inner.borrow().result.clone()
    }

    /// Bytes of the shared state behind a future (inside its `Rc`).
    pub fn inner_size() -> usize {
        std::mem::size_of::<RefCell<Inner<T>>>()
    }
}
