//! The plan: which crawls a sweep runs, on which test sites. The first step of the data's way
//! (plan → [`crate::runner`] → [`crate::results`] → [`crate::plot`]).

use serde::{Deserialize, Serialize};

use crate::Strategy;

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
    pub(crate) fn fixed(name: &str, pages: usize, delay_ms: u64) -> Site {
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
        // Page i links to pages i·L + 1 … i·L + L: all but the first 1/L of the pages are
        // leaves, with the one to three extra links every page has.
        format!(
            "{pages}, {delay}, {} tree links on each inner page, most pages leaves",
            self.links
        )
    }
}

/// The parts of a plan that can be run alone (`c10k compare --axes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Axis {
    /// The CPU-bound, latency-bound and memory sites at every C, with the reference rows and
    /// the server's ceiling; and the stalled connections.
    Sites,
    /// CPU work per page, inline and offloaded.
    Work,
    /// Instructions and system calls per page.
    Counts,
    /// The crawler on 1, 2, 4, … cores.
    Cores,
    /// http and https, closing and keeping connections (the TLS and connection axes).
    Connections,
    /// Faults at load: sites whose server fails a share of its requests.
    Chaos,
    /// The crawl's state on disk (`--state DIR`) beside the same crawl in memory.
    State,
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
    /// The crawler on 1, 2, 4, … cores.
    #[serde(default)]
    pub cores: Option<CoresAxis>,
    /// Instructions and system calls per page, counted in runs of their own.
    #[serde(default)]
    pub counts: Option<CountsAxis>,
    /// http and https, one connection per page or kept: the TLS axis and the connection
    /// axis.
    #[serde(default)]
    pub connections: Option<ConnectionsAxis>,
    /// C connections stalled at once (issue 27): the memory site with every page held long,
    /// crawled by each strategy's default form at its one C, to take the CPU each model
    /// spends while they all wait (timers, the reactor, the ring).
    #[serde(default)]
    pub stall: Option<SiteAt>,
    /// Faults at load (issue 27): sites served by `c10k serve --chaos`.
    #[serde(default)]
    pub chaos: Option<ChaosAxis>,
    /// The crawl's state on disk (issue 28): the CPU-bound site crawled in memory and with
    /// `--state DIR`, side by side.
    #[serde(default)]
    pub state: Option<StateAxis>,
}

/// The state axis's site: the CPU-bound site's shape under a name of its own, so that its
/// runs stay apart from the `cpu` site's.
pub const STATE_CPU: &str = "state-cpu";

/// The crawl's state on disk (issue 28): each strategy, in its default form and its parallel
/// forms, crawls [`StateAxis::site`] at its C twice in turn, in memory and with `--state DIR`
/// (a fresh directory for each crawl, removed after it), so that what keeping the state costs
/// is the ratio of the two rates. Nothing else differs: the same server, the same flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateAxis {
    /// The site: no delay, so that the store's cost per page is not hidden behind waits.
    pub site: Site,
    /// The concurrency both crawls run at.
    pub concurrency: usize,
    /// Rounds: every form's two crawls, once per round; each side's figure is its median
    /// crawl.
    #[serde(default = "one")]
    pub repeats: usize,
}

fn one() -> usize {
    1
}

impl StateAxis {
    /// A CPU-bound site of `pages` pages at C = `concurrency`, crawled `repeats` times each
    /// way.
    fn new(pages: usize, concurrency: usize, repeats: usize) -> StateAxis {
        StateAxis {
            site: Site::fixed(STATE_CPU, pages, 0),
            concurrency,
            repeats,
        }
    }
}

/// Faults at load: each site of [`ChaosAxis::sets`] served with a share of its requests meeting
/// a fault (`c10k serve --chaos P --seed S`), crawled at its C by each strategy in its
/// default form and its parallel forms. Each crawl's `--urls-out` is checked against the
/// server's expected outcomes (`serve --expected-urls`): nothing lost, nothing doubled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChaosAxis {
    /// The sites, each at its C and fault rates.
    pub sets: Vec<ChaosSet>,
    /// The draw's seed: the same faults on the same URLs and tries, for every crawl.
    pub seed: u64,
    /// `--max-tries` of the crawls (and of the server's expected outcomes).
    pub max_tries: u32,
    /// `--timeout-ms` of the crawls: what a stalled or dripping page costs.
    pub timeout_ms: u64,
    /// `--backoff-ms` of the crawls.
    pub backoff_ms: u64,
}

