//! The sweep: every strategy × concurrency × site, each crawl in a process of its own against
//! a test server in another, recording what criterion cannot see — CPU time, peak RSS, memory
//! per connection, context switches, latency percentiles — plus the server's connection
//! ceiling and the lecture's claims.

use std::{
    collections::BTreeMap,
    fs,
    io::{self, BufRead, BufReader, Read},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use c10k_core::Latency;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::{
    Strategy,
    loadgen::{self, Ceiling},
    measure::{Machine, ProcessUsage, cpu_seconds_of, machine},
    probe::Ceilings,
};

/// A test site the sweep crawls, and how many pages it has for a given concurrency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// `cpu` (no delay: per-connection overhead shows) or `latency` (waits dominate).
    pub name: String,
    /// Delay of every response, milliseconds.
    pub delay_ms: u64,
    /// Tree links per page; many links make the frontier wide enough for C = 10,000 early.
    pub links: usize,
    /// Bytes per page.
    pub page_bytes: usize,
    /// Pages = `pages_per_connection × C`, clamped to `[min_pages, max_pages]`.
    pub pages_per_connection: usize,
    /// Fewest pages.
    pub min_pages: usize,
    /// Most pages.
    pub max_pages: usize,
    /// Crawled only at concurrencies of at least this.
    pub min_concurrency: usize,
}

impl Site {
    /// Pages of the site crawled at `concurrency`.
    pub fn pages_for(&self, concurrency: usize) -> usize {
        (self.pages_per_connection * concurrency).clamp(self.min_pages, self.max_pages)
    }

    /// A site of `pages` pages at every C.
    fn fixed(name: &str, pages: usize, delay_ms: u64) -> Site {
        Site {
            name: name.into(),
            delay_ms,
            links: 50,
            page_bytes: 2048,
            pages_per_connection: 0,
            min_pages: pages,
            max_pages: pages,
            min_concurrency: 1,
        }
    }

    /// The CPU-bound site: no delay, so per-connection overhead shows.
    fn cpu(pages: usize) -> Site {
        Site::fixed("cpu", pages, 0)
    }

    fn latency(delay_ms: u64, min_pages: usize, max_pages: usize) -> Site {
        Site {
            name: "latency".into(),
            delay_ms,
            links: 50,
            page_bytes: 2048,
            pages_per_connection: 10,
            min_pages,
            max_pages,
            min_concurrency: 1,
        }
    }

    /// The memory site: the root links to `width` pages at once, so every C up to `width`
    /// has C fetches in flight together while the rest wait in the queue, and each response
    /// is held `delay_ms` so the crawl stays at its widest long enough to be sampled.
    fn memory(width: usize, delay_ms: u64, min_concurrency: usize) -> Site {
        Site {
            name: "memory".into(),
            delay_ms,
            links: width,
            page_bytes: 2048,
            pages_per_connection: 0,
            min_pages: width + 1,
            max_pages: width + 1,
            min_concurrency,
        }
    }

    /// The work site: latency-bound, a fixed number of pages.
    fn work(pages: usize, delay_ms: u64) -> Site {
        Site::fixed("work", pages, delay_ms)
    }

    /// One line for a human.
    pub fn describe(&self) -> String {
        let pages = if self.min_pages == self.max_pages {
            format!("{} pages", self.min_pages)
        } else {
            format!(
                "{}·C pages within [{}, {}]",
                self.pages_per_connection, self.min_pages, self.max_pages
            )
        };
        let delay = if self.delay_ms == 0 {
            "no delay".to_owned()
        } else {
            format!("{} ms per response", self.delay_ms)
        };
        format!("{pages}, {delay}, {} links per page", self.links)
    }
}

