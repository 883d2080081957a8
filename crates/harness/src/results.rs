//! The results of a sweep: every run, the figures derived across runs (memory per connection,
//! the lecture's claims), and the files they are written to — `sweep.json` and `sweep.csv`
//! from the same serde structs, and `summary.md` ([`crate::summary`]).

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
};

use c10k_core::Latency;
use serde::{Deserialize, Serialize};

use crate::{
    loadgen::{Ceiling, WrkRow},
    measure::Machine,
    plan::{Plan, TLS_MEMORY, Transport},
    probe::Ceilings,
};

/// One crawl of the sweep, measured from outside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Site name.
    pub site: String,
    /// Pages of the site, or the crawl's `--max-pages` when it stopped sooner (see
    /// [`crate::plan::ConnectionsAxis::handshake_pages`]).
    pub pages: usize,
    /// Delay per response, ms.
    pub delay_ms: u64,
    /// Strategy name.
    pub strategy: String,
    /// Concurrency limit.
    pub concurrency: usize,
    /// Why the crawl could not run (thread spawn failed, killed after the timeout, …).
    pub error: Option<String>,
    /// Wall time of the crawl, s (from the report: the crawl itself, not process start-up).
    pub wall_s: f64,
    /// Responses per second.
    pub pages_per_s: f64,
    /// Responses received.
    pub fetched: usize,
    /// URLs that failed.
    pub errors: usize,
    /// Most fetches in flight at once.
    pub peak_in_flight: usize,
    /// CPU of the crawler process, user, s.
    pub user_s: f64,
    /// CPU of the crawler process, system, s.
    pub sys_s: f64,
    /// (user + system) CPU per response, µs.
    pub cpu_us_per_page: f64,
    /// Peak RSS of the crawler process, KiB.
    pub max_rss_kib: u64,
    /// The most fetches in flight the crawler's 10 ms sampler saw.
    pub sampled_in_flight: u64,
    /// RSS when that many were in flight, KiB.
    pub rss_kib_at_widest: u64,
    /// The CPU used while that many waited, as a share of one core (see
    /// [`crate::measure::ProcessUsage::waiting_cpu`]).
    #[serde(default)]
    pub waiting_cpu: Option<f64>,
    /// The chaos axis: the share of requests that met a fault.
    #[serde(default)]
    pub chaos: Option<f64>,
    /// The chaos axis: lines of `--urls-out` not as the server expected (a URL lost,
    /// doubled, or ended otherwise); 0 when the crawl was exact.
    #[serde(default)]
    pub mismatched: Option<usize>,
    /// The state axis: `Some(true)` for the crawl with `--state DIR`, `Some(false)` for the
    /// same crawl in memory beside it; `None` off the axis.
    #[serde(default)]
    pub state_axis: Option<bool>,
    /// The state axis, with `--state`: what the crawl kept on disk.
    #[serde(default)]
    pub kept: Option<Kept>,
    /// Memory site only: bytes of RSS each extra in-flight connection added, from this run and
    /// the narrowest run of the same strategy (see [`derive()`]).
    pub rss_per_connection_b: Option<f64>,
    /// Voluntary context switches of the crawler.
    pub voluntary_switches: u64,
    /// Involuntary context switches of the crawler.
    pub involuntary_switches: u64,
    /// Latency percentiles, ms.
    pub latency_ms: Latency,
    /// CPU the server used during the crawl, s.
    pub server_cpu_s: f64,
    /// CPU work per page, µs (work site).
    #[serde(default)]
    pub work_us: u64,
    /// Whether pages were parsed on the rayon pool (work site).
    #[serde(default)]
    pub offload: bool,
    /// How late the event loop ran a 10 ms timer, ms (event-driven strategies).
    #[serde(default)]
    pub loop_lag_ms: Option<Latency>,
    /// Cores axis: the crawler's cores.
    #[serde(default)]
    pub cores: Option<usize>,
    /// Cores axis: where the crawler and the server ran (`crawler on CPUs 0, server on CPUs
    /// 1`, or `unpinned`).
    #[serde(default)]
    pub pinning: Option<String>,
    /// Loops (callbacks, generators, uring) or runtime threads (async), when not the default
    /// one.
    #[serde(default)]
    pub parallel: Option<usize>,
    /// async: the runtime, `per-core` or `stealing`, when not the default current-thread one.
    #[serde(default)]
    pub runtime: Option<String>,
    /// Cores axis: responses/s over (cores × responses/s of the same variant on one core).
    #[serde(default)]
    pub scaling_efficiency: Option<f64>,
    /// Counted runs: system calls per response (whole process, start-up included).
    #[serde(default)]
    pub syscalls_per_page: Option<f64>,
    /// Counted runs: user-space instructions per response.
    #[serde(default)]
    pub instructions_per_page: Option<f64>,
    /// Counted runs: kernel instructions per response (hardware counters only).
    #[serde(default)]
    pub kernel_instructions_per_page: Option<f64>,
    /// Counted runs: what counted the instructions, `perf` or `callgrind`.
    #[serde(default)]
    pub instructions_by: Option<String>,
    /// http or https, a connection per page or kept (every run before the connection axis:
    /// http, a connection per page).
    #[serde(default)]
    pub transport: Transport,
    /// What became of the crawl's connections, from its report: reused, full and resumed
    /// TLS handshakes, stale, kept.
    #[serde(default)]
    pub connections: Option<c10k_core::Connections>,
    /// A crawl of several rounds (the connection axis's CPU-bound http crawls): the
    /// responses/s of every round, in the order they ran. This run is their median
    /// ([`crate::connections::collapse_rounds`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds_per_s: Vec<f64>,
    /// Counted runs under callgrind: where the crawl's user-space instructions went (the
    /// core's parts, the model's own, start-up), for the whole process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<crate::counts::Split>,
}

