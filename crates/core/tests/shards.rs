//! Properties of the sharded frontier, over random sites and random schedules: whatever the
//! number of shards and whatever order fetches end and messages arrive in, the shards find what
//! one crawler finds, end only when nothing is left anywhere, and share `--max-pages` exactly.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};

use c10k_core::{
    Change, Config, ErrorKind, Fetch, FetchError, Journal, Message, Record, Response, Restore,
    Retry, Shard, Spool, Spools, Status, parse_root,
};
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

/// Whether a message is work for its receiver: links, robots.txt, a round of a bounded crawl.
fn carries_work(message: &Message) -> bool {
    let text = format!("{message:?}");
    ["Links", "Robots", "Admit"]
        .iter()
        .any(|kind| text.contains(kind))
}

/// Crawls `site` with `shards` shards, each with up to `width` fetches in flight, choosing at
/// random at every step which fetch ends or which message arrives next. Checks on the way
/// that no shard thinks the crawl is over while anything is left; returns the merged records.
fn crawl(site: &[Page], config: Config, shards: usize, width: usize, seed: u64) -> Vec<Record> {
    run(config, shards, width, seed, |_, fetch| {
        respond(site, fetch.url.as_str(), fetch.tries)
    })
}

/// [`crawl`], with `answer` giving the response to each fetch, told which shard fetches it.
fn run(
    config: Config,
    shards: usize,
    width: usize,
    seed: u64,
    answer: impl FnMut(usize, &Fetch) -> Result<Response, FetchError>,
) -> Vec<Record> {
    run_until(config, shards, width, seed, None, answer).expect("a crawl not killed ends")
}

