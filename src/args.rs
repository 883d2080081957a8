//! The command line's arguments: one struct per subcommand, and their parsers.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    thread,
};

use c10k_core::Limits;
use c10k_harness::{self as harness, Strategy};
use c10k_testsite::SiteSpec;
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// A small sweep, for trying things (under two minutes).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Only these strategies (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) strategies: Vec<Strategy>,
    /// Only these concurrencies on the CPU-bound, latency-bound and memory sites
    /// (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = at_least_1)]
    pub(crate) concurrency: Vec<u64>,
    /// Only these parts of the plan (comma-separated; default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) axes: Vec<harness::plan::Axis>,
    /// Directory for the results (a new folder is made in it for this sweep).
    #[arg(long, default_value = "results")]
    pub(crate) out: PathBuf,
    /// Publish this sweep as the reference run: rewrite the results section of ./README.md
    /// and ./docs/results.md from it (without: both are left alone).
    #[arg(long)]
    pub(crate) publish: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// A sweep's folder in the checkout (`results/<run>`, its plots drawn), or its
    /// `sweep.json`.
    pub(crate) run: PathBuf,
    /// The checkout whose README.md and docs/results.md are rewritten.
    #[arg(long, default_value = ".")]
    pub(crate) root: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CountArgs {
    /// What `c10k crawl` takes: the root URL and any flags (`--strategy`, `--concurrency`, …).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub(crate) crawl: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PlotArgs {
    /// A `sweep.json` written by `c10k compare` or `cargo bench`.
    pub(crate) json: PathBuf,
    /// Where to write the plots (default: beside the JSON).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// Most threads (and sockets) to try.
    #[arg(long, default_value_t = 40_000)]
    pub(crate) cap: usize,
    /// Stack reserved per thread, in KiB.
    #[arg(long, default_value_t = c10k_threads::Options::default().stack_kb)]
    pub(crate) stack_kb: usize,
}

#[derive(Debug, Args)]
pub(crate) struct ProbeTlsArgs {
    /// Connections held at the first measure of RSS.
    #[arg(long, default_value_t = 200)]
    pub(crate) narrow: usize,
    /// Connections held at the second.
    #[arg(long, default_value_t = 1000)]
    pub(crate) wide: usize,
}

/// The `crawl --help` heading of the embedded test site's flags.
const SITE: &str = "Embedded test site (crawled when no URL is given)";

