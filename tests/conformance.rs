//! The conformance suite: every strategy crawls the same test sites and must find exactly
//! what the site's manifest says, with the same outcomes, at every concurrency.
//!
//! A strategy joins by adding one line to the `conformance!` list at the bottom.

use std::{
    collections::BTreeSet,
    path::Path,
    process::Command,
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use c10k_core::{Config, HostMatch, RecordSink, Report, Resolver, Status, parse_root, urls_out};
use c10k_harness::{Strategy, StrategyOptions};
use c10k_testsite::{BUSY, SiteSpec};
use common::{config, loops, per_core, start, start_logged};

mod common;

/// A site of 500 pages, with 404s, redirects of every kind, a text file, skipped links and
/// links hidden in comments, scripts and styles.
fn site() -> SiteSpec {
    SiteSpec {
        pages: 500,
        ..SiteSpec::default()
    }
}

/// A strategy with the options it runs under, and the same options as CLI flags.
#[derive(Clone)]
pub struct Under {
    strategy: Strategy,
    options: StrategyOptions,
    flags: &'static [&'static str],
}

fn plain(strategy: Strategy) -> Under {
    Under {
        strategy,
        options: StrategyOptions::default(),
        flags: &[],
    }
}

/// A strategy with several loops or runtimes: `options` for the library, `flags` for the CLI.
fn under(strategy: Strategy, options: StrategyOptions, flags: &'static [&'static str]) -> Under {
    Under {
        strategy,
        options,
        flags,
    }
}

fn crawl(under: &Under, config: &Config) -> Report {
    c10k_harness::run(under.strategy, config, &under.options).expect("the strategy runs")
}

/// Crawls the standard site at `concurrency` and checks every URL against the manifest.
pub fn matches_manifest(under: Under, concurrency: usize) {
    let spec = site();
    let server = start(&spec);
    let manifest = server.manifest(&spec);
    let report = crawl(&under, &config(&server, concurrency));

    assert_eq!(urls_out(&report.records), manifest.urls_out());
    assert_eq!(report.strategy, under.strategy.name());
    assert_eq!(report.urls, manifest.urls.len());
    assert_eq!(report.skipped, manifest.count("error:skipped"));
    assert_eq!(report.fetched, manifest.urls.len() - report.skipped);
    assert_eq!(report.pages, spec.pages);
    assert_eq!(report.errors, 0);
    assert_eq!(report.retries, 0);
    assert_eq!(report.status_counts["404"], manifest.count("404"));
    assert!(report.records.iter().all(|r| r.tries <= 1));
}

/// A server slower than the deadline: every try times out, and the crawl still ends.
pub fn deadline_is_enforced(under: Under) {
    let spec = SiteSpec {
        pages: 1,
        delay: Duration::from_secs(5),
        ..SiteSpec::default()
    };
    let server = start(&spec);
    let mut config = config(&server, 4);
    config.timeout = Duration::from_millis(100);
    config.max_tries = 2;
    // The pages' own deadline (a robots.txt that times out would disallow everything).
    config.robots = false;
    let report = crawl(&under, &config);
    let root = report.root_record().expect("the root is recorded");
    assert_eq!(root.status, Status::Error(c10k_core::ErrorKind::Timeout));
    assert_eq!(root.tries, 2);
}

/// An excluded root leaves nothing to fetch: the crawl ends at once (no loop waits for a fetch
/// that never starts).
pub fn excluded_root_ends_the_crawl(under: Under) {
    let server = start(&site());
    let mut config = config(&server, 8);
    config.exclude = Some(regex::Regex::new(".").unwrap());
    let report = crawl(&under, &config);
    assert_eq!(report.urls, 1);
    let root = report.root_record().expect("the root is recorded");
    assert_eq!(root.status, Status::Error(c10k_core::ErrorKind::Skipped));
}