/// What a sweep runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// `full`, `quick` or `smoke`.
    pub name: String,
    /// Strategies, in this order.
    pub strategies: Vec<Strategy>,
    /// Concurrency limits.
    pub concurrencies: Vec<usize>,
    /// Sites.
    pub sites: Vec<Site>,
    /// A crawl still running after this many seconds is killed and recorded as failed.
    pub run_timeout_s: u64,
    /// Connections of the ceiling measurement.
    pub ceiling_connections: usize,
    /// Duration of the ceiling measurement, seconds.
    pub ceiling_seconds: f64,
    /// Most threads and sockets the limits probe tries.
    pub probe_cap: usize,
    /// CPU work per page, inline and offloaded.
    pub work: Option<WorkAxis>,
}

/// The work axis: the same crawl with N µs of CPU work per page, done on the event loop or
/// offloaded to rayon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkAxis {
    /// The site crawled.
    pub site: Site,
    /// At this concurrency.
    pub concurrency: usize,
    /// Work per page, µs.
    pub work_us: Vec<u64>,
}

impl WorkAxis {
    /// 0, 100 and 1000 µs of work per page, at C = 100, on a latency-bound site (50 ms per
    /// response) of `pages` pages: without work the loop is mostly idle, so what the work costs
    /// shows.
    fn standard(pages: usize) -> WorkAxis {
        WorkAxis {
            site: Site::work(pages, 50),
            concurrency: 100,
            work_us: vec![0, 100, 1000],
        }
    }
}

impl Plan {
    /// What `cargo bench` runs: C up to 10,000, 20,000 pages on the CPU-bound site.
    pub fn full() -> Plan {
        Plan {
            name: "full".into(),
            strategies: Strategy::ALL.to_vec(),
            concurrencies: vec![1, 10, 100, 1000, 10_000],
            sites: vec![
                Site::cpu(20_000),
                Site::latency(50, 100, 10_000),
                Site::memory(10_000, 200, 1000),
            ],
            run_timeout_s: 300,
            ceiling_connections: 100,
            ceiling_seconds: 3.0,
            probe_cap: 40_000,
            work: Some(WorkAxis::standard(2000)),
        }
    }

    /// The criterion benches: the same concurrencies, smaller sites (each configuration is
    /// crawled ten times).
    pub fn criterion() -> Plan {
        Plan {
            name: "criterion".into(),
            sites: vec![Site::cpu(5000), Site::latency(50, 40, 10_000)],
            work: Some(WorkAxis::standard(500)),
            ..Plan::full()
        }
    }

    /// `c10k compare --quick`: the same shape, small enough for under two minutes.
    pub fn quick() -> Plan {
        Plan {
            name: "quick".into(),
            concurrencies: vec![1, 10, 100, 1000],
            sites: vec![
                Site::cpu(2000),
                Site::latency(50, 100, 2000),
                Site::memory(1000, 200, 100),
            ],
            ceiling_seconds: 1.0,
            probe_cap: 2000,
            run_timeout_s: 60,
            work: Some(WorkAxis::standard(500)),
            ..Plan::full()
        }
    }

    /// `cargo bench -- --test`: every code path once, in seconds.
    pub fn smoke() -> Plan {
        Plan {
            name: "smoke".into(),
            concurrencies: vec![1, 10],
            sites: vec![
                Site::cpu(100),
                Site::latency(5, 100, 100),
                Site::memory(10, 20, 1),
            ],
            ceiling_connections: 10,
            ceiling_seconds: 0.2,
            probe_cap: 100,
            run_timeout_s: 60,
            work: Some(WorkAxis {
                site: Site::work(50, 5),
                concurrency: 10,
                work_us: vec![0, 100],
            }),
            ..Plan::full()
        }
    }
}

/// One crawl of the sweep, measured from outside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Site name.
    pub site: String,
    /// Pages of the site.
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
    /// Memory site only: bytes of RSS each extra in-flight connection added, from this run and
    /// the narrowest run of the same strategy (see [`derive`]).
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
}