#[derive(Debug, Args)]
pub(crate) struct CrawlArgs {
    /// Root URLs (http or https); their origins are the scope of the crawl (with a site's
    /// https origin beside its http one, on their default ports). None: an embedded test
    /// site.
    #[arg(help_heading = "Scope")]
    pub(crate) urls: Vec<String>,
    /// Scope is the roots' exact hosts (the default).
    #[arg(help_heading = "Scope", long, conflicts_with = "lenient")]
    pub(crate) strict: bool,
    /// Scope is the roots' registrable domains (www. and other subdomains too), on the roots'
    /// ports; a subdomain's address is looked up when first met (or taken from --resolve).
    #[arg(help_heading = "Scope", long)]
    pub(crate) lenient: bool,
    /// Use ADDR for HOST:PORT instead of looking it up, as curl's --resolve
    /// (`www.example.test:80:127.0.0.1`); repeatable.
    #[arg(help_heading = "Scope", long, value_name = "HOST:PORT:ADDR", value_parser = resolve_entry)]
    pub(crate) resolve: Vec<(String, u16, IpAddr)>,
    /// How to crawl.
    #[arg(help_heading = "Model and concurrency", long, value_enum, default_value_t = Strategy::Threads)]
    pub(crate) strategy: Strategy,
    /// Fetches in flight at once.
    #[arg(help_heading = "Model and concurrency", long, value_name = "N", default_value_t = 100, value_parser = at_least_1)]
    pub(crate) concurrency: u64,
    /// Stop queueing new URLs after this many fetches.
    #[arg(help_heading = "Limits and retries", long, value_name = "N", value_parser = at_least_1)]
    pub(crate) max_pages: Option<u64>,
    /// Redirects one chain may follow.
    #[arg(
        help_heading = "Limits and retries",
        long,
        value_name = "N",
        default_value_t = 10
    )]
    pub(crate) max_redirects: u32,
    /// Tries per URL for transport failures (refused, reset, timeout) and for 429 and 503.
    #[arg(help_heading = "Limits and retries", long, value_name = "N", default_value_t = 4, value_parser = at_least_1_u32)]
    pub(crate) max_tries: u32,
    /// The first wait before a retry, in milliseconds; each further one doubles, with jitter.
    /// A 429's or 503's Retry-After replaces it.
    #[arg(help_heading = "Limits and retries", long, value_name = "MS", default_value_t = 100, value_parser = whole_number)]
    pub(crate) backoff_ms: u64,
    /// The longest wait before a retry, in milliseconds: a longer Retry-After is cut to this.
    #[arg(help_heading = "Limits and retries", long, value_name = "MS", default_value_t = 60_000, value_parser = whole_number)]
    pub(crate) max_wait_ms: u64,
    /// Deadline of one fetch (connect included), in milliseconds.
    #[arg(help_heading = "Limits and retries", long, value_name = "MS", default_value_t = 10_000, value_parser = at_least_1)]
    pub(crate) timeout_ms: u64,
    /// Largest body accepted, in bytes.
    #[arg(help_heading = "Limits and retries", long, value_name = "BYTES", default_value_t = Limits::default().max_body)]
    pub(crate) max_body: u64,
    /// At most this many connections to one host (origin) at once, over the whole crawl (with
    /// several loops or runtimes too: a host's URLs then all go to one of them).
    #[arg(help_heading = "Politeness", long, value_name = "N", value_parser = at_least_1)]
    pub(crate) per_host: Option<u64>,
    /// The least time between two requests to one host, in milliseconds; a robots.txt
    /// Crawl-delay raises it.
    #[arg(help_heading = "Politeness", long, value_name = "MS", default_value_t = 0, value_parser = whole_number)]
    pub(crate) delay_ms: u64,
    /// Do not fetch robots.txt, and crawl what it would disallow.
    #[arg(help_heading = "Politeness", long)]
    pub(crate) ignore_robots: bool,
    /// One connection per fetch (`close`, HTTP/1.0: the lecture's crawler), or connections
    /// kept open and reused for the origin's next fetches (`keep-alive`, HTTP/1.1).
    #[arg(
        help_heading = "Connections",
        long,
        value_enum,
        value_name = "MODE",
        default_value = "close"
    )]
    pub(crate) connections: Connections,
    /// With keep-alive: how long an idle connection is kept for reuse, in milliseconds.
    #[arg(help_heading = "Connections", long, value_name = "MS", default_value_t = 5_000, value_parser = at_least_1)]
    pub(crate) idle_ms: u64,
    /// Also trust the CA certificates of this PEM file for https (a private CA, `c10k serve
    /// --tls --ca-out`); the compiled-in Mozilla roots stay trusted.
    #[arg(help_heading = "Connections", long, value_name = "PEM")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Check no https certificate (curl's -k): never the default; said on stderr and in the
    /// report.
    #[arg(help_heading = "Connections", long)]
    pub(crate) insecure: bool,
    /// Make every https connection a full TLS handshake, without resuming an earlier session
    /// (to measure what resumption saves).
    #[arg(help_heading = "Connections", long)]
    pub(crate) no_resume: bool,
    /// Skip URLs matching this regular expression.
    #[arg(help_heading = "Scope", long, value_name = "REGEX")]
    pub(crate) exclude: Option<String>,
    /// Print the JSON report instead of a summary.
    #[arg(help_heading = "Output", long)]
    pub(crate) json: bool,
    /// Write one sorted `STATUS<TAB>URL` line per URL to this file.
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub(crate) urls_out: Option<PathBuf>,
    /// Keep the crawl's state in this directory (made if missing): every URL seen, each
    /// URL's tries, every record. Killed at any moment, the same command continues the crawl
    /// and ends as one that ran through; SIGINT or SIGTERM stops it cleanly (a second stops at
    /// once, still safely).
    #[arg(help_heading = "Output", long, value_name = "DIR")]
    pub(crate) state: Option<PathBuf>,
    /// Print the count and checksum of the crawl's URLs and outcomes (`N URLs, checksum HEX`),
    /// as `c10k serve --expected-digest` writes a site's: for a site too large to list.
    #[arg(help_heading = "Output", long)]
    pub(crate) urls_digest: bool,
    /// Print one line per event of each fetch to stderr (started, connected, request written,
    /// bytes read, completed; on the event-driven strategies, which callback or task ran),
    /// with the fetch's id and the milliseconds since the crawl started.
    #[arg(help_heading = "Output", long)]
    pub(crate) trace: bool,
    /// Print the 500 Lines crawler's report instead of a summary: one line per URL, sorted,
    /// the count of each outcome, and `Finished N urls in X secs (max_tasks=C) (Y
    /// urls/sec/task)`.
    #[arg(help_heading = "Output", long, conflicts_with = "json")]
    pub(crate) report: bool,
    /// Stream one JSON record per URL to this file as each one ends (a line each, flushed:
    /// `tail -f` shows the crawl as it goes).
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub(crate) jsonl: Option<PathBuf>,
    /// threads: stack reserved per thread, in KiB.
    #[arg(help_heading = "Model and concurrency", long, value_name = "KIB", default_value_t = c10k_threads::Options::default().stack_kb as u64,
          value_parser = clap::value_parser!(u64).range(16..))]
    pub(crate) thread_stack_kb: u64,
    /// After parsing each HTML page, do this many µs of deterministic CPU work (a crawler that
    /// indexes what it fetches).
    #[arg(
        help_heading = "CPU work per page",
        long,
        value_name = "US",
        default_value_t = 0
    )]
    pub(crate) work_us: u64,
    /// callbacks, generators, async, uring: parse pages (and do their work) on a rayon pool
    /// instead of the event loop.
    #[arg(help_heading = "CPU work per page", long)]
    pub(crate) offload: bool,
    /// callbacks, generators, uring: run this many event loops (rings, for uring), each on its
    /// own thread with a shard of the frontier and its share of --concurrency (default: one);
    /// `auto`: one per core it may run on (after --cpus).
    #[arg(help_heading = "Model and concurrency", long, value_name = "N|auto", value_parser = count_or_auto)]
    pub(crate) loops: Option<Count>,
    /// async: run on this many threads (default: one, a current-thread runtime); `auto`: one
    /// per core it may run on (after --cpus).
    #[arg(help_heading = "Model and concurrency", long, value_name = "N|auto", value_parser = count_or_auto)]
    pub(crate) threads: Option<Count>,
    /// async: how the threads share the work: one work-stealing runtime (`stealing`, the
    /// default with --threads), or a runtime and a shard of the frontier per thread
    /// (`per-core`, one per core without --threads).
    #[arg(help_heading = "Model and concurrency", long, value_enum)]
    pub(crate) runtime: Option<Runtime>,
    /// Pages of the embedded site.
    #[arg(help_heading = SITE, long, value_name = "N", default_value_t = 1000)]
    pub(crate) site_pages: usize,
    /// Delay of each of its responses, in milliseconds.
    #[arg(help_heading = SITE, long, value_name = "MS", default_value_t = 0)]
    pub(crate) site_delay_ms: u64,
    /// Add the pages that misbehave on purpose (docs/faults.md).
    #[arg(help_heading = SITE, long)]
    pub(crate) site_faults: bool,
    /// Run only on these CPUs (`0`, `0-3`, `0,2`): the whole process, pinned before it starts
    /// anything (what the benchmark's cores axis uses).
    #[arg(help_heading = "Model and concurrency", long)]
    pub(crate) cpus: Option<harness::affinity::CpuList>,
    /// Print `progress N` lines (URLs done) to stderr while crawling, for a parent process.
    #[arg(long, hide = true)]
    pub(crate) progress: bool,
}

