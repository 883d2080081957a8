//! GUIDE.md's exercises 1 and 2, with their answers: each answer is the doc comment of the
//! test that checks what it rests on. Behaviour only (which fetch starts after which, whether
//! work on the loop holds a timer back), never how fast.

use std::{sync::Arc, time::Duration};

use c10k_core::{Report, Tracer, trace::Memory};
use c10k_harness::{Strategy, StrategyOptions};
use c10k_testsite::SiteSpec;
use common::start;

mod common;

/// Crawls a 30-page site whose responses each take 20 ms, at `concurrency`, with a trace;
/// returns the report and, in order, each trace line's fetch id and event.
fn traced(strategy: Strategy, concurrency: usize) -> (Report, Vec<(u32, String)>) {
    let server = start(&SiteSpec {
        pages: 30,
        delay: Duration::from_millis(20),
        ..SiteSpec::default()
    });
    let mut config = common::config(&server, concurrency);
    let memory = Memory::default();
    config.trace = Some(Arc::new(Tracer::new(memory.clone())));
    let report = c10k_harness::run(strategy, &config, &StrategyOptions::default())
        .expect("the strategy runs");
    let lines = memory
        .text()
        .lines()
        .map(|line| {
            // `  12.345 ms  #7    thread      event words…`
            let mut words = line.split_whitespace().skip(2);
            let id = words
                .next()
                .and_then(|id| id.strip_prefix('#'))
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("not a trace line: {line:?}"));
            let event = words.skip(1).collect::<Vec<_>>().join(" ");
            (id, event)
        })
        .collect();
    (report, lines)
}

/// How many fetches were in flight just before each `start`, in order, with the URL started.
fn in_flight_at_each_start(lines: &[(u32, String)]) -> Vec<(usize, String)> {
    let mut in_flight = std::collections::BTreeSet::new();
    let mut starts = Vec::new();
    for (id, event) in lines {
        if let Some(rest) = event.strip_prefix("start ") {
            let url = rest.split(" (try ").next().unwrap_or(rest).to_owned();
            starts.push((in_flight.len(), url));
            in_flight.insert(*id);
        } else if event.starts_with("completed") {
            in_flight.remove(id);
        }
    }
    starts
}

/// **Exercise 1, 9 s → 3 s: why C = 10 is not ten times faster.**
///
/// At C = 1 the fetches run one after the other, so the crawl takes at least one delay per
/// fetch: the site's `robots.txt`, then the 34 responses (pages, redirects, the 404 and the
/// text file), 35 × 100 ms. At C = 10 up to ten fetches wait at once, but a URL can be
/// fetched only once a page that links to it has been fetched and parsed: first
/// `robots.txt` alone (every URL of the origin waits for its rules), then the root alone
/// (nothing else is known), then the root's links, then theirs. The crawl is a tree walked
/// level by level, and each level costs at least one delay however many workers wait; with
/// few links per page the first levels hold fewer URLs than workers, so workers sit idle.
/// The wall time is bounded below by the depth of the tree times the delay, not by the
/// pages over C. The lecture's `sleep`s had no such dependency: all nine were known at the
/// start. Waiting costs every model the same, so every `--strategy` shows it.
///
/// The test checks what the answer rests on, for every strategy: at C = 1 no fetch starts
/// while another is in flight; at C = 10 `robots.txt` and then the root are each fetched
/// alone, and more than one fetch is in flight later, when more URLs are known.
#[test]
fn exercise_1_a_page_is_fetched_only_once_a_page_linking_to_it_was_parsed() {
    for &strategy in Strategy::ALL {
        if common::skipped(strategy) {
            continue;
        }
        let (_, lines) = traced(strategy, 1);
        let starts = in_flight_at_each_start(&lines);
        assert!(starts.len() > 30, "{strategy}: {starts:?}");
        assert!(
            starts.iter().all(|(in_flight, _)| *in_flight == 0),
            "{strategy} at C = 1: a fetch started beside another: {starts:?}"
        );

        let (report, lines) = traced(strategy, 10);
        let starts = in_flight_at_each_start(&lines);
        let [(robots_beside, robots), (root_beside, root), ..] = &starts[..] else {
            panic!("{strategy}: fewer than two fetches: {starts:?}");
        };
        assert!(robots.ends_with("/robots.txt"), "{strategy}: {starts:?}");
        assert_eq!(root, &report.roots[0], "{strategy}: {starts:?}");
        assert_eq!(
            (*robots_beside, *root_beside),
            (0, 0),
            "{strategy} at C = 10: robots.txt and the root are fetched alone: {starts:?}"
        );
        assert!(
            report.peak_in_flight > 1 && report.peak_in_flight <= 10,
            "{strategy} at C = 10: {} in flight at most",
            report.peak_in_flight
        );
    }
}

/// Crawls a 100-page site (no delay) at C = 10 with `work_us` of CPU work per page, on the
/// loop or offloaded.
fn with_work(strategy: Strategy, work_us: u64, offload: bool) -> Report {
    let server = start(&SiteSpec {
        pages: 100,
        ..SiteSpec::default()
    });
    let mut config = common::config(&server, 10);
    config.work_rounds = c10k_harness::work_rounds(work_us);
    let options = StrategyOptions {
        offload,
        ..StrategyOptions::default()
    };
    c10k_harness::run(strategy, &config, &options).expect("the strategy runs")
}

/// **Exercise 2, loop lag: what runs between two ticks.**
///
/// The ticker is a task (a callback, a coroutine) whose timer is due every 10 ms; its lag is
/// how late the loop runs it. A loop runs one thing at a time: a tick that comes due while
/// the loop parses a page, and does that page's `--work-us`, waits until the loop is done
/// with it, and with every other ready callback before the loop looks at its timers again.
/// With 1,000 µs of work per page on the loop, pages that arrive together are parsed back to
/// back, so the lag reaches the work of one page and often several: every other fetch on
/// that loop was stalled as long. With `--offload` the work runs on the rayon pool, the loop
/// only hands it over and takes the outcome back, and the lag falls to what the loop's own
/// work costs (on a busy machine, plus the time the OS lets other threads run first). The
/// threads crawler has no loop, so nothing measures a lag: each thread blocks only itself
/// while it works, and the OS preempts it so the others keep going; its cost shows as
/// context switches instead.
///
/// The test checks that a loop's lag reaches half a page's work (4 ms) when the work is on
/// the loop, in every loop of the repository, and that threads report no loop lag.
#[test]
fn exercise_2_work_on_the_loop_holds_the_ticks_back() {
    // Twice what tokio's millisecond timer wheel can add by rounding alone.
    let work_us = 4000;
    for strategy in [
        Strategy::Callbacks,
        Strategy::Generators,
        Strategy::Async,
        Strategy::Uring,
    ] {
        if common::skipped(strategy) {
            continue;
        }
        let lag = with_work(strategy, work_us, false)
            .loop_lag_ms
            .unwrap_or_else(|| panic!("{strategy} measures its loop lag"));
        assert!(
            lag.max >= 2.0,
            "{strategy}: with {work_us} µs of work per page on the loop, a tick waits for \
             the page it came due in: max lag {} ms",
            lag.max
        );
        let offloaded = with_work(strategy, work_us, true);
        assert!(
            offloaded.loop_lag_ms.is_some(),
            "{strategy} offloaded still measures its loop lag"
        );
    }
    assert!(
        with_work(Strategy::Threads, work_us, false)
            .loop_lag_ms
            .is_none(),
        "threads have no loop, and report no loop lag"
    );
}
