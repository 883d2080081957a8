//! What a crawl is asked to do: the root, its scope, and the limits every strategy obeys.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Live counters a crawl keeps up to date for observers on other threads (a progress bar, a
/// memory sampler). Relaxed atomics: each is exact on its own, not consistent with the other.
///
/// A crawl split into shards ([`crate::shard`]) gives each shard gauges of its own, on a cache
/// line of its own, so that no two cores write the same line per fetch; [`Gauges::ended`] and
/// [`Gauges::in_flight`] add them up for the observer.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Gauges {
    /// URLs that ended (fetched, failed or skipped).
    pub ended: AtomicU64,
    /// Fetches in flight now.
    pub in_flight: AtomicU64,
    /// The gauges of the shards of the latest sharded crawl; read only by observers.
    shards: Mutex<Vec<Arc<Gauges>>>,
}

impl Gauges {
    /// URLs that ended, over every shard.
    pub fn ended(&self) -> u64 {
        self.sum(|gauges| gauges.ended.load(Ordering::Relaxed))
    }

    /// Fetches in flight now, over every shard.
    pub fn in_flight(&self) -> u64 {
        self.sum(|gauges| gauges.in_flight.load(Ordering::Relaxed))
    }

    /// New gauges for each of `shards` shards, which [`Gauges::ended`] and
    /// [`Gauges::in_flight`] then include.
    pub(crate) fn split(&self, shards: usize) -> Vec<Arc<Gauges>> {
        let split: Vec<_> = (0..shards).map(|_| Arc::default()).collect();
        *self.shards.lock().unwrap_or_else(PoisonError::into_inner) = split.clone();
        split
    }

    fn sum(&self, gauge: impl Fn(&Gauges) -> u64) -> u64 {
        let shards = self.shards.lock().unwrap_or_else(PoisonError::into_inner);
        gauge(self) + shards.iter().map(|shard| gauge(shard)).sum::<u64>()
    }
}

use std::{
    collections::HashMap,
    fmt,
    sync::{OnceLock, atomic::AtomicBool},
    time::SystemTime,
};

use rustls::ClientConfig;

use regex::Regex;
use url::{Host, Url};

use crate::{
    error::{FetchError, Skip},
    journal::{Journal, Resume, Spools},
    report::Record,
    tls::TlsOptions,
    trace::{Event, FetchId, Tracer},
};

/// Which hosts are in scope, given the roots' (the 500 Lines crawler's `--strict` and
/// `--lenient`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostMatch {
    /// The exact host of a root: scope is the roots' origins (scheme, host, port).
    #[default]
    Strict,
    /// Any host with the same registrable domain as a root's (by the Public Suffix List:
    /// `www.example.co.uk` and `example.co.uk` match, `other.co.uk` does not), on that root's
    /// port. An IP address matches only itself.
    Lenient,
}

/// Finds the address of a host the caller did not resolve beforehand (a subdomain that
/// `--lenient` lets in). The core does no I/O: whatever this does (a DNS lookup, a fixed
/// table) is the caller's, and it is asked at most once per host and shard, on the thread
/// or loop that first meets the host — so a slow lookup stalls that loop once. (A crawler of
/// many subdomains would resolve ahead, off the loop; the command line's lookup is the
/// system's, blocking, which is fine for the few subdomains a site has.)
#[derive(Clone)]
pub struct Resolver(pub Arc<Resolve>);

/// What a [`Resolver`] calls: host (without brackets) and port in, an address out if any.
pub type Resolve = dyn Fn(&str, u16) -> Option<SocketAddr> + Send + Sync;

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver(..)")
    }
}

/// Receives every [`Record`] the moment its URL ends (`--jsonl`). It runs on the thread or
/// loop that completed the fetch, inside the frontier's step, so it should be quick.
///
/// It tells what happened as it happened: a URL first refused for a long redirect chain and
/// reached later through a shorter one is told twice (the later record is the one the report
/// keeps), and with shards a page's `new_links` counts the links new to its own shard.
#[derive(Clone)]
pub struct RecordSink(pub Arc<dyn Fn(&Record) + Send + Sync>);

