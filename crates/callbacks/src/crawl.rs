//! One `Fetcher` per URL, its steps chained as callbacks on the event loop.

use std::{
    cell::{Cell, OnceCell, RefCell},
    io::{self, Read, Write},
    rc::Rc,
    time::{Duration, Instant},
};

use c10k_core::{
    CHUNK_SIZE, Config, Conn, Event, Fetch, FetchError, FetchId, LAG_TICK, Message, Outcome, Phase,
    Pool, Progress, Report, Response, ResponseReader, Shard, Tls,
};
use c10k_eventloop::{
    EventLoop, Interest, Mailbox, Parked, Peers, Ready, TimerId, Token, interrupted, would_block,
};
use mio::net::TcpStream;

/// What only this strategy can be asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parse pages (and do their `--work-us`) on the rayon pool instead of the loop.
    pub offload: bool,
    /// Event loops, each on a thread of its own running fetchers for a shard of the frontier
    /// (`loops.rs`); no more than fetches in flight. 0 or 1: the lecture's one loop.
    pub loops: usize,
}

/// What every callback shares. One thread runs them all, so `RefCell` is enough: a borrow is
/// never contended, only checked.
pub(crate) struct Crawl {
    /// The settings; `concurrency` is this loop's share.
    config: Config,
    /// The frontier: the whole of it with one loop, this loop's shard with several.
    pub(crate) frontier: RefCell<Shard>,
    /// The one read buffer: callbacks never overlap, so every socket can use it in turn.
    chunk: RefCell<Box<[u8]>>,
    /// With `--offload`: where the pool sends finished outcomes back to the loop.
    offload: OnceCell<Mailbox<Outcome>>,
    /// With several loops: every loop's mailbox, by shard, for the links other shards own.
    pub(crate) peers: OnceCell<Peers<Message>>,
    /// The pending lag tick, cancelled when the crawl is done.
    tick: Cell<Option<TimerId>>,
    /// The timer set for when the first waiting URL is due, and that time.
    wake: Cell<Option<(Instant, TimerId)>>,
    /// How late each tick ran.
    lags: RefCell<Vec<Duration>>,
    /// Connections kept for their origin's next fetch (keep-alive): this loop's, as the
    /// origins' fetches are this loop's shard's.
    pool: RefCell<Pool<Kept>>,
}

/// Crawls `config`'s roots with callbacks on one event loop, on this thread (or with
/// `options.loops` loops, on as many threads: `loops.rs`).
///
/// Fails only if the config cannot run a crawl ([`Config::check`]), or a loop cannot be
/// created or polled.
pub fn crawl(config: &Config, options: &Options) -> io::Result<Report> {
    config.check()?;
    if options.loops > 1 {
        return crate::loops::crawl(config, options);
    }
    let started = Instant::now();
    let mut lp = EventLoop::new()?;
    let crawl = Crawl::new(&mut lp, Shard::alone(config.clone()), options);
    let ran = run(lp, crawl)?;
    Ok(Shard::merge(vec![ran], "callbacks", started.elapsed()))
}

impl Crawl {
    /// The crawl of `shard` on `lp`, not started yet.
    pub(crate) fn new(lp: &mut EventLoop, shard: Shard, options: &Options) -> Rc<Crawl> {
        let crawl = Rc::new(Crawl {
            pool: RefCell::new(Pool::new(shard.config())),
            config: shard.config().clone(),
            frontier: RefCell::new(shard),
            chunk: RefCell::new(vec![0; CHUNK_SIZE].into_boxed_slice()),
            offload: OnceCell::new(),
            peers: OnceCell::new(),
            tick: Cell::new(None),
            wake: Cell::new(None),
            lags: RefCell::new(Vec::new()),
        });
        if options.offload {
            let on_outcome = Rc::clone(&crawl);
            let mailbox = lp.mailbox(move |lp, outcome| {
                lp.release();
                complete(lp, &on_outcome, outcome);
            });
            let _ = crawl.offload.set(mailbox);
        }
        crawl
    }
}

