//! The shared test server: a deterministic site every strategy crawls, and the manifest of what
//! a full crawl must find.
//!
//! - [`site`] decides the pages, their links and the manifest (pure, no I/O);
//! - [`Server`] serves it over HTTP/1.0, one response per connection, on a tokio runtime of
//!   its own thread(s). A response held by `--delay-ms` waits on a timer, never on a sleeping
//!   thread, so thousands of delayed connections cost a few hundred bytes each.
//!
//! The server is not one of the crawlers under study: it only has to be correct and far cheaper
//! than what it serves. Tests start it in-process on port 0; `c10k serve` runs it as a separate
//! process so benchmarks measure the crawler alone.

#![deny(missing_docs)]

pub mod faults;
pub mod site;

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::watch,
};

pub use site::{BUSY, BusyWait, Manifest, Route, SiteSpec};

/// The accept queue asked of the kernel (it is capped by `net.core.somaxconn`).
const BACKLOG: u32 = 65_535;
/// A request head larger than this is refused.
const MAX_REQUEST: usize = 8 * 1024;
/// A client that sends no complete request within this time is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            spec: SiteSpec::default(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            threads: 1,
            name: None,
            log: false,
        }
    }
}

/// Counters the server keeps while it runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Responses written completely.
    pub responses: AtomicU64,
    /// Accept failures (for example when out of file descriptors), each followed by a pause.
    pub accept_errors: AtomicU64,
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
}

/// A running test server; dropping it stops the server and waits for its thread.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    origin: String,
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
        let listener = runtime.block_on(async { listen(options.addr) })?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Stats {
            log: options.log.then(Mutex::default),
            ..Stats::default()
        });
        let (shutdown, stop) = watch::channel(false);
        let origin = match &options.name {
            Some(name) => format!("http://{name}:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let site = Arc::new(Site {
            spec: options.spec,
            origin: origin.clone(),
            stats: Arc::clone(&stats),
            flaky_requests: AtomicU32::new(0),
            busy_requests: Default::default(),
        });
        let thread = thread::Builder::new()
            .name("testsite".into())
            .spawn(move || runtime.block_on(accept_loop(listener, site, stop)))?;
        Ok(Server {
            addr,
            origin,
            stats,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT/` (or `http://NAME:PORT/` with a name), the root of the site.
    pub fn url(&self) -> String {
        format!("{}/", self.origin)
    }

    /// The manifest of a full crawl of this server's site.
    pub fn manifest(&self, spec: &SiteSpec) -> Manifest {
        spec.manifest(&self.origin)
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

/// What every connection task shares.
#[derive(Debug)]
struct Site {
    spec: SiteSpec,
    origin: String,
    stats: Arc<Stats>,
    /// Requests for the flaky fault page so far: it fails the first two.
    flaky_requests: AtomicU32,
    /// Requests for each busy page so far.
    busy_requests: [AtomicU32; site::BUSY.len()],
}

async fn accept_loop(listener: TcpListener, site: Arc<Site>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    site.stats.accepted.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve_connection(stream, Arc::clone(&site)));
                }
                Err(_) => {
                    // Out of descriptors (EMFILE) or a connection reset while queued: pause so
                    // closing connections can free descriptors, instead of spinning or dying.
                    site.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn serve_connection(mut stream: TcpStream, site: Arc<Site>) {
    let path = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(Some(path))) => path,
        Ok(Ok(None)) => {
            let _ = stream.write_all(&simple(400, "bad request")).await;
            return;
        }
        Ok(Err(_)) | Err(_) => return,
    };
    if let Some(log) = &site.stats.log {
        let arrived = (path.clone(), Instant::now());
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(arrived);
    }
    if !site.spec.delay.is_zero() {
        tokio::time::sleep(site.spec.delay).await;
    }
    if let site::Route::Fault(fault) = site.spec.route(&path) {
        faults::serve(stream, fault, &site.origin, &site.flaky_requests).await;
        return;
    }
    let response = respond(&site, &path);
    if stream.write_all(&response).await.is_ok() {
        site.stats.responses.fetch_add(1, Ordering::Relaxed);
        let _ = stream.shutdown().await;
    }
}

/// Reads a request head; returns its path, `None` if it is not a valid `GET`.
async fn read_request(stream: &mut TcpStream) -> io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(512);
    loop {
        if buf.len() >= MAX_REQUEST {
            return Ok(None);
        }
        buf.reserve(512);
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                return Ok(match (request.method, request.path) {
                    (Some("GET"), Some(path)) => Some(path.to_owned()),
                    _ => None,
                });
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return Ok(None),
        }
    }
}

fn respond(site: &Site, path: &str) -> Vec<u8> {
    match site.spec.route(path) {
        site::Route::Page(i) => ok(
            "text/html; charset=utf-8",
            &site.spec.render_page(i, &site.origin),
        ),
        site::Route::Text(i) => ok("text/plain", &site.spec.render_text(i)),
        site::Route::Redirect(code, to) => {
            let body = format!("moved to {to}\n");
            format!(
                "HTTP/1.0 {code} {}\r\nLocation: {to}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                reason(code),
                body.len()
            )
            .into_bytes()
        }
        site::Route::NotFound => simple(404, "not found"),
        site::Route::Robots => ok(
            "text/plain",
            site.spec.robots.as_deref().unwrap_or("").as_bytes(),
        ),
        site::Route::Busy(n) => {
            let (status, wait, times) = site::BUSY[n];
            if site.busy_requests[n].fetch_add(1, Ordering::Relaxed) >= times {
                return ok("text/plain", b"ready\n");
            }
            busy(status, wait)
        }
        site::Route::Fault(_) => unreachable!("faults are served by `faults::serve`"),
    }
}

/// A 429 or 503, with its `Retry-After` (and a `Date` for a date) as [`site::BUSY`] says.
fn busy(status: u16, wait: site::BusyWait) -> Vec<u8> {
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
    let body = "busy\n";
    format!(
        "HTTP/1.0 {status} {}\r\n{headers}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

fn ok(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

fn simple(code: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.0 {code} {}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(code),
        body.len()
    )
    .into_bytes()
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
