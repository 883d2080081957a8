//! The runner: each crawl of a plan in a child process (`c10k crawl --json`) against a test
//! server in another, measured from outside — CPU time, peak RSS, memory per connection,
//! context switches — plus the server's connection ceiling and the limits probe. A crawl or a
//! server that fails is recorded with its reason, and the sweep goes on.

use std::{
    collections::BTreeMap,
    io::{self, BufRead, BufReader, Read},
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Deserialize;

use crate::{
    Strategy,
    counts::Counters,
    loadgen::{self, WrkFailed, WrkLoad, WrkRow},
    measure::{ProcessUsage, cpu_seconds_of, machine},
    peers::Peer,
    plan::{ChaosAxis, ChaosSet, CoresAxis, CoresStep, Plan, Site, Transport},
    probe::Ceilings,
    results::{Kept, Results, Run, derive},
    server::{Chaos, ServerProcess},
};

/// The JSON a `c10k crawl --json` child prints: the report plus its process usage.
#[derive(Deserialize)]
struct ChildReport {
    #[serde(flatten)]
    report: c10k_core::Report,
    process: ProcessUsage,
    /// With `--state DIR`, what the crawl wrote to its store, where the report says it.
    #[serde(default)]
    state: Option<StateWritten>,
}

/// The `state` object of `c10k crawl --json --state DIR`: bytes of keys and values written to
/// the store, and in how many steps. Each field is read only if present, so a report that
/// names them otherwise costs those two figures, not the run.
#[derive(Deserialize)]
struct StateWritten {
    #[serde(default, rename = "written_bytes")]
    written_b: Option<u64>,
    #[serde(default)]
    steps: Option<u64>,
}

/// Runs a sweep with the `c10k` binary at `bin`, drawing progress bars on a terminal.
///
/// It raises this process's open-file limit first (its children inherit it), and notes by how
/// much. Nothing in it aborts the sweep: a crawl, a server, the ceiling or the limits probe that
/// fails is recorded (in its run's `error`, or in [`Results::notes`]), said in one line on
/// stderr, and the sweep goes on. It fails only when it cannot start at all.
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
    let note = |results: &mut Results, line: String| {
        let _ = bars.println(format!("note: {line}"));
        results.notes.push(line);
    };

    let fd_limit = crate::raise_fd_limit()?;
    if let Some(line) = fd_limit.note() {
        note(&mut results, line);
    }

    // The reference rows, where their interpreter or compiler is found.
    let target_dir = bin
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("target"))
        .to_path_buf();
    // Each found (and, for Go, built) once; every row of it starts from this command.
    let mut peers: Vec<(Peer, Command)> = Vec::new();
    for &peer in Peer::ALL {
        match crate::peers::command(peer, &target_dir) {
            Ok(command) => peers.push((peer, command)),
            Err(why) => note(&mut results, format!("{peer} rows skipped: {why}")),
        }
    }
    let jobs = jobs(plan, &peers);
    let overall = bars.add(ProgressBar::new(jobs.len() as u64 + 2));
    overall.set_style(style("{prefix:>8} [{bar:30}] {pos}/{len} {msg}"));
    overall.set_prefix("sweep");

    let counters = Counters::probe();
    if plan.counts.is_some() {
        for line in counters.notes() {
            note(&mut results, line);
        }
    }

    overall.set_message("probing how many threads and sockets one process can hold");
    match probe_limits(bin, plan.probe_cap) {
        Ok(limits) => results.limits = Some(limits),
        Err(err) => note(&mut results, format!("limits probe skipped: {err}")),
    }
    overall.inc(1);
    if let Some(at) = plan
        .connections
        .as_ref()
        .and_then(|a| a.tls_memory.as_ref())
        && let (Some(&narrow), Some(&wide)) =
            (at.concurrencies.iter().min(), at.concurrencies.iter().max())
    {
        overall.set_message("holding bare TLS client connections");
        match probe_tls(bin, (narrow, wide)) {
            Ok(bare) => results.bare_tls = Some(bare),
            Err(err) => note(&mut results, format!("bare TLS probe skipped: {err}")),
        }
    }

    // One server per site, size, placement and transport, started when first needed and
    // kept for the runs after.
    // A chaos crawl has a server of its own: the server counts each path's tries, so a second
    // crawl would meet other faults than the expected ones.
    type Key = (String, usize, Option<CoresStep>, bool, Option<usize>);
    let mut servers: BTreeMap<Key, Result<ServerProcess, String>> = BTreeMap::new();
    // The connection axis's CPU-bound site, whose servers wrk loads: over http at the start
    // of each round of its crawls, so that each round's crawls have wrk's rate of their own
    // moment beside them; over https once.
    let wrk_site = plan
        .connections
        .as_ref()
        .and_then(|axis| axis.cpu_site())
        .map(|site| site.name.clone());
    let mut wrk_loaded: Vec<(bool, usize)> = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        let tls = job.transport.tls;
        let chaos = job.chaos.map(|(rate, axis, _)| Chaos {
            rate,
            seed: axis.seed,
            max_tries: axis.max_tries,
        });
        let key = (
            job.site.name.clone(),
            job.site_pages(),
            job.step.clone(),
            tls,
            job.chaos.map(|_| index),
        );
        if !servers.contains_key(&key) {
            // The previous site's, step's and transport's servers are done with: one server
            // runs at a time.
            servers.retain(|(site, _, step, over_tls, chaos), _| {
                *site == job.site.name
                    && *step == job.step
                    && *over_tls == tls
                    && *chaos == job.chaos.map(|_| index)
            });
            let (cpus, threads) = job.step.as_ref().map_or((None, 1), |step| {
                (step.server_cpus.as_deref(), step.server_threads)
            });
            let started =
                ServerProcess::start_on(bin, job.site, job.site_pages(), cpus, threads, tls, chaos)
                    .map_err(|err| {
                        let line = format!(
                            "the test server for the {} site{} did not start: {err}",
                            job.site.name,
                            if tls { " over TLS" } else { "" }
                        );
                        note(&mut results, line.clone());
                        line
                    });
            servers.insert(key.clone(), started);
        }
        let server = match &servers[&key] {
            Ok(server) => server,
            Err(line) => {
                results.runs.push(job.failed(line.clone()));
                overall.inc(1);
                continue;
            }
        };
        if job.site.delay_ms == 0 && results.ceiling.is_none() && !tls {
            overall.set_message("measuring the server's connection ceiling");
            measure_ceiling(server, plan, &mut results, &note);
            overall.inc(1);
        }
        if wrk_site.as_deref() == Some(job.site.name.as_str())
            && job.step.is_none()
            && !wrk_loaded.contains(&(tls, job.round))
        {
            wrk_loaded.push((tls, job.round));
            overall.set_message(format!(
                "loading the {} server with wrk (round {})",
                if tls { "https" } else { "http" },
                job.round + 1
            ));
            // Counted once, in the first round.
            let counts = (job.round == 0).then_some(&counters);
            match wrk_rows(server, &job.site.name, plan, counts) {
                Ok((rows, failed)) => {
                    results.wrk.extend(rows);
                    for line in failed {
                        note(&mut results, format!("round {}: {line}", job.round + 1));
                    }
                }
                // Said once, for http and https alike.
                Err(line) => {
                    if !results.notes.contains(&line) {
                        note(&mut results, line);
                    }
                }
            }
        }
        overall.set_message(job.describe());
        let run = if job.count {
            job.count(bin, server, &counters)
        } else {
            let command = job.command(bin, server, &peers);
            let timeout_s = job.timeout_s.unwrap_or(plan.run_timeout_s);
            if job.state_axis == Some(true) {
                job.run_kept(command, server, timeout_s, &bars)
            } else {
                job.run(command, server, timeout_s, &bars)
            }
        };
        if let Some(err) = &run.error {
            let _ = bars.println(format!("could not run {}: {err}", job.describe()));
        }
        results.runs.push(run);
        overall.inc(1);
    }
    drop(servers);
    overall.finish_and_clear();
    crate::connections::collapse_rounds(&mut results.runs);
    crate::connections::collapse_wrk_rounds(&mut results.wrk);
    derive(&mut results);
    Ok(results)
}