impl Run {
    /// The strategy, with `+offload` when it offloaded.
    pub fn variant(&self) -> String {
        if self.offload {
            format!("{}+offload", self.strategy)
        } else {
            self.strategy.clone()
        }
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
}

/// What inline CPU work costs one event-driven strategy, and what offloading wins back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkClaim {
    /// The least work per page (µs) at which the inline crawl lost more than 10% of its
    /// responses/s without work; `None` if it never did.
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
    /// Every crawl.
    pub runs: Vec<Run>,
    /// The lecture's claims, derived from the runs.
    pub claims: Claims,
    /// Per strategy: what one connection holds, by `size_of` (heap excluded).
    #[serde(default)]
    pub state_sizes: BTreeMap<String, Vec<(String, usize)>>,
}

/// A `c10k serve` child process; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://IP:PORT/`.
    pub url: String,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `bin serve` for `site` at `pages` pages and waits for its address.
    pub fn start(bin: &Path, site: &Site, pages: usize) -> io::Result<ServerProcess> {
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--pages",
                &pages.to_string(),
                "--links",
                &site.links.to_string(),
            ])
            .args([
                "--page-bytes",
                &site.page_bytes.to_string(),
                "--delay-ms",
                &site.delay_ms.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let url = line.trim().strip_prefix("listening on ").map(str::to_owned);
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "c10k serve did not announce its address: {line:?}"
            )));
        };
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| io::Error::other(format!("bad address in {url}: {e}")))?;
        Ok(ServerProcess { child, url, addr })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON a `c10k crawl --json` child prints: the report plus its process usage.
#[derive(Deserialize)]
struct ChildReport {
    #[serde(flatten)]
    report: c10k_core::Report,
    process: ProcessUsage,
}

/// Runs a sweep with the `c10k` binary at `bin`, drawing progress bars on a terminal.
pub fn sweep(bin: &Path, plan: &Plan) -> io::Result<Results> {
    let mut results = Results {
        machine: machine(),
        plan: Some(plan.clone()),
        state_sizes: plan
            .strategies
            .iter()
            .map(|&s| {
                let parts = crate::state_sizes(s)
                    .into_iter()
                    .map(|(what, bytes)| (what.to_owned(), bytes))
                    .collect();
                (s.name().to_owned(), parts)
            })
            .collect(),
        ..Results::default()
    };
    let bars = MultiProgress::new();
    let total = plan
        .sites
        .iter()
        .map(|site| {
            plan.concurrencies
                .iter()
                .filter(|&&c| c >= site.min_concurrency)
                .count()
        })
        .sum::<usize>()
        * plan.strategies.len()
        + plan.work.as_ref().map_or(0, |w| {
            w.work_us.len() * work_variants(&plan.strategies).len()
        });
    let overall = bars.add(ProgressBar::new(total as u64 + 2));
    overall.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
            .map_err(io::Error::other)?
            .progress_chars("=> "),
    );
    overall.set_prefix("sweep");

    overall.set_message("probing how many threads and sockets one process can hold");
    // A probe that fails leaves a gap in the results, not a failed sweep.
    results.limits = probe_limits(bin, plan.probe_cap).ok();
    overall.inc(1);

    for site in &plan.sites {
        let mut servers: BTreeMap<usize, ServerProcess> = BTreeMap::new();
        for &concurrency in plan
            .concurrencies
            .iter()
            .filter(|&&c| c >= site.min_concurrency)
        {
            let pages = site.pages_for(concurrency);
            let server = match servers.entry(pages) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert(ServerProcess::start(bin, site, pages)?)
                }
            };
            let server = &*server;
            if site.delay_ms == 0 && results.ceiling.is_none() {
                overall.set_message("measuring the server's connection ceiling");
                let duration = Duration::from_secs_f64(plan.ceiling_seconds);
                let mut ceiling =
                    loadgen::measure(server.addr, "/", plan.ceiling_connections, duration)?;
                ceiling.wrk_responses_per_s =
                    loadgen::wrk(&server.url, plan.ceiling_connections, duration);
                results.ceiling = Some(ceiling);
                overall.inc(1);
            }
            for &strategy in &plan.strategies {
                let job = Job {
                    site,
                    pages,
                    strategy,
                    concurrency,
                    work_us: 0,
                    offload: false,
                };
                overall.set_message(job.describe());
                results
                    .runs
                    .push(job.run(bin, server, plan.run_timeout_s, &bars)?);
                overall.inc(1);
            }
        }
    }
    if let Some(axis) = &plan.work {
        let pages = axis.site.pages_for(axis.concurrency);
        let server = ServerProcess::start(bin, &axis.site, pages)?;
        for &work_us in &axis.work_us {
            for (strategy, offload) in work_variants(&plan.strategies) {
                let job = Job {
                    site: &axis.site,
                    pages,
                    strategy,
                    concurrency: axis.concurrency,
                    work_us,
                    offload,
                };
                overall.set_message(job.describe());
                results
                    .runs
                    .push(job.run(bin, &server, plan.run_timeout_s, &bars)?);
                overall.inc(1);
            }
        }
    }
    overall.finish_and_clear();
    derive(&mut results);
    Ok(results)
}