/// A site of the chaos axis, its C, and the shares of requests that meet a fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChaosSet {
    /// The site.
    pub site: Site,
    /// The concurrency it is crawled at.
    pub concurrency: usize,
    /// The fault rates, each a share of requests in [0, 1] (0: the same server, no fault).
    pub rates: Vec<f64>,
    /// `--timeout-ms` for this site, when not the axis's: it must stay far above what a good
    /// page takes at this C, or tries time out that the server answered, and the crawler's
    /// count of a URL's tries parts from the server's.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl ChaosAxis {
    /// The axis with its own `--timeout-ms` on every site.
    fn one_timeout(mut self) -> ChaosAxis {
        for set in &mut self.sets {
            set.timeout_ms = None;
        }
        self
    }
}

impl ChaosSet {
    /// The crawls' `--timeout-ms` on this site.
    pub fn timeout_ms(&self, axis: &ChaosAxis) -> u64 {
        self.timeout_ms.unwrap_or(axis.timeout_ms)
    }
}

/// The chaos axis's sites' names begin with this.
pub const CHAOS: &str = "chaos";

impl ChaosAxis {
    /// The CPU-bound site (`cpu_pages`, at `cpu_c`) and the latency-bound one (50 ms per
    /// response, `latency_pages` at `latency_c`) at 0, 1% and 10%; and the load site
    /// (`load_pages` at `load_c`) at 0, 5% and 50%.
    fn standard(
        (cpu_pages, cpu_c): (usize, usize),
        (latency_pages, latency_c): (usize, usize),
        (load_pages, load_c): (usize, usize),
    ) -> ChaosAxis {
        let rates = vec![0.0, 0.01, 0.10];
        ChaosAxis {
            sets: vec![
                ChaosSet {
                    site: Site::fixed("chaos-cpu", cpu_pages, 0),
                    concurrency: cpu_c,
                    rates: rates.clone(),
                    timeout_ms: None,
                },
                ChaosSet {
                    site: Site::fixed("chaos-latency", latency_pages, 50),
                    concurrency: latency_c,
                    rates,
                    timeout_ms: None,
                },
                // At C = 10,000 a good page's p99 reached 1 s in the parallel forms (the
                // reference run of 2026-12-06T05-48-09Z): five times that.
                ChaosSet {
                    site: Site::fixed("chaos-load", load_pages, 0),
                    concurrency: load_c,
                    rates: vec![0.0, 0.05, 0.5],
                    timeout_ms: Some(5000),
                },
            ],
            // A seed whose draw leaves every site's root up at every rate (a crawl whose root
            // failed would measure nothing).
            seed: 7,
            max_tries: 4,
            timeout_ms: 1000,
            backoff_ms: 50,
        }
    }
}

/// The stalled-connections site.
pub const STALL: &str = "stall";

impl SiteAt {
    /// The stalled-connections site: `width` pages held `delay_ms` each, crawled at C =
    /// `width`, so all of them wait together for most of `delay_ms`.
    pub fn stall(width: usize, delay_ms: u64) -> SiteAt {
        let mut site = Site::memory(width, delay_ms, 1);
        site.name = STALL.into();
        SiteAt {
            site,
            concurrencies: vec![width],
        }
    }
}

/// How a crawl reaches the server: over TLS or not, one connection per page or connections
/// kept for the origin's next pages, and (over TLS) whether sessions are resumed.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Transport {
    /// https, with the test server's own CA given to the crawler (`--ca-file`).
    pub tls: bool,
    /// `--connections keep-alive`: a pool per origin.
    pub keep_alive: bool,
    /// `--no-resume`: every TLS connection a full handshake.
    pub no_resume: bool,
}