/// Runs the loop until the crawl is over; returns the frontier and how late the loop ran.
pub(crate) fn run(mut lp: EventLoop, crawl: Rc<Crawl>) -> io::Result<(Shard, Vec<Duration>)> {
    tick(&mut lp, Rc::clone(&crawl), Instant::now() + LAG_TICK);
    // Starts the fetchers; or, with nothing to fetch at all (the root excluded), stops the
    // ticks at once, as no fetch will end to stop them.
    after_change(&mut lp, &crawl);
    lp.run()?;
    // The kept connections, parked, did not keep the loop running: closed now, before the
    // crawl returns.
    crawl.pool.borrow_mut().drain().for_each(drop);
    // The loop owns the mailboxes' handlers, which share the crawl: drop it first.
    drop(lp);
    let crawl =
        Rc::try_unwrap(crawl).map_err(|_| io::Error::other("a fetcher outlived the event loop"))?;
    Ok((crawl.frontier.into_inner(), crawl.lags.into_inner()))
}

/// A timer due every [`LAG_TICK`]: how late the loop runs it is how long the callbacks before
/// it kept the loop busy.
///
/// The next tick is due a period after this one *ran*, as the generators' and async tickers'
/// sleeps are: were it due a period after this one was *due*, a stall of S ms would be counted
/// twice, once by the tick it delayed and again (S - 10 ms) by the next, already overdue.
fn tick(lp: &mut EventLoop, crawl: Rc<Crawl>, due: Instant) {
    let on_due = Rc::clone(&crawl);
    let timer = lp.call_at(due, move |lp| {
        let now = Instant::now();
        on_due
            .lags
            .borrow_mut()
            .push(now.saturating_duration_since(due));
        tick(lp, on_due, now + LAG_TICK);
    });
    crawl.tick.set(Some(timer));
}

/// Hands an outcome to the frontier, and starts the fetchers that frees room for.
fn complete(lp: &mut EventLoop, crawl: &Rc<Crawl>, outcome: Outcome) {
    crawl.frontier.borrow_mut().complete(outcome);
    after_change(lp, crawl);
}

/// After the frontier changed: sends what it has for other loops (with several), then stops
/// the ticks if the crawl is over, or starts the fetchers there is room for.
pub(crate) fn after_change(lp: &mut EventLoop, crawl: &Rc<Crawl>) {
    crate::loops::send_messages(crawl);
    if !stop_ticks_if_done(lp, crawl) {
        start_fetchers(lp, crawl);
    }
}

/// Once the crawl is done, cancels the pending lag tick (the last thing keeping the loop
/// running); returns whether it was done.
fn stop_ticks_if_done(lp: &mut EventLoop, crawl: &Crawl) -> bool {
    let done = crawl.frontier.borrow().is_done();
    if done && let Some(timer) = crawl.tick.take() {
        lp.cancel(timer);
    }
    done
}

/// Starts a fetcher for each queued URL, up to the concurrency limit.
fn start_fetchers(lp: &mut EventLoop, crawl: &Rc<Crawl>) {
    loop {
        let fetch = {
            let mut frontier = crawl.frontier.borrow_mut();
            if frontier.in_flight() >= crawl.config.concurrency {
                return;
            }
            match frontier.next_fetch(Instant::now()) {
                Some(fetch) => fetch,
                None => {
                    drop(frontier);
                    return wake_when_due(lp, crawl);
                }
            }
        };
        Fetcher::fetch(lp, Rc::clone(crawl), fetch);
    }
}

/// Nothing is due now: sets a timer for when the first waiting URL is (unless one is set for
/// then or sooner), which starts the fetchers again. A backoff is a timer on the loop, like
/// a deadline: the loop goes on with the other sockets meanwhile.
fn wake_when_due(lp: &mut EventLoop, crawl: &Rc<Crawl>) {
    let Some(due) = crawl.frontier.borrow().next_wake() else {
        return;
    };
    if let Some((set, timer)) = crawl.wake.get() {
        if set <= due {
            return;
        }
        lp.cancel(timer);
    }
    let on_due = Rc::clone(crawl);
    let timer = lp.call_at(due, move |lp| {
        on_due.wake.set(None);
        after_change(lp, &on_due);
    });
    crawl.wake.set(Some((due, timer)));
}

