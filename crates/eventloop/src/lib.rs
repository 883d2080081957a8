//! A small single-threaded event loop on mio: what `asyncio`'s loop does underneath, written
//! out so it can be read in one sitting.
//!
//! The lecture's loop is five lines:
//!
//! ```python
//! while True:
//!     events = selector.select()
//!     for event_key, event_mask in events:
//!         callback = event_key.data
//!         callback()
//! ```
//!
//! [`EventLoop::run`] is the same loop with what a real crawler needs around it:
//!
//! - **sockets** (`reactor.rs`): registered under a [`Token`] with the callback
//!   to run when they become ready; a callback may re-register its socket with the next step,
//!   deregister it, or [close](EventLoop::close) it (no system call but the `close`); a
//!   socket kept idle between two uses (a keep-alive connection) is [parked](EventLoop::park):
//!   still in the epoll set under its token, but no longer something the loop waits for, and
//!   what the kernel reports for it meanwhile is kept for its next user, so that neither
//!   parking nor taking it up again is a system call.
//!   mio is edge-triggered: epoll reports a socket when it *becomes* ready, not while it stays
//!   ready, so a callback reads (or writes) until `WouldBlock` (see [`would_block`]) — bytes
//!   left in the socket's buffer would never be reported again. The lecture's `select` is
//!   level-triggered, which is why its `read_response` may read one 4 KiB chunk per callback
//!   and be called again for the rest;
//! - **timers** (`timers.rs`): a min-heap of deadlines; the earliest one bounds how long
//!   `poll` may block, which is how connect timeouts and fetch deadlines are kept;
//! - **soon** callbacks: run on the next turn of the loop, like `loop.call_soon`;
//! - **a cross-thread wake** ([`Remote`]): other threads (a rayon pool, other loops) queue
//!   callbacks and wake the loop through a `mio::Waker`; a [`Mailbox`] delivers values from
//!   other threads to a handler that lives on the loop (and so may hold what cannot cross
//!   threads). The queue takes no lock (an `mpsc` channel), and senders skip the wake-up's
//!   system call while one is already pending;
//! - **many loops** ([`run_loops`], `loops.rs`): one loop per thread, each with a mailbox the
//!   others send to, for a program that wants every core and shares nothing between them;
//! - **an end**: `run` returns when nothing is registered, no timer or callback is pending and
//!   no [`EventLoop::hold`] is outstanding, or as soon as a callback that called
//!   [`EventLoop::stop`] returns (what the turn had left to run waits for the next `run`).
//!
//! It is single-threaded by design and knows nothing of HTTP or crawling. Callbacks run one at
//! a time to completion, so the state they share needs no lock.

#![deny(missing_docs)]

mod loops;
mod reactor;
mod timers;

use std::{
    any::Any,
    cell::RefCell,
    collections::VecDeque,
    io,
    marker::PhantomData,
    ops::{BitOr, BitOrAssign},
    rc::Rc,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

pub use loops::{Meeting, Peers, run_loops};
use mio::{Events, Poll, Waker};
pub use mio::{Interest, Token, event::Source};
use slab::Slab;
pub use timers::TimerId;

use crate::{reactor::Reactor, timers::Timers};

/// How many events one `poll` may return.
const EVENTS_CAPACITY: usize = 1024;
/// The token of the waker; never a registration's (those have a generation in the high bits
/// that is never all ones together with this key).
const WAKER: Token = Token(usize::MAX);

/// What a socket is ready for, as told to its callback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ready {
    /// Data (or end of stream) can be read.
    pub readable: bool,
    /// Data can be written; for a connecting socket, the connect finished (maybe failed).
    pub writable: bool,
    /// The socket has a pending error.
    pub error: bool,
    /// The peer closed its write half.
    pub read_closed: bool,
}

impl Ready {
    fn of(event: &mio::event::Event) -> Ready {
        Ready {
            readable: event.is_readable(),
            writable: event.is_writable(),
            error: event.is_error(),
            read_closed: event.is_read_closed(),
        }
    }

    /// Whether there is something to read: bytes, the peer's close, an error (a read says
    /// which).
    pub fn has_input(self) -> bool {
        self.readable || self.read_closed || self.error
    }
}

impl BitOr for Ready {
    type Output = Ready;

