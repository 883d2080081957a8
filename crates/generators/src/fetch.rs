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

use c10k_core::{
    Config, Conn, Event, Fetch, FetchError, Limits, Phase, Progress, Response, ResponseReader, Tls,
};
use c10k_eventloop::{EventLoop, TimerId, interrupted, would_block};

use crate::{
    connection::{Connection, Kept},
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
///     if (yield socket.wait()) == TimedOut:           # writable once connected (or failed)
///         socket.close(); return Err(Timeout)
///     match socket.connect_result():                 # SO_ERROR
///         Ok(())   => return Ok(socket)
///         Err(err) => socket.close(); return Err(Connect(err))
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
                return Step::Complete(match socket.connect_result() {
                    Ok(()) => Ok(socket),
                    Err(err) => {
                        socket.close(lp);
                        Err(FetchError::from_io(&err, Phase::Connect))
                    }
                });
            }
            Connect::Done => panic!("`connect` resumed after completion"),
        };
        let future = socket.wait();
        *self = Connect::Waiting { socket };
        Step::Yielded(future)
    }
}

/// ```text
/// fn write_all(conn, request) -> Result<(Connection, usize), FetchError>:
///     written = 0
///     while written < len(request):
///         match conn.socket.write(request[written:]):
///             Ok(n)       => written += n
///             WouldBlock  => if (yield conn.socket.wait()) == TimedOut:
///                                conn.close(); return Err(Timeout)
///             Interrupted => pass
///             Err(err)    => conn.close(); return Err(Reset(err))
///     return Ok((conn, written))
/// ```
pub(crate) enum WriteAll {
    /// Running, or suspended at `yield socket.wait()` with `written` bytes out.
    Writing {
        conn: Connection,
        request: Vec<u8>,
        written: usize,
    },
    /// Returned.
    Done,
}

impl Coroutine for WriteAll {
    type Input = Wake;
    type Output = Result<(Connection, usize), FetchError>;

    fn resume(&mut self, lp: &mut EventLoop, wake: Wake) -> Yield<Self::Output> {
        let WriteAll::Writing {
            conn,
            request,
            mut written,
        } = mem::replace(self, WriteAll::Done)
        else {
            panic!("`write_all` resumed after completion");
        };
        if wake == Wake::TimedOut {
            conn.close(lp);
            return Step::Complete(Err(FetchError::Timeout));
        }
        while written < request.len() {
            match conn.socket.stream().write(&request[written..]) {
                Ok(n) => written += n,
                Err(err) if would_block(&err) => {
                    let future = conn.socket.wait();
                    *self = WriteAll::Writing {
                        conn,
                        request,
                        written,
                    };
                    return Step::Yielded(future);
                }
                Err(err) if interrupted(&err) => {}
                Err(err) => {
                    conn.close(lp);
                    return Step::Complete(Err(FetchError::from_io(&err, Phase::Exchange)));
                }
            }
        }
        Step::Complete(Ok((conn, written)))
    }
}

/// ```text
/// fn handshake(conn) -> Result<Connection, FetchError>:   # https; the request waits in TLS
///     loop:
///         # What TLS has to send (the ClientHello first), at once: reading is what makes it
///         # want to write, and the writable edge after the connect will not come again.
///         # Its last message goes out with the request, which it held back until then.
///         if conn.flush()? and not tls.is_handshaking():
///             return Ok(conn)
///         if (yield conn.socket.wait()) == TimedOut:
///             conn.close(); return Err(Timeout)
///         loop:                                    # what the server sent, to TLS
///             match conn.socket.read(chunk):
///                 Ok(0)       => conn.close(); return Err(tls.eof())
///                 Ok(n)       => tls.received(chunk[:n])?
///                 WouldBlock  => conn.socket.drained(); break
///                 Interrupted => continue
///                 Err(err)    => conn.close(); return Err(Reset(err))
/// ```
///
/// It yields only with nothing TLS has to send left in its hands: the wait is for the server's
/// next flight, or for the socket to take the rest of a write.
pub(crate) enum Handshake {
    /// Running: about to write what TLS has to send.
    Writing { conn: Connection, chunk: Chunk },
    /// Suspended at `yield socket.wait()`.
    Waiting { conn: Connection, chunk: Chunk },
    /// Returned.
    Done,
}