/// A fetcher is shared by the callback of its socket and the callback of its timer.
type SharedFetcher = Rc<RefCell<Fetcher>>;

/// Everything one fetch must remember between callbacks: the locals of the straight-line
/// version, moved into a struct because no stack frame lives from one callback to the next.
struct Fetcher {
    crawl: Rc<Crawl>,
    /// `None` once finished: late callbacks then do nothing.
    fetch: Option<Fetch>,
    /// `None` once finished: dropping it closes the socket.
    stream: Option<TcpStream>,
    token: Token,
    timer: Option<TimerId>,
    started: Instant,
    /// What is left to write: the request, or over TLS the records TLS has to send (the
    /// handshake's, then the request's); emptied once written.
    request: Vec<u8>,
    written: usize,
    reader: ResponseReader,
    /// https: TLS between the socket and the reader, bytes in, bytes out. Boxed: it is large,
    /// and a plain fetch pays 8 bytes for it.
    tls: Option<Box<Tls>>,
    /// The connection was taken from the pool: failing before the response's first byte
    /// means the server let it go while it sat idle.
    reused: bool,
    /// The readiness `read_response` last ran on: if the connection is kept, what of it is
    /// news to the next fetch (the server's close, come with the response's end) goes to
    /// the pool with the socket.
    ready: Ready,
}

/// A connection kept for its origin's next fetch (`--connections keep-alive`): the socket,
/// parked on the loop (still in the epoll set under its token, with no callback, so nothing
/// waits for it and no fetcher lives on through it), and its TLS state, so that reusing it
/// needs no new handshake.
struct Kept {
    socket: Parked<TcpStream>,
    tls: Option<Box<Tls>>,
}

impl Fetcher {
    /// Takes a connection kept for the fetch's origin, if any (`reuse`); else opens one
    /// (`connect`).
    fn fetch(lp: &mut EventLoop, crawl: Rc<Crawl>, fetch: Fetch) {
        let started = Instant::now();
        let kept = if crawl.config.keep_alive {
            crawl.pool.borrow_mut().take(fetch.origin(), started)
        } else {
            None
        };
        let fetcher = Rc::new(RefCell::new(Fetcher {
            request: fetch.request(),
            reader: fetch.reader(crawl.config.limits),
            crawl,
            fetch: Some(fetch),
            stream: None,
            token: Token(0),
            timer: None,
            started,
            written: 0,
            tls: None,
            reused: false,
            ready: Ready::default(),
        }));
        match kept {
            Some(kept) => Fetcher::reuse(&fetcher, lp, kept),
            None => Fetcher::connect(&fetcher, lp),
        }
    }

    /// Starts a non-blocking connect and registers `connected` for when it completes.
    ///
    /// The socket is registered once, for both directions: each later step only names the
    /// callback its next readiness runs (`next_step`), where the lecture unregisters and
    /// registers again — an `epoll_ctl` per step that tells the kernel nothing new. mio is
    /// edge-triggered, so an edge that comes while a step waits for the other direction
    /// costs at most one try that meets `WouldBlock`.
    fn connect(this: &SharedFetcher, lp: &mut EventLoop) {
        let mut fetcher = this.borrow_mut();
        let Some(addr) = fetcher.fetch.as_ref().map(|fetch| fetch.addr) else {
            return;
        };
        // Kept and busy connections together stay within this loop's share of descriptors.
        let busy = fetcher.crawl.frontier.borrow().in_flight();
        fetcher.crawl.pool.borrow_mut().make_room(busy);
        let registered = TcpStream::connect(addr).and_then(|mut stream| {
            let on_writable = Rc::clone(this);
            let interest = Interest::READABLE | Interest::WRITABLE;
            let token = lp.register(&mut stream, interest, move |lp, ready| {
                Fetcher::connected(&on_writable, lp, ready);
            })?;
            Ok((stream, token))
        });
        match registered {
            Ok((stream, token)) => {
                fetcher.stream = Some(stream);
                fetcher.token = token;
                let config = &fetcher.crawl.config;
                let deadline = fetcher.started + config.connect_timeout.min(config.timeout);
                fetcher.timer = Some(arm_timer(lp, this, deadline));
            }
            Err(err) => {
                // Report the failure from the loop, not from inside our caller: finishing here
                // would start the next fetcher, which could fail the same way, recursively.
                let error = FetchError::from_io(&err, Phase::Connect);
                let failed = Rc::clone(this);
                lp.call_soon(move |lp| failed.borrow_mut().finish(lp, Err(error)));
            }
        }
    }

