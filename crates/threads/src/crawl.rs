//! A pool of threads, each fetching one page at a time with blocking calls.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    clock::Clock,
    conn::{Kept, Stream, Wait},
    limits::check_thread_headroom,
};
use c10k_core::{
    CHUNK_SIZE, Config, Conn, Crawler, Event, Fetch, FetchError, FetchId, Outcome, Phase, Progress,
    Report, Response, ResponseReader,
};
use nix::errno::Errno;
use rustls::StreamOwned;
use socket2::{Domain, Protocol, Socket, Type};

/// What only this strategy can be asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stack reserved for each thread, in KiB.
    pub stack_kb: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { stack_kb: 256 }
    }
}

/// The frontier, shared by every thread of the pool.
struct Shared {
    frontier: Mutex<Crawler>,
    /// Signalled when URLs are queued, and when the crawl is done or aborted.
    changed: Condvar,
    /// Threads waiting on `changed`, the keeper of the time too. An atomic so that it can sit
    /// beside the frontier's mutex, but read and written under it: a thread counts itself
    /// before it waits and uncounts itself once it holds the lock again. A notification is a
    /// system call (`futex`) whether or not a thread waits, so none is made for no one.
    waiting: AtomicUsize,
    /// Set when the pool could not be built: workers leave.
    aborted: AtomicBool,
    /// Which idle thread waits for the next retry or host's delay (`clock.rs`).
    clock: Clock,
    /// The connections kept for their origin's next fetch (`--connections keep-alive`), for
    /// every thread (`conn.rs`).
    pool: Kept,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Crawler> {
        // A worker that panicked leaves the frontier as consistent as any other state it
        // reached between calls, so the poison is not worth a second panic.
        self.frontier.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the frontier, and wakes as many threads as URLs were queued, at most as many
    /// as wait (all, once done).
    ///
    /// The wake-ups come after the lock is released: a thread woken while it is still held
    /// would only block again on the mutex, a second futex wait and wake for nothing. Nothing
    /// is lost by waiting: a thread that looks after the unlock sees the new URLs, and one
    /// counted as waiting under the lock is woken, or is on its way back to the lock and
    /// looks at the frontier again before it waits.
    fn change(&self, change: impl FnOnce(&mut Crawler)) {
        let mut frontier = self.lock();
        let queued_before = frontier.queued();
        change(&mut frontier);
        let (done, queued) = (frontier.is_done(), frontier.queued());
        let waiting = self.waiting.load(Ordering::Relaxed);
        drop(frontier);
        if done {
            self.changed.notify_all();
        } else {
            for _ in 0..queued.saturating_sub(queued_before).min(waiting) {
                self.changed.notify_one();
            }
        }
    }

    /// Waits on `changed`, until `timeout` if there is one, counted in `waiting`.
    fn wait<'a>(
        &self,
        frontier: MutexGuard<'a, Crawler>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Crawler> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let frontier = match timeout {
            Some(timeout) => {
                let waited = self.changed.wait_timeout(frontier, timeout);
                waited.unwrap_or_else(PoisonError::into_inner).0
            }
            None => self
                .changed
                .wait(frontier)
                .unwrap_or_else(PoisonError::into_inner),
        };
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        frontier
    }
}

/// Crawls `config`'s roots with `config.concurrency` threads.
///
/// Fails only if the config cannot run a crawl ([`Config::check`]), or the pool cannot be
/// built: a thread could not be spawned, or more threads than [`thread_headroom`](crate::thread_headroom) were asked
/// for.
pub fn crawl(config: &Config, options: &Options) -> io::Result<Report> {
    config.check()?;
    check_thread_headroom(config.concurrency)?;
    let started = Instant::now();
    let shared = Shared {
        frontier: Mutex::new(Crawler::new(config.clone())),
        changed: Condvar::new(),
        waiting: AtomicUsize::new(0),
        aborted: AtomicBool::new(false),
        clock: Clock::new(),
        pool: Kept::new(config),
    };
    run(&shared, config, options)?;
    let crawler = shared
        .frontier
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(crawler.into_report("threads", started.elapsed()))
}

/// Runs `config.concurrency` threads until the crawl is over.
fn run(shared: &Shared, config: &Config, options: &Options) -> io::Result<()> {
    // Every handle is joined before the scope ends. A scope alone waits only until each
    // closure has returned; the OS thread then still runs its exit path (thread-local
    // destructors, unmapping its signal stack) and its stack goes back to the allocator only
    // once it is joined. A crawl that returned before that would leave thousands of mappings
    // behind for the next crawl in this process to trip over (`vm.max_map_count`).
    thread::scope(|scope| {
        let mut workers = Vec::with_capacity(config.concurrency);
        let mut failed = None;
        for n in 0..config.concurrency {
            let spawned = thread::Builder::new()
                .name(format!("crawler-{n}"))
                .stack_size(options.stack_kb * 1024)
                .spawn_scoped(scope, || worker(shared, config));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(err) => {
                    shared.aborted.store(true, Ordering::Relaxed);
                    // Notified under the lock, so no worker is between its check and its wait.
                    let _frontier = shared.lock();
                    shared.changed.notify_all();
                    failed = Some(err);
                    break;
                }
            }
        }
        let mut panicked = None;
        for handle in workers {
            if let Err(panic) = handle.join() {
                panicked.get_or_insert(panic);
            }
        }
        // Every kept connection is closed before the crawl returns.
        shared.pool.drain();
        // A worker's panic is a bug: passed on, as the scope would, once all are joined.
        if let Some(panic) = panicked {
            std::panic::resume_unwind(panic);
        }
        failed.map_or(Ok(()), Err)
    })
}