/// What a crawl with `--state DIR` kept on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// URLs that ended in this run (the report's `urls` less `restored`): what the bytes below
    /// are per.
    pub urls: usize,
    /// Bytes the directory held after the crawl: the blocks the file system allocated to its
    /// files (`st_blocks`), summed by the harness.
    pub disk_b: u64,
    /// The same directory's files by their length, which counts the store's journal at the
    /// length it was made (a sparse file, most of it never written).
    pub apparent_b: u64,
    /// Bytes of keys and values the crawl wrote to its store, where `c10k crawl --json` reports
    /// them (`state.written_bytes`).
    #[serde(default)]
    pub written_b: Option<u64>,
    /// The write batches (steps) they went in, where reported (`state.steps`).
    #[serde(default)]
    pub steps: Option<u64>,
}

impl Kept {
    /// `bytes` per URL that ended, if any did.
    pub fn per_url(&self, bytes: u64) -> Option<f64> {
        (self.urls > 0).then(|| bytes as f64 / self.urls as f64)
    }
}

impl Run {
    /// Whether `other` is the same form of the same strategy at the same C (the same loops or
    /// runtime threads and runtime): a row of the tables, whatever the transport or round.
    pub fn same_form(&self, other: &Run) -> bool {
        self.strategy == other.strategy
            && self.parallel == other.parallel
            && self.runtime == other.runtime
            && self.concurrency == other.concurrency
    }

    /// Whether the crawl failed: it could not run, or URLs ended in errors; on the chaos axis,
    /// where faults mean to cause errors, whether its URLs ended otherwise than expected.
    pub fn failed(&self) -> bool {
        match self.chaos {
            Some(_) => self.error.is_some() || self.mismatched != Some(0),
            None => self.error.is_some() || self.errors > 0,
        }
    }

