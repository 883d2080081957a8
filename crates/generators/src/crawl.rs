//! The crawl: worker coroutines pulling URLs from the frontier — the `asyncio.Queue` and its
//! workers of the final crawler in 500 Lines ("A Web Crawler With asyncio Coroutines", whose
//! `crawler.crawl()` the lecture runs without showing), rebuilt with our own futures.

use std::{
    cell::{Cell, OnceCell, RefCell},
    collections::VecDeque,
    io, mem,
    rc::Rc,
    time::{Duration, Instant},
};

use c10k_core::{
    CHUNK_SIZE, Config, Conn, Fetch, FetchError, LAG_TICK, Message, Outcome, Pool, Report,
    Response, Shard,
};
use c10k_eventloop::{EventLoop, Mailbox, Peers, TimerId};
use slab::Slab;

use crate::{
    clock::Clock,
    connection::{Connection, Kept, TlsSide},
    coroutine::{Coroutine, Step},
    fetch::{Chunk, FetchPage},
    future::Future,
    socket::Wake,
    task::Task,
    yield_from,
};

/// What only this strategy can be asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parse pages (and do their `--work-us`) on the rayon pool instead of the loop.
    pub offload: bool,
    /// Event loops, each on a thread of its own with workers on a shard of the frontier
    /// (`loops.rs`), dividing the workers among them. 0 or 1: one loop, the lecture's.
    pub loops: usize,
}

/// What every worker shares. One thread runs them all, so `RefCell` is enough.
pub(crate) struct Crawl {
    /// The settings; `concurrency` is this loop's share.
    config: Rc<Config>,
    /// The frontier: the whole of it with one loop, this loop's shard with several.
    pub(crate) frontier: RefCell<Shard>,
    /// Workers waiting for a URL: the getters of an `asyncio.Queue`.
    getters: RefCell<VecDeque<Future<Wake>>>,
    chunk: Chunk,
    /// With `--offload`: where the pool sends finished outcomes back, with their slot's key.
    offload: OnceCell<Mailbox<(usize, Outcome)>>,
    /// Outcomes being computed on the pool: the future a worker waits on, and the outcome
    /// once it is back.
    offloaded: RefCell<Slab<(Future<Wake>, Option<Outcome>)>>,
    /// With several loops: every loop's mailbox, by shard, for the links other shards own.
    pub(crate) peers: OnceCell<Peers<Message>>,
    /// The ticker's pending sleep, cancelled when the crawl is done.
    tick: Cell<Option<TimerId>>,
    /// The timer for the first URL that waits for its time (`clock.rs`).
    pub(crate) clock: Clock,
    /// How late each tick ran.
    lags: RefCell<Vec<Duration>>,
    /// Connections kept for their origin's next fetch (keep-alive): this loop's, as the
    /// origins' fetches are this loop's shard's.
    pool: RefCell<Pool<Kept>>,
}

impl Crawl {
    /// Records an outcome and wakes one waiting worker per URL queued (all, once done) —
    /// the `Condvar::notify_one` of the threads crawler, as futures.
    fn complete(&self, lp: &mut EventLoop, outcome: Outcome) {
        self.change(lp, |frontier| frontier.complete(outcome));
    }

    /// Changes the frontier; sends what it then has for other loops (with several), and
    /// wakes one waiting worker per URL it queued (all, once the crawl is over).
    pub(crate) fn change(&self, lp: &mut EventLoop, change: impl FnOnce(&mut Shard)) {
        let wake = {
            let mut frontier = self.frontier.borrow_mut();
            let queued_before = frontier.queued();
            change(&mut frontier);
            drop(frontier);
            crate::loops::send_messages(self);
            let frontier = self.frontier.borrow();
            if frontier.is_done() {
                usize::MAX
            } else {
                frontier.queued().saturating_sub(queued_before)
            }
        };
        let woken: Vec<_> = {
            let mut getters = self.getters.borrow_mut();
            let n = wake.min(getters.len());
            getters.drain(..n).collect()
        };
        for getter in woken {
            getter.set_result(lp, Wake::Ready);
        }
        if wake == usize::MAX
            && let Some(timer) = self.tick.take()
        {
            lp.cancel(timer);
        }
    }
}

/// Crawls `config`'s roots with `config.concurrency` worker coroutines on one event loop, on
/// this thread (or with `options.loops` loops, on as many threads: `loops.rs`).
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
    Ok(Shard::merge(vec![ran], "generators", started.elapsed()))
}

