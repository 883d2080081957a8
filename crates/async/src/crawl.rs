//! C worker tasks, each fetching one page at a time with `.await` at every wait.

use std::{
    io,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use crate::{
    clock::Clock,
    conn::{Kept, Stream},
};
use c10k_core::{
    CHUNK_SIZE, Config, Conn, Event, Fetch, FetchError, FetchId, LAG_TICK, Message, Outcome, Phase,
    Progress, Report, Response, ResponseReader, Shard,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{Notify, mpsc::UnboundedSender, oneshot},
    task::JoinSet,
    time,
};
use tokio_rustls::{TlsConnector, rustls::HandshakeKind};

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
    /// Which idle task waits for the next retry or host's delay (`clock.rs`).
    clock: Clock,
    /// The connections kept for their origin's next fetch (`--connections keep-alive`), for
    /// every task of the runtime (`conn.rs`).
    pool: Kept,
}

impl Shared {
    pub(crate) fn new(frontier: Shard, peers: Vec<UnboundedSender<Message>>) -> Shared {
        Shared {
            pool: Kept::new(frontier.config()),
            frontier: Mutex::new(frontier),
            changed: Notify::new(),
            peers,
            clock: Clock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shard> {
        // A worker that panicked leaves the frontier as consistent as any other state it
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

    /// Changes the frontier, sends what it then has for other runtimes (with a runtime per
    /// core), and wakes as many tasks as URLs were queued (all, once done).
    ///
    /// The wake-ups come after the lock is released, as in the threads crawler; none is lost,
    /// since a waiting task is on `changed`'s list before it looks (`next_fetch`).
    pub(crate) fn change(&self, change: impl FnOnce(&mut Shard)) {
        let mut frontier = self.lock();
        let queued_before = frontier.queued();
        change(&mut frontier);
        for (shard, message) in frontier.messages() {
            // A runtime ends only once it knows the crawl is over; no one sends it anything then.
            let _ = self.peers[shard].send(message);
        }
        let (done, queued) = (frontier.is_done(), frontier.queued());
        drop(frontier);
        if done {
            self.changed.notify_waiters();
        } else {
            for _ in queued_before..queued {
                self.changed.notify_one();
            }
        }
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

/// Runs `concurrency` tasks, and the ticker, until the crawl is over; returns how late the
/// ticks woke.
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
    // Every kept connection is closed before the runtime is dropped.
    shared.pool.drain();
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
///
/// `let … else`, not `while let`: a `while let` keeps the temporaries of its condition to
/// the end of its body, and here one of them is the finished `next_fetch` future, which would
/// keep a place of its own in every task's state beside the fetch and `fetch_page`'s future
/// (`bytes`, steps 0 and 1: a 1,024-byte task instead of 896).
async fn worker(shared: Arc<Shared>, config: Arc<Config>, offload: bool) {
    loop {
        let Some(mut fetch) = next_fetch(&shared).await else {
            break;
        };
        let result = fetch_page(&mut fetch, &config, &shared).await;
        let outcome = if offload {
            on_the_pool(fetch, result).await
        } else {
            fetch.finish(result, Instant::now())
        };
        complete(&shared, outcome);
    }
}

/// Parses the page on the rayon pool (`--offload`) and awaits the outcome: the
/// `run_in_executor` of the lecture.
async fn on_the_pool(fetch: Fetch, result: Result<Response, FetchError>) -> Outcome {
    let finished = Instant::now();
    let (sender, receiver) = oneshot::channel();
    rayon::spawn(move || {
        let _ = sender.send(fetch.finish(result, finished));
    });
    // The pool runs every job it is given, and this task holds the receiver until then.
    receiver.await.expect("the pool sends every outcome back")
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
        let mut notified = pin!(shared.changed.notified());
        notified.as_mut().enable();
        // The lock is not held across an `.await`: a task holding it would keep every other
        // task of the runtime from the frontier while it sleeps.
        let keeper = {
            let mut frontier = shared.lock();
            if frontier.is_done() {
                return None;
            }
            if let Some(fetch) = frontier.next_fetch(Instant::now()) {
                let hand_over = shared.clock.hand_over(frontier.next_wake());
                drop(frontier);
                if hand_over {
                    shared.changed.notify_one();
                }
                return Some(fetch);
            }
            shared.clock.keep(frontier.next_wake())
        };
        match keeper {
            Some(keeper) => {
                let _ = time::timeout_at(keeper.due.into(), notified).await;
                shared.clock.woke(keeper);
            }
            None => notified.await,
        }
    }
}

/// Records an outcome and wakes as many tasks as URLs were queued (all, once done).
fn complete(shared: &Shared, outcome: Outcome) {
    shared.change(|frontier| frontier.complete(outcome));
}

/// Sends the request on a kept connection to the origin, or on a new one (connected, and for
/// `https:` shaken hands with), and reads until the response is complete, awaiting all along;
/// then keeps the connection for the origin's next fetch, or closes it.
///
/// A timeout here is cancellation by dropping: past the deadline `timeout_at` drops the
/// step's future (a write, a read) and returns, and leaving `fetch_page` drops the stream,
/// which deregisters from tokio's reactor and closes (it is kept only after a whole
/// response). Nothing in the step checks for a timeout. A hand-written coroutine is never
/// dropped mid-wait (its task lives in the done-callback of the future it waits on), so in
/// `crates/generators` the deadline resolves that future with `Wake::TimedOut`, and every
/// state checks for it and closes its socket.
async fn fetch_page(
    fetch: &mut Fetch,
    config: &Config,
    shared: &Shared,
) -> Result<Response, FetchError> {
    let deadline = time::Instant::now() + config.timeout;
    let mut fresh = false;
    loop {
        // A kept connection to the origin, or room for a new one (see the pool).
        let kept = shared.pool.take_or_make_room(
            fetch.origin(),
            Instant::now(),
            Stream::quiet,
            fresh,
            || shared.lock().in_flight(),
        );
        let reused = kept.is_some();
        let mut stream = match kept {
            Some(stream) => {
                fetch.mark(config, Conn::Reused);
                stream
            }
            None => {
                let connecting = connect(fetch.addr, config.connect_timeout.min(config.timeout));
                let tcp = traced(config, fetch.id(), "connect", connecting).await?;
                config.trace(fetch.id(), Event::Connected);
                if fetch.is_tls() {
                    handshake(tcp, fetch, config, deadline).await?
                } else {
                    Stream::Plain(tcp)
                }
            }
        };

        let mut reader = fetch.reader(config.limits);
        // The exchange, whose failure on a kept connection may send the request once more.
        let result = match send_request(&mut stream, fetch, config, deadline).await {
            Ok(()) => read_response(&mut stream, deadline, &mut reader, config, fetch.id()).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(response) => {
                keep_or_close(stream, &response, fetch, config, &shared.pool);
                return Ok(response);
            }
            // The server let the kept connection go while it sat idle: once more, on a new
            // one (which is not reused, so this happens once at most).
            Err(err) if reader.stale(reused, &err) => {
                fetch.mark(config, Conn::Stale);
                fresh = true;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Connects within `timeout`, awaiting.
async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, FetchError> {
    match time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(connected) => connected.map_err(|err| FetchError::from_io(&err, Phase::Connect)),
        Err(_) => Err(FetchError::Timeout),
    }
}

/// The TLS handshake over `tcp` (an `https:` URL), awaiting until it is done: tokio-rustls'
/// `TlsStream`, which then reads and writes plaintext.
async fn handshake(
    tcp: TcpStream,
    fetch: &mut Fetch,
    config: &Config,
    deadline: time::Instant,
) -> Result<Stream, FetchError> {
    let connector = TlsConnector::from(config.tls_client()?);
    let name = c10k_core::tls::server_name(&fetch.url)?;
    // Boxed: the handshake's future holds the whole `TlsStream` (over a kilobyte) while it
    // runs, and unboxed every task's future would keep room for it, plain fetches' too.
    let shaking = Box::pin(connector.connect(name, tcp));
    let shaking = traced(config, fetch.id(), "handshake", shaking);
    let tls = time::timeout_at(deadline, shaking)
        .await
        .map_err(timed_out)?
        .map_err(exchange)?;
    let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
    fetch.mark(config, Conn::Handshake { resumed });
    Ok(Stream::Tls(Box::new(tls)))
}

/// Writes the request, awaiting.
async fn send_request(
    stream: &mut Stream,
    fetch: &Fetch,
    config: &Config,
    deadline: time::Instant,
) -> Result<(), FetchError> {
    let request = fetch.request();
    let writing = traced(config, fetch.id(), "write_all", async {
        stream.write_all(&request).await?;
        stream.flush().await
    });
    time::timeout_at(deadline, writing)
        .await
        .map_err(timed_out)?
        .map_err(exchange)?;
    config.trace(fetch.id(), Event::Written(request.len()));
    Ok(())
}

/// Waits until the response begins (or the peer closes), then reads it until it is complete.
async fn read_response(
    stream: &mut Stream,
    deadline: time::Instant,
    reader: &mut ResponseReader,
    config: &Config,
    id: FetchId,
) -> Result<Response, FetchError> {
    // A task waiting for its server holds no read buffer: it is made once there is something
    // to put in it. Over TCP the wait is tokio's `readable`, which reads nothing (a peek would
    // be one more system call per page). Over TLS the server's session tickets come first and
    // wake the task; rustls reads and keeps them, so the wait is a read of one byte, which
    // returns once the response's first byte is decrypted.
    let mut first = [0; 1];
    let waiting = traced(config, id, "readable", stream.response_begins(&mut first));
    let began = time::timeout_at(deadline, waiting)
        .await
        .map_err(timed_out)?;
    // Over TLS the byte read, or the end; over TCP nothing read yet.
    if let Some(read) = began.transpose()
        && let Some(response) = take(reader, read, &first, config, id)?
    {
        return Ok(response);
    }
    // On the heap: whatever lives across an `.await` is kept in the task's future, so an
    // array here would be 4 KiB in every task, reading or not. Freed when the response is read.
    // `read_buf` reads into its room as it is, never zeroed first (as `vec![0; …]` would be).
    let mut chunk = Vec::with_capacity(CHUNK_SIZE);
    loop {
        chunk.clear();
        let reading = traced(config, id, "read", stream.read_buf(&mut chunk));
        let read = time::timeout_at(deadline, reading)
            .await
            .map_err(timed_out)?;
        if let Some(response) = take(reader, read, &chunk, config, id)? {
            return Ok(response);
        }
    }
}

/// Gives `reader` what one read put in `buf`: the response once it is complete (or ended by
/// the stream's end), `None` while more is to come.
fn take(
    reader: &mut ResponseReader,
    read: io::Result<usize>,
    buf: &[u8],
    config: &Config,
    id: FetchId,
) -> Result<Option<Response>, FetchError> {
    let n = match read {
        Ok(n) => n,
        // TLS: the stream ended without `close_notify`.
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
            config.trace(id, Event::Read(0));
            return reader.eof_unclean().map(Some);
        }
        Err(err) => return Err(exchange(err)),
    };
    config.trace(id, Event::Read(n));
    if n == 0 {
        return reader.eof().map(Some);
    }
    match reader.feed(&buf[..n])? {
        Progress::Done(response) => Ok(Some(response)),
        Progress::NeedMore => Ok(None),
    }
}

/// Keeps the connection for the origin's next fetch if the response was read whole and the
/// server keeps it (`--connections keep-alive`); closes it otherwise.
fn keep_or_close(
    stream: Stream,
    response: &Response,
    fetch: &mut Fetch,
    config: &Config,
    pool: &Kept,
) {
    if config.keep_alive && response.reusable && pool.put(fetch.origin(), stream, Instant::now()) {
        fetch.mark(config, Conn::Kept);
    }
}

/// A failure once connected: an error of the exchange.
fn exchange(err: io::Error) -> FetchError {
    FetchError::from_io(&err, Phase::Exchange)
}

/// The deadline passed first.
fn timed_out(_: time::error::Elapsed) -> FetchError {
    FetchError::Timeout
}

/// *(Second read: only `--trace` needs it.)* `step`, tracing "task woke in `name`" once it
/// is over if the task slept in it and was woken (polled it more than once).
fn traced<'a, F: Future>(
    config: &'a Config,
    id: FetchId,
    name: &'static str,
    step: F,
) -> Traced<'a, F> {
    Traced {
        step,
        config,
        id,
        name,
        polls: 0,
    }
}

pin_project_lite::pin_project! {
    /// The future [`traced`] returns: a future combinator, as tokio's own `Timeout` is one.
    struct Traced<'a, F> {
        #[pin]
        step: F,
        config: &'a Config,
        id: FetchId,
        name: &'static str,
        polls: u8,
    }
}

impl<F: Future> Future for Traced<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        *this.polls = this.polls.saturating_add(1);
        let output = std::task::ready!(this.step.poll(cx));
        if *this.polls > 1 {
            this.config.trace(*this.id, Event::Woke(this.name));
        }
        Poll::Ready(output)
    }
}

// *(Second read.)* The byte-tuning lesson: this file's worker, made smaller step by step.
pub mod bytes;

/// The in-memory size of what one connection holds in this model (`size_of`, heap excluded),
/// for the benchmarks' account of memory per connection.
pub fn state_sizes() -> Vec<(&'static str, usize)> {
    let config = Config::new(
        c10k_core::parse_root("http://127.0.0.1:1/").expect("a valid URL"),
        SocketAddr::from(([127, 0, 0, 1], 1)),
    );
    let shared = Arc::new(Shared::new(Shard::alone(config.clone()), Vec::new()));
    let mut fetch = shared.lock().next_fetch(Instant::now());
    let config = Arc::new(config);
    let worker = std::mem::size_of_val(&worker(Arc::clone(&shared), Arc::clone(&config), false));
    let fetch_page = fetch.as_mut().map_or(0, |fetch| {
        std::mem::size_of_val(&fetch_page(fetch, &config, &shared))
    });
    vec![
        ("worker future (the whole task state)", worker),
        ("  of which fetch_page future", fetch_page),
        ("  of which Fetch", std::mem::size_of::<Fetch>()),
        (
            "https: the TlsStream, boxed, while the connection lives",
            std::mem::size_of::<tokio_rustls::client::TlsStream<TcpStream>>(),
        ),
        (
            "https: the handshake's future, boxed, while it runs",
            std::mem::size_of::<tokio_rustls::Connect<TcpStream>>(),
        ),
    ]
}
