//! `--trace`: every strategy, in every variant, writes each fetch's events whole, in an order
//! its model allows, under ids that match what the report says was fetched.
//!
//! Behaviour only: which events, in which order per fetch, under which ids; never how long
//! anything took. The fault site gives retries, timeouts, resets and refused responses, so the
//! trace of a fetch that fails is checked too.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use c10k_core::{Report, Tracer, trace::Memory};
use c10k_harness::{Strategy, StrategyOptions};
use c10k_testsite::{
    Server, ServerOptions, SiteSpec,
    tls::{Tls, TlsMode},
};
use common::{loops, per_core, start};

mod common;

/// One line of a trace: `  12.345 ms  #7    thread      event words…`.
#[derive(Debug)]
struct Line {
    ms: f64,
    id: u32,
    event: String,
}

fn parse(line: &str) -> Line {
    let mut words = line.split_whitespace();
    let ms = words.next().and_then(|w| w.parse().ok());
    let unit = words.next();
    let id = words
        .next()
        .and_then(|w| w.strip_prefix('#'))
        .and_then(|w| w.parse().ok());
    let _thread = words.next();
    let event = words.collect::<Vec<_>>().join(" ");
    match (ms, unit, id) {
        (Some(ms), Some("ms"), Some(id)) if !event.is_empty() => Line { ms, id, event },
        _ => panic!("not a trace line: {line:?}"),
    }
}

/// What kind of step an event is, for the order checks.
fn kind(event: &str) -> &str {
    match event.split_whitespace().next().unwrap_or_default() {
        "start" => "start",
        "connected" => "connected",
        "request" => "written",
        "read" => "read",
        "completed" => "completed",
        "callback" => "callback",
        "task" if event.starts_with("task resumed in ") => "resumed",
        "task" if event.starts_with("task woke in ") => "woke",
        "tls" if event.starts_with("tls handshake done") => "handshake",
        "connection" if event == "connection reused" => "reused",
        "connection" if event.starts_with("connection kept") => "kept",
        "reused" if event.starts_with("reused connection closed") => "stale",
        _ => panic!("unknown event {event:?}"),
    }
}

/// Crawls the fault site with a trace (over TLS with kept connections if `tls`); returns the
/// report and the trace's lines.
fn traced(strategy: Strategy, options: &StrategyOptions, tls: bool) -> (Report, Vec<Line>) {
    let spec = SiteSpec {
        pages: 30,
        faults: true,
        ..SiteSpec::default()
    };
    let server = if tls {
        Server::start(ServerOptions {
            spec: spec.clone(),
            tls: Some(Tls::new(TlsMode::Valid)),
            ..ServerOptions::default()
        })
        .expect("the TLS server starts")
    } else {
        start(&spec)
    };
    let mut config = common::config(&server, 3);
    if let Some(ca) = server.ca() {
        config.tls.extra_roots.push(ca.der());
        config.keep_alive = true;
    }
    common::on_the_fault_site(&mut config);
    let memory = Memory::default();
    config.trace = Some(Arc::new(Tracer::new(memory.clone())));
    let report = c10k_harness::run(strategy, &config, options).expect("the strategy runs");
    let text = memory.text();
    assert!(text.ends_with('\n'), "the trace ends with a whole line");
    (report, text.lines().map(parse).collect())
}