    /// A kept connection: no connect and no handshake. Its socket is taken up again with
    /// `send_request` as its callback, under the token it had (no system call: it never left
    /// the epoll set), and the loop runs `send_request` at its next turn, without waiting for
    /// a writable edge, which would not come (a kept socket has room to write): with what the
    /// kernel reported while the socket was parked, so that a close that came meanwhile is
    /// read at once. A kept TLS connection encrypts the request now.
    ///
    /// Not run from here: sending may end the fetch (a kept connection the server closed),
    /// and ending it inside our caller would start the next fetcher from there, as a failed
    /// connect would (`connect`).
    fn reuse(this: &SharedFetcher, lp: &mut EventLoop, kept: Kept) {
        let mut fetcher = this.borrow_mut();
        fetcher.mark(Conn::Reused);
        fetcher.reused = true;
        let Kept { socket, tls } = kept;
        if let Some(mut tls) = tls {
            tls.send(&fetcher.request);
            fetcher.request.clear();
            tls.outgoing(&mut fetcher.request);
            fetcher.tls = Some(tls);
        }
        let on_ready = Rc::clone(this);
        match lp.unpark(socket, move |lp, ready| {
            on_ready.borrow().trace(Event::Callback("send_request"));
            Fetcher::send_request(&on_ready, lp, ready);
        }) {
            Ok((stream, token, seen)) => {
                fetcher.stream = Some(stream);
                fetcher.token = token;
                let deadline = fetcher.started + fetcher.crawl.config.timeout;
                fetcher.timer = Some(arm_timer(lp, this, deadline));
                lp.report(token, seen);
            }
            Err(err) => {
                // From the loop, as a failed connect is (`connect`).
                let error = FetchError::from_io(&err, Phase::Exchange);
                let failed = Rc::clone(this);
                lp.call_soon(move |lp| failed.borrow_mut().finish(lp, Err(error)));
            }
        }
    }

    /// The socket became writable: the connect finished. If it succeeded, send the request
    /// (https: start the TLS handshake, with the request queued behind it).
    fn connected(this: &SharedFetcher, lp: &mut EventLoop, ready: Ready) {
        let mut fetcher = this.borrow_mut();
        let Some(stream) = &fetcher.stream else {
            return;
        };
        fetcher.trace(Event::Callback("connected"));
        // A connecting TCP socket is ready only once the connect is through or failed, and
        // `SO_ERROR` says which. (Mio also asks for the peer's address, in case a wake-up
        // came early: on Linux none does, and the request's write would then only find the
        // socket not writable yet and wait.)
        if let Some(err) = stream.take_error().unwrap_or_else(Some) {
            return fetcher.finish(lp, Err(FetchError::from_io(&err, Phase::Connect)));
        }
        fetcher.trace(Event::Connected);
        // Connected: from now on the whole-fetch deadline applies.
        let config = &fetcher.crawl.config;
        if config.connect_timeout < config.timeout {
            let deadline = fetcher.started + config.timeout;
            if let Some(timer) = fetcher.timer.take() {
                lp.cancel(timer);
            }
            fetcher.timer = Some(arm_timer(lp, this, deadline));
        }
        if fetcher.fetch.as_ref().is_some_and(Fetch::is_tls) {
            if let Err(err) = fetcher.start_tls() {
                return fetcher.finish(lp, Err(err));
            }
            drop(fetcher);
            return Fetcher::handshake(this, lp, ready);
        }
        // Ends this borrow of the `RefCell`: `send_request` borrows the fetcher again, and a
        // second `borrow_mut` while this one lives would panic.
        drop(fetcher);
        Fetcher::send_request(this, lp, ready);
    }

