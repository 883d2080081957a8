//! The shared test server: a deterministic site every strategy crawls, and the manifest of what
//! a full crawl must find.
//!
//! - [`site`] decides the pages, their links and the manifest (pure, no I/O);
//! - [`faults`] holds the pages that misbehave on purpose, and what a crawler must record for
//!   each;
//! - [`chaos`] meets a seeded fraction of the site's requests with a fault, the same on every
//!   run (the try of a request is counted per path), and says how each URL then ends;
//! - [`tls`] makes the certificates and the handshake faults of the site over TLS;
//! - [`Server`] serves it on a tokio runtime of its own thread(s), over plain TCP or TLS
//!   ([`ServerOptions::tls`]).
//!
//! # Connections
//!
//! A request `HTTP/1.1` without `Connection: close` (or `HTTP/1.0` with `Connection:
//! keep-alive`) keeps its connection: the response is framed by `Content-Length` and the
//! server reads the next request on it. Any other request (the crawler's default sends
//! `HTTP/1.0` and `Connection: close`) gets the answer it always got, `HTTP/1.0` with
//! `Connection: close`, and then the close. [`KeepAlive`] bounds a kept connection: a
//! number of requests, after which the server closes silently (the race of RFC 9112 section
//! 9.3.1: the client's next request meets the end of the stream) or says so on the last
//! response; and an idle timeout. [`Stats`] counts connections and requests, so a test can
//! see reuse.
//!
//! # Cost
//!
//! The server is not one of the crawlers under study: it only has to be correct and far
//! cheaper than what it serves. A kept connection waiting for its next request is a task
//! parked on tokio's reactor (no thread): a future of under 1 KiB (a test holds it there; the
//! fault pages and the TLS session are boxed, so only their connections pay for them) and a
//! 512-byte request buffer. A response held by `--delay-ms` waits on a timer. Over TLS,
//! tokio-rustls encrypts the response from the buffer it is built in: the only copy is
//! rustls' own, into its records.
//!
//! Tests start it in-process on port 0; `c10k serve` runs it as a separate process so
//! benchmarks measure the crawler alone.

#![deny(missing_docs)]

pub mod chaos;
pub mod faults;
pub mod site;
pub mod tls;

use std::{
    borrow::Cow,
    collections::HashMap,
    io::{self, Write as _},
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::watch,
};

pub use chaos::{Chaos, ChaosFault};
use faults::{Extras, Next, send};
pub use site::{BUSY, BusyWait, Digest, Manifest, Route, SiteSpec};
pub use tls::{Ca, Tls, TlsFixture, TlsMode, tls_fixture};
use tls::{Handshake, Names};

/// The accept queue asked of the kernel (it is capped by `net.core.somaxconn`).
const BACKLOG: u32 = 65_535;
/// A request head larger than this is refused.
const MAX_REQUEST: usize = 8 * 1024;
/// A client that sends no complete request within this time is dropped (also the limit of a
/// TLS handshake); on a kept connection the time starts at the request's first byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a kept connection that the server ends reads on after its half-close (the FIN),
/// before it lets go: the close in stages of RFC 9112 section 9.6, so that a request already
/// on its way is read and dropped rather than answered by a reset, which some TCP stacks let
/// destroy a response the client has not read yet. It ends sooner when the client closes,
/// which a client that sees the FIN or `Connection: close` does at once.
const LINGER: Duration = Duration::from_millis(500);
/// The request buffer a connection keeps between requests.
const REQUEST_BUFFER: usize = 512;
/// Room for a response's status line and the headers every response has (the length, the
/// connection), beyond the headers it is given.
const HEAD_BYTES: usize = 96;

/// Bytes of pages a listener renders at start and then serves from memory; pages past this
/// (a site of more than some 30,000 pages of 2 KiB) are rendered for each request. Rendering
/// per request made the server, not the client, the limit of a keep-alive crawl: a page's
/// filler text cost it more than the kernel's work for the response, and a leaf page more
/// than the root that `wrk` loads.
const RENDERED_BYTES: usize = 64 << 20;

/// How long a kept connection may wait for its next request by default.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(5);

