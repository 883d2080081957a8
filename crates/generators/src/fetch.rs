//! `fetch_page` and the sub-coroutines it is built from, each an explicit state machine with
//! its straight-line version (Python-flavoured pseudocode) in the comment above it.
//!
//! Every `enum` has one variant per suspension point, holding what is alive there, plus
//! `Done`. `resume` moves the current state out (`mem::replace(self, Done)`), runs to the next
//! `yield`, and stores the next state — exactly what an `async fn` compiles to.

use std::{
    cell::RefCell,
    io::{Read, Write},
    mem,
    net::SocketAddr,
    rc::Rc,
    time::Instant,
};

use c10k_core::{Config, Event, Fetch, FetchError, Phase, Progress, Response, ResponseReader};
use c10k_eventloop::{EventLoop, TimerId, interrupted, would_block};

use crate::{
    coroutine::{Coroutine, Step},
    socket::{Socket, Waiter, Wake},
    yield_from,
};

/// The read buffer, shared by every fetch of the loop: only one runs at a time.
pub(crate) type Chunk = Rc<RefCell<Box<[u8]>>>;

type Yield<T> = Step<Wake, T>;

/// ```text
/// fn connect(addr, waiter) -> Result<Socket, FetchError>:
///     socket = Socket::connect(addr, waiter)?        # non-blocking: in progress
///     loop:
///         if (yield socket.wait()) == TimedOut:       # writable once connected (or failed)
///             socket.close(); return Err(Timeout)
///         match socket.connect_result():
///             Ok(true)  => return Ok(socket)
///             Ok(false) => continue                  # a spurious wake-up
///             Err(err)  => socket.close(); return Err(Connect(err))
/// ```
pub(crate) enum Connect {
    /// Not started yet.
    Start { addr: SocketAddr, waiter: Waiter },
    /// Suspended at `yield socket.wait()`.
    Waiting { socket: Socket },
    /// Returned.
    Done,
}

impl Coroutine for Connect {
    type Input = Wake;
    type Output = Result<Socket, FetchError>;

    fn resume(&mut self, lp: &mut EventLoop, wake: Wake) -> Yield<Self::Output> {
        let socket = match mem::replace(self, Connect::Done) {
            Connect::Start { addr, waiter } => match Socket::connect(lp, addr, waiter) {
                Ok(socket) => socket,
                Err(err) => return Step::Complete(Err(FetchError::from_io(&err, Phase::Connect))),
            },
            Connect::Waiting { socket } => {
                if wake == Wake::TimedOut {
                    socket.close(lp);
                    return Step::Complete(Err(FetchError::Timeout));
                }
                match socket.connect_result() {
                    Ok(true) => return Step::Complete(Ok(socket)),
                    Ok(false) => socket,
                    Err(err) => {
                        socket.close(lp);
                        return Step::Complete(Err(FetchError::from_io(&err, Phase::Connect)));
                    }
                }
            }
            Connect::Done => panic!("`connect` resumed after completion"),
        };
        let future = socket.wait();
        *self = Connect::Waiting { socket };
        Step::Yielded(future)
    }
}

/// ```text
/// fn write_all(socket, request) -> Result<(Socket, usize), FetchError>:
///     written = 0
///     while written < len(request):
///         match socket.write(request[written:]):
///             Ok(n)       => written += n
///             WouldBlock  => if (yield socket.wait()) == TimedOut:
///                                socket.close(); return Err(Timeout)
///             Interrupted => pass
///             Err(err)    => socket.close(); return Err(Reset(err))
///     return Ok((socket, written))
/// ```
pub(crate) enum WriteAll {
    /// Running, or suspended at `yield socket.wait()` with `written` bytes out.
    Writing {
        socket: Socket,
        request: Vec<u8>,
        written: usize,
    },
    /// Returned.
    Done,
}

impl Coroutine for WriteAll {
    type Input = Wake;
    type Output = Result<(Socket, usize), FetchError>;

