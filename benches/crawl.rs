//! Criterion benches: the wall time of a whole crawl, for every strategy × C ∈ {1, 10, 100,
//! 1000, 10000}, on two sites:
//!
//! - *latency-bound* (`--delay-ms 50`): waits dominate, and concurrency should win — the
//!   lecture's 9 s → 3 s;
//! - *CPU-bound* (no delay): every response is immediate, so the per-connection overhead of
//!   each model shows.
//!
//! The test server runs in its own process (`c10k serve`), so what is timed here is the
//! crawler. Throughput is set to the responses of one crawl: criterion reports responses/s.
//! What criterion cannot see (CPU, memory, context switches) is in `benches/sweep.rs`.
//!
//! A third group, *work*, crawls a latency-bound site at C = 100 with N µs of CPU work per
//! page (N ∈ {0, 100, 1000}), done on the event loop or offloaded to rayon (`+offload`).
//!
//! A fourth, *cores*, crawls the CPU-bound site with every core: threads; callbacks,
//! generators and uring with one loop per core; async per-core and work-stealing with a thread
//! per core.
//!
//! `cargo bench -- --test` runs each bench once on tiny sites, so the benches never rot.

use std::{cell::RefCell, path::Path, time::Duration};

use c10k_core::{Config, parse_root};
use c10k_harness::{
    Plan, Strategy, StrategyOptions, plan::Site, raise_fd_limit, server::ServerProcess,
};
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};

/// Configurations that could not be measured, one line each: said when they happen, listed
/// again at the end, and written to `target/criterion/c10k-failed.txt`.
#[derive(Default)]
struct Failures(RefCell<Vec<String>>);

impl Failures {
    fn add(&self, line: String) {
        eprintln!("skipped: {line}");
        self.0.borrow_mut().push(line);
    }

    fn finish(self) {
        let lines = self.0.into_inner();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion/c10k-failed.txt");
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        // Best effort: the lines were printed already.
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
        let _ = std::fs::write(&path, text);
        if !lines.is_empty() {
            eprintln!(
                "{} configurations could not be measured (listed in {}):",
                lines.len(),
                path.display()
            );
            for line in &lines {
                eprintln!("  {line}");
            }
        }
    }
}

fn crawl(c: &mut Criterion) {
    match raise_fd_limit() {
        Ok(limit) => {
            if let Some(note) = limit.note() {
                eprintln!("note: {note}");
            }
        }
        Err(err) => eprintln!("note: the open-file limit could not be raised: {err}"),
    }
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let plan = if test_mode {
        Plan::smoke()
    } else {
        Plan::criterion()
    };
    let failures = Failures::default();
    for site in &plan.sites {
        let mut group = group(c, &format!("crawl-{}", site.name));
        for &concurrency in plan
            .concurrencies
            .iter()
            .filter(|&&c| c >= site.min_concurrency)
        {
            let variants: Vec<(String, Strategy, StrategyOptions)> = plan
                .strategies
                .iter()
                .map(|&s| (s.name().to_owned(), s, StrategyOptions::default()))
                .collect();
            let what = format!("crawl-{}/C = {concurrency}", site.name);
            bench_site(
                &mut group,
                &failures,
                &what,
                site,
                concurrency,
                0,
                &variants,
                |name| BenchmarkId::new(name, concurrency),
            );
        }
        group.finish();
    }

    // The work axis: N µs of CPU work per page, on the loop or offloaded to rayon.
    if let Some(axis) = &plan.work {
        let mut group = group(c, "crawl-work");
        let mut variants = Vec::new();
        for &strategy in &plan.strategies {
            for offload in [false, true] {
                if offload && strategy == Strategy::Threads {
                    continue;
                }
                let name = if offload {
                    format!("{strategy}+offload")
                } else {
                    strategy.name().to_owned()
                };
                let options = StrategyOptions {
                    offload,
                    ..StrategyOptions::default()
                };
                variants.push((name, strategy, options));
            }
        }
        for &work_us in &axis.work_us {
            let what = format!("crawl-work/{work_us} µs");
            bench_site(
                &mut group,
                &failures,
                &what,
                &axis.site,
                axis.concurrency,
                work_us,
                &variants,
                |name| BenchmarkId::new(name, work_us),
            );
        }
        group.finish();
    }
    // The cores axis at its top step: every core, unpinned. (The sweep pins the crawler apart
    // from the server below that; criterion crawls in its own process, which it cannot pin
    // without pinning itself.)
    if let Some(axis) = &plan.cores {
        let cores = axis.cores.last().copied().unwrap_or(1);
        let mut group = group(c, "crawl-cores");
        let mut variants = Vec::new();
        for &strategy in &plan.strategies {
            let options = StrategyOptions::default();
            match strategy {
                Strategy::Callbacks | Strategy::Generators | Strategy::Uring => variants.push((
                    strategy.name().to_owned(),
                    strategy,
                    StrategyOptions {
                        loops: Some(cores),
                        ..options
                    },
                )),
                Strategy::Async => {
                    for (runtime, per_core) in [("per-core", true), ("stealing", false)] {
                        variants.push((
                            format!("async+{runtime}"),
                            strategy,
                            StrategyOptions {
                                runtime_threads: Some(cores),
                                per_core,
                                ..options.clone()
                            },
                        ));
                    }
                }
                _ => variants.push((strategy.name().to_owned(), strategy, options)),
            }
        }
        let what = format!("crawl-cores/{cores} cores");
        bench_site(
            &mut group,
            &failures,
            &what,
            &axis.site,
            axis.concurrency,
            0,
            &variants,
            |name| BenchmarkId::new(name, cores),
        );
        group.finish();
    }
    failures.finish();
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100));
    group
}