/// Nothing listens: the root fails to connect, after every try.
pub fn refused_root_is_a_connect_error(under: Under) {
    let (_refusing, addr) = common::refusing_port();
    let mut config = Config::new(parse_root(&format!("http://{addr}/")).unwrap(), addr);
    config.max_tries = 3;
    config.robots = false;
    let report = crawl(&under, &config);
    let root = report.root_record().expect("the root is recorded");
    assert_eq!(root.status, Status::Error(c10k_core::ErrorKind::Connect));
    assert_eq!(root.tries, 3);

    // Obeying robots.txt, which cannot be fetched either: all is disallowed (RFC 9309,
    // 2.3.1.4), and the note says why.
    config.robots = true;
    let report = crawl(&under, &config);
    let root = report.root_record().expect("the root is recorded");
    assert_eq!(root.status, Status::Error(c10k_core::ErrorKind::Robots));
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(
        report.notes[0].contains("could not be fetched") && report.notes[0].contains("disallowed"),
        "{:?}",
        report.notes
    );
}

/// A concurrency of 0 could never start a fetch: the strategy refuses it instead of waiting.
pub fn zero_concurrency_is_refused(under: Under) {
    let server = start(&site());
    let err = c10k_harness::run(under.strategy, &config(&server, 0), &under.options)
        .expect_err("a concurrency of 0 is refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert_eq!(server.stats().accepted.load(Ordering::Relaxed), 0);
}

/// Handing the parsing (and some CPU work) to the rayon pool changes nothing in the results.
pub fn offload_gives_the_same_results(under: Under) {
    let spec = site();
    let server = start(&spec);
    let mut config = config(&server, 50);
    config.work_rounds = 2000;
    let inline = crawl(&under, &config);
    let offloaded = crawl(
        &Under {
            options: StrategyOptions {
                offload: true,
                ..under.options.clone()
            },
            ..under.clone()
        },
        &config,
    );
    assert_eq!(urls_out(&inline.records), urls_out(&offloaded.records));
    assert_eq!(urls_out(&inline.records), server.manifest(&spec).urls_out());
    assert_eq!(
        (
            inline.fetched,
            inline.pages,
            inline.errors,
            &inline.status_counts
        ),
        (
            offloaded.fetched,
            offloaded.pages,
            offloaded.errors,
            &offloaded.status_counts
        )
    );
    assert_ne!(inline.work_digest, 0, "the work was done");
    assert_eq!(inline.work_digest, offloaded.work_digest);
    // Only the event loops measure their lag.
    assert_eq!(
        inline.loop_lag_ms.is_some(),
        under.strategy != Strategy::Threads
    );
}

/// Two sites on two ports, crawled from both roots at once: each URL is fetched from its own
/// address, and the records are the union of the two manifests. The busy pages are tried
/// again as the server asks: not before their `Retry-After` (seconds, or a date against the
/// response's `Date`), or the exponential backoff without one, within `--max-tries`, which the
/// always-busy page spends. The record sink sees every record, once, as it is made.
pub fn several_roots_wait_as_the_servers_ask(under: Under) {
    let spec = SiteSpec {
        pages: 60,
        busy: true,
        ..SiteSpec::default()
    };
    let other = SiteSpec {
        seed: 2,
        ..spec.clone()
    };
    let (a, b) = (start_logged(&spec, None), start_logged(&other, None));
    let mut config = config(&a, 8);
    config.add_root(parse_root(&b.url()).unwrap(), b.addr());
    config.backoff = Duration::from_millis(100);
    let streamed = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&streamed);
    config.sink = Some(RecordSink(Arc::new(move |record| {
        sink.lock().unwrap().push(record.json());
    })));
    let report = crawl(&under, &config);

    let mut expected = a.manifest(&spec).urls;
    expected.extend(b.manifest(&other).urls);
    let expected: String = expected
        .iter()
        .map(|(u, o)| format!("{o}\t{u}\n"))
        .collect();
    assert_eq!(urls_out(&report.records), expected);
    assert_eq!(report.roots, [a.url(), b.url()]);
    for server in [&a, &b] {
        for (n, &(status, _, times)) in BUSY.iter().enumerate() {
            let url = format!("{}busy/{n}", server.url());
            let record = report.records.iter().find(|r| r.url == url).unwrap();
            let tries = times.saturating_add(1).min(config.max_tries);
            assert_eq!(record.tries, tries, "{url}");
            if tries == config.max_tries {
                assert_eq!(record.status, Status::Http(status), "{url}");
            }
            let arrivals = server.stats().arrivals(&format!("/busy/{n}"));
            assert_eq!(arrivals.len(), tries as usize, "{url}");
            let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
            // The least each wait may be: what Retry-After asked, or half the backoff's
            // exponential step (its jitter takes between a half and all of it).
            let least = |try_: usize| match n {
                0 | 1 => Duration::from_secs(1),
                2 => config.backoff * (1 << try_) / 2,
                _ => Duration::ZERO,
            };
            for (try_, gap) in gaps.iter().enumerate() {
                assert!(*gap >= least(try_), "{url}: gap {try_} is {gap:?}");
            }
        }
    }
    let streamed: BTreeSet<String> = streamed.lock().unwrap().iter().cloned().collect();
    let records: BTreeSet<String> = report.records.iter().map(|r| r.json()).collect();
    assert_eq!(streamed.len(), report.records.len(), "one line per record");
    // With shards, a page's new-link count is completed when the shards merge: compare the
    // URLs and outcomes, which the stream has as they were.
    let outcome = |line: &String| {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        (
            value["url"].to_string(),
            value["status"].to_string(),
            value["tries"].to_string(),
        )
    };
    assert_eq!(
        streamed.iter().map(outcome).collect::<BTreeSet<_>>(),
        records.iter().map(outcome).collect::<BTreeSet<_>>()
    );
}