/// The server's ceiling on the CPU-bound site, one connection per request: the harness's own
/// load, and `wrk`'s where it is installed (else a note saying so).
fn measure_ceiling(
    server: &ServerProcess,
    plan: &Plan,
    results: &mut Results,
    note: &dyn Fn(&mut Results, String),
) {
    let duration = Duration::from_secs_f64(plan.ceiling_seconds);
    let server_cpu = || cpu_seconds_of(server.pid()).ok();
    let before = server_cpu();
    match loadgen::measure(server.addr, "/", plan.ceiling_connections, duration) {
        Ok(mut ceiling) => {
            ceiling.server_cpu_us = per_response(server_cpu(), before, ceiling.responses);
            let before = server_cpu();
            match loadgen::wrk(&server.url, plan.ceiling_connections, duration) {
                Ok(wrk) => {
                    ceiling.wrk_responses_per_s = Some(wrk.responses_per_s);
                    ceiling.wrk_client = wrk.client;
                    ceiling.wrk_server_cpu_us = wrk
                        .responses
                        .and_then(|n| per_response(server_cpu(), before, n));
                }
                Err(WrkFailed::Missing) => note(results, WRK_MISSING.to_owned()),
                Err(WrkFailed::Failed(why)) => {
                    note(results, format!("wrk's ceiling not measured: {why}"));
                }
            }
            results.ceiling = Some(ceiling);
        }
        Err(err) => note(results, format!("server ceiling not measured: {err}")),
    }
}

/// Said when `wrk` is not found: the ceilings it gives are missing.
const WRK_MISSING: &str = "wrk not installed: the ceiling is the harness's own load only, and \
     the TLS and keep-alive ceilings are not measured (scripts/install-tools.sh installs wrk)";

/// CPU seconds spent between `before` and `after`, per response, in µs.
fn per_response(after: Option<f64>, before: Option<f64>, responses: u64) -> Option<f64> {
    let spent = after? - before?;
    (responses > 0).then(|| spent * 1e6 / responses as f64)
}