/// Benches every variant crawling `site` at `concurrency`, in a server process of its own.
/// A configuration that fails is recorded in `failures` and the others go on.
#[allow(clippy::too_many_arguments)]
fn bench_site(
    group: &mut BenchmarkGroup<'_, WallTime>,
    failures: &Failures,
    what: &str,
    site: &Site,
    concurrency: usize,
    work_us: u64,
    variants: &[(String, Strategy, StrategyOptions)],
    id: impl Fn(&str) -> BenchmarkId,
) {
    let bin = Path::new(env!("CARGO_BIN_EXE_c10k"));
    let pages = site.pages_for(concurrency);
    let server = match ServerProcess::start(bin, site, pages) {
        Ok(server) => server,
        Err(err) => {
            failures.add(format!("{what}: the test server did not start: {err}"));
            return;
        }
    };
    let mut config = match parse_root(&server.url) {
        Ok(root) => Config::new(root, server.addr),
        Err(err) => {
            failures.add(format!("{what}: the server's URL {}: {err}", server.url));
            return;
        }
    };
    config.concurrency = concurrency;
    config.work_rounds = c10k_harness::work_rounds(work_us);
    // One crawl first: how many responses a crawl gets (the throughput unit), and how long it
    // takes, so that ten samples of one crawl each fit in the measurement time.
    let Some(first) = variants.iter().find_map(|(_, strategy, options)| {
        c10k_harness::run(*strategy, &config, options)
            .ok()
            .filter(|r| r.errors == 0)
    }) else {
        failures.add(format!("{what}: no strategy could crawl the site once"));
        return;
    };
    group.throughput(Throughput::Elements(first.fetched as u64));
    group.measurement_time(Duration::from_secs_f64((first.elapsed_s * 9.0).max(0.5)));
    for (name, strategy, options) in variants {
        // Tried once before it is timed: a configuration that cannot run (out of threads,
        // say) is skipped with its reason rather than ending the whole benchmark.
        match c10k_harness::run(*strategy, &config, options) {
            Ok(report) if report.errors == 0 => {}
            Ok(report) => {
                failures.add(format!("{what}/{name}: {} URLs failed", report.errors));
                continue;
            }
            Err(err) => {
                failures.add(format!("{what}/{name}: {err}"));
                continue;
            }
        }
        let failed = RefCell::new(None);
        group.bench_with_input(id(name), &config, |b, config| {
            b.iter(|| match c10k_harness::run(*strategy, config, options) {
                Ok(report) if report.errors == 0 => report.fetched,
                Ok(report) => {
                    failed.replace(Some(format!("{} URLs failed", report.errors)));
                    report.fetched
                }
                Err(err) => {
                    failed.replace(Some(err.to_string()));
                    0
                }
            });
        });
        if let Some(reason) = failed.into_inner() {
            failures.add(format!(
                "{what}/{name}: a timed crawl failed ({reason}); its figure above is not valid"
            ));
        }
    }
}

/// Criterion's own plots are off: they would add minutes to `cargo bench` (one set per
/// benchmark), and the sweep draws the plots this project publishes. Its statistics and
/// `target/criterion/` JSON remain.
fn config() -> Criterion {
    Criterion::default().without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = crawl
}
criterion_main!(benches);