    /// Everything either readiness says.
    fn bitor(self, other: Ready) -> Ready {
        Ready {
            readable: self.readable || other.readable,
            writable: self.writable || other.writable,
            error: self.error || other.error,
            read_closed: self.read_closed || other.read_closed,
        }
    }
}

impl BitOrAssign for Ready {
    fn bitor_assign(&mut self, other: Ready) {
        *self = *self | other;
    }
}

/// `WouldBlock`: the socket has nothing more for now. A normal event, not a failure.
pub fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// `Interrupted`: a signal arrived during the call; just try again.
pub fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

type SoonCallback = Box<dyn FnOnce(&mut EventLoop)>;
type RemoteCallback = Box<dyn FnOnce(&mut EventLoop) + Send>;

/// The single-threaded event loop.
pub struct EventLoop {
    poll: Poll,
    events: Events,
    reactor: Reactor,
    timers: Timers,
    soon: VecDeque<SoonCallback>,
    /// Readiness polled but not yet dispatched: a callback called [`EventLoop::stop`] before
    /// its turn came. mio is edge-triggered, so these events would not be reported again.
    pending: VecDeque<(Token, Ready)>,
    remote: Arc<Shared>,
    /// Callbacks other threads queued, taken when the waker fires.
    inbox: mpsc::Receiver<RemoteCallback>,
    /// Handlers of [`Mailbox`]es, each a `Box<dyn FnMut(&mut EventLoop, T)>` for its `T`;
    /// `None` while it runs.
    mailboxes: Slab<Option<Box<dyn Any>>>,
    /// Outstanding [`EventLoop::hold`]s: work elsewhere that will come back to the loop.
    holds: usize,
    stopped: bool,
    /// Tokens of parked sockets their owners closed (dropped their [`Parked`]): their entries
    /// are dropped at the loop's next turn.
    released: Released,
}

/// Where a dropped [`Parked`] leaves its token for the loop; shared, as the loop is not
/// there when a pool drops what it kept.
type Released = Rc<RefCell<Vec<Token>>>;

/// A socket kept idle between two uses (a keep-alive connection), [parked](EventLoop::park)
/// on the loop: still in the epoll set under its token, so that taking it up again
/// ([`EventLoop::unpark`]) needs no system call, but nothing the loop waits for.
///
/// Dropping it closes the socket, which takes it out of the epoll set, and gives its token
/// back to the loop.
pub struct Parked<S> {
    source: S,
    claim: Claim,
}

/// A parked socket's hold on its token: given back to the loop when dropped, unless the
/// socket was taken up again.
struct Claim {
    token: Token,
    /// `None` once the socket was taken up again.
    released: Option<Released>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(released) = self.released.take() {
            released.borrow_mut().push(self.token);
        }
    }
}

/// The part of the loop other threads can reach.
struct Shared {
    waker: Waker,
    queue: mpsc::Sender<RemoteCallback>,
    /// A wake-up is signalled that the loop has not taken yet: later senders need not signal
    /// again (a system call each), the loop will find their callbacks too.
    woken: AtomicBool,
}

/// A handle other threads use to run a callback on the loop's thread.
#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

impl Remote {
    /// Queues `callback` to run on the loop's thread, and wakes the loop.
    ///
    /// Fails if the loop is gone, or if the wake-up cannot be signalled.
    pub fn call_soon(
        &self,
        callback: impl FnOnce(&mut EventLoop) + Send + 'static,
    ) -> io::Result<()> {
        let shared = &self.shared;
        shared
            .queue
            .send(Box::new(callback))
            .map_err(|_| io::Error::other("the event loop is gone"))?;
        // Acquire-release: if a pending wake-up is seen, the loop's taking of it (which
        // clears the flag) comes after, and so does its look at the queue.
        if shared.woken.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        shared
            .waker
            .wake()
            .inspect_err(|_| shared.woken.store(false, Ordering::Release))
    }
}

/// Sends values of type `T` from any thread to a handler on the loop's thread.
///
/// The handler may hold loop-side state (`Rc`s, `RefCell`s) that could never cross threads:
/// only the values travel, through the loop's [`Remote`] queue.
pub struct Mailbox<T> {
    id: usize,
    remote: Remote,
    _values: PhantomData<fn(T)>,
}

