//! What the frontier holds per known URL: the heap of a crawl of 200,000 synthetic pages,
//! driven through the sans-IO [`Crawler`] alone (no socket, no strategy), counted by an
//! allocator that wraps the system's (`stats_alloc`).
//!
//! The site is the test server's shape: page 0 is `/`, page `i` is `/p/i`, and page `i`
//! links to pages `2i + 1` and `2i + 2` (while they exist) and back to `/`. Every URL ends
//! fetched, with its record; the crawl's heap, less what it held before the crawler existed,
//! over the URLs known, must be at most 100 B (issue 28). Then the same crawl as `--state`
//! makes it, with a journal (here one that keeps nothing) and the queued URLs spooled to a
//! file: the seen set is fingerprints, and a known URL may cost at most 32 B, at the end and
//! at the peak. The count is per process, so this is the only test of its binary, and the
//! two crawls run one after the other.
//!
//! Run it with `cargo test -p c10k-core --test frontier_bytes -- --nocapture` to see the
//! table.

use std::{
    alloc::System,
    fs::File,
    os::unix::fs::FileExt as _,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use c10k_core::{
    Change, Config, Crawler, FetchError, Journal, Response, Spool, Spools, Status, Url, parse_root,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Pages of the synthetic site.
const PAGES: usize = 200_000;
/// The most heap a known URL may cost, finished and recorded (issue 28).
const BUDGET: f64 = 100.0;
/// The same with `--state`: fingerprints in memory, the URLs and records on disk.
const LEAN_BUDGET: f64 = 32.0;
const ROOT: &str = "http://127.0.0.1:40000/";

/// Heap bytes the process holds now.
fn live() -> isize {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

/// The page at `url`: its links, or `None` for a URL that is not a page.
fn page(url: &Url) -> Option<String> {
    let i = match url.path() {
        "/" => 0,
        path => path.strip_prefix("/p/")?.parse::<usize>().ok()?,
    };
    let mut body = String::from("<html><body>");
    for child in [2 * i + 1, 2 * i + 2].into_iter().filter(|&c| c < PAGES) {
        body.push_str(&format!("<a href=\"/p/{child}\">p</a>"));
    }
    body.push_str("<a href=\"/\">home</a></body></html>");
    Some(body)
}

fn respond(url: &Url) -> Result<Response, FetchError> {
    Ok(match page(url) {
        Some(body) => Response {
            status: 200,
            content_type: Some("text/html; charset=utf-8".into()),
            body_len: body.len() as u64,
            body: body.into_bytes(),
            ..Response::default()
        },
        // robots.txt, and anything else: not found.
        None => Response {
            status: 404,
            ..Response::default()
        },
    })
}

/// The queued URLs in a file (unlinked at once), each as its length and its bytes, written
/// and read one at a time: nothing on the heap.
struct DiskSpool {
    file: File,
    read: u64,
    written: u64,
    len: usize,
}

impl DiskSpool {
    fn new() -> DiskSpool {
        let path = std::env::temp_dir().join(format!("c10k-frontier-bytes-{}", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("a spool file");
        std::fs::remove_file(&path).expect("the spool file unlinked");
        DiskSpool {
            file,
            read: 0,
            written: 0,
            len: 0,
        }
    }
}

impl Spool for DiskSpool {
    fn push(&mut self, url: &str) {
        let len = (url.len() as u32).to_le_bytes();
        self.file.write_all_at(&len, self.written).expect("written");
        self.file
            .write_all_at(url.as_bytes(), self.written + 4)
            .expect("written");
        self.written += 4 + url.len() as u64;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<String> {
        if self.len == 0 {
            return None;
        }
        let mut len = [0; 4];
        self.file.read_exact_at(&mut len, self.read).expect("read");
        let mut url = vec![0; u32::from_le_bytes(len) as usize];
        self.file
            .read_exact_at(&mut url, self.read + 4)
            .expect("read");
        self.read += 4 + url.len() as u64;
        self.len -= 1;
        Some(String::from_utf8(url).expect("a URL"))
    }

    fn len(&self) -> usize {
        self.len
    }

    fn footprint(&self) -> usize {
        0
    }
}

/// Crawls the site with `config`: the heap it held at the end and at its peak (less what was
/// held before), and the crawler, done.
fn crawl(config: Config) -> (isize, isize, Crawler) {
    let before = live();
    let mut crawler = Crawler::new(config);
    let mut peak = 0;
    let now = Instant::now();
    while let Some(fetch) = crawler.next_fetch(now) {
        let result = respond(&fetch.url);
        crawler.complete(fetch.finish(result, now));
        peak = peak.max(live() - before);
    }
    assert!(crawler.is_done());
    (live() - before, peak, crawler)
}

/// The table of what `crawler` holds, for `urls` known.
fn table(crawler: &Crawler, urls: usize, held: isize, peak: isize) {
    let per_url = |bytes: usize| bytes as f64 / urls as f64;
    println!();
    println!("| what | bytes | B per URL |");
    println!("|---|---:|---:|");
    let parts = crawler.footprint();
    for (what, bytes) in &parts {
        println!("| {what} | {bytes} | {:.1} |", per_url(*bytes));
    }
    let counted: usize = parts.iter().map(|(_, bytes)| bytes).sum();
    let other = held as usize - counted.min(held as usize);
    println!(
        "| other (allocator's total less the above) | {other} | {:.1} |",
        per_url(other)
    );
    println!(
        "| **total held, finished** | {held} | {:.1} |",
        per_url(held as usize)
    );
    println!(
        "| peak, sampled after each completion | {peak} | {:.1} |",
        per_url(peak as usize)
    );
}

/// Keep this the only test of the binary (see the module's doc).
#[test]
fn a_known_url_costs_at_most_100_bytes_and_32_with_state() {
    let config = || {
        Config::new(
            parse_root(ROOT).expect("a valid root"),
            "127.0.0.1:40000".parse().expect("a valid address"),
        )
    };
    let (held, peak, crawler) = crawl(config());
    let records = crawler.records();
    let urls = records.len();
    let pages = records
        .iter()
        .filter(|record| record.status == Status::Http(200))
        .count();
    assert_eq!(pages, PAGES, "every page fetched");
    let text: usize = records.iter().map(|record| record.url.len()).sum();
    drop(records);
    let per_url = |bytes: isize| bytes as f64 / urls as f64;

    println!(
        "{urls} URLs known, all finished with a record (robots.txt, a 404, is no URL of the frontier)"
    );
    table(&crawler, urls, held, peak);
    println!(
        "| (of the total: the URLs' text, once) | {text} | {:.1} |",
        per_url(text as isize)
    );
    assert!(
        per_url(held) <= BUDGET,
        "{:.1} B per known URL, more than {BUDGET}",
        per_url(held)
    );
    drop(crawler);

    // As with --state: the journal counts what it is told, and keeps nothing.
    let (seen, ended) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut lean = config();
    let (s, e) = (Arc::clone(&seen), Arc::clone(&ended));
    lean.journal = Some(Journal(Arc::new(move |changes: &mut Vec<Change>| {
        for change in changes.drain(..) {
            match change {
                Change::Seen { .. } => s.fetch_add(1, Ordering::Relaxed),
                Change::Ended(record) => e.fetch_add(
                    usize::from(record.status == Status::Http(200)),
                    Ordering::Relaxed,
                ),
                Change::Tried { .. } => 0,
            };
        }
    })));
    lean.spools = Some(Spools(Arc::new(|| Box::new(DiskSpool::new()))));
    let (held, peak, crawler) = crawl(lean);
    assert_eq!(ended.load(Ordering::Relaxed), PAGES, "every page fetched");
    assert_eq!(seen.load(Ordering::Relaxed), urls, "every URL seen once");
    assert_eq!(crawler.records(), [], "the records are the journal's");
    println!();
    println!("With --state: {urls} URLs known, the seen set as fingerprints");
    table(&crawler, urls, held, peak);
    for (what, bytes) in [("finished", held), ("at the peak", peak)] {
        assert!(
            per_url(bytes) <= LEAN_BUDGET,
            "with --state, {:.1} B per known URL {what}, more than {LEAN_BUDGET}",
            per_url(bytes)
        );
    }
}