/// `--strict` skips the `www.` subdomain the root links to; `--lenient` fetches it, at the
/// address the caller's resolver gives (the core itself resolves nothing).
pub fn lenient_fetches_subdomains(under: Under) {
    let spec = SiteSpec {
        pages: 30,
        www_link: true,
        ..SiteSpec::default()
    };
    let server = start_logged(&spec, Some("site.test"));
    let port = server.addr().port();
    let manifest = server.manifest(&spec);
    let www = format!("http://www.site.test:{port}/data/0.txt");
    assert_eq!(manifest.urls[&www], "error:skipped");

    let mut config = Config::new(parse_root(&server.url()).unwrap(), server.addr());
    config.concurrency = 4;
    let strict = crawl(&under, &config);
    assert_eq!(urls_out(&strict.records), manifest.urls_out());

    config.host_match = HostMatch::Lenient;
    let addr = server.addr();
    config.resolver = Some(Resolver(Arc::new(move |host, port| {
        (host == "www.site.test" && port == addr.port()).then_some(addr)
    })));
    let lenient = crawl(&under, &config);
    let mut expected = manifest.urls.clone();
    expected.insert(www.clone(), "200".to_owned());
    let expected: String = expected
        .iter()
        .map(|(u, o)| format!("{o}\t{u}\n"))
        .collect();
    assert_eq!(urls_out(&lenient.records), expected);
    assert_eq!(server.stats().arrivals("/data/0.txt").len(), 1);
}