    /// https: the client side of TLS for the fetch's URL, under the loop's own configuration
    /// (and so its own session store), with the request queued behind the handshake.
    fn start_tls(&mut self) -> Result<(), FetchError> {
        let Some(fetch) = &self.fetch else {
            return Ok(());
        };
        let mut tls = Tls::new(&self.crawl.config.tls_client()?, &fetch.url)?;
        tls.send(&self.request);
        self.request.clear();
        self.tls = Some(Box::new(tls));
        Ok(())
    }

    /// https, until the handshake is done: reads what the server sent until `WouldBlock`,
    /// feeding TLS, and writes TLS's answer at once — reading is what makes TLS want to write,
    /// and the writable edge after the connect will not come again. (The first time, from
    /// `connected`, there is nothing to read and the answer is the ClientHello.) It is its own
    /// next step until then; once done, `send_request` writes TLS's last message and the
    /// request, which TLS held back until now, in one write.
    fn handshake(this: &SharedFetcher, lp: &mut EventLoop, ready: Ready) {
        let mut fetcher = this.borrow_mut();
        let crawl = Rc::clone(&fetcher.crawl);
        let done = {
            let mut chunk = crawl.chunk.borrow_mut();
            let Fetcher {
                stream: Some(stream),
                request,
                written,
                reader,
                tls: Some(tls),
                ..
            } = &mut *fetcher
            else {
                return;
            };
            // Only if this readiness says the server sent something: each edge reports all
            // the socket is ready for, so a writable-only one finds nothing to read.
            let mut read = Ok(());
            while ready.has_input() {
                match stream.read(&mut chunk) {
                    Ok(0) => {
                        read = Err(tls.eof(reader).err().unwrap_or_else(closed_in_handshake));
                        break;
                    }
                    Ok(n) => {
                        if let Err(err) = tls.received(&chunk[..n], reader) {
                            read = Err(err);
                            break;
                        }
                    }
                    Err(err) if would_block(&err) => break,
                    Err(err) if interrupted(&err) => {}
                    Err(err) => {
                        read = Err(FetchError::from_io(&err, Phase::Exchange));
                        break;
                    }
                }
            }
            read.and_then(|()| {
                tls.outgoing(request);
                if !tls.is_handshaking() {
                    return Ok(true);
                }
                // The rest of what the socket does not take goes at its next readiness.
                write_out(stream, request, written)
                    .map(|_| false)
                    .map_err(|err| FetchError::from_io(&err, Phase::Exchange))
            })
        };
        match done {
            Ok(true) => {
                let resumed = fetcher.tls.as_ref().is_some_and(|tls| tls.resumed());
                fetcher.mark(Conn::Handshake { resumed });
                drop(fetcher);
                // The socket was read until `WouldBlock`: nothing is waiting to be read.
                Fetcher::send_request(this, lp, Ready::default());
            }
            Ok(false) => {
                let token = fetcher.token;
                let on_ready = Rc::clone(this);
                fetcher.next_step(lp, token, move |lp, ready| {
                    on_ready.borrow().trace(Event::Callback("handshake"));
                    Fetcher::handshake(&on_ready, lp, ready);
                });
            }
            Err(err) => fetcher.finish(lp, Err(err)),
        }
    }

