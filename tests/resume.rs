//! `c10k crawl --state DIR`, killed and resumed (issue 28): every strategy and variant,
//! SIGKILLed three times at random moments of one crawl at C = 100 and run again each time
//! with the same directory, ends with exactly the site's URLs and outcomes; no record a killed
//! run had finished is lost (no URL it wrote to `--jsonl` is ever requested again); and the
//! only URLs fetched twice are those a killed run had asked for and not finished (in flight,
//! or in the last group of records not committed yet). SIGINT stops a crawl cleanly
//! and says how to resume; a directory that cannot be resumed is refused in one line.

use std::{
    collections::{HashMap, HashSet},
    fs,
    path::Path,
    process::{Child, Command, Output, Stdio},
    sync::atomic::Ordering,
    thread,
    time::{Duration, Instant},
};

use c10k_harness::Strategy;
use c10k_testsite::{Server, ServerOptions, SiteSpec};

mod common;

const CONCURRENCY: usize = 100;
const KILLS: usize = 3;
/// A run that takes longer has hung.
const WATCHDOG: Duration = Duration::from_secs(60);

fn site() -> SiteSpec {
    SiteSpec {
        pages: 2000,
        delay: Duration::from_millis(40),
        ..SiteSpec::default()
    }
}

/// Every variant, as `c10k crawl` flags: each strategy as it runs by default, and its
/// parallel forms.
fn variants() -> Vec<Vec<&'static str>> {
    let mut variants: Vec<Vec<&str>> = Strategy::ALL
        .iter()
        .filter(|strategy| !common::skipped(**strategy))
        .map(|strategy| vec!["--strategy", strategy.name()])
        .collect();
    for strategy in ["callbacks", "generators", "uring"] {
        if variants.iter().any(|v| v[1] == strategy) {
            variants.push(vec!["--strategy", strategy, "--loops", "2"]);
        }
    }
    variants.push(vec!["--strategy", "async", "--threads", "2"]);
    variants.push(vec![
        "--strategy",
        "async",
        "--threads",
        "2",
        "--runtime",
        "per-core",
    ]);
    variants
}

fn server() -> Server {
    Server::start(ServerOptions {
        spec: site(),
        threads: 2,
        log: true,
        ..ServerOptions::default()
    })
    .expect("the test server starts")
}