/// Each strategy, and each event-driven one again with `--offload` (threads need none).
fn work_variants(strategies: &[Strategy]) -> Vec<(Strategy, bool)> {
    let mut variants: Vec<(Strategy, bool)> = strategies.iter().map(|&s| (s, false)).collect();
    variants.extend(
        strategies
            .iter()
            .filter(|&&s| s != Strategy::Threads)
            .map(|&s| (s, true)),
    );
    variants
}

/// One crawl of a sweep.
struct Job<'a> {
    site: &'a Site,
    pages: usize,
    strategy: Strategy,
    concurrency: usize,
    work_us: u64,
    offload: bool,
}

impl Job<'_> {
    fn describe(&self) -> String {
        let mut text = format!(
            "{} at C = {} on the {} site ({} pages)",
            self.strategy, self.concurrency, self.site.name, self.pages
        );
        if self.work_us > 0 || self.offload {
            text.push_str(&format!(", {} µs of work per page", self.work_us));
        }
        if self.offload {
            text.push_str(", offloaded");
        }
        text
    }

    /// Runs the crawl in a child process, with a progress bar.
    fn run(
        &self,
        bin: &Path,
        server: &ServerProcess,
        timeout_s: u64,
        bars: &MultiProgress,
    ) -> io::Result<Run> {
        let bar = bars.add(ProgressBar::new(self.pages as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} URLs {msg}")
                .map_err(io::Error::other)?
                .progress_chars("=> "),
        );
        bar.set_prefix(self.strategy.name());
        let run = crawl_in_child(bin, server, self, timeout_s, &bar);
        bar.finish_and_clear();
        Ok(run)
    }
}