    /// Writes as much of the request as the socket takes; once it is all out, the next step
    /// is `read_response`. On `WouldBlock`, it is itself again, to continue when writable.
    fn send_request(this: &SharedFetcher, lp: &mut EventLoop, ready: Ready) {
        let mut fetcher = this.borrow_mut();
        let Fetcher {
            stream: Some(stream),
            request,
            written,
            ..
        } = &mut *fetcher
        else {
            return;
        };
        let len = request.len();
        match write_out(stream, request, written) {
            Ok(true) => {}
            Ok(false) => {
                let token = fetcher.token;
                let on_writable = Rc::clone(this);
                return fetcher.next_step(lp, token, move |lp, ready| {
                    on_writable.borrow().trace(Event::Callback("send_request"));
                    Fetcher::send_request(&on_writable, lp, ready);
                });
            }
            Err(err) => {
                let err = FetchError::from_io(&err, Phase::Exchange);
                if fetcher.stale(&err) {
                    drop(fetcher);
                    return Fetcher::reconnect(this, lp);
                }
                return fetcher.finish(lp, Err(err));
            }
        }
        fetcher.trace(Event::Written(len));
        fetcher.request = Vec::new();
        let token = fetcher.token;
        let on_readable = Rc::clone(this);
        fetcher.next_step(lp, token, move |lp, ready| {
            Fetcher::read_response(&on_readable, lp, ready);
        });
        // The readiness that ran this step also said there is something to read (on a kept
        // connection: the server closed it while it sat idle): no edge will say it again.
        if ready.has_input() {
            drop(fetcher);
            Fetcher::read_response(this, lp, ready);
        }
    }

    /// Reads until `WouldBlock`, feeding the core's reader (https: through TLS, whose answer,
    /// if reading made it want to say something, is written before waiting); finishes once
    /// the response is complete, or failed, or the peer closed.
    fn read_response(this: &SharedFetcher, lp: &mut EventLoop, ready: Ready) {
        let mut fetcher = this.borrow_mut();
        fetcher.ready = ready;
        let crawl = Rc::clone(&fetcher.crawl);
        let id = fetcher.id();
        crawl.config.trace(id, Event::Callback("read_response"));
        let result = {
            let mut chunk = crawl.chunk.borrow_mut();
            let Fetcher {
                stream: Some(stream),
                reader,
                tls,
                request,
                written,
                ..
            } = &mut *fetcher
            else {
                return;
            };
            loop {
                match stream
                    .read(&mut chunk)
                    .inspect(|&n| crawl.config.trace(id, Event::Read(n)))
                {
                    Ok(0) => match tls {
                        Some(tls) => break tls.eof(reader),
                        None => break reader.eof(),
                    },
                    Ok(n) => match feed(tls, &chunk[..n], reader) {
                        Ok(Progress::NeedMore) => {}
                        Ok(Progress::Done(response)) => break Ok(response),
                        Err(err) => break Err(err),
                    },
                    // Drained: the loop calls us again when more arrives. Not before: readiness
                    // is edge-triggered, so reading one chunk and returning (as the lecture's
                    // level-triggered `select` allows) could leave bytes no event announces.
                    Err(err) if would_block(&err) => match tls {
                        // What TLS has to say after reading (a key update, an alert): now,
                        // and what the socket does not take at its next readiness.
                        Some(tls) => {
                            tls.outgoing(request);
                            if let Err(err) = write_out(stream, request, written) {
                                break Err(FetchError::from_io(&err, Phase::Exchange));
                            }
                            return;
                        }
                        None => return,
                    },
                    Err(err) if interrupted(&err) => {}
                    Err(err) => break Err(FetchError::from_io(&err, Phase::Exchange)),
                }
            }
        };
        if let Err(err) = &result
            && fetcher.stale(err)
        {
            drop(fetcher);
            return Fetcher::reconnect(this, lp);
        }
        fetcher.finish(lp, result);
    }

    /// The deadline passed before the fetch finished.
    fn timed_out(this: &SharedFetcher, lp: &mut EventLoop) {
        let mut fetcher = this.borrow_mut();
        fetcher.trace(Event::Callback("timed_out"));
        fetcher.timer = None;
        fetcher.finish(lp, Err(FetchError::Timeout));
    }

    /// Whether `err` says only that the kept connection this fetch reused had been closed by
    /// the server while it sat idle (before any byte of the response came).
    fn stale(&self, err: &FetchError) -> bool {
        self.reader.stale(self.reused, err)
    }