/// How the server keeps connections alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Responses one connection carries at most (`None`: no limit). After the last the server
    /// closes: silently (as an idle close that crosses the client's next request), unless
    /// [`KeepAlive::announce_last`].
    pub max_requests: Option<u64>,
    /// Say `Connection: close` on the last response [`KeepAlive::max_requests`] allows,
    /// instead of closing silently after it.
    pub announce_last: bool,
    /// How long a kept connection may wait for its next request before the server closes it.
    pub idle: Duration,
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive {
            max_requests: None,
            announce_last: false,
            idle: DEFAULT_IDLE,
        }
    }
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The site to serve.
    pub spec: SiteSpec,
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Runtime worker threads; 1 runs a current-thread runtime.
    pub threads: usize,
    /// The host name the site writes its absolute links with (`None`: its IP address). The
    /// crawler must then be told where the name listens.
    pub name: Option<String>,
    /// Keep the path and arrival time of every request ([`Stats::requests`]), for tests that
    /// check when a crawler came back.
    pub log: bool,
    /// Serve over TLS (`https://`), or be one of the TLS faults; `None`: plain http.
    pub tls: Option<Tls>,
    /// How connections are kept alive.
    pub keep_alive: KeepAlive,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            spec: SiteSpec::default(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            threads: 1,
            name: None,
            log: false,
            tls: None,
            keep_alive: KeepAlive::default(),
        }
    }
}

/// Counters the server keeps while it runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Responses of the site (fault pages aside) written completely.
    pub responses: AtomicU64,
    /// Accept failures (for example when out of file descriptors), each followed by a pause.
    pub accept_errors: AtomicU64,
    /// Requests read (every request head, fault pages included): with
    /// [`Stats::accepted`], the requests per connection.
    pub served: AtomicU64,
    /// Requests that came on a connection which had carried one before: reuse.
    pub reused: AtomicU64,
    /// The most requests one connection has carried.
    pub most_per_connection: AtomicU64,
    /// Kept connections the server closed because they sat idle ([`KeepAlive::idle`]).
    pub idle_closed: AtomicU64,
    /// Kept connections the server closed because they carried
    /// [`KeepAlive::max_requests`].
    pub limit_closed: AtomicU64,
    /// TLS handshakes completed, full or resumed.
    pub handshakes: AtomicU64,
    /// TLS handshakes completed by resuming a session (a ticket).
    pub resumed: AtomicU64,
    /// TLS handshakes that did not complete: refused by the client (a certificate fault),
    /// timed out, or one of the handshake faults.
    pub handshake_failures: AtomicU64,
    /// Requests that met a chaos fault ([`SiteSpec::chaos`]).
    pub chaos_faults: AtomicU64,
    /// With [`ServerOptions::log`]: each request's path and when its head was read.
    log: Option<Mutex<Vec<(String, Instant)>>>,
}

impl Stats {
    /// The requests so far, in order of arrival, if the server keeps them.
    pub fn requests(&self) -> Vec<(String, Instant)> {
        self.log.as_ref().map_or_else(Vec::new, |log| {
            log.lock().unwrap_or_else(PoisonError::into_inner).clone()
        })
    }