/// One thread of the pool: fetch pages until the crawl is done.
fn worker(shared: &Shared, config: &Config) {
    while let Some(mut fetch) = next_fetch(shared) {
        let result = fetch_page(&mut fetch, config, shared);
        let outcome = fetch.finish(result, Instant::now());
        complete(shared, outcome);
    }
}

/// Takes the next URL, blocking while nothing is due but fetches are still in flight or
/// URLs wait for their time. One idle thread keeps the time (a wait with a timeout, until
/// the first URL is due); the others wait for a notification.
fn next_fetch(shared: &Shared) -> Option<Fetch> {
    let mut frontier = shared.lock();
    loop {
        if shared.aborted.load(Ordering::Relaxed) || frontier.is_done() {
            return None;
        }
        if let Some(fetch) = frontier.next_fetch(Instant::now()) {
            let hand_over = shared.clock.hand_over(frontier.next_wake())
                && shared.waiting.load(Ordering::Relaxed) > 0;
            drop(frontier);
            if hand_over {
                shared.changed.notify_one();
            }
            return Some(fetch);
        }
        frontier = match shared.clock.keep(frontier.next_wake()) {
            Some(keeper) => {
                let timeout = keeper.due.saturating_duration_since(Instant::now());
                let frontier = shared.wait(frontier, Some(timeout));
                shared.clock.woke(keeper);
                frontier
            }
            None => shared.wait(frontier, None),
        };
    }
}

/// Records an outcome and wakes as many threads as URLs were queued (all, once done).
fn complete(shared: &Shared, outcome: Outcome) {
    shared.change(|frontier| frontier.complete(outcome));
}

/// Sends the request on a kept connection to the origin, or on a new one (connected, and for
/// `https:` shaken hands with), and reads until the response is complete, blocking all along;
/// then keeps the connection for the origin's next fetch, or closes it.
fn fetch_page(fetch: &mut Fetch, config: &Config, shared: &Shared) -> Result<Response, FetchError> {
    let deadline = Instant::now() + config.timeout;
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
                let stream = connect(fetch.addr, config.connect_timeout.min(config.timeout))?;
                config.trace(fetch.id(), Event::Connected);
                if fetch.is_tls() {
                    handshake(stream, fetch, config, deadline)?
                } else {
                    stream
                }
            }
        };

        let mut reader = fetch.reader(config.limits);
        // The exchange, whose failure on a kept connection may send the request once more.
        let result = 'exchange: {
            if let Err(err) = send_request(&mut stream, fetch, config, deadline) {
                break 'exchange Err(err);
            }
            // Block until the response begins (or the peer closes), then read it. The wait
            // is here, and not in `read_response` with its read buffer, so a thread waiting
            // for a server holds no buffer: it is allocated once there is something to put
            // in it (see "What one connection costs" in the README). Over TLS the first
            // bytes may be the server's session tickets.
            if let Err(err) = peek(&mut stream, deadline) {
                break 'exchange Err(err);
            }
            read_response(&mut stream, deadline, &mut reader, config, fetch.id())
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