    /// A kept connection the server had let go: closes it and sends the request again, once,
    /// on a fresh connection, without counting a try (RFC 9112, 9.3.1), under fresh deadlines.
    fn reconnect(this: &SharedFetcher, lp: &mut EventLoop) {
        let mut fetcher = this.borrow_mut();
        fetcher.mark(Conn::Stale);
        if let Some(stream) = fetcher.stream.take() {
            lp.close(fetcher.token, stream);
        }
        if let Some(timer) = fetcher.timer.take() {
            lp.cancel(timer);
        }
        let Some(fetch) = &fetcher.fetch else {
            return;
        };
        let (request, reader) = (fetch.request(), fetch.reader(fetcher.crawl.config.limits));
        fetcher.request = request;
        fetcher.reader = reader;
        fetcher.written = 0;
        fetcher.tls = None;
        fetcher.reused = false;
        fetcher.started = Instant::now();
        drop(fetcher);
        Fetcher::connect(this, lp);
    }

    /// This fetch's name in a trace.
    fn id(&self) -> FetchId {
        self.fetch.as_ref().map_or_else(FetchId::default, Fetch::id)
    }

    /// Writes `event` to the trace (`--trace`), if there is one.
    fn trace(&self, event: Event<'_>) {
        self.crawl.config.trace(self.id(), event);
    }

    /// Tells the core what became of the connection: traced, and counted in the report.
    fn mark(&mut self, conn: Conn) {
        if let Some(fetch) = &mut self.fetch {
            fetch.mark(&self.crawl.config, conn);
        }
    }

    /// Names the callback the socket's next readiness runs; a failure to do so (the socket
    /// is no longer registered) ends the fetch.
    fn next_step(
        &mut self,
        lp: &mut EventLoop,
        token: Token,
        callback: impl FnMut(&mut EventLoop, Ready) + 'static,
    ) {
        if self.stream.is_none() {
            return;
        }
        if let Err(err) = lp.set_callback(token, callback) {
            self.finish(lp, Err(FetchError::from_io(&err, Phase::Exchange)));
        }
    }

    /// Ends the fetch: keeps the connection for the origin's next fetch if the response was
    /// read whole and the server keeps it (keep-alive), else closes it; cancels the timer;
    /// and has the page parsed — on the loop, or with `--offload` on the rayon pool, whose
    /// outcome comes back through the loop's mailbox — for [`complete`] to hand to the
    /// frontier.
    fn finish(&mut self, lp: &mut EventLoop, result: Result<Response, FetchError>) {
        let Some(mut fetch) = self.fetch.take() else {
            return;
        };
        if let Some(stream) = self.stream.take() {
            let config = &self.crawl.config;
            // Nothing of TLS's left unwritten, either: it would be lost with the fetcher.
            let reusable = result.as_ref().is_ok_and(|response| response.reusable);
            if config.keep_alive && reusable && self.request.is_empty() {
                // Drops the socket's callback, and with it this fetcher's last owner but the
                // timer's; the socket stays open, in the pool.
                let kept = Kept {
                    socket: lp.park(self.token, stream, self.ready),
                    tls: self.tls.take(),
                };
                let now = Instant::now();
                if self.crawl.pool.borrow_mut().put(fetch.origin(), kept, now) {
                    fetch.mark(config, Conn::Kept);
                }
            } else {
                if let (Some(tls), Err(FetchError::Tls(_))) = (&mut self.tls, &result) {
                    // The alert TLS queued for its failure, if the socket takes it now.
                    self.request.clear();
                    tls.outgoing(&mut self.request);
                    let _ = (&stream).write(&self.request);
                }
                // Drops the socket's callback and closes the socket.
                lp.close(self.token, stream);
            }
        }
        if let Some(timer) = self.timer.take() {
            lp.cancel(timer);
        }
        let now = Instant::now();
        match self.crawl.offload.get() {
            Some(mailbox) => {
                // The loop must not end while the outcome is on its way back.
                lp.hold();
                let mailbox = mailbox.clone();
                rayon::spawn(move || {
                    let _ = mailbox.send(fetch.finish(result, now));
                });
            }
            None => complete(lp, &self.crawl, fetch.finish(result, now)),
        }
    }
}