impl Coroutine for Handshake {
    type Input = Wake;
    type Output = Result<Connection, FetchError>;

    fn resume(&mut self, lp: &mut EventLoop, wake: Wake) -> Yield<Self::Output> {
        let (mut conn, chunk) = match mem::replace(self, Handshake::Done) {
            Handshake::Writing { conn, chunk } => (conn, chunk),
            Handshake::Waiting { mut conn, chunk } => {
                if wake == Wake::TimedOut {
                    conn.close(lp);
                    return Step::Complete(Err(FetchError::Timeout));
                }
                // No plaintext comes before the request is sent: this reader stays empty.
                let mut nothing = ResponseReader::new(Limits::default());
                let mut buf = chunk.borrow_mut();
                let failed = loop {
                    match conn.socket.stream().read(&mut buf) {
                        Ok(0) => {
                            break Some(conn.eof(&mut nothing).err().unwrap_or_else(|| {
                                FetchError::Reset(
                                    "connection closed during the TLS handshake".to_owned(),
                                )
                            }));
                        }
                        Ok(n) => {
                            if let Err(err) = conn.received(&buf[..n], &mut nothing) {
                                break Some(err);
                            }
                        }
                        Err(err) if would_block(&err) => {
                            conn.socket.drained();
                            break None;
                        }
                        Err(err) if interrupted(&err) => {}
                        Err(err) => break Some(FetchError::from_io(&err, Phase::Exchange)),
                    }
                };
                drop(buf);
                if let Some(err) = failed {
                    conn.close(lp);
                    return Step::Complete(Err(err));
                }
                (conn, chunk)
            }
            Handshake::Done => panic!("`handshake` resumed after completion"),
        };
        match conn.flush() {
            Ok(true) if !conn.is_handshaking() => return Step::Complete(Ok(conn)),
            Ok(_) => {}
            Err(err) => {
                conn.close(lp);
                return Step::Complete(Err(FetchError::from_io(&err, Phase::Exchange)));
            }
        }
        let future = conn.socket.wait();
        *self = Handshake::Waiting { conn, chunk };
        Step::Yielded(future)
    }
}

/// ```text
/// fn read_response(conn, reader, reused) -> Answer:
///     loop:
///         # Nothing reported to read since the last WouldBlock (right after the request, its
///         # answer cannot be there before the socket says so): wait, not a try that meets it.
///         if not conn.socket.has_input():
///             conn.flush()?                   # what TLS has to say after reading (rare)
///             if (yield conn.socket.wait()) == TimedOut:
///                 result = Err(Timeout); break
///             continue
///         match conn.socket.read(chunk):
///             Ok(0)       => result = conn.eof(reader); break     # TLS: close_notify or not
///             Ok(n)       => match conn.received(chunk[:n], reader):     # through TLS if https
///                                NeedMore => continue
///                                Done(response) => result = Ok(response); break
///                                Err(err) => result = Err(err); break
///             WouldBlock  => conn.socket.drained()   # the next edge says when to read again
///             Interrupted => continue
///             Err(err)    => result = Err(Reset(err)); break
///     if result is Err(err) and reader.stale(reused, err):
///         conn.close(); return Stale               # a kept connection the server let go
///     if keep_alive and result is a reusable response and conn.is_flushed():
///         return Got(result, Some(conn))          # for the origin's next fetch
///     conn.close()
///     return Got(result, None)
/// ```
// Inline states, as in `WorkerState`: the coroutine is `Reading` for all its life but its end.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ReadResponse {
    /// Running, or suspended at `yield socket.wait()`.
    Reading {
        conn: Connection,
        reader: ResponseReader,
        chunk: Chunk,
        /// For the trace of each read, and whether connections are kept.
        config: Rc<Config>,
        /// The connection was taken from the pool.
        reused: bool,
    },
    /// Returned.
    Done,
}

