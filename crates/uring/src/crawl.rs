//! One `Fetcher` per URL, its steps chained as completions on the ring.

use std::{
    cell::{Cell, OnceCell, RefCell},
    collections::HashMap,
    io, mem,
    net::SocketAddr,
    rc::Rc,
    time::{Duration, Instant},
};

use c10k_core::{
    Config, Conn, Event, Fetch, FetchError, FetchId, LAG_TICK, Message, Outcome, Phase, Pool,
    Progress, Report, Response, ResponseReader, Shard, Tls,
};

use crate::{
    buffers::Chunk,
    ring::{Mailbox, Peer, Ring, Socket, TimerId},
    rings::Peers,
};

/// What only this strategy can be asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parse pages (and do their `--work-us`) on the rayon pool instead of the loop.
    pub offload: bool,
    /// Rings, each on a thread of its own running fetchers for a shard of the frontier
    /// (`loops.rs`); no more than fetches in flight. 0 or 1: one ring, as the lecture's loop.
    pub loops: usize,
}

/// What every callback shares. One thread runs them all, so `RefCell` is enough: a borrow is
/// never contended, only checked.
pub(crate) struct Crawl {
    /// The settings; `concurrency` is this loop's share.
    config: Config,
    /// The frontier: the whole of it with one loop, this loop's shard with several.
    pub(crate) frontier: RefCell<Shard>,
    /// Where fetches connect, one per address (a root's host each); each connect holds its
    /// peer until its completion.
    hosts: RefCell<HashMap<SocketAddr, Rc<Peer>>>,
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
    /// With `--connections keep-alive`: the connections kept after their response, by origin,
    /// for this loop's next fetches there. An idle one has no operation in flight, so it keeps
    /// no ring running; they are closed once the crawl is done.
    pool: RefCell<Pool<Kept>>,
}

/// A connection between two fetches: its socket and, for https, its TLS state (boxed: it is
/// large, and only https has one), which goes with the socket so that a kept connection
/// carries no new handshake.
type Kept = (Socket, Option<Box<Tls>>);

/// Crawls `config`'s roots with callbacks on one completion loop, on this thread (or with
/// `options.loops` loops, on as many threads: `loops.rs`).
///
/// Fails if the config cannot run a crawl ([`Config::check`]), if io_uring cannot be used
/// here (the error says why), or if a loop fails.
pub fn crawl(config: &Config, options: &Options) -> io::Result<Report> {
    config.check()?;
    if options.loops > 1 {
        return crate::loops::crawl(config, options);
    }
    let started = Instant::now();
    let mut lp = Ring::new(config.concurrency)?;
    let crawl = Crawl::new(&mut lp, Shard::alone(config.clone()), options);
    let ran = run(lp, crawl)?;
    Ok(Shard::merge(vec![ran], "uring", started.elapsed()))
}