impl Transport {
    /// What every crawl did before this axis: http, a connection per page.
    pub const HTTP_CLOSE: Transport = Transport {
        tls: false,
        keep_alive: false,
        no_resume: false,
    };
    /// http, connections kept.
    pub const HTTP_KEEP_ALIVE: Transport = Transport {
        keep_alive: true,
        ..Transport::HTTP_CLOSE
    };
    /// https, a connection per page, sessions resumed (the crawler's default over https).
    pub const HTTPS_CLOSE: Transport = Transport {
        tls: true,
        ..Transport::HTTP_CLOSE
    };
    /// https, a connection per page, each a full handshake.
    pub const HTTPS_CLOSE_NO_RESUME: Transport = Transport {
        no_resume: true,
        ..Transport::HTTPS_CLOSE
    };
    /// https, connections kept: one handshake per connection, not per page.
    pub const HTTPS_KEEP_ALIVE: Transport = Transport {
        keep_alive: true,
        ..Transport::HTTPS_CLOSE
    };
    /// Every transport, in the order the axis crawls them.
    pub const ALL: [Transport; 5] = [
        Transport::HTTP_CLOSE,
        Transport::HTTP_KEEP_ALIVE,
        Transport::HTTPS_CLOSE,
        Transport::HTTPS_CLOSE_NO_RESUME,
        Transport::HTTPS_KEEP_ALIVE,
    ];

    /// `http close`, `https keep-alive`, `https close, no resumption`.
    pub fn name(self) -> String {
        format!(
            "{} {}{}",
            if self.tls { "https" } else { "http" },
            if self.keep_alive {
                "keep-alive"
            } else {
                "close"
            },
            if self.no_resume {
                ", no resumption"
            } else {
                ""
            }
        )
    }

    /// A short suffix for a variant's name: empty for http close, else `+https`,
    /// `+keep-alive`, `+https+keep-alive`, `+https+no-resume`.
    pub fn suffix(self) -> String {
        let mut suffix = String::new();
        if self.tls {
            suffix.push_str("+https");
        }
        if self.keep_alive {
            suffix.push_str("+keep-alive");
        }
        if self.no_resume {
            suffix.push_str("+no-resume");
        }
        suffix
    }

    /// The `c10k crawl` flags that make it, besides the root's scheme and `--ca-file`.
    pub fn crawl_args(self) -> Vec<String> {
        let mut args = Vec::new();
        if self.keep_alive {
            args.extend(["--connections".to_owned(), "keep-alive".to_owned()]);
        }
        if self.no_resume {
            args.push("--no-resume".to_owned());
        }
        args
    }
}

/// The connection axis's CPU-bound site.
pub const CONN_CPU: &str = "conn-cpu";
/// The connection axis's latency-bound site.
pub const CONN_LATENCY: &str = "conn-latency";
/// The memory site over https.
pub const TLS_MEMORY: &str = "tls-memory";
/// The site of keep-alive on one core.
pub const CONN_ONE_CORE: &str = "conn-one-core";
/// Pages of the one-core site per connection at its C: enough that the crawl is the C kept
/// connections at work, not their opening, the breadth-first ramp from the root or the tail.
pub const ONE_CORE_PAGES_PER_CONNECTION: usize = 100;

/// A site of an axis, and the concurrencies it is crawled with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteAt {
    /// The site.
    pub site: Site,
    /// Its concurrencies.
    pub concurrencies: Vec<usize>,
}