/// robots.txt is fetched before any page of its origin and obeyed (a disallowed URL is
/// recorded, never fetched, and its links are not found); `--ignore-robots` fetches
/// everything; a file of no rules allows all.
pub fn robots_txt_is_fetched_first_and_obeyed(under: Under) {
    let spec = SiteSpec {
        pages: 60,
        robots: Some("User-agent: *\nDisallow: /p/3\nAllow: /p/30\nDisallow: /r/\n".into()),
        ..SiteSpec::default()
    };
    let server = start_logged(&spec, None);
    let report = crawl(&under, &config(&server, 8));
    let manifest = server.manifest(&spec);
    let a_url = server.url();
    assert!(
        manifest.count("error:robots") >= 3,
        "the file disallows some"
    );
    assert_eq!(urls_out(&report.records), manifest.urls_out());
    // Disallowed is not failed: counted with the skipped, never fetched.
    assert_eq!(report.errors, 0);
    assert_eq!(
        report.skipped,
        manifest.count("error:skipped") + manifest.count("error:robots")
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let requests = server.stats().requests();
    assert_eq!(requests[0].0, "/robots.txt");
    // One fetch for the whole crawl, however many shards: the origin's home reads it.
    let robots = requests
        .iter()
        .filter(|(path, _)| path == "/robots.txt")
        .count();
    assert_eq!(robots, 1, "{robots} robots.txt requests");
    for (path, _) in &requests {
        let url = format!("{}{}", server.url(), &path[1..]);
        assert_ne!(
            manifest.urls.get(&url).map(String::as_str),
            Some("error:robots"),
            "{path} fetched"
        );
    }

    let ignoring = start_logged(&spec, None);
    let mut ignore = config(&ignoring, 8);
    ignore.robots = false;
    let report = crawl(&under, &ignore);
    let everything = SiteSpec {
        robots: None,
        ..spec.clone()
    };
    assert_eq!(
        urls_out(&report.records),
        ignoring.manifest(&everything).urls_out()
    );
    assert_eq!(ignoring.stats().arrivals("/robots.txt").len(), 0);

    // A robots.txt that redirects is followed to its file, which holds the same rules.
    let moved = SiteSpec {
        robots_redirect: true,
        ..spec.clone()
    };
    let server = start_logged(&moved, None);
    let report = crawl(&under, &config(&server, 8));
    assert_eq!(
        urls_out(&report.records),
        server.manifest(&moved).urls_out()
    );
    assert_eq!(
        urls_out(&report.records),
        manifest.urls_out().replace(&a_url, &server.url())
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let requests = server.stats().requests();
    assert_eq!(requests[0].0, "/robots.txt");
    assert_eq!(requests[1].0, "/robots/real.txt");

    // A robots.txt longer than --max-body (RFC 9309: read at least 500 KiB): cut at its own
    // cap, not refused, so its rules hold.
    let long = SiteSpec {
        robots: Some(format!(
            "{}# {}\n",
            spec.robots.as_deref().unwrap_or_default(),
            "long comment ".repeat(12_000)
        )),
        ..spec.clone()
    };
    let server = start(&long);
    let mut small = config(&server, 8);
    small.limits.max_body = 100_000;
    let report = crawl(&under, &small);
    assert_eq!(urls_out(&report.records), server.manifest(&long).urls_out());
    assert!(report.notes.is_empty(), "{:?}", report.notes);

    let garbage = SiteSpec {
        robots: Some("\0\0\u{1}<html>not robots</html>".into()),
        ..spec.clone()
    };
    let server = start(&garbage);
    let report = crawl(&under, &config(&server, 8));
    assert_eq!(
        urls_out(&report.records),
        server.manifest(&garbage).urls_out()
    );
    // Read line by line, as RFC 9309 asks: no line is a rule, so nothing is disallowed.
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

/// The gaps between consecutive requests the server saw (robots.txt included).
fn gaps(server: &c10k_testsite::Server) -> Vec<Duration> {
    let requests = server.stats().requests();
    requests.windows(2).map(|w| w[1].1 - w[0].1).collect()
}

/// `--per-host 1` and `--delay-ms`: one connection to the host at a time over the whole crawl
/// (with shards too: the host's URLs all go to one), and the server sees its requests at
/// least the delay apart; a robots.txt `Crawl-delay` raises the delay. `--per-host 2` never
/// has more than two in flight. Nothing else changes: the same URLs, the same outcomes.
pub fn politeness_caps_and_spaces_a_host(under: Under) {
    let spec = SiteSpec {
        pages: 20,
        ..SiteSpec::default()
    };
    let server = start_logged(&spec, None);
    let mut polite = config(&server, 8);
    polite.per_host = Some(1);
    polite.delay = Duration::from_millis(15);
    let report = crawl(&under, &polite);
    assert_eq!(urls_out(&report.records), server.manifest(&spec).urls_out());
    assert_eq!(report.peak_in_flight, 1);
    let spaced = gaps(&server);
    assert!(spaced.len() > 20, "{} requests", spaced.len() + 1);
    assert!(spaced.iter().all(|gap| *gap >= polite.delay), "{spaced:?}");

    let two = start_logged(&spec, None);
    let mut config2 = config(&two, 8);
    config2.per_host = Some(2);
    let report = crawl(&under, &config2);
    assert_eq!(urls_out(&report.records), two.manifest(&spec).urls_out());
    assert!(report.peak_in_flight <= 2, "{}", report.peak_in_flight);

    let slow = SiteSpec {
        robots: Some("User-agent: *\nCrawl-delay: 0.04\n".into()),
        pages: 8,
        ..SiteSpec::default()
    };
    let server = start_logged(&slow, None);
    let mut asked = config(&server, 8);
    asked.per_host = Some(1);
    asked.delay = Duration::from_millis(1);
    let report = crawl(&under, &asked);
    assert_eq!(urls_out(&report.records), server.manifest(&slow).urls_out());
    let spaced = gaps(&server);
    assert!(
        spaced.iter().all(|gap| *gap >= Duration::from_millis(40)),
        "{spaced:?}"
    );

    // A Crawl-delay alone: with several shards the URLs stay spread by URL, and the shards
    // take turns in time. robots.txt itself is read before the delay is known, so only the
    // pages' requests are spaced.
    let server = start_logged(&slow, None);
    let report = crawl(&under, &config(&server, 8));
    assert_eq!(urls_out(&report.records), server.manifest(&slow).urls_out());
    let pages: Vec<_> = server
        .stats()
        .requests()
        .into_iter()
        .filter(|(path, _)| path != "/robots.txt")
        .collect();
    let spaced: Vec<Duration> = pages.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert!(
        spaced.iter().all(|gap| *gap >= Duration::from_millis(40)),
        "{spaced:?}"
    );
}

/// Four sites on four ports whose robots.txt all redirect to the first's: with `--per-host 1`
/// and `--delay-ms`, every request a server sees is the delay after the one before,
/// whichever shard's rules it was fetched for (the origin a fetch connects to counts it);
/// each site is crawled under the rules it points to, read once per chain of redirects.
pub fn robots_redirects_across_origins_keep_politeness(under: Under) {
    let rules = "User-agent: *\nDisallow: /p/1\n";
    let spec = SiteSpec {
        pages: 12,
        robots: Some(rules.into()),
        ..SiteSpec::default()
    };
    let first = start_logged(&spec, None);
    let pointing = SiteSpec {
        robots_elsewhere: Some(format!("{}robots.txt", first.url())),
        ..spec.clone()
    };
    let others: Vec<_> = (0..3).map(|_| start_logged(&pointing, None)).collect();
    let mut config = config(&first, 8);
    for server in &others {
        config.add_root(parse_root(&server.url()).unwrap(), server.addr());
    }
    config.per_host = Some(1);
    config.delay = Duration::from_millis(20);
    let report = crawl(&under, &config);
    let mut expected = first.manifest(&spec).urls;
    for server in &others {
        expected.extend(server.manifest(&pointing).urls);
    }
    let expected: String = expected
        .iter()
        .map(|(u, o)| format!("{o}\t{u}\n"))
        .collect();
    assert_eq!(urls_out(&report.records), expected);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let robots = first.stats().arrivals("/robots.txt").len();
    assert_eq!(robots, 4, "the first site's rules, once for each site");
    for server in std::iter::once(&first).chain(&others) {
        let spaced = gaps(server);
        assert!(
            spaced.iter().all(|gap| *gap >= config.delay),
            "{}: {spaced:?}",
            server.url()
        );
    }
}

/// `--max-pages` takes the roots in the order given, then the first URLs breadth first: the
/// same `--urls-out` and the same report (each page's `new_links` included) as a crawl of one
/// fetch at a time, whatever the strategy, its loops and the concurrency.
pub fn max_pages_takes_the_same_pages(under: Under) {
    let spec = site();
    let server = start(&spec);
    let rooted = |max_pages: usize, roots: &[&str], concurrency| {
        let mut config = config(&server, concurrency);
        config.max_pages = max_pages;
        config.root = parse_root(&format!("{}{}", server.url(), roots[0])).unwrap();
        for root in &roots[1..] {
            config.add_root(
                parse_root(&format!("{}{root}", server.url())).unwrap(),
                server.addr(),
            );
        }
        config
    };
    let roots = ["p/1", "p/2", "p/3", "p/4", "p/5", "p/6"];
    let report = crawl(&under, &rooted(1, &roots, 8));
    let fetched: Vec<&str> = report.records.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(fetched, [format!("{}p/1", server.url())]);
    let report = crawl(&under, &rooted(4, &roots[2..], 8));
    let mut fetched: Vec<&str> = report.records.iter().map(|r| r.url.as_str()).collect();
    fetched.sort_unstable();
    let expected: Vec<String> = roots[2..]
        .iter()
        .map(|r| format!("{}{r}", server.url()))
        .collect();
    assert_eq!(fetched, expected);

    // A cut in the middle of a depth, with redirects refused past none.
    let pages = |report: &Report| {
        let mut pages: Vec<String> = report
            .records
            .iter()
            .map(|r| format!("{} {} {} {}", r.url, r.status, r.links_found, r.new_links))
            .collect();
        pages.sort();
        pages
    };
    for max_redirects in [0, 5] {
        let mut one = rooted(37, &[""], 1);
        one.max_redirects = max_redirects;
        let mut many = rooted(37, &[""], 50);
        many.max_redirects = max_redirects;
        let expected = crawl(&plain(Strategy::Threads), &one);
        let report = crawl(&under, &many);
        assert_eq!(urls_out(&report.records), urls_out(&expected.records));
        assert_eq!(pages(&report), pages(&expected));
        assert_eq!(report.fetched, 37);
    }
}

/// Two strategies, run through the CLI, write byte-identical `--urls-out` files.
pub fn same_urls_out_as_threads(under: Under) {
    let spec = site();
    let server = start(&spec);
    let dir = std::env::temp_dir().join(format!(
        "c10k-conformance-{}-{}{}",
        std::process::id(),
        under.strategy,
        under.flags.join("")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |strategy: Strategy, flags: &[&str]| {
        let path = dir.join(format!("{strategy}.txt"));
        let status = Command::new(env!("CARGO_BIN_EXE_c10k"))
            .args([
                "crawl",
                &server.url(),
                "--strategy",
                strategy.name(),
                "--concurrency",
                "8",
            ])
            .args(flags)
            .arg("--urls-out")
            .arg(&path)
            .output()
            .expect("the c10k binary runs");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        read(&path)
    };
    let ours = run(under.strategy, under.flags);
    assert_eq!(ours, run(Strategy::Threads, &[]));
    assert_eq!(ours, server.manifest(&spec).urls_out());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--report` through the CLI with `--max-pages` cutting a depth short: the same report as a
/// crawl of one fetch at a time, line for line (but the line of the time it took), each page's
/// new links included.
pub fn same_report_as_one_at_a_time(under: Under) {
    let server = start(&site());
    let report = |strategy: Strategy, flags: &[&str], concurrency: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_c10k"))
            .args(["crawl", &server.url(), "--report", "--max-pages", "37"])
            .args(["--max-redirects", "0", "--strategy", strategy.name()])
            .args(["--concurrency", concurrency])
            .args(flags)
            .output()
            .expect("the c10k binary runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.starts_with("Finished "))
            .map(|line| format!("{line}\n"))
            .collect::<String>()
    };
    let ours = report(under.strategy, under.flags, "50");
    assert!(ours.contains(" new "), "{ours}");
    assert_eq!(ours, report(Strategy::Threads, &[], "1"));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The suite, once per strategy (and runtime).
macro_rules! conformance {
    ($($name:ident => $under:expr,)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn sequential_crawl_matches_the_manifest() {
                matches_manifest($under, 1);
            }

            #[test]
            fn crawl_at_8_matches_the_manifest() {
                matches_manifest($under, 8);
            }

            #[test]
            fn crawl_at_200_matches_the_manifest() {
                matches_manifest($under, 200);
            }

            #[test]
            fn deadline_is_enforced() {
                super::deadline_is_enforced($under);
            }

            #[test]
            fn excluded_root_ends_the_crawl() {
                super::excluded_root_ends_the_crawl($under);
            }

            #[test]
            fn refused_root_is_a_connect_error() {
                super::refused_root_is_a_connect_error($under);
            }

            #[test]
            fn zero_concurrency_is_refused() {
                super::zero_concurrency_is_refused($under);
            }

            #[test]
            fn offload_gives_the_same_results() {
                super::offload_gives_the_same_results($under);
            }

            #[test]
            fn same_urls_out_as_threads() {
                super::same_urls_out_as_threads($under);
            }

            #[test]
            fn same_report_as_one_at_a_time() {
                super::same_report_as_one_at_a_time($under);
            }

            #[test]
            fn several_roots_wait_as_the_servers_ask() {
                super::several_roots_wait_as_the_servers_ask($under);
            }

            #[test]
            fn robots_txt_is_fetched_first_and_obeyed() {
                super::robots_txt_is_fetched_first_and_obeyed($under);
            }

            #[test]
            fn politeness_caps_and_spaces_a_host() {
                super::politeness_caps_and_spaces_a_host($under);
            }

            #[test]
            fn robots_redirects_across_origins_keep_politeness() {
                super::robots_redirects_across_origins_keep_politeness($under);
            }

            #[test]
            fn max_pages_takes_the_same_pages() {
                super::max_pages_takes_the_same_pages($under);
            }

            #[test]
            fn lenient_fetches_subdomains() {
                super::lenient_fetches_subdomains($under);
            }
        }
    )*};
}

conformance! {
    threads => plain(Strategy::Threads),
    callbacks => plain(Strategy::Callbacks),
    generators => plain(Strategy::Generators),
    async_current_thread => plain(Strategy::Async),
    async_two_threads => Under {
        strategy: Strategy::Async,
        options: StrategyOptions {
            runtime_threads: Some(2),
            ..StrategyOptions::default()
        },
        flags: &["--threads", "2"],
    },
    callbacks_two_loops => under(Strategy::Callbacks, loops(2), &["--loops", "2"]),
    callbacks_three_loops => under(Strategy::Callbacks, loops(3), &["--loops", "3"]),
    generators_two_loops => under(Strategy::Generators, loops(2), &["--loops", "2"]),
    generators_three_loops => under(Strategy::Generators, loops(3), &["--loops", "3"]),
    async_per_core_two => under(
        Strategy::Async,
        per_core(2),
        &["--runtime", "per-core", "--threads", "2"],
    ),
    async_per_core_three => under(
        Strategy::Async,
        per_core(3),
        &["--runtime", "per-core", "--threads", "3"],
    ),
    uring => plain(common::or_skip!(Strategy::Uring)),
    uring_two_loops => under(common::or_skip!(Strategy::Uring), loops(2), &["--loops", "2"]),
    uring_three_loops => under(common::or_skip!(Strategy::Uring), loops(3), &["--loops", "3"]),
}