impl Crawl {
    /// The crawl of `shard` on `lp`, not started yet.
    pub(crate) fn new(lp: &mut EventLoop, shard: Shard, options: &Options) -> Rc<Crawl> {
        let crawl = Rc::new(Crawl {
            pool: RefCell::new(Pool::new(shard.config())),
            config: Rc::new(shard.config().clone()),
            frontier: RefCell::new(shard),
            getters: RefCell::new(VecDeque::new()),
            chunk: Rc::new(RefCell::new(vec![0; CHUNK_SIZE].into_boxed_slice())),
            offload: OnceCell::new(),
            offloaded: RefCell::new(Slab::new()),
            peers: OnceCell::new(),
            tick: Cell::new(None),
            clock: Clock::new(),
            lags: RefCell::new(Vec::new()),
        });
        if options.offload {
            let on_outcome = Rc::clone(&crawl);
            let mailbox = lp.mailbox(move |lp, (key, outcome): (usize, Outcome)| {
                lp.release();
                let mut offloaded = on_outcome.offloaded.borrow_mut();
                if let Some((future, slot)) = offloaded.get_mut(key) {
                    *slot = Some(outcome);
                    future.set_result(lp, Wake::Ready);
                }
            });
            let _ = crawl.offload.set(mailbox);
        }
        crawl
    }
}

/// Runs the loop, with the ticker and `config.concurrency` workers, until the crawl is over;
/// returns the frontier and how late the loop ran.
pub(crate) fn run(mut lp: EventLoop, crawl: Rc<Crawl>) -> io::Result<(Shard, Vec<Duration>)> {
    Task::spawn(
        &mut lp,
        Ticker {
            crawl: Rc::clone(&crawl),
            due: None,
        },
    );
    for _ in 0..crawl.config.concurrency {
        Task::spawn(&mut lp, Worker::new(Rc::clone(&crawl)));
    }
    // With several loops, the shard's first messages (the termination probe).
    crate::loops::send_messages(&crawl);
    lp.run()?;
    // The kept connections, parked, did not keep the loop running: closed now, before the
    // crawl returns.
    crawl.pool.borrow_mut().drain().for_each(drop);
    // The loop owns the mailboxes' handlers, which share the crawl: drop it first.
    drop(lp);
    let crawl =
        Rc::try_unwrap(crawl).map_err(|_| io::Error::other("a worker outlived the event loop"))?;
    Ok((crawl.frontier.into_inner(), crawl.lags.into_inner()))
}

/// ```text
/// fn ticker(crawl):                       # measures the loop lag
///     loop:
///         if crawl is done: return
///         due = now + LAG_TICK
///         yield sleep_until(due)           # a future a loop timer resolves
///         crawl.lags.push(now - due)       # how late the loop got round to it
/// ```
///
/// `complete` cancels the pending sleep when the crawl ends; nothing resumes the ticker then,
/// and the task is dropped with the future it waited on.
struct Ticker {
    crawl: Rc<Crawl>,
    /// When the sleep it is suspended in was due.
    due: Option<Instant>,
}

impl Coroutine for Ticker {
    type Input = Wake;
    type Output = ();

    fn resume(&mut self, lp: &mut EventLoop, _wake: Wake) -> Step<Wake, ()> {
        let now = Instant::now();
        if let Some(due) = self.due {
            self.crawl
                .lags
                .borrow_mut()
                .push(now.saturating_duration_since(due));
        }
        if self.crawl.frontier.borrow().is_done() {
            return Step::Complete(());
        }
        let due = now + LAG_TICK;
        self.due = Some(due);
        let sleep = Future::new();
        let wake = sleep.clone();
        let timer = lp.call_at(due, move |lp| {
            wake.set_result(lp, Wake::Ready);
        });
        self.crawl.tick.set(Some(timer));
        Step::Yielded(sleep)
    }
}

/// ```text
/// fn offload(crawl, fetch, result) -> Outcome:    # loop.run_in_executor(pool, ...)
///     key = crawl.offloaded.insert(Future())
///     pool.spawn(|| mailbox.send((key, fetch.finish(result))))
///     yield crawl.offloaded[key].future           # resolved when the outcome is back
///     return crawl.offloaded.remove(key).outcome
/// ```
// Inline states, as in `WorkerState` (and as rustc lays out an `async fn`).
#[allow(clippy::large_enum_variant)]
enum Offload {
    /// Not started yet.
    Start {
        fetch: Fetch,
        result: Result<Response, FetchError>,
        finished: Instant,
    },
    /// Suspended until slot `key` has its outcome.
    Waiting { key: usize },
    /// Returned.
    Done,
}