    /// When each request for `path` arrived.
    pub fn arrivals(&self, path: &str) -> Vec<Instant> {
        let requests = self.requests();
        requests
            .into_iter()
            .filter(|(p, _)| p == path)
            .map(|(_, at)| at)
            .collect()
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running test server; dropping it stops the server and waits for its thread.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    origin: String,
    /// With [`Tls::plain_twin`]: where the twin listens and its origin.
    twin: Option<(SocketAddr, String)>,
    tls: Option<(TlsMode, Arc<Ca>)>,
    stats: Arc<Stats>,
    shutdown: watch::Sender<bool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Binds and starts serving on background thread(s); returns once the port is bound.
    pub fn start(options: ServerOptions) -> io::Result<Server> {
        let runtime = if options.threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(options.threads)
                .enable_all()
                .build()?
        };
        let twin_addr = options.tls.as_ref().and_then(|tls| tls.plain_twin);
        if let Some(tls) = &options.tls
            && tls.plain_twin.is_some()
            && tls.mode != TlsMode::Valid
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only the valid TLS site has a plain twin",
            ));
        }
        let listener = runtime.block_on(async { listen(options.addr) })?;
        let addr = listener.local_addr()?;
        let twin_listener = match twin_addr {
            Some(twin) => Some(runtime.block_on(async { listen(twin) })?),
            None => None,
        };
        let stats = Arc::new(Stats {
            log: options.log.then(Mutex::default),
            ..Stats::default()
        });
        let (shutdown, stop) = watch::channel(false);
        let host = |addr: SocketAddr| match &options.name {
            Some(name) => format!("{name}:{}", addr.port()),
            None => addr.to_string(),
        };
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let origin = format!("{scheme}://{}", host(addr));
        let twin = match &twin_listener {
            Some(listener) => {
                let twin_addr = listener.local_addr()?;
                Some((twin_addr, format!("http://{}", host(twin_addr))))
            }
            None => None,
        };
        let (handshake, tls) = match &options.tls {
            Some(tls) => {
                let ca = match &tls.ca {
                    Some(ca) => Arc::clone(ca),
                    None => Arc::new(Ca::new()?),
                };
                let names = Names::of_server(options.name.as_deref(), addr.ip());
                let handshake = Handshake::new(tls.mode, &ca, &names)?;
                (Some(handshake), Some((tls.mode, ca)))
            }
            None => (None, None),
        };
        let extras = match (&tls, &twin) {
            (None, _) => Extras::None,
            (Some(_), twin) => Extras::Tls {
                twin: twin.is_some(),
            },
        };
        let site = Arc::new(Site {
            spec: options.spec,
            keep_alive: options.keep_alive,
            stats: Arc::clone(&stats),
        });
        let mut doors = vec![(
            listener,
            Door::new(
                origin.clone(),
                handshake,
                twin.as_ref().map(|t| t.1.clone()),
                extras,
            )
            .render(&site.spec),
        )];
        if let (Some(listener), Some((_, twin_origin))) = (twin_listener, &twin) {
            let door = Door::new(
                twin_origin.clone(),
                None,
                Some(origin.clone()),
                Extras::Twin,
            )
            .render(&site.spec);
            doors.push((listener, door));
        }
        let thread = thread::Builder::new()
            .name("testsite".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let loops: Vec<_> = doors
                        .into_iter()
                        .map(|(listener, door)| {
                            tokio::spawn(accept_loop(
                                listener,
                                Arc::clone(&site),
                                Arc::new(door),
                                stop.clone(),
                            ))
                        })
                        .collect();
                    for accepting in loops {
                        let _ = accepting.await;
                    }
                })
            })?;
        Ok(Server {
            addr,
            origin,
            twin,
            tls,
            stats,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT/` (or `http://NAME:PORT/` with a name; `https://…` over TLS), the root
    /// of the site.
    pub fn url(&self) -> String {
        format!("{}/", self.origin)
    }

    /// The count and checksum of [`Server::manifest`]; for a plain site over plain http,
    /// computed without the manifest ([`SiteSpec::digest`]).
    pub fn digest(&self, spec: &SiteSpec) -> Digest {
        match self.tls_mode() {
            None => spec.digest(&self.origin),
            Some(_) => self.manifest(spec).digest(),
        }
    }

    /// Over TLS, the mode: the site itself ([`TlsMode::Valid`]) or a handshake fault.
    pub fn tls_mode(&self) -> Option<TlsMode> {
        self.tls.as_ref().map(|(mode, _)| *mode)
    }

    /// Over TLS, the authority a client must trust (for the untrusted-issuer fault, the one
    /// the client is given, not the one that signed the certificate).
    pub fn ca(&self) -> Option<&Arc<Ca>> {
        self.tls.as_ref().map(|(_, ca)| ca)
    }

    /// Over TLS, [`Server::ca`] in PEM (what `c10k serve --ca-out` writes).
    pub fn ca_pem(&self) -> Option<String> {
        self.ca().map(|ca| ca.pem())
    }

    /// With [`Tls::plain_twin`]: where the plain twin listens.
    pub fn twin_addr(&self) -> Option<SocketAddr> {
        self.twin.as_ref().map(|(addr, _)| *addr)
    }

    /// With [`Tls::plain_twin`]: the root of the plain twin, `http://…/`.
    pub fn twin_url(&self) -> Option<String> {
        self.twin.as_ref().map(|(_, origin)| format!("{origin}/"))
    }

    /// The manifest of a full crawl of this server's site (served with `spec`).
    ///
    /// Over TLS, the same site at `https://` URLs, and with `spec.faults` the TLS site's own
    /// fault pages ([`faults::TLS_PAGES`]). With a plain twin, the crawl of both roots
    /// ([`Server::url`] and [`Server::twin_url`]): both sites, and the bounce between them
    /// ([`faults::BOUNCE_PAGES`]). For a handshake fault, the root alone with
    /// [`TlsMode::outcome`].
    pub fn manifest(&self, spec: &SiteSpec) -> Manifest {
        match self.tls_mode() {
            None => spec.manifest(&self.origin),
            Some(TlsMode::Valid) => {
                let mut manifest = spec.manifest(&self.origin);
                if spec.faults {
                    let twin = self.twin.as_ref().map(|(_, origin)| origin.as_str());
                    manifest
                        .urls
                        .extend(faults::tls_manifest_entries(&self.origin, twin));
                }
                if let Some((_, twin)) = &self.twin {
                    manifest.urls.extend(spec.manifest(twin).urls);
                }
                manifest
            }
            Some(fault) => Manifest {
                spec: spec.clone(),
                root: self.url(),
                urls: [(self.url(), fault.outcome().to_owned())].into(),
            },
        }
    }

    /// The server's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Blocks until the server stops (it only stops when dropped, so: forever).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// What every connection task shares, whichever listener it came from.
#[derive(Debug)]
struct Site {
    spec: SiteSpec,
    keep_alive: KeepAlive,
    stats: Arc<Stats>,
}

/// One listener's view of the site: its origin, its handshake, and the counters of the pages
/// that answer by how often they were asked (so a TLS site and its plain twin each behave as
/// a server of their own).
#[derive(Debug)]
struct Door {
    origin: String,
    /// `None`: plain TCP.
    handshake: Option<Handshake>,
    /// The other end of a TLS site and its plain twin: its origin.
    twin: Option<String>,
    /// The fault pages this listener adds.
    extras: Extras,
    /// Those pages' links, for the root.
    root_links: String,
    /// The site's first pages, rendered ([`Door::render`]).
    pages: Vec<Box<[u8]>>,
    /// Requests for the flaky fault page so far: it fails the first two.
    flaky_requests: AtomicU32,
    /// Requests for each busy page so far.
    busy_requests: [AtomicU32; site::BUSY.len()],
    /// With chaos: the tries of each path so far (the `n`-th request for a path is its try
    /// `n`), by the request's target as sent.
    tries: Mutex<HashMap<String, u32>>,
}

impl Door {
    fn new(
        origin: String,
        handshake: Option<Handshake>,
        twin: Option<String>,
        extras: Extras,
    ) -> Door {
        Door {
            origin,
            handshake,
            twin,
            extras,
            root_links: extras.root_links(),
            pages: Vec::new(),
            flaky_requests: AtomicU32::new(0),
            busy_requests: Default::default(),
            tries: Mutex::default(),
        }
    }

    /// Renders the site's first pages once, as this listener serves them, up to
    /// [`RENDERED_BYTES`].
    fn render(mut self, spec: &SiteSpec) -> Door {
        let mut bytes = 0;
        for i in 0..spec.pages {
            let page = spec.render_page_with(i, &self.origin, &self.root_links);
            bytes += page.len();
            if bytes > RENDERED_BYTES {
                break;
            }
            self.pages.push(page.into_boxed_slice());
        }
        self
    }

    /// Page `i` as this listener serves it: rendered at start, or now.
    fn page(&self, spec: &SiteSpec, i: usize) -> Cow<'_, [u8]> {
        match self.pages.get(i) {
            Some(page) => Cow::Borrowed(page),
            None => Cow::Owned(spec.render_page_with(i, &self.origin, &self.root_links)),
        }
    }

    /// The chaos fault, if any, that this request for `path` meets: its try is counted, and
    /// drawn. A [`ChaosFault::Reset`] on a connection that carried a request before is not
    /// counted (the crawler sends it again fresh, as the same try: see [`chaos`]).
    fn chaos(&self, chaos: &Chaos, path: &str, reused: bool) -> Option<ChaosFault> {
        let mut tries = self.tries.lock().unwrap_or_else(PoisonError::into_inner);
        let count = tries.entry(path.to_owned()).or_default();
        *count += 1;
        let fault = chaos.draw(path, *count);
        if reused && fault == Some(ChaosFault::Reset) {
            *count -= 1;
        }
        fault
    }

    /// What `path` answers here.
    fn route(&self, spec: &SiteSpec, path: &str) -> Route {
        if spec.faults
            && let Some(fault) = self.extras.route(path)
        {
            return Route::Fault(fault);
        }
        spec.route(path)
    }
}

async fn accept_loop(
    listener: TcpListener,
    site: Arc<Site>,
    door: Arc<Door>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    Stats::add(&site.stats.accepted);
                    // A response goes in several writes (TLS: session tickets, then the
                    // answer; keep-alive: one answer after another): Nagle's algorithm would
                    // hold the later ones for the client's delayed ack, some 40 ms each.
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, Arc::clone(&site), Arc::clone(&door)));
                }
                Err(_) => {
                    // Out of descriptors (EMFILE) or a connection reset while queued: pause so
                    // closing connections can free descriptors, instead of spinning or dying.
                    Stats::add(&site.stats.accept_errors);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// A connection the server speaks HTTP over: a TCP stream, or TLS over one.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    /// The TCP stream underneath (for a reset, or a close without TLS's `close_notify`).
    fn tcp(&mut self) -> &mut TcpStream;
}

