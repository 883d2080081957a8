//! A small HTTPS and keep-alive site for the event-driven strategies' own tests (callbacks and
//! generators include this file), and the tests themselves (`connection_tests!`).
//!
//! Blocking and plain: a thread per connection, rustls' `StreamOwned` for TLS with a CA and
//! certificate of the test site's (`c10k_testsite::tls_fixture`), requests read up to their
//! blank line, pages with `Content-Length`. Where the shared test server (`c10k serve --tls`)
//! checks a crawl's outcomes, this one counts what these tests check of the connections: how
//! many it accepted, how many requests came on them, and how many are still open, so that a
//! test sees that a crawl closed every connection it kept before it returned.

#![allow(dead_code, unreachable_pub)]

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use c10k_core::{Config, Report, Status, parse_root};
use rustls::{ServerConfig, ServerConnection, StreamOwned, pki_types::CertificateDer};

/// How the site answers.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Pages besides the root, which links to all of them.
    pub pages: usize,
    /// Over TLS.
    pub tls: bool,
    /// Requests one connection answers before `Connection: close` (HTTP/1.1 requests).
    pub max_requests: usize,
    /// Close each connection right after its response, though the response says it is kept:
    /// the server letting an idle connection go, as the client reuses it.
    pub drop_idle: bool,
    /// How long each response is held back, so that many fetches are in flight at once.
    pub delay: Duration,
    /// Hold every page's response back until this many pages have been asked for (at most
    /// ten seconds): all the fetches of a crawl at that concurrency are in flight at once.
    pub hold_until: Option<usize>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            pages: 40,
            tls: false,
            max_requests: 1000,
            drop_idle: false,
            delay: Duration::ZERO,
            hold_until: None,
        }
    }
}

/// What the site saw.
#[derive(Debug, Default)]
pub struct Counts {
    pub accepted: AtomicUsize,
    pub open: AtomicUsize,
    pub requests: AtomicUsize,
    /// Requests that asked to keep the connection (HTTP/1.1).
    pub kept_alive: AtomicUsize,
    /// Requests for pages (not the root nor robots.txt).
    pub pages: AtomicUsize,
}

/// A running site.
pub struct Site {
    pub spec: Spec,
    pub addr: SocketAddr,
    pub ca: Option<CertificateDer<'static>>,
    pub counts: Arc<Counts>,
    server: Option<Arc<ServerConfig>>,
}

impl Site {
    /// Starts the site on a port of its own; it runs until the test process ends.
    pub fn start(spec: Spec) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (ca, server) = if spec.tls {
            let fixture =
                c10k_testsite::tls_fixture(&["127.0.0.1"], false).expect("a CA and a certificate");
            (Some(fixture.ca.der()), Some(fixture.server))
        } else {
            (None, None)
        };
        let counts = Arc::new(Counts::default());
        let shared = Arc::clone(&counts);
        let config = server.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                // Small responses after the session tickets must not wait for an ACK.
                let _ = stream.set_nodelay(true);
                let (server, counts) = (server.clone(), Arc::clone(&shared));
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                counts.open.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    let _ = serve(stream, server, spec, &counts);
                    counts.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Site {
            spec,
            addr,
            ca,
            counts,
            server: config,
        }
    }

    /// A site another process runs at `addr`, signed by `ca` (its counts are not known here).
    pub fn remote(spec: Spec, addr: SocketAddr, ca: Option<CertificateDer<'static>>) -> Site {
        Site {
            spec,
            addr,
            ca,
            counts: Arc::default(),
            server: None,
        }
    }

    /// The server side of its TLS.
    pub fn server_config(&self) -> Option<Arc<ServerConfig>> {
        self.server.clone()
    }

    /// A config for a crawl of the site at `concurrency`, trusting its CA.
    pub fn config(&self, concurrency: usize, keep_alive: bool) -> Config {
        let scheme = if self.spec.tls { "https" } else { "http" };
        let root = parse_root(&format!("{scheme}://{}/", self.addr)).unwrap();
        let mut config = Config::new(root, self.addr);
        config.concurrency = concurrency;
        config.keep_alive = keep_alive;
        config.timeout = Duration::from_secs(5);
        config.tls.extra_roots.extend(self.ca.clone());
        config
    }

    /// Waits (a little) for every connection to be closed by the client.
    pub fn all_closed(&self) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while self.counts.open.load(Ordering::SeqCst) > 0 {
            if Instant::now() > until {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Checks a report of a crawl of the whole site: every page once, each a 200 in one try.
    pub fn check_pages(&self, report: &Report) {
        assert_eq!(report.records.len(), self.spec.pages + 1, "{report:?}");
        for record in &report.records {
            assert_eq!(record.status, Status::Http(200), "{record:?}");
            assert_eq!(record.tries, 1, "{record:?}");
        }
    }

    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::SeqCst)
    }
}