/// The TLS axis (issue 25) and the connection axis (issue 26), crawled on the same sites so
/// that every transport has the others beside it at the same C: each strategy, in its
/// default form and its parallel forms (a loop or runtime thread per core, unpinned, as the
/// cores axis's top step), crawls each site at each of its C over every [`Transport`].
///
/// Beside the crawls: the memory site over https (memory per in-flight TLS connection), a
/// keep-alive crawl on one core (the crawler pinned apart from the server), and `wrk`'s
/// rates over http and https, closing and keeping connections, with as many threads as cores
/// and with one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionsAxis {
    /// The CPU-bound site (`conn-cpu`, no delay; `wrk` loads its server too) and the
    /// latency-bound one (`conn-latency`).
    pub sites: Vec<SiteAt>,
    /// The transports every site is crawled over.
    pub transports: Vec<Transport>,
    /// The memory site over https (`tls-memory`), crawled by each strategy's default form
    /// with sessions resumed: the RSS each in-flight TLS connection adds.
    pub tls_memory: Option<SiteAt>,
    /// Keep-alive on one core: [`ConnectionsAxis::one_core_site`] crawled over http
    /// keep-alive by each strategy's default form at this C, pinned to one CPU and the server
    /// to the others (when there are at least two).
    pub one_core: Option<usize>,
    /// The site of the one-core crawls: CPU-bound, [`ONE_CORE_PAGES_PER_CONNECTION`] pages per
    /// connection. Plans written before it (`None`) crawled the CPU-bound site there, 10
    /// pages per connection at C = 1,000, so that a tenth of the requests opened a connection
    /// and the breadth-first ramp from the root and the tail weighed on the rate.
    #[serde(default)]
    pub one_core_site: Option<Site>,
    /// A crawl of this axis still running after this many seconds is killed and recorded as
    /// failed (shorter than the plan's: a model that stalls on a transport it does not
    /// support yet costs this, not five minutes).
    pub run_timeout_s: u64,
    /// The crawls with a TLS handshake per page (https, closing connections) stop after this
    /// many pages (`--max-pages`): a handshake costs tens of times a plain page, and the
    /// whole site at that price would be most of the sweep's time.
    #[serde(default)]
    pub handshake_pages: Option<usize>,
    /// Rounds of the CPU-bound site's http crawls, closing and keeping connections (whose
    /// figures the keep-alive targets are held to): each round crawls every form at every C
    /// over both, and each (form, C, transport) is recorded as its median crawl, every
    /// round's rate beside it ([`crate::connections::collapse_rounds`]). A crawl there takes
    /// a tenth of a second, and on a shared machine one alone moves by a fifth from run to
    /// run, or by a half (keeping connections, 60-140K/s on one machine in one hour): the
    /// standard plans take the median of 5, where 3 still left a target's verdict to chance.
    /// wrk loads the server at the start of each round, and a target weighs each round's
    /// figure against the same round's ([`crate::connections::Ratio`]). Plans written before
    /// it (1) crawled them once.
    ///
    /// The crawls on one core run in as many rounds of their own, each over every strategy,
    /// and are weighed against threads the same way. Sweeps up to
    /// results/2026-12-07T22-03-44Z-full crawled them once whatever their rounds.
    #[serde(default = "one")]
    pub rounds: usize,
}

impl Transport {
    /// Whether every page over it costs a TLS handshake (https, a connection per page).
    pub fn handshake_per_page(self) -> bool {
        self.tls && !self.keep_alive
    }
}

impl ConnectionsAxis {
    /// The axis with `pages` pages on the CPU-bound site at `cpu_cs`, the latency-bound site
    /// (50 ms per response, `latency_pages` within `[min, max]` as 10·C) at `latency_cs`, the
    /// memory site over https `tls_memory` wide, and keep-alive on one core at `one_core`.
    fn standard(
        pages: usize,
        cpu_cs: &[usize],
        latency_pages: (usize, usize),
        latency_cs: &[usize],
        tls_memory: (usize, u64, &[usize]),
        one_core: usize,
    ) -> ConnectionsAxis {
        let (width, delay_ms, memory_cs) = tls_memory;
        let mut latency = Site::latency(50, latency_pages.0, latency_pages.1);
        latency.name = CONN_LATENCY.into();
        let mut memory = Site::memory(width, delay_ms, 1);
        memory.name = TLS_MEMORY.into();
        ConnectionsAxis {
            sites: vec![
                SiteAt {
                    site: Site::fixed(CONN_CPU, pages, 0),
                    concurrencies: cpu_cs.to_vec(),
                },
                SiteAt {
                    site: latency,
                    concurrencies: latency_cs.to_vec(),
                },
            ],
            transports: Transport::ALL.to_vec(),
            tls_memory: Some(SiteAt {
                site: memory,
                concurrencies: memory_cs.to_vec(),
            }),
            one_core: Some(one_core),
            one_core_site: Some(Site::fixed(
                CONN_ONE_CORE,
                one_core * ONE_CORE_PAGES_PER_CONNECTION,
                0,
            )),
            run_timeout_s: 120,
            handshake_pages: None,
            rounds: 5,
        }
    }