impl<T> Clone for Mailbox<T> {
    fn clone(&self) -> Self {
        Mailbox {
            id: self.id,
            remote: self.remote.clone(),
            _values: PhantomData,
        }
    }
}

impl<T: Send + 'static> Mailbox<T> {
    /// Queues `value` for the handler and wakes the loop.
    pub fn send(&self, value: T) -> io::Result<()> {
        let id = self.id;
        self.remote.call_soon(move |lp| lp.deliver(id, value))
    }
}

type Handler<T> = Box<dyn FnMut(&mut EventLoop, T)>;

impl EventLoop {
    /// A new loop, with its own epoll instance.
    pub fn new() -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (queue, inbox) = mpsc::channel();
        Ok(EventLoop {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            reactor: Reactor::default(),
            timers: Timers::default(),
            soon: VecDeque::new(),
            pending: VecDeque::new(),
            remote: Arc::new(Shared {
                waker,
                queue,
                woken: AtomicBool::new(false),
            }),
            inbox,
            mailboxes: Slab::new(),
            holds: 0,
            stopped: false,
            released: Rc::default(),
        })
    }

    /// Registers `source` for `interest`; `callback` runs each time it becomes ready, until it
    /// is replaced by [`EventLoop::reregister`] or removed by [`EventLoop::deregister`].
    pub fn register(
        &mut self,
        source: &mut impl Source,
        interest: Interest,
        callback: impl FnMut(&mut EventLoop, Ready) + 'static,
    ) -> io::Result<Token> {
        self.reactor
            .register(self.poll.registry(), source, interest, Box::new(callback))
    }

    /// Changes what `token`'s socket waits for and which callback runs next: the lecture's
    /// `unregister` + `register(fd, EVENT_READ, self.read_response)`, in one system call.
    pub fn reregister(
        &mut self,
        token: Token,
        source: &mut impl Source,
        interest: Interest,
        callback: impl FnMut(&mut EventLoop, Ready) + 'static,
    ) -> io::Result<()> {
        self.reactor.reregister(
            self.poll.registry(),
            token,
            source,
            interest,
            Box::new(callback),
        )
    }

    /// Changes which callback runs on `token`'s next readiness, and nothing else: no system
    /// call, since the socket keeps the interest it has. A socket registered for both
    /// directions at once goes from step to step this way; [`EventLoop::reregister`] is for
    /// one whose interest must change.
    pub fn set_callback(
        &mut self,
        token: Token,
        callback: impl FnMut(&mut EventLoop, Ready) + 'static,
    ) -> io::Result<()> {
        self.reactor.set_callback(token, Box::new(callback))
    }

    /// Stops watching `token`'s socket; its callback is dropped (after it returns, if it is
    /// the one running) and is never called again.
    pub fn deregister(&mut self, token: Token, source: &mut impl Source) -> io::Result<()> {
        self.reactor.deregister(self.poll.registry(), token, source)
    }

    /// Forgets `token`'s socket and closes it: what a finished fetch does with its socket.
    ///
    /// On Linux no `EPOLL_CTL_DEL` is needed: closing the last descriptor of a socket takes
    /// it out of every epoll set (epoll(7)), and kqueue does the same, so a deregistration
    /// right before the close would be a system call that changes nothing. Only the callback
    /// is dropped (after it returns, if it is the one running); an event already polled for
    /// the token finds it gone and is skipped. Windows, where mio keeps state of its own per
    /// registration, deregisters first.
    pub fn close<S: Source>(&mut self, token: Token, mut source: S) {
        if cfg!(windows) {
            let _ = self.deregister(token, &mut source);
        } else {
            self.reactor.forget(token);
        }
        drop(source);
    }

    /// Parks `token`'s socket, `source`: it stays registered with the kernel under its token,
    /// but its callback is dropped (after it returns, if it is the one running), and the loop
    /// no longer waits for it. What a kept (idle) connection does between two fetches: it must
    /// neither keep [`EventLoop::run`] from returning nor keep its last fetch alive through
    /// that callback; and taking it out of the epoll set (`EPOLL_CTL_DEL`), or changing what
    /// it waits for (`EPOLL_CTL_MOD`), only to undo it at its next fetch would cost a system
    /// call each way.
    ///
    /// Edge-triggered, the kernel reports a parked socket once for each change (the peer's
    /// close, bytes it should not have sent) and never again: the loop keeps what it reports,
    /// for [`EventLoop::unpark`] to hand over. `last` is the readiness the socket's last user
    /// was woken with; of it, what is still news to the next user is kept too — the peer's
    /// close, an error — but not `readable`: the last user read what it wanted, a response, up
    /// to its end, and a `readable` handed on would cost the next one a read that finds
    /// nothing. (Bytes past that end, a fault, are read by the next user with its response,
    /// whose arrival the kernel reports.)
    ///
    /// A socket not registered under `token` is parked all the same, but cannot be taken up
    /// again ([`EventLoop::unpark`] fails).
    pub fn park<S: Source>(&mut self, token: Token, source: S, last: Ready) -> Parked<S> {
        let left = Ready {
            read_closed: last.read_closed,
            error: last.error,
            ..Ready::default()
        };
        self.reactor.park(token, left);
        Parked {
            source,
            claim: Claim {
                token,
                released: Some(Rc::clone(&self.released)),
            },
        }
    }

    /// Takes a [parked](EventLoop::park) socket up again, with `callback` for its next
    /// readiness, under the token it had: no system call. Returns the socket, its token, and
    /// what the kernel reported for it while it was parked (with what its last user left,
    /// see [`EventLoop::park`]): no edge will report that again, so whoever takes it acts on
    /// it — [`Ready::has_input`] says to read.
    ///
    /// Fails (closing the socket) if it was not registered with this loop.
    pub fn unpark<S: Source>(
        &mut self,
        parked: Parked<S>,
        callback: impl FnMut(&mut EventLoop, Ready) + 'static,
    ) -> io::Result<(S, Token, Ready)> {
        let Parked { source, mut claim } = parked;
        let seen = self
            .reactor
            .unpark(claim.token, Box::new(callback))
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "no parked socket has this token")
            })?;
        claim.released = None;
        Ok((source, claim.token, seen))
    }

    /// Has `token`'s callback run with `readiness` at the loop's next turn, as if the kernel
    /// had reported it: for readiness the kernel will not report again, such as what a
    /// socket taken up again ([`EventLoop::unpark`]) was told while it was parked. It runs
    /// whatever callback the token names by then, as an event would (after an event of this
    /// turn that named the next step, that step), and nothing if the socket is gone.
    pub fn report(&mut self, token: Token, readiness: Ready) {
        self.call_soon(move |lp| lp.dispatch(token, readiness));
    }

    /// Runs `callback` once at `deadline` (or as soon after as the loop gets to it).
    pub fn call_at(
        &mut self,
        deadline: Instant,
        callback: impl FnOnce(&mut EventLoop) + 'static,
    ) -> TimerId {
        self.timers.insert(deadline, Box::new(callback))
    }

    /// Runs `callback` once after `delay`.
    pub fn call_later(
        &mut self,
        delay: Duration,
        callback: impl FnOnce(&mut EventLoop) + 'static,
    ) -> TimerId {
        self.call_at(Instant::now() + delay, callback)
    }

    /// Cancels a timer; returns whether it was still pending.
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        self.timers.cancel(timer)
    }

    /// Runs `callback` on the next turn of the loop, after the events of this one.
    pub fn call_soon(&mut self, callback: impl FnOnce(&mut EventLoop) + 'static) {
        self.soon.push_back(Box::new(callback));
    }

    /// A handle for other threads to queue callbacks on this loop.
    pub fn remote(&self) -> Remote {
        Remote {
            shared: Arc::clone(&self.remote),
        }
    }

    /// A mailbox whose values `handler` receives on this loop's thread, one call per value.
    /// The handler lives as long as the loop.
    pub fn mailbox<T: Send + 'static>(
        &mut self,
        handler: impl FnMut(&mut EventLoop, T) + 'static,
    ) -> Mailbox<T> {
        let handler: Handler<T> = Box::new(handler);
        let id = self.mailboxes.insert(Some(Box::new(handler)));
        Mailbox {
            id,
            remote: self.remote(),
            _values: PhantomData,
        }
    }

    /// Runs mailbox `id`'s handler with `value`; the handler is taken out while it runs, as
    /// it needs the loop too.
    fn deliver<T: 'static>(&mut self, id: usize, value: T) {
        let Some(mut handler) = self.mailboxes.get_mut(id).and_then(Option::take) else {
            return;
        };
        if let Some(handler) = handler.downcast_mut::<Handler<T>>() {
            handler(self, value);
        }
        if let Some(slot) = self.mailboxes.get_mut(id) {
            *slot = Some(handler);
        }
    }

    /// Keeps [`EventLoop::run`] from returning while work handed elsewhere (to another thread,
    /// which will answer through a [`Remote`]) is not back; pair with [`EventLoop::release`].
    pub fn hold(&mut self) {
        self.holds += 1;
    }

    /// Ends one [`EventLoop::hold`].
    pub fn release(&mut self) {
        self.holds = self.holds.saturating_sub(1);
    }

    /// Makes [`EventLoop::run`] return as soon as the callback that calls this returns.
    ///
    /// Nothing else runs first: soon callbacks still queued, socket events already polled and
    /// timers already due stay pending, and the next call of `run` starts with them.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Registered sockets the loop waits for (parked ones aside).
    pub fn sources(&self) -> usize {
        self.reactor.len()
    }

    /// Pending timers.
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    fn is_idle(&self) -> bool {
        self.reactor.len() == 0
            && self.timers.len() == 0
            && self.soon.is_empty()
            && self.pending.is_empty()
            && self.holds == 0
    }

    /// Hands `readiness` to `token`'s callback; a parked socket's is kept for whoever takes it
    /// up again, and a forgotten socket's dropped.
    fn dispatch(&mut self, token: Token, readiness: Ready) {
        if self.reactor.note(token, readiness) {
            return;
        }
        if let Some(mut callback) = self.reactor.take(token) {
            // Taken out of the reactor while it runs: it needs the whole loop, reactor
            // included (see `Reactor::take`).
            callback(self, readiness);
            self.reactor.put_back(token, callback);
        }
    }

    /// Runs callbacks as their sockets, timers and wake-ups come due, until nothing is left to
    /// wait for or a callback calls [`EventLoop::stop`].
    pub fn run(&mut self) -> io::Result<()> {
        self.stopped = false;
        loop {
            // Parked sockets closed since the last turn: their entries go.
            for token in self.released.take() {
                self.reactor.release(token);
            }
            // Callbacks queued by the previous turn; those they queue wait for the next one,
            // so a callback that re-queues itself cannot starve the sockets.
            for _ in 0..self.soon.len() {
                if let Some(callback) = self.soon.pop_front() {
                    callback(self);
                }
                if self.stopped {
                    return Ok(());
                }
            }
            if self.is_idle() {
                return Ok(());
            }

            // Events left over from a stopped turn go first; otherwise block until a socket is
            // ready, the earliest timer is due, or another thread wakes us.
            if self.pending.is_empty() {
                let timeout = if self.soon.is_empty() {
                    self.timers
                        .next_deadline()
                        .map(|deadline| deadline.saturating_duration_since(Instant::now()))
                } else {
                    Some(Duration::ZERO)
                };
                match self.poll.poll(&mut self.events, timeout) {
                    Ok(()) => {}
                    Err(err) if interrupted(&err) => continue,
                    Err(err) => return Err(err),
                }
                // The events are copied out first: callbacks need the whole loop, including
                // the event buffer's owner.
                self.pending.extend(
                    self.events
                        .iter()
                        .map(|event| (event.token(), Ready::of(event))),
                );
            }

            // Dispatch each event to its socket's callback.
            while let Some((token, readiness)) = self.pending.pop_front() {
                if token == WAKER {
                    // Cleared before the queue is read: a callback queued after this look
                    // signals a new wake-up.
                    self.remote.woken.swap(false, Ordering::AcqRel);
                    for callback in self.inbox.try_iter() {
                        self.soon.push_back(callback);
                    }
                } else {
                    self.dispatch(token, readiness);
                }
                if self.stopped {
                    return Ok(());
                }
            }

            let now = Instant::now();
            while let Some(callback) = self.timers.pop_due(now) {
                callback(self);
                if self.stopped {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
