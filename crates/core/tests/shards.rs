//! Properties of the sharded frontier, over random sites and random schedules: whatever the
//! number of shards and whatever order fetches end and messages arrive in, the shards find what
//! one crawler finds, end only when nothing is left anywhere, and share `--max-pages` exactly.

use std::time::Instant;

use c10k_core::{Config, FetchError, Message, Record, Response, Shard, Status, parse_root};
use proptest::prelude::*;

const ROOT: &str = "http://127.0.0.1:8000/";

/// What a page of the random site is.
#[derive(Debug, Clone)]
enum Page {
    /// HTML linking to these pages (numbers past the site's end are 404s), plus a link out of
    /// scope when the flag is set.
    Html(Vec<usize>, bool),
    /// A redirect to this page.
    Redirect(usize),
    /// Resets the connection this many times, then serves an empty page.
    Flaky(u32),
}

/// Sites of up to 40 pages; with `redirects`, some pages are redirects.
fn site(redirects: bool) -> impl Strategy<Value = Vec<Page>> {
    let page = prop_oneof![
        6 => (proptest::collection::vec(0..48usize, 0..8), any::<bool>())
            .prop_map(|(links, out)| Page::Html(links, out)),
        u32::from(redirects) => (0..48usize).prop_map(Page::Redirect),
        1 => (0..6u32).prop_map(Page::Flaky),
    ];
    proptest::collection::vec(page, 1..40)
}

fn path(page: usize) -> String {
    if page == 0 {
        "/".to_owned()
    } else {
        format!("/p/{page}")
    }
}

