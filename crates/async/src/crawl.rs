//! C worker tasks, each fetching one page at a time with `.await` at every wait.

use std::{
    io,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    task::Poll,
    time::{Duration, Instant},
};

use c10k_core::{
    CHUNK_SIZE, Config, Event, Fetch, FetchError, LAG_TICK, Message, Outcome, Phase, Progress,
    Report, Response, Shard,
};
use tokio::{
    io::AsyncWriteExt,
    net::TcpStream,
    sync::{Notify, mpsc::UnboundedSender, oneshot},
    task::JoinSet,
    time,
};

/// What only this strategy can be asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `None`: a current-thread runtime. `Some(n)`: `n` threads, in one multi-thread runtime
    /// (work stealing), or with `per_core` each with a runtime of its own.
    pub threads: Option<usize>,
    /// With `threads`: a current-thread runtime per thread, each with a shard of the frontier
    /// (`percore.rs`), instead of one work-stealing runtime.
    pub per_core: bool,
    /// Parse pages (and do their `--work-us`) on the rayon pool instead of the runtime.
    pub offload: bool,
}

/// The frontier, shared by every task (of its runtime, with a runtime per core).
pub(crate) struct Shared {
    frontier: Mutex<Shard>,
    /// Signalled when URLs are queued, and when the crawl is done.
    changed: Notify,
    /// With a runtime per core: every runtime's channel, by shard, for the links other shards
    /// own; empty otherwise.
    peers: Vec<UnboundedSender<Message>>,
    /// When the one task that keeps time for the others (awaiting `changed` within a
    /// deadline, for the next retry or host's delay) will wake, in ns after `epoch`;
    /// `NO_ONE` when no task does. The other idle tasks await `changed` alone, so a wait for
    /// a time wakes one task, not all. Read and written under the frontier's lock.
    timed: AtomicU64,
    epoch: Instant,
}

/// `Shared::timed` when no task keeps time.
const NO_ONE: u64 = u64::MAX;