impl fmt::Debug for RecordSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordSink(..)")
    }
}

/// The settings of one crawl, shared read-only by every strategy.
///
/// The core does no I/O, so it does not resolve host names: the caller resolves each root's
/// host and passes the addresses in ([`Config::new`], [`Config::add_root`]); every fetch
/// connects to the address of its own URL's host ([`crate::Fetch::addr`]). Hosts that are
/// not a root's (subdomains under [`HostMatch::Lenient`]) are asked of [`Config::resolver`];
/// without one they end as [`crate::ErrorKind::Resolve`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The first root; the report names it.
    pub root: Url,
    /// Where the first root's host listens.
    pub addr: SocketAddr,
    /// The other roots, crawled too ([`Config::add_root`]); their origins are in scope.
    pub more_roots: Vec<Url>,
    /// The address of each root's host, by `host:port`.
    pub addrs: HashMap<String, SocketAddr>,
    /// Which hosts are in scope.
    pub host_match: HostMatch,
    /// Asked for the hosts not in [`Config::addrs`].
    pub resolver: Option<Resolver>,
    /// How many fetches may be in flight at once.
    pub concurrency: usize,
    /// Stop enqueueing new URLs once this many fetches have been started.
    pub max_pages: usize,
    /// How many redirects one chain may follow before the target is an error.
    pub max_redirects: u32,
    /// How many times a transport failure, a 429 or a 503 is tried before it is recorded.
    pub max_tries: u32,
    /// The first wait before a retry; each further one doubles it (with jitter), up to
    /// [`Config::max_wait`]. A `Retry-After` replaces it.
    pub backoff: Duration,
    /// The longest wait before a retry: a longer `Retry-After` is cut to this.
    pub max_wait: Duration,
    /// Seed of the backoff's jitter: the same seed, the same waits.
    pub jitter_seed: u64,
    /// The wall clock a `Retry-After` date is read against when the response has no `Date`
    /// header. A clock the caller gives the core: tests give a fixed one.
    pub wall_clock: fn() -> SystemTime,
    /// Deadline for establishing the connection.
    pub connect_timeout: Duration,
    /// Deadline for the whole fetch, connect included.
    pub timeout: Duration,
    /// URLs whose text matches are skipped.
    pub exclude: Option<Regex>,
    /// Caps on what a response may make the crawler hold.
    pub limits: Limits,
    /// If set, kept up to date as the crawl goes.
    pub gauges: Option<Arc<Gauges>>,
    /// If set, told of every record as it is made (unless there is a journal, which tells
    /// its own sink once the record is kept).
    pub sink: Option<RecordSink>,
    /// If set, handed every change to the crawl's durable state ([`crate::journal`]).
    pub journal: Option<Journal>,
    /// If set, the crawl starts from what an earlier one left ([`crate::journal`]).
    pub restore: Option<Arc<dyn Resume>>,
    /// If set (with a [`Config::journal`]), the crawl keeps fingerprints rather than URLs and
    /// spools the URLs it queues ([`crate::journal::Spools`]); its report holds no records.
    pub spools: Option<Spools>,
    /// Once set, no fetch is handed out: the crawl ends when those in flight have ended
    /// (a strategy waiting only on a timer notices at its wake, within [`Config::max_wait`]).
    pub stop: Option<Arc<AtomicBool>>,
    /// Fetch each origin's robots.txt first and obey it (see [`crate::robots`]).
    pub robots: bool,
    /// At most this many fetches in flight to one host (origin), over the whole crawl.
    pub per_host: Option<usize>,
    /// The least time between two requests to one host; a `Crawl-delay` raises it.
    pub delay: Duration,
    /// Rounds of [`crate::work::work`] done for every HTML page after it is parsed.
    pub work_rounds: u64,
    /// If set, every event of every fetch is written to it (`c10k crawl --trace`).
    pub trace: Option<Arc<Tracer>>,
    /// How `https:` URLs are verified and resumed ([`crate::tls`]).
    pub tls: TlsOptions,
    /// The TLS client configuration built from [`Config::tls`] when first needed: one per
    /// shard, each with its own session store ([`Config::tls_client`]).
    tls_client: OnceLock<Arc<ClientConfig>>,
    /// Keep a connection open after its response and send the origin's next request on it
    /// (`--connections keep-alive`, HTTP/1.1); else one connection per fetch, HTTP/1.0 with
    /// `Connection: close`, the lecture's crawler.
    pub keep_alive: bool,
    /// How long an idle kept connection may wait for its next request (`--idle-ms`).
    pub idle: Duration,
}