/// Writes `bytes` from `written` on, as far as the socket takes them: `Ok(true)` once all is
/// out (and `bytes` emptied for what comes next), `Ok(false)` on `WouldBlock` (a normal
/// event: the rest waits for writability).
fn write_out(stream: &TcpStream, bytes: &mut Vec<u8>, written: &mut usize) -> io::Result<bool> {
    let mut stream = stream;
    while *written < bytes.len() {
        match stream.write(&bytes[*written..]) {
            Ok(n) => *written += n,
            Err(err) if would_block(&err) => return Ok(false),
            Err(err) if interrupted(&err) => {}
            Err(err) => return Err(err),
        }
    }
    bytes.clear();
    *written = 0;
    Ok(true)
}

fn closed_in_handshake() -> FetchError {
    FetchError::Reset("connection closed during the TLS handshake".to_owned())
}

/// Bytes just read, to the response reader: straight, or (https) through TLS.
fn feed(
    tls: &mut Option<Box<Tls>>,
    bytes: &[u8],
    reader: &mut ResponseReader,
) -> Result<Progress, FetchError> {
    match tls {
        Some(tls) => tls.received(bytes, reader),
        None => reader.feed(bytes),
    }
}

fn arm_timer(lp: &mut EventLoop, fetcher: &SharedFetcher, deadline: Instant) -> TimerId {
    let on_deadline = Rc::clone(fetcher);
    lp.call_at(deadline, move |lp| Fetcher::timed_out(&on_deadline, lp))
}

/// The in-memory size of what one connection holds in this model (`size_of`, heap excluded),
/// for the benchmarks' account of memory per connection.
pub fn state_sizes() -> Vec<(&'static str, usize)> {
    // An `Rc` allocation holds two counters before the value.
    let rc = 2 * std::mem::size_of::<usize>();
    vec![
        (
            "Fetcher, in its Rc<RefCell<_>>",
            rc + std::mem::size_of::<RefCell<Fetcher>>(),
        ),
        ("  of which Fetch", std::mem::size_of::<Fetch>()),
        (
            "  of which ResponseReader",
            std::mem::size_of::<ResponseReader>(),
        ),
        (
            "socket and timer callbacks, boxed (an Rc each)",
            2 * std::mem::size_of::<SharedFetcher>(),
        ),
        (
            "over https, the TLS state, boxed (rustls' buffers apart)",
            std::mem::size_of::<Tls>(),
        ),
        (
            "a kept connection, in its pool's queue",
            std::mem::size_of::<(Kept, Instant)>(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::thread;

    use c10k_core::parse_root;

    use super::*;

    /// One stall of the loop is one late tick: the tick after it is due a period after the
    /// late one ran, not already overdue.
    #[test]
    fn a_stall_is_counted_once_in_the_loop_lag() {
        const STALL: Duration = Duration::from_millis(200);
        let config = Config::new(
            parse_root("http://127.0.0.1:9/").unwrap(),
            "127.0.0.1:9".parse().unwrap(),
        );
        let mut lp = EventLoop::new().unwrap();
        let crawl = Crawl::new(&mut lp, Shard::alone(config), &Options::default());
        let start = Instant::now();
        tick(&mut lp, Rc::clone(&crawl), start + LAG_TICK);
        // A callback that keeps the loop busy just before the first tick is due.
        lp.call_at(start + LAG_TICK / 2, |_| thread::sleep(STALL));
        let ending = Rc::clone(&crawl);
        lp.call_at(start + STALL + 10 * LAG_TICK, move |lp| {
            if let Some(timer) = ending.tick.take() {
                lp.cancel(timer);
            }
        });
        lp.run().unwrap();
        let lags = crawl.lags.borrow();
        let late = lags.iter().filter(|&&lag| lag >= STALL / 2).count();
        assert_eq!(late, 1, "lags: {lags:?}");
    }
}