fn serve(
    stream: TcpStream,
    server: Option<Arc<ServerConfig>>,
    spec: Spec,
    counts: &Counts,
) -> io::Result<()> {
    match server {
        Some(server) => {
            let conn = ServerConnection::new(server).map_err(io::Error::other)?;
            let mut tls = StreamOwned::new(conn, stream);
            answer(&mut tls, spec, counts)?;
            tls.conn.send_close_notify();
            tls.flush()
        }
        None => answer(&mut &stream, spec, counts),
    }
}

/// Answers requests on one connection until the client closes it, the last one it allows
/// is answered, or (`drop_idle`) after the first.
fn answer(stream: &mut impl ReadWrite, spec: Spec, counts: &Counts) -> io::Result<()> {
    let mut buf = Vec::new();
    for n in 1.. {
        let head = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break buf.drain(..end + 4).collect::<Vec<u8>>();
            }
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk)? {
                0 => return Ok(()),
                k => buf.extend_from_slice(&chunk[..k]),
            }
        };
        counts.requests.fetch_add(1, Ordering::SeqCst);
        let head = String::from_utf8_lossy(&head);
        let mut words = head.split_whitespace();
        let (_, path, version) = (words.next(), words.next().unwrap_or("/"), words.next());
        let keep = version == Some("HTTP/1.1") && !head.contains("Connection: close");
        counts
            .kept_alive
            .fetch_add(usize::from(keep), Ordering::SeqCst);
        let last = !keep || n >= spec.max_requests;
        let (status, body) = page(path, spec.pages);
        thread::sleep(spec.delay);
        if let Some(all) = spec.hold_until
            && path.starts_with("/p/")
        {
            counts.pages.fetch_add(1, Ordering::SeqCst);
            let until = Instant::now() + Duration::from_secs(10);
            while counts.pages.load(Ordering::SeqCst) < all && Instant::now() < until {
                thread::sleep(Duration::from_millis(1));
            }
        }
        let response = format!(
            "{} {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n{}\r\n{body}",
            if keep { "HTTP/1.1" } else { "HTTP/1.0" },
            body.len(),
            if last && keep {
                "Connection: close\r\n"
            } else {
                ""
            },
        );
        stream.write_all(response.as_bytes())?;
        stream.flush()?;
        if last || spec.drop_idle {
            return Ok(());
        }
    }
    Ok(())
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn page(path: &str, pages: usize) -> (&'static str, String) {
    let link = |i: usize| format!("<a href=\"/p/{i}\">{i}</a>\n");
    if path == "/" {
        return ("200 OK", (0..pages).map(link).collect());
    }
    match path
        .strip_prefix("/p/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(i) if i < pages => ("200 OK", link((i + 1) % pages) + &link(i / 2)),
        _ => ("404 Not Found", "no such page".to_owned()),
    }
}

/// A strategy's crawl with `loops` event loops.
pub type Crawl = fn(&Config, usize) -> Report;

/// https, one connection per fetch: every page, one handshake per connection, later ones
/// resumed, and nothing left open.
pub fn tls_close(crawl: Crawl, loops: usize) {
    let site = Site::start(Spec {
        tls: true,
        ..Spec::default()
    });
    let report = crawl(&site.config(4, false), loops);
    site.check_pages(&report);
    let conns = report.connections;
    assert_eq!(
        (conns.handshakes + conns.resumed) as usize,
        site.accepted(),
        "{conns:?}"
    );
    assert!(conns.resumed > 0, "sessions resumed: {conns:?}");
    assert_eq!((conns.reused, conns.kept), (0, 0), "{conns:?}");
    assert!(site.all_closed(), "a connection left open");
}