    fn resume(&mut self, lp: &mut EventLoop, wake: Wake) -> Yield<Self::Output> {
        let WriteAll::Writing {
            socket,
            request,
            mut written,
        } = mem::replace(self, WriteAll::Done)
        else {
            panic!("`write_all` resumed after completion");
        };
        if wake == Wake::TimedOut {
            socket.close(lp);
            return Step::Complete(Err(FetchError::Timeout));
        }
        while written < request.len() {
            match socket.stream().write(&request[written..]) {
                Ok(n) => written += n,
                Err(err) if would_block(&err) => {
                    let future = socket.wait();
                    *self = WriteAll::Writing {
                        socket,
                        request,
                        written,
                    };
                    return Step::Yielded(future);
                }
                Err(err) if interrupted(&err) => {}
                Err(err) => {
                    socket.close(lp);
                    return Step::Complete(Err(FetchError::from_io(&err, Phase::Exchange)));
                }
            }
        }
        Step::Complete(Ok((socket, written)))
    }
}

/// ```text
/// fn read_response(socket, reader) -> Result<Response, FetchError>:
///     loop:
///         match socket.read(chunk):
///             Ok(0)       => result = reader.eof(); break
///             Ok(n)       => match reader.feed(chunk[:n]):
///                                NeedMore => continue
///                                Done(response) => result = Ok(response); break
///                                Err(err) => result = Err(err); break
///             WouldBlock  => if (yield socket.wait()) == TimedOut:
///                                result = Err(Timeout); break
///             Interrupted => continue
///             Err(err)    => result = Err(Reset(err)); break
///     socket.close()
///     return result
/// ```
// Inline states, as in `WorkerState`: the coroutine is `Reading` for all its life but its end.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ReadResponse {
    /// Running, or suspended at `yield socket.wait()`.
    Reading {
        socket: Socket,
        reader: ResponseReader,
        chunk: Chunk,
        /// For the trace of each read.
        config: Rc<Config>,
    },
    /// Returned.
    Done,
}

impl Coroutine for ReadResponse {
    type Input = Wake;
    type Output = Result<Response, FetchError>;

    fn resume(&mut self, lp: &mut EventLoop, wake: Wake) -> Yield<Self::Output> {
        let ReadResponse::Reading {
            socket,
            mut reader,
            chunk,
            config,
        } = mem::replace(self, ReadResponse::Done)
        else {
            panic!("`read_response` resumed after completion");
        };
        let result = if wake == Wake::TimedOut {
            Err(FetchError::Timeout)
        } else {
            let mut buf = chunk.borrow_mut();
            loop {
                match (socket.stream().read(&mut buf))
                    .inspect(|&n| config.trace(socket.id(), Event::Read(n)))
                {
                    Ok(0) => break reader.eof(),
                    Ok(n) => match reader.feed(&buf[..n]) {
                        Ok(Progress::NeedMore) => {}
                        Ok(Progress::Done(response)) => break Ok(response),
                        Err(err) => break Err(err),
                    },
                    Err(err) if would_block(&err) => {
                        drop(buf);
                        let future = socket.wait();
                        *self = ReadResponse::Reading {
                            socket,
                            reader,
                            chunk,
                            config,
                        };
                        return Step::Yielded(future);
                    }
                    Err(err) if interrupted(&err) => {}
                    Err(err) => break Err(FetchError::from_io(&err, Phase::Exchange)),
                }
            }
        };
        socket.close(lp);
        Step::Complete(result)
    }
}

/// ```text
/// fn fetch_page(fetch, config) -> Result<Response, FetchError>:
///     waiter = Waiter()
///     deadline = call_at(start + connect_timeout, waiter.wake(TimedOut))
///     socket = yield from connect(fetch.addr, waiter)?
///     deadline = call_at(start + timeout, ...)        # connected: the whole-fetch deadline
///     socket = yield from write_all(socket, fetch.request())?
///     response = yield from read_response(socket, fetch.reader(config.limits))
///     cancel(deadline)
///     return response
/// ```
///
/// What lives through several states (the waiter, the deadline timer, the request until it
/// is sent) is a field of the struct; what lives in one state only is in that variant.
pub(crate) struct FetchPage {
    state: FetchState,
    config: Rc<Config>,
    chunk: Chunk,
    request: Vec<u8>,
    /// Whether the reader keeps a body that is not HTML (a robots.txt): the one thing of the
    /// fetch the read needs, kept instead of the fetch.
    keep_body: bool,
    waiter: Waiter,
    deadline: Option<TimerId>,
    started: Instant,
}

