//! The registry of strategies: the one place that names them all. Each strategy lives in its
//! own crate under `crates/` and exposes one entry point, config in and report out.

use std::io;

use c10k_core::{Config, Report};

/// The five ways to write the crawler.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// A pool of OS threads with blocking sockets (`crates/threads`).
    Threads,
    /// Callbacks on a mio event loop, one thread (`crates/callbacks`).
    Callbacks,
    /// Hand-written generator coroutines on the same loop (`crates/generators`).
    Generators,
    /// async/await on tokio (`crates/async`).
    Async,
    /// Callbacks on a completion loop on io_uring, one thread (`crates/uring`).
    Uring,
}

impl Strategy {
    /// Every strategy, in the order of the lecture.
    pub const ALL: &[Strategy] = &[
        Strategy::Threads,
        Strategy::Callbacks,
        Strategy::Generators,
        Strategy::Async,
        Strategy::Uring,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Threads => "threads",
            Strategy::Callbacks => "callbacks",
            Strategy::Generators => "generators",
            Strategy::Async => "async",
            Strategy::Uring => "uring",
        }
    }

    /// Why this strategy cannot run on this machine (io_uring disabled, say), in one line;
    /// `None` when it can.
    pub fn unavailable(self) -> Option<String> {
        match self {
            Strategy::Uring => c10k_uring::unavailable(),
            _ => None,
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings that only some strategies have.
#[derive(Debug, Clone, Default)]
pub struct StrategyOptions {
    /// For `threads`: the stack reserved per thread.
    pub threads: c10k_threads::Options,
    /// For `async`: `None` for a current-thread runtime, `Some(n)` for `n` worker threads.
    pub runtime_threads: Option<usize>,
    /// For `async` with `runtime_threads`: a current-thread runtime per thread, each with a
    /// shard of the frontier, instead of one work-stealing runtime.
    pub per_core: bool,
    /// For `callbacks`, `generators` and `uring`: `Some(n)` for `n` event loops (rings) on `n`
    /// threads, each with a shard of the frontier; `None` for one loop.
    pub loops: Option<usize>,
    /// For the event-driven strategies: parse pages on the rayon pool.
    pub offload: bool,
}

/// Crawls with `strategy`. Fails only when the strategy cannot run at all at this
/// concurrency (a thread that cannot be spawned, a poller or ring that cannot be created).
// Never inlined: the crawl's instructions, in a profile, are this function's
// ([`crate::counts::Split`]).
#[inline(never)]
pub fn run(strategy: Strategy, config: &Config, options: &StrategyOptions) -> io::Result<Report> {
    match strategy {
        Strategy::Threads => c10k_threads::crawl(config, &options.threads),
        Strategy::Callbacks => c10k_callbacks::crawl(
            config,
            &c10k_callbacks::Options {
                offload: options.offload,
                loops: options.loops.unwrap_or(1),
            },
        ),
        Strategy::Generators => c10k_generators::crawl(
            config,
            &c10k_generators::Options {
                offload: options.offload,
                loops: options.loops.unwrap_or(1),
            },
        ),
        Strategy::Async => c10k_async::crawl(
            config,
            &c10k_async::Options {
                threads: options.runtime_threads,
                per_core: options.per_core,
                offload: options.offload,
            },
        ),
        Strategy::Uring => c10k_uring::crawl(
            config,
            &c10k_uring::Options {
                offload: options.offload,
                loops: options.loops.unwrap_or(1),
            },
        ),
    }
}

/// Why a crawl that returned a report measured nothing, if so: a root that got no HTTP
/// response (a transport the strategy does not support, say, fails its robots.txt and
/// disallows the root). `c10k crawl` exits 1 for it; a crawl run in this process must check.
pub fn root_unfetched(report: &Report) -> Option<String> {
    report.roots.iter().find_map(|root| {
        let record = report.records.iter().find(|r| &r.url == root);
        match record.map(|r| r.status) {
            Some(c10k_core::Status::Http(_)) => None,
            Some(status) => Some(format!("the root {root} could not be fetched ({status})")),
            None => Some(format!("the root {root} was not crawled")),
        }
    })
}

/// What one connection holds in `strategy`'s model: the main structures and their sizes
/// (`size_of`, heap excluded).
pub fn state_sizes(strategy: Strategy) -> Vec<(&'static str, usize)> {
    match strategy {
        Strategy::Threads => c10k_threads::state_sizes(),
        Strategy::Callbacks => c10k_callbacks::state_sizes(),
        Strategy::Generators => c10k_generators::state_sizes(),
        Strategy::Async => c10k_async::state_sizes(),
        Strategy::Uring => c10k_uring::state_sizes(),
    }
}

/// Rounds of [`c10k_core::work::work`] that take about `micros` µs on this machine, measured
/// now (the best of a few timings, so a busy moment does not inflate the work).
pub fn work_rounds(micros: u64) -> u64 {
    if micros == 0 {
        return 0;
    }
    const ROUNDS: u64 = 1_000_000;
    let mut best = u64::MAX;
    let mut digest = 0;
    for _ in 0..5 {
        let started = std::time::Instant::now();
        digest ^= c10k_core::work::work(b"calibration", ROUNDS);
        best = best.min(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    // The digest is used, so the timed work cannot be optimised away.
    std::hint::black_box(digest);
    c10k_core::work::rounds_for(micros, ROUNDS, best)
}