impl Stream for TcpStream {
    fn tcp(&mut self) -> &mut TcpStream {
        self
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&mut self) -> &mut TcpStream {
        self.get_mut().0
    }
}

/// A new connection: the handshake of its listener (if TLS), then its requests.
///
/// Every task's future is as large as its largest state, so the plain path, the one the
/// benchmarks take thousands of times at once, is the only one kept inline (a few hundred
/// bytes); the TLS session (over a KiB of rustls state before its buffers) and the handshake
/// faults are boxed, and cost only the connections that use them.
async fn connection(tcp: TcpStream, site: Arc<Site>, door: Arc<Door>) {
    match &door.handshake {
        None => serve_connection(tcp, &site, &door).await,
        Some(handshake) => Box::pin(tls_connection(tcp, handshake, &site, &door)).await,
    }
}

/// [`connection`] on a TLS listener.
async fn tls_connection(mut tcp: TcpStream, handshake: &Handshake, site: &Site, door: &Door) {
    let stats = &site.stats;
    match handshake {
        Handshake::Accept(acceptor) => {
            match tokio::time::timeout(REQUEST_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    Stats::add(&stats.handshakes);
                    if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                        Stats::add(&stats.resumed);
                    }
                    serve_connection(tls, site, door).await;
                }
                Ok(Err(_)) | Err(_) => Stats::add(&stats.handshake_failures),
            }
        }
        Handshake::Stall => {
            faults::hold(&mut tcp).await;
            Stats::add(&stats.handshake_failures);
        }
        Handshake::Garbage => {
            // Waits for the ClientHello's first bytes, so the answer comes after it.
            let mut hello = [0; 64];
            let read = tokio::time::timeout(REQUEST_TIMEOUT, tcp.read(&mut hello)).await;
            if matches!(read, Ok(Ok(n)) if n > 0) {
                faults::send_and_close(&mut tcp, tls::GARBAGE).await;
            }
            Stats::add(&stats.handshake_failures);
        }
    }
}

