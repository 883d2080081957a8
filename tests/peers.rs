//! The reference crawlers (`scripts/peers`): each crawls the test sites through the arguments
//! a sweep passes, and must find what the threads strategy finds, with the same outcomes,
//! report the same JSON fields the sweep's runner reads, and exit as `c10k crawl` does.
//!
//! A peer whose interpreter or compiler is missing (`python3`, `go`) is skipped with a line
//! saying why: neither `cargo test` nor `cargo bench` needs Python or Go.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Mutex,
};

use c10k_core::{Report, urls_out};
use c10k_harness::{
    Strategy, StrategyOptions,
    measure::ProcessUsage,
    peers::{self, Peer},
};
use c10k_testsite::SiteSpec;
use common::{config, start};

mod common;

/// The standard site of the conformance suite: 500 pages with 404s, redirects of every kind,
/// a text file, skipped links and links hidden in comments, scripts and styles.
fn site() -> SiteSpec {
    SiteSpec {
        pages: 500,
        ..SiteSpec::default()
    }
}

/// The JSON the sweep's runner parses (`ChildReport` in `crates/harness/src/runner.rs`).
#[derive(serde::Deserialize)]
struct ChildReport {
    #[serde(flatten)]
    report: Report,
    process: ProcessUsage,
}

/// The command that runs `peer`, or `None` after a line saying why it cannot run here.
fn peer_command(peer: Peer) -> Option<Command> {
    // One build of the Go crawler at a time: the tests of one peer run in parallel.
    static BUILD: Mutex<()> = Mutex::new(());
    let _build = BUILD.lock().unwrap_or_else(|poison| poison.into_inner());
    // The target directory this test binary was built into (`target/debug/deps/..`).
    let target = Path::new(env!("CARGO_BIN_EXE_c10k"))
        .ancestors()
        .nth(2)
        .expect("the c10k binary is in target/<profile>/");
    match peers::command(peer, target) {
        Ok(command) => Some(command),
        Err(why) => {
            eprintln!("skipping the {peer} peer: {why}");
            None
        }
    }
}

/// A file for `--urls-out`, unique to this test.
fn out_file(peer: Peer, what: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("peers");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{peer}-{what}-{}.txt", std::process::id()))
}