/// `wrk` against `server` (of the connection axis's CPU-bound `site`), closing connections
/// and keeping them, with a thread per core and with one; with one thread and `counters` it
/// is also counted (system calls and instructions per request), where they allow. The rows
/// of the loads that measured, and a line for each that did not; fails, saying why, when
/// wrk is not installed.
fn wrk_rows(
    server: &ServerProcess,
    site: &str,
    plan: &Plan,
    counters: Option<&Counters>,
) -> Result<(Vec<WrkRow>, Vec<String>), String> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut threads = vec![cores];
    if cores > 1 {
        threads.push(1);
    }
    let tls = server.ca_file.is_some();
    let (mut rows, mut failed) = (Vec::new(), Vec::new());
    for keep_alive in [false, true] {
        for &threads in &threads {
            let load = WrkLoad {
                threads,
                connections: plan.ceiling_connections,
                duration: Duration::from_secs_f64(plan.ceiling_seconds),
                close: !keep_alive,
            };
            let server_cpu = || cpu_seconds_of(server.pid()).ok();
            let before = server_cpu();
            let wrk = match loadgen::wrk_with(&server.url, &load) {
                Ok(wrk) => wrk,
                Err(WrkFailed::Missing) => return Err(WRK_MISSING.to_owned()),
                // The other loads still run: one that failed costs its own row only.
                Err(WrkFailed::Failed(why)) => {
                    let args = load.args(&server.url).join(" ");
                    failed.push(format!("`wrk {args}` measured nothing: {why}"));
                    continue;
                }
            };
            let mut row = WrkRow {
                site: site.to_owned(),
                transport: Transport {
                    tls,
                    keep_alive,
                    no_resume: false,
                },
                threads,
                connections: plan.ceiling_connections,
                responses_per_s: wrk.responses_per_s,
                client: wrk.client,
                server_cpu_us: wrk
                    .responses
                    .and_then(|n| per_response(server_cpu(), before, n)),
                ..WrkRow::default()
            };
            // One thread, as one loop has: counted over http, where the crawls are counted.
            if let Some(counters) = counters.filter(|_| threads == 1 && !tls)
                && plan.counts.is_some()
            {
                let counted = WrkLoad {
                    duration: Duration::from_secs(1),
                    ..load
                };
                if let Ok(count) = crate::counts::count_wrk(&counted.args(&server.url), counters) {
                    row.syscalls_per_response = count.per_response(count.syscalls);
                    row.instructions_per_response = count.per_response(count.user_instructions);
                    row.instructions_by = count.instructions_by;
                }
            }
            rows.push(row);
        }
    }
    Ok((rows, failed))
}

/// Every crawl of `plan`, in the order they run: site by site, C by C, strategy by strategy
/// (and the `peers` after them, as reference rows), then the work, counts and cores axes.
fn jobs<'a>(plan: &'a Plan, peers: &[(Peer, Command)]) -> Vec<Job<'a>> {
    let mut jobs = Vec::new();
    for site in &plan.sites {
        for &concurrency in plan
            .concurrencies
            .iter()
            .filter(|&&c| c >= site.min_concurrency)
        {
            for &strategy in &plan.strategies {
                jobs.push(Job::new(site, strategy, concurrency));
            }
            for &(peer, _) in peers {
                jobs.push(Job {
                    peer: Some(peer),
                    ..Job::new(site, Strategy::Threads, concurrency)
                });
            }
        }
    }
    if let Some(at) = &plan.stall {
        for &concurrency in &at.concurrencies {
            for &strategy in &plan.strategies {
                jobs.push(Job::new(&at.site, strategy, concurrency));
            }
        }
    }
    if let Some(axis) = &plan.work {
        for &work_us in &axis.work_us {
            for (strategy, offload) in work_variants(&plan.strategies) {
                jobs.push(Job {
                    work_us,
                    offload,
                    ..Job::new(&axis.site, strategy, axis.concurrency)
                });
            }
        }
    }
    if let Some(axis) = &plan.counts {
        let counted = axis
            .concurrencies
            .iter()
            .map(|&c| (c, Transport::HTTP_CLOSE))
            .chain(
                axis.keep_alive
                    .iter()
                    .map(|&c| (c, Transport::HTTP_KEEP_ALIVE)),
            );
        for (concurrency, transport) in counted {
            for &strategy in &plan.strategies {
                jobs.push(Job {
                    count: true,
                    transport,
                    ..Job::new(&axis.site, strategy, concurrency)
                });
            }
        }
    }
    if let Some(axis) = &plan.cores {
        let allowed = crate::affinity::allowed_cpus().unwrap_or_else(|_| vec![0]);
        for &cores in &axis.cores {
            let step = CoresAxis::step(cores, &allowed);
            for &strategy in &plan.strategies {
                // Threads at the same C; the event-driven models with one loop (or runtime
                // thread) per core; async both ways.
                let runtimes: &[Option<&'static str>] = match strategy {
                    Strategy::Threads => &[None],
                    Strategy::Async => &[Some("per-core"), Some("stealing")],
                    _ => &[None],
                };
                for &runtime in runtimes {
                    jobs.push(Job {
                        // Loops or runtime threads where the strategy has them; threads
                        // run as they are.
                        parallel: matches!(
                            strategy,
                            Strategy::Callbacks
                                | Strategy::Generators
                                | Strategy::Uring
                                | Strategy::Async
                        )
                        .then_some(cores),
                        runtime,
                        step: Some(step.clone()),
                        ..Job::new(&axis.site, strategy, axis.concurrency)
                    });
                }
            }
        }
    }
    if let Some(axis) = &plan.connections {
        connection_jobs(plan, axis, &mut jobs);
    }
    if let Some(axis) = &plan.chaos {
        let cores = crate::affinity::allowed_cpus().map_or(1, |cpus| cpus.len());
        for set in &axis.sets {
            for &rate in &set.rates {
                for &strategy in &plan.strategies {
                    for (parallel, runtime) in forms(strategy, cores) {
                        jobs.push(Job {
                            parallel,
                            runtime,
                            chaos: Some((rate, axis, set)),
                            ..Job::new(&set.site, strategy, set.concurrency)
                        });
                    }
                }
            }
        }
    }
    if let Some(axis) = &plan.state {
        let cores = crate::affinity::allowed_cpus().map_or(1, |cpus| cpus.len());
        let every_form: Vec<_> = plan
            .strategies
            .iter()
            .flat_map(|&strategy| {
                forms(strategy, cores)
                    .into_iter()
                    .map(move |f| (strategy, f))
            })
            .collect();
        // Each form in memory and with --state in turn; which of the two goes first
        // alternates from form to form and from round to round, so that neither always
        // meets the machine first. The rounds go over every form, so that a busy moment of
        // the machine falls on different forms rather than on every crawl of one.
        for round in 0..axis.repeats.max(1) {
            for (turn, &(strategy, (parallel, runtime))) in every_form.iter().enumerate() {
                let kept_first = (round + turn) % 2 == 1;
                for kept in [kept_first, !kept_first] {
                    jobs.push(Job {
                        parallel,
                        runtime,
                        state_axis: Some(kept),
                        ..Job::new(&axis.site, strategy, axis.concurrency)
                    });
                }
            }
        }
    }
    jobs
}