/// Reads requests on `stream` and answers them until one of the two ends it.
async fn serve_connection<S: Stream>(mut stream: S, site: &Site, door: &Door) {
    let stats = &site.stats;
    let mut buf = Vec::with_capacity(REQUEST_BUFFER);
    let mut carried: u64 = 0;
    loop {
        let request = match read_request(&mut stream, &mut buf, carried > 0, site).await {
            Read::Request(request) => request,
            Read::Bad => {
                let response = simple(400, "bad request", Persist::Close);
                faults::send_and_close(&mut stream, &response).await;
                return;
            }
            Read::Idle => {
                Stats::add(&stats.idle_closed);
                finish(&mut stream, Persist::Last).await;
                return;
            }
            Read::Gone => return,
        };
        carried += 1;
        Stats::add(&stats.served);
        if carried > 1 {
            Stats::add(&stats.reused);
        }
        stats
            .most_per_connection
            .fetch_max(carried, Ordering::Relaxed);
        if let Some(log) = &stats.log {
            let arrived = (request.path.clone(), Instant::now());
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(arrived);
        }
        if !site.spec.delay.is_zero() {
            tokio::time::sleep(site.spec.delay).await;
        }
        let limit = site.keep_alive;
        let at_limit = limit.max_requests.is_some_and(|max| carried >= max);
        let persist = if !request.keep {
            Persist::Close
        } else if at_limit && limit.announce_last {
            Persist::Last
        } else {
            Persist::Keep {
                http10: request.http10,
            }
        };
        if at_limit && request.keep {
            // Counted before the answer, which may linger before it returns.
            Stats::add(&stats.limit_closed);
        }
        let route = door.route(&site.spec, &request.path);
        let chaos = match &site.spec.chaos {
            Some(chaos) if chaos::applies(&route, &request.path) => {
                door.chaos(chaos, &request.path, carried > 1)
            }
            _ => None,
        };
        if let Some(fault) = chaos {
            Stats::add(&stats.chaos_faults);
            // Boxed, as the fault pages are: only their connections pay for their state.
            match Box::pin(chaos::serve(&mut stream, fault, persist)).await {
                Next::Closed => return,
                Next::Keep if at_limit => {
                    finish(&mut stream, Persist::Last).await;
                    return;
                }
                Next::Keep => continue,
            }
        }
        let next = match route {
            Route::Fault(fault) => {
                let context = faults::Context {
                    origin: &door.origin,
                    twin: door.twin.as_deref(),
                    flaky_requests: &door.flaky_requests,
                };
                // Boxed: a fault's future holds buffers of up to 64 KiB across its awaits,
                // and inline it would make every connection's task that large.
                Box::pin(faults::serve(&mut stream, fault, &context, persist)).await
            }
            route => {
                let response = respond(site, door, route, persist);
                if send(&mut stream, &response).await.is_err() {
                    return;
                }
                Stats::add(&stats.responses);
                finish(&mut stream, persist).await
            }
        };
        match next {
            Next::Closed => return,
            // The silent end of RFC 9112 section 9.3.1: the response kept the connection,
            // the server closes it all the same.
            Next::Keep if at_limit => {
                finish(&mut stream, Persist::Last).await;
                return;
            }
            Next::Keep => {}
        }
        if buf.is_empty() && buf.capacity() > REQUEST_BUFFER {
            buf = Vec::with_capacity(REQUEST_BUFFER);
        }
    }
}