/// What reading a response ended with.
pub(crate) enum Answer {
    /// The response (or the fetch's error), and the connection if it is kept.
    Got(Result<Response, FetchError>, Option<Connection>),
    /// The kept connection the fetch reused had been closed by the server before any byte
    /// of the response: the request goes again, on a fresh connection.
    Stale,
}

impl Coroutine for ReadResponse {
    type Input = Wake;
    type Output = Answer;

    fn resume(&mut self, lp: &mut EventLoop, wake: Wake) -> Yield<Self::Output> {
        let ReadResponse::Reading {
            mut conn,
            mut reader,
            chunk,
            config,
            reused,
        } = mem::replace(self, ReadResponse::Done)
        else {
            panic!("`read_response` resumed after completion");
        };
        let result = if wake == Wake::TimedOut {
            Err(FetchError::Timeout)
        } else {
            let mut buf = chunk.borrow_mut();
            loop {
                if !conn.socket.has_input() {
                    drop(buf);
                    if let Err(err) = conn.flush() {
                        break Err(FetchError::from_io(&err, Phase::Exchange));
                    }
                    let future = conn.socket.wait();
                    *self = ReadResponse::Reading {
                        conn,
                        reader,
                        chunk,
                        config,
                        reused,
                    };
                    return Step::Yielded(future);
                }
                match (conn.socket.stream().read(&mut buf))
                    .inspect(|&n| config.trace(conn.socket.id(), Event::Read(n)))
                {
                    Ok(0) => break conn.eof(&mut reader),
                    Ok(n) => match conn.received(&buf[..n], &mut reader) {
                        Ok(Progress::NeedMore) => {}
                        Ok(Progress::Done(response)) => break Ok(response),
                        Err(err) => break Err(err),
                    },
                    Err(err) if would_block(&err) => conn.socket.drained(),
                    Err(err) if interrupted(&err) => {}
                    Err(err) => break Err(FetchError::from_io(&err, Phase::Exchange)),
                }
            }
        };
        if let Err(err) = &result
            && reader.stale(reused, err)
        {
            conn.close(lp);
            return Step::Complete(Answer::Stale);
        }
        let reusable = result.as_ref().is_ok_and(|response| response.reusable);
        if config.keep_alive && reusable && conn.is_flushed() {
            return Step::Complete(Answer::Got(result, Some(conn)));
        }
        conn.close(lp);
        Step::Complete(Answer::Got(result, None))
    }
}

/// ```text
/// fn fetch_page(fetch, kept, config) -> (Result<Response, FetchError>, Option<Connection>):
///     waiter = Waiter(fetch.id)
///     loop:                                # twice at most: a kept connection, then a fresh one
///         if kept:                         # keep-alive: no connect, no handshake
///             fetch.mark(Reused)
///             conn = kept.reuse(waiter)?   # its readiness wakes this fetch now
///             deadline = call_at(start + timeout, waiter.wake(TimedOut))
///             conn = yield from write_all(conn, conn.records(fetch.request()))?   # stale: again
///         else:
///             deadline = call_at(start + connect_timeout, waiter.wake(TimedOut))
///             conn = yield from connect(fetch.addr, waiter)?
///             deadline = call_at(start + timeout, ...)    # connected: the whole-fetch deadline
///             if https:
///                 conn.start_tls(Tls(config, fetch.url), fetch.request())
///                 conn = yield from handshake(conn)?      # its last write carries the request
///                 fetch.mark(Handshake)
///             else:
///                 conn = yield from write_all(conn, fetch.request())?
///         match yield from read_response(conn, fetch.reader(config.limits), kept):
///             Stale => fetch.mark(Stale); kept = None     # once more, on a fresh connection
///             Got(response, conn) =>
///                 cancel(deadline)
///                 return (response, conn)                 # conn: kept, for the worker's pool
/// ```
///
/// What lives through several states (the fetch, the waiter, the deadline timer) is a field
/// of the struct; what lives in one state only is in that variant.
pub(crate) struct FetchPage {
    state: FetchState,
    /// The fetch, given back to the worker when the page is fetched ([`FetchPage::into_fetch`]).
    fetch: Fetch,
    config: Rc<Config>,
    chunk: Chunk,
    waiter: Waiter,
    deadline: Option<TimerId>,
    started: Instant,
    /// The request's length, for the trace (over TLS, the request is inside TLS).
    request_len: usize,
    /// The connection was taken from the pool.
    reused: bool,
}

