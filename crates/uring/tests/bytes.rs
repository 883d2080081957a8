//! What one connection holds on the heap, measured through the crawler: in flight (its
//! request sent, waiting for the response) and kept (idle in the pool between two fetches),
//! plain and over TLS, beside a bare rustls `ClientConnection` driven to the same two points.
//! Prints the table the crate's page quotes:
//!
//! ```sh
//! cargo test -p c10k-uring --test bytes -- --nocapture
//! ```
//!
//! The heap is counted by an allocator that wraps the system's (`stats_alloc`): bytes
//! allocated less bytes freed, by the whole process. So the site runs in a child process (this
//! test binary again, told so by an environment variable), and this is the binary's only test.
//!
//! A connection's bytes are a difference: the same site crawled at two concurrencies, the heap
//! sampled at the same point of each crawl, the difference over the difference in
//! connections, so that what a crawl holds whatever its width (the frontier, the records, the
//! ring's queues and receive buffers) cancels out.
//!
//! - In flight: every page is held 400 ms; the heap (the median of the samples) while the
//!   most fetches are in flight, nearly all that time past the handshake and waiting. A fetch
//!   in flight is counted beyond what its URL cost while it waited in the frontier: at the
//!   lower concurrency the difference waits there.
//! - Kept: the root links first to a page held 2 s, then to pages answered at once. The others
//!   end while it waits, and their connections go idle to the pool, `C - 1` of them; the heap
//!   (the median) while that one fetch is in flight.

