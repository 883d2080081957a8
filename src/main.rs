//! `c10k`: crawl a site with one of the five strategies, or serve the test site.

use std::{
    fs,
    io::{IsTerminal as _, Write as _},
    net::{SocketAddr, ToSocketAddrs},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use c10k_core::{Config, Gauges, Limits, parse_root, urls_out};
use c10k_harness::{self as harness, Strategy, StrategyOptions, raise_fd_limit};
use c10k_testsite::{Server, ServerOptions, SiteSpec};
use clap::{Args, Parser, Subcommand};

/// One raw-socket web crawler written five ways, measured C10K-style.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Crawl a site (without URL: an embedded test site, checked against its manifest).
    #[command(allow_negative_numbers = true)]
    Crawl(CrawlArgs),
    /// Serve the deterministic test site until killed.
    #[command(allow_negative_numbers = true)]
    Serve(ServeArgs),
    /// Measure every strategy at every concurrency, each in its own process; write results/.
    Compare(CompareArgs),
    /// Redraw the plots of a sweep from its JSON.
    Plot(PlotArgs),
    /// Spawn threads, then open sockets, until the OS refuses (or the cap); print JSON.
    #[command(hide = true)]
    ProbeLimits(ProbeArgs),
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// A small sweep, for trying things (under two minutes).
    #[arg(long)]
    quick: bool,
    /// Only these strategies (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    strategies: Vec<Strategy>,
    /// Only these concurrencies (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = at_least_1)]
    concurrency: Vec<u64>,
    /// Directory for the results (a new folder is made in it for this sweep).
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Also replace the results section of this README with this sweep's tables and plots.
    #[arg(long)]
    update_readme: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PlotArgs {
    /// A `sweep.json` written by `c10k compare` or `cargo bench`.
    json: PathBuf,
    /// Where to write the plots (default: beside the JSON).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ProbeArgs {
    /// Most threads (and sockets) to try.
    #[arg(long, default_value_t = 40_000)]
    cap: usize,
    /// Stack reserved per thread, in KiB.
    #[arg(long, default_value_t = c10k_threads::Options::default().stack_kb)]
    stack_kb: usize,
}

#[derive(Debug, Args)]
struct CrawlArgs {
    /// Root URL (http only); its origin is the scope of the crawl.
    url: Option<String>,
    /// How to crawl.
    #[arg(long, value_enum, default_value_t = Strategy::Threads)]
    strategy: Strategy,
    /// Fetches in flight at once.
    #[arg(long, default_value_t = 100, value_parser = at_least_1)]
    concurrency: u64,
    /// Stop queueing new URLs after this many fetches.
    #[arg(long, value_parser = at_least_1)]
    max_pages: Option<u64>,
    /// Redirects one chain may follow.
    #[arg(long, default_value_t = 10)]
    max_redirects: u32,
    /// Tries per URL for transport failures (refused, reset, timeout).
    #[arg(long, default_value_t = 4, value_parser = at_least_1_u32)]
    max_tries: u32,
    /// Deadline of one fetch (connect included), in milliseconds.
    #[arg(long, default_value_t = 10_000, value_parser = at_least_1)]
    timeout_ms: u64,
    /// Largest body accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_body)]
    max_body: u64,
    /// Skip URLs matching this regular expression.
    #[arg(long)]
    exclude: Option<String>,
    /// Print the JSON report instead of a summary.
    #[arg(long)]
    json: bool,
    /// Write one sorted `STATUS<TAB>URL` line per URL to this file.
    #[arg(long)]
    urls_out: Option<PathBuf>,
    /// threads: stack reserved per thread, in KiB.
    #[arg(long, default_value_t = c10k_threads::Options::default().stack_kb as u64,
          value_parser = clap::value_parser!(u64).range(16..))]
    thread_stack_kb: u64,
    /// After parsing each HTML page, do this many µs of deterministic CPU work (a crawler that
    /// indexes what it fetches).
    #[arg(long, default_value_t = 0)]
    work_us: u64,
    /// callbacks, generators, async, uring: parse pages (and do their work) on a rayon pool instead
    /// of the event loop.
    #[arg(long)]
    offload: bool,
    /// async: run on a multi-thread tokio runtime with this many workers (default: one thread).
    #[arg(long, value_parser = at_least_1)]
    threads: Option<u64>,
    /// Embedded site only: number of pages.
    #[arg(long, default_value_t = 1000)]
    site_pages: usize,
    /// Embedded site only: delay of each response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    site_delay_ms: u64,
    /// Embedded site only: add the misbehaving fault pages.
    #[arg(long)]
    site_faults: bool,
    /// Run only on these CPUs (`0`, `0-3`, `0,2`): the whole process, pinned before it starts
    /// anything (what the benchmark's cores axis uses).
    #[arg(long)]
    cpus: Option<harness::affinity::CpuList>,
    /// Print `progress N` lines (URLs done) to stderr while crawling, for a parent process.
    #[arg(long, hide = true)]
    progress: bool,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Number of HTML pages.
    #[arg(long, default_value_t = SiteSpec::default().pages)]
    pages: usize,
    /// Tree links per page.
    #[arg(long, default_value_t = SiteSpec::default().links as u64, value_parser = at_least_1)]
    links: u64,
    /// Approximate bytes per page.
    #[arg(long, default_value_t = SiteSpec::default().page_bytes)]
    page_bytes: usize,
    /// Seed of the extra links and filler text.
    #[arg(long, default_value_t = SiteSpec::default().seed)]
    seed: u64,
    /// Hold each response this many milliseconds (on a timer).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1, value_parser = at_least_1)]
    threads: u64,
    /// Write the manifest (expected outcome of a full crawl) to this JSON file.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Also serve pages that misbehave on purpose (resets, silence, garbage, huge headers, …),
    /// linked from the root.
    #[arg(long)]
    faults: bool,
    /// Run only on these CPUs (`0`, `0-3`, `0,2`).
    #[arg(long)]
    cpus: Option<harness::affinity::CpuList>,
}

