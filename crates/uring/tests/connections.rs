//! The crawler over TLS and with kept connections, against a small site served on loopback
//! by this test (the project's test server speaks neither yet): every page fetched, in close
//! mode with a handshake per connection and resumed sessions, with keep-alive on as few
//! connections as the concurrency, a reused connection the server had closed sent again on a
//! fresh one, a server that ends a connection after a few requests, a certificate nobody
//! trusts; one ring and several. Every test needs io_uring: where it is unavailable, each
//! says so on stderr and passes without running.

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

use c10k_core::{Config, ErrorKind, Report, Status, Tracer, parse_root, trace::Memory};
use c10k_uring::Options;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::{
    ServerConfig, ServerConnection, StreamOwned,
    pki_types::{CertificateDer, PrivateKeyDer},
};

/// How the test site behaves.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    /// Over TLS.
    tls: bool,
    /// Pages the root links to.
    pages: usize,
    /// Requests answered on one connection; the last says `Connection: close`.
    max_requests: usize,
    /// Closes each connection after its first response without saying so (as a server does
    /// when an idle connection times out just as the client reuses it).
    drop_after_response: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            tls: false,
            pages: 40,
            max_requests: usize::MAX,
            drop_after_response: false,
        }
    }
}

/// A site on loopback: `/` links to `/p/1` … `/p/N`, small pages with no links; HTTP/1.1 with
/// `Content-Length`, keeping the connection unless the request says otherwise.
struct Site {
    addr: SocketAddr,
    /// The CA that signed the site's certificate (TLS).
    ca: Option<CertificateDer<'static>>,
    /// Connections accepted, and ended (the client closed its side, or the server did).
    accepted: Arc<AtomicUsize>,
    ended: Arc<AtomicUsize>,
}