use std::{
    alloc::System,
    env,
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, ChildStdout, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use c10k_core::{Config, Gauges, TlsOptions, Url, parse_root};
use c10k_uring::Ring;
use rustls::ClientConnection;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

use common::{Behaviour, Site, skipped};

mod common;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Set in the child that serves the sites.
const SERVE: &str = "C10K_URING_BYTES_SERVE";
/// The two concurrencies, and the pages of each site (at least the higher one).
const LOW: usize = 10;
const HIGH: usize = 60;
/// Bytes of each page's body (the benchmark's memory site has 2 KiB pages).
const PAGE_BYTES: usize = 2048;

/// Heap bytes the process holds now. (`stats_alloc` counts a reallocation's growth in
/// `bytes_allocated` and its shrinking in `bytes_deallocated`, besides `bytes_reallocated`.)
fn live() -> isize {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

/// Keep this the only test of the binary (see the module's doc).
#[test]
fn what_one_connection_holds() {
    if env::var_os(SERVE).is_some() {
        return serve();
    }
    if skipped() {
        return;
    }
    let server = Server::spawn();
    println!("| connection | in flight B | kept, idle B |");
    println!("|---|---:|---:|");
    let mut rows = Vec::new();
    for tls in [false, true] {
        let wide = server.site("wide", tls);
        let kept = server.site("kept", tls);
        let in_flight = per_connection(|c| widest(&crawl(&wide, c, false)));
        let idle = per_connection(|c| alone(&crawl(&kept, c, true)));
        let name = if tls { "uring, https" } else { "uring, http" };
        println!("| {name} | {in_flight} | {idle} |");
        rows.push((in_flight, idle));
    }
    let (bare_in_flight, bare_kept) = bare(&server.site("wide", true));
    println!("| a bare rustls ClientConnection, boxed | {bare_in_flight} | {bare_kept} |");
    println!(
        "\nsize_of: ClientConnection {} B, c10k_core::Tls {} B; per connection in flight (plain, \
         heap aside): {} B",
        size_of::<ClientConnection>(),
        size_of::<c10k_core::Tls>(),
        c10k_uring::state_sizes()
            .iter()
            .filter(|(what, _)| !what.starts_with(' ')
                && !what.starts_with("over")
                && !what.starts_with("kept"))
            .map(|(_, bytes)| bytes)
            .sum::<usize>()
    );
    for (what, bytes) in c10k_uring::state_sizes() {
        println!("  {bytes:>5} B  {what}");
    }
    server.stop();
    let [(plain_in_flight, plain_kept), (tls_in_flight, tls_kept)] = rows[..] else {
        unreachable!("two rows");
    };
    // Issue 25's target: over TLS, a connection costs no more than a plain one and rustls'
    // own state. (A margin of 64 bytes for what the averages leave.)
    assert!(
        tls_in_flight <= plain_in_flight + bare_in_flight + 64,
        "in flight: {tls_in_flight} > {plain_in_flight} + {bare_in_flight}"
    );
    assert!(
        tls_kept <= plain_kept + bare_kept + 64,
        "kept: {tls_kept} > {plain_kept} + {bare_kept}"
    );
    assert!(
        plain_kept < plain_in_flight,
        "a kept connection holds no fetch"
    );
}

/// A site of the child's, as the crawler is told of it.
struct Target {
    root: Url,
    addr: SocketAddr,
    ca: Option<String>,
}

/// The crawl of `target` at `concurrency`, with the heap sampled as it goes.
fn crawl(target: &Target, concurrency: usize, keep_alive: bool) -> Vec<(u64, isize)> {
    let mut config = Config::new(target.root.clone(), target.addr);
    config.concurrency = concurrency;
    config.keep_alive = keep_alive;
    if let Some(pem) = &target.ca {
        config.tls.add_pem(pem.as_bytes()).unwrap();
    }
    let gauges = Arc::new(Gauges::default());
    config.gauges = Some(Arc::clone(&gauges));
    let done = Arc::new(AtomicBool::new(false));
    // The heap is counted from here, so that nothing a crawl before left behind counts.
    let before = live();
    let sampling = {
        let done = Arc::clone(&done);
        // Reads two sets of atomics and sleeps: it allocates nothing while it samples.
        thread::spawn(move || {
            let mut samples = Vec::with_capacity(1 << 16);
            while !done.load(Ordering::Relaxed) && samples.len() < samples.capacity() {
                samples.push((gauges.in_flight.load(Ordering::Relaxed), live() - before));
                thread::sleep(Duration::from_micros(200));
            }
            samples
        })
    };
    let report = c10k_uring::crawl(&config, &c10k_uring::Options::default()).unwrap();
    done.store(true, Ordering::Relaxed);
    assert_eq!(report.errors, 0, "{report:#?}");
    assert_eq!(report.peak_in_flight, concurrency);
    sampling.join().unwrap()
}

/// The heap while the most fetches were in flight (the median of the samples then: most of
/// that time they all wait for their page, past the handshake), and how many.
fn widest(samples: &[(u64, isize)]) -> (u64, isize) {
    let most = samples.iter().map(|&(n, _)| n).max().unwrap_or(0);
    let heaps = samples
        .iter()
        .filter(|&&(n, _)| n == most)
        .map(|&(_, heap)| heap);
    (most, median(heaps.collect()))
}

/// The heap while one fetch was in flight after more had been (the median of the samples
/// then): the slow page, the others' connections idle in the pool, one fewer than the
/// concurrency.
fn alone(samples: &[(u64, isize)]) -> (u64, isize) {
    let wide = samples
        .iter()
        .position(|&(n, _)| n > 1)
        .expect("a wide moment");
    let heaps: Vec<isize> = samples[wide..]
        .iter()
        .filter(|&&(n, _)| n == 1)
        .map(|&(_, heap)| heap)
        .collect();
    assert!(
        !heaps.is_empty(),
        "a moment with the slow page alone in flight"
    );
    let most = samples.iter().map(|&(n, _)| n).max().unwrap_or(0);
    (most - 1, median(heaps))
}

fn median(mut values: Vec<isize>) -> isize {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// Bytes per connection: the heap's difference between the crawls at the two concurrencies,
/// less the receive pool's (a ring sized for more connections has more buffers, up to 256:
/// beyond that the pool is the same), over the difference in connections held at the sampled
/// moment.
fn per_connection(measure: impl Fn(usize) -> (u64, isize)) -> isize {
    let (low_n, low_heap) = measure(LOW);
    let (high_n, high_heap) = measure(HIGH);
    assert!(high_n > low_n, "{high_n} against {low_n} connections");
    let pools = Ring::receive_pool_bytes(HIGH) - Ring::receive_pool_bytes(LOW);
    (high_heap - low_heap - pools as isize) / (high_n - low_n) as isize
}

/// A bare rustls `ClientConnection`, boxed as the crawler boxes its `Tls`, on a blocking
/// socket to the held pages of `target`: its heap once the handshake is done and the request
/// is sent, and once the response is read whole. The session store is warmed by a first
/// connection, as the crawler's is by the first fetches.
fn bare(target: &Target) -> (isize, isize) {
    let mut options = TlsOptions::default();
    options
        .add_pem(target.ca.as_deref().unwrap_or_default().as_bytes())
        .unwrap();
    let client = options.client_config().unwrap();
    let url = target.root.join("p/1").unwrap();
    let request = c10k_core::request(&url, true);
    let mut plaintext = vec![0; 1 << 20];
    let mut result = (0, 0);
    for _warm_then_measured in 0..2 {
        let mut tcp = TcpStream::connect(target.addr).unwrap();
        let before = live();
        let name = c10k_core::tls::server_name(&url).unwrap();
        let mut conn = Box::new(ClientConnection::new(Arc::clone(&client), name).unwrap());
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).unwrap();
        }
        conn.writer().write_all(&request).unwrap();
        while conn.wants_write() {
            conn.complete_io(&mut tcp).unwrap();
        }
        // The page is held: what comes meanwhile is the end of the handshake (TLS 1.3's
        // session tickets), which the crawler's connections have read too when sampled.
        tcp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        while conn.complete_io(&mut tcp).is_ok() {}
        tcp.set_read_timeout(None).unwrap();
        let in_flight = live() - before;
        let mut read = 0;
        while !whole_response(&plaintext[..read]) {
            conn.complete_io(&mut tcp).unwrap();
            match conn.reader().read(&mut plaintext[read..]) {
                Ok(n) => read += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => panic!("{err}"),
            }
        }
        result = (in_flight, live() - before);
    }
    result
}

/// Whether `bytes` hold a response head and as much body as its `Content-Length` says.
fn whole_response(bytes: &[u8]) -> bool {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    bytes.len() >= end + 4 + length
}

/// The child process that serves the sites.
struct Server {
    child: Child,
    /// Its stdout, read to the end once it is told to stop.
    stdout: BufReader<ChildStdout>,
    /// `(name, tls, root URL, the CA's PEM)` of each site.
    sites: Vec<(String, bool, String, Option<String>)>,
}

impl Server {
    fn spawn() -> Server {
        let mut child = Command::new(env::current_exe().unwrap())
            .args(["--exact", "what_one_connection_holds", "--nocapture"])
            .env(SERVE, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut sites = Vec::new();
        let mut line = String::new();
        while sites.len() < 4 && stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
            // The CA's PEM comes last, its lines joined by `|` (it has spaces too).
            let words: Vec<&str> = line.trim_end().splitn(5, ' ').collect();
            if let ["site", name, tls, url, ca] = words[..] {
                let ca = (ca != "-").then(|| ca.replace('|', "\n"));
                sites.push((name.to_owned(), tls == "tls", url.to_owned(), ca));
            }
            line.clear();
        }
        assert_eq!(sites.len(), 4, "the child serves four sites");
        Server {
            child,
            stdout,
            sites,
        }
    }

    fn site(&self, name: &str, tls: bool) -> Target {
        let (_, _, url, ca) = self
            .sites
            .iter()
            .find(|(n, t, _, _)| n == name && *t == tls)
            .unwrap();
        let root = parse_root(url).unwrap();
        let addr = root.socket_addrs(|| None).unwrap()[0];
        Target {
            root,
            addr,
            ca: ca.clone(),
        }
    }

    /// Closes the child's stdin, which ends it.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = io::copy(&mut self.stdout, &mut io::sink());
        let _ = self.child.wait();
    }
}

/// The child: serves the sites, says where on stdout, and ends when its stdin closes.
fn serve() {
    for tls in [false, true] {
        let wide = Behaviour {
            tls,
            pages: HIGH,
            page_bytes: PAGE_BYTES,
            delay: Duration::from_millis(400),
            ..Behaviour::default()
        };
        let kept = Behaviour {
            delay: Duration::ZERO,
            slow: Some(Duration::from_secs(2)),
            ..wide
        };
        for (name, behaviour) in [("wide", wide), ("kept", kept)] {
            let site = Site::start(behaviour);
            let ca = site
                .ca
                .as_ref()
                .map_or("-".to_owned(), |(_, pem)| pem.trim().replace('\n', "|"));
            let tls = if tls { "tls" } else { "plain" };
            println!("site {name} {tls} {} {ca}", site.url());
            // The sites' threads live on until the process ends.
            std::mem::forget(site);
        }
    }
    let _ = io::stdout().flush();
    let _ = io::stdin().read_to_end(&mut Vec::new());
}