/// A count that must be positive, with a plain message when it is not.
fn at_least_1(text: &str) -> Result<u64, String> {
    match text.parse::<i128>() {
        Ok(n) if n >= 1 => u64::try_from(n).map_err(|_| format!("{n} is too large")),
        Ok(n) => Err(format!("must be at least 1, not {n}")),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

fn at_least_1_u32(text: &str) -> Result<u32, String> {
    let n = at_least_1(text)?;
    u32::try_from(n).map_err(|_| format!("{n} is too large"))
}

/// An error in what the user asked: exit code 2.
#[derive(Debug)]
struct Usage(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crawl(args) => crawl(args),
        Command::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
        Command::Compare(args) => compare(args),
        Command::Plot(args) => plot(args),
        Command::ProbeLimits(args) => {
            let ceilings = harness::probe::probe(args.cap, args.stack_kb);
            println!("{}", serde_json::to_string(&ceilings).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// Pins this process to `cpus`, before it starts any thread (the threads it starts inherit
/// the mask).
fn pin(cpus: Option<&harness::affinity::CpuList>) -> anyhow::Result<()> {
    if let Some(harness::affinity::CpuList(cpus)) = cpus {
        harness::affinity::pin_to(cpus).map_err(|e| {
            usage(format!(
                "cannot run on CPUs {}: {e}",
                harness::affinity::format_cpus(cpus)
            ))
        })?;
    }
    Ok(())
}

fn crawl(args: CrawlArgs) -> anyhow::Result<ExitCode> {
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
    let server = match &args.url {
        Some(_) => None,
        None => Some(Server::start(ServerOptions {
            spec: spec.clone(),
            ..ServerOptions::default()
        })?),
    };
    let root_text = match (&args.url, &server) {
        (Some(url), _) => url.clone(),
        (None, Some(server)) => server.url(),
        (None, None) => unreachable!("a server is started when no URL is given"),
    };
    let root = parse_root(&root_text).map_err(|e| usage(e.to_string()))?;
    let addr = resolve(&root)?;
    let mut config = Config::new(root, addr);
    // The crawler needs a descriptor per connection, and so does an embedded server.
    let fd_budget = if server.is_some() {
        fd_limit / 2
    } else {
        fd_limit
    }
    .saturating_sub(64);
    config.concurrency = usize::try_from(args.concurrency).unwrap_or(usize::MAX);
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
    config.work_rounds = harness::work_rounds(args.work_us);
    config.exclude = exclude;
    let options = StrategyOptions {
        threads: c10k_threads::Options {
            stack_kb: usize::try_from(args.thread_stack_kb).unwrap_or(usize::MAX),
        },
        runtime_threads: args
            .threads
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        offload: args.offload,
    };

    let gauges = Arc::new(Gauges::default());
    config.gauges = Some(Arc::clone(&gauges));
    let watcher = Watcher::start(
        gauges,
        args.progress,
        !args.json && std::io::stderr().is_terminal(),
    );

    let fds_before = harness::open_fds().ok();
    let report = harness::run(args.strategy, &config, &options);
    let (widest, rss_at_widest) = watcher.stop();
    let report = report.with_context(|| {
        format!(
            "{} could not run at concurrency {}",
            args.strategy, config.concurrency
        )
    })?;

    if let Some(path) = &args.urls_out {
        fs::write(path, urls_out(&report.records))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        // The report, plus what the process used: the sweep reads both from here.
        let mut json = serde_json::to_value(&report)?;
        let mut usage = harness::measure::process_usage()?;
        usage.sampled_in_flight = widest;
        usage.rss_kib_at_widest = rss_at_widest;
        json["process"] = serde_json::to_value(usage)?;
        writeln!(stdout, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        write!(stdout, "{}", report.summary())?;
        if let (Some(before), Ok(after)) = (fds_before, harness::open_fds()) {
            writeln!(
                stdout,
                "open descriptors: {before} before the crawl, {after} after"
            )?;
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
    match report.root_record() {
        Some(record) if matches!(record.status, c10k_core::Status::Http(_)) => {
            Ok(ExitCode::SUCCESS)
        }
        Some(record) => Err(anyhow!(
            "the root {} could not be fetched ({})",
            record.url,
            record.status
        )),
        None => Err(anyhow!("the root {} was not crawled", report.root)),
    }
}

/// Resolves the root's host once: every fetch connects to this address.
fn resolve(root: &c10k_core::Url) -> anyhow::Result<SocketAddr> {
    let host = root.host_str().unwrap_or_default();
    let port = root.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| usage(format!("cannot resolve {host}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| usage(format!("{host} has no address")))
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    pin(args.cpus.as_ref())?;
    raise_fd_limit().context("raising the open-file limit")?;
    let spec = SiteSpec {
        pages: args.pages,
        links: usize::try_from(args.links).unwrap_or(usize::MAX),
        page_bytes: args.page_bytes,
        seed: args.seed,
        delay: Duration::from_millis(args.delay_ms),
        faults: args.faults,
    };
    if spec.pages == 0 {
        bail!(usage("--pages must be at least 1"));
    }
    let server = Server::start(ServerOptions {
        spec: spec.clone(),
        addr: args.addr,
        threads: usize::try_from(args.threads).unwrap_or(1),
    })
    .with_context(|| format!("cannot listen on {}", args.addr))?;
    if let Some(path) = &args.manifest {
        let manifest = server.manifest(&spec);
        fs::write(path, serde_json::to_string_pretty(&manifest)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("listening on {}", server.url());
    server.wait();
    Ok(())
}

/// Watches a crawl from another thread: samples the in-flight count and the resident memory
/// every 10 ms (the memory of the crawl at its widest), and reports progress — `progress N`
/// lines for a parent process, or a spinner on a terminal.
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<(u64, u64)>,
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
            for tick in 0u64.. {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let in_flight = gauges.in_flight.load(Ordering::Relaxed);
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
                    let ended = gauges.ended.load(Ordering::Relaxed);
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
            (widest, rss_at_widest)
        });
        Watcher { stop, thread }
    }

    /// Stops watching; returns the widest in-flight count sampled and the RSS then (KiB).
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let fd_limit = raise_fd_limit().context("raising the open-file limit")?;
    let mut plan = if args.quick {
        harness::Plan::quick()
    } else {
        harness::Plan::full()
    };
    if !args.strategies.is_empty() {
        plan.strategies = args.strategies;
    }
    if !args.concurrency.is_empty() {
        plan.concurrencies = args.concurrency.iter().map(|&c| c as usize).collect();
    }
    let bin = std::env::current_exe().context("finding the c10k binary")?;
    let mut results = harness::runner::sweep(&bin, &plan)?;
    if let Some(note) = fd_limit.note() {
        eprintln!("note: {note}");
        results.notes.insert(0, note);
    }
    // The data first: a plot that fails afterwards costs no measurement.
    let dir = harness::results::run_dir(&args.out, &results);
    for path in results.write_data(&dir)? {
        eprintln!("wrote {}", path.display());
    }
    if let Some(readme) = &args.update_readme {
        harness::summary::update_readme(readme, &dir, &results)?;
        eprintln!("updated {}", readme.display());
    }
    println!("{}", harness::summary::markdown(&results, Path::new(".")));
    Ok(plots_drawn(&harness::plot::draw(&results, &dir)))
}

fn plot(args: PlotArgs) -> anyhow::Result<ExitCode> {
    let text = fs::read_to_string(&args.json)
        .with_context(|| format!("reading {}", args.json.display()))?;
    let results: harness::Results = serde_json::from_str(&text).map_err(|e| {
        usage(format!(
            "{} is not a sweep's JSON: {e}",
            args.json.display()
        ))
    })?;
    let dir = args
        .out
        .unwrap_or_else(|| args.json.parent().unwrap_or(Path::new(".")).to_path_buf());
    Ok(plots_drawn(&harness::plot::draw(&results, &dir)))
}

/// Says which plots were written and which failed (one line each); exit code 1 if any failed.
fn plots_drawn(drawn: &harness::plot::Drawn) -> ExitCode {
    drawn.print();
    if drawn.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {} of {} plot files could not be drawn (the data is written)",
            drawn.failed.len(),
            drawn.failed.len() + drawn.written.len()
        );
        ExitCode::FAILURE
    }
}