/// What a response says about its connection, from the request and the server's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persist {
    /// The request asked for the close (or is HTTP/1.0 without keep-alive): `HTTP/1.0` and
    /// `Connection: close`, byte for byte what the server always answered, then the close.
    Close,
    /// The connection stays open: `HTTP/1.1`, and `Connection: keep-alive` for an HTTP/1.0
    /// request that asked for it.
    Keep {
        /// Whether the request was HTTP/1.0.
        http10: bool,
    },
    /// The last response of a kept connection, and it says so: `HTTP/1.1` and `Connection:
    /// close`, then the close (with a lingering read).
    Last,
}

impl Persist {
    /// The status line's version.
    pub(crate) fn version(self) -> &'static str {
        match self {
            Persist::Close => "HTTP/1.0",
            Persist::Keep { .. } | Persist::Last => "HTTP/1.1",
        }
    }

    /// The `Connection` header line, if any.
    fn connection(self) -> &'static str {
        match self {
            Persist::Close | Persist::Last => "Connection: close\r\n",
            Persist::Keep { http10: true } => "Connection: keep-alive\r\n",
            Persist::Keep { http10: false } => "",
        }
    }
}

/// After a response: keeps the connection, or closes it as `persist` said (a lingering close
/// for a kept connection).
pub(crate) async fn finish<S: Stream>(stream: &mut S, persist: Persist) -> Next {
    match persist {
        Persist::Keep { .. } => Next::Keep,
        Persist::Close => {
            let _ = stream.shutdown().await;
            Next::Closed
        }
        Persist::Last => {
            if stream.shutdown().await.is_ok() {
                let mut sink = vec![0; REQUEST_BUFFER];
                let _ = tokio::time::timeout(LINGER, async {
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                })
                .await;
            }
            Next::Closed
        }
    }
}

/// A request head, as far as the server reads it.
#[derive(Debug)]
struct Request {
    path: String,
    /// Whether the request allows the connection to stay open.
    keep: bool,
    /// Whether it was HTTP/1.0.
    http10: bool,
}

/// What waiting for a request gave.
#[derive(Debug)]
enum Read {
    Request(Request),
    /// Not a `GET` the server can answer, or too large: a 400.
    Bad,
    /// A kept connection that sent nothing for [`KeepAlive::idle`].
    Idle,
    /// The client left, or took too long.
    Gone,
}