/// The tokio runtimes of the async strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Runtime {
    /// One thread: the event loop of the lecture.
    CurrentThread,
    /// One multi-thread runtime: workers that steal each other's tasks, one shared frontier.
    Stealing,
    /// A current-thread runtime per thread, each with its own shard of the frontier.
    PerCore,
}

/// How the crawler uses its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Connections {
    /// One connection per fetch, closed after its response.
    Close,
    /// Connections kept open and reused, a pool per origin.
    KeepAlive,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) addr: SocketAddr,
    /// Number of HTML pages.
    #[arg(long, default_value_t = SiteSpec::default().pages)]
    pub(crate) pages: usize,
    /// Tree links per page.
    #[arg(long, default_value_t = SiteSpec::default().links as u64, value_parser = at_least_1)]
    pub(crate) links: u64,
    /// Approximate bytes per page.
    #[arg(long, default_value_t = SiteSpec::default().page_bytes)]
    pub(crate) page_bytes: usize,
    /// Seed of the extra links and filler text.
    #[arg(long, default_value_t = SiteSpec::default().seed)]
    pub(crate) seed: u64,
    /// Hold each response this many milliseconds (on a timer).
    #[arg(long, default_value_t = 0)]
    pub(crate) delay_ms: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1, value_parser = at_least_1)]
    pub(crate) threads: u64,
    /// Write the manifest (expected outcome of a full crawl) to this JSON file.
    #[arg(long)]
    pub(crate) manifest: Option<PathBuf>,
    /// Write the manifest's URLs and outcomes as `c10k crawl --urls-out` writes a crawl's
    /// (`STATUS<TAB>URL`, sorted), to compare with `diff`.
    #[arg(long, value_name = "FILE")]
    pub(crate) expected_urls: Option<PathBuf>,
    /// Write the manifest's count and checksum (`N URLs, checksum HEX`, one line per site), as
    /// `c10k crawl --urls-digest` prints a crawl's: for a site too large to list (a plain site's
    /// is computed from its page numbers, without the manifest in memory).
    #[arg(long, value_name = "FILE")]
    pub(crate) expected_digest: Option<PathBuf>,
    /// Also serve pages that misbehave on purpose (resets, silence, garbage, huge headers, …),
    /// linked from the root.
    #[arg(long)]
    pub(crate) faults: bool,
    /// Also serve the busy pages `/busy/N`, linked from the root, which answer 429 or 503
    /// with a Retry-After (seconds, a date, none) to their first requests.
    #[arg(long)]
    pub(crate) busy: bool,
    /// Serve this file as /robots.txt (without: a 404).
    #[arg(long, value_name = "FILE")]
    pub(crate) robots: Option<PathBuf>,
    /// Serve this many sites, each on its own port (the next ports after --addr's, or free
    /// ones with port 0), each a copy of the same site.
    #[arg(long, default_value_t = 1, value_parser = at_least_1)]
    pub(crate) sites: u64,
    /// Write absolute links with this host name instead of the IP address (crawl it with
    /// `--resolve NAME:PORT:IP`); with --www-link, the root also links to the www. subdomain.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// With --name: the root links to a text file on www.NAME (for --lenient).
    #[arg(long, requires = "name")]
    pub(crate) www_link: bool,
    /// Run only on these CPUs (`0`, `0-3`, `0,2`).
    #[arg(long)]
    pub(crate) cpus: Option<harness::affinity::CpuList>,
    /// Serve over TLS (https://), TLS 1.3 and 1.2, with session tickets: the certificate
    /// names localhost, --name (and www.NAME) and the addresses, signed by a CA made at start.
    #[arg(help_heading = SERVE_TLS, long)]
    pub(crate) tls: bool,
    /// Write the CA's certificate (PEM) to FILE, before the address is announced; give it to
    /// the crawler (`--ca-file`) or `curl --cacert`.
    #[arg(help_heading = SERVE_TLS, long, value_name = "FILE", requires = "tls")]
    pub(crate) ca_out: Option<PathBuf>,
    /// Also start one listener per TLS fault (expired, wrong name, untrusted issuer, stalled
    /// handshake, garbage record), on free ports, with the same CA; each is announced after
    /// the sites as `tls fault NAME on URL: OUTCOME (REASON)`.
    #[arg(help_heading = SERVE_TLS, long, requires = "tls")]
    pub(crate) tls_faults: bool,
    /// Also serve the site over plain http at ADDR (port 0: a free one; with --sites, the
    /// next ports), announced as `plain twin on URL`; with --faults, the TLS root links a
    /// redirect to the twin and back (crawl both roots).
    #[arg(help_heading = SERVE_TLS, long, value_name = "ADDR", requires = "tls")]
    pub(crate) plain_twin: Option<SocketAddr>,
    /// Close each connection after N responses, without a word: the client's next request
    /// on it meets the end of the stream (the race of RFC 9112 section 9.3.1). Default: no
    /// limit.
    #[arg(help_heading = SERVE_KEEP_ALIVE, long, value_name = "N", value_parser = at_least_1)]
    pub(crate) max_requests: Option<u64>,
    /// With --max-requests: say `Connection: close` on the N-th response instead.
    #[arg(help_heading = SERVE_KEEP_ALIVE, long, requires = "max_requests")]
    pub(crate) announce_close: bool,
    /// Close a kept connection that sends no request for this many milliseconds.
    #[arg(help_heading = SERVE_KEEP_ALIVE, long, value_name = "MS",
          default_value_t = c10k_testsite::DEFAULT_IDLE.as_millis() as u64, value_parser = at_least_1)]
    pub(crate) idle_ms: u64,
    /// A fraction P (0 to 1) of the requests for the site's pages meet a fault, drawn from
    /// (--seed, the path, the request's try: the n-th request for a path is its try n).
    /// robots.txt, the fault pages and the busy pages are left alone.
    #[arg(help_heading = SERVE_CHAOS, long, value_name = "P", value_parser = rate)]
    pub(crate) chaos: Option<f64>,
    /// The faults chaos draws from (comma-separated; default: all): reset,
    /// reset-in-headers, reset-in-body, stall, drip, close-in-headers, 503, 429,
    /// wrong-length, unread.
    #[arg(help_heading = SERVE_CHAOS, long, value_name = "LIST", requires = "chaos",
          value_parser = chaos_faults)]
    pub(crate) chaos_faults: Option<ChaosFaults>,
    /// The crawler's --max-tries the manifest assumes: a URL ends with the page of its first
    /// try without a fault, or else with its last try's fault.
    #[arg(help_heading = SERVE_CHAOS, long, value_name = "N", requires = "chaos",
          default_value_t = c10k_testsite::chaos::DEFAULT_MAX_TRIES, value_parser = at_least_1_u32)]
    pub(crate) max_tries: u32,
}