/// The connection axis's crawls: site by site, http then https (one server each), C by C,
/// each form of each strategy over each transport in turn (so that close and keep-alive, and
/// resumption on and off, run side by side in time); then the memory site over https, and
/// keep-alive on one core.
fn connection_jobs<'a>(
    plan: &'a Plan,
    axis: &'a crate::plan::ConnectionsAxis,
    jobs: &mut Vec<Job<'a>>,
) {
    let cores = crate::affinity::allowed_cpus().map_or(1, |cpus| cpus.len());
    let timeout_s = Some(axis.run_timeout_s);
    for at in &axis.sites {
        for tls in [false, true] {
            let transports: Vec<Transport> = axis
                .transports
                .iter()
                .copied()
                .filter(|t| t.tls == tls)
                .collect();
            // The CPU-bound site's http crawls, in rounds (see `ConnectionsAxis::rounds`):
            // each round goes over every C and form, so that a busy moment of the machine
            // falls on one crawl of several rather than on every crawl of one.
            let rounds = if !tls && Some(&at.site) == axis.cpu_site() {
                axis.rounds.max(1)
            } else {
                1
            };
            for round in 0..rounds {
                for &concurrency in &at.concurrencies {
                    for &strategy in &plan.strategies {
                        for (parallel, runtime) in forms(strategy, cores) {
                            for &transport in &transports {
                                let job = Job {
                                    parallel,
                                    runtime,
                                    transport,
                                    timeout_s,
                                    round,
                                    ..Job::new(&at.site, strategy, concurrency)
                                };
                                jobs.push(match axis.handshake_pages {
                                    Some(most) if transport.handshake_per_page() => {
                                        job.at_most(most)
                                    }
                                    _ => job,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(at) = &axis.tls_memory {
        for &concurrency in &at.concurrencies {
            for &strategy in &plan.strategies {
                jobs.push(Job {
                    transport: Transport::HTTPS_CLOSE,
                    timeout_s,
                    ..Job::new(&at.site, strategy, concurrency)
                });
            }
        }
    }
    let allowed = crate::affinity::allowed_cpus().unwrap_or_else(|_| vec![0]);
    if let (Some(concurrency), Some(site), true) =
        (axis.one_core, axis.one_core_site(), allowed.len() > 1)
    {
        let step = CoresAxis::step(1, &allowed);
        // In rounds too, each over every strategy: the target weighs each round's crawl
        // against threads of the same round, and one crawl of each would leave its verdict
        // to the moment.
        for round in 0..axis.rounds.max(1) {
            for &strategy in &plan.strategies {
                jobs.push(Job {
                    transport: Transport::HTTP_KEEP_ALIVE,
                    step: Some(step.clone()),
                    timeout_s,
                    round,
                    ..Job::new(site, strategy, concurrency)
                });
            }
        }
    }
}

/// A strategy's forms on `cores` cores: its default one (one loop, a current-thread runtime,
/// threads as they are), and where it has them and there is more than one core, its parallel
/// forms (a loop per core; async per-core and work-stealing with a thread per core).
fn forms(strategy: Strategy, cores: usize) -> Vec<(Option<usize>, Option<&'static str>)> {
    let mut forms = vec![(None, None)];
    if cores > 1 {
        match strategy {
            Strategy::Threads => {}
            Strategy::Async => {
                forms.push((Some(cores), Some("per-core")));
                forms.push((Some(cores), Some("stealing")));
            }
            Strategy::Callbacks | Strategy::Generators | Strategy::Uring => {
                forms.push((Some(cores), None));
            }
        }
    }
    forms
}

/// A progress bar style from a template written here (a bad one falls back to the default).
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
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
    /// Loops (callbacks, generators, uring) or runtime threads (async), when more than the
    /// default.
    parallel: Option<usize>,
    /// async: `per-core` or `stealing`.
    runtime: Option<&'static str>,
    /// The cores axis: where the crawler and the server run.
    step: Option<CoresStep>,
    /// Counted (instructions, system calls), not timed.
    count: bool,
    /// A reference row: this peer crawls instead of `strategy`.
    peer: Option<Peer>,
    /// http or https, closing or keeping connections.
    transport: Transport,
    /// Killed after this many seconds instead of the plan's.
    timeout_s: Option<u64>,
    /// `--max-pages`: the crawl stops after this many pages of the site's (then `pages`).
    max_pages: Option<usize>,
    /// The chaos axis: the share of requests that meet a fault (its server's `--chaos`), and
    /// the axis's settings.
    chaos: Option<(f64, &'a ChaosAxis, &'a ChaosSet)>,
    /// The state axis: with `--state DIR` (`Some(true)`) or in memory beside it.
    state_axis: Option<bool>,
    /// The connection axis's CPU-bound http crawls and its crawls on one core: the round it
    /// runs in (see [`crate::plan::ConnectionsAxis::rounds`]); 0 for every other crawl.
    round: usize,
}

impl<'a> Job<'a> {
    /// `strategy` crawling `site` at `concurrency`, as it runs by default.
    fn new(site: &'a Site, strategy: Strategy, concurrency: usize) -> Job<'a> {
        Job {
            site,
            pages: site.pages_for(concurrency),
            strategy,
            concurrency,
            work_us: 0,
            offload: false,
            parallel: None,
            runtime: None,
            step: None,
            count: false,
            peer: None,
            transport: Transport::HTTP_CLOSE,
            timeout_s: None,
            max_pages: None,
            chaos: None,
            state_axis: None,
            round: 0,
        }
    }

    /// This crawl, stopped after `pages` pages if the site has more.
    fn at_most(self, pages: usize) -> Job<'a> {
        if pages >= self.pages {
            return self;
        }
        Job {
            pages,
            max_pages: Some(pages),
            ..self
        }
    }

    /// The pages the site is served with (a crawl may stop sooner).
    fn site_pages(&self) -> usize {
        self.site.pages_for(self.concurrency)
    }

    /// The crawler's name in the results: the strategy's, or the peer's.
    fn name(&self) -> &'static str {
        self.peer.map_or(self.strategy.name(), Peer::name)
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "{} at C = {} on the {} site ({} pages)",
            self.name(),
            self.concurrency,
            self.site.name,
            self.pages
        );
        if self.work_us > 0 || self.offload {
            text.push_str(&format!(", {} µs of work per page", self.work_us));
        }
        if self.offload {
            text.push_str(", offloaded");
        }
        if let Some(step) = &self.step {
            text.push_str(&format!(", {} cores ({})", step.cores, step.pinning()));
        }
        if let Some(runtime) = self.runtime {
            text.push_str(&format!(", {runtime}"));
        }
        if let Some(parallel) = self.parallel.filter(|_| self.step.is_none()) {
            text.push_str(&format!(", {parallel} loops or threads"));
        }
        if self.transport != Transport::HTTP_CLOSE {
            text.push_str(&format!(", {}", self.transport.name()));
        }
        if self.max_pages.is_some() {
            text.push_str(&format!(", stopped after {} pages", self.pages));
        }
        match self.state_axis {
            Some(true) => text.push_str(", with --state"),
            Some(false) => text.push_str(", in memory (beside --state)"),
            None => {}
        }
        text
    }

    /// The `c10k crawl` arguments that make this variant.
    fn variant_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.work_us > 0 {
            args.extend(["--work-us".to_owned(), self.work_us.to_string()]);
        }
        if self.offload {
            args.push("--offload".to_owned());
        }
        if let Some(cpus) = self.step.as_ref().and_then(|s| s.crawler_cpus.as_ref()) {
            args.extend(["--cpus".to_owned(), crate::affinity::format_cpus(cpus)]);
        }
        match (self.strategy, self.parallel) {
            (Strategy::Async, Some(threads)) => {
                args.extend(["--threads".to_owned(), threads.to_string()]);
                if let Some(runtime) = self.runtime {
                    args.extend(["--runtime".to_owned(), runtime.to_owned()]);
                }
            }
            (Strategy::Callbacks | Strategy::Generators | Strategy::Uring, Some(loops)) => {
                args.extend(["--loops".to_owned(), loops.to_string()]);
            }
            _ => {}
        }
        args
    }

    /// What follows `c10k crawl`: the server's root URL, the strategy, C, the variant's
    /// flags and the transport's (with the server's CA over https).
    fn crawl_args(&self, server: &ServerProcess) -> Vec<String> {
        let mut args = vec![
            server.url.clone(),
            "--strategy".to_owned(),
            self.strategy.name().to_owned(),
            "--concurrency".to_owned(),
            self.concurrency.to_string(),
        ];
        args.extend(self.variant_args());
        args.extend(self.transport.crawl_args());
        if let Some(pages) = self.max_pages {
            args.extend(["--max-pages".to_owned(), pages.to_string()]);
        }
        if let Some(ca) = &server.ca_file {
            args.extend(["--ca-file".to_owned(), ca.display().to_string()]);
        }
        if let (Some((_, axis, set)), Some(expected)) = (self.chaos, &server.expected_urls) {
            args.extend([
                "--urls-out".to_owned(),
                crawled_urls(expected).display().to_string(),
                "--max-tries".to_owned(),
                axis.max_tries.to_string(),
                "--timeout-ms".to_owned(),
                set.timeout_ms(axis).to_string(),
                "--backoff-ms".to_owned(),
                axis.backoff_ms.to_string(),
            ]);
        }
        args
    }

    /// The crawl's child: `bin crawl …`, or for a reference row its peer's own command (from
    /// `peers`, which holds every peer that [`jobs`] made rows for).
    fn command(&self, bin: &Path, server: &ServerProcess, peers: &[(Peer, Command)]) -> Command {
        let template = self
            .peer
            .and_then(|peer| peers.iter().find(|(found, _)| *found == peer));
        match template {
            Some((_, template)) => {
                let mut command = Command::new(template.get_program());
                command.args(template.get_args()).args([
                    &server.url,
                    "--concurrency",
                    &self.concurrency.to_string(),
                ]);
                command
            }
            None => {
                let mut command = Command::new(bin);
                command
                    .arg("crawl")
                    .args(self.crawl_args(server))
                    .arg("--progress");
                command
            }
        }
    }

    /// Runs the crawl in a child process (`command`), with a progress bar.
    fn run(
        &self,
        command: Command,
        server: &ServerProcess,
        timeout_s: u64,
        bars: &MultiProgress,
    ) -> Run {
        let bar = bars.add(ProgressBar::new(self.pages as u64));
        bar.set_style(style("{prefix:>8} [{bar:30}] {pos}/{len} URLs {msg}"));
        bar.set_prefix(self.name());
        let run = crawl_in_child(command, server, self, timeout_s, &bar);
        bar.finish_and_clear();
        run
    }

    /// Runs the crawl with `--state DIR`, DIR a directory made empty for it under the
    /// system's temporary one (`TMPDIR`), whose size is taken after the crawl and which is
    /// removed then.
    fn run_kept(
        &self,
        mut command: Command,
        server: &ServerProcess,
        timeout_s: u64,
        bars: &MultiProgress,
    ) -> Run {
        let dir = match tempfile::Builder::new().prefix("c10k-state-").tempdir() {
            Ok(dir) => dir,
            Err(err) => return self.failed(format!("could not make a --state directory: {err}")),
        };
        command.arg("--state").arg(dir.path());
        let mut run = self.run(command, server, timeout_s, bars);
        // Set from the crawl's report when it ran.
        if let Some(kept) = &mut run.kept {
            match dir_size(dir.path()) {
                Ok((disk_b, apparent_b)) => {
                    kept.disk_b = disk_b;
                    kept.apparent_b = apparent_b;
                }
                Err(err) => {
                    run.error = Some(format!("measuring {}: {err}", dir.path().display()));
                }
            }
        }
        let path = dir.path().to_path_buf();
        if let Err(err) = dir.close() {
            let _ = bars.println(format!("note: could not remove {}: {err}", path.display()));
        }
        run
    }

    /// Counts the crawl's instructions and system calls (see [`crate::counts`]).
    fn count(&self, bin: &Path, server: &ServerProcess, counters: &Counters) -> Run {
        match crate::counts::count(bin, &self.crawl_args(server), counters) {
            Ok(count) => {
                let unmet = crate::connections::unmet(
                    self.transport,
                    count.responses,
                    self.concurrency,
                    count.connections,
                );
                Run {
                    fetched: count.responses,
                    syscalls_per_page: count.per_response(count.syscalls),
                    instructions_per_page: count.per_response(count.user_instructions),
                    kernel_instructions_per_page: count.per_response(count.kernel_instructions),
                    instructions_by: count.instructions_by,
                    connections: count.connections,
                    split: count.split,
                    error: unmet,
                    ..self.record()
                }
            }
            Err(err) => self.failed(err),
        }
    }

    /// The run, with nothing measured yet.
    fn record(&self) -> Run {
        Run {
            site: self.site.name.clone(),
            pages: self.pages,
            delay_ms: self.site.delay_ms,
            strategy: self.name().to_owned(),
            concurrency: self.concurrency,
            work_us: self.work_us,
            offload: self.offload,
            cores: self.step.as_ref().map(|s| s.cores),
            pinning: self.step.as_ref().map(CoresStep::pinning),
            parallel: self.parallel,
            runtime: self.runtime.map(str::to_owned),
            transport: self.transport,
            state_axis: self.state_axis,
            ..Run::default()
        }
    }

    /// The run of a crawl that could not start, with the reason.
    fn failed(&self, reason: String) -> Run {
        Run {
            error: Some(reason),
            ..self.record()
        }
    }
}

/// One crawl in a child process, measured.
fn crawl_in_child(
    mut command: Command,
    server: &ServerProcess,
    job: &Job<'_>,
    timeout_s: u64,
    bar: &ProgressBar,
) -> Run {
    let mut run = job.record();
    let server_cpu_before = cpu_seconds_of(server.pid()).unwrap_or_default();
    let child = command
        .arg("--json")
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
        Ok(ChildReport {
            report,
            process,
            state,
        }) => {
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
            run.waiting_cpu = process.waiting_cpu;
            run.voluntary_switches = process.voluntary_switches;
            run.involuntary_switches = process.involuntary_switches;
            run.connections = Some(report.connections);
            if job.state_axis == Some(true) {
                run.kept = Some(Kept {
                    urls: report.urls.saturating_sub(report.restored),
                    written_b: state.as_ref().and_then(|s| s.written_b),
                    steps: state.as_ref().and_then(|s| s.steps),
                    ..Kept::default()
                });
            }
            if let Some((rate, _, _)) = job.chaos {
                // Its exit status says whether a root or URLs ended in errors, which chaos
                // means to cause; what matters is whether they are the expected ones.
                run.chaos = Some(rate);
                match chaos_mismatches(server) {
                    Ok(mismatched) => run.mismatched = Some(mismatched),
                    Err(err) => run.error = Some(err),
                }
            } else if !status.success() {
                run.error = Some(first_line(&stderr, "the root could not be fetched"));
            } else if let Some(why) = crate::connections::unmet(
                job.transport,
                report.fetched,
                job.concurrency,
                Some(report.connections),
            ) {
                run.error = Some(why);
            }
        }
        Err(_) => {
            run.error = Some(first_line(&stderr, &format!("exited with {status}")));
        }
    }
    run
}

/// The bytes a directory's files hold, walked through its subdirectories: as the file
/// system allocated them (`st_blocks`, in 512-byte units), and by their lengths.
fn dir_size(dir: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let (mut allocated, mut apparent) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (a, b) = dir_size(&entry.path())?;
            allocated += a;
            apparent += b;
        } else {
            allocated += meta.blocks() * 512;
            apparent += meta.len();
        }
    }
    Ok((allocated, apparent))
}

/// A chaos crawl's `--urls-out` against the server's expected outcomes: the lines that are
/// in one and not the other (a URL lost, doubled, or ended otherwise), counted with their
/// repetitions.
fn chaos_mismatches(server: &ServerProcess) -> Result<usize, String> {
    let Some(expected) = &server.expected_urls else {
        return Err("the chaos server wrote no expected outcomes".to_owned());
    };
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|err| format!("reading {}: {err}", path.display()))
    };
    Ok(mismatches(
        &read(expected)?,
        &read(&crawled_urls(expected))?,
    ))
}

