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
    Config, Event, Fetch, FetchError, FetchId, LAG_TICK, Message, Outcome, Phase, Progress, Report,
    Response, ResponseReader, Shard,
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
}

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

/// Once the crawl is done, cancels the pending lag tick (the last thing keeping the loop
/// running); returns whether it was done.
fn stop_ticks_if_done(lp: &mut Ring, crawl: &Crawl) -> bool {
    let done = crawl.frontier.borrow().is_done();
    if done && let Some(timer) = crawl.tick.take() {
        lp.cancel(timer);
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
struct Fetcher {
    crawl: Rc<Crawl>,
    /// `None` once finished.
    fetch: Option<Fetch>,
    /// The socket while no operation holds it: `None` until it is open, while an operation
    /// is in flight (the operation has it), and once finished (its close submitted).
    socket: Option<Socket>,
    started: Instant,
    /// The request: lent to the kernel while a send is in flight (empty here meanwhile),
    /// dropped once written.
    request: Vec<u8>,
    written: usize,
    reader: ResponseReader,
}

impl Fetcher {
    /// Submits the socket's creation; `connect` runs when it completes.
    fn fetch(lp: &mut Ring, crawl: Rc<Crawl>, fetch: Fetch) {
        let started = Instant::now();
        let peer = crawl.peer(fetch.addr);
        let fetcher = Rc::new(RefCell::new(Fetcher {
            request: fetch.request(),
            reader: fetch.reader(crawl.config.limits),
            crawl,
            fetch: Some(fetch),
            socket: None,
            started,
            written: 0,
        }));
        let on_open = Rc::clone(&fetcher);
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

    /// The connect completed. If it succeeded, send the request.
    fn connected(this: &SharedFetcher, lp: &mut Ring, socket: Socket, result: io::Result<()>) {
        let mut fetcher = this.borrow_mut();
        fetcher.trace(Event::Callback("connected"));
        fetcher.socket = Some(socket);
        if let Err(err) = result {
            return fetcher.finish(lp, Err(FetchError::from_io(&err, Phase::Connect)));
        }
        fetcher.trace(Event::Connected);
        // Ends this borrow of the `RefCell` before `send_request` borrows it again.
        drop(fetcher);
        Fetcher::send_request(this, lp);
    }

    /// Lends what is left of the request to the kernel, within the whole-fetch deadline;
    /// `sent` runs when some of it went out.
    fn send_request(this: &SharedFetcher, lp: &mut Ring) {
        let mut fetcher = this.borrow_mut();
        let Some(socket) = fetcher.socket.take() else {
            return;
        };
        let request = mem::take(&mut fetcher.request);
        let on_sent = Rc::clone(this);
        lp.send(
            socket,
            request,
            fetcher.written,
            fetcher.deadline(),
            move |lp, socket, result, request| {
                Fetcher::sent(&on_sent, lp, socket, result, request);
            },
        );
    }

    /// Some of the request went out, and the kernel gave it back: send the rest, or once it
    /// is all out, read the response.
    fn sent(
        this: &SharedFetcher,
        lp: &mut Ring,
        socket: Socket,
        result: io::Result<usize>,
        request: Vec<u8>,
    ) {
        let mut fetcher = this.borrow_mut();
        fetcher.trace(Event::Callback("sent"));
        fetcher.socket = Some(socket);
        fetcher.request = request;
        match result {
            Ok(n) => fetcher.written += n,
            Err(err) => {
                return fetcher.finish(lp, Err(FetchError::from_io(&err, Phase::Exchange)));
            }
        }
        if fetcher.written < fetcher.request.len() {
            drop(fetcher);
            return Fetcher::send_request(this, lp);
        }
        fetcher.trace(Event::Written(fetcher.written));
        fetcher.request = Vec::new();
        drop(fetcher);
        Fetcher::read_response(this, lp);
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

    /// Feeds what arrived to the core's reader; finishes once the response is complete, or
    /// failed, or the peer closed, and reads again otherwise.
    fn received(this: &SharedFetcher, lp: &mut Ring, socket: Socket, chunk: io::Result<Chunk>) {
        let mut fetcher = this.borrow_mut();
        fetcher.trace(Event::Callback("received"));
        fetcher.socket = Some(socket);
        if let Ok(chunk) = &chunk {
            fetcher.trace(Event::Read(chunk.len()));
        }
        let result = match chunk {
            Ok(chunk) if chunk.is_empty() => fetcher.reader.eof(),
            Ok(chunk) => match fetcher.reader.feed(&chunk) {
                Ok(Progress::NeedMore) => {
                    // The buffer goes back to the pool before the next `recv` is submitted.
                    drop(chunk);
                    drop(fetcher);
                    return Fetcher::read_response(this, lp);
                }
                Ok(Progress::Done(response)) => Ok(response),
                Err(err) => Err(err),
            },
            Err(err) => Err(FetchError::from_io(&err, Phase::Exchange)),
        };
        fetcher.finish(lp, result);
    }

    /// This fetch's name in a trace.
    fn id(&self) -> FetchId {
        self.fetch.as_ref().map_or_else(FetchId::default, Fetch::id)
    }

    /// Writes `event` to the trace (`--trace`), if there is one.
    fn trace(&self, event: Event<'_>) {
        self.crawl.config.trace(self.id(), event);
    }

    /// When the whole fetch must be over: every operation after the connect is linked to a
    /// timeout for the time left until then.
    fn deadline(&self) -> Instant {
        self.started + self.crawl.config.timeout
    }

    /// Ends the fetch: submits the socket's close, and has the page parsed — on the loop, or
    /// with `--offload` on the rayon pool, whose outcome comes back through the loop's
    /// mailbox — for [`complete`] to hand to the frontier.
    fn finish(&mut self, lp: &mut Ring, result: Result<Response, FetchError>) {
        let Some(fetch) = self.fetch.take() else {
            return;
        };
        if let Some(socket) = self.socket.take() {
            // Closing is an operation too: the loop ends only once every socket is closed.
            lp.close(socket);
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
        (
            "completion-queue slots (the operation and its linked timeout)",
            2 * Ring::completion_size(),
        ),
    ]
}