// Inline states, as rustc lays out an `async fn` (see `WorkerState`): the address the first
// state holds makes the states' sizes differ more than clippy likes, not the largest bigger.
#[allow(clippy::large_enum_variant)]
enum FetchState {
    /// Not started yet: where to connect.
    Start { addr: SocketAddr },
    /// Inside `yield from connect(...)`.
    Connecting(Connect),
    /// Inside `yield from write_all(...)`.
    Sending(WriteAll),
    /// Inside `yield from read_response(...)`.
    Reading(ReadResponse),
    /// Returned.
    Done,
}

impl FetchState {
    /// The sub-coroutine a resume finds this fetch suspended in, for the trace; `None`
    /// before its first resume and after its last.
    fn waiting_in(&self) -> Option<&'static str> {
        match self {
            FetchState::Connecting(_) => Some("connect"),
            FetchState::Sending(_) => Some("write_all"),
            FetchState::Reading(_) => Some("read_response"),
            FetchState::Start { .. } | FetchState::Done => None,
        }
    }
}

impl FetchPage {
    pub(crate) fn new(fetch: &Fetch, config: Rc<Config>, chunk: Chunk) -> FetchPage {
        FetchPage {
            state: FetchState::Start { addr: fetch.addr },
            config,
            chunk,
            request: fetch.request(),
            keep_body: fetch.is_robots(),
            waiter: Waiter::of(fetch.id()),
            deadline: None,
            started: Instant::now(),
        }
    }

    /// (Re)arms the deadline timer: when it fires, the pending wait ends with `TimedOut`.
    fn arm_deadline(&mut self, lp: &mut EventLoop, at: Instant) {
        if let Some(timer) = self.deadline.take() {
            lp.cancel(timer);
        }
        let waiter = self.waiter.clone();
        self.deadline = Some(lp.call_at(at, move |lp| waiter.wake(lp, Wake::TimedOut)));
    }

    fn complete(
        &mut self,
        lp: &mut EventLoop,
        result: Result<Response, FetchError>,
    ) -> Yield<Result<Response, FetchError>> {
        if let Some(timer) = self.deadline.take() {
            lp.cancel(timer);
        }
        self.state = FetchState::Done;
        Step::Complete(result)
    }
}

impl Coroutine for FetchPage {
    type Input = Wake;
    type Output = Result<Response, FetchError>;

    fn resume(&mut self, lp: &mut EventLoop, mut wake: Wake) -> Yield<Self::Output> {
        if let Some(name) = self.state.waiting_in() {
            self.config.trace(self.waiter.id(), Event::Resumed(name));
        }
        loop {
            let next = match &mut self.state {
                FetchState::Start { addr } => {
                    let addr = *addr;
                    let config = &self.config;
                    let at = self.started + config.connect_timeout.min(config.timeout);
                    self.arm_deadline(lp, at);
                    FetchState::Connecting(Connect::Start {
                        addr,
                        waiter: self.waiter.clone(),
                    })
                }
                FetchState::Connecting(connect) => match yield_from!(connect.resume(lp, wake)) {
                    Ok(socket) => {
                        self.config.trace(self.waiter.id(), Event::Connected);
                        if self.config.connect_timeout < self.config.timeout {
                            self.arm_deadline(lp, self.started + self.config.timeout);
                        }
                        let request = mem::take(&mut self.request);
                        FetchState::Sending(WriteAll::Writing {
                            socket,
                            request,
                            written: 0,
                        })
                    }
                    Err(err) => return self.complete(lp, Err(err)),
                },
                FetchState::Sending(write) => match yield_from!(write.resume(lp, wake)) {
                    Ok((socket, written)) => {
                        self.config.trace(self.waiter.id(), Event::Written(written));
                        FetchState::Reading(ReadResponse::Reading {
                            socket,
                            reader: ResponseReader::new(self.config.limits)
                                .for_robots_txt(self.keep_body),
                            chunk: Rc::clone(&self.chunk),
                            config: Rc::clone(&self.config),
                        })
                    }
                    Err(err) => return self.complete(lp, Err(err)),
                },
                FetchState::Reading(read) => {
                    let result = yield_from!(read.resume(lp, wake));
                    return self.complete(lp, result);
                }
                FetchState::Done => panic!("`fetch_page` resumed after completion"),
            };
            self.state = next;
            // A sub-coroutine just started gets a plain first resume.
            wake = Wake::Ready;
        }
    }
}