    /// The CPU-bound site of the axis: the first without delay.
    pub fn cpu_site(&self) -> Option<&Site> {
        self.sites
            .iter()
            .map(|s| &s.site)
            .find(|site| site.delay_ms == 0)
    }

    /// The site crawled on one core: its own, or in older plans the CPU-bound site.
    pub fn one_core_site(&self) -> Option<&Site> {
        self.one_core_site.as_ref().or_else(|| self.cpu_site())
    }
}

/// The counted runs: each strategy crawling a CPU-bound site at each concurrency, once under
/// `perf stat` and once under callgrind (see [`crate::counts`]), never timed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountsAxis {
    /// The site crawled.
    pub site: Site,
    /// Concurrency limits.
    pub concurrencies: Vec<usize>,
    /// The concurrencies counted again with connections kept (`--connections keep-alive`).
    #[serde(default)]
    pub keep_alive: Vec<usize>,
}

impl CountsAxis {
    fn new(pages: usize, concurrencies: &[usize], keep_alive: &[usize]) -> CountsAxis {
        CountsAxis {
            site: Site::fixed("counts", pages, 0),
            concurrencies: concurrencies.to_vec(),
            keep_alive: keep_alive.to_vec(),
        }
    }
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

/// The cores axis: the same CPU-bound crawl with the crawler on k cores, for k = 1, 2, 4, …
/// up to the cores this process may use. Below that the crawler is pinned to the first k
/// cores and the test server to the others (so the two never share a core); at the top both
/// run unpinned on every core. Threads run at the same C; callbacks, generators and uring
/// with k loops; async per-core and work-stealing with k threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoresAxis {
    /// The site crawled.
    pub site: Site,
    /// At this concurrency.
    pub concurrency: usize,
    /// The crawler's cores, ascending; the last one is "every core, unpinned".
    pub cores: Vec<usize>,
}

/// Where the crawler and the server of one step of the cores axis run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CoresStep {
    /// The crawler's cores (its loops and threads).
    pub cores: usize,
    /// The crawler's CPUs, or `None`: unpinned.
    pub crawler_cpus: Option<Vec<usize>>,
    /// The server's CPUs, or `None`: unpinned.
    pub server_cpus: Option<Vec<usize>>,
    /// The server's runtime threads.
    pub server_threads: usize,
}

impl CoresStep {
    /// How the step is pinned, for the results: `crawler on CPUs 0, server on CPUs 1`.
    pub fn pinning(&self) -> String {
        match (&self.crawler_cpus, &self.server_cpus) {
            (Some(crawler), Some(server)) => format!(
                "crawler on CPUs {}, server on CPUs {}",
                crate::affinity::format_cpus(crawler),
                crate::affinity::format_cpus(server)
            ),
            _ => "unpinned".to_owned(),
        }
    }
}

impl CoresAxis {
    /// 1, 2, 4, … below `available` cores, then `available` itself.
    pub fn steps_up_to(available: usize) -> Vec<usize> {
        let mut cores: Vec<usize> = std::iter::successors(Some(1), |k| Some(k * 2))
            .take_while(|&k| k < available)
            .collect();
        cores.push(available.max(1));
        cores
    }

    /// The axis on the cores this process may use now, at C = `concurrency`, on a CPU-bound
    /// site of `pages` pages.
    fn standard(pages: usize, concurrency: usize) -> CoresAxis {
        let available = crate::affinity::allowed_cpus().map_or(1, |cpus| cpus.len());
        CoresAxis {
            site: Site::fixed("cores", pages, 0),
            concurrency,
            cores: CoresAxis::steps_up_to(available),
        }
    }