    /// The strategy, with `+offload` when it offloaded, `+per-core` or `+stealing` for an
    /// async runtime of several threads, the transport when it is not http with a
    /// connection per page (`+https`, `+keep-alive`, `+no-resume`), and `+state` for a crawl
    /// that kept its state on disk.
    pub fn variant(&self) -> String {
        let mut name = self.strategy.clone();
        if self.offload {
            name.push_str("+offload");
        }
        if let Some(runtime) = &self.runtime {
            name.push('+');
            name.push_str(runtime);
        }
        name.push_str(&self.transport.suffix());
        if self.state_axis == Some(true) {
            name.push_str("+state");
        }
        name
    }

    /// Full TLS handshakes per response, when the report counted connections.
    pub fn handshakes_per_page(&self) -> Option<f64> {
        let c = self.connections?;
        (self.fetched > 0).then(|| c.handshakes as f64 / self.fetched as f64)
    }

    /// Resumed TLS handshakes per response.
    pub fn resumed_per_page(&self) -> Option<f64> {
        let c = self.connections?;
        (self.fetched > 0).then(|| c.resumed as f64 / self.fetched as f64)
    }

    /// Share of the responses sent on a connection taken from the pool.
    pub fn reused_share(&self) -> Option<f64> {
        let c = self.connections?;
        (self.fetched > 0).then(|| c.reused as f64 / self.fetched as f64)
    }

    /// The crawler's context switches, voluntary and involuntary, per response: about one
    /// where a thread blocks on each response and its arrival wakes it, near none where one
    /// thread waits for many at once.
    pub fn switches_per_page(&self) -> Option<f64> {
        let switches = self.voluntary_switches + self.involuntary_switches;
        (self.fetched > 0).then(|| switches as f64 / self.fetched as f64)
    }
}

/// The lecture's claims, as measured by this sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Per strategy: (wall s at C = 1, wall s at the next C with the same pages, that C) on the
    /// latency-bound site — the lecture's 9 s → 3 s.
    pub overlap: BTreeMap<String, (f64, f64, usize)>,
    /// Per strategy: bytes of RSS each extra in-flight connection adds (memory site).
    pub memory_per_connection_b: BTreeMap<String, f64>,
    /// Best responses/s of any strategy on the CPU-bound site, and its share of the ceiling.
    pub best_vs_ceiling: Option<(String, f64, f64)>,
    /// Per event-driven strategy: what CPU work on the loop costs, and what offload wins back.
    #[serde(default)]
    pub work: BTreeMap<String, WorkClaim>,
    /// Per variant on the cores axis: how it scales from one core to all of them.
    #[serde(default)]
    pub parallelism: BTreeMap<String, ScalingClaim>,
    /// Per reference row (`python-asyncio`, `go`), on the CPU-bound site at the C where the
    /// peer did best: its responses/s, and the slowest and fastest Rust strategy's over it.
    #[serde(default)]
    pub peers: BTreeMap<String, PeerClaim>,
    /// Per strategy: what TLS costs a page, the handshake apart from the rest, and what
    /// resumption saves (the connection axis's CPU-bound site).
    #[serde(default)]
    pub tls: BTreeMap<String, crate::connections::TlsClaim>,
    /// Per strategy: what a pool of kept connections saves per page.
    #[serde(default)]
    pub pool: BTreeMap<String, crate::connections::PoolClaim>,
    /// Per strategy: bytes of RSS each extra in-flight TLS connection adds (the memory site
    /// over https).
    #[serde(default)]
    pub tls_memory_per_connection_b: BTreeMap<String, f64>,
}

/// A reference row against the Rust strategies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerClaim {
    /// The concurrency compared at.
    pub concurrency: usize,
    /// The peer's responses/s there.
    pub peer_per_s: f64,
    /// The slowest Rust strategy there, and its rate over the peer's.
    pub slowest: (String, f64),
    /// The fastest Rust strategy there, and its rate over the peer's.
    pub fastest: (String, f64),
}