/// One crawl in a child process, measured.
fn crawl_in_child(
    bin: &Path,
    server: &ServerProcess,
    job: &Job<'_>,
    timeout_s: u64,
    bar: &ProgressBar,
) -> Run {
    let mut run = Run {
        site: job.site.name.clone(),
        pages: job.pages,
        delay_ms: job.site.delay_ms,
        strategy: job.strategy.name().to_owned(),
        concurrency: job.concurrency,
        work_us: job.work_us,
        offload: job.offload,
        ..Run::default()
    };
    let server_cpu_before = cpu_seconds_of(server.pid()).unwrap_or_default();
    let mut command = Command::new(bin);
    command
        .args(["crawl", &server.url, "--strategy", job.strategy.name()])
        .args([
            "--concurrency",
            &job.concurrency.to_string(),
            "--json",
            "--progress",
        ]);
    if job.work_us > 0 {
        command.args(["--work-us", &job.work_us.to_string()]);
    }
    if job.offload {
        command.arg("--offload");
    }
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => {
            run.error = Some(format!("could not start the crawler: {err}"));
            return run;
        }
    };
    let stdout = child.stdout.take().map(|mut out| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        })
    });
    let stderr = child.stderr.take().map(|err| {
        let bar = bar.clone();
        thread::spawn(move || {
            let mut other = String::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                match line.strip_prefix("progress ").and_then(|n| n.parse().ok()) {
                    Some(done) => bar.set_position(done),
                    None => {
                        other.push_str(&line);
                        other.push('\n');
                    }
                }
            }
            other
        })
    });
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    run.server_cpu_s =
        (cpu_seconds_of(server.pid()).unwrap_or_default() - server_cpu_before).max(0.0);
    let stdout = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    let Some(status) = status else {
        run.error = Some(format!("killed after {timeout_s} s"));
        return run;
    };
    match serde_json::from_str::<ChildReport>(&stdout) {
        Ok(ChildReport { report, process }) => {
            run.wall_s = report.elapsed_s;
            run.pages_per_s = report.pages_per_s;
            run.fetched = report.fetched;
            run.errors = report.errors;
            run.peak_in_flight = report.peak_in_flight;
            run.latency_ms = report.latency_ms;
            run.loop_lag_ms = report.loop_lag_ms;
            run.user_s = process.user_s;
            run.sys_s = process.sys_s;
            run.cpu_us_per_page =
                (process.user_s + process.sys_s) * 1e6 / report.fetched.max(1) as f64;
            run.max_rss_kib = process.max_rss_kib;
            run.sampled_in_flight = process.sampled_in_flight;
            run.rss_kib_at_widest = process.rss_kib_at_widest;
            run.voluntary_switches = process.voluntary_switches;
            run.involuntary_switches = process.involuntary_switches;
            if !status.success() {
                run.error = Some(first_line(&stderr, "the root could not be fetched"));
            }
        }
        Err(_) => {
            run.error = Some(first_line(&stderr, &format!("exited with {status}")));
        }
    }
    run
}

fn first_line(text: &str, fallback: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(fallback)
        .trim_start_matches("error: ")
        .to_owned()
}

