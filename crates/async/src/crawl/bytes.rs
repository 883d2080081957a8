//! *(Second read.)* The byte-tuning lesson of `docs/async-bytes.md`: the worker task of
//! `crawl.rs`, then the same task after each change that makes its future smaller, one at a
//! time, each built here so that its size is measured, not told.
//!
//! A task's future is an enum of its `.await` points, each variant holding what lives across
//! that point, so it is as large as its largest wait, and every task of the crawl carries it
//! (tokio allocates it, with the task's header, once per task). Step 0 is `crawl.rs`'s worker
//! as first written, with a `while let` whose finished `next_fetch` future outlives its use;
//! step 1 is `crawl.rs`'s, which takes its next fetch with `let … else`, the one change here
//! worth making in ordinary code. Step 2 takes out what the fetch needs for `https:` and
//! keep-alive, which every task carries room for, plain ones too: it measures that room, and
//! the steps after it are the fetch of `http:` alone, one connection per fetch. The changes
//! from step 3 on each take room out of the largest wait. None changes what that crawler
//! does; each makes the code say less plainly what it does, which is why `crawl.rs` makes
//! none of them.
//!
//! `cargo test -p c10k-async --release --test bytes -- --nocapture` prints each step's worker
//! future and its task's allocation ([`Lesson::spawn`], counted by an allocator), and fails
//! if a step saves nothing.

use std::{
    future::{Future, poll_fn},
    io,
    net::SocketAddr,
    pin::pin,
    sync::{Arc, Mutex, PoisonError},
    task::Poll,
    time::{Duration, Instant},
};

use c10k_core::{
    CHUNK_SIZE, Config, Event, Fetch, FetchError, FetchId, Outcome, Phase, Progress, Response,
    ResponseReader, Shard,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    sync::oneshot,
    task::JoinHandle,
    time,
};

use super::{
    Shared, complete, connect, exchange, fetch_page, next_fetch, on_the_pool, timed_out, traced,
    worker,
};

/// The steps, in the order they are applied: each is the one before it and one change.
pub const STEPS: [&str; 8] = [
    "crawl.rs's task as first written: while-let for the next fetch",
    "the idiomatic task (crawl.rs): let-else, not while-let",
    "http only, a connection per fetch: no TLS, no pool",
    "TcpSocket::connect, not TcpStream::connect",
    "readiness reads: poll_read_ready, then try_read into a stack buffer",
    "the connect in three steps: mio, join the runtime, await writable",
    "within!: one Sleep per fetch, and a poll counter for the trace",
    "the offload as a plain fn",
];

/// What every step's worker is built from: a frontier and a config that reach nothing.
pub struct Lesson {
    shared: Arc<Shared>,
    config: Arc<Config>,
    /// The frontier's first fetch, for sizing `fetch_page`'s futures (`crawl.rs`'s takes it
    /// `&mut`, to mark what became of its connection).
    fetch: Mutex<Fetch>,
}

impl Default for Lesson {
    fn default() -> Lesson {
        let config = Config::new(
            c10k_core::parse_root("http://127.0.0.1:1/").expect("a valid URL"),
            SocketAddr::from(([127, 0, 0, 1], 1)),
        );
        let shared = Arc::new(Shared::new(Shard::alone(config.clone()), Vec::new()));
        let fetch = shared
            .lock()
            .next_fetch(Instant::now())
            .expect("a new frontier hands out its first URL");
        Lesson {
            shared,
            config: Arc::new(config),
            fetch: Mutex::new(fetch),
        }
    }
}

/// Calls `$use` with the worker future of step `$step` of `$lesson`.
macro_rules! with_worker {
    ($lesson:expr, $step:expr, $use:expr) => {{
        let (shared, config) = (Arc::clone(&$lesson.shared), Arc::clone(&$lesson.config));
        match $step {
            0 => $use(worker_while_let(shared, config, false)),
            1 => $use(worker(shared, config, false)),
            2 => $use(worker_let_else(
                shared,
                config,
                false,
                fetch_page_plain::<Tokio>,
                on_the_pool,
            )),
            3 => $use(worker_let_else(
                shared,
                config,
                false,
                fetch_page_plain::<Socket>,
                on_the_pool,
            )),
            4 => $use(worker_let_else(
                shared,
                config,
                false,
                fetch_page_when_ready::<Socket>,
                on_the_pool,
            )),
            5 => $use(worker_let_else(
                shared,
                config,
                false,
                fetch_page_when_ready::<ThreeSteps>,
                on_the_pool,
            )),
            6 => $use(worker_let_else(
                shared,
                config,
                false,
                fetch_page_within,
                on_the_pool,
            )),
            7 => $use(worker_let_else(
                shared,
                config,
                false,
                fetch_page_within,
                on_the_pool_plain,
            )),
            step => panic!("no step {step}: there are {}", STEPS.len()),
        }
    }};
}