/// How one variant scaled on the cores axis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScalingClaim {
    /// Responses/s on one core.
    pub one_core_per_s: f64,
    /// The most cores measured.
    pub cores: usize,
    /// Responses/s on them.
    pub all_cores_per_s: f64,
    /// `all_cores_per_s / (cores × one_core_per_s)`.
    pub efficiency: f64,
    /// `all_cores_per_s` over the threads strategy's on as many cores.
    pub vs_threads: Option<f64>,
}

/// The share of its rate a crawl must lose to CPU work on its loop before [`WorkClaim`] says
/// the work costs it.
pub const WORK_LOSS: f64 = 0.10;

/// What inline CPU work costs one event-driven strategy, and what offloading wins back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkClaim {
    /// The least work per page (µs) at which the inline crawl lost more than [`WORK_LOSS`] of
    /// its responses/s without work; `None` if it never did.
    pub costs_from_us: Option<u64>,
    /// The most work per page measured, µs.
    pub max_work_us: u64,
    /// Responses/s without work, inline.
    pub no_work_per_s: f64,
    /// Responses/s at the most work, inline.
    pub inline_per_s: f64,
    /// Responses/s at the most work, offloaded.
    pub offload_per_s: f64,
    /// p99 loop lag at the most work, inline, ms.
    pub inline_lag_p99_ms: f64,
    /// p99 loop lag at the most work, offloaded, ms.
    pub offload_lag_p99_ms: f64,
}

/// Everything a sweep measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Where it ran.
    pub machine: Machine,
    /// What it ran.
    pub plan: Option<Plan>,
    /// The server's connection ceiling (CPU-bound site).
    pub ceiling: Option<Ceiling>,
    /// How many threads and sockets one process could hold.
    pub limits: Option<Ceilings>,
    /// Bare rustls client connections, held as in-flight crawls hold theirs, at the TLS memory
    /// site's narrowest and widest C: what TLS costs a connection before any model's own.
    #[serde(default)]
    pub bare_tls: Option<crate::probe::BareTls>,
    /// Every crawl.
    pub runs: Vec<Run>,
    /// The lecture's claims, derived from the runs.
    pub claims: Claims,
    /// Per strategy: what one connection holds, by `size_of` (heap excluded).
    #[serde(default)]
    pub state_sizes: BTreeMap<String, Vec<(String, usize)>>,
    /// What the sweep skipped or could not measure, one line each (a tool not installed, a
    /// server that did not start, a limit raised).
    #[serde(default)]
    pub notes: Vec<String>,
    /// `wrk` against the connection axis's CPU-bound site, over http and https, closing and
    /// keeping connections, on every core and on one thread: the ceilings of the TLS and
    /// keep-alive crawls. Empty where wrk is not installed.
    #[serde(default)]
    pub wrk: Vec<WrkRow>,
}