impl Site {
    fn start(behaviour: Behaviour) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tls, ca) = if behaviour.tls {
            let (server, ca) = certificates();
            (Some(server), Some(ca))
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

    fn url(&self, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/", self.addr.port())
    }

    /// A crawl of the site at `concurrency`, trusting its CA.
    fn config(&self, concurrency: usize, keep_alive: bool) -> Config {
        let root = parse_root(&self.url(self.ca.is_some())).unwrap();
        let mut config = Config::new(root, self.addr);
        config.concurrency = concurrency;
        config.keep_alive = keep_alive;
        config.timeout = Duration::from_secs(5);
        config.connect_timeout = config.timeout;
        config.tls.extra_roots.extend(self.ca.clone());
        config
    }

    /// Waits until every connection accepted has ended (the crawler closed what it kept).
    fn all_ended(&self) -> bool {
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

/// A server configuration for `localhost` and `127.0.0.1`, and the CA that signed it.
fn certificates() -> (Arc<ServerConfig>, CertificateDer<'static>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("uring test CA {:?}", Instant::now()),
    );
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (Arc::new(server), ca.der().clone())
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
                let links: String = (1..=behaviour.pages)
                    .map(|n| format!("<a href=\"/p/{n}\">{n}</a>\n"))
                    .collect();
                ("200 OK", format!("<html><body>{links}</body></html>"))
            }
            "/robots.txt" => ("404 Not Found", String::new()),
            page => ("200 OK", format!("<html><body>{page}</body></html>")),
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

/// Whether io_uring is unavailable here; if so, says so on stderr.
fn skipped() -> bool {
    match c10k_uring::unavailable() {
        Some(reason) => {
            let _ = writeln!(io::stderr(), "skipping: {reason}");
            true
        }
        None => false,
    }
}

fn crawl(config: &Config, loops: usize) -> Report {
    let options = Options {
        loops,
        ..Options::default()
    };
    c10k_uring::crawl(config, &options).expect("the crawl runs")
}

/// Every page of the site is fetched and answered 200 (the root and its `pages` links).
fn every_page(report: &Report, behaviour: Behaviour) {
    assert_eq!(report.pages, behaviour.pages + 1, "{report:#?}");
    assert_eq!(report.errors, 0, "{:?}", report.error_counts);
    assert_eq!(report.retries, 0, "no try counted");
}

#[test]
fn over_tls_each_connection_has_a_handshake_and_later_ones_resume() {
    if skipped() {
        return;
    }
    let behaviour = Behaviour {
        tls: true,
        ..Behaviour::default()
    };
    let site = Site::start(behaviour);
    for loops in [1, 2] {
        let before = site.accepted.load(Ordering::SeqCst);
        let report = crawl(&site.config(4, false), loops);
        every_page(&report, behaviour);
        let fetches = site.accepted.load(Ordering::SeqCst) - before;
        let conns = report.connections;
        // One handshake per fetch, robots.txt's included.
        assert_eq!(
            conns.handshakes + conns.resumed,
            fetches as u64,
            "{conns:?}"
        );
        assert!(conns.resumed > 0, "sessions are resumed: {conns:?}");
        assert_eq!((conns.reused, conns.kept), (0, 0));
        assert!(site.all_ended());
    }
}

#[test]
fn kept_connections_carry_the_crawl_on_as_many_connections_as_fetches_in_flight() {
    if skipped() {
        return;
    }
    for tls in [false, true] {
        let behaviour = Behaviour {
            tls,
            ..Behaviour::default()
        };
        let site = Site::start(behaviour);
        for loops in [1, 2] {
            let before = site.accepted.load(Ordering::SeqCst);
            let report = crawl(&site.config(4, true), loops);
            every_page(&report, behaviour);
            let conns = report.connections;
            let opened = site.accepted.load(Ordering::SeqCst) - before;
            // At most one connection per fetch in flight.
            assert!(
                opened <= 4,
                "tls {tls}, loops {loops}: {opened} connections"
            );
            assert_eq!(conns.stale, 0);
            assert!(
                conns.reused + opened as u64 > behaviour.pages as u64,
                "tls {tls}, loops {loops}: {conns:?}"
            );
            if tls {
                assert_eq!(conns.handshakes + conns.resumed, opened as u64);
            }
            // Every kept connection was reused or closed at the end: the server saw them end.
            assert!(conns.kept >= conns.reused);
            assert!(
                site.all_ended(),
                "the pool is drained before the crawl returns"
            );
        }
    }
}

#[test]
fn a_reused_connection_the_server_closed_is_sent_again_on_a_fresh_one() {
    if skipped() {
        return;
    }
    for tls in [false, true] {
        let behaviour = Behaviour {
            tls,
            pages: 20,
            drop_after_response: true,
            ..Behaviour::default()
        };
        let site = Site::start(behaviour);
        let report = crawl(&site.config(2, true), 1);
        every_page(&report, behaviour);
        let conns = report.connections;
        assert!(conns.stale > 0, "tls {tls}: {conns:?}");
        assert_eq!(
            conns.stale, conns.reused,
            "tls {tls}: every reuse found closed"
        );
        assert!(site.all_ended());
    }
}

#[test]
fn a_server_that_ends_connections_after_some_requests() {
    if skipped() {
        return;
    }
    for tls in [false, true] {
        let behaviour = Behaviour {
            tls,
            max_requests: 3,
            ..Behaviour::default()
        };
        let site = Site::start(behaviour);
        let report = crawl(&site.config(3, true), 1);
        every_page(&report, behaviour);
        let conns = report.connections;
        let opened = site.accepted.load(Ordering::SeqCst) as u64;
        // Two of every three responses leave the connection kept, the third closes it.
        assert_eq!(conns.stale, 0, "{conns:?}");
        assert!(opened >= (behaviour.pages as u64 + 1) / 3, "{opened}");
        assert!(conns.reused > 0 && conns.reused < behaviour.pages as u64);
        assert!(site.all_ended());
    }
}

#[test]
fn a_certificate_nobody_trusts_is_a_tls_error() {
    if skipped() {
        return;
    }
    let site = Site::start(Behaviour {
        tls: true,
        ..Behaviour::default()
    });
    for keep_alive in [false, true] {
        let mut config = site.config(2, keep_alive);
        config.tls.extra_roots.clear();
        config.robots = false;
        config.max_tries = 1;
        let report = crawl(&config, 1);
        assert_eq!(report.records.len(), 1);
        assert_eq!(
            report.records[0].status,
            Status::Error(ErrorKind::Tls),
            "{report:#?}"
        );
        assert!(site.all_ended());
    }
}

/// The trace shows a connection's life: the handshake after the connect, the reuse, the
/// connection kept just before the fetch completes.
#[test]
fn the_trace_shows_handshakes_reuse_and_kept_connections() {
    if skipped() {
        return;
    }
    let site = Site::start(Behaviour {
        tls: true,
        pages: 10,
        ..Behaviour::default()
    });
    let mut config = site.config(2, true);
    let memory = Memory::default();
    config.trace = Some(Arc::new(Tracer::new(memory.clone())));
    crawl(&config, 1);
    let text = memory.text();
    for event in [
        "tls handshake done",
        "connection reused",
        "connection kept for the next fetch",
    ] {
        assert!(text.contains(event), "no {event:?} in\n{text}");
    }
    // A line: time, "ms", fetch id, thread, then the event's words.
    let lines: Vec<(&str, String)> = text
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words[2], words[4..].join(" "))
        })
        .collect();
    // On a kept connection the request's records go out and its response comes back, and
    // nothing else: no connect, no handshake.
    for (id, _) in lines
        .iter()
        .filter(|(_, event)| event == "connection reused")
    {
        let events: Vec<&str> = lines
            .iter()
            .filter(|(of, _)| of == id)
            .map(|(_, event)| event.as_str())
            .collect();
        assert!(
            events
                .iter()
                .all(|event| !event.starts_with("connected") && !event.starts_with("tls")),
            "{events:#?}"
        );
    }
}