/// The checks every strategy's trace passes; `steps` is the kind of event that says which
/// callback or task ran (`None` for threads, which have neither).
fn check(strategy: Strategy, options: StrategyOptions, steps: Option<&str>, tls: bool) {
    let (report, lines) = traced(strategy, &options, tls);
    assert!(!lines.is_empty(), "{strategy}: a trace");

    // Times only grow down the trace: the clock is read under the sink's lock.
    for pair in lines.windows(2) {
        assert!(
            pair[0].ms <= pair[1].ms,
            "{strategy}: {pair:?} out of order"
        );
    }

    let mut fetches: BTreeMap<u32, Vec<&Line>> = BTreeMap::new();
    for line in &lines {
        fetches.entry(line.id).or_default().push(line);
    }
    // Ids are handed out 1, 2, 3, … one per try.
    let ids: Vec<u32> = fetches.keys().copied().collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u32).collect::<Vec<_>>(),
        "{strategy}"
    );

    let mut tries: BTreeMap<String, u32> = BTreeMap::new();
    let mut kinds_seen = BTreeSet::new();
    for (id, events) in &fetches {
        let kinds: Vec<&str> = events.iter().map(|line| kind(&line.event)).collect();
        kinds_seen.extend(kinds.iter().copied());
        let context = || format!("{strategy}, fetch #{id}: {kinds:?}");
        assert_eq!(kinds.first(), Some(&"start"), "{}", context());
        assert_eq!(kinds.last(), Some(&"completed"), "{}", context());
        for once in [
            "start",
            "connected",
            "completed",
            "handshake",
            "reused",
            "stale",
            "kept",
        ] {
            let n = kinds.iter().filter(|&&k| k == once).count();
            assert!(n <= 1, "{}: {once} {n} times", context());
        }
        // A reused connection found closed sends the request again on a fresh one: a second
        // `written`, after the `stale`; otherwise one request.
        let written = kinds.iter().filter(|&&k| k == "written").count();
        let stale = kinds.contains(&"stale");
        assert!(written <= 1 + usize::from(stale), "{}", context());
        // Connected (or a pooled connection taken), then the request, then the reads: each only
        // after the one before; a TLS handshake after the connect; kept only at the end.
        let at = |k: &str| kinds.iter().position(|&x| x == k);
        if let Some(written) = at("written") {
            let open = [at("connected"), at("reused")].into_iter().flatten().min();
            assert!(open.is_some_and(|c| c < written), "{}", context());
        }
        if let Some(handshake) = at("handshake") {
            assert!(
                at("connected").is_some_and(|c| c < handshake),
                "{}",
                context()
            );
        }
        if let Some(kept) = at("kept") {
            assert_eq!(
                kept + 2,
                kinds.len(),
                "{}: kept just before completed",
                context()
            );
        }
        if let Some(read) = at("read") {
            assert!(at("written").is_some_and(|w| w < read), "{}", context());
        }
        match steps {
            // A model without callbacks or tasks names none.
            None => assert!(
                kinds
                    .iter()
                    .all(|k| !["callback", "resumed", "woke"].contains(k)),
                "{}",
                context()
            ),
            // On callbacks (readiness or completion), every read is done by a callback that
            // ran for this fetch after its request was written. (A coroutine or task tries
            // its read first and only waits on `WouldBlock`, so a quick response may be read
            // without a wake-up: those are only checked to appear somewhere below.)
            Some(step) if step == "callback" => {
                if let (Some(read), Some(written)) = (at("read"), at("written")) {
                    assert!(
                        kinds[written..read].contains(&step),
                        "{}: no {step} before the first read",
                        context()
                    );
                }
            }
            Some(_) => {}
        }
        let url = events[0]
            .event
            .strip_prefix("start ")
            .and_then(|rest| rest.split(" (try ").next())
            .expect("a start line names its URL");
        *tries.entry(url.to_owned()).or_default() += 1;
    }
    if let Some(step) = steps {
        assert!(kinds_seen.contains(step), "{strategy}: no {step} events");
    }
    // Over TLS with kept connections: handshakes, connections kept and reused, all traced.
    for kind in ["handshake", "kept", "reused"] {
        assert_eq!(kinds_seen.contains(kind), tls, "{strategy}: {kind} events");
    }

    // The origin's robots.txt is fetched first, once (by the origin's home shard), and is no
    // URL of the report.
    let robots: Vec<u32> = tries
        .iter()
        .filter(|(url, _)| url.ends_with("/robots.txt"))
        .map(|(_, &n)| n)
        .collect();
    assert_eq!(robots, [1], "{strategy}: robots.txt started once");
    tries.retain(|url, _| !url.ends_with("/robots.txt"));
    // Each URL fetched was started once per try, and nothing else was started.
    let fetched: BTreeMap<String, u32> = report
        .records
        .iter()
        .filter(|record| record.latency.is_some())
        .map(|record| (record.url.clone(), record.tries))
        .collect();
    assert_eq!(
        tries, fetched,
        "{strategy}: starts per URL against the report"
    );
    assert!(
        fetched.values().any(|&tries| tries > 1),
        "{strategy}: the fault site makes some URL be tried again"
    );
}

macro_rules! traces {
    ($($name:ident => $strategy:expr, $options:expr, $steps:expr;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn plain() {
                check($strategy, $options, $steps, false);
            }

            #[test]
            fn tls_keep_alive() {
                check($strategy, $options, $steps, true);
            }
        }
    )*};
}

traces! {
    threads => Strategy::Threads, StrategyOptions::default(), None;
    callbacks => Strategy::Callbacks, StrategyOptions::default(), Some("callback");
    callbacks_two_loops => Strategy::Callbacks, loops(2), Some("callback");
    generators => Strategy::Generators, StrategyOptions::default(), Some("resumed");
    generators_two_loops => Strategy::Generators, loops(2), Some("resumed");
    async_current_thread => Strategy::Async, StrategyOptions::default(), Some("woke");
    async_stealing => Strategy::Async, StrategyOptions {
        runtime_threads: Some(2),
        ..StrategyOptions::default()
    }, Some("woke");
    async_per_core => Strategy::Async, per_core(2), Some("woke");
    callbacks_offload => Strategy::Callbacks, offload(), Some("callback");
    generators_offload => Strategy::Generators, offload(), Some("resumed");
    async_offload => Strategy::Async, offload(), Some("woke");
    uring => common::or_skip!(Strategy::Uring), StrategyOptions::default(), Some("callback");
    uring_offload => common::or_skip!(Strategy::Uring), offload(), Some("callback");
    uring_two_loops => common::or_skip!(Strategy::Uring), loops(2), Some("callback");
}

/// Pages parsed on the rayon pool: the outcome comes back to the loop, and the frontier
/// writes `completed` there.
fn offload() -> StrategyOptions {
    StrategyOptions {
        offload: true,
        ..StrategyOptions::default()
    }
}