/// Fills in what is computed across runs: memory per connection and the claims.
///
/// Memory per connection comes from the memory site, where every run has the same URLs seen
/// and queued when the crawl is at its widest, and only the number in flight differs: the RSS
/// sampled then, between the narrowest and the widest run of a strategy, divided by the
/// difference in connections in flight. (Comparing peak RSS at C with peak RSS at C = 1 over a
/// whole crawl mixes phases: the peak of a narrow crawl comes at its end, from the records and
/// the report, and hides the connections of a wide one.)
pub fn derive(results: &mut Results) {
    let strategies: std::collections::BTreeSet<String> =
        results.runs.iter().map(|r| r.strategy.clone()).collect();
    for site in ["memory", TLS_MEMORY] {
        for strategy in &strategies {
            memory_slope(results, site, strategy);
        }
    }

    let mut claims = Claims::default();
    for strategy in strategies {
        let ok = |r: &&Run| r.strategy == strategy && r.error.is_none();
        let latency: Vec<&Run> = results
            .runs
            .iter()
            .filter(ok)
            .filter(|r| r.site == "latency")
            .collect();
        if let Some(seq) = latency.iter().find(|r| r.concurrency == 1)
            && let Some(conc) = latency
                .iter()
                .filter(|r| r.concurrency > 1 && r.pages == seq.pages)
                .min_by_key(|r| r.concurrency)
        {
            claims.overlap.insert(
                strategy.clone(),
                (seq.wall_s, conc.wall_s, conc.concurrency),
            );
        }
        for (site, claim) in [
            ("memory", &mut claims.memory_per_connection_b),
            (TLS_MEMORY, &mut claims.tls_memory_per_connection_b),
        ] {
            if let Some(bytes) = results
                .runs
                .iter()
                .filter(ok)
                .filter(|r| r.site == site)
                .filter(|r| r.rss_per_connection_b.is_some())
                .max_by_key(|r| r.concurrency)
                .and_then(|r| r.rss_per_connection_b)
            {
                claim.insert(strategy.clone(), bytes);
            }
        }
    }
    if let Some(ceiling) = &results.ceiling
        && let Some(best) = results
            .runs
            .iter()
            .filter(|r| r.error.is_none() && r.site == "cpu" && r.errors == 0)
            .max_by(|a, b| a.pages_per_s.total_cmp(&b.pages_per_s))
    {
        let share = best.pages_per_s / ceiling.responses_per_s;
        claims.best_vs_ceiling = Some((
            format!("{} at C = {}", best.strategy, best.concurrency),
            best.pages_per_s,
            share,
        ));
    }
    for strategy in results
        .runs
        .iter()
        .filter(|r| r.site == "work" && r.offload)
        .map(|r| r.strategy.clone())
    {
        let runs = |offload: bool| -> Vec<&Run> {
            let mut runs: Vec<&Run> = results
                .runs
                .iter()
                .filter(|r| {
                    r.site == "work"
                        && r.strategy == strategy
                        && r.offload == offload
                        && r.error.is_none()
                })
                .collect();
            runs.sort_by_key(|r| r.work_us);
            runs
        };
        let (inline, offloaded) = (runs(false), runs(true));
        let (Some(base), Some(most), Some(most_offloaded)) =
            (inline.first(), inline.last(), offloaded.last())
        else {
            continue;
        };
        let lag_p99 = |r: &Run| r.loop_lag_ms.map_or(0.0, |l| l.p99);
        claims.work.insert(
            strategy.clone(),
            WorkClaim {
                costs_from_us: inline
                    .iter()
                    .find(|r| r.work_us > 0 && r.pages_per_s < (1.0 - WORK_LOSS) * base.pages_per_s)
                    .map(|r| r.work_us),
                max_work_us: most.work_us,
                no_work_per_s: base.pages_per_s,
                inline_per_s: most.pages_per_s,
                offload_per_s: most_offloaded.pages_per_s,
                inline_lag_p99_ms: lag_p99(most),
                offload_lag_p99_ms: lag_p99(most_offloaded),
            },
        );
    }
    derive_scaling(results, &mut claims);
    derive_peers(results, &mut claims);
    claims.tls = crate::connections::tls_claims(results);
    claims.pool = crate::connections::pool_claims(results);
    results.claims = claims;
}

/// On a memory site (`memory`, or `tls-memory` over https), where every run has the same URLs
/// seen and queued when the crawl is at its widest: the RSS sampled then, between the
/// narrowest and the widest run of `strategy`, over the difference in connections in flight,
/// written into the widest run.
fn memory_slope(results: &mut Results, site: &str, strategy: &str) {
    let memory: Vec<usize> = (0..results.runs.len())
        .filter(|&i| {
            let r = &results.runs[i];
            r.site == site && r.strategy == strategy && r.error.is_none() && r.errors == 0
        })
        .collect();
    let narrowest = memory
        .iter()
        .copied()
        .min_by_key(|&i| results.runs[i].sampled_in_flight);
    let widest = memory
        .iter()
        .copied()
        .max_by_key(|&i| results.runs[i].sampled_in_flight);
    let (Some(lo), Some(hi)) = (narrowest, widest) else {
        return;
    };
    let (lo_run, hi_run) = (&results.runs[lo], &results.runs[hi]);
    if hi_run.sampled_in_flight > lo_run.sampled_in_flight {
        let bytes = (hi_run.rss_kib_at_widest as f64 - lo_run.rss_kib_at_widest as f64) * 1024.0;
        let per_connection = bytes / (hi_run.sampled_in_flight - lo_run.sampled_in_flight) as f64;
        results.runs[hi].rss_per_connection_b = Some(per_connection);
    }
}

