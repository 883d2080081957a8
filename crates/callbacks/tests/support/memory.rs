//! What one connection costs an event-driven model in heap, plain and over TLS, in flight and
//! kept, counted by the test binary's allocator (`stats_alloc`); shared by callbacks' and
//! generators' `tests/memory.rs`.
//!
//! The site runs in a child process (this same test binary, its ignored `site_process`
//! test), so that every byte the allocator counts is the crawler's. Its pages' responses are
//! held back until every page has been asked for, so that all the fetches of a crawl are in
//! flight at once: the crawl's trace is sampled (its sink runs on the loop's thread) each time
//! a request is written, and the heap in use when the last one is out, over two
//! concurrencies, gives the bytes per connection waiting for its response, as
//! `scripts/rss-per-connection.sh` takes RSS. A kept
//! connection is counted at the end of a keep-alive crawl against the same crawl closing its
//! connections: the heap in use when the last page completes differs by the pool alone.
//!
//! The comparison for TLS is a bare rustls `ClientConnection` at the same point (handshake
//! done, request sent, the server's session tickets read), driven in memory against a
//! `ServerConnection`: its size plus its heap.

#![allow(unreachable_pub)]

use std::{
    alloc::System,
    io::{BufRead, BufReader, Read as _, Write},
    net::SocketAddr,
    process::{Child, ChildStdout, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use c10k_core::{Report, Tracer};
use rustls::{ClientConnection, ServerConnection, pki_types::CertificateDer};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

use crate::site::{Site, Spec};

/// The counting allocator the test binary installs (`#[global_allocator]`).
pub type Counting = &'static StatsAlloc<System>;
/// The instance to install.
pub const COUNTING: Counting = &INSTRUMENTED_SYSTEM;

/// The two concurrencies compared (each the number of pages besides the root).
const LOW: usize = 20;
const HIGH: usize = 220;

/// Heap bytes in use now, as the allocator counts them.
fn in_use(alloc: Counting) -> isize {
    let stats = alloc.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize + stats.bytes_reallocated
}

/// What the trace's sink saw.
#[derive(Debug, Default)]
struct Samples {
    /// Heap in use each time a request was written.
    written: Vec<isize>,
    /// Heap in use when the last fetch completed.
    completed: isize,
    /// The most heap in use at any event.
    peak: isize,
}

/// A trace sink that samples the heap at each event, on the loop's thread, counted from the
/// heap in use before the crawl.
struct Sampler(Counting, isize, Arc<Mutex<Samples>>);

impl Write for Sampler {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let live = in_use(self.0) - self.1;
        let mut samples = self.2.lock().unwrap();
        if line.windows(15).any(|w| w == b"request written") {
            samples.written.push(live);
        }
        if line.windows(9).any(|w| w == b"completed") {
            samples.completed = live;
        }
        samples.peak = samples.peak.max(live);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The site in a child process: this test binary, running its ignored `site_process` test.
struct SiteProcess {
    child: Child,
    /// Read to the end when the process ends: what the test harness prints there must find
    /// the pipe open.
    stdout: BufReader<ChildStdout>,
    site: Site,
}

impl Drop for SiteProcess {
    fn drop(&mut self) {
        // Its stdin closed, the site process ends (see `serve`).
        drop(self.child.stdin.take());
        let _ = self.stdout.read_to_end(&mut Vec::new());
        let _ = self.child.wait();
    }
}

fn spawn(spec: Spec) -> SiteProcess {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["site_process", "--exact", "--ignored", "--nocapture"])
        .env("C10K_MEMORY_SITE", format!("{} {}", spec.tls, spec.pages))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.strip_prefix("C10K-SITE ") {
            let mut words = rest.trim_end().split(' ');
            let addr: SocketAddr = words.next().unwrap().parse().unwrap();
            let ca = words.next().filter(|hex| !hex.is_empty()).map(|hex| {
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect::<Vec<u8>>();
                CertificateDer::from(bytes)
            });
            return SiteProcess {
                child,
                stdout,
                site: Site::remote(spec, addr, ca),
            };
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the site process did not start");
}

/// The body of the ignored `site_process` test, in the child: the site `C10K_MEMORY_SITE`
/// describes, until stdin closes. Without the variable (run by hand), nothing.
pub fn serve() {
    let Ok(spec) = std::env::var("C10K_MEMORY_SITE") else {
        return;
    };
    let words: Vec<&str> = spec.split(' ').collect();
    let site = Site::start(Spec {
        tls: words[0] == "true",
        pages: words[1].parse().unwrap(),
        hold_until: words[1].parse().ok(),
        ..Spec::default()
    });
    let ca: String = site
        .ca
        .iter()
        .flat_map(|ca| ca.iter().map(|b| format!("{b:02x}")))
        .collect();
    println!("C10K-SITE {} {ca}", site.addr);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// One crawl of a site of `pages` pages at concurrency `pages`, its heap sampled.
fn sampled(
    alloc: Counting,
    crawl: crate::site::Crawl,
    tls: bool,
    keep: bool,
    pages: usize,
) -> Samples {
    let server = spawn(Spec {
        tls,
        pages,
        ..Spec::default()
    });
    let mut config = server.site.config(pages, keep);
    config.timeout = Duration::from_secs(20);
    let samples = Arc::new(Mutex::new(Samples::default()));
    let sampler = Sampler(alloc, in_use(alloc), Arc::clone(&samples));
    config.trace = Some(Arc::new(Tracer::new(sampler)));
    let report: Report = crawl(&config, 1);
    server.site.check_pages(&report);
    drop(config);
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    // robots.txt's request, the root's, then one per page, all before any page's response.
    assert_eq!(samples.written.len(), pages + 2, "{samples:?}");
    samples
}

/// A bare rustls client at the point a crawl's connection waits for its response: its size
/// and its heap, per connection, over `count` of them (the session store filled first).
fn bare_client(alloc: Counting) -> f64 {
    let site = Site::start(Spec {
        tls: true,
        pages: 0,
        ..Spec::default()
    });
    let config = site.config(1, true);
    let client = config.tls_client().unwrap();
    let server = site.server_config().unwrap();
    let url = config.root.clone();
    let open = || {
        let mut client = c10k_core::tls::connection(&client, &url).unwrap();
        let mut server = ServerConnection::new(Arc::clone(&server)).unwrap();
        client
            .writer()
            .write_all(&c10k_core::request(&url, true))
            .unwrap();
        while client.is_handshaking() || client.wants_write() || server.wants_write() {
            let mut bytes = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut bytes).unwrap();
            }
            server.read_tls(&mut &bytes[..]).unwrap();
            server.process_new_packets().unwrap();
            let mut bytes = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut bytes).unwrap();
            }
            client.read_tls(&mut &bytes[..]).unwrap();
            client.process_new_packets().unwrap();
        }
        client
    };
    // The session stores fill up first: the client's (a few tickets per server name) and the
    // server's, here in this process (256 sessions, two per connection).
    let warm: Vec<ClientConnection> = (0..150).map(|_| open()).collect();
    drop(warm);
    const COUNT: usize = 100;
    let before = in_use(alloc);
    let clients: Vec<ClientConnection> = (0..COUNT).map(|_| open()).collect();
    let after = in_use(alloc);
    drop(clients);
    (after - before) as f64 / COUNT as f64
}