/// The lines in one text and not in the other, counted with their repetitions.
fn mismatches(expected: &str, crawled: &str) -> usize {
    let mut lines: BTreeMap<&str, i64> = BTreeMap::new();
    for line in expected.lines() {
        *lines.entry(line).or_default() += 1;
    }
    for line in crawled.lines() {
        *lines.entry(line).or_default() -= 1;
    }
    lines.values().map(|n| n.unsigned_abs() as usize).sum()
}

/// Where a chaos crawl writes its `--urls-out`, beside the server's expected outcomes.
fn crawled_urls(expected: &Path) -> std::path::PathBuf {
    expected.with_extension("crawled.txt")
}

fn first_line(text: &str, fallback: &str) -> String {
    crate::first_line(text)
        .unwrap_or(fallback)
        .trim_start_matches("error: ")
        .to_owned()
}

/// Runs `bin probe-limits` in a child, so the probe's threads and sockets are not ours.
fn probe_limits(bin: &Path, cap: usize) -> io::Result<Ceilings> {
    probe_child(bin, &["probe-limits", "--cap", &cap.to_string()])
}

/// Runs `bin probe-tls` in a child, so that its RSS holds nothing but bare connections.
fn probe_tls(bin: &Path, (narrow, wide): (usize, usize)) -> io::Result<crate::probe::BareTls> {
    let (narrow, wide) = (narrow.to_string(), wide.to_string());
    probe_child(bin, &["probe-tls", "--narrow", &narrow, "--wide", &wide])
}