impl Crawl {
    /// The crawl of `shard` on `lp`, not started yet.
    pub(crate) fn new(lp: &mut Ring, shard: Shard, options: &Options) -> Rc<Crawl> {
        let crawl = Rc::new(Crawl {
            config: shard.config().clone(),
            hosts: RefCell::new(HashMap::new()),
            pool: RefCell::new(Pool::new(shard.config())),
            frontier: RefCell::new(shard),
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
pub(crate) fn run(mut lp: Ring, crawl: Rc<Crawl>) -> io::Result<(Shard, Vec<Duration>)> {
    tick(&mut lp, Rc::clone(&crawl), Instant::now() + LAG_TICK);
    // Starts the fetchers; or, with nothing to fetch at all (the root excluded), stops the
    // ticks at once, as no fetch will end to stop them.
    after_change(&mut lp, &crawl);
    lp.run()?;
    // The loop owns the mailboxes' handlers, which share the crawl: drop it first.
    drop(lp);
    let crawl =
        Rc::try_unwrap(crawl).map_err(|_| io::Error::other("a fetcher outlived the ring"))?;
    Ok((crawl.frontier.into_inner(), crawl.lags.into_inner()))
}

impl Crawl {
    /// The peer at `addr`, made on its first fetch.
    fn peer(&self, addr: SocketAddr) -> Rc<Peer> {
        let mut hosts = self.hosts.borrow_mut();
        Rc::clone(hosts.entry(addr).or_insert_with(|| Peer::new(addr)))
    }

    /// A kept connection to `fetch`'s origin, when connections are kept and one is idle (the
    /// pool closes those idle too long on the way).
    fn kept(&self, fetch: &Fetch, now: Instant) -> Option<Kept> {
        if !self.config.keep_alive {
            return None;
        }
        self.pool.borrow_mut().take(fetch.origin(), now)
    }

    /// Before a new connection is opened: closes the oldest kept connections while kept and
    /// busy ones together would need more descriptors than this loop's share.
    fn make_room(&self) {
        let busy = self.frontier.borrow().in_flight();
        self.pool.borrow_mut().make_room(busy);
    }
}

/// A timer due every [`LAG_TICK`]: how late the loop runs it is how long the callbacks before
/// it kept the loop busy.
///
/// The next tick is due a period after this one *ran* (as in the callbacks crawler): a stall
/// is counted once, by the tick it delayed.
fn tick(lp: &mut Ring, crawl: Rc<Crawl>, due: Instant) {
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
fn complete(lp: &mut Ring, crawl: &Rc<Crawl>, outcome: Outcome) {
    crawl.frontier.borrow_mut().complete(outcome);
    after_change(lp, crawl);
}

/// After the frontier changed: sends what it has for other loops (with several), then stops
/// the ticks if the crawl is over, or starts the fetchers there is room for.
pub(crate) fn after_change(lp: &mut Ring, crawl: &Rc<Crawl>) {
    crate::loops::send_messages(lp, crawl);
    if !stop_ticks_if_done(lp, crawl) {
        start_fetchers(lp, crawl);
    }
}

/// Once the crawl is done, closes the kept connections (each close an operation: the loop
/// ends once they are closed) and cancels the pending lag tick (the last thing keeping the
/// loop running); returns whether it was done.
fn stop_ticks_if_done(lp: &mut Ring, crawl: &Crawl) -> bool {
    let done = crawl.frontier.borrow().is_done();
    if done {
        let kept: Vec<Kept> = crawl.pool.borrow_mut().drain().collect();
        for (socket, tls) in kept {
            close(lp, socket, tls, Instant::now());
        }
        if let Some(timer) = crawl.tick.take() {
            lp.cancel(timer);
        }
    }
    done
}

/// Starts a fetcher for each queued URL, up to the concurrency limit.
fn start_fetchers(lp: &mut Ring, crawl: &Rc<Crawl>) {
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

/// Nothing is due now: submits a timeout for when the first waiting URL is (unless one is
/// set for then or sooner), whose completion starts the fetchers again. A backoff is one
/// more operation on the ring; the other completions keep coming meanwhile.
fn wake_when_due(lp: &mut Ring, crawl: &Rc<Crawl>) {
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

/// A fetcher is shared by the callbacks of its operations, one in flight at a time.
type SharedFetcher = Rc<RefCell<Fetcher>>;

/// Everything one fetch must remember between callbacks: the locals of the straight-line
/// version, moved into a struct because no stack frame lives from one callback to the next.
///
/// The straight-line version the callbacks below cut into completions:
///
/// ```text
/// connection = pool.take(origin)                    # keep-alive: no connect, no handshake
///              or connect(socket()), + TLS for https
/// queue the request (over TLS: behind the handshake)
/// loop:
///     while there is something to send (the request; what TLS has to say): send all of it
///     recv; feed it (through TLS) to the response reader; until the response is complete
/// the server keeps it ? pool.put(connection) : close(connection)
/// ```
///
/// and a connection from the pool that fails before any byte of the response was closed by
/// the server while it sat idle: the request goes again, once, on a fresh connection.
struct Fetcher {
    crawl: Rc<Crawl>,
    /// `None` once finished.
    fetch: Option<Fetch>,
    /// The socket while no operation holds it: `None` until it is open (or taken from the
    /// pool), while an operation is in flight (the operation has it), and once finished (its
    /// close submitted, or back in the pool).
    socket: Option<Socket>,
    /// For https: the connection's TLS, from the connect (or the pool) to the close (or back
    /// to the pool). Bytes received go in, bytes to send come out; it holds no socket.
    tls: Option<Box<Tls>>,
    started: Instant,
    /// What goes out next: the request, or over TLS the records TLS gave (the handshake's,
    /// the request's, an alert). Lent to the kernel while a send is in flight (empty here
    /// meanwhile); the same `Vec` until all of it is out, then dropped.
    outgoing: Vec<u8>,
    /// How much of `outgoing` is out.
    written: usize,
    reader: ResponseReader,
    /// The connection came from the pool.
    reused: bool,
    /// The whole request is out (over TLS: the handshake is done and its records are sent).
    requested: bool,
}

impl Fetcher {
    /// Takes a kept connection to the fetch's origin and sends the request on it, or submits
    /// a new socket's creation.
    fn fetch(lp: &mut Ring, crawl: Rc<Crawl>, fetch: Fetch) {
        let started = Instant::now();
        let kept = crawl.kept(&fetch, started);
        let fetcher = Rc::new(RefCell::new(Fetcher {
            reader: fetch.reader(crawl.config.limits),
            crawl,
            fetch: Some(fetch),
            socket: None,
            tls: None,
            started,
            outgoing: Vec::new(),
            written: 0,
            reused: false,
            requested: false,
        }));
        let Some((socket, tls)) = kept else {
            return Fetcher::open(&fetcher, lp);
        };
        let mut reusing = fetcher.borrow_mut();
        reusing.socket = Some(socket);
        reusing.tls = tls;
        reusing.reused = true;
        reusing.mark(Conn::Reused);
        drop(reusing);
        Fetcher::send_request(&fetcher, lp);
    }

    /// Submits a new socket's creation; `connect` runs when it completes.
    fn open(this: &SharedFetcher, lp: &mut Ring) {
        let fetcher = this.borrow();
        let Some(fetch) = &fetcher.fetch else {
            return;
        };
        fetcher.crawl.make_room();
        let peer = fetcher.crawl.peer(fetch.addr);
        drop(fetcher);
        let on_open = Rc::clone(this);
        lp.socket(&peer, move |lp, socket| {
            Fetcher::connect(&on_open, lp, socket);
        });
    }

    /// The socket is open: submit the connect, with the connect deadline; `connected` runs
    /// when it completes.
    fn connect(this: &SharedFetcher, lp: &mut Ring, socket: io::Result<Socket>) {
        let mut fetcher = this.borrow_mut();
        fetcher.trace(Event::Callback("connect"));
        let socket = match socket {
            Ok(socket) => socket,
            Err(err) => {
                return fetcher.finish(lp, Err(FetchError::from_io(&err, Phase::Connect)));
            }
        };
        let config = &fetcher.crawl.config;
        let deadline = fetcher.started + config.connect_timeout.min(config.timeout);
        let Some(fetch) = &fetcher.fetch else {
            return;
        };
        let peer = fetcher.crawl.peer(fetch.addr);
        let on_connected = Rc::clone(this);
        lp.connect(socket, &peer, deadline, move |lp, socket, result| {
            Fetcher::connected(&on_connected, lp, socket, result);
        });
    }

    /// The connect completed. If it succeeded, send the request (for https, through a new
    /// TLS client, whose handshake the first sends and receives carry).
    fn connected(this: &SharedFetcher, lp: &mut Ring, socket: Socket, result: io::Result<()>) {
        let mut fetcher = this.borrow_mut();
        fetcher.trace(Event::Callback("connected"));
        fetcher.socket = Some(socket);
        if let Err(err) = result {
            return fetcher.finish(lp, Err(FetchError::from_io(&err, Phase::Connect)));
        }
        fetcher.trace(Event::Connected);
        if let Err(err) = fetcher.start_tls() {
            return fetcher.finish(lp, Err(err));
        }
        // Ends this borrow of the `RefCell` before `send_request` borrows it again.
        drop(fetcher);
        Fetcher::send_request(this, lp);
    }

    /// Queues the request: as the bytes to send, or over TLS as plaintext that goes out
    /// encrypted once the handshake allows. Then writes.
    fn send_request(this: &SharedFetcher, lp: &mut Ring) {
        let mut fetcher = this.borrow_mut();
        let Some(fetch) = &fetcher.fetch else {
            return;
        };
        let request = fetch.request();
        match &mut fetcher.tls {
            Some(tls) => tls.send(&request),
            None => fetcher.outgoing = request,
        }
        drop(fetcher);
        Fetcher::flush(this, lp);
    }

    /// Lends what is to go out to the kernel, within the whole-fetch deadline: the rest of
    /// `outgoing`, or else what TLS has to send now; `sent` runs when some of it went out.
    /// With nothing to send, reads: one operation on the socket at a time, and no read before
    /// TLS has sent what it had to say.
    fn flush(this: &SharedFetcher, lp: &mut Ring) {
        let mut guard = this.borrow_mut();
        let fetcher = &mut *guard;
        if fetcher.outgoing.is_empty()
            && let Some(tls) = &mut fetcher.tls
        {
            tls.outgoing(&mut fetcher.outgoing);
        }
        if fetcher.outgoing.is_empty() {
            drop(guard);
            return Fetcher::read_response(this, lp);
        }
        let Some(socket) = fetcher.socket.take() else {
            return;
        };
        let outgoing = mem::take(&mut fetcher.outgoing);
        let on_sent = Rc::clone(this);
        lp.send(
            socket,
            outgoing,
            fetcher.written,
            fetcher.deadline(),
            move |lp, socket, result, outgoing| {
                Fetcher::sent(&on_sent, lp, socket, result, outgoing);
            },
        );
    }

    /// Some of `outgoing` went out, and the kernel gave it back: send the rest, or once it is
    /// all out, whatever comes next (more from TLS, or the read).
    fn sent(
        this: &SharedFetcher,
        lp: &mut Ring,
        socket: Socket,
        result: io::Result<usize>,
        outgoing: Vec<u8>,
    ) {
        let mut fetcher = this.borrow_mut();
        fetcher.trace(Event::Callback("sent"));
        fetcher.socket = Some(socket);
        fetcher.outgoing = outgoing;
        match result {
            Ok(n) => fetcher.written += n,
            Err(err) => {
                drop(fetcher);
                return Fetcher::failed(this, lp, FetchError::from_io(&err, Phase::Exchange));
            }
        }
        if fetcher.written >= fetcher.outgoing.len() {
            let flight = mem::take(&mut fetcher.outgoing).len();
            fetcher.written = 0;
            let handshaking = fetcher.tls.as_ref().is_some_and(|tls| tls.is_handshaking());
            if !fetcher.requested && !handshaking {
                // Over TLS, `flight` is the records that carried the request (and the end of
                // the handshake, on a new connection).
                fetcher.requested = true;
                fetcher.trace(Event::Written(flight));
            }
        }
        drop(fetcher);
        Fetcher::flush(this, lp);
    }

    /// Submits a `recv`, within the whole-fetch deadline; `received` runs when bytes (or the
    /// end of the stream) arrive.
    fn read_response(this: &SharedFetcher, lp: &mut Ring) {
        let mut fetcher = this.borrow_mut();
        let Some(socket) = fetcher.socket.take() else {
            return;
        };
        let on_received = Rc::clone(this);
        lp.recv(socket, fetcher.deadline(), move |lp, socket, chunk| {
            Fetcher::received(&on_received, lp, socket, chunk);
        });
    }

    /// Feeds what arrived to the core's reader (over TLS, through TLS, which copies it: the
    /// buffer goes back to the pool at once); finishes once the response is complete, or
    /// failed, or the peer closed, and otherwise writes what TLS has to say, or reads again.
    fn received(this: &SharedFetcher, lp: &mut Ring, socket: Socket, chunk: io::Result<Chunk>) {
        let mut fetcher = this.borrow_mut();
        fetcher.trace(Event::Callback("received"));
        fetcher.socket = Some(socket);
        // Before the request is out, what arrives is the server's side of the handshake.
        if fetcher.requested
            && let Ok(chunk) = &chunk
        {
            fetcher.trace(Event::Read(chunk.len()));
        }
        let handshaking = fetcher.tls.as_ref().is_some_and(|tls| tls.is_handshaking());
        let progress = match chunk {
            Ok(chunk) if chunk.is_empty() => fetcher.eof().map(Progress::Done),
            // The buffer goes back to the pool as `chunk` drops, before anything is submitted.
            Ok(chunk) => fetcher.feed(&chunk),
            Err(err) => Err(FetchError::from_io(&err, Phase::Exchange)),
        };
        if handshaking && let Some(tls) = fetcher.tls.as_ref().filter(|tls| !tls.is_handshaking()) {
            let resumed = tls.resumed();
            fetcher.mark(Conn::Handshake { resumed });
        }
        match progress {
            Ok(Progress::NeedMore) => {
                drop(fetcher);
                Fetcher::flush(this, lp);
            }
            Ok(Progress::Done(response)) => fetcher.finish(lp, Ok(response)),
            Err(err) => {
                drop(fetcher);
                Fetcher::failed(this, lp, err);
            }
        }
    }

    /// Bytes received: to the reader, through TLS for https.
    fn feed(&mut self, bytes: &[u8]) -> Result<Progress, FetchError> {
        match &mut self.tls {
            Some(tls) => tls.received(bytes, &mut self.reader),
            None => self.reader.feed(bytes),
        }
    }

    /// The end of the stream: whether what came is a whole response (over TLS, whether the
    /// server said `close_notify` decides for a body the close delimits).
    fn eof(&mut self) -> Result<Response, FetchError> {
        match &mut self.tls {
            Some(tls) => tls.eof(&mut self.reader),
            None => self.reader.eof(),
        }
    }

    /// The exchange failed with `err`. On a connection from the pool, before any byte of the
    /// response, that only says the server let the connection go while it sat idle: the
    /// request goes again, once, on a fresh connection, without counting a try (RFC 9112,
    /// 9.3.1). Any other failure is the fetch's outcome.
    fn failed(this: &SharedFetcher, lp: &mut Ring, err: FetchError) {
        let mut fetcher = this.borrow_mut();
        if !fetcher.reader.stale(fetcher.reused, &err) {
            return fetcher.finish(lp, Err(err));
        }
        fetcher.mark(Conn::Stale);
        if let Some(socket) = fetcher.socket.take() {
            // Nothing to say over TLS to a server that has gone.
            lp.close(socket);
        }
        let Some(fetch) = &fetcher.fetch else {
            return;
        };
        fetcher.reader = fetch.reader(fetcher.crawl.config.limits);
        fetcher.tls = None;
        fetcher.outgoing = Vec::new();
        fetcher.written = 0;
        fetcher.reused = false;
        fetcher.requested = false;
        drop(fetcher);
        Fetcher::open(this, lp);
    }

    /// For an https URL: the connection's TLS client, under the shard's configuration (and
    /// its session store, so that a new connection to the origin resumes).
    fn start_tls(&mut self) -> Result<(), FetchError> {
        let Some(fetch) = self.fetch.as_ref().filter(|fetch| fetch.is_tls()) else {
            return Ok(());
        };
        let client = self.crawl.config.tls_client()?;
        self.tls = Some(Box::new(Tls::new(&client, &fetch.url)?));
        Ok(())
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

    /// When the whole fetch must be over: every operation from the connect on is given it,
    /// and the ring cancels the one in flight when it passes.
    fn deadline(&self) -> Instant {
        self.started + self.crawl.config.timeout
    }

    /// Ends the fetch: keeps the connection if the server keeps it and its response was read
    /// whole, or else submits its close; and has the page parsed — on the loop, or with
    /// `--offload` on the rayon pool, whose outcome comes back through the loop's mailbox —
    /// for [`complete`] to hand to the frontier.
    fn finish(&mut self, lp: &mut Ring, result: Result<Response, FetchError>) {
        let Some(mut fetch) = self.fetch.take() else {
            return;
        };
        let now = Instant::now();
        if let Some(socket) = self.socket.take() {
            let reusable = result.as_ref().is_ok_and(|response| response.reusable);
            if self.crawl.config.keep_alive && reusable {
                // No operation stays on it: an idle connection keeps no ring running.
                let kept = (socket, self.tls.take());
                if self.crawl.pool.borrow_mut().put(fetch.origin(), kept, now) {
                    fetch.mark(&self.crawl.config, Conn::Kept);
                }
            } else {
                // Closing is an operation too: the loop ends only once every socket is closed.
                close(lp, socket, self.tls.take(), self.deadline());
            }
        }
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

/// Closes a connection. Over TLS, what TLS still has to say (the alert that reports a
/// failure) goes out first: on a ring nothing is written but by a send, so the close waits
/// for that send's completion, until `deadline` at the latest.
fn close(lp: &mut Ring, socket: Socket, tls: Option<Box<Tls>>, deadline: Instant) {
    let mut last = Vec::new();
    if let Some(mut tls) = tls {
        tls.outgoing(&mut last);
    }
    if last.is_empty() {
        return lp.close(socket);
    }
    // A part of it that did not go out is not sent again: the connection is over either way.
    lp.send(socket, last, 0, deadline, |lp, socket, _, _| {
        lp.close(socket)
    });
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
            "the operation in flight, in the ring's slab",
            Ring::operation_size(),
        ),
        (
            "its callback, boxed (an Rc)",
            std::mem::size_of::<SharedFetcher>(),
        ),
        ("its deadline, in the ring's heap", Ring::deadline_size()),
        (
            "completion-queue slots (the operation, and its cancellation past its deadline)",
            2 * Ring::completion_size(),
        ),
        (
            "over https, besides: its Tls, boxed (rustls' ClientConnection; its buffers are on the heap beyond)",
            std::mem::size_of::<Tls>(),
        ),
        (
            "kept, instead of all the above: a connection idle in the pool (socket, Tls box, since when)",
            std::mem::size_of::<(Kept, Instant)>(),
        ),
    ]
}
