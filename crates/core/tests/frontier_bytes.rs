//! What the frontier holds per known URL: the heap of a crawl of 200,000 synthetic pages,
//! driven through the sans-IO [`Crawler`] alone (no socket, no strategy), counted by an
//! allocator that wraps the system's (`stats_alloc`).
//!
//! The site is the test server's shape: page 0 is `/`, page `i` is `/p/i`, and page `i`
//! links to pages `2i + 1` and `2i + 2` (while they exist) and back to `/`. Every URL ends
//! fetched, with its record; the crawl's heap, less what it held before the crawler existed,
//! over the URLs known, must be at most 100 B (issue 28). The count is per process, so this
//! is the only test of its binary.
//!
//! Run it with `cargo test -p c10k-core --test frontier_bytes -- --nocapture` to see the
//! table.

use std::{alloc::System, time::Instant};

use c10k_core::{Config, Crawler, FetchError, Response, Status, Url, parse_root};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Pages of the synthetic site.
const PAGES: usize = 200_000;
/// The most heap a known URL may cost, finished and recorded (issue 28).
const BUDGET: f64 = 100.0;
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

/// Keep this the only test of the binary (see the module's doc).
#[test]
fn a_known_url_costs_at_most_100_bytes() {
    let config = Config::new(
        parse_root(ROOT).expect("a valid root"),
        "127.0.0.1:40000".parse().expect("a valid address"),
    );
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
    let held = live() - before;

    let records = crawler.records();
    let urls = records.len();
    let pages = records
        .iter()
        .filter(|record| record.status == Status::Http(200))
        .count();
    assert_eq!(pages, PAGES, "every page fetched");
    let text: usize = records.iter().map(|record| record.url.len()).sum();
    drop(records);
    let per_url = |bytes: usize| bytes as f64 / urls as f64;

    println!(
        "{urls} URLs known, all finished with a record (robots.txt, a 404, is no URL of the frontier)"
    );
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
    println!(
        "| (of the total: the URLs' text, once) | {text} | {:.1} |",
        per_url(text)
    );
    assert!(
        per_url(held as usize) <= BUDGET,
        "{:.1} B per known URL, more than {BUDGET}",
        per_url(held as usize)
    );
}