impl Lesson {
    /// The size of step `step`'s worker future (`size_of_val`): the task's whole state.
    pub fn worker_size(&self, step: usize) -> usize {
        with_worker!(self, step, |worker| std::mem::size_of_val(&worker))
    }

    /// Spawns step `step`'s worker on the current runtime, without polling it: tokio allocates
    /// the task (its header, the future, its trailer) in this call.
    pub fn spawn(&self, step: usize) -> JoinHandle<()> {
        with_worker!(self, step, tokio::spawn)
    }

    /// The size of step `step`'s `fetch_page` future: the largest of a fetch's waits.
    pub fn fetch_page_size(&self, step: usize) -> usize {
        let mut fetch = self.fetch.lock().unwrap_or_else(PoisonError::into_inner);
        let (fetch, config) = (&mut *fetch, &*self.config);
        match step {
            0 | 1 => std::mem::size_of_val(&fetch_page(fetch, config, &self.shared)),
            2 => std::mem::size_of_val(&fetch_page_plain::<Tokio>(fetch, config)),
            3 => std::mem::size_of_val(&fetch_page_plain::<Socket>(fetch, config)),
            4 => std::mem::size_of_val(&fetch_page_when_ready::<Socket>(fetch, config)),
            5 => std::mem::size_of_val(&fetch_page_when_ready::<ThreeSteps>(fetch, config)),
            6 | 7 => std::mem::size_of_val(&fetch_page_within(fetch, config)),
            step => panic!("no step {step}: there are {}", STEPS.len()),
        }
    }
}

/// Step 0: `crawl.rs`'s worker as it was first written, with `while let`. A `while let` keeps
/// the temporaries of its condition to the end of its body: the finished `next_fetch` future
/// keeps a place of its own in the task's state, beside the fetch and `fetch_page`'s future.
/// Step 1, `crawl.rs`'s `let … else`, drops it at its `;`.
async fn worker_while_let(shared: Arc<Shared>, config: Arc<Config>, offload: bool) {
    while let Some(mut fetch) = next_fetch(&shared).await {
        let result = fetch_page(&mut fetch, &config, &shared).await;
        let outcome = if offload {
            on_the_pool(fetch, result).await
        } else {
            fetch.finish(result, Instant::now())
        };
        complete(&shared, outcome);
    }
}

/// Step 2: `crawl.rs`'s fetch as it was before `https:` and keep-alive: a `TcpStream` rather
/// than a [`Stream`](crate::conn::Stream) that may be TLS, no handshake to box, no pool to
/// take a connection from or keep it in, no second try on a fresh connection. What that
/// support costs every task, the plain fetches' too: a future's size is the same whatever
/// path a fetch takes. Connect, write, wait until readable, read, as `crawl.rs` has them, for
/// `http:` alone.
/// With the connect of `C` (step 3 changes it).
async fn fetch_page_plain<C: Connect>(
    fetch: &Fetch,
    config: &Config,
) -> Result<Response, FetchError> {
    let deadline = time::Instant::now() + config.timeout;
    let connecting = C::connect(fetch.addr, config.connect_timeout.min(config.timeout));
    let mut stream = traced(config, fetch.id(), "connect", connecting).await?;
    config.trace(fetch.id(), Event::Connected);
    {
        let request = fetch.request();
        let writing = traced(config, fetch.id(), "write_all", stream.write_all(&request));
        time::timeout_at(deadline, writing)
            .await
            .map_err(timed_out)?
            .map_err(exchange)?;
        config.trace(fetch.id(), Event::Written(request.len()));
    }
    let waiting = traced(config, fetch.id(), "readable", stream.readable());
    time::timeout_at(deadline, waiting)
        .await
        .map_err(timed_out)?
        .map_err(exchange)?;
    read_response_plain(
        &mut stream,
        deadline,
        fetch.reader(config.limits),
        config,
        fetch.id(),
    )
    .await
}