/// Connects within `timeout`, blocking.
///
/// On Linux a blocking `connect` obeys the socket's send timeout (`SO_SNDTIMEO`) and fails
/// with `EINPROGRESS` when it expires. That takes three system calls (socket, setsockopt,
/// connect) where `TcpStream::connect_timeout` takes six: it switches the socket to
/// non-blocking, connects, `poll`s, reads `SO_ERROR` and switches it back.
fn connect(addr: SocketAddr, timeout: Duration) -> Result<Stream, FetchError> {
    let failed = |err: io::Error| {
        if err.raw_os_error() == Some(Errno::EINPROGRESS as i32) {
            FetchError::Timeout
        } else {
            FetchError::from_io(&err, Phase::Connect)
        }
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(failed)?;
    socket.set_write_timeout(Some(timeout)).map_err(failed)?;
    socket.connect(&addr.into()).map_err(failed)?;
    // The stream records the send timeout its socket now holds.
    Ok(Stream::plain(socket.into(), timeout))
}

/// The TLS handshake over a new connection (an `https:` URL), blocking until it is done: a
/// rustls `StreamOwned`, which then reads and writes plaintext.
///
/// Never inlined: its frame holds a `ClientConnection` and what building one takes (over
/// 3 KiB), and inlined into `fetch_page` it would push every fetch's reads that much deeper
/// into the stack, a page more kept by every thread of an http crawl too.
#[inline(never)]
fn handshake(
    stream: Stream,
    fetch: &mut Fetch,
    config: &Config,
    deadline: Instant,
) -> Result<Stream, FetchError> {
    let client = config.tls_client()?;
    let mut stream = stream.into_tls(c10k_core::tls::connection(&client, &fetch.url)?);
    // Each round writes what TLS has to send and reads what it waits for, either of which
    // may block.
    stream
        .blocking(&[Wait::Receive, Wait::Send], deadline, Stream::shake_hands)
        .map_err(exchange)?;
    let resumed = stream.resumed();
    fetch.mark(config, Conn::Handshake { resumed });
    Ok(stream)
}

/// Writes the request, blocking.
fn send_request(
    stream: &mut Stream,
    fetch: &Fetch,
    config: &Config,
    deadline: Instant,
) -> Result<(), FetchError> {
    let request = fetch.request();
    // `write_all` would not say how much a write cut by a timeout had sent.
    let mut rest = &request[..];
    while !rest.is_empty() {
        match stream.blocking(&[Wait::Send], deadline, |stream| stream.write(rest)) {
            Ok(0) => return Err(exchange(io::ErrorKind::WriteZero.into())),
            Ok(n) => rest = &rest[n..],
            Err(err) => return Err(exchange(err)),
        }
    }
    stream
        .blocking(&[Wait::Send], deadline, Stream::flush)
        .map_err(exchange)?;
    config.trace(fetch.id(), Event::Written(request.len()));
    Ok(())
}

/// Blocks until the socket has a byte to read (or the peer closed it), within the deadline.
fn peek(stream: &mut Stream, deadline: Instant) -> Result<(), FetchError> {
    stream
        .blocking(&[Wait::Receive], deadline, |stream| {
            stream.tcp().peek(&mut [0; 1])
        })
        .map_err(exchange)?;
    Ok(())
}

/// Reads the response, which has begun to arrive, until it is complete.
fn read_response(
    stream: &mut Stream,
    deadline: Instant,
    reader: &mut ResponseReader,
    config: &Config,
    id: FetchId,
) -> Result<Response, FetchError> {
    // On the heap, not the stack: a stack page, once touched, stays with its thread for
    // good, so a 4 KiB array here would keep one more page in every thread that has read a
    // page (16 KiB of stack instead of 12, smaps says). Freed when the response is read, the
    // block serves whichever thread of the arena reads next.
    let mut chunk = vec![0; CHUNK_SIZE];
    loop {
        // The first read finds the bytes the peek saw; a later one may block.
        let n = match stream.blocking(&[Wait::Receive], deadline, |stream| stream.read(&mut chunk))
        {
            Ok(n) => n,
            // TLS: the stream ended without `close_notify`.
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                config.trace(id, Event::Read(0));
                return reader.eof_unclean();
            }
            Err(err) => return Err(exchange(err)),
        };
        config.trace(id, Event::Read(n));
        if n == 0 {
            return reader.eof();
        }
        if let Progress::Done(response) = reader.feed(&chunk[..n])? {
            return Ok(response);
        }
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

/// A failure once connected: an error of the exchange (or a timeout).
fn exchange(err: io::Error) -> FetchError {
    FetchError::from_io(&err, Phase::Exchange)
}

/// The in-memory size of what one connection holds in this model (`size_of`, heap excluded),
/// for the benchmarks' account of memory per connection.
pub fn state_sizes() -> Vec<(&'static str, usize)> {
    vec![
        (
            "read buffer, on the heap while a response is read",
            CHUNK_SIZE,
        ),
        (
            "Stream: the socket (or the box of its TLS state) and the timeouts it holds",
            std::mem::size_of::<Stream>(),
        ),
        ("Fetch", std::mem::size_of::<Fetch>()),
        ("ResponseReader", std::mem::size_of::<ResponseReader>()),
        (
            "https: the StreamOwned, boxed, while the connection lives",
            std::mem::size_of::<StreamOwned<rustls::ClientConnection, TcpStream>>(),
        ),
        (
            "stack reserved per thread (virtual; only touched pages count)",
            Options::default().stack_kb * 1024,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server whose accept queue is full drops new SYNs, so a connect to it hangs in
    /// `SYN_SENT`: the send timeout must end it, as a timeout.
    #[test]
    fn connect_gives_up_at_its_timeout() {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        // Fill the queue (its length is the backlog plus one), never accepting.
        let mut held = Vec::new();
        let err = loop {
            match connect(addr, Duration::from_millis(200)) {
                Ok(stream) if held.len() < 16 => held.push(stream),
                Ok(_) => panic!("the accept queue never filled"),
                Err(err) => break err,
            }
        };
        assert_eq!(err, FetchError::Timeout);
    }

    #[test]
    fn connect_refused_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let Err(err) = connect(addr, Duration::from_secs(5)) else {
            panic!("connected to a closed port");
        };
        assert!(matches!(err, FetchError::Connect(_)), "{err:?}");
    }
}
