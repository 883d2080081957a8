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
//! `cargo bench -- --test` runs each bench once on tiny sites, so the benches never rot.

use std::{path::Path, time::Duration};

use c10k::{
    Strategy, StrategyOptions,
    sweep::{Plan, ServerProcess},
};
use c10k_core::{Config, parse_root};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

fn crawl(c: &mut Criterion) {
    c10k::raise_fd_limit().expect("the open-file limit can be raised to the hard limit");
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let plan = if test_mode {
        Plan::smoke()
    } else {
        Plan::criterion()
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_c10k"));
    let options = StrategyOptions::default();
    for site in &plan.sites {
        let mut group = c.benchmark_group(format!("crawl-{}", site.name));
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(100));
        for &concurrency in plan
            .concurrencies
            .iter()
            .filter(|&&c| c >= site.min_concurrency)
        {
            let pages = site.pages_for(concurrency);
            let server = ServerProcess::start(bin, site, pages).expect("c10k serve starts");
            let mut config = Config::new(
                parse_root(&server.url).expect("the server's URL"),
                server.addr,
            );
            config.concurrency = concurrency;
            // One crawl first: how many responses a crawl gets (the throughput unit), and how
            // long it takes: ten samples of one crawl each fit in the measurement time.
            let first = c10k::run(Strategy::Callbacks, &config, &options).expect("a first crawl");
            group.throughput(Throughput::Elements(first.fetched as u64));
            group.measurement_time(Duration::from_secs_f64((first.elapsed_s * 9.0).max(0.5)));
            for &strategy in &plan.strategies {
                group.bench_with_input(
                    BenchmarkId::new(strategy.name(), concurrency),
                    &config,
                    |b, config| {
                        b.iter(|| {
                            let report =
                                c10k::run(strategy, config, &options).expect("the strategy runs");
                            assert_eq!(report.errors, 0, "{strategy} at C = {concurrency}");
                            report.fetched
                        });
                    },
                );
            }
        }
        group.finish();
    }

    // The work axis: N µs of CPU work per page, on the loop or offloaded to rayon.
    if let Some(axis) = &plan.work {
        let mut group = c.benchmark_group("crawl-work");
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(100));
        let pages = axis.site.pages_for(axis.concurrency);
        let server = ServerProcess::start(bin, &axis.site, pages).expect("c10k serve starts");
        for &work_us in &axis.work_us {
            let mut config = Config::new(
                parse_root(&server.url).expect("the server's URL"),
                server.addr,
            );
            config.concurrency = axis.concurrency;
            config.work_rounds = c10k::work_rounds(work_us);
            let first = c10k::run(Strategy::Callbacks, &config, &options).expect("a first crawl");
            group.throughput(Throughput::Elements(first.fetched as u64));
            group.measurement_time(Duration::from_secs_f64((first.elapsed_s * 9.0).max(0.5)));
            for &strategy in &plan.strategies {
                for offload in [false, true] {
                    if offload && strategy == Strategy::Threads {
                        continue;
                    }
                    let options = StrategyOptions {
                        offload,
                        ..options.clone()
                    };
                    let name = if offload {
                        format!("{strategy}+offload")
                    } else {
                        strategy.name().to_owned()
                    };
                    group.bench_with_input(
                        BenchmarkId::new(name, work_us),
                        &config,
                        |b, config| {
                            b.iter(|| {
                                let report = c10k::run(strategy, config, &options)
                                    .expect("the strategy runs");
                                assert_eq!(
                                    report.errors, 0,
                                    "{strategy} with {work_us} µs of work"
                                );
                                report.fetched
                            });
                        },
                    );
                }
            }
        }
        group.finish();
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
