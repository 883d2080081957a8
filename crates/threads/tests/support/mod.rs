//! A small HTTP/1.1 site for the connection tests of threads and async (which includes this
//! module by path), and the checks both run against it (`checks.rs`): plain or TLS (a CA
//! and a leaf for 127.0.0.1 from `c10k_testsite::tls_fixture`), one connection per response
//! or kept alive, with the faults a kept connection meets. A thread per connection, blocking: it only has to be
//! right, and to count the connections it accepted.

// Each test binary that includes this module uses its own part of it.
#![allow(dead_code)]

pub(crate) mod checks;

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

use c10k_core::{Config, parse_root};
use rustls::{ServerConnection, StreamOwned, pki_types::CertificateDer};

/// What a connection of the site does besides answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Nothing: every request answered.
    None,
    /// The second request on a connection is read and the connection closed without an
    /// answer: the server let it go just as it was reused.
    DropSecond,
    /// Right after each response on a kept connection, in a write of their own, the bytes
    /// of another response (a 302 to `/smuggled`), which no request asked for: read with the
    /// response (more bytes than it said), or found on the connection while it is idle.
    StrayAfter,
    /// The root's body is delimited by the close, which comes without `close_notify` (TLS).
    UncleanEnd,
    /// The root's body is delimited by the close, which comes after `close_notify` (TLS).
    CleanEnd,
}

/// How the site is served.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// Pages linked from the root.
    pub(crate) pages: usize,
    /// Over TLS.
    pub(crate) tls: bool,
    /// Answer HTTP/1.1 requests on a kept connection (else every answer closes it).
    pub(crate) keep_alive: bool,
    /// See [`Fault`].
    pub(crate) fault: Fault,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            pages: 30,
            tls: false,
            keep_alive: true,
            fault: Fault::None,
        }
    }
}

/// A running site (its threads run until the test process ends).
pub(crate) struct Site {
    pub(crate) addr: SocketAddr,
    pub(crate) spec: Spec,
    /// The CA that signed the site's certificate, for `--ca-file`.
    pub(crate) ca: Option<CertificateDer<'static>>,
    accepted: Arc<AtomicUsize>,
}

impl Site {
    pub(crate) fn start(spec: Spec) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (ca, tls) = if spec.tls {
            let fixture =
                c10k_testsite::tls_fixture(&["127.0.0.1"], false).expect("a CA and a certificate");
            (Some(fixture.ca.der()), Some(fixture.server))
        } else {
            (None, None)
        };
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::Relaxed);
                // Each write its own segment, sent at once (the stray bytes' one too).
                let _ = stream.set_nodelay(true);
                let tls = tls.clone();
                thread::spawn(move || match tls {
                    Some(config) => {
                        let conn = ServerConnection::new(config).expect("a server connection");
                        let _ = serve(StreamOwned::new(conn, stream), spec);
                    }
                    None => {
                        let _ = serve(Plain(stream), spec);
                    }
                });
            }
        });
        Site {
            addr,
            spec,
            ca,
            accepted,
        }
    }

    /// The crawl's config: the site's root, its CA trusted.
    pub(crate) fn config(&self, concurrency: usize) -> Config {
        let scheme = if self.spec.tls { "https" } else { "http" };
        let root = parse_root(&format!("{scheme}://{}/", self.addr)).expect("the site's URL");
        let mut config = Config::new(root, self.addr);
        config.concurrency = concurrency;
        config.timeout = Duration::from_secs(5);
        config.connect_timeout = config.timeout;
        config.tls.extra_roots.extend(self.ca.clone());
        config
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// A connection the site answers on, plain or TLS.
trait Conn: Read + Write {
    /// Ends the connection: with `close_notify` first if `clean` (TLS).
    fn end(self, clean: bool);
}

struct Plain(TcpStream);

impl Read for Plain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Plain {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Conn for Plain {
    fn end(self, _clean: bool) {}
}

impl Conn for StreamOwned<ServerConnection, TcpStream> {
    fn end(mut self, clean: bool) {
        if clean {
            self.conn.send_close_notify();
            let _ = self.flush();
        }
    }
}

/// Answers the requests of one connection until it ends.
fn serve(mut conn: impl Conn, spec: Spec) -> io::Result<()> {
    for n in 1.. {
        let Some((path, http11)) = read_request(&mut conn)? else {
            return Ok(());
        };
        if spec.fault == Fault::DropSecond && n == 2 {
            return Ok(());
        }
        let keep = spec.keep_alive && http11;
        if path == "/" && matches!(spec.fault, Fault::UncleanEnd | Fault::CleanEnd) {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>to the end</p>")?;
            conn.end(spec.fault == Fault::CleanEnd);
            return Ok(());
        }
        let (status, body) = page(&path, spec.pages);
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if keep { "" } else { "Connection: close\r\n" },
        );
        conn.write_all(&[head.as_bytes(), body.as_bytes()].concat())?;
        conn.flush()?;
        if !keep {
            conn.end(true);
            return Ok(());
        }
        if spec.fault == Fault::StrayAfter {
            conn.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: /smuggled\r\nContent-Length: 0\r\n\r\n",
            )?;
            conn.flush()?;
        }
    }
    Ok(())
}

/// The status and body of `path`.
fn page(path: &str, pages: usize) -> (&'static str, String) {
    if path == "/" {
        let links: String = (1..=pages)
            .map(|n| format!("<a href=\"/p/{n}\">{n}</a>\n"))
            .collect();
        return ("200 OK", format!("<html><body>{links}</body></html>"));
    }
    match path
        .strip_prefix("/p/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) if (1..=pages).contains(&n) => ("200 OK", format!("<p>page {n}</p>")),
        _ if path == "/smuggled" => ("200 OK", "<p>read as the wrong answer</p>".to_owned()),
        _ => ("404 Not Found", String::new()),
    }
}

/// The next request's path, and whether it is HTTP/1.1; `None` at the end of the connection.
fn read_request(conn: &mut impl Read) -> io::Result<Option<(String, bool)>> {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => head.push(byte[0]),
            // The client went away without close_notify: the end too.
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(err) => return Err(err),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split_whitespace();
    let _method = words.next();
    let path = words.next().unwrap_or("/").to_owned();
    let http11 = words.next() == Some("HTTP/1.1");
    Ok(Some((path, http11)))
}