/// Runs `bin probe-limits` in a child, so the probe's threads and sockets are not ours.
fn probe_limits(bin: &Path, cap: usize) -> io::Result<Ceilings> {
    let output = Command::new(bin)
        .args(["probe-limits", "--cap", &cap.to_string()])
        .output()?;
    serde_json::from_slice(&output.stdout).map_err(|e| {
        io::Error::other(format!(
            "probe-limits: {e}: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    })
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
    for strategy in &strategies {
        let memory: Vec<usize> = (0..results.runs.len())
            .filter(|&i| {
                let r = &results.runs[i];
                r.site == "memory" && r.strategy == *strategy && r.error.is_none() && r.errors == 0
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
        if let (Some(lo), Some(hi)) = (narrowest, widest) {
            let (lo, hi) = (&results.runs[lo], &results.runs[hi]);
            if hi.sampled_in_flight > lo.sampled_in_flight {
                let bytes = (hi.rss_kib_at_widest as f64 - lo.rss_kib_at_widest as f64) * 1024.0;
                let per_connection = bytes / (hi.sampled_in_flight - lo.sampled_in_flight) as f64;
                let (site, c) = (hi.site.clone(), hi.concurrency);
                if let Some(run) = results
                    .runs
                    .iter_mut()
                    .find(|r| r.site == site && r.strategy == *strategy && r.concurrency == c)
                {
                    run.rss_per_connection_b = Some(per_connection);
                }
            }
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
        if let Some(largest) = results
            .runs
            .iter()
            .filter(ok)
            .filter(|r| r.rss_per_connection_b.is_some())
            .max_by_key(|r| r.concurrency)
        {
            claims.memory_per_connection_b.insert(
                strategy.clone(),
                largest.rss_per_connection_b.unwrap_or_default(),
            );
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
                    .find(|r| r.work_us > 0 && r.pages_per_s < 0.9 * base.pages_per_s)
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
    results.claims = claims;
}

impl Results {
    /// Writes `sweep.json`, `sweep.csv`, `summary.md` and the plots into `dir`.
    pub fn write(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let json = dir.join("sweep.json");
        fs::write(&json, serde_json::to_string_pretty(self)?)?;
        written.push(json);
        let csv = dir.join("sweep.csv");
        fs::write(&csv, self.csv())?;
        written.push(csv);
        written.extend(crate::plot::draw(self, dir)?);
        let summary = dir.join("summary.md");
        fs::write(&summary, self.markdown(Path::new(".")))?;
        written.push(summary);
        Ok(written)
    }

    /// One row per run, every figure, with the machine in the first lines as comments.
    pub fn csv(&self) -> String {
        let mut text = format!("# {}\n", self.machine.describe());
        text.push_str(
            "site,pages,delay_ms,strategy,concurrency,error,wall_s,pages_per_s,fetched,errors,peak_in_flight,\
             user_s,sys_s,cpu_us_per_page,max_rss_kib,sampled_in_flight,rss_kib_at_widest,rss_per_connection_b,voluntary_switches,involuntary_switches,\
             p50_ms,p90_ms,p99_ms,max_ms,server_cpu_s\n",
        );
        for r in &self.runs {
            let error = r
                .error
                .as_deref()
                .unwrap_or_default()
                .replace([',', '\n'], ";");
            let per_conn = r
                .rss_per_connection_b
                .map(|b| format!("{b:.0}"))
                .unwrap_or_default();
            text.push_str(&format!(
                "{},{},{},{},{},{},{:.4},{:.1},{},{},{},{:.4},{:.4},{:.2},{},{},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.4}\n",
                r.site, r.pages, r.delay_ms, r.strategy, r.concurrency, error, r.wall_s, r.pages_per_s, r.fetched,
                r.errors, r.peak_in_flight, r.user_s, r.sys_s, r.cpu_us_per_page, r.max_rss_kib,
                r.sampled_in_flight, r.rss_kib_at_widest, per_conn,
                r.voluntary_switches, r.involuntary_switches, r.latency_ms.p50, r.latency_ms.p90, r.latency_ms.p99,
                r.latency_ms.max, r.server_cpu_s,
            ));
        }
        text
    }

    /// The results as Markdown: machine, ceiling, one table per site, the claims, the plots
    /// (linked relative to `plots`).
    pub fn markdown(&self, plots: &Path) -> String {
        let mut md = String::new();
        let plan = self.plan.as_ref();
        md.push_str(&format!(
            "Measured by `cargo bench` (plan `{}`) on {}.\n\n",
            plan.map_or("?", |p| p.name.as_str()),
            self.machine.describe()
        ));
        if let Some(c) = &self.ceiling {
            md.push_str(&format!(
                "**Server ceiling** (one request per connection, {} connections, measured by the harness): \
                 **{:.0} responses/s**{}.\n\n",
                c.connections,
                c.responses_per_s,
                c.wrk_responses_per_s
                    .map(|w| format!("; `wrk -H 'Connection: close'`: {w:.0} responses/s"))
                    .unwrap_or_else(|| "; `wrk` not installed (see `scripts/install-tools.sh`)".to_owned())
            ));
        }
        for site in plan.map(|p| p.sites.as_slice()).unwrap_or_default() {
            md.push_str(&format!("#### {} site: {}\n\n", site.name, site.describe()));
            md.push_str(
                "| strategy | C | pages | wall s | responses/s | peak in flight | CPU µs/page | peak RSS MiB | RSS at widest MiB | RSS/conn B | p50 ms | p99 ms | ctx switches vol/invol | errors |\n\
                 |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
            );
            for r in self.runs.iter().filter(|r| r.site == site.name) {
                if let Some(err) = &r.error {
                    md.push_str(&format!(
                        "| {} | {} | {} | — | — | — | — | — | — | — | — | — | — | could not run: {} |\n",
                        r.strategy, r.concurrency, r.pages, err
                    ));
                    continue;
                }
                md.push_str(&format!(
                    "| {} | {} | {} | {:.2} | {:.0} | {} | {:.0} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {}/{} | {} |\n",
                    r.strategy,
                    r.concurrency,
                    r.pages,
                    r.wall_s,
                    r.pages_per_s,
                    r.peak_in_flight,
                    r.cpu_us_per_page,
                    r.max_rss_kib as f64 / 1024.0,
                    r.rss_kib_at_widest as f64 / 1024.0,
                    r.rss_per_connection_b.map_or("—".to_owned(), |b| format!("{b:.0}")),
                    r.latency_ms.p50,
                    r.latency_ms.p99,
                    r.voluntary_switches,
                    r.involuntary_switches,
                    r.errors
                ));
            }
            md.push('\n');
        }
        if let Some(axis) = plan.and_then(|p| p.work.as_ref()) {
            md.push_str(&format!(
                "#### work site: {}, at C = {}; N µs of CPU work per HTML page, on the loop or offloaded to rayon\n\n",
                axis.site.describe(),
                axis.concurrency
            ));
            md.push_str(
                "| strategy | work µs | wall s | responses/s | p50 ms | p99 ms | loop lag p50 ms | loop lag p99 ms | loop lag max ms | CPU µs/page | errors |\n\
                 |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
            );
            for r in self.runs.iter().filter(|r| r.site == "work") {
                if let Some(err) = &r.error {
                    md.push_str(&format!(
                        "| {} | {} | — | — | — | — | — | — | — | — | could not run: {err} |\n",
                        r.variant(),
                        r.work_us
                    ));
                    continue;
                }
                let lag = |f: fn(&Latency) -> f64| {
                    r.loop_lag_ms
                        .as_ref()
                        .map_or("—".to_owned(), |l| format!("{:.1}", f(l)))
                };
                md.push_str(&format!(
                    "| {} | {} | {:.2} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {:.0} | {} |\n",
                    r.variant(),
                    r.work_us,
                    r.wall_s,
                    r.pages_per_s,
                    r.latency_ms.p50,
                    r.latency_ms.p99,
                    lag(|l| l.p50),
                    lag(|l| l.p99),
                    lag(|l| l.max),
                    r.cpu_us_per_page,
                    r.errors
                ));
            }
            md.push('\n');
        }
        md.push_str("#### The lecture's claims, measured\n\n");
        for (strategy, (seq, conc, c)) in &self.claims.overlap {
            md.push_str(&format!(
                "- *Overlapping waits* ({strategy}): the latency-bound crawl takes {seq:.2} s at C = 1 and {conc:.2} s at C = {c} ({:.1}× faster).\n",
                seq / conc.max(1e-9)
            ));
        }
        if !self.claims.memory_per_connection_b.is_empty() {
            let list: Vec<String> = self
                .claims
                .memory_per_connection_b
                .iter()
                .map(|(s, b)| format!("{s} {b:.0} B"))
                .collect();
            md.push_str(&format!(
                "- *Memory per connection* (RSS each extra in-flight connection adds, on the memory site): {}.\n",
                list.join(", ")
            ));
        }
        if !self.state_sizes.is_empty() {
            md.push_str("- *What one connection holds* (`size_of` of the per-connection structures, heap excluded):");
            for (strategy, parts) in &self.state_sizes {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|(what, bytes)| format!("{} {bytes} B", what.trim()))
                    .collect();
                md.push_str(&format!(" **{strategy}**: {};", parts.join(", ")));
            }
            md.push('\n');
        }
        if let Some(l) = &self.limits {
            md.push_str(&format!(
                "- *Threads run out before sockets?* One process held {} parked threads ({} KiB stacks; {}) \
                 and {} sockets ({}); RSS with the threads parked: {:.0} MiB.\n",
                l.threads,
                l.thread_stack_kb,
                l.thread_error.as_deref().map_or(format!("stopped at the cap of {}", l.cap), |e| format!("stopped by: {e}")),
                l.sockets,
                l.socket_error.as_deref().map_or(format!("stopped at the cap of {}", l.cap), |e| format!("stopped by: {e}")),
                l.rss_kib_with_threads as f64 / 1024.0,
            ));
        }
        for (strategy, w) in &self.claims.work {
            let from = w.costs_from_us.map_or(
                format!(
                    "never lost more than 10% of its rate up to {} µs",
                    w.max_work_us
                ),
                |us| format!("lost more than 10% of its rate from {us} µs of work per page"),
            );
            md.push_str(&format!(
                "- *Blocking the loop* ({strategy}): inline, the crawl {from}; at {} µs it did {:.0} responses/s \
                 (vs {:.0} without work) with the loop lagging {:.1} ms at p99; offloaded to rayon, {:.0} responses/s \
                 and {:.1} ms.\n",
                w.max_work_us, w.inline_per_s, w.no_work_per_s, w.inline_lag_p99_ms, w.offload_per_s, w.offload_lag_p99_ms
            ));
        }
        if let Some((who, rate, share)) = &self.claims.best_vs_ceiling {
            md.push_str(&format!(
                "- *Fast*: the best crawl of the CPU-bound site ({who}) reached {rate:.0} responses/s, {:.0}% of the server ceiling.\n",
                share * 100.0
            ));
        }
        md.push('\n');
        for (file, caption) in crate::plot::charts(self) {
            md.push_str(&format!(
                "![{caption}]({})\n",
                plots.join(format!("{file}.svg")).display()
            ));
        }
        md
    }
}

/// The folder of one sweep inside `out`: its start time and plan, e.g.
/// `results/2026-11-26T03-10-00Z-full`.
pub fn run_dir(out: &Path, results: &Results) -> PathBuf {
    let date = results.machine.date.replace(':', "-");
    let plan = results.plan.as_ref().map_or("sweep", |p| p.name.as_str());
    out.join(format!("{date}-{plan}"))
}

const README_BEGIN: &str =
    "<!-- results:begin (generated by `cargo bench`; do not edit by hand) -->";
const README_END: &str = "<!-- results:end -->";

/// Replaces the results section of `readme` (between its markers) with `results`, linking the
/// plots in `dir`.
pub fn update_readme(readme: &Path, dir: &Path, results: &Results) -> io::Result<()> {
    let text = fs::read_to_string(readme)?;
    let (Some(begin), Some(end)) = (text.find(README_BEGIN), text.find(README_END)) else {
        return Err(io::Error::other(format!(
            "{} has no results markers",
            readme.display()
        )));
    };
    let base = readme.parent().unwrap_or(Path::new("."));
    let plots = dir.strip_prefix(base).unwrap_or(dir);
    let updated = format!(
        "{}{README_BEGIN}\n{}{}",
        &text[..begin],
        results.markdown(plots),
        &text[end..]
    );
    fs::write(readme, updated)
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
        let markdown = results.markdown(Path::new("."));
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
    fn readme_section_between_markers_is_replaced() {
        let dir = std::env::temp_dir().join(format!("c10k-readme-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let readme = dir.join("README.md");
        fs::write(
            &readme,
            format!("# x\n\n{README_BEGIN}\nold\n{README_END}\n\nafter\n"),
        )
        .unwrap();
        let results = Results::default();
        update_readme(&readme, &dir.join("results/run"), &results).unwrap();
        let text = fs::read_to_string(&readme).unwrap();
        assert!(!text.contains("old"));
        assert!(text.starts_with("# x\n\n") && text.ends_with(&format!("{README_END}\n\nafter\n")));
        assert!(text.contains("Measured by `cargo bench`"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
