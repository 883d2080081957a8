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

use regex::Regex;
use url::Url;

use crate::{
    error::Skip,
    trace::{Event, FetchId, Tracer},
};

/// The settings of one crawl, shared read-only by every strategy.
///
/// The core does no I/O, so it does not resolve host names: the caller resolves the root's
/// host once and passes the address in [`Config::addr`]. Every fetch connects there, which
/// is correct because the scope is a single origin.
#[derive(Debug, Clone)]
pub struct Config {
    /// The first URL fetched; its origin is the scope of the crawl.
    pub root: Url,
    /// Where the root's host listens.
    pub addr: SocketAddr,
    /// How many fetches may be in flight at once.
    pub concurrency: usize,
    /// Stop enqueueing new URLs once this many fetches have been started.
    pub max_pages: usize,
    /// How many redirects one chain may follow before the target is an error.
    pub max_redirects: u32,
    /// How many times a transport failure is tried before it is recorded.
    pub max_tries: u32,
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
    /// Rounds of [`crate::work::work`] done for every HTML page after it is parsed.
    pub work_rounds: u64,
    /// If set, every event of every fetch is written to it (`c10k crawl --trace`).
    pub trace: Option<Arc<Tracer>>,
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
    #[error("unsupported scheme {0:?} (only http is crawled)")]
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
    if url.scheme() != "http" {
        return Err(RootError::Scheme(url.scheme().to_owned()));
    }
    if url.host().is_none() {
        return Err(RootError::NoHost(text.to_owned()));
    }
    crate::urls::normalize(&mut url);
    Ok(url)
}

impl Config {
    /// A crawl of `root` (already checked by [`parse_root`]) at `addr`, with default limits.
    pub fn new(root: Url, addr: SocketAddr) -> Config {
        Config {
            root,
            addr,
            concurrency: 100,
            max_pages: usize::MAX,
            max_redirects: 10,
            max_tries: 4,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            exclude: None,
            limits: Limits::default(),
            gauges: None,
            work_rounds: 0,
            trace: None,
        }
    }

    /// Writes `event` of fetch `id` to the trace, if there is one: one `Option` check when
    /// tracing is off, so every strategy calls it at each step of a fetch.
    #[inline]
    pub fn trace(&self, id: FetchId, event: Event<'_>) {
        if let Some(tracer) = &self.trace {
            tracer.event(id, event);
        }
    }

    /// Whether a crawl can run with these settings; every strategy asks before it starts.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::NoConcurrency);
        }
        Ok(())
    }

    /// Why `url` must not be fetched, or `None` when it is in scope.
    pub fn out_of_scope(&self, url: &Url) -> Option<Skip> {
        if url.scheme() != "http" {
            Some(Skip::Scheme)
        } else if url.origin() != self.root.origin() {
            Some(Skip::Origin)
        } else if self
            .exclude
            .as_ref()
            .is_some_and(|re| re.is_match(url.as_str()))
        {
            Some(Skip::Excluded)
        } else {
            None
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
        assert!(matches!(
            parse_root("https://example.com/"),
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
        assert_eq!(
            config.out_of_scope(&url("https://example.com/x")),
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