/// The reference rows against the Rust strategies, on the CPU-bound site.
fn derive_peers(results: &Results, claims: &mut Claims) {
    let cpu = |r: &&Run| r.site == "cpu" && r.error.is_none() && r.errors == 0;
    for peer in crate::peers::Peer::ALL.iter().map(|p| p.name()) {
        let Some(best) = results
            .runs
            .iter()
            .filter(cpu)
            .filter(|r| r.strategy == peer)
            .max_by(|a, b| a.pages_per_s.total_cmp(&b.pages_per_s))
        else {
            continue;
        };
        let rust: Vec<&Run> = results
            .runs
            .iter()
            .filter(cpu)
            .filter(|r| r.concurrency == best.concurrency)
            .filter(|r| crate::Strategy::ALL.iter().any(|s| s.name() == r.strategy))
            .collect();
        let ratio = |r: &&Run| {
            (
                r.strategy.clone(),
                r.pages_per_s / best.pages_per_s.max(1e-9),
            )
        };
        let by_rate = |a: &&&Run, b: &&&Run| a.pages_per_s.total_cmp(&b.pages_per_s);
        let (Some(slowest), Some(fastest)) =
            (rust.iter().min_by(by_rate), rust.iter().max_by(by_rate))
        else {
            continue;
        };
        claims.peers.insert(
            peer.to_owned(),
            PeerClaim {
                concurrency: best.concurrency,
                peer_per_s: best.pages_per_s,
                slowest: ratio(slowest),
                fastest: ratio(fastest),
            },
        );
    }
}

/// The cores axis: each run's scaling efficiency against the same variant on one core, and
/// per variant the claim from one core to the most.
fn derive_scaling(results: &mut Results, claims: &mut Claims) {
    // Responses/s by (variant, cores), of the runs that ran; the first run of each counts.
    let mut rates: BTreeMap<(String, usize), f64> = BTreeMap::new();
    for run in results
        .runs
        .iter()
        .filter(|r| r.site == "cores" && r.error.is_none())
    {
        if let Some(cores) = run.cores {
            rates
                .entry((run.variant(), cores))
                .or_insert(run.pages_per_s);
        }
    }
    let rate_at = |variant: &str, cores: usize| rates.get(&(variant.to_owned(), cores)).copied();
    for run in results
        .runs
        .iter_mut()
        .filter(|r| r.site == "cores" && r.error.is_none())
    {
        let (Some(cores), Some(one)) = (run.cores, rate_at(&run.variant(), 1)) else {
            continue;
        };
        if one > 0.0 {
            run.scaling_efficiency = Some(run.pages_per_s / (cores as f64 * one));
        }
    }
    let most = results.top_cores();
    let variants: std::collections::BTreeSet<&String> =
        rates.keys().map(|(variant, _)| variant).collect();
    for variant in variants {
        let (Some(most), Some(one)) = (most, rate_at(variant, 1)) else {
            continue;
        };
        let Some(all) = rate_at(variant, most) else {
            continue;
        };
        claims.parallelism.insert(
            variant.clone(),
            ScalingClaim {
                one_core_per_s: one,
                cores: most,
                all_cores_per_s: all,
                efficiency: all / (most as f64 * one).max(1e-9),
                vs_threads: rate_at("threads", most).map(|t| all / t.max(1e-9)),
            },
        );
    }
}

