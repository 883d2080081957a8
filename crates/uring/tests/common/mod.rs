//! What the crate's integration tests share: a small site on loopback, HTTP/1.1 with
//! keep-alive, over TLS or not (the project's test server speaks neither yet; the certificate
//! and its CA are the test site's, `c10k_testsite::tls_fixture`), and the check that io_uring
//! can be used here.

// Not every test binary that includes this module uses all of it.
#![allow(dead_code)]

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use c10k_core::{Config, parse_root};
use rustls::{ServerConnection, StreamOwned, pki_types::CertificateDer};

/// How the test site behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Behaviour {
    /// Over TLS.
    pub(crate) tls: bool,
    /// Pages the root links to, `/p/1` … `/p/N`.
    pub(crate) pages: usize,
    /// Bytes of each page's body, at least.
    pub(crate) page_bytes: usize,
    /// How long each page waits before it is answered.
    pub(crate) delay: Duration,
    /// If set, the root links first to `/slow`, answered after this long.
    pub(crate) slow: Option<Duration>,
    /// Requests answered on one connection; the last says `Connection: close`.
    pub(crate) max_requests: usize,
    /// Closes each connection after its first response without saying so (as a server does
    /// when an idle connection times out just as the client reuses it).
    pub(crate) drop_after_response: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            tls: false,
            pages: 40,
            page_bytes: 0,
            delay: Duration::ZERO,
            slow: None,
            max_requests: usize::MAX,
            drop_after_response: false,
        }
    }
}

/// A site on loopback: `/` links to the pages, small HTML with no links; HTTP/1.1 with
/// `Content-Length`, keeping the connection unless the request says otherwise; robots.txt
/// not found. A thread per connection.
pub(crate) struct Site {
    pub(crate) addr: SocketAddr,
    /// The CA that signed the site's certificate (TLS), and its PEM.
    pub(crate) ca: Option<(CertificateDer<'static>, String)>,
    /// Connections accepted, and ended (the client closed its side, or the server did).
    pub(crate) accepted: Arc<AtomicUsize>,
    pub(crate) ended: Arc<AtomicUsize>,
}

impl Site {
    pub(crate) fn start(behaviour: Behaviour) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tls, ca) = if behaviour.tls {
            let fixture = c10k_testsite::tls_fixture(&["localhost", "127.0.0.1"], false)
                .expect("a CA and a certificate");
            (
                Some(fixture.server),
                Some((fixture.ca.der(), fixture.ca.pem())),
            )
        } else {
            (None, None)
        };
        let accepted = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        let (on_accept, on_end) = (Arc::clone(&accepted), Arc::clone(&ended));
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                on_accept.fetch_add(1, Ordering::SeqCst);
                let tls = tls.clone();
                let on_end = Arc::clone(&on_end);
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    match tls {
                        Some(config) => {
                            let conn = ServerConnection::new(config).unwrap();
                            let mut stream = StreamOwned::new(conn, stream);
                            serve(&mut stream, behaviour);
                            stream.conn.send_close_notify();
                            let _ = stream.flush();
                        }
                        None => serve(&mut &stream, behaviour),
                    }
                    on_end.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Site {
            addr,
            ca,
            accepted,
            ended,
        }
    }

    /// The root's URL.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/", self.addr.port())
    }

    /// A crawl of the site at `concurrency`, trusting its CA.
    pub(crate) fn config(&self, concurrency: usize, keep_alive: bool) -> Config {
        let mut config = Config::new(parse_root(&self.url()).unwrap(), self.addr);
        config.concurrency = concurrency;
        config.keep_alive = keep_alive;
        config.timeout = Duration::from_secs(10);
        config.connect_timeout = config.timeout;
        config
            .tls
            .extra_roots
            .extend(self.ca.as_ref().map(|(ca, _)| ca.clone()));
        config
    }

    /// Waits until every connection accepted has ended (the crawler closed what it kept).
    pub(crate) fn all_ended(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.ended.load(Ordering::SeqCst) == self.accepted.load(Ordering::SeqCst) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

/// Answers the requests of one connection until the client or the behaviour ends it.
fn serve<S: Read + Write>(stream: &mut S, behaviour: Behaviour) {
    let mut reader = BufReader::new(stream);
    for served in 1.. {
        let Some((path, close)) = request(&mut reader) else {
            return;
        };
        let close = close || served >= behaviour.max_requests;
        let (status, body) = match path.as_str() {
            "/" => {
                let slow = behaviour.slow.map(|_| "<a href=\"/slow\">slow</a>\n");
                let links: String = slow
                    .into_iter()
                    .map(str::to_owned)
                    .chain((1..=behaviour.pages).map(|n| format!("<a href=\"/p/{n}\">{n}</a>\n")))
                    .collect();
                ("200 OK", format!("<html><body>{links}</body></html>"))
            }
            "/robots.txt" => ("404 Not Found", String::new()),
            page => {
                let wait = match page {
                    "/slow" => behaviour.slow.unwrap_or_default(),
                    _ => behaviour.delay,
                };
                thread::sleep(wait);
                let padding = "x".repeat(behaviour.page_bytes);
                (
                    "200 OK",
                    format!("<html><body>{page}{padding}</body></html>"),
                )
            }
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" },
        );
        let stream = reader.get_mut();
        if stream.write_all(response.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
        if close || behaviour.drop_after_response {
            return;
        }
    }
}

/// The path of the next request, and whether it asks to close: `None` at the end.
fn request(reader: &mut impl BufRead) -> Option<(String, bool)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let mut words = line.split_whitespace();
    let path = words.nth(1)?.to_owned();
    let mut close = words.next() == Some("HTTP/1.0");
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok().filter(|&n| n > 0)?;
        if header.trim().is_empty() {
            return Some((path, close));
        }
        close |= header.to_ascii_lowercase().starts_with("connection: close");
    }
}

/// Whether io_uring is unavailable here; if so, says so on stderr (directly, so that it shows
/// under `cargo test`'s capture).
pub(crate) fn skipped() -> bool {
    match c10k_uring::unavailable() {
        Some(reason) => {
            let _ = writeln!(io::stderr(), "skipping: {reason}");
            true
        }
        None => false,
    }
}