/// The faults of `--chaos-faults`.
#[derive(Debug, Clone)]
pub(crate) struct ChaosFaults(pub(crate) Vec<c10k_testsite::ChaosFault>);

fn chaos_faults(list: &str) -> Result<ChaosFaults, String> {
    c10k_testsite::chaos::parse_faults(list).map(ChaosFaults)
}

/// A fraction from 0 to 1.
fn rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    c10k_testsite::chaos::per_million(rate)?;
    Ok(rate)
}

/// The `serve --help` heading of the chaos flags.
const SERVE_CHAOS: &str = "Chaos (faults at random, the same on every run)";
/// The `serve --help` heading of the TLS flags.
const SERVE_TLS: &str = "TLS";
/// The `serve --help` heading of the connection flags. An HTTP/1.1 request keeps its
/// connection; HTTP/1.0, or `Connection: close`, gets one response and the close.
const SERVE_KEEP_ALIVE: &str = "Keep-alive (HTTP/1.1 requests keep their connection)";

/// A count that must be positive, with a plain message when it is not.
pub(crate) fn at_least_1(text: &str) -> Result<u64, String> {
    match text.parse::<i128>() {
        Ok(n) if n >= 1 => u64::try_from(n).map_err(|_| format!("{n} is too large")),
        Ok(n) => Err(format!("must be at least 1, not {n}")),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// A count that may be 0, with a plain message when it is not a count.
pub(crate) fn whole_number(text: &str) -> Result<u64, String> {
    match text.parse::<i128>() {
        Ok(n) if n >= 0 => u64::try_from(n).map_err(|_| format!("{n} is too large")),
        Ok(n) => Err(format!("must not be negative, not {n}")),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// `HOST:PORT:ADDR`, as curl's `--resolve` (an IPv6 address may be in brackets).
pub(crate) fn resolve_entry(text: &str) -> Result<(String, u16, IpAddr), String> {
    let mut parts = text.splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{text:?} is not HOST:PORT:ADDR"));
    };
    let port = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port"))?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    if host.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    Ok((host.to_ascii_lowercase(), port, addr))
}

/// A positive count, or one per core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    /// One per core this process may run on, counted when the count is needed: after
    /// `--cpus` has pinned the process, not when the arguments are read.
    Auto,
    Exactly(u64),
}

impl Count {
    pub(crate) fn get(self) -> usize {
        match self {
            Count::Auto => cores(),
            Count::Exactly(n) => usize::try_from(n).unwrap_or(usize::MAX),
        }
    }
}

/// A positive count, or `auto`: one per core.
pub(crate) fn count_or_auto(text: &str) -> Result<Count, String> {
    if text == "auto" {
        Ok(Count::Auto)
    } else {
        at_least_1(text).map(Count::Exactly)
    }
}

/// The cores this process may run on (its affinity mask, which `taskset` narrows).
pub(crate) fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

pub(crate) fn at_least_1_u32(text: &str) -> Result<u32, String> {
    let n = at_least_1(text)?;
    u32::try_from(n).map_err(|_| format!("{n} is too large"))
}