impl Results {
    /// The cores axis's top step: the most cores the crawler had (every core, unpinned, as the
    /// crawls of the other sites).
    pub fn top_cores(&self) -> Option<usize> {
        self.runs
            .iter()
            .filter(|r| r.site == "cores")
            .filter_map(|r| r.cores)
            .max()
    }

    /// Writes the data — `sweep.json`, `sweep.csv` and `summary.md` — into `dir`, before any
    /// plot is drawn: a plot that fails later costs no measurement. Returns the files written.
    pub fn write_data(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        fs::create_dir_all(dir)?;
        let json = dir.join("sweep.json");
        fs::write(&json, serde_json::to_string_pretty(self)?)?;
        let csv = dir.join("sweep.csv");
        fs::write(&csv, self.csv()?)?;
        let summary = dir.join("summary.md");
        fs::write(&summary, self.summary())?;
        Ok(vec![json, csv, summary])
    }

    /// `summary.md`: the headline and what the numbers say on this machine, then every table
    /// and claim, the plots linked beside it (the run's folder is `results/<run>/`, two levels
    /// below the `docs/` the verdicts link to).
    pub fn summary(&self) -> String {
        format!(
            "# Sweep\n\n{}\n\n{}\n## What the numbers say\n\n{}\n{}{}{}",
            crate::summary::measured_on(self),
            crate::headline::table(self),
            crate::headline::what_the_numbers_say(self, "../../docs"),
            crate::summary::tables(self),
            crate::summary::plot_links(self, Path::new("."), |_| true),
            crate::summary::notes(self),
        )
    }

    /// One row per run, one column per field of [`Run`] (nested fields as `latency_ms.p99`),
    /// written by the `csv` crate from the same serde structs as the JSON; the machine in a
    /// first `#` comment line (`comment=b'#'` or pandas' `comment='#'` skip it).
    pub fn csv(&self) -> io::Result<String> {
        let columns = run_columns();
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(&columns).map_err(io::Error::other)?;
        for run in &self.runs {
            let mut cells: BTreeMap<String, String> =
                flatten(&serde_json::to_value(run)?).into_iter().collect();
            out.write_record(
                columns
                    .iter()
                    .map(|column| cells.remove(column).unwrap_or_default()),
            )
            .map_err(io::Error::other)?;
        }
        let rows = out
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        let rows = String::from_utf8(rows).map_err(io::Error::other)?;
        Ok(format!("# {}\n{rows}", self.machine.describe()))
    }
}

/// The CSV columns: every field of a [`Run`] with all its optional parts present, in the
/// order serde writes them.
fn run_columns() -> Vec<String> {
    let full = Run {
        error: Some(String::new()),
        rss_per_connection_b: Some(0.0),
        loop_lag_ms: Some(Latency::default()),
        cores: Some(0),
        pinning: Some(String::new()),
        parallel: Some(0),
        runtime: Some(String::new()),
        scaling_efficiency: Some(0.0),
        syscalls_per_page: Some(0.0),
        instructions_per_page: Some(0.0),
        kernel_instructions_per_page: Some(0.0),
        instructions_by: Some(String::new()),
        connections: Some(c10k_core::Connections::default()),
        kept: Some(Kept {
            written_b: Some(0),
            steps: Some(0),
            ..Kept::default()
        }),
        ..Run::default()
    };
    let value = serde_json::to_value(full).unwrap_or_default();
    flatten(&value)
        .into_iter()
        .map(|(column, _)| column)
        .collect()
}

/// A run's cells, column by column in the order serde writes them: nested fields as
/// `latency_ms.p99`, `null` (a figure not measured) as an empty cell.
fn flatten(value: &serde_json::Value) -> Vec<(String, String)> {
    let mut cells = Vec::new();
    flatten_into("", value, &mut cells);
    cells
}