/// Caps on one response, enforced by the [`crate::ResponseReader`] (which also caps the
/// header count at [`crate::MAX_HEADERS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of status line plus headers.
    pub max_head: usize,
    /// Bytes of decoded body.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 64 * 1024,
            max_body: 10 * 1024 * 1024,
        }
    }
}

/// The longest URL the crawler will put in a request line.
pub const MAX_URL_LEN: usize = 8 * 1024;

/// Why a root URL cannot start a crawl.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    /// The text does not parse as an absolute URL.
    #[error("invalid URL {0:?}: {1}")]
    Invalid(String, url::ParseError),
    /// The URL is not `http:`.
    #[error("unsupported scheme {0:?} (only http and https are crawled)")]
    Scheme(String),
    /// The URL has no host to connect to.
    #[error("URL {0:?} has no host")]
    NoHost(String),
}

/// Why a [`Config`] cannot run a crawl.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A concurrency of 0 would never start a fetch: the crawl would wait forever.
    #[error("concurrency must be at least 1")]
    NoConcurrency,
    /// A per-host cap of 0 would never fetch anything.
    #[error("the per-host limit must be at least 1")]
    NoPerHost,
    /// A root's host has no address in [`Config::addrs`].
    #[error("no address for the root {0}")]
    NoAddress(String),
}

impl From<ConfigError> for std::io::Error {
    fn from(err: ConfigError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, err)
    }
}

/// Parses and checks the root URL of a crawl, in the normal form every link is compared in
/// (no fragment, no user info, percent-encoding normalised).
pub fn parse_root(text: &str) -> Result<Url, RootError> {
    let mut url = Url::parse(text).map_err(|e| RootError::Invalid(text.to_owned(), e))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(RootError::Scheme(url.scheme().to_owned()));
    }
    if url.host().is_none() {
        return Err(RootError::NoHost(text.to_owned()));
    }
    crate::urls::normalize(&mut url);
    Ok(url)
}

/// `host:port` of `url`, the key of [`Config::addrs`].
pub(crate) fn host_port(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(80)
    )
}

/// The registrable domain of `host` (the Public Suffix List's "domain": one label more than
/// the public suffix); the host itself for an IP address or a name with no known suffix.
fn registrable(host: &Host<&str>) -> String {
    match host {
        Host::Domain(name) => psl::domain_str(name).unwrap_or(name).to_owned(),
        other => other.to_string(),
    }
}

impl Config {
    /// A crawl of `root` (already checked by [`parse_root`]) at `addr`, with default limits.
    pub fn new(root: Url, addr: SocketAddr) -> Config {
        Config {
            addrs: HashMap::from([(host_port(&root), addr)]),
            root,
            addr,
            more_roots: Vec::new(),
            host_match: HostMatch::Strict,
            resolver: None,
            concurrency: 100,
            max_pages: usize::MAX,
            max_redirects: 10,
            max_tries: 4,
            backoff: Duration::from_millis(100),
            max_wait: Duration::from_secs(60),
            jitter_seed: 0,
            wall_clock: SystemTime::now,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            exclude: None,
            limits: Limits::default(),
            gauges: None,
            sink: None,
            journal: None,
            restore: None,
            spools: None,
            stop: None,
            robots: true,
            per_host: None,
            delay: Duration::ZERO,
            work_rounds: 0,
            trace: None,
            tls: TlsOptions::default(),
            tls_client: OnceLock::new(),
            keep_alive: false,
            idle: Duration::from_secs(5),
        }
    }