impl Shared {
    pub(crate) fn new(frontier: Shard, peers: Vec<UnboundedSender<Message>>) -> Shared {
        Shared {
            frontier: Mutex::new(frontier),
            changed: Notify::new(),
            peers,
            timed: AtomicU64::new(NO_ONE),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shard> {
        // A task that panicked leaves the frontier as consistent as any other state it
        // reached between calls, so the poison is not worth a second panic.
        self.frontier.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The frontier, once every task that shared it is gone.
    pub(crate) fn into_frontier(self: Arc<Shared>) -> io::Result<Shard> {
        let shared =
            Arc::into_inner(self).ok_or_else(|| io::Error::other("a task outlived the runtime"))?;
        Ok(shared
            .frontier
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner))
    }
}

/// Crawls `config`'s roots with `config.concurrency` tasks.
///
/// Fails only if the config cannot run a crawl ([`Config::check`]), the runtime cannot be
/// built, or a task panicked.
pub fn crawl(config: &Config, options: &Options) -> io::Result<Report> {
    config.check()?;
    if let (Some(threads), true) = (options.threads, options.per_core) {
        return crate::percore::crawl(config, threads, options.offload);
    }
    let started = Instant::now();
    let runtime = match options.threads {
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(threads) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()?,
    };
    let shared = Arc::new(Shared::new(Shard::alone(config.clone()), Vec::new()));
    let lags = runtime.block_on(run(&shared, options.offload))?;
    let elapsed = started.elapsed();
    drop(runtime);
    Ok(Shard::merge(
        vec![(shared.into_frontier()?, lags)],
        "async",
        elapsed,
    ))
}

/// Runs the frontier's `concurrency` tasks, and the ticker, until the crawl is over; returns
/// how late the ticks woke.
pub(crate) async fn run(shared: &Arc<Shared>, offload: bool) -> io::Result<Vec<Duration>> {
    let config = Arc::new(shared.lock().config().clone());
    let lags = Arc::new(Mutex::new(Vec::new()));
    let ticker = tokio::spawn(ticker(Arc::clone(&lags)));
    // With a runtime per core, the shard's first messages (the termination probe).
    shared.change(|_| {});
    let mut workers = JoinSet::new();
    for _ in 0..config.concurrency {
        workers.spawn(worker(Arc::clone(shared), Arc::clone(&config), offload));
    }
    while let Some(joined) = workers.join_next().await {
        joined.map_err(io::Error::other)?;
    }
    ticker.abort();
    // Awaited, so that it pushes nothing more.
    let _ = ticker.await;
    let lags = std::mem::take(&mut *lags.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(lags)
}

/// Measures the loop lag: how late the runtime wakes a task whose timer is due every
/// [`LAG_TICK`] (tokio's timer wheel counts in milliseconds, so up to 1 ms of it is rounding).
async fn ticker(lags: Arc<Mutex<Vec<Duration>>>) {
    loop {
        let due = time::Instant::now() + LAG_TICK;
        time::sleep_until(due).await;
        let late = time::Instant::now().saturating_duration_since(due);
        lags.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(late);
    }
}

/// One task of the pool: fetch pages until the crawl is done.
async fn worker(shared: Arc<Shared>, config: Arc<Config>, offload: bool) {
    // Not `while let Some(fetch) = next_fetch(&shared).await`: a `while let` keeps the
    // temporaries of its condition until the end of its body, and there the finished
    // `next_fetch` future (224 bytes) would have a place in the task's state of its own,
    // beside the fetch and `fetch_page`'s future, for good. A `let … else` drops it at its `;`.
    loop {
        let Some(fetch) = next_fetch(&shared).await else {
            break;
        };
        let result = fetch_page(&fetch, &config).await;
        let outcome = if offload {
            on_the_pool(fetch, result).await
        } else {
            fetch.finish(result, Instant::now())
        };
        complete(&shared, outcome);
    }
}

/// Parses the page on the rayon pool (`--offload`), and returns a future of its answer: the
/// `run_in_executor` of the lecture.
///
/// A plain `fn`, not an `async fn`: an `async fn` keeps its arguments in its future until first
/// polled, and that future in the task's state, so every task would hold room for a fetch and
/// a response (about 300 bytes) for good. This one hands them to the pool before it returns,
/// and its future holds only the receiver.
fn on_the_pool(
    fetch: Fetch,
    result: Result<Response, FetchError>,
) -> impl Future<Output = Outcome> {
    let finished = Instant::now();
    let (sender, receiver) = oneshot::channel();
    rayon::spawn(move || {
        let _ = sender.send(fetch.finish(result, finished));
    });
    // The pool runs every job it is given, and this task holds the receiver until then.
    async { receiver.await.expect("the pool sends every outcome back") }
}

/// Takes the next URL, waiting while nothing is due but fetches are still in flight or URLs
/// wait for their time. One idle task keeps the time (a timer of the runtime, until the
/// first URL is due, so the other tasks run meanwhile); the others wait for a notification.
async fn next_fetch(shared: &Shared) -> Option<Fetch> {
    loop {
        // Ask to be notified *before* looking, so a notification between the look and the
        // wait is not lost: the async twin of `Condvar::wait`, which releases the mutex and
        // starts waiting in one atomic step. `enable` puts this task on the list of waiters
        // now; without it, it would join the list only when first polled, after the look.
        // Two `notify_one`s with no one listed leave a single permit, so of two tasks that
        // looked, found nothing and then waited, one would sleep while a URL waits for it.
        // (On one thread nothing runs between the look and the `.await`; with `--threads N`
        // another worker can. `notify_waiters`, the crawl's end, reaches a `Notified` from
        // its creation, enabled or not.)
        let notified = shared.changed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        let keep = {
            let mut frontier = shared.lock();
            if frontier.is_done() {
                return None;
            }
            let now = Instant::now();
            if let Some(fetch) = frontier.next_fetch(now) {
                // Something still waits for a time that no task keeps (none wakes by then):
                // wake a task to.
                let hand_over = frontier.next_wake().is_some_and(|due| {
                    nanos(due, shared.epoch) < shared.timed.load(Ordering::Relaxed)
                });
                drop(frontier);
                if hand_over {
                    shared.changed.notify_one();
                }
                return Some(fetch);
            }
            let due = frontier.next_wake();
            let at = due.map_or(NO_ONE, |due| nanos(due, shared.epoch));
            // No task wakes this early: this one keeps the time.
            let keep = at < shared.timed.load(Ordering::Relaxed);
            if keep {
                shared.timed.store(at, Ordering::Relaxed);
            }
            due.filter(|_| keep).map(|due| (due, at))
        };
        match keep {
            Some((due, at)) => {
                let _ = time::timeout_at(due.into(), notified).await;
                let _frontier = shared.lock();
                if shared.timed.load(Ordering::Relaxed) == at {
                    shared.timed.store(NO_ONE, Ordering::Relaxed);
                }
            }
            None => notified.await,
        }
    }
}

/// `at` in ns after `epoch` (below `NO_ONE`).
fn nanos(at: Instant, epoch: Instant) -> u64 {
    let nanos = at.saturating_duration_since(epoch).as_nanos();
    u64::try_from(nanos).unwrap_or(NO_ONE - 1).min(NO_ONE - 1)
}

/// Records an outcome and wakes as many tasks as URLs were queued (all, once done).
fn complete(shared: &Shared, outcome: Outcome) {
    shared.change(|frontier| frontier.complete(outcome));
}

impl Shared {
    /// Changes the frontier; sends what it then has for other runtimes (with a runtime per
    /// core), and wakes as many tasks as URLs were queued (all, once done).
    pub(crate) fn change(&self, change: impl FnOnce(&mut Shard)) {
        let mut frontier = self.lock();
        let queued_before = frontier.queued();
        change(&mut frontier);
        for (shard, message) in frontier.messages() {
            // A runtime ends only once it knows the crawl is over; no one sends it anything then.
            let _ = self.peers[shard].send(message);
        }
        if frontier.is_done() {
            self.changed.notify_waiters();
        } else {
            for _ in queued_before..frontier.queued() {
                self.changed.notify_one();
            }
        }
    }
}

/// Awaits `$step`, unless the fetch's deadline passes first: then `fetch_page` returns a
/// timeout, as `?` returns an error. A macro, not an `async fn`, so that the step's future is
/// stored once in `fetch_page`'s state, beside two references, not copied into a second one.
/// A poll after the first is the task woken in this step: `$woke` then traces it, once the
/// step is over (evaluated here, in `fetch_page`'s body, it keeps nothing in the future).
///
/// A timeout here is cancellation by dropping: the `return` drops the step's future (a
/// connect in progress, a write) and, leaving `fetch_page`, the stream, which deregisters
/// from tokio's reactor and closes. Nothing in the step checks for a timeout. A hand-written
/// coroutine is never dropped mid-wait — its task lives in the done-callback of the future
/// it waits on — so in `crates/generators` the deadline resolves that future with
/// `Wake::TimedOut`, and every state checks for it and closes its socket itself.
macro_rules! within {
    ($deadline:ident, $woke:expr, $step:expr) => {{
        let mut step = std::pin::pin!($step);
        let (step, deadline) = (&mut step, &mut $deadline);
        // Owned by the closure, not borrowed from this frame: a byte of the future, where
        // a capture by reference would be a pointer.
        let mut polls = 0u8;
        let (output, woke) = std::future::poll_fn(move |cx| {
            polls = polls.saturating_add(1);
            match step.as_mut().poll(cx) {
                Poll::Ready(output) => Poll::Ready((Some(output), polls > 1)),
                Poll::Pending => deadline.as_mut().poll(cx).map(|()| (None, polls > 1)),
            }
        })
        .await;
        if woke {
            $woke;
        }
        match output {
            Some(output) => output,
            None => return Err(FetchError::Timeout),
        }
    }};
}

/// Connects, sends the request and reads until the response is complete, awaiting all along.
///
/// One timer serves the whole fetch: a `Sleep` set to the connect deadline, moved to the
/// whole-fetch deadline once connected, and raced against each step by [`within!`] — the
/// `remaining(deadline)?` of the threads crawler. (A `timeout` around the connect inside a
/// `timeout_at` around the rest held two timers in every fetch.)
async fn fetch_page(fetch: &Fetch, config: &Config) -> Result<Response, FetchError> {
    let started = time::Instant::now();
    let deadline = time::sleep_until(started + config.connect_timeout.min(config.timeout));
    let mut deadline = std::pin::pin!(deadline);
    let exchange = |err: io::Error| FetchError::from_io(&err, Phase::Exchange);

    let connect = |err: io::Error| FetchError::from_io(&err, Phase::Connect);
    // tokio's `TcpStream::connect(addr).await` in three steps: mio starts the connection
    // without waiting, the stream joins the runtime, and the wait is for it to be writable
    // (then `SO_ERROR` tells whether it failed). Tokio takes the same steps inside a future
    // of its own, and that future (96 bytes, 168 for `TcpStream::connect`'s lookup of any
    // `ToSocketAddrs`) would sit in every task's state for good: written out, the wait
    // holds only a reference to the stream, which the task keeps anyway.
    let mio = mio::net::TcpStream::connect(fetch.addr).map_err(connect)?;
    let mut stream = TcpStream::from_std(mio.into()).map_err(connect)?;
    within!(
        deadline,
        config.trace(fetch.id(), Event::Woke("connect")),
        std::future::poll_fn(|cx| stream.poll_write_ready(cx))
    )
    .map_err(connect)?;
    if let Some(err) = stream.take_error().map_err(connect)? {
        return Err(connect(err));
    }
    config.trace(fetch.id(), Event::Connected);
    if config.connect_timeout < config.timeout {
        deadline.as_mut().reset(started + config.timeout);
    }

    {
        // A block, so the request is not kept through the reads.
        let request = fetch.request();
        within!(
            deadline,
            config.trace(fetch.id(), Event::Woke("write_all")),
            stream.write_all(&request)
        )
        .map_err(exchange)?;
        config.trace(fetch.id(), Event::Written(request.len()));
    }

    let mut reader = fetch.reader(config.limits);
    loop {
        // `poll_read_ready` keeps the task's waker in the socket's own slot; `readable()`
        // would keep an intrusive waiter node in this future, in every task, for good.
        within!(
            deadline,
            config.trace(fetch.id(), Event::Woke("read")),
            std::future::poll_fn(|cx| stream.poll_read_ready(cx))
        )
        .map_err(exchange)?;
        let mut chunk = [0; CHUNK_SIZE];
        let n = match stream.try_read(&mut chunk) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(exchange(err)),
        };
        config.trace(fetch.id(), Event::Read(n));
        if n == 0 {
            return reader.eof();
        }
        if let Progress::Done(response) = reader.feed(&chunk[..n])? {
            return Ok(response);
        }
    }
}

/// The in-memory size of what one connection holds in this model (`size_of`, heap excluded),
/// for the benchmarks' account of memory per connection.
pub fn state_sizes() -> Vec<(&'static str, usize)> {
    let config = Config::new(
        c10k_core::parse_root("http://127.0.0.1:1/").expect("a valid URL"),
        std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
    );
    let shared = Arc::new(Shared::new(Shard::alone(config.clone()), Vec::new()));
    let fetch = shared.lock().next_fetch(Instant::now());
    let config = Arc::new(config);
    let worker = std::mem::size_of_val(&worker(Arc::clone(&shared), Arc::clone(&config), false));
    let fetch_page = fetch.as_ref().map_or(0, |fetch| {
        std::mem::size_of_val(&fetch_page(fetch, &config))
    });
    vec![
        ("worker future (the whole task state)", worker),
        ("  of which fetch_page future", fetch_page),
        (
            "  of which its deadline, a tokio::time::Sleep",
            std::mem::size_of::<time::Sleep>(),
        ),
        ("  of which Fetch", std::mem::size_of::<Fetch>()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Between two pages a task waits in `next_fetch`; during a page, in `fetch_page`. The two
    /// waits never overlap, so the task's state needs room for the larger of them, not both:
    /// the worker future is the fetch and `fetch_page`'s future, plus its own few fields.
    #[test]
    fn a_task_keeps_room_for_one_wait_at_a_time() {
        let sizes: std::collections::HashMap<_, _> = state_sizes().into_iter().collect();
        let worker = sizes["worker future (the whole task state)"];
        let during_a_page = sizes["  of which Fetch"] + sizes["  of which fetch_page future"];
        assert!(
            worker <= during_a_page + 64,
            "the worker future ({worker} B) holds more than a fetch and its fetch_page \
             future ({during_a_page} B): a finished wait keeps a place of its own"
        );
    }
}
