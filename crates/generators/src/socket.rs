//! A non-blocking socket on the event loop whose readiness resolves futures: the bridge from
//! callbacks (what the loop speaks) to futures (what coroutines wait on).
//!
//! In 500 Lines ("A Web Crawler With asyncio Coroutines", A. Jesse Jiryu Davis and Guido van
//! Rossum, in *500 Lines or Less*: the chapter the lecture's Python comes from), each wait
//! registers a fresh callback that resolves a fresh future:
//!
//! ```python
//! f = Future()
//! def on_connected():
//!     f.set_result(None)
//! selector.register(sock.fileno(), EVENT_WRITE, on_connected)
//! yield f
//! selector.unregister(sock.fileno())
//! ```
//!
//! Here the socket is registered once, for both directions, with a callback that resolves
//! whatever future is parked in its [`Waiter`], and notes what the socket reported: readiness
//! is edge-triggered, and an edge that comes while nobody waits would otherwise be lost. A
//! coroutine *tries* its write first and only waits on `WouldBlock`; it reads when the socket
//! has reported something to read since its last read met `WouldBlock`, and otherwise waits
//! (right after a request, its answer cannot be there before the socket says so, and a try
//! would be a system call that meets `WouldBlock`). This is also how tokio's `TcpStream`
//! works: its reactor keeps each socket's readiness, which a read that meets `WouldBlock`
//! clears.

use std::{cell::RefCell, io, net::SocketAddr, rc::Rc};

use c10k_core::FetchId;
use c10k_eventloop::{EventLoop, Interest, Parked, Ready, Token};
use mio::net::TcpStream;

use crate::future::Future;

/// What every wait of a fetch ends with: readiness, not data.
///
/// In 500 Lines the future of a read resolves with the bytes (`f.set_result(sock.recv(4096))`
/// in its `read(sock)`): the callback does the I/O, and the coroutine gets what it asked for.
/// Here a future only says "the socket may be ready now" (or "too late"), and the coroutine
/// does the `read` itself and handles `WouldBlock`. That keeps one read buffer per loop
/// instead of one per fetch, lets a coroutine read until `WouldBlock` as edge-triggered epoll
/// needs, and is the contract of Rust's own futures (a `Waker` says "poll me again", not
/// "here is your data"). `crates/uring` is the model where completion comes with the data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Wake {
    /// What was awaited may be ready: try again.
    #[default]
    Ready,
    /// The fetch's deadline passed.
    TimedOut,
}

/// The one pending wait of a fetch. Its socket's readiness and its deadline both resolve it;
/// the first to come wins.
#[derive(Clone)]
pub(crate) struct Waiter(Rc<RefCell<WaiterState>>);

#[derive(Default)]
struct WaiterState {
    pending: Option<Future<Wake>>,
    /// What the fetch's socket reported that its coroutines have not used up: each report
    /// adds to it, a read that meets `WouldBlock` clears its input.
    ready: Ready,
    /// Once the deadline passes, every later wait ends at once.
    timed_out: bool,
    /// The fetch's name in a trace: here, in what would be padding, so that the fetch's
    /// coroutines find it through their socket at no cost.
    id: FetchId,
}

impl Waiter {
    /// The waiter of fetch `id`.
    pub(crate) fn of(id: FetchId) -> Waiter {
        Waiter(Rc::new(RefCell::new(WaiterState {
            id,
            ..WaiterState::default()
        })))
    }

    /// The fetch's name in a trace.
    pub(crate) fn id(&self) -> FetchId {
        self.0.borrow().id
    }

    /// A future for the next wake-up.
    pub(crate) fn wait(&self) -> Future<Wake> {
        let mut state = self.0.borrow_mut();
        if state.timed_out {
            return Future::done(Wake::TimedOut);
        }
        let future = Future::new();
        state.pending = Some(future.clone());
        future
    }