/// Measures and prints the table for `name`'s crawl; checks issue 25's target, that a TLS
/// connection in flight costs no more than a plain one plus a bare rustls client.
pub fn report(alloc: Counting, name: &str, crawl: crate::site::Crawl) {
    // Bytes per connection between two samples, over the connections between them.
    let per = |a: isize, b: isize, connections: usize| (b - a) as f64 / connections as f64;
    let last = |samples: &Samples| *samples.written.last().unwrap();
    let mut rows = Vec::new();
    for tls in [false, true] {
        let low = sampled(alloc, crawl, tls, false, LOW);
        let high = sampled(alloc, crawl, tls, false, HIGH);
        let keep = sampled(alloc, crawl, tls, true, HIGH);
        rows.push((
            // In flight, waiting for the response: the heap when the last request is out.
            per(last(&low), last(&high), HIGH - LOW),
            // The most heap in use at any moment of the crawl.
            per(low.peak, high.peak, HIGH - LOW),
            // Kept: the heap when the last page completes, all connections in the pool,
            // against the same crawl closing them.
            per(high.completed, keep.completed, HIGH),
        ));
    }
    let [(plain, plain_peak, kept_plain), (tls, tls_peak, kept_tls)] = rows[..] else {
        unreachable!("two rows");
    };
    let bare = bare_client(alloc);
    println!("{name}: heap per connection (B), C = {LOW} against C = {HIGH}");
    println!(
        "| connection | in flight, waiting for its response | at the crawl's peak | kept in the pool |"
    );
    println!("|---|---:|---:|---:|");
    println!("| plain | {plain:.0} | {plain_peak:.0} | {kept_plain:.0} |");
    println!("| TLS | {tls:.0} | {tls_peak:.0} | {kept_tls:.0} |");
    println!(
        "| TLS minus plain | {:.0} | | {:.0} |",
        tls - plain,
        kept_tls - kept_plain
    );
    println!("| a bare rustls ClientConnection | {bare:.0} | | |");
    println!(
        "| of which its size (`size_of`), the rest its heap | {} | | |",
        std::mem::size_of::<ClientConnection>()
    );
    // A few bytes of slack: the crawls' own noise (a URL's length, a trace line).
    assert!(
        tls <= plain + bare + 64.0,
        "{name}: a TLS connection costs {tls:.0} B, a plain one {plain:.0} B and rustls {bare:.0} B"
    );
}

/// The measuring test and the site's process, for the strategy crate `$strategy` named
/// `$name`: what each event-driven crate's `tests/memory.rs` runs. Installs the counting
/// allocator.
#[macro_export]
macro_rules! memory_tests {
    ($strategy:ident, $name:literal) => {
        crawl_with_loops!($strategy);

        #[global_allocator]
        static GLOBAL: memory::Counting = memory::COUNTING;

        #[test]
        fn heap_per_connection() {
            memory::report(GLOBAL, $name, crawl);
        }

        /// The site, in a process of its own (see `support/memory.rs`).
        #[test]
        #[ignore = "run by heap_per_connection, in a child process"]
        fn site_process() {
            memory::serve();
        }
    };
}