    /// The TLS client configuration of this crawl (of this shard, when split), built from
    /// [`Config::tls`] when first asked for.
    pub fn tls_client(&self) -> Result<Arc<ClientConfig>, FetchError> {
        if let Some(client) = self.tls_client.get() {
            return Ok(Arc::clone(client));
        }
        let client = self.tls.client_config().map_err(FetchError::Tls)?;
        Ok(Arc::clone(self.tls_client.get_or_init(|| client)))
    }

    /// Forgets the TLS client configuration built so far, so that this copy (a shard's) builds
    /// its own, with its own session store.
    pub(crate) fn own_tls_client(&mut self) {
        self.tls_client = OnceLock::new();
    }

    /// Writes `event` of fetch `id` to the trace, if there is one: one `Option` check when
    /// tracing is off, so every strategy calls it at each step of a fetch.
    #[inline]
    pub fn trace(&self, id: FetchId, event: Event<'_>) {
        if let Some(tracer) = &self.trace {
            tracer.event(id, event);
        }
    }

    /// Adds a root (already checked by [`parse_root`]) whose host listens at `addr`.
    pub fn add_root(&mut self, root: Url, addr: SocketAddr) {
        self.addrs.insert(host_port(&root), addr);
        if root != self.root && !self.more_roots.contains(&root) {
            self.more_roots.push(root);
        }
    }

    /// Every root, the first first.
    pub fn roots(&self) -> impl Iterator<Item = &Url> {
        std::iter::once(&self.root).chain(&self.more_roots)
    }