/// Reads the next request head on `stream` (`buf` may hold the start of it already: a client
/// may send its next request before it has read the last response). On a `kept` connection
/// the wait for its first byte is the idle timeout; the head then has [`REQUEST_TIMEOUT`].
async fn read_request<S: Stream>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    kept: bool,
    site: &Site,
) -> Read {
    if kept && buf.is_empty() {
        buf.reserve(REQUEST_BUFFER);
        match tokio::time::timeout(site.keep_alive.idle, stream.read_buf(buf)).await {
            Err(_) => return Read::Idle,
            Ok(Ok(0) | Err(_)) => return Read::Gone,
            Ok(Ok(_)) => {}
        }
    }
    let head = async {
        loop {
            if !buf.is_empty() {
                match parse_request(buf) {
                    Some(Ok(request)) => return Read::Request(request),
                    Some(Err(())) => return Read::Bad,
                    None => {}
                }
            }
            if buf.len() >= MAX_REQUEST {
                return Read::Bad;
            }
            buf.reserve(REQUEST_BUFFER);
            if !matches!(stream.read_buf(buf).await, Ok(n) if n > 0) {
                return Read::Gone;
            }
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, head)
        .await
        .unwrap_or(Read::Gone)
}

/// Parses a request head at the start of `buf` and takes it out: `None` if incomplete,
/// `Err` if it is not a `GET` the server answers.
fn parse_request(buf: &mut Vec<u8>) -> Option<Result<Request, ()>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some(Err(())),
    };
    let (Some("GET"), Some(path), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Some(Err(()));
    };
    let (mut close, mut keep_alive, mut body) = (false, false, false);
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding")
            || (header.name.eq_ignore_ascii_case("content-length")
                && header.value.trim_ascii() != b"0")
        {
            // A body the server does not read: the connection cannot carry another request.
            body = true;
        }
    }
    let http10 = version == 0;
    let request = Request {
        path: path.to_owned(),
        keep: !close && !body && (!http10 || keep_alive),
        http10,
    };
    buf.drain(..len);
    Some(Ok(request))
}

fn respond(site: &Site, door: &Door, route: Route, persist: Persist) -> Vec<u8> {
    match route {
        Route::Page(i) => ok(
            "text/html; charset=utf-8",
            &door.page(&site.spec, i),
            persist,
        ),
        Route::Text(i) => ok("text/plain", &site.spec.render_text(i), persist),
        Route::Redirect(code, to) => {
            let body = format!("moved to {to}\n");
            let headers = format!("Location: {to}\r\nContent-Type: text/plain\r\n");
            response(code, &headers, body.as_bytes(), persist)
        }
        Route::NotFound => simple(404, "not found", persist),
        Route::Robots => ok(
            "text/plain",
            site.spec.robots.as_deref().unwrap_or("").as_bytes(),
            persist,
        ),
        Route::Busy(n) => {
            let (status, wait, times) = site::BUSY[n];
            if door.busy_requests[n].fetch_add(1, Ordering::Relaxed) >= times {
                return ok("text/plain", b"ready\n", persist);
            }
            busy(status, wait, persist)
        }
        Route::Fault(_) => unreachable!("faults are served by `faults::serve`"),
    }
}

/// A 429 or 503, with its `Retry-After` (and a `Date` for a date) as [`site::BUSY`] says.
fn busy(status: u16, wait: site::BusyWait, persist: Persist) -> Vec<u8> {
    let now = SystemTime::now();
    let headers = match wait {
        site::BusyWait::Seconds(n) => format!("Retry-After: {n}\r\n"),
        site::BusyWait::Date(n) => format!(
            "Date: {}\r\nRetry-After: {}\r\n",
            httpdate::fmt_http_date(now),
            httpdate::fmt_http_date(now + Duration::from_secs(u64::from(n)))
        ),
        site::BusyWait::Backoff => String::new(),
    };
    let headers = format!("{headers}Content-Type: text/plain\r\n");
    response(status, &headers, b"busy\n", persist)
}

fn ok(content_type: &str, body: &[u8], persist: Persist) -> Vec<u8> {
    response(
        200,
        &format!("Content-Type: {content_type}\r\n"),
        body,
        persist,
    )
}

fn simple(code: u16, body: &str, persist: Persist) -> Vec<u8> {
    response(
        code,
        "Content-Type: text/html\r\n",
        body.as_bytes(),
        persist,
    )
}