/// `c10k crawl` of `server` with `--state dir`, the variant's flags and `more`.
fn crawl(server: &Server, variant: &[&str], dir: &Path, more: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_c10k"));
    command
        .arg("crawl")
        .arg(server.url())
        .args(variant)
        .args(["--concurrency", &CONCURRENCY.to_string()])
        .arg("--state")
        .arg(dir)
        .args(more)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child` at most `WATCHDOG`.
fn wait(mut child: Child, what: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("waiting").is_none() {
        if started.elapsed() > WATCHDOG {
            let _ = child.kill();
            panic!("{what}: no end within {WATCHDOG:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("the crawl's output")
}

/// splitmix64: the kill points, from a seed each variant gets.
fn random(seed: &mut u64, below: u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut x = *seed;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) % below
}

/// Returns once the server's log has stayed as it is for 100 ms.
fn settle(server: &Server) {
    let mut before = server.stats().requests().len();
    loop {
        thread::sleep(Duration::from_millis(100));
        let now = server.stats().requests().len();
        if now == before {
            return;
        }
        before = now;
    }
}

/// The paths requested from `from` on (robots.txt left out: each run asks for it again).
fn paths(server: &Server, from: usize) -> Vec<String> {
    server.stats().requests()[from..]
        .iter()
        .map(|(path, _)| path.clone())
        .filter(|path| path != "/robots.txt")
        .collect()
}

#[test]
fn a_crawl_killed_three_times_ends_exactly_and_loses_no_record() {
    killed_three_times(&[]);
}

/// The same, keeping connections: the kill drops the pool's idle connections with the rest.
#[test]
fn a_crawl_keeping_connections_killed_three_times_ends_exactly() {
    killed_three_times(&["--connections", "keep-alive"]);
}

/// Every variant crawls with `flags`, killed three times and resumed.
fn killed_three_times(flags: &[&'static str]) {
    c10k_harness::raise_fd_limit().expect("the open-file limit");
    let server = server();
    let expected = server.manifest(&site()).urls_out();
    let origin = server.url().trim_end_matches('/').to_owned();
    for (index, mut variant) in variants().into_iter().enumerate() {
        variant.extend_from_slice(flags);
        let variant = &variant;
        let what = variant.join(" ");
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut seed = index as u64 + 1;
        let start = server.stats().requests().len();
        // For each kill: where the requests stood, and the URLs the killed run had finished.
        let mut kills = Vec::new();
        // The URLs requested and not finished by a killed run: those in flight at its kill.
        let mut in_flight: HashSet<String> = HashSet::new();
        for kill in 0..KILLS {
            let jsonl = dir.path().join(format!("run-{kill}.jsonl"));
            let before = server.stats().served.load(Ordering::Relaxed);
            let run_start = server.stats().requests().len();
            let mut child = crawl(&server, variant, &state, &["--jsonl"])
                .arg(&jsonl)
                .spawn()
                .expect("c10k runs");
            // Killed once it has had 100 to 400 responses: well inside the crawl.
            let after = 100 + random(&mut seed, 300);
            let started = Instant::now();
            while server.stats().served.load(Ordering::Relaxed) < before + after {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "{what}: run {kill} ended before its kill"
                );
                assert!(started.elapsed() < WATCHDOG, "{what}: run {kill} hung");
                thread::sleep(Duration::from_millis(1));
            }
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
            // Requests the killed run sent may still wait in the server's sockets: the server
            // reads (and logs) them after the kill. They are the killed run's.
            settle(&server);
            let finished: HashSet<String> = fs::read_to_string(&jsonl)
                .unwrap()
                .lines()
                .map(|line| {
                    let record: serde_json::Value = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("{what}: a whole JSON line ({e}): {line}"));
                    record["url"].as_str().unwrap().to_owned()
                })
                .collect();
            for path in paths(&server, run_start) {
                let url = format!("{origin}{path}");
                if !finished.contains(&url) {
                    in_flight.insert(url);
                }
            }
            kills.push((server.stats().requests().len(), finished));
        }
        let urls_out = dir.path().join("urls.txt");
        let child = crawl(&server, variant, &state, &["--urls-out"])
            .arg(&urls_out)
            .spawn()
            .unwrap();
        let output = wait(child, &what);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{what}: {stderr}");
        assert!(stderr.contains("resuming from"), "{what}: {stderr}");
        assert_eq!(fs::read_to_string(&urls_out).unwrap(), expected, "{what}");

        // No finished record lost: nothing a killed run wrote to --jsonl is asked again.
        for (at, finished) in &kills {
            let again: Vec<String> = paths(&server, *at)
                .into_iter()
                .filter(|path| finished.contains(&format!("{origin}{path}")))
                .collect();
            assert!(
                again.is_empty(),
                "{what}: fetched again after ending: {again:?}"
            );
        }
        // Fetched twice: only what was in flight at a kill (asked, not finished).
        let mut counts: HashMap<String, usize> = HashMap::new();
        for path in paths(&server, start) {
            *counts.entry(format!("{origin}{path}")).or_default() += 1;
        }
        let again: Vec<&String> = counts
            .iter()
            .filter(|&(url, &n)| n > 1 && !in_flight.contains(url))
            .map(|(url, _)| url)
            .collect();
        assert!(
            again.is_empty(),
            "{what}: fetched twice, never in flight at a kill: {again:?}"
        );
        // (At most C fetches are in flight at a kill, and beside them the last group of
        // records, not committed yet: a few milliseconds' worth.)
        let twice = counts.values().filter(|&&n| n > 1).count();
        eprintln!(
            "{what}: exact after {KILLS} kills; {twice} URLs fetched twice, of {} in flight at the kills",
            in_flight.len()
        );
    }
}

/// Sends `signal` (a name `kill` knows) to `child`.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn sigint_stops_cleanly_and_the_same_command_resumes() {
    let server = server();
    let expected = server.manifest(&site()).urls_out();
    for variant in [["--strategy", "callbacks"], ["--strategy", "threads"]] {
        let what = variant.join(" ");
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let before = server.stats().served.load(Ordering::Relaxed);
        let child = crawl(&server, &variant, &state, &[]).spawn().unwrap();
        while server.stats().served.load(Ordering::Relaxed) < before + 200 {
            thread::sleep(Duration::from_millis(1));
        }
        signal(&child, "INT");
        let stopped_at = Instant::now();
        let output = wait(child, &what);
        // Within the fetches' own bound: what is in flight ends (pages take 40 ms here).
        assert!(stopped_at.elapsed() < Duration::from_secs(10), "{what}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{what}: {stderr}");
        assert!(
            stderr.contains("to resume, run the same command again"),
            "{what}: {stderr}"
        );

        // A second signal stops at once.
        let before = server.stats().served.load(Ordering::Relaxed);
        let child = crawl(&server, &variant, &state, &[]).spawn().unwrap();
        while server.stats().served.load(Ordering::Relaxed) < before + 100 {
            thread::sleep(Duration::from_millis(1));
        }
        signal(&child, "TERM");
        signal(&child, "TERM");
        let output = wait(child, &what);
        assert_eq!(output.status.code(), Some(130), "{what}");

        let urls_out = dir.path().join("urls.txt");
        let child = crawl(&server, &variant, &state, &["--urls-out"])
            .arg(&urls_out)
            .spawn()
            .unwrap();
        let output = wait(child, &what);
        assert!(output.status.success(), "{what}: {output:?}");
        assert_eq!(fs::read_to_string(&urls_out).unwrap(), expected, "{what}");
    }
}

#[test]
fn a_directory_that_cannot_be_resumed_is_refused_in_one_line() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mine.txt"), "not a crawl").unwrap();
    let other = tempfile::tempdir().unwrap();
    fs::write(other.path().join("VERSION"), "c10k-state 0\n").unwrap();
    for (state, more, says) in [
        (dir.path(), &[][..], "not a c10k state directory"),
        (other.path(), &[][..], "this c10k reads"),
        (
            other.path(),
            &["--max-pages", "10"][..],
            "a bounded crawl cannot be resumed",
        ),
    ] {
        let output = crawl(&server, &[], state, more).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    assert_eq!(server.stats().requests().len(), 0, "nothing fetched");
}
