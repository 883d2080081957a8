//! One `Fetcher` per URL, its steps chained as callbacks on the event loop.

use std::{
    cell::{Cell, OnceCell, RefCell},
    io::{self, Read, Write},
    rc::Rc,
    time::{Duration, Instant},
};

use c10k_core::{
    CHUNK_SIZE, Config, Event, Fetch, FetchError, FetchId, LAG_TICK, Message, Outcome, Phase,
    Progress, Report, Response, ResponseReader, Shard,
};
use c10k_eventloop::{
    EventLoop, Interest, Mailbox, Peers, Ready, TimerId, Token, interrupted, would_block,
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
    /// The request, emptied once written.
    request: Vec<u8>,
    written: usize,
    reader: ResponseReader,
}

impl Fetcher {
    /// Starts a non-blocking connect and registers `connected` for when it completes.
    ///
    /// The socket is registered once, for both directions: each later step only names the
    /// callback its next readiness runs (`next_step`), where the lecture unregisters and
    /// registers again — an `epoll_ctl` per step that tells the kernel nothing new. mio is
    /// edge-triggered, so an edge that comes while a step waits for the other direction
    /// costs at most one try that meets `WouldBlock`.
    fn fetch(lp: &mut EventLoop, crawl: Rc<Crawl>, fetch: Fetch) {
        let started = Instant::now();
        let connect = TcpStream::connect(fetch.addr);
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
        }));
        let registered = connect.and_then(|mut stream| {
            let on_writable = Rc::clone(&fetcher);
            let interest = Interest::READABLE | Interest::WRITABLE;
            let token = lp.register(&mut stream, interest, move |lp, ready| {
                Fetcher::connected(&on_writable, lp, ready);
            })?;
            Ok((stream, token))
        });
        let mut this = fetcher.borrow_mut();
        match registered {
            Ok((stream, token)) => {
                this.stream = Some(stream);
                this.token = token;
                let config = &this.crawl.config;
                let deadline = started + config.connect_timeout.min(config.timeout);
                this.timer = Some(arm_timer(lp, &fetcher, deadline));
            }
            Err(err) => {
                // Report the failure from the loop, not from inside our caller: finishing here
                // would start the next fetcher, which could fail the same way, recursively.
                let error = FetchError::from_io(&err, Phase::Connect);
                let failed = Rc::clone(&fetcher);
                lp.call_soon(move |lp| failed.borrow_mut().finish(lp, Err(error)));
            }
        }
    }

    /// The socket became writable: the connect finished. If it succeeded, send the request.
    fn connected(this: &SharedFetcher, lp: &mut EventLoop, ready: Ready) {
        let mut fetcher = this.borrow_mut();
        let Some(stream) = &fetcher.stream else {
            return;
        };
        fetcher.trace(Event::Callback("connected"));
        let failure = match (stream.take_error(), stream.peer_addr()) {
            (Ok(Some(err)) | Err(err), _) => Some(err),
            // Not connected yet and no error: a spurious wake-up; keep waiting.
            (Ok(None), Err(err)) if err.kind() == io::ErrorKind::NotConnected => return,
            (Ok(None), Err(err)) => Some(err),
            (Ok(None), Ok(_)) => None,
        };
        if let Some(err) = failure {
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
        // Ends this borrow of the `RefCell`: `send_request` borrows the fetcher again, and a
        // second `borrow_mut` while this one lives would panic.
        drop(fetcher);
        Fetcher::send_request(this, lp, ready);
    }

    /// Writes as much of the request as the socket takes; once it is all out, the next step
    /// is `read_response`. On `WouldBlock`, it is itself again, to continue when writable.
    fn send_request(this: &SharedFetcher, lp: &mut EventLoop, _ready: Ready) {
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
        while *written < request.len() {
            match stream.write(&request[*written..]) {
                Ok(n) => *written += n,
                Err(err) if would_block(&err) => {
                    let token = fetcher.token;
                    let on_writable = Rc::clone(this);
                    return fetcher.next_step(lp, token, move |lp, ready| {
                        on_writable.borrow().trace(Event::Callback("send_request"));
                        Fetcher::send_request(&on_writable, lp, ready);
                    });
                }
                Err(err) if interrupted(&err) => {}
                Err(err) => {
                    return fetcher.finish(lp, Err(FetchError::from_io(&err, Phase::Exchange)));
                }
            }
        }
        fetcher.trace(Event::Written(fetcher.request.len()));
        fetcher.request = Vec::new();
        let token = fetcher.token;
        let on_readable = Rc::clone(this);
        fetcher.next_step(lp, token, move |lp, ready| {
            Fetcher::read_response(&on_readable, lp, ready);
        });
    }

    /// Reads until `WouldBlock`, feeding the core's reader; finishes once the response is
    /// complete, or failed, or the peer closed.
    fn read_response(this: &SharedFetcher, lp: &mut EventLoop, _ready: Ready) {
        let mut fetcher = this.borrow_mut();
        let crawl = Rc::clone(&fetcher.crawl);
        let id = fetcher.id();
        crawl.config.trace(id, Event::Callback("read_response"));
        let result = {
            let mut chunk = crawl.chunk.borrow_mut();
            let Fetcher {
                stream: Some(stream),
                reader,
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
                    Ok(0) => break reader.eof(),
                    Ok(n) => match reader.feed(&chunk[..n]) {
                        Ok(Progress::NeedMore) => {}
                        Ok(Progress::Done(response)) => break Ok(response),
                        Err(err) => break Err(err),
                    },
                    // Drained: the loop calls us again when more arrives. Not before: readiness
                    // is edge-triggered, so reading one chunk and returning (as the lecture's
                    // level-triggered `select` allows) could leave bytes no event announces.
                    Err(err) if would_block(&err) => return,
                    Err(err) if interrupted(&err) => {}
                    Err(err) => break Err(FetchError::from_io(&err, Phase::Exchange)),
                }
            }
        };
        fetcher.finish(lp, result);
    }

    /// The deadline passed before the fetch finished.
    fn timed_out(this: &SharedFetcher, lp: &mut EventLoop) {
        let mut fetcher = this.borrow_mut();
        fetcher.trace(Event::Callback("timed_out"));
        fetcher.timer = None;
        fetcher.finish(lp, Err(FetchError::Timeout));
    }

    /// This fetch's name in a trace.
    fn id(&self) -> FetchId {
        self.fetch.as_ref().map_or_else(FetchId::default, Fetch::id)
    }

    /// Writes `event` to the trace (`--trace`), if there is one.
    fn trace(&self, event: Event<'_>) {
        self.crawl.config.trace(self.id(), event);
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

    /// Ends the fetch: closes the socket, cancels the timer, and has the page parsed — on the
    /// loop, or with `--offload` on the rayon pool, whose outcome comes back through the
    /// loop's mailbox — for [`complete`] to hand to the frontier.
    fn finish(&mut self, lp: &mut EventLoop, result: Result<Response, FetchError>) {
        let Some(fetch) = self.fetch.take() else {
            return;
        };
        if let Some(stream) = self.stream.take() {
            // Drops the socket's callback and closes the socket.
            lp.close(self.token, stream);
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