/// [`run`], killed after `kill` steps if given: `None` then, with every fetch in flight and
/// every message on its way lost.
fn run_until(
    config: Config,
    shards: usize,
    width: usize,
    seed: u64,
    kill: Option<usize>,
    mut answer: impl FnMut(usize, &Fetch) -> Result<Response, FetchError>,
) -> Option<Vec<Record>> {
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
    // Shards whose queued URLs cannot start until something happens (they wait for their
    // robots.txt, or for their host's politeness).
    let mut blocked = vec![false; shards.len()];
    for step in 0..100_000 {
        if kill == Some(step) {
            return None;
        }
        let startable: Vec<usize> = (0..shards.len())
            .filter(|&s| !blocked[s] && shards[s].queued() > 0 && shards[s].in_flight() < width)
            .collect();
        let choices = startable.len() + fetches.len() + messages.len();
        if choices == 0 {
            break;
        }
        let choice = rng.below(choices);
        if choice < startable.len() {
            let s = startable[choice];
            match shards[s].next_fetch(now) {
                Some(fetch) => fetches.push((s, fetch)),
                None => blocked[s] = true,
            }
            continue;
        }
        blocked.iter_mut().for_each(|b| *b = false);
        if choice < startable.len() + fetches.len() {
            let (s, fetch) = fetches.swap_remove(choice - startable.len());
            let result = answer(s, &fetch);
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
                !messages.iter().any(|(_, m)| carries_work(m)),
                "done with work on its way"
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
    Some(Shard::merge(ran, "test", std::time::Duration::ZERO).records)
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

/// The records with only the latency left out: a bounded crawl decides everything else,
/// `new_links` included, by rank.
fn exact(records: &[Record]) -> Vec<Record> {
    let mut sorted: Vec<Record> = records
        .iter()
        .map(|r| Record {
            latency: None,
            ..r.clone()
        })
        .collect();
    sorted.sort_by(|a, b| a.url.cmp(&b.url));
    sorted
}

/// `config` with more roots, pages of the site (the first root stays `/`).
fn with_roots(mut config: Config, pages: &[usize]) -> Config {
    for &page in pages {
        let root = parse_root(&format!("{}{}", ROOT.trim_end_matches('/'), path(page))).unwrap();
        config.add_root(root, "127.0.0.1:8000".parse().unwrap());
    }
    config
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
}

proptest! {
    /// A page is credited only with links it has: a link new to another shard is counted on
    /// the record of the page that found it, even when records were removed since (a URL
    /// refused for its redirect chain and fetched after all).
    #[test]
    fn new_links_credit_the_page_that_found_them(
        site in site(true),
        shards in 2..6usize,
        width in 1..4usize,
        max_redirects in 0..2u32,
        seed in any::<u64>(),
    ) {
        let mut config = config(None);
        config.max_redirects = max_redirects;
        let records = crawl(&site, config, shards, width, seed);
        for record in &records {
            prop_assert!(record.new_links <= record.links_found, "{record:?}");
        }
    }
}

proptest! {
    /// `--max-pages` takes the first pages breadth first, roots in the order given: the same
    /// records (`new_links` included) whatever the number of shards, the concurrency and the
    /// order fetches end and messages arrive in, redirect limits and all.
    #[test]
    fn max_pages_takes_the_same_pages_whatever_the_shards_and_the_order(
        site in site(true),
        shards in 1..6usize,
        width in 1..4usize,
        max_pages in 1..16usize,
        max_redirects in prop_oneof![Just(0u32), Just(1), Just(100)],
        roots in proptest::collection::vec(0..48usize, 0..5),
        seeds in any::<(u64, u64)>(),
    ) {
        let mut config = with_roots(config(Some(max_pages)), &roots);
        config.max_redirects = max_redirects;
        let one = crawl(&site, config.clone(), 1, 1, seeds.0);
        let many = crawl(&site, config, shards, width, seeds.1);
        prop_assert!(fetched(&one) <= max_pages);
        prop_assert_eq!(exact(&many), exact(&one));
    }
}

/// Roots take the budget in the order they were given, whichever shard owns them.
#[test]
fn the_roots_take_the_budget_in_their_order() {
    let site = vec![Page::Html(Vec::new(), false); 8];
    for shards in 1..=4 {
        let config = with_roots(config(Some(2)), &[6, 5, 4, 3]);
        let records = crawl(&site, config, shards, 2, 7);
        let urls: Vec<&str> = records.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(exact(&records).len(), 2, "{shards} shards: {urls:?}");
        assert!(
            urls.contains(&ROOT) && urls.contains(&"http://127.0.0.1:8000/p/6"),
            "{shards} shards: {urls:?}"
        );
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

/// A site's robots.txt: rules, after `failures` answers of 500.
fn robots_txt(rules: &str, failures: usize, asked: &mut usize) -> Result<Response, FetchError> {
    *asked += 1;
    let status = if *asked <= failures { 500 } else { 200 };
    Ok(Response {
        status,
        body: rules.as_bytes().to_vec(),
        body_len: rules.len() as u64,
        ..Response::default()
    })
}

proptest! {
    /// robots.txt is fetched once for the whole crawl, by one shard, and every shard obeys
    /// what that one fetch said: the same records as one crawler's, whatever the order.
    #[test]
    fn robots_txt_is_one_fetch_and_one_set_of_rules(
        site in site(true),
        shards in 1..6usize,
        width in 1..4usize,
        failures in 0..2usize,
        seeds in any::<(u64, u64)>(),
    ) {
        let mut config = config(None);
        config.robots = true;
        config.max_tries = 1;
        let rules = "User-agent: *\nDisallow: /p/1\n";
        let crawl_with = |shards, width, seed| {
            let mut asked = 0;
            let records = run(config.clone(), shards, width, seed, |_, fetch| {
                if fetch.is_robots() {
                    robots_txt(rules, failures, &mut asked)
                } else {
                    respond(&site, fetch.url.as_str(), fetch.tries)
                }
            });
            (records, asked)
        };
        let (one, _) = crawl_with(1, 1, seeds.0);
        let (many, asked) = crawl_with(shards, width, seeds.1);
        prop_assert_eq!(asked, 1);
        prop_assert_eq!(canonical(&many), canonical(&one));
        let disallowed = one.iter().filter(|r| r.status == Status::Error(ErrorKind::Robots));
        prop_assert!(disallowed.count() >= usize::from(failures > 0));
    }
}

/// Several origins whose robots.txt all redirect to the first origin's: every fetch that
/// connects to an origin is handed out by that origin's home shard (which keeps its
/// `--per-host` and `--delay-ms`), whichever shard's rules it was fetched for; each origin's
/// rules come from its own chain of fetches.
#[test]
fn a_robots_redirect_is_fetched_by_the_home_of_the_origin_it_goes_to() {
    let origins: Vec<String> = (0..4)
        .map(|n| format!("http://127.0.0.1:{}", 8000 + n))
        .collect();
    let mut config = Config::new(
        parse_root(&format!("{}/", origins[0])).unwrap(),
        "127.0.0.1:8000".parse().unwrap(),
    );
    for (n, origin) in origins.iter().enumerate().skip(1) {
        let addr = format!("127.0.0.1:{}", 8000 + n).parse().unwrap();
        config.add_root(parse_root(&format!("{origin}/")).unwrap(), addr);
    }
    config.per_host = Some(1);
    for shards in 1..=4 {
        let mut fetched_by: Vec<(String, usize)> = Vec::new();
        let first = origins[0].clone();
        let records = run(config.clone(), shards, 2, 11, |shard, fetch| {
            fetched_by.push((fetch.url.as_str().to_owned(), shard));
            let path = fetch.url.path();
            if path == "/robots.txt" && !fetch.url.as_str().starts_with(&first) {
                return Ok(Response {
                    status: 301,
                    location: Some(format!("{first}/rules.txt")),
                    ..Response::default()
                });
            }
            if fetch.is_robots() {
                let rules = "User-agent: *\nDisallow: /private\n";
                return Ok(Response {
                    status: 200,
                    body: rules.as_bytes().to_vec(),
                    body_len: rules.len() as u64,
                    ..Response::default()
                });
            }
            let body = r#"<a href="/private/x"><a href="/open">"#;
            Ok(Response {
                status: 200,
                content_type: Some("text/html".into()),
                body: body.as_bytes().to_vec(),
                body_len: body.len() as u64,
                ..Response::default()
            })
        });
        for (url, shard) in &fetched_by {
            let home = c10k_core::shard::host_owner(&c10k_core::Url::parse(url).unwrap(), shards);
            assert_eq!(
                *shard, home,
                "{shards} shards: {url} fetched by shard {shard}"
            );
        }
        // Each origin: its root and /open fetched, /private/x disallowed.
        assert_eq!(records.len(), 12, "{shards} shards: {records:?}");
        let disallowed = records
            .iter()
            .filter(|r| r.status == Status::Error(ErrorKind::Robots));
        assert_eq!(disallowed.count(), 4, "{shards} shards");
        // The first origin's /rules.txt: once for each other origin's chain.
        let rules = fetched_by
            .iter()
            .filter(|(url, _)| url.ends_with("/rules.txt"));
        assert_eq!(rules.count(), 3, "{shards} shards");
    }
}

/// What a store gives back from `changes` (see `c10k_core::journal`): each URL seen at its
/// fewest redirects, the last try of those that had not ended, the last record of those that
/// had.
fn restore(changes: &[Change]) -> Restore {
    let mut restore = Restore::default();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut tries: HashMap<&str, u32> = HashMap::new();
    let mut ended: HashMap<&str, &Record> = HashMap::new();
    for change in changes {
        match change {
            Change::Seen { url, redirects } => match seen.get(url.as_str()) {
                Some(&at) => {
                    let fewest = &mut restore.seen[at].1;
                    *fewest = (*fewest).min(*redirects);
                }
                None => {
                    seen.insert(url, restore.seen.len());
                    restore.seen.push((url.clone(), *redirects));
                }
            },
            Change::Tried { url, tries: n, .. } => {
                tries.insert(url, *n);
            }
            Change::Ended(record) => {
                ended.insert(&record.url, record);
            }
        }
    }
    restore.tries = tries
        .into_iter()
        .filter(|(url, _)| !ended.contains_key(url))
        .map(|(url, tries)| Retry {
            url: url.to_owned(),
            tries,
            // Backoff is zero here: every retry is due at once.
            due: Instant::now(),
        })
        .collect();
    restore.ended = ended.into_values().cloned().collect();
    restore
}

/// A [`Spool`] in memory, as `--state` keeps one on disk.
struct Queue(std::collections::VecDeque<String>);

impl Spool for Queue {
    fn push(&mut self, url: &str) {
        self.0.push_back(url.to_owned());
    }
    fn pop(&mut self) -> Option<String> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn footprint(&self) -> usize {
        0
    }
}

proptest! {
    /// A crawl killed at random moments (its fetches in flight and its messages on their way
    /// lost) and resumed each time from what its journal was told ends with the records of a
    /// crawl that ran through, tries included; and no URL that had ended is fetched again.
    /// `lean`: as `--state` crawls, with fingerprints for a seen set and the queued URLs
    /// spooled, the records then read back from the journal.
    #[test]
    fn a_crawl_killed_and_resumed_ends_as_one_that_ran_through(
        site in site(true),
        shards in 1..4usize,
        width in 1..4usize,
        kills in proptest::collection::vec(0..80usize, 1..4),
        seeds in any::<(u64, u64)>(),
        lean in any::<bool>(),
    ) {
        // The site counts the requests it answers, as a server does: a flaky page fails its
        // first ones whichever run asks.
        let serve = |answered: &mut HashMap<String, u32>, fetch: &Fetch| {
            let n = answered.entry(fetch.url.to_string()).or_default();
            *n += 1;
            respond(&site, fetch.url.as_str(), *n)
        };
        let mut answered = HashMap::new();
        let one = run(config(None), 1, 1, seeds.0, |_, fetch| serve(&mut answered, fetch));
        let mut answered = HashMap::new();
        let changes: Arc<Mutex<Vec<Change>>> = Arc::default();
        let mut run_once = |kill: Option<usize>, seed: u64| {
            let mut config = config(None);
            let told = Arc::clone(&changes);
            config.journal = Some(Journal(Arc::new(move |step: &mut Vec<Change>| {
                told.lock().unwrap().append(step);
            })));
            let before = restore(&changes.lock().unwrap());
            let ended: HashSet<String> = before.ended.iter().map(|r| r.url.clone()).collect();
            config.restore = Some(Arc::new(before));
            if lean {
                config.spools = Some(Spools(Arc::new(|| Box::new(Queue(Default::default())))));
            }
            let mut again = Vec::new();
            let records = run_until(config, shards, width, seed, kill, |_, fetch| {
                if ended.contains(fetch.url.as_str()) {
                    again.push(fetch.url.to_string());
                }
                serve(&mut answered, fetch)
            });
            (records, again)
        };
        let mut last = None;
        for (n, &kill) in kills.iter().enumerate() {
            let (records, again) = run_once(Some(kill), seeds.1.wrapping_add(n as u64));
            prop_assert_eq!(again, Vec::<String>::new(), "a URL that had ended was fetched again");
            if records.is_some() {
                last = records;
                break;
            }
        }
        let records = match last {
            Some(records) => records,
            None => {
                let (records, again) = run_once(None, seeds.1.wrapping_sub(1));
                prop_assert_eq!(again, Vec::<String>::new(), "a URL that had ended was fetched again");
                records.expect("a crawl not killed ends")
            }
        };
        let records = if lean {
            prop_assert!(records.is_empty(), "a lean crawl keeps no records");
            restore(&changes.lock().unwrap()).ended
        } else {
            records
        };
        prop_assert_eq!(canonical(&records), canonical(&one));
    }
}