impl Offload {
    fn resume(&mut self, lp: &mut EventLoop, crawl: &Crawl) -> Step<Wake, Outcome> {
        match mem::replace(self, Offload::Done) {
            Offload::Start {
                fetch,
                result,
                finished,
            } => {
                let future = Future::new();
                let key = crawl.offloaded.borrow_mut().insert((future.clone(), None));
                let mailbox = crawl
                    .offload
                    .get()
                    .expect("offload is only started with a mailbox")
                    .clone();
                // The loop must not end while the outcome is on its way back.
                lp.hold();
                rayon::spawn(move || {
                    let _ = mailbox.send((key, fetch.finish(result, finished)));
                });
                *self = Offload::Waiting { key };
                Step::Yielded(future)
            }
            Offload::Waiting { key } => {
                let (_, outcome) = crawl.offloaded.borrow_mut().remove(key);
                Step::Complete(outcome.expect("the future is resolved once the outcome is in"))
            }
            Offload::Done => panic!("`offload` resumed after completion"),
        }
    }
}

/// ```text
/// fn get(crawl) -> Option<Fetch>:        # asyncio.Queue.get(), with None for "crawl done"
///     loop:
///         if let Some(fetch) = crawl.frontier.next_fetch():
///             if crawl.clock.hand_over(): # a URL waits for a time no timer is set for:
///                 crawl.wake_one()        # it will take that URL, or set the timer
///             return Some(fetch)
///         if crawl.frontier.is_done(): return None
///         crawl.clock.keep()              # a loop timer, if a URL waits for its time
///         yield crawl.getter()            # resolved by `complete` when a URL is queued,
///                                         # or by that timer
/// ```
///
/// One state only: the loop has a single suspension point and keeps nothing across it.
struct Get {
    crawl: Rc<Crawl>,
}

impl Coroutine for Get {
    type Input = Wake;
    type Output = Option<Fetch>;

    fn resume(&mut self, lp: &mut EventLoop, _wake: Wake) -> Step<Wake, Option<Fetch>> {
        let mut frontier = self.crawl.frontier.borrow_mut();
        if let Some(fetch) = frontier.next_fetch(Instant::now()) {
            let hand_over = self.crawl.clock.hand_over(frontier.next_wake());
            drop(frontier);
            if hand_over {
                self.crawl.wake_one(lp);
            }
            return Step::Complete(Some(fetch));
        }
        if frontier.is_done() {
            return Step::Complete(None);
        }
        let next_wake = frontier.next_wake();
        drop(frontier);
        Clock::keep(lp, &self.crawl, next_wake);
        let getter = Future::new();
        self.crawl.getters.borrow_mut().push_back(getter.clone());
        Step::Yielded(getter)
    }
}

impl Crawl {
    /// With keep-alive, a connection kept for `fetch`'s origin; else (or if there is none)
    /// room for a new one: kept and busy connections together stay within this loop's share
    /// of descriptors.
    fn take_kept(&self, fetch: &Fetch) -> Option<Kept> {
        if !self.config.keep_alive {
            return None;
        }
        let mut pool = self.pool.borrow_mut();
        let kept = pool.take(fetch.origin(), Instant::now());
        if kept.is_none() {
            pool.make_room(self.frontier.borrow().in_flight());
        }
        kept
    }

    /// Keeps `conn`, whose response to `fetch` was read whole on a connection the server
    /// keeps, for the origin's next fetch: parked on the loop, bound to no fetch.
    fn keep(&self, lp: &mut EventLoop, fetch: &mut Fetch, conn: Connection) {
        let kept = conn.park(lp);
        if self
            .pool
            .borrow_mut()
            .put(fetch.origin(), kept, Instant::now())
        {
            fetch.mark(&self.config, Conn::Kept);
        }
    }

    /// Wakes the getter that has waited longest, if any.
    pub(crate) fn wake_one(&self, lp: &mut EventLoop) {
        let getter = self.getters.borrow_mut().pop_front();
        if let Some(getter) = getter {
            getter.set_result(lp, Wake::Ready);
        }
    }
}