// Inline states, as rustc lays out an `async fn` (see `WorkerState`): the kept connection the
// first state holds makes the states' sizes differ more than clippy likes.
#[allow(clippy::large_enum_variant)]
enum FetchState {
    /// Not started yet: with the connection kept for the fetch's origin, if any.
    Start { kept: Option<Kept> },
    /// Inside `yield from connect(...)`.
    Connecting(Connect),
    /// Inside `yield from handshake(...)`.
    Handshaking(Handshake),
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
            FetchState::Handshaking(_) => Some("handshake"),
            FetchState::Sending(_) => Some("write_all"),
            FetchState::Reading(_) => Some("read_response"),
            FetchState::Start { .. } | FetchState::Done => None,
        }
    }
}

impl FetchPage {
    /// The fetch of `fetch`'s page, on `kept` if the worker found a connection kept for its
    /// origin.
    pub(crate) fn new(
        fetch: Fetch,
        kept: Option<Kept>,
        config: Rc<Config>,
        chunk: Chunk,
    ) -> FetchPage {
        FetchPage {
            state: FetchState::Start { kept },
            waiter: Waiter::of(fetch.id()),
            fetch,
            config,
            chunk,
            deadline: None,
            started: Instant::now(),
            request_len: 0,
            reused: false,
        }
    }

    /// The fetch, once its page is fetched.
    pub(crate) fn into_fetch(self) -> Fetch {
        self.fetch
    }

    /// (Re)arms the deadline timer: when it fires, the pending wait ends with `TimedOut`.
    fn arm_deadline(&mut self, lp: &mut EventLoop, at: Instant) {
        if let Some(timer) = self.deadline.take() {
            lp.cancel(timer);
        }
        let waiter = self.waiter.clone();
        self.deadline = Some(lp.call_at(at, move |lp| waiter.wake(lp, Wake::TimedOut)));
    }

    /// The request, and its length for the trace.
    fn request(&mut self) -> Vec<u8> {
        let request = self.fetch.request();
        self.request_len = request.len();
        request
    }

    /// The first step on a connection kept for the origin: its readiness now wakes this
    /// fetch, and the request (over TLS, its records: no new handshake) is written.
    fn reuse(&mut self, lp: &mut EventLoop, kept: Kept) -> Result<FetchState, FetchError> {
        self.fetch.mark(&self.config, Conn::Reused);
        self.reused = true;
        self.arm_deadline(lp, self.started + self.config.timeout);
        let mut conn = kept
            .reuse(lp, self.waiter.clone())
            .map_err(|err| FetchError::from_io(&err, Phase::Exchange))?;
        let request = self.request();
        Ok(FetchState::Sending(WriteAll::Writing {
            request: conn.records(request),
            conn,
            written: 0,
        }))
    }

    /// Whether `err`, before any byte of the response, says only that the kept connection
    /// this fetch reused had been let go by the server (the core's rule, with a reader that
    /// has read nothing).
    fn stale(&self, err: &FetchError) -> bool {
        self.fetch
            .reader(self.config.limits)
            .stale(self.reused, err)
    }

    /// A kept connection found closed: marks it, and starts again on a fresh one, once
    /// (RFC 9112, 9.3.1), under fresh deadlines; no try is counted.
    fn again(&mut self) -> FetchState {
        self.fetch.mark(&self.config, Conn::Stale);
        self.reused = false;
        self.started = Instant::now();
        FetchState::Start { kept: None }
    }