fn crawl(mut command: Command, url: &str, args: &[&str], urls: &Path) -> Output {
    command
        .arg(url)
        .args(args)
        .arg("--urls-out")
        .arg(urls)
        .output()
        .expect("the peer runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// At C = 1 and C = 100, the peer's `--urls-out` is the threads strategy's (and the
/// manifest's), and its JSON report holds the fields and the counts the runner reads.
fn finds_what_threads_finds(peer: Peer) {
    let spec = site();
    let server = start(&spec);
    let threads = c10k_harness::run(
        Strategy::Threads,
        &config(&server, 8),
        &StrategyOptions::default(),
    )
    .expect("the threads strategy runs");
    let expected = urls_out(&threads.records);
    assert_eq!(expected, server.manifest(&spec).urls_out());
    for concurrency in ["1", "100"] {
        let Some(command) = peer_command(peer) else {
            return;
        };
        let urls = out_file(peer, &format!("site-{concurrency}"));
        let output = crawl(
            command,
            &server.url(),
            &["--concurrency", concurrency, "--json"],
            &urls,
        );
        assert!(output.status.success(), "{peer}: {}", stderr(&output));
        assert_eq!(
            std::fs::read_to_string(&urls).unwrap(),
            expected,
            "{peer} at C = {concurrency}"
        );
        std::fs::remove_file(&urls).unwrap();

        let json: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{peer}: the report is JSON ({e})"));
        for key in ["p50", "p90", "p99", "max"] {
            assert!(
                json["latency_ms"][key].is_number(),
                "{peer}: latency_ms.{key}"
            );
        }
        let ChildReport { report, process } = serde_json::from_value(json)
            .unwrap_or_else(|e| panic!("{peer}: the runner can read the report ({e})"));
        assert_eq!(report.strategy, peer.name());
        assert_eq!(report.concurrency.to_string(), concurrency);
        assert_eq!(
            (report.urls, report.fetched, report.pages, report.errors),
            (threads.urls, threads.fetched, threads.pages, 0)
        );
        assert_eq!(report.skipped, threads.skipped);
        assert_eq!(report.status_counts, threads.status_counts);
        assert_eq!(report.error_counts, threads.error_counts);
        assert_eq!(report.bytes, threads.bytes);
        assert_eq!(report.retries, 0);
        assert!(report.peak_in_flight >= 1 && report.peak_in_flight <= report.concurrency);
        assert!(report.elapsed_s > 0.0 && report.pages_per_s > 0.0);
        assert!(report.latency_ms.p50 <= report.latency_ms.max);
        assert!(process.user_s + process.sys_s > 0.0);
        assert!(process.max_rss_kib > 0 && process.rss_kib_at_widest > 0);
        assert!(process.sampled_in_flight <= report.peak_in_flight as u64);
    }
}

/// The fault site: every misbehaving page gets the outcome the manifest states (timeouts,
/// resets, limits, codings, charsets, redirect chains, URL spellings), with the options
/// `tests/faults.rs` gives the Rust strategies, and the peer's memory stays bounded.
fn survives_the_fault_site(peer: Peer) {
    let Some(command) = peer_command(peer) else {
        return;
    };
    let spec = SiteSpec {
        pages: 60,
        faults: true,
        ..SiteSpec::default()
    };
    let server = start(&spec);
    let urls = out_file(peer, "faults");
    let args = [
        "--concurrency",
        "100",
        "--timeout-ms",
        "400",
        "--max-body",
        "1048576",
        "--json",
    ];
    let output = crawl(command, &server.url(), &args, &urls);
    assert!(output.status.success(), "{peer}: {}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(&urls).unwrap(),
        server.manifest(&spec).urls_out(),
        "{peer}"
    );
    std::fs::remove_file(&urls).unwrap();
    let report: ChildReport = serde_json::from_slice(&output.stdout).unwrap();
    // Buffering the endless body, or inflating the gzip bomb whole, would take far more.
    let rss_mib = report.process.max_rss_kib / 1024;
    assert!(rss_mib < 96, "{peer}: peak RSS {rss_mib} MiB");
}

/// Exit status 1 with one line when the root cannot be fetched (after every try), 2 with one
/// line on bad arguments, as `c10k crawl`.
fn exits_as_c10k_crawl_does(peer: Peer) {
    let (_refusing, addr) = common::refusing_port();
    let url = format!("http://{addr}/");
    let urls = out_file(peer, "refused");
    let Some(command) = peer_command(peer) else {
        return;
    };
    let output = crawl(command, &url, &["--max-tries", "2"], &urls);
    assert_eq!(output.status.code(), Some(1), "{peer}: {}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(&urls).unwrap(),
        format!("error:connect\t{url}\n")
    );
    std::fs::remove_file(&urls).unwrap();
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    for bad in [
        &["--concurrency", "0"][..],
        &["--timeout-ms", "soon"],
        &["--no-such-flag"],
    ] {
        let Some(mut command) = peer_command(peer) else {
            return;
        };
        let output = command.arg(&url).args(bad).output().expect("the peer runs");
        assert_eq!(output.status.code(), Some(2), "{peer} {bad:?}");
        assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    }
    let Some(mut command) = peer_command(peer) else {
        return;
    };
    let output = command.arg("https://example.com/").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{peer}: {}", stderr(&output));
}

macro_rules! peer_suite {
    ($($name:ident => $peer:expr,)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn finds_what_threads_finds() {
                super::finds_what_threads_finds($peer);
            }

            #[test]
            fn survives_the_fault_site() {
                super::survives_the_fault_site($peer);
            }

            #[test]
            fn exits_as_c10k_crawl_does() {
                super::exits_as_c10k_crawl_does($peer);
            }
        }
    )*};
}

peer_suite! {
    python_asyncio => Peer::PythonAsyncio,
    go => Peer::Go,
}
