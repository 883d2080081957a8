//! C worker tasks, each fetching one page at a time with `.await` at every wait.

use std::{
    io,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use c10k_core::{
    CHUNK_SIZE, Config, Crawler, Fetch, FetchError, LAG_TICK, Latency, Outcome, Phase, Progress,
    Report, Response, ResponseReader,
};
use tokio::{
    io::AsyncWriteExt,
    net::TcpStream,
    sync::{Notify, oneshot},
    task::JoinSet,
    time,
};

/// What only this strategy can be asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `None`: a current-thread runtime. `Some(n)`: a multi-thread runtime with `n` workers.
    pub threads: Option<usize>,
    /// Parse pages (and do their `--work-us`) on the rayon pool instead of the runtime.
    pub offload: bool,
}

/// The frontier, shared by every task.
struct Shared {
    crawler: Mutex<Crawler>,
    /// Signalled when URLs are queued, and when the crawl is done.
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Crawler> {
        // A task that panicked leaves the frontier as consistent as any other state it
        // reached between calls, so the poison is not worth a second panic.
        self.crawler.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Crawls `config.root` with `config.concurrency` tasks.
///
/// Fails only if the config cannot run a crawl ([`Config::check`]), the runtime cannot be
/// built, or a task panicked.
pub fn crawl(config: &Config, options: &Options) -> io::Result<Report> {
    config.check()?;
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
    let shared = Arc::new(Shared {
        crawler: Mutex::new(Crawler::new(config.clone())),
        changed: Notify::new(),
    });
    let config = Arc::new(config.clone());
    let lags = Arc::new(Mutex::new(Vec::new()));
    runtime.block_on(async {
        let ticker = tokio::spawn(ticker(Arc::clone(&lags)));
        let mut workers = JoinSet::new();
        for _ in 0..config.concurrency {
            workers.spawn(worker(
                Arc::clone(&shared),
                Arc::clone(&config),
                options.offload,
            ));
        }
        while let Some(joined) = workers.join_next().await {
            joined.map_err(io::Error::other)?;
        }
        ticker.abort();
        Ok::<_, io::Error>(())
    })?;
    let elapsed = started.elapsed();
    drop(runtime);
    let shared =
        Arc::into_inner(shared).ok_or_else(|| io::Error::other("a task outlived the runtime"))?;
    let crawler = shared
        .crawler
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let mut report = crawler.into_report("async", elapsed);
    let lags = std::mem::take(&mut *lags.lock().unwrap_or_else(PoisonError::into_inner));
    report.loop_lag_ms = Some(Latency::of(lags));
    Ok(report)
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
    while let Some(fetch) = next_fetch(&shared).await {
        let result = fetch_page(&fetch, &config).await;
        let outcome = finish(fetch, result, offload).await;
        complete(&shared, outcome);
    }
}

/// Parses the page: here, or with `--offload` on the rayon pool, awaiting its answer (the
/// `run_in_executor` of the lecture).
async fn finish(fetch: Fetch, result: Result<Response, FetchError>, offload: bool) -> Outcome {
    let finished = Instant::now();
    if !offload {
        return fetch.finish(result, finished);
    }
    let (sender, receiver) = oneshot::channel();
    rayon::spawn(move || {
        let _ = sender.send(fetch.finish(result, finished));
    });
    // The pool runs every job it is given, and this task holds the receiver until then.
    receiver.await.expect("the pool sends every outcome back")
}

/// Takes the next URL, waiting while the queue is empty but fetches are still in flight.
async fn next_fetch(shared: &Shared) -> Option<Fetch> {
    loop {
        // Ask to be notified *before* looking, so a notification between the look and the
        // wait is not lost.
        let notified = shared.changed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        {
            let mut crawler = shared.lock();
            if crawler.is_done() {
                return None;
            }
            if let Some(fetch) = crawler.next_fetch(Instant::now()) {
                return Some(fetch);
            }
        }
        notified.await;
    }
}

/// Records an outcome and wakes as many tasks as URLs were queued (all, once done).
fn complete(shared: &Shared, outcome: Outcome) {
    let mut crawler = shared.lock();
    let queued_before = crawler.queued();
    crawler.complete(outcome);
    if crawler.is_done() {
        shared.changed.notify_waiters();
    } else {
        for _ in queued_before..crawler.queued() {
            shared.changed.notify_one();
        }
    }
}

/// Connects, sends the request and reads until the response is complete, awaiting all along.
async fn fetch_page(fetch: &Fetch, config: &Config) -> Result<Response, FetchError> {
    let deadline = time::Instant::now() + config.timeout;
    let connect_timeout = config.connect_timeout.min(config.timeout);
    let exchange = |err: io::Error| FetchError::from_io(&err, Phase::Exchange);
    let fetching = async {
        let mut stream = time::timeout(connect_timeout, TcpStream::connect(config.addr))
            .await
            .map_err(|_| FetchError::Timeout)?
            .map_err(|err| FetchError::from_io(&err, Phase::Connect))?;

        stream.write_all(&fetch.request()).await.map_err(exchange)?;

        let mut reader = ResponseReader::new(config.limits);
        loop {
            stream.readable().await.map_err(exchange)?;
            let mut chunk = [0; CHUNK_SIZE];
            let n = match stream.try_read(&mut chunk) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(exchange(err)),
            };
            if n == 0 {
                return reader.eof();
            }
            if let Progress::Done(response) = reader.feed(&chunk[..n])? {
                return Ok(response);
            }
        }
    };
    time::timeout_at(deadline, fetching)
        .await
        .unwrap_or(Err(FetchError::Timeout))
}

/// The in-memory size of what one connection holds in this model (`size_of`, heap excluded),
/// for the benchmarks' account of memory per connection.
pub fn state_sizes() -> Vec<(&'static str, usize)> {
    let config = Config::new(
        c10k_core::parse_root("http://127.0.0.1:1/").expect("a valid URL"),
        std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
    );
    let shared = Arc::new(Shared {
        crawler: Mutex::new(Crawler::new(config.clone())),
        changed: Notify::new(),
    });
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
            "  of which each tokio::time::Sleep",
            std::mem::size_of::<time::Sleep>(),
        ),
        ("  of which Fetch", std::mem::size_of::<Fetch>()),
    ]
}
