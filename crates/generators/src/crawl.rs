//! The crawl: worker coroutines pulling URLs from the frontier, the lecture's `asyncio.Queue`
//! and its workers rebuilt with our own futures.

use std::{cell::RefCell, collections::VecDeque, io, mem, rc::Rc, time::Instant};

use c10k_core::{CHUNK_SIZE, Config, Crawler, Fetch, Outcome, Report};
use c10k_eventloop::EventLoop;

use crate::{
    coroutine::{Coroutine, Step},
    fetch::{Chunk, FetchPage},
    future::Future,
    socket::Wake,
    task::Task,
    yield_from,
};

/// What every worker shares. One thread runs them all, so `RefCell` is enough.
struct Crawl {
    config: Rc<Config>,
    crawler: RefCell<Crawler>,
    /// Workers waiting for a URL: the getters of an `asyncio.Queue`.
    getters: RefCell<VecDeque<Future<Wake>>>,
    chunk: Chunk,
}

impl Crawl {
    /// Records an outcome and wakes one waiting worker per URL queued (all, once done) —
    /// the `Condvar::notify_one` of the threads crawler, as futures.
    fn complete(&self, lp: &mut EventLoop, outcome: Outcome) {
        let wake = {
            let mut crawler = self.crawler.borrow_mut();
            let queued_before = crawler.queued();
            crawler.complete(outcome);
            if crawler.is_done() {
                usize::MAX
            } else {
                crawler.queued().saturating_sub(queued_before)
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
    }
}

/// Crawls `config.root` with `config.concurrency` worker coroutines on one event loop, on
/// this thread.
///
/// Fails only if the loop cannot be created or polled.
pub fn crawl(config: &Config) -> io::Result<Report> {
    let started = Instant::now();
    let mut lp = EventLoop::new()?;
    let crawl = Rc::new(Crawl {
        config: Rc::new(config.clone()),
        crawler: RefCell::new(Crawler::new(config.clone())),
        getters: RefCell::new(VecDeque::new()),
        chunk: Rc::new(RefCell::new(vec![0; CHUNK_SIZE].into_boxed_slice())),
    });
    for _ in 0..config.concurrency {
        Task::spawn(&mut lp, Worker::new(Rc::clone(&crawl)));
    }
    lp.run()?;
    let crawl =
        Rc::try_unwrap(crawl).map_err(|_| io::Error::other("a worker outlived the event loop"))?;
    Ok(crawl
        .crawler
        .into_inner()
        .into_report("generators", started.elapsed()))
}

/// ```text
/// fn get(crawl) -> Option<Fetch>:        # asyncio.Queue.get(), with None for "crawl done"
///     loop:
///         if let Some(fetch) = crawl.crawler.next_fetch(): return Some(fetch)
///         if crawl.crawler.is_done(): return None
///         yield crawl.getter()            # resolved by `complete` when a URL is queued
/// ```
///
/// One state only: the loop has a single suspension point and keeps nothing across it.
struct Get {
    crawl: Rc<Crawl>,
}

impl Coroutine for Get {
    type Input = Wake;
    type Output = Option<Fetch>;

    fn resume(&mut self, _lp: &mut EventLoop, _wake: Wake) -> Step<Wake, Option<Fetch>> {
        let mut crawler = self.crawl.crawler.borrow_mut();
        if let Some(fetch) = crawler.next_fetch(Instant::now()) {
            return Step::Complete(Some(fetch));
        }
        if crawler.is_done() {
            return Step::Complete(None);
        }
        let getter = Future::new();
        self.crawl.getters.borrow_mut().push_back(getter.clone());
        Step::Yielded(getter)
    }
}

/// ```text
/// fn worker(crawl):
///     loop:
///         fetch = yield from get(crawl)           # None once the crawl is done
///         if fetch is None: return
///         result = yield from fetch_page(fetch)
///         crawl.complete(fetch.finish(result))
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
    /// Inside `yield from fetch_page(fetch)`.
    Fetching { fetch: Fetch, page: FetchPage },
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
                        let page = FetchPage::new(
                            &fetch,
                            Rc::clone(&self.crawl.config),
                            Rc::clone(&self.crawl.chunk),
                        );
                        WorkerState::Fetching { fetch, page }
                    }
                    None => {
                        self.state = WorkerState::Done;
                        return Step::Complete(());
                    }
                },
                WorkerState::Fetching { page, .. } => {
                    let result = yield_from!(page.resume(lp, wake));
                    let get = WorkerState::Getting(Get {
                        crawl: Rc::clone(&self.crawl),
                    });
                    let WorkerState::Fetching { fetch, .. } = mem::replace(&mut self.state, get)
                    else {
                        unreachable!("this arm matched `Fetching`");
                    };
                    self.crawl
                        .complete(lp, fetch.finish(result, Instant::now()));
                    wake = Wake::Ready;
                    continue;
                }
                WorkerState::Done => panic!("`worker` resumed after completion"),
            };
            self.state = next;
            wake = Wake::Ready;
        }
    }
}