/// Keep-alive, plain or over TLS: every page, each request on a fresh connection or a reused
/// one, no more connections than the concurrency (and robots.txt's, which is not kept), a
/// handshake only on a fresh one, and every kept connection closed before the crawl returns.
pub fn keep_alive(crawl: Crawl, loops: usize, tls: bool) {
    const CONCURRENCY: usize = 4;
    let site = Site::start(Spec {
        tls,
        ..Spec::default()
    });
    let report = crawl(&site.config(CONCURRENCY, true), loops);
    site.check_pages(&report);
    let conns = report.connections;
    assert!(conns.reused > 0, "{conns:?}");
    assert_eq!(
        site.accepted() + conns.reused as usize,
        site.requests(),
        "each request on a fresh connection or a kept one: {conns:?}"
    );
    assert!(conns.kept >= conns.reused, "{conns:?}");
    assert!(site.accepted() <= CONCURRENCY + 1, "{}", site.accepted());
    let handshakes = (conns.handshakes + conns.resumed) as usize;
    assert_eq!(
        handshakes,
        if tls { site.accepted() } else { 0 },
        "{conns:?}"
    );
    assert_eq!(conns.stale, 0, "{conns:?}");
    assert!(site.all_closed(), "a kept connection left open");
}

/// The server closes every connection after its response, though it said it would keep it:
/// each reuse finds it closed before any response, and the request goes once more on a fresh
/// connection, without counting a try.
pub fn stale(crawl: Crawl, loops: usize, tls: bool) {
    let site = Site::start(Spec {
        tls,
        drop_idle: true,
        ..Spec::default()
    });
    let report = crawl(&site.config(4, true), loops);
    site.check_pages(&report);
    let conns = report.connections;
    assert!(conns.stale > 0, "{conns:?}");
    assert_eq!(conns.stale, conns.reused, "{conns:?}");
    assert!(site.all_closed(), "a connection left open");
}

/// `Connection: close` on every second response: such a connection is not kept.
pub fn closed_by_the_server(crawl: Crawl, loops: usize, tls: bool) {
    let site = Site::start(Spec {
        tls,
        max_requests: 2,
        ..Spec::default()
    });
    let report = crawl(&site.config(4, true), loops);
    site.check_pages(&report);
    let conns = report.connections;
    assert!(conns.reused > 0, "{conns:?}");
    assert_eq!(site.accepted() + conns.reused as usize, site.requests());
    assert!(conns.reused <= site.accepted() as u64, "{conns:?}");
    assert!(site.all_closed(), "a connection left open");
}

/// What a broken https server does with each connection.
#[derive(Debug, Clone, Copy)]
enum Broken {
    /// Reads the ClientHello and says nothing.
    Stalls,
    /// Reads the ClientHello and closes.
    Closes,
    /// Answers plain HTTP, which is no TLS record.
    Garbage,
}

/// A server for https URLs that breaks every handshake the way `broken` says.
fn broken(broken: Broken) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                let mut hello = [0; 4096];
                let _ = stream.read(&mut hello);
                match broken {
                    Broken::Stalls => thread::sleep(Duration::from_secs(5)),
                    Broken::Closes => {}
                    Broken::Garbage => {
                        let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello");
                    }
                }
            });
        }
    });
    addr
}

