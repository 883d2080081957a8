//! `c10k crawl`: one crawl with one strategy, against a URL or an embedded test site, with a
//! sampler of the widest moment for the sweep.

use std::{
    collections::HashMap,
    fs,
    io::{IsTerminal as _, LineWriter, Write as _},
    net::{IpAddr, SocketAddr, ToSocketAddrs},
    path::Path,
    process::ExitCode,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use c10k_core::{
    Config, ErrorKind, Gauges, HostMatch, Record, RecordSink, Resolver, Status, Tracer, parse_root,
    urls_out, write_urls_out,
};
use c10k_harness::{self as harness, Strategy, StrategyOptions, raise_fd_limit};
use c10k_testsite::{Digest, Server, ServerOptions, SiteSpec};

use crate::{
    args::{Connections, Count, CrawlArgs, Runtime, cores},
    pin, state, usage,
};

pub(crate) fn crawl(args: CrawlArgs) -> anyhow::Result<ExitCode> {
    pin(args.cpus.as_ref())?;
    // A strategy this machine cannot run (io_uring disabled, say) is refused like a bad
    // argument: exit code 2, and the reason in one line.
    if let Some(reason) = args.strategy.unavailable() {
        return Err(usage(format!("--strategy {}: {reason}", args.strategy)));
    }
    let fd_limit = raise_fd_limit().context("raising the open-file limit")?.now;
    if let Some(path) = &args.urls_out {
        fs::File::create(path)
            .map_err(|e| usage(format!("cannot write --urls-out {}: {e}", path.display())))?;
    }
    let exclude = args
        .exclude
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| usage(format!("invalid --exclude: {e}")))?;
    let spec = SiteSpec {
        pages: args.site_pages,
        delay: Duration::from_millis(args.site_delay_ms),
        faults: args.site_faults,
        ..SiteSpec::default()
    };
    let server = if args.urls.is_empty() {
        Some(Server::start(ServerOptions {
            spec: spec.clone(),
            ..ServerOptions::default()
        })?)
    } else {
        None
    };
    let roots_text = match &server {
        Some(server) => vec![server.url()],
        None => args.urls.clone(),
    };
    let lookup = Lookup::new(&args.resolve);
    let mut config: Option<Config> = None;
    for text in &roots_text {
        let root = parse_root(text).map_err(|e| usage(e.to_string()))?;
        let addr = lookup.root(&root)?;
        match &mut config {
            None => config = Some(Config::new(root, addr)),
            Some(config) => config.add_root(root, addr),
        }
    }
    let Some(mut config) = config else {
        unreachable!("there is a root: the embedded site's when no URL is given")
    };
    config.host_match = if args.lenient {
        HostMatch::Lenient
    } else {
        HostMatch::Strict
    };
    config.resolver = Some(Resolver(Arc::new(move |host, port| {
        lookup.find(host, port)
    })));
    config.robots = !args.ignore_robots;
    config.per_host = args
        .per_host
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    config.delay = Duration::from_millis(args.delay_ms);
    config.backoff = Duration::from_millis(args.backoff_ms);
    config.max_wait = Duration::from_millis(args.max_wait_ms);
    let jsonl = match &args.jsonl {
        Some(path) => Some(Jsonl::create(path)?),
        None => None,
    };
    config.sink = jsonl.as_ref().map(Jsonl::sink);
    // The crawler needs a descriptor per connection, and so does an embedded server.
    let fd_budget = if server.is_some() {
        fd_limit / 2
    } else {
        fd_limit
    }
    .saturating_sub(64);
    config.concurrency = usize::try_from(args.concurrency).unwrap_or(usize::MAX);
    if fd_budget == 0 {
        // Clamping to 0 would start no fetch at all: refuse instead of waiting forever.
        return Err(usage(format!(
            "the open-file limit ({fd_limit}) leaves no descriptor for connections; raise it (ulimit -n)"
        )));
    }
    if config.concurrency as u64 > fd_budget {
        eprintln!(
            "warning: concurrency {} needs more descriptors than the limit ({fd_limit}) allows; using {fd_budget}",
            config.concurrency
        );
        config.concurrency = fd_budget as usize;
    }
    config.max_pages = args
        .max_pages
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    config.max_redirects = args.max_redirects;
    config.max_tries = args.max_tries;
    config.timeout = Duration::from_millis(args.timeout_ms);
    config.connect_timeout = config.timeout;
    config.limits.max_body = args.max_body;
    config.keep_alive = args.connections == Connections::KeepAlive;
    config.idle = Duration::from_millis(args.idle_ms);
    config.tls.insecure = args.insecure;
    config.tls.resume = !args.no_resume;
    if let Some(path) = &args.ca_file {
        let pem =
            fs::read(path).map_err(|err| usage(format!("--ca-file {}: {err}", path.display())))?;
        config
            .tls
            .add_pem(&pem)
            .map_err(|err| usage(format!("--ca-file {}: {err}", path.display())))?;
    }
    if args.insecure {
        eprintln!("warning: --insecure: https certificates are not checked");
    }
    // A CA file that parses but cannot be a root is refused here, not on the first fetch.
    config
        .tls_client()
        .map_err(|err| usage(format!("--ca-file: {err}")))?;
    config.work_rounds = harness::work_rounds(args.work_us);
    config.exclude = exclude;
    let kept = match &args.state {
        Some(_) if server.is_some() => {
            return Err(usage(
                "--state needs root URLs: the embedded site listens on another port each run",
            ));
        }
        Some(_) if args.max_pages.is_some() => {
            return Err(usage(
                "--state with --max-pages: a bounded crawl cannot be resumed yet; give one of them",
            ));
        }
        Some(dir) => Some(state::open(dir, &mut config)?),
        None => None,
    };
    let options = StrategyOptions {
        threads: c10k_threads::Options {
            stack_kb: usize::try_from(args.thread_stack_kb).unwrap_or(usize::MAX),
        },
        runtime_threads: runtime_threads(&args)?,
        per_core: args.runtime == Some(Runtime::PerCore),
        loops: loops(&args)?,
        offload: args.offload,
    };

    let gauges = Arc::new(Gauges::default());
    config.gauges = Some(Arc::clone(&gauges));
    let watcher = Watcher::start(
        gauges,
        args.progress,
        !args.json && !args.trace && std::io::stderr().is_terminal(),
    );

    let fds_before = harness::open_fds().ok();
    // Made last, so that its clock starts with the crawl.
    config.trace = args.trace.then(|| Arc::new(Tracer::new(std::io::stderr())));
    let report = harness::run(args.strategy, &config, &options);
    let watched = watcher.stop();
    let report = report.with_context(|| {
        format!(
            "{} could not run at concurrency {}",
            args.strategy, config.concurrency
        )
    })?;
    // With --state, the records are the state's (read back a few times, one at a time,
    // rather than held: a crawl of millions), unless the report lists them.
    let (report, state) = match &kept {
        Some(kept) => {
            let (report, ended) = kept.finish(report, &config, args.report)?;
            (report, Some(ended))
        }
        None => (report, None),
    };
    let each_record = |f: &mut dyn FnMut(&Record)| match &kept {
        Some(kept) if !args.report => kept.each_record(f),
        _ => {
            report.records.iter().for_each(f);
            Ok(())
        }
    };
    let digest = if args.urls_digest {
        let mut digest = Digest::default();
        each_record(&mut |record| digest.add(&record.status.to_string(), &record.url))?;
        Some(digest)
    } else {
        None
    };

    if let Some(path) = &args.urls_out {
        let mut file = std::io::BufWriter::new(
            fs::File::create(path).with_context(|| format!("writing {}", path.display()))?,
        );
        let written = match &kept {
            // The state's records come sorted by URL already.
            Some(_) => {
                let mut result = Ok(());
                each_record(&mut |record| {
                    if result.is_ok() {
                        result = writeln!(file, "{}", record.line());
                    }
                })?;
                result
            }
            None => write_urls_out(&report.records, &mut file),
        };
        written
            .and_then(|()| file.flush())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let (Some(jsonl), Some(path)) = (jsonl, &args.jsonl) {
        jsonl
            .finish()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    if args.report {
        write!(stdout, "{}", report.text())?;
    } else if args.json {
        // The report, plus what the process used: the sweep reads both from here.
        let mut json = serde_json::to_value(&report)?;
        let mut usage = harness::measure::process_usage()?;
        usage.sampled_in_flight = watched.widest;
        usage.rss_kib_at_widest = watched.rss_at_widest;
        usage.waiting_cpu = watched.waiting_cpu;
        json["process"] = serde_json::to_value(usage)?;
        if let Some(state) = &state {
            json["state"] = state.json.clone();
        }
        if let Some(digest) = &digest {
            json["urls_digest"] = serde_json::to_value(digest)?;
        }
        writeln!(stdout, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        write!(stdout, "{}", report.summary())?;
        if let (Some(before), Ok(after)) = (fds_before, harness::open_fds()) {
            writeln!(
                stdout,
                "open descriptors: {before} before the crawl, {after} after"
            )?;
        }
        if let Some(state) = &state {
            writeln!(stdout, "{}", state.line)?;
        }
        if let Some(digest) = &digest {
            writeln!(stdout, "urls: {digest}")?;
        }
        if let Some(server) = &server {
            let expected = server.manifest(&spec).urls_out();
            let verdict = if expected == urls_out(&report.records) {
                "matches"
            } else {
                "DIFFERS FROM"
            };
            writeln!(
                stdout,
                "the crawl {verdict} the test site's manifest ({} URLs)",
                spec.manifest("").urls.len()
            )?;
        }
    }
    if let Some(kept) = &kept
        && kept.stopped()
    {
        eprintln!("{}", kept.resume_line(&report));
        return Ok(ExitCode::from(130));
    }
    for root in &report.roots {
        let found = match &kept {
            Some(kept) => kept.record(root)?,
            None => report
                .records
                .iter()
                .find(|record| &record.url == root)
                .cloned(),
        };
        match found {
            Some(record) if matches!(record.status, Status::Http(_)) => {}
            Some(record) => {
                // Disallowed: say what its robots.txt met, when that is why (unreachable, 5xx).
                let robots_txt = record
                    .url
                    .find("://")
                    .and_then(|s| record.url[s + 3..].find('/').map(|p| s + 3 + p))
                    .map(|path| format!("{}/robots.txt", &record.url[..path]));
                let why = report
                    .notes
                    .iter()
                    .filter(|_| record.status == Status::Error(ErrorKind::Robots))
                    .find(|note| robots_txt.as_ref().is_some_and(|r| note.starts_with(r)))
                    .map(|note| format!(": {note}"))
                    .unwrap_or_default();
                // A certificate the crawler does not trust: say what would make it.
                let hint = if format!("{}{why}", record.status).contains("unknown issuer") {
                    "; to trust a private CA, --ca-file PEM"
                } else {
                    ""
                };
                bail!(
                    "the root {} could not be fetched ({}{why}){hint}",
                    record.url,
                    record.status
                )
            }
            None => bail!("the root {root} was not crawled"),
        }
    }
    // The site went away during the crawl (or some of it never answered): the crawl is not
    // whole, and a script should know without reading the report.
    if let Some(&unreachable) = report.error_counts.get(ErrorKind::Connect.as_str()) {
        let mut tries = 1;
        each_record(&mut |record| {
            if record.status == Status::Error(ErrorKind::Connect) {
                tries = tries.max(record.tries);
            }
        })?;
        eprintln!(
            "error: {unreachable} URLs could not be reached (error:connect, after {tries} \
             tries); more --max-tries or a longer --max-wait-ms may outlast an outage"
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where hosts listen: `--resolve` entries first, then the system's resolver. Roots are
/// looked up before the crawl (an unknown root is a usage error); other hosts (subdomains
/// under `--lenient`) when the core first meets them, once each.
struct Lookup {
    fixed: HashMap<(String, u16), IpAddr>,
}

impl Lookup {
    fn new(entries: &[(String, u16, IpAddr)]) -> Lookup {
        Lookup {
            fixed: entries
                .iter()
                .map(|(host, port, addr)| ((host.clone(), *port), *addr))
                .collect(),
        }
    }

    /// The address of `host` (without brackets) on `port`, if any.
    fn find(&self, host: &str, port: u16) -> Option<SocketAddr> {
        if let Some(addr) = self.fixed.get(&(host.to_ascii_lowercase(), port)) {
            return Some(SocketAddr::new(*addr, port));
        }
        (host, port).to_socket_addrs().ok()?.next()
    }

    /// The address of a root's host; a usage error if it has none.
    fn root(&self, root: &c10k_core::Url) -> anyhow::Result<SocketAddr> {
        let host = root.host_str().unwrap_or_default();
        let port = root.port_or_known_default().unwrap_or(80);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.find(host, port)
            .ok_or_else(|| usage(format!("cannot resolve {host}")))
    }
}

/// `--jsonl`: one JSON line per record, written as each URL ends. A `LineWriter` flushes at
/// every newline, so a reader of the file sees each line whole as soon as it is written.
struct Jsonl {
    file: Arc<Mutex<LineWriter<fs::File>>>,
    /// The first write that failed; the crawl goes on, and `finish` reports it.
    failed: Arc<Mutex<Option<std::io::Error>>>,
}

impl Jsonl {
    fn create(path: &Path) -> anyhow::Result<Jsonl> {
        let file = fs::File::create(path)
            .map_err(|e| usage(format!("cannot write --jsonl {}: {e}", path.display())))?;
        Ok(Jsonl {
            file: Arc::new(Mutex::new(LineWriter::new(file))),
            failed: Arc::default(),
        })
    }

    /// What the core calls with each record, from whichever thread completed its fetch.
    fn sink(&self) -> RecordSink {
        let (file, failed) = (Arc::clone(&self.file), Arc::clone(&self.failed));
        RecordSink(Arc::new(move |record| {
            let line = record.json();
            let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(err) = writeln!(file, "{line}") {
                failed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(err);
            }
        }))
    }

    fn finish(self) -> std::io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.flush()?;
        match self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// `--loops`, for the strategies that have event loops.
fn loops(args: &CrawlArgs) -> anyhow::Result<Option<usize>> {
    let Some(loops) = args.loops else {
        return Ok(None);
    };
    if !matches!(
        args.strategy,
        Strategy::Callbacks | Strategy::Generators | Strategy::Uring
    ) {
        bail!(usage(format!(
            "--loops is for callbacks, generators and uring, not {}",
            args.strategy
        )));
    }
    Ok(Some(loops.get()))
}

/// async's threads, given `--threads` and `--runtime`: `None` for a current-thread runtime.
fn runtime_threads(args: &CrawlArgs) -> anyhow::Result<Option<usize>> {
    let threads = args.threads.map(Count::get);
    let Some(runtime) = args.runtime else {
        return Ok(threads);
    };
    if args.strategy != Strategy::Async {
        bail!(usage(format!(
            "--runtime is for async, not {}",
            args.strategy
        )));
    }
    match (runtime, threads) {
        (Runtime::CurrentThread, None) => Ok(None),
        (Runtime::CurrentThread, Some(_)) => Err(usage(
            "--runtime current-thread runs on one thread: drop --threads",
        )),
        (Runtime::Stealing | Runtime::PerCore, Some(threads)) => Ok(Some(threads)),
        (Runtime::Stealing | Runtime::PerCore, None) => Ok(Some(cores())),
    }
}

/// Watches a crawl from another thread: samples the in-flight count and the resident memory
/// every 10 ms (the memory of the crawl at its widest), and reports progress — `progress N`
/// lines for a parent process, or a spinner on a terminal.
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Watched>,
}

/// What the watcher saw: the widest in-flight count sampled, the RSS then (KiB), and the CPU
/// used while that many waited (`harness::measure::waiting_cpu`).
#[derive(Default)]
struct Watched {
    widest: u64,
    rss_at_widest: u64,
    waiting_cpu: Option<f64>,
}

impl Watcher {
    fn start(gauges: Arc<Gauges>, lines: bool, spinner: bool) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let bar = spinner.then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {pos} URLs done ({per_sec})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar
            });
            let (mut widest, mut rss_at_widest) = (0, 0);
            // (seconds since start, CPU seconds, in flight) every tick: 24 bytes per 10 ms.
            let mut samples = Vec::new();
            let start = Instant::now();
            for tick in 0u64.. {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let in_flight = gauges.in_flight();
                samples.push((
                    start.elapsed().as_secs_f64(),
                    harness::measure::crawl_cpu_seconds(),
                    in_flight,
                ));
                if in_flight >= widest {
                    let rss = harness::measure::current_rss_kib().unwrap_or_default();
                    rss_at_widest = if in_flight > widest {
                        rss
                    } else {
                        rss_at_widest.max(rss)
                    };
                    widest = in_flight;
                }
                if tick % 10 == 0 {
                    let ended = gauges.ended();
                    if lines {
                        eprintln!("progress {ended}");
                    }
                    if let Some(bar) = &bar {
                        bar.set_position(ended);
                    }
                }
                thread::sleep(Duration::from_millis(10));
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            Watched {
                widest,
                rss_at_widest,
                waiting_cpu: harness::measure::waiting_cpu(&samples, widest),
            }
        });
        Watcher { stop, thread }
    }

    /// Stops watching; returns what it saw.
    fn stop(self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}