    /// Whether a crawl can run with these settings; every strategy asks before it starts.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::NoConcurrency);
        }
        if self.per_host == Some(0) {
            return Err(ConfigError::NoPerHost);
        }
        if let Some(root) = self
            .roots()
            .find(|r| !self.addrs.contains_key(&host_port(r)))
        {
            return Err(ConfigError::NoAddress(root.to_string()));
        }
        Ok(())
    }

    /// The address of `url`'s host if the caller gave it: the first root's, or another
    /// root's; `None` for a host only a [`Resolver`] may know.
    pub(crate) fn known_addr(&self, url: &Url) -> Option<SocketAddr> {
        // The first root's origin, most URLs' in most crawls: one compare of the normalised
        // `http://host:port` prefixes, no string built.
        if url[..url::Position::BeforePath] == self.root[..url::Position::BeforePath] {
            return Some(self.addr);
        }
        self.addrs.get(&host_port(url)).copied()
    }

    /// Why `url` must not be fetched, or `None` when it is in scope.
    pub fn out_of_scope(&self, url: &Url) -> Option<Skip> {
        self.out_of_scope_as(url, url.as_str())
    }

    /// [`Config::out_of_scope`] for the URL whose text is `text` and whose origin is `on`'s
    /// (a URL of the same scheme, host and port): the origin decides the scheme and the site,
    /// the text what `--exclude` matches.
    pub(crate) fn out_of_scope_as(&self, on: &Url, text: &str) -> Option<Skip> {
        if !matches!(on.scheme(), "http" | "https") {
            Some(Skip::Scheme)
        } else if !self.roots().any(|root| self.matches(root, on)) {
            Some(Skip::Origin)
        } else if self.exclude.as_ref().is_some_and(|re| re.is_match(text)) {
            Some(Skip::Excluded)
        } else {
            None
        }
    }

    /// Whether `url` (an `http:` or `https:` URL) is on `root`'s site, by
    /// [`Config::host_match`]. A site is its `http` and its `https` origin together: a URL
    /// with the other scheme is on it when both are on their scheme's default port
    /// (`http://host/` and `https://host/`, the move of most sites to TLS).
    fn matches(&self, root: &Url, url: &Url) -> bool {
        let same_port = (url.scheme() == root.scheme()
            && url.port_or_known_default() == root.port_or_known_default())
            || (url.port().is_none() && root.port().is_none());
        match self.host_match {
            // The origin's parts, compared in place (`Url::origin` would allocate two).
            HostMatch::Strict => same_port && url.host() == root.host(),
            HostMatch::Lenient => {
                let (Some(host), Some(root_host)) = (url.host(), root.host()) else {
                    return false;
                };
                same_port && (host == root_host || registrable(&host) == registrable(&root_host))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new(
            parse_root("http://Example.COM:80/a/").unwrap(),
            "127.0.0.1:80".parse().unwrap(),
        )
    }

    #[test]
    fn root_is_normalised_and_checked() {
        let root = parse_root("HTTP://Example.COM:80/a/../b#frag").unwrap();
        assert_eq!(root.as_str(), "http://example.com/b");
        // The same normal form as links: the root's record is the one a link to it finds.
        let root = parse_root("http://anon:pw@example.com/%7Eb%2f").unwrap();
        assert_eq!(root.as_str(), "http://example.com/~b%2F");
        assert_eq!(
            parse_root("HTTPS://Example.COM:443/").unwrap().as_str(),
            "https://example.com/"
        );
        assert!(matches!(
            parse_root("ftp://example.com/"),
            Err(RootError::Scheme(_))
        ));
        assert!(matches!(
            parse_root("not a url"),
            Err(RootError::Invalid(..))
        ));
    }

    #[test]
    fn scope_is_the_root_origin() {
        let mut config = config();
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(config.out_of_scope(&url("http://example.com/x")), None);
        assert_eq!(
            config.out_of_scope(&url("http://example.com:8080/x")),
            Some(Skip::Origin)
        );
        // The site's https origin is the site too (both on their default port), under
        // --strict as well; another port with the other scheme is another origin.
        assert_eq!(config.out_of_scope(&url("https://example.com/x")), None);
        assert_eq!(
            config.out_of_scope(&url("https://example.com:80/x")),
            Some(Skip::Origin)
        );
        assert_eq!(
            config.out_of_scope(&url("ftp://example.com/x")),
            Some(Skip::Scheme)
        );
        assert_eq!(
            config.out_of_scope(&url("mailto:me@example.com")),
            Some(Skip::Scheme)
        );
        config.exclude = Some(Regex::new(r"/private/").unwrap());
        assert_eq!(
            config.out_of_scope(&url("http://example.com/private/x")),
            Some(Skip::Excluded)
        );
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn several_roots_put_their_origins_in_scope() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut config = Config::new(url("http://a.example/"), addr);
        config.add_root(
            url("http://b.example:8080/x"),
            "127.0.0.1:2".parse().unwrap(),
        );
        assert_eq!(config.out_of_scope(&url("http://a.example/y")), None);
        assert_eq!(config.out_of_scope(&url("http://b.example:8080/y")), None);
        assert_eq!(
            config.out_of_scope(&url("http://b.example/y")),
            Some(Skip::Origin)
        );
        assert_eq!(
            config.known_addr(&url("http://b.example:8080/z")),
            Some("127.0.0.1:2".parse().unwrap())
        );
        assert_eq!(config.known_addr(&url("http://c.example/")), None);
        assert!(config.check().is_ok());
    }

    #[test]
    fn lenient_matches_the_registrable_domain_on_the_same_port() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut config = Config::new(url("http://www.example.co.uk/"), addr);
        assert_eq!(
            config.out_of_scope(&url("http://example.co.uk/")),
            Some(Skip::Origin)
        );
        config.host_match = HostMatch::Lenient;
        for inside in ["http://example.co.uk/", "http://a.b.example.co.uk/x"] {
            assert_eq!(config.out_of_scope(&url(inside)), None, "{inside}");
        }
        for outside in [
            "http://other.co.uk/",
            "http://example.co.uk:8080/",
            "http://co.uk/",
        ] {
            assert_eq!(
                config.out_of_scope(&url(outside)),
                Some(Skip::Origin),
                "{outside}"
            );
        }
        let mut config = Config::new(url("http://127.0.0.1:5/"), addr);
        config.host_match = HostMatch::Lenient;
        assert_eq!(
            config.out_of_scope(&url("http://127.0.0.2:5/")),
            Some(Skip::Origin)
        );
    }
}