    fn complete(
        &mut self,
        lp: &mut EventLoop,
        result: Result<Response, FetchError>,
        conn: Option<Connection>,
    ) -> Yield<(Result<Response, FetchError>, Option<Connection>)> {
        if let Some(timer) = self.deadline.take() {
            lp.cancel(timer);
        }
        self.state = FetchState::Done;
        Step::Complete((result, conn))
    }
}

impl Coroutine for FetchPage {
    type Input = Wake;
    type Output = (Result<Response, FetchError>, Option<Connection>);

    fn resume(&mut self, lp: &mut EventLoop, mut wake: Wake) -> Yield<Self::Output> {
        if let Some(name) = self.state.waiting_in() {
            self.config.trace(self.waiter.id(), Event::Resumed(name));
        }
        loop {
            let next = match &mut self.state {
                FetchState::Start { kept } => match kept.take() {
                    Some(kept) => match self.reuse(lp, kept) {
                        Ok(next) => next,
                        Err(err) => return self.complete(lp, Err(err), None),
                    },
                    None => {
                        let config = &self.config;
                        let at = self.started + config.connect_timeout.min(config.timeout);
                        self.arm_deadline(lp, at);
                        FetchState::Connecting(Connect::Start {
                            addr: self.fetch.addr,
                            waiter: self.waiter.clone(),
                        })
                    }
                },
                FetchState::Connecting(connect) => match yield_from!(connect.resume(lp, wake)) {
                    Ok(socket) => {
                        self.config.trace(self.waiter.id(), Event::Connected);
                        if self.config.connect_timeout < self.config.timeout {
                            self.arm_deadline(lp, self.started + self.config.timeout);
                        }
                        let mut conn = Connection::plain(socket);
                        let request = self.request();
                        if self.fetch.is_tls() {
                            let tls = self
                                .config
                                .tls_client()
                                .and_then(|client| Tls::new(&client, &self.fetch.url));
                            match tls {
                                Ok(tls) => conn.start_tls(tls, &request),
                                Err(err) => {
                                    conn.close(lp);
                                    return self.complete(lp, Err(err), None);
                                }
                            }
                            FetchState::Handshaking(Handshake::Writing {
                                conn,
                                chunk: Rc::clone(&self.chunk),
                            })
                        } else {
                            FetchState::Sending(WriteAll::Writing {
                                conn,
                                request,
                                written: 0,
                            })
                        }
                    }
                    Err(err) => return self.complete(lp, Err(err), None),
                },
                FetchState::Handshaking(handshake) => {
                    match yield_from!(handshake.resume(lp, wake)) {
                        Ok(conn) => {
                            let resumed = conn.resumed();
                            self.fetch.mark(&self.config, Conn::Handshake { resumed });
                            self.reading(conn)
                        }
                        Err(err) => return self.complete(lp, Err(err), None),
                    }
                }
                FetchState::Sending(write) => match yield_from!(write.resume(lp, wake)) {
                    Ok((conn, _)) => self.reading(conn),
                    Err(err) if self.stale(&err) => self.again(),
                    Err(err) => return self.complete(lp, Err(err), None),
                },
                FetchState::Reading(read) => match yield_from!(read.resume(lp, wake)) {
                    Answer::Stale => self.again(),
                    Answer::Got(result, conn) => return self.complete(lp, result, conn),
                },
                FetchState::Done => panic!("`fetch_page` resumed after completion"),
            };
            self.state = next;
            // A sub-coroutine just started gets a plain first resume.
            wake = Wake::Ready;
        }
    }
}

impl FetchPage {
    /// The request is out: on to reading the response.
    fn reading(&mut self, conn: Connection) -> FetchState {
        self.config
            .trace(self.waiter.id(), Event::Written(self.request_len));
        FetchState::Reading(ReadResponse::Reading {
            conn,
            reader: self.fetch.reader(self.config.limits),
            chunk: Rc::clone(&self.chunk),
            config: Rc::clone(&self.config),
            reused: self.reused,
        })
    }
}