/// The site's answer to the `tries`-th fetch of `url`.
fn respond(site: &[Page], url: &str, tries: u32) -> Result<Response, FetchError> {
    let number = url
        .strip_prefix(ROOT)
        .and_then(|rest| match rest {
            "" => Some(0),
            rest => rest.strip_prefix("p/")?.parse().ok(),
        })
        .expect("only the site's own URLs are fetched");
    let html = |body: String| Response {
        status: 200,
        content_type: Some("text/html".into()),
        body_len: body.len() as u64,
        body: body.into_bytes(),
        ..Response::default()
    };
    match site.get(number) {
        None => Ok(Response {
            status: 404,
            ..Response::default()
        }),
        Some(Page::Html(links, out)) => {
            let mut body: String = links
                .iter()
                .map(|&to| format!(r#"<a href="{}#x">"#, path(to)))
                .collect();
            if *out {
                body.push_str(r#"<a href="http://elsewhere.example/"><a href="mailto:a@b.c">"#);
            }
            Ok(html(body))
        }
        Some(Page::Redirect(to)) => Ok(Response {
            status: 302,
            location: Some(path(*to)),
            ..Response::default()
        }),
        Some(Page::Flaky(resets)) if tries <= *resets => Err(FetchError::Reset("flaky".into())),
        Some(Page::Flaky(_)) => Ok(html(String::new())),
    }
}

fn config(max_pages: Option<usize>) -> Config {
    let mut config = Config::new(parse_root(ROOT).unwrap(), "127.0.0.1:8000".parse().unwrap());
    // Retries due at once: this test moves no clock, it orders events at random.
    config.backoff = std::time::Duration::ZERO;
    // The site here has no robots.txt to answer: the shards' routing is what is tested.
    config.robots = false;
    // Long enough for any chain on these sites: whether a chain's end is reached through the
    // chain or through a link first depends on the order, with any number of shards.
    config.max_redirects = 100;
    config.max_pages = max_pages.unwrap_or(usize::MAX);
    config
}

/// splitmix64, for the schedule.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((x ^ (x >> 31)) % n as u64) as usize
    }
}

fn carries_links(message: &Message) -> bool {
    format!("{message:?}").contains("Links")
}

/// Crawls `site` with `shards` shards, each with up to `width` fetches in flight, choosing at
/// random at every step which fetch ends or which message arrives next. Checks on the way
/// that no shard thinks the crawl is over while anything is left; returns the merged records.
fn crawl(site: &[Page], config: Config, shards: usize, width: usize, seed: u64) -> Vec<Record> {
    let mut rng = Rng(seed);
    let mut shards = Shard::split(config, shards);
    let mut fetches = Vec::new();
    let mut messages: Vec<(usize, Message)> = Vec::new();
    let flush = |shard: &mut Shard, messages: &mut Vec<(usize, Message)>| {
        while let Some(message) = shard.poll_message() {
            messages.push(message);
        }
    };
    for shard in &mut shards {
        flush(shard, &mut messages);
    }
    let now = Instant::now();
    for _ in 0..100_000 {
        let startable: Vec<usize> = (0..shards.len())
            .filter(|&s| shards[s].queued() > 0 && shards[s].in_flight() < width)
            .collect();
        let choices = startable.len() + fetches.len() + messages.len();
        if choices == 0 {
            break;
        }
        let choice = rng.below(choices);
        if choice < startable.len() {
            let s = startable[choice];
            let fetch = shards[s].next_fetch(now).expect("a queued URL");
            fetches.push((s, fetch));
        } else if choice < startable.len() + fetches.len() {
            let (s, fetch) = fetches.swap_remove(choice - startable.len());
            let result = respond(site, fetch.url.as_str(), fetch.tries);
            shards[s].complete(fetch.finish(result, now));
            flush(&mut shards[s], &mut messages);
        } else {
            let (to, message) = messages.swap_remove(choice - startable.len() - fetches.len());
            shards[to].deliver(message);
            flush(&mut shards[to], &mut messages);
        }
        if shards.iter().any(Shard::is_done) {
            // Over means over: nothing queued, in flight, or on its way anywhere.
            assert!(fetches.is_empty(), "done with fetches in flight");
            assert!(
                shards.iter().all(|s| s.queued() == 0 && s.in_flight() == 0),
                "done with URLs queued"
            );
            assert!(
                !messages.iter().any(|(_, m)| carries_links(m)),
                "done with links on their way"
            );
        }
    }
    assert!(
        fetches.is_empty() && messages.is_empty(),
        "the crawl did not settle"
    );
    assert!(
        shards.iter().all(Shard::is_done),
        "every shard learns the end"
    );
    let ran = shards
        .into_iter()
        .map(|shard| (shard, Vec::new()))
        .collect();
    Shard::merge(ran, "test", std::time::Duration::ZERO).records
}

/// The records with what depends on the order of events left out: which page found a URL
/// first (`new_links`) and the latency.
fn canonical(records: &[Record]) -> Vec<Record> {
    let mut sorted: Vec<Record> = records
        .iter()
        .map(|r| Record {
            new_links: 0,
            latency: None,
            ..r.clone()
        })
        .collect();
    sorted.sort_by(|a, b| a.url.cmp(&b.url));
    sorted
}

fn new_links(records: &[Record]) -> u32 {
    records.iter().map(|r| r.new_links).sum()
}

fn fetched(records: &[Record]) -> usize {
    records.iter().filter(|r| r.tries > 0).count()
}

proptest! {
    /// The same records, whatever the number of shards and the order of events. And without
    /// redirects, each URL is a new link of exactly one page, whichever shard owns the page
    /// and the URL. (With redirects, a URL that a link and a redirect both lead to is a new
    /// link of the page only if the link got there first, with one shard as with several.)
    #[test]
    fn any_number_of_shards_finds_what_one_finds(
        (redirects, site) in any::<bool>().prop_flat_map(|r| (Just(r), site(r))),
        shards in 2..6usize,
        width in 1..4usize,
        seeds in any::<(u64, u64)>(),
    ) {
        let one = crawl(&site, config(None), 1, 1, seeds.0);
        let many = crawl(&site, config(None), shards, width, seeds.1);
        prop_assert_eq!(canonical(&many), canonical(&one));
        if !redirects {
            prop_assert_eq!(new_links(&many), new_links(&one));
            prop_assert_eq!(new_links(&many) as usize, many.len() - 1);
        }
    }

    #[test]
    fn max_pages_is_one_budget_over_all_shards(
        site in site(true),
        shards in 1..6usize,
        width in 1..4usize,
        max_pages in 1..12usize,
        seeds in any::<(u64, u64)>(),
    ) {
        let one = crawl(&site, config(Some(max_pages)), 1, 1, seeds.0);
        let many = crawl(&site, config(Some(max_pages)), shards, width, seeds.1);
        prop_assert!(fetched(&one) <= max_pages);
        prop_assert_eq!(fetched(&many), fetched(&one));
    }
}

#[test]
fn a_root_out_of_scope_ends_every_shard_at_once() {
    let mut config = config(None);
    config.exclude = Some(regex::Regex::new(".").unwrap());
    let records = crawl(&[], config, 3, 2, 7);
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].status,
        Status::Error(c10k_core::ErrorKind::Skipped)
    );
}

#[test]
fn every_shard_owns_a_share_of_a_site() {
    let config = config(None);
    let counts = (0..1000).fold([0usize; 4], |mut counts, page| {
        let url = config.root.join(&path(page)).unwrap();
        counts[c10k_core::shard::owner(&url, 4)] += 1;
        counts
    });
    assert!(
        counts.iter().all(|&n| (200..300).contains(&n)),
        "{counts:?}"
    );
}