/// Step 2's `read_response`, on a `TcpStream`.
async fn read_response_plain(
    stream: &mut TcpStream,
    deadline: time::Instant,
    mut reader: ResponseReader,
    config: &Config,
    id: FetchId,
) -> Result<Response, FetchError> {
    let mut chunk = vec![0; CHUNK_SIZE];
    loop {
        let reading = traced(config, id, "read", stream.read(&mut chunk));
        let n = time::timeout_at(deadline, reading)
            .await
            .map_err(timed_out)?
            .map_err(exchange)?;
        config.trace(id, Event::Read(n));
        if n == 0 {
            return reader.eof();
        }
        if let Progress::Done(response) = reader.feed(&chunk[..n])? {
            return Ok(response);
        }
    }
}

/// `crawl.rs`'s worker, generic over the two steps that the steps from 2 on change: the
/// fetch, and the offload.
async fn worker_let_else(
    shared: Arc<Shared>,
    config: Arc<Config>,
    offload: bool,
    fetch_page: impl AsyncFn(&Fetch, &Config) -> Result<Response, FetchError>,
    on_the_pool: impl AsyncFn(Fetch, Result<Response, FetchError>) -> Outcome,
) {
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

/// A way to connect within a timeout.
trait Connect {
    fn connect(
        addr: SocketAddr,
        timeout: Duration,
    ) -> impl Future<Output = Result<TcpStream, FetchError>> + Send;
}

/// `crawl.rs`'s: `TcpStream::connect(addr)` in a `timeout`.
struct Tokio;

impl Connect for Tokio {
    fn connect(
        addr: SocketAddr,
        timeout: Duration,
    ) -> impl Future<Output = Result<TcpStream, FetchError>> + Send {
        connect(addr, timeout)
    }
}

/// Step 3: a `TcpSocket` connects to one address; `TcpStream::connect` takes any
/// `ToSocketAddrs`, and its future has room for looking one up.
struct Socket;

impl Connect for Socket {
    async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, FetchError> {
        let connect = |err: io::Error| FetchError::from_io(&err, Phase::Connect);
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(connect)?;
        match time::timeout(timeout, socket.connect(addr)).await {
            Ok(connected) => connected.map_err(connect),
            Err(_) => Err(FetchError::Timeout),
        }
    }
}

/// Step 5: what tokio does inside `TcpSocket::connect`, written out. mio starts the
/// connection without waiting, the stream joins the runtime, and the wait is for it to be
/// writable (then `SO_ERROR` says whether it failed): the wait holds a reference to the
/// stream and no future of tokio's.
struct ThreeSteps;

impl Connect for ThreeSteps {
    async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, FetchError> {
        let connect = |err: io::Error| FetchError::from_io(&err, Phase::Connect);
        let mio = mio::net::TcpStream::connect(addr).map_err(connect)?;
        let stream = TcpStream::from_std(mio.into()).map_err(connect)?;
        time::timeout(timeout, poll_fn(|cx| stream.poll_write_ready(cx)))
            .await
            .map_err(timed_out)?
            .map_err(connect)?;
        if let Some(err) = stream.take_error().map_err(connect)? {
            return Err(connect(err));
        }
        Ok(stream)
    }
}

/// Step 4: readiness reads. No read buffer in the task: the wait is for readiness
/// (`poll_read_ready`, whose waker lives in the socket's slot, not in the future as the
/// waiter node of `readable()` or `read` does), and the buffer is a local of the loop body
/// after it, on the stack of the poll that reads, never across an `.await`. With the connect
/// of `C` (step 5 changes it).
async fn fetch_page_when_ready<C: Connect>(
    fetch: &Fetch,
    config: &Config,
) -> Result<Response, FetchError> {
    let deadline = time::Instant::now() + config.timeout;
    let connecting = C::connect(fetch.addr, config.connect_timeout.min(config.timeout));
    let mut stream = traced(config, fetch.id(), "connect", connecting).await?;
    config.trace(fetch.id(), Event::Connected);
    {
        let request = fetch.request();
        let writing = traced(config, fetch.id(), "write_all", stream.write_all(&request));
        time::timeout_at(deadline, writing)
            .await
            .map_err(timed_out)?
            .map_err(exchange)?;
        config.trace(fetch.id(), Event::Written(request.len()));
    }
    let mut reader = fetch.reader(config.limits);
    loop {
        let ready = traced(
            config,
            fetch.id(),
            "read",
            poll_fn(|cx| stream.poll_read_ready(cx)),
        );
        time::timeout_at(deadline, ready)
            .await
            .map_err(timed_out)?
            .map_err(exchange)?;
        if let Some(done) = read_when_ready(&stream, &mut reader, config, fetch.id()) {
            return done;
        }
    }
}

/// Reads what the socket has into a buffer on the stack of this poll, not in the future, and
/// feeds it to the reader: the response or its failure once there is one, `None` to wait
/// for readiness again (steps 4 to 7).
fn read_when_ready(
    stream: &TcpStream,
    reader: &mut ResponseReader,
    config: &Config,
    id: FetchId,
) -> Option<Result<Response, FetchError>> {
    let mut chunk = [0; CHUNK_SIZE];
    let n = match stream.try_read(&mut chunk) {
        Ok(n) => n,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => return None,
        Err(err) if err.kind() == io::ErrorKind::Interrupted => return None,
        Err(err) => return Some(Err(exchange(err))),
    };
    config.trace(id, Event::Read(n));
    if n == 0 {
        return Some(reader.eof());
    }
    match reader.feed(&chunk[..n]) {
        Ok(Progress::Done(response)) => Some(Ok(response)),
        Ok(Progress::NeedMore) => None,
        Err(err) => Some(Err(err)),
    }
}

/// Awaits `$step`, unless the fetch's deadline passes first: then the enclosing function
/// returns a timeout, as `?` returns an error. A macro, not an `async fn`, so that the step's
/// future is stored once, in the enclosing future, not copied into a second one. A poll after
/// the first is the task woken in this step: `$woke` then traces it, once the step is over.
/// The count is a byte the closure owns; captured by reference, it and the trace's arguments
/// would be pointers in the future.
macro_rules! within {
    ($deadline:ident, $woke:expr, $step:expr) => {{
        let mut step = pin!($step);
        let (step, deadline) = (&mut step, &mut $deadline);
        let mut polls = 0u8;
        let (output, woke) = poll_fn(move |cx| {
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

/// Step 6: one timer per fetch. A `Sleep` set to the connect deadline, moved to the whole
/// fetch's deadline once connected, and raced against each step by `within!`, which also
/// counts the polls for the trace: no `Timeout` around each step, no `traced` wrapper
/// holding references, and the connect's wait written into this function, where the stream
/// it waits on is kept anyway.
async fn fetch_page_within(fetch: &Fetch, config: &Config) -> Result<Response, FetchError> {
    let started = time::Instant::now();
    let deadline = time::sleep_until(started + config.connect_timeout.min(config.timeout));
    let mut deadline = pin!(deadline);
    let connect = |err: io::Error| FetchError::from_io(&err, Phase::Connect);
    let mio = mio::net::TcpStream::connect(fetch.addr).map_err(connect)?;
    let mut stream = TcpStream::from_std(mio.into()).map_err(connect)?;
    within!(
        deadline,
        config.trace(fetch.id(), Event::Woke("connect")),
        poll_fn(|cx| stream.poll_write_ready(cx))
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
        within!(
            deadline,
            config.trace(fetch.id(), Event::Woke("read")),
            poll_fn(|cx| stream.poll_read_ready(cx))
        )
        .map_err(exchange)?;
        if let Some(done) = read_when_ready(&stream, &mut reader, config, fetch.id()) {
            return done;
        }
    }
}

/// Step 7: the offload as a plain `fn`. An `async fn` keeps its arguments in its future until
/// first polled, and that future in the task's state, so every task keeps room for a fetch
/// and a response. This one hands them to the pool before it returns, and its future holds
/// only the receiver.
fn on_the_pool_plain(
    fetch: Fetch,
    result: Result<Response, FetchError>,
) -> impl Future<Output = Outcome> {
    let finished = Instant::now();
    let (sender, receiver) = oneshot::channel();
    rayon::spawn(move || {
        let _ = sender.send(fetch.finish(result, finished));
    });
    async { receiver.await.expect("the pool sends every outcome back") }
}