    /// The socket's callback: any readiness is noted, and resolves the pending wait.
    fn on_ready(&self) -> impl FnMut(&mut EventLoop, Ready) + 'static {
        let waiter = self.clone();
        move |lp, ready| {
            waiter.0.borrow_mut().ready |= ready;
            waiter.wake(lp, Wake::Ready);
        }
    }

    /// Resolves the pending wait, if any.
    pub(crate) fn wake(&self, lp: &mut EventLoop, wake: Wake) {
        let pending = {
            let mut state = self.0.borrow_mut();
            state.timed_out |= wake == Wake::TimedOut;
            state.pending.take()
        };
        if let Some(future) = pending {
            future.set_result(lp, wake);
        }
    }
}

/// A socket is watched for both directions at once, for all its life: a coroutine tries its
/// write first (its read once the socket reported something to read), and waits on whichever
/// it met `WouldBlock` in (or had nothing reported for).
const BOTH_WAYS: Interest = Interest::READABLE.add(Interest::WRITABLE);

/// A connecting or connected socket, registered with the loop until [`Socket::close`].
pub(crate) struct Socket {
    stream: TcpStream,
    token: Token,
    waiter: Waiter,
}

impl Socket {
    /// Starts a non-blocking connect; readiness from now on resolves `waiter`'s futures.
    pub(crate) fn connect(
        lp: &mut EventLoop,
        addr: SocketAddr,
        waiter: Waiter,
    ) -> io::Result<Socket> {
        let mut stream = TcpStream::connect(addr)?;
        let token = lp.register(&mut stream, BOTH_WAYS, waiter.on_ready())?;
        // A fresh socket has reported nothing (the waiter may have watched a stale one).
        waiter.0.borrow_mut().ready = Ready::default();
        Ok(Socket {
            stream,
            token,
            waiter,
        })
    }

    /// A kept socket, parked since its last fetch, taken up again for a new fetch (no system
    /// call): its readiness now resolves `waiter`'s futures, and what it reported while it
    /// was parked (the server's close) is the waiter's to act on. (Rebinding is what makes it
    /// the new fetch's: the old waiter belongs to a fetch that is over, and its deadline may
    /// have fired.)
    pub(crate) fn unpark(
        lp: &mut EventLoop,
        parked: Parked<TcpStream>,
        waiter: Waiter,
    ) -> io::Result<Socket> {
        let (stream, token, seen) = lp.unpark(parked, waiter.on_ready())?;
        waiter.0.borrow_mut().ready = seen;
        Ok(Socket {
            stream,
            token,
            waiter,
        })
    }

    /// Whether the socket reported something to read (bytes, the peer's close, an error)
    /// since the last read that met `WouldBlock`.
    pub(crate) fn has_input(&self) -> bool {
        self.waiter.0.borrow().ready.has_input()
    }

    /// A read met `WouldBlock`: nothing more to read until the socket reports it.
    pub(crate) fn drained(&self) {
        let ready = &mut self.waiter.0.borrow_mut().ready;
        *ready = Ready {
            writable: ready.writable,
            ..Ready::default()
        };
    }

    /// The fetch's name in a trace.
    pub(crate) fn id(&self) -> FetchId {
        self.waiter.id()
    }

    /// Suspends until the socket may be ready (or the deadline passes).
    pub(crate) fn wait(&self) -> Future<Wake> {
        self.waiter.wait()
    }

    /// After a wake-up of a connecting socket: the error if the connect failed. A connecting
    /// TCP socket is ready only once the connect is through or failed, and `SO_ERROR` says
    /// which. (Mio also asks for the peer's address, in case a wake-up came early: on Linux
    /// none does, and the request's write would then only find the socket not writable yet
    /// and wait.)
    pub(crate) fn connect_result(&self) -> io::Result<()> {
        match self.stream.take_error()? {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// The stream, to read and write (`&TcpStream` implements both).
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Closes the socket, and drops its callback.
    pub(crate) fn close(self, lp: &mut EventLoop) {
        lp.close(self.token, self.stream);
    }

    /// Keeps the socket open but parked on the loop, bound to no fetch: its callback (and
    /// with it this fetch's waiter) is dropped, and the loop no longer waits for it. What the
    /// socket reported and the fetch left unused goes with it (the loop keeps of it what is
    /// news to the next fetch: the server's close).
    pub(crate) fn park(self, lp: &mut EventLoop) -> Parked<TcpStream> {
        let ready = self.waiter.0.borrow().ready;
        lp.park(self.token, self.stream, ready)
    }
}