/// A whole response framed by `Content-Length`: the status line, `headers` (each line ending
/// in CRLF), the length, what `persist` says about the connection, and the body.
pub(crate) fn response(code: u16, headers: &str, body: &[u8], persist: Persist) -> Vec<u8> {
    // One allocation: the head is written in place, then the body after it.
    let mut response = Vec::with_capacity(HEAD_BYTES + headers.len() + body.len());
    let _ = write!(
        response,
        "{} {code} {}\r\n{headers}Content-Length: {}\r\n{}\r\n",
        persist.version(),
        reason(code),
        body.len(),
        persist.connection()
    );
    response.extend_from_slice(body);
    response
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page served from memory is the page rendered for the request, the root's extra links
    /// included, and pages past the rendered ones are still served.
    #[test]
    fn rendered_pages_are_the_pages() {
        let spec = SiteSpec {
            pages: 40,
            faults: true,
            ..SiteSpec::default()
        };
        let extras = Extras::Tls { twin: true };
        let door = Door::new("https://h:1".into(), None, None, extras).render(&spec);
        assert_eq!(door.pages.len(), 40);
        for i in [0, 1, 39] {
            let page = spec.render_page_with(i, "https://h:1", &extras.root_links());
            assert_eq!(*door.page(&spec, i), page[..], "page {i}");
        }
        let links = extras.root_links();
        assert!(!links.is_empty());
        assert!(
            door.page(&spec, 0)
                .windows(links.len())
                .any(|w| w == links.as_bytes())
        );
        let unrendered = Door::new("https://h:1".into(), None, None, extras);
        assert_eq!(unrendered.page(&spec, 39), door.page(&spec, 39));
    }

    /// What a client that closes every connection gets is what the server always wrote.
    #[test]
    fn close_mode_responses_are_unchanged() {
        assert_eq!(
            ok("text/plain", b"hi", Persist::Close),
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        assert_eq!(
            simple(404, "not found", Persist::Close),
            b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
        );
        let redirect = respond(
            &Site {
                spec: SiteSpec::default(),
                keep_alive: KeepAlive::default(),
                stats: Arc::default(),
            },
            &Door::new("http://h:1".into(), None, None, Extras::None),
            Route::Redirect(301, "/p/3".into()),
            Persist::Close,
        );
        assert_eq!(
            String::from_utf8(redirect).unwrap(),
            "HTTP/1.0 301 Moved Permanently\r\nLocation: /p/3\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: close\r\n\r\nmoved to /p/3\n"
        );
        let busy = String::from_utf8(busy(429, BusyWait::Seconds(1), Persist::Close)).unwrap();
        assert_eq!(
            busy,
            "HTTP/1.0 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n"
        );
    }

    #[test]
    fn kept_responses_say_so() {
        let keep = ok("text/plain", b"hi", Persist::Keep { http10: false });
        assert_eq!(
            keep,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
        );
        let keep10 = String::from_utf8(ok("text/plain", b"", Persist::Keep { http10: true }));
        assert!(keep10.unwrap().contains("\r\nConnection: keep-alive\r\n"));
        let last = String::from_utf8(ok("text/plain", b"", Persist::Last)).unwrap();
        assert!(last.starts_with("HTTP/1.1 200 OK\r\n"), "{last}");
        assert!(last.contains("\r\nConnection: close\r\n"), "{last}");
    }

    fn parse(text: &str) -> Option<Result<Request, ()>> {
        parse_request(&mut text.as_bytes().to_vec())
    }

    #[test]
    fn requests_keep_their_connection_as_http_says() {
        let keeps = |text: &str| parse(text).unwrap().unwrap().keep;
        assert!(keeps("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert!(!keeps("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!keeps(
            "GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n"
        ));
        assert!(!keeps("GET / HTTP/1.0\r\nHost: h\r\n\r\n"));
        assert!(!keeps(
            "GET / HTTP/1.0\r\nHost: h\r\nConnection: close\r\n\r\n"
        ));
        assert!(keeps("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!keeps("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
        assert!(keeps("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
        assert!(parse("GET / HTTP/1.1\r\nHost: h\r\n").is_none());
        assert!(matches!(parse("POST / HTTP/1.1\r\n\r\n"), Some(Err(()))));
    }

    /// What a plain connection costs while it waits: its task's future, a few hundred bytes
    /// (a fault's future held inline made it 70 KiB, and the TLS session 5 KiB).
    #[test]
    fn a_plain_connection_task_is_small() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap());
            let (client, accepted) = tokio::join!(client, listener.accept());
            let (_client, (stream, _)) = (client.unwrap(), accepted.unwrap());
            let site = Arc::new(Site {
                spec: SiteSpec::default(),
                keep_alive: KeepAlive::default(),
                stats: Arc::default(),
            });
            let door = Arc::new(Door::new("http://h:1".into(), None, None, Extras::None));
            let task = connection(stream, site, door);
            let size = std::mem::size_of_val(&task);
            assert!(size <= 1024, "a connection's future is {size} bytes");
        });
    }

    /// A second request already in the buffer is left there, whole, for the next read.
    #[test]
    fn a_pipelined_request_stays_in_the_buffer() {
        let mut buf = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n".to_vec();
        let first = parse_request(&mut buf).unwrap().unwrap();
        assert_eq!(first.path, "/a");
        assert_eq!(buf, b"GET /b HTTP/1.1\r\n\r\n");
        let second = parse_request(&mut buf).unwrap().unwrap();
        assert_eq!(second.path, "/b");
        assert!(buf.is_empty());
    }
}