/// Runs `bin ARGS` (one of the hidden probes) and reads the JSON it prints; if it printed
/// none, the error says so with the first line of its stderr (the sweep's notes are one line
/// each).
fn probe_child<T: serde::de::DeserializeOwned>(bin: &Path, args: &[&str]) -> io::Result<T> {
    let output = Command::new(bin).args(args).output()?;
    serde_json::from_slice(&output.stdout).map_err(|e| {
        io::Error::other(format!(
            "{}: {e}: {}",
            args[0],
            first_line(&String::from_utf8_lossy(&output.stderr), "no output")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_axis_crawls_each_form_both_ways_side_by_side_in_every_round() {
        let plan = Plan::quick().only(&[crate::plan::Axis::State]);
        let axis = plan.state.clone().expect("a state axis");
        let jobs = jobs(&plan, &[]);
        let forms = jobs.len() / 2 / axis.repeats;
        assert_eq!(jobs.len(), forms * 2 * axis.repeats);
        assert!(forms >= plan.strategies.len());
        let mut kept_first = 0;
        for pair in jobs.chunks(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert_eq!(a.site.name, crate::plan::STATE_CPU);
            assert_eq!(
                (a.strategy, a.parallel, a.runtime),
                (b.strategy, b.parallel, b.runtime)
            );
            assert_eq!((a.concurrency, b.concurrency), (100, 100));
            assert_eq!(a.state_axis.map(|k| !k), b.state_axis);
            kept_first += usize::from(a.state_axis == Some(true));
        }
        // Each way first about as often as the other.
        assert!(kept_first.abs_diff(forms * axis.repeats - kept_first) <= 1);
        // Every form once in each round, in the same order.
        let round = |r: usize| {
            jobs[r * 2 * forms..(r + 1) * 2 * forms]
                .chunks(2)
                .map(|p| (p[0].strategy, p[0].parallel, p[0].runtime))
                .collect::<Vec<_>>()
        };
        assert!((1..axis.repeats).all(|r| round(r) == round(0)));
    }

    #[test]
    fn the_cpu_sites_http_crawls_and_the_one_core_crawls_run_in_rounds_and_nothing_else_does() {
        let plan = Plan::quick().only(&[crate::plan::Axis::Connections]);
        let axis = plan.connections.clone().expect("a connection axis");
        assert_eq!(axis.rounds, 5);
        let jobs = jobs(&plan, &[]);
        let cpu = |j: &&Job<'_>| j.site.name == crate::plan::CONN_CPU && j.step.is_none();
        let key = |j: &Job<'_>| {
            (
                j.strategy,
                j.parallel,
                j.runtime,
                j.concurrency,
                j.transport,
            )
        };
        let http: Vec<_> = jobs
            .iter()
            .filter(cpu)
            .filter(|j| !j.transport.tls)
            .collect();
        let https: Vec<_> = jobs
            .iter()
            .filter(cpu)
            .filter(|j| j.transport.tls)
            .collect();
        assert!(!https.is_empty());
        let each = http.len() / axis.rounds;
        assert_eq!(http.len(), each * axis.rounds);
        // Every crawl once in each round, in the same order; close and keep-alive of a form
        // side by side.
        let round = |r: usize| http[r * each..(r + 1) * each].iter().map(|j| key(j));
        assert!((1..axis.rounds).all(|r| round(r).eq(round(0))));
        // Each knows its round, which has wrk loaded beside it.
        assert!(
            (0..axis.rounds).all(|r| http[r * each..(r + 1) * each].iter().all(|j| j.round == r))
        );
        // On one core (where the machine has a second for the server), every strategy once in
        // each round of their own.
        let one_core: Vec<_> = jobs
            .iter()
            .filter(|j| j.site.name == crate::plan::CONN_ONE_CORE)
            .collect();
        if crate::affinity::allowed_cpus().is_ok_and(|cpus| cpus.len() > 1) {
            let strategies = plan.strategies.len();
            assert_eq!(one_core.len(), strategies * axis.rounds);
            for (r, round) in one_core.chunks(strategies).enumerate() {
                assert!(round.iter().all(|j| j.round == r));
                assert!(
                    round
                        .iter()
                        .map(|j| j.strategy)
                        .eq(plan.strategies.iter().copied())
                );
            }
        }
        let in_rounds = |j: &Job<'_>| http.iter().chain(&one_core).any(|h| std::ptr::eq(*h, j));
        assert!(jobs.iter().filter(|j| !in_rounds(j)).all(|j| j.round == 0));
        assert!(round(0).collect::<Vec<_>>().windows(2).any(|w| {
            (w[0].0, w[0].1, w[0].2, w[0].3) == (w[1].0, w[1].1, w[1].2, w[1].3) && w[0].4 != w[1].4
        }));
        // Over https, and on the latency-bound site, each crawl once.
        let latency: Vec<_> = jobs
            .iter()
            .filter(|j| j.site.name == crate::plan::CONN_LATENCY)
            .collect();
        assert!(!latency.is_empty());
        for once in [https, latency] {
            let keys: std::collections::BTreeSet<_> =
                once.iter().map(|j| format!("{:?}", key(j))).collect();
            assert_eq!(keys.len(), once.len());
        }
    }

    #[test]
    fn a_directory_is_measured_through_its_subdirectories() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir_all(dir.path().join("a/b")).expect("subdirectories");
        std::fs::write(dir.path().join("one"), [7; 10]).expect("a file");
        std::fs::write(dir.path().join("a/b/two"), [7; 5000]).expect("a file");
        // A sparse file: long, with nothing written.
        std::fs::File::create(dir.path().join("a/sparse"))
            .and_then(|f| f.set_len(1 << 20))
            .expect("a sparse file");
        let (allocated, apparent) = dir_size(dir.path()).expect("measured");
        assert_eq!(apparent, 10 + 5000 + (1 << 20));
        // Blocks for what was written, far from the sparse file's length.
        assert!((5000..(1 << 19)).contains(&allocated), "{allocated}");
    }

    #[test]
    fn a_chaos_crawl_is_exact_only_with_every_expected_line_once() {
        let expected = "200\thttp://a/\n200\thttp://a/1\nerror:reset\thttp://a/2\n";
        assert_eq!(mismatches(expected, expected), 0);
        // Lost, doubled, and ended otherwise.
        assert_eq!(mismatches(expected, "200\thttp://a/\n200\thttp://a/1\n"), 1);
        assert_eq!(
            mismatches(expected, &format!("{expected}200\thttp://a/1\n")),
            1
        );
        assert_eq!(
            mismatches(
                expected,
                "200\thttp://a/\n200\thttp://a/1\nerror:timeout\thttp://a/2\n"
            ),
            2
        );
    }
}