    /// Where the crawler and the server run when the crawler has `cores` of the `allowed`
    /// CPUs: pinned apart while some are left for the server, unpinned on all of them at the
    /// top (the server then gets half the cores' worth of threads).
    pub fn step(cores: usize, allowed: &[usize]) -> CoresStep {
        if cores < allowed.len() {
            CoresStep {
                cores,
                crawler_cpus: Some(allowed[..cores].to_vec()),
                server_cpus: Some(allowed[cores..].to_vec()),
                server_threads: allowed.len() - cores,
            }
        } else {
            CoresStep {
                cores,
                crawler_cpus: None,
                server_cpus: None,
                server_threads: (allowed.len() / 2).max(1),
            }
        }
    }
}

impl Plan {
    /// This plan with only `axes` (all of them when empty); the limits probe runs whatever
    /// the axes.
    pub fn only(mut self, axes: &[Axis]) -> Plan {
        if axes.is_empty() {
            return self;
        }
        let keep = |axis| axes.contains(&axis);
        if !keep(Axis::Sites) {
            self.sites.clear();
            self.stall = None;
        }
        if !keep(Axis::Work) {
            self.work = None;
        }
        if !keep(Axis::Counts) {
            self.counts = None;
        }
        if !keep(Axis::Cores) {
            self.cores = None;
        }
        if !keep(Axis::Connections) {
            self.connections = None;
        }
        if !keep(Axis::Chaos) {
            self.chaos = None;
        }
        if !keep(Axis::State) {
            self.state = None;
        }
        self
    }

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
            cores: Some(CoresAxis::standard(20_000, 100)),
            counts: Some(CountsAxis::new(2000, &[1, 100, 1000], &[100])),
            connections: Some(ConnectionsAxis {
                handshake_pages: Some(1000),
                ..ConnectionsAxis::standard(
                    10_000,
                    &[10, 100],
                    (100, 5000),
                    &[100, 1000],
                    (1000, 1000, &[200, 1000]),
                    1000,
                )
            }),
            stall: Some(SiteAt::stall(10_000, 3000)),
            chaos: Some(ChaosAxis::standard(
                (20_000, 100),
                (10_000, 1000),
                (50_000, 10_000),
            )),
            // The CPU-bound site's size.
            state: Some(StateAxis::new(20_000, 100, 3)),
        }
    }

    /// The criterion benches: the same concurrencies, smaller sites (each configuration is
    /// crawled ten times).
    pub fn criterion() -> Plan {
        Plan {
            name: "criterion".into(),
            sites: vec![Site::cpu(5000), Site::latency(50, 40, 10_000)],
            work: Some(WorkAxis::standard(500)),
            cores: Some(CoresAxis::standard(5000, 100)),
            counts: None,
            // The CPU-bound site alone, where the transports differ most.
            connections: Some(ConnectionsAxis {
                sites: vec![SiteAt {
                    site: Site::fixed(CONN_CPU, 2000, 0),
                    concurrencies: vec![100],
                }],
                transports: Transport::ALL.to_vec(),
                tls_memory: None,
                one_core: None,
                one_core_site: None,
                run_timeout_s: 120,
                handshake_pages: Some(300),
                // criterion repeats every configuration itself.
                rounds: 1,
            }),
            stall: None,
            chaos: None,
            state: None,
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
            cores: Some(CoresAxis::standard(2000, 100)),
            counts: Some(CountsAxis::new(1000, &[1, 100], &[100])),
            connections: Some(ConnectionsAxis {
                handshake_pages: Some(300),
                ..ConnectionsAxis::standard(
                    2000,
                    &[10, 100],
                    (100, 1000),
                    &[100],
                    (200, 300, &[50, 200]),
                    1000,
                )
            }),
            stall: Some(SiteAt::stall(1000, 1500)),
            // At C = 1,000 a good page stays far below the axis's timeout.
            chaos: Some(ChaosAxis::standard((2000, 100), (2000, 1000), (5000, 1000)).one_timeout()),
            state: Some(StateAxis::new(5000, 100, 3)),
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
            cores: Some(CoresAxis::standard(100, 10)),
            counts: Some(CountsAxis::new(50, &[10], &[10])),
            connections: Some(ConnectionsAxis {
                run_timeout_s: 60,
                // Two: enough to take the median path, and cheap on a site of 100 pages.
                rounds: 2,
                ..ConnectionsAxis::standard(100, &[10], (100, 100), &[10], (10, 20, &[1, 10]), 10)
            }),
            // Long enough for a figure (the stretch at the widest is at least 500 ms).
            stall: Some(SiteAt::stall(10, 800)),
            chaos: Some(
                ChaosAxis {
                    timeout_ms: 500,
                    ..ChaosAxis::standard((100, 10), (100, 10), (200, 50))
                }
                .one_timeout(),
            ),
            state: Some(StateAxis::new(100, 10, 1)),
            ..Plan::full()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_keeps_only_the_axes_asked_for() {
        let only = Plan::quick().only(&[Axis::Connections, Axis::Work]);
        assert!(only.sites.is_empty());
        assert!(only.counts.is_none() && only.cores.is_none());
        assert_eq!(only.work, Plan::quick().work);
        assert_eq!(only.connections, Plan::quick().connections);
        assert_eq!(Plan::quick().only(&[]), Plan::quick());
    }

    #[test]
    fn the_connection_axis_crawls_every_transport_on_its_cpu_bound_site() {
        for plan in [
            Plan::full(),
            Plan::quick(),
            Plan::smoke(),
            Plan::criterion(),
        ] {
            let axis = plan.connections.expect("a connection axis");
            assert_eq!(axis.transports, Transport::ALL);
            assert_eq!(axis.cpu_site().map(|s| s.name.as_str()), Some(CONN_CPU));
            if let Some(c) = axis.one_core {
                let site = axis.one_core_site().expect("a one-core site");
                assert_eq!(site.name, CONN_ONE_CORE);
                assert_eq!(site.pages_for(c), c * ONE_CORE_PAGES_PER_CONNECTION);
            }
        }
        assert_eq!(
            Transport::HTTPS_CLOSE_NO_RESUME.suffix(),
            "+https+no-resume"
        );
        assert_eq!(Transport::HTTP_CLOSE.suffix(), "");
        assert_eq!(
            Transport::HTTPS_KEEP_ALIVE.crawl_args(),
            ["--connections", "keep-alive"]
        );
        assert_eq!(
            Transport::HTTPS_CLOSE_NO_RESUME.name(),
            "https close, no resumption"
        );
    }

    #[test]
    fn every_plan_but_criterions_crawls_the_state_axis_on_a_site_of_its_own() {
        for plan in [Plan::full(), Plan::quick(), Plan::smoke()] {
            let axis = plan.state.expect("a state axis");
            assert_eq!(
                (axis.site.name.as_str(), axis.site.delay_ms),
                (STATE_CPU, 0)
            );
            assert!(plan.sites.iter().all(|s| s.name != STATE_CPU));
        }
        assert_eq!(Plan::full().state.map(|a| a.concurrency), Some(100));
        assert!(Plan::criterion().state.is_none());
        let only = Plan::quick().only(&[Axis::State]);
        assert!(only.sites.is_empty() && only.chaos.is_none() && only.connections.is_none());
        assert_eq!(only.state, Plan::quick().state);
    }

    #[test]
    fn the_cores_axis_doubles_up_to_every_core() {
        assert_eq!(CoresAxis::steps_up_to(1), [1]);
        assert_eq!(CoresAxis::steps_up_to(2), [1, 2]);
        assert_eq!(CoresAxis::steps_up_to(6), [1, 2, 4, 6]);
        assert_eq!(CoresAxis::steps_up_to(16), [1, 2, 4, 8, 16]);
    }

    #[test]
    fn crawler_and_server_are_pinned_apart_until_the_top_step() {
        let step = CoresAxis::step(1, &[0, 1]);
        assert_eq!(step.crawler_cpus, Some(vec![0]));
        assert_eq!(step.server_cpus, Some(vec![1]));
        assert_eq!(step.server_threads, 1);
        assert_eq!(step.pinning(), "crawler on CPUs 0, server on CPUs 1");
        let top = CoresAxis::step(2, &[0, 1]);
        assert_eq!((top.crawler_cpus, top.server_cpus), (None, None));
        assert_eq!(
            CoresAxis::step(4, &(0..16).collect::<Vec<_>>()).server_threads,
            12
        );
    }
}