/// TLS failures are the fetch's outcome: an untrusted certificate (`error:tls`), a server
/// that answers no TLS (`error:tls`), one that closes in the handshake (`error:reset`), one
/// that stalls in it (`error:timeout`, within the fetch's deadline).
pub fn tls_failures(crawl: Crawl, loops: usize) {
    let outcome = |addr: SocketAddr, trust: Option<CertificateDer<'static>>| {
        let root = parse_root(&format!("https://{addr}/")).unwrap();
        let mut config = Config::new(root, addr);
        config.robots = false;
        config.max_tries = 1;
        config.timeout = Duration::from_millis(300);
        config.tls.extra_roots.extend(trust);
        let report = crawl(&config, loops);
        assert_eq!(report.records.len(), 1, "{report:?}");
        report.records[0].status.to_string()
    };
    let site = Site::start(Spec {
        tls: true,
        pages: 0,
        ..Spec::default()
    });
    assert_eq!(outcome(site.addr, site.ca.clone()), "200");
    assert_eq!(outcome(site.addr, None), "error:tls");
    assert_eq!(outcome(broken(Broken::Garbage), None), "error:tls");
    assert_eq!(outcome(broken(Broken::Closes), None), "error:reset");
    let started = Instant::now();
    assert_eq!(outcome(broken(Broken::Stalls), None), "error:timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The trace of an https keep-alive crawl whose server lets kept connections go keeps the
/// order the shared trace suite asks of every model: per fetch, a connect or a reuse before the
/// request, a handshake only after a connect, reads only after the request, a second request
/// only after a stale reuse, and `kept` just before `completed`.
pub fn trace_order(crawl: Crawl, loops: usize, drop_idle: bool) {
    use c10k_core::{Tracer, trace::Memory};
    use std::collections::BTreeMap;
    let site = Site::start(Spec {
        tls: true,
        pages: 12,
        drop_idle,
        ..Spec::default()
    });
    let mut config = site.config(3, true);
    let memory = Memory::default();
    config.trace = Some(Arc::new(Tracer::new(memory.clone())));
    let report = crawl(&config, loops);
    site.check_pages(&report);
    let text = memory.text();
    let mut fetches: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for line in text.lines() {
        // `   12.345 ms  #7    thread      event words…`
        let words: Vec<&str> = line.split_whitespace().collect();
        let id = words[2][1..].parse().unwrap();
        let event = words[4..].join(" ");
        let kind = match words[4] {
            "request" => "written",
            "tls" => "handshake",
            "connection" if event == "connection reused" => "reused",
            "connection" => "kept",
            "reused" => "stale",
            other => other,
        };
        fetches.entry(id).or_default().push(kind);
    }
    let mut seen = BTreeMap::new();
    for (id, kinds) in &fetches {
        let at = |k: &str| kinds.iter().position(|&x| x == k);
        let count = |k: &str| kinds.iter().filter(|&&x| x == k).count();
        for k in &[
            "start",
            "connected",
            "handshake",
            "reused",
            "stale",
            "kept",
            "completed",
        ] {
            assert!(count(k) <= 1, "#{id}: {kinds:?}");
            *seen.entry(*k).or_insert(0) += count(k);
        }
        assert!(count("written") <= 1 + count("stale"), "#{id}: {kinds:?}");
        let written = at("written").unwrap();
        let open = [at("connected"), at("reused")].into_iter().flatten().min();
        assert!(open.is_some_and(|open| open < written), "#{id}: {kinds:?}");
        if let Some(handshake) = at("handshake") {
            assert!(
                at("connected").is_some_and(|c| c < handshake),
                "#{id}: {kinds:?}"
            );
        }
        if let Some(read) = at("read") {
            assert!(written < read, "#{id}: {kinds:?}");
        }
        if let Some(kept) = at("kept") {
            assert_eq!(kept + 2, kinds.len(), "#{id}: {kinds:?}");
        }
    }
    assert!(seen["reused"] > 0 && seen["handshake"] > 0, "{seen:?}");
    assert_eq!(seen["stale"] > 0, drop_idle, "{seen:?}");
}

/// A strategy crate's crawl with `loops` event loops, as a [`Crawl`]: `$strategy::crawl` with
/// `$strategy::Options { loops, .. }`.
#[macro_export]
macro_rules! crawl_with_loops {
    ($strategy:ident) => {
        fn crawl(config: &c10k_core::Config, loops: usize) -> c10k_core::Report {
            let options = $strategy::Options {
                loops,
                ..$strategy::Options::default()
            };
            $strategy::crawl(config, &options).expect("the crawl runs")
        }
    };
}

/// The tests above, for the strategy crate `$strategy`, on one loop and on two: what each
/// event-driven crate's `tests/connections.rs` runs.
#[macro_export]
macro_rules! connection_tests {
    ($strategy:ident) => {
        crawl_with_loops!($strategy);

        #[test]
        fn https_one_connection_per_fetch() {
            site::tls_close(crawl, 1);
            site::tls_close(crawl, 2);
        }

        #[test]
        fn keep_alive() {
            site::keep_alive(crawl, 1, false);
            site::keep_alive(crawl, 2, false);
        }

        #[test]
        fn keep_alive_over_tls() {
            site::keep_alive(crawl, 1, true);
            site::keep_alive(crawl, 2, true);
        }

        #[test]
        fn a_kept_connection_the_server_closed_is_opened_again() {
            site::stale(crawl, 1, false);
            site::stale(crawl, 2, true);
        }

        #[test]
        fn a_connection_the_server_closes_is_not_kept() {
            site::closed_by_the_server(crawl, 1, false);
            site::closed_by_the_server(crawl, 2, true);
        }

        #[test]
        fn tls_failures_are_outcomes() {
            site::tls_failures(crawl, 1);
            site::tls_failures(crawl, 2);
        }

        #[test]
        fn the_trace_shows_handshakes_and_reuse_in_order() {
            site::trace_order(crawl, 1, false);
            site::trace_order(crawl, 2, true);
        }
    };
}