/// ```text
/// fn worker(crawl):
///     loop:
///         fetch = yield from get(crawl)           # None once the crawl is done
///         if fetch is None: return
///         kept = crawl.pool.take(fetch.origin)    # keep-alive: a kept connection first
///         result, conn = yield from fetch_page(fetch, kept)
///         if conn: crawl.pool.put(fetch.origin, conn.park()); fetch.mark(Kept)
///         if offloading:
///             outcome = yield from offload(crawl, fetch, result)
///         else:
///             outcome = fetch.finish(result)      # parsing, on the loop
///         crawl.complete(outcome)
/// ```
struct Worker {
    crawl: Rc<Crawl>,
    state: WorkerState,
}

// An idle worker (in `Getting`) is as large as a busy one: the state is stored inline, as in
// the future rustc builds for an `async fn` worker. Boxing `Fetching` would shrink idle
// workers at the price of an allocation per fetch; the benchmarks measure the inline layout
// that both this crate and `crates/async` share.
#[allow(clippy::large_enum_variant)]
enum WorkerState {
    /// Inside `yield from get(crawl)`.
    Getting(Get),
    /// Inside `yield from fetch_page(fetch, kept)`, which holds the fetch meanwhile.
    Fetching(FetchPage),
    /// Inside `yield from offload(...)`.
    Finishing(Offload),
    /// Returned.
    Done,
}

impl Worker {
    fn new(crawl: Rc<Crawl>) -> Worker {
        let get = Get {
            crawl: Rc::clone(&crawl),
        };
        Worker {
            crawl,
            state: WorkerState::Getting(get),
        }
    }
}

impl Coroutine for Worker {
    type Input = Wake;
    type Output = ();

    fn resume(&mut self, lp: &mut EventLoop, mut wake: Wake) -> Step<Wake, ()> {
        loop {
            let next = match &mut self.state {
                WorkerState::Getting(get) => match yield_from!(get.resume(lp, wake)) {
                    Some(fetch) => {
                        let kept = self.crawl.take_kept(&fetch);
                        WorkerState::Fetching(FetchPage::new(
                            fetch,
                            kept,
                            Rc::clone(&self.crawl.config),
                            Rc::clone(&self.crawl.chunk),
                        ))
                    }
                    None => {
                        self.state = WorkerState::Done;
                        return Step::Complete(());
                    }
                },
                WorkerState::Fetching(page) => {
                    let (result, conn) = yield_from!(page.resume(lp, wake));
                    let WorkerState::Fetching(page) =
                        mem::replace(&mut self.state, WorkerState::Done)
                    else {
                        unreachable!("this arm matched `Fetching`");
                    };
                    let mut fetch = page.into_fetch();
                    if let Some(conn) = conn {
                        self.crawl.keep(lp, &mut fetch, conn);
                    }
                    let finished = Instant::now();
                    if self.crawl.offload.get().is_some() {
                        WorkerState::Finishing(Offload::Start {
                            fetch,
                            result,
                            finished,
                        })
                    } else {
                        self.crawl.complete(lp, fetch.finish(result, finished));
                        WorkerState::Getting(Get {
                            crawl: Rc::clone(&self.crawl),
                        })
                    }
                }
                WorkerState::Finishing(offload) => {
                    let outcome = yield_from!(offload.resume(lp, &self.crawl));
                    self.crawl.complete(lp, outcome);
                    WorkerState::Getting(Get {
                        crawl: Rc::clone(&self.crawl),
                    })
                }
                WorkerState::Done => panic!("`worker` resumed after completion"),
            };
            self.state = next;
            wake = Wake::Ready;
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
            "worker task, in its Rc",
            rc + std::mem::size_of::<Task<Worker>>(),
        ),
        ("  of which FetchPage", std::mem::size_of::<FetchPage>()),
        ("  of which Fetch", std::mem::size_of::<Fetch>()),
        (
            "the future of each wait, in its Rc",
            rc + Future::<Wake>::inner_size(),
        ),
        (
            "over https, the TLS state and its unsent bytes, boxed (rustls' buffers apart)",
            std::mem::size_of::<TlsSide>(),
        ),
        (
            "a kept connection, in its pool's queue",
            std::mem::size_of::<(Kept, Instant)>(),
        ),
    ]
}