fn flatten_into(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let cell = match value {
        serde_json::Value::Object(fields) => {
            for (key, value) in fields {
                flatten_into(&join_key(prefix, key), value, out);
            }
            return;
        }
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    out.push((prefix.to_owned(), cell));
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The folder of one sweep inside `out`: its start time and plan, e.g.
/// `results/2026-11-26T03-10-00Z-full`.
pub fn run_dir(out: &Path, results: &Results) -> PathBuf {
    let date = results.machine.date.replace(':', "-");
    let plan = results.plan.as_ref().map_or("sweep", |p| p.name.as_str());
    out.join(format!("{date}-{plan}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        site: &str,
        strategy: &str,
        concurrency: usize,
        in_flight: u64,
        rss_kib: u64,
        wall_s: f64,
    ) -> Run {
        Run {
            site: site.into(),
            pages: if site == "latency" { 100 } else { 10_001 },
            strategy: strategy.into(),
            concurrency,
            sampled_in_flight: in_flight,
            rss_kib_at_widest: rss_kib,
            wall_s,
            ..Run::default()
        }
    }

    #[test]
    fn memory_per_connection_is_the_slope_between_the_narrowest_and_widest_runs() {
        let mut results = Results {
            runs: vec![
                run("memory", "callbacks", 1000, 1000, 10_000, 1.0),
                run("memory", "callbacks", 10_000, 10_000, 14_500, 1.0),
                run("latency", "callbacks", 1, 1, 0, 5.0),
                run("latency", "callbacks", 10, 10, 0, 0.5),
            ],
            ..Results::default()
        };
        derive(&mut results);
        // 4500 KiB more for 9000 more connections: 512 bytes each.
        assert_eq!(results.runs[1].rss_per_connection_b, Some(512.0));
        assert_eq!(results.runs[0].rss_per_connection_b, None);
        assert_eq!(results.claims.memory_per_connection_b["callbacks"], 512.0);
        assert_eq!(results.claims.overlap["callbacks"], (5.0, 0.5, 10));
    }

    #[test]
    fn failed_runs_are_left_out_of_derived_figures() {
        let mut failed = run("memory", "threads", 10_000, 0, 0, 0.0);
        failed.error = Some("Resource temporarily unavailable".into());
        let mut results = Results {
            plan: Some(Plan::smoke()),
            runs: vec![run("memory", "threads", 1000, 1000, 30_000, 1.0), failed],
            ..Results::default()
        };
        derive(&mut results);
        assert!(results.claims.memory_per_connection_b.is_empty());
        let markdown = crate::summary::markdown(&results, Path::new("."));
        assert!(
            markdown.contains("| threads | 10000 | 10001 | — |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("could not run: Resource temporarily unavailable"),
            "{markdown}"
        );
    }

    #[test]
    fn scaling_is_measured_against_the_same_variant_on_one_core() {
        let cores = |variant: &str, runtime: Option<&str>, cores: usize, rate: f64| Run {
            site: "cores".into(),
            strategy: variant.into(),
            runtime: runtime.map(str::to_owned),
            cores: Some(cores),
            pages_per_s: rate,
            ..Run::default()
        };
        let mut results = Results {
            runs: vec![
                cores("threads", None, 1, 10_000.0),
                cores("callbacks", None, 1, 9_000.0),
                cores("async", Some("per-core"), 1, 8_000.0),
                cores("threads", None, 2, 15_000.0),
                cores("callbacks", None, 2, 16_200.0),
                cores("async", Some("per-core"), 2, 12_000.0),
            ],
            ..Results::default()
        };
        derive(&mut results);
        assert_eq!(results.runs[4].scaling_efficiency, Some(0.9));
        assert_eq!(results.runs[1].scaling_efficiency, Some(1.0));
        let callbacks = &results.claims.parallelism["callbacks"];
        assert_eq!((callbacks.cores, callbacks.efficiency), (2, 0.9));
        assert_eq!(callbacks.vs_threads, Some(16_200.0 / 15_000.0));
        assert_eq!(
            results.claims.parallelism["async+per-core"].efficiency,
            0.75
        );
    }
}
