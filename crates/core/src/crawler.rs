//! The frontier and the bookkeeping of a crawl: which URLs are seen, queued, in flight and
//! done, and what happened to each.
//!
//! Driving order, the same for every strategy:
//!
//! 1. [`Crawler::next_fetch`] hands out the next URL to fetch (or `None`: wait for a fetch in
//!    flight to finish, or until [`Crawler::next_wake`], or stop when [`Crawler::is_done`]).
//! 2. The strategy connects to [`Fetch::addr`], writes [`Fetch::request`], and feeds
//!    what it reads to a [`crate::ResponseReader`], within the config's timeouts.
//! 3. [`Fetch::finish`] turns the response or error into an [`Outcome`]. It parses the page's
//!    links and touches no shared state, so it may run on any thread.
//! 4. [`Crawler::complete`] records the outcome, queues the new in-scope links (or the fetch
//!    itself again, not before a backoff, for a transport failure, a 429 or a 503 with tries
//!    left), and frees the fetch's slot.
//!
//! The crawler holds no lock and no clock: strategies share it however their model allows
//! (a mutex, a single loop thread) and pass in the time.
//!
//! # Waiting
//!
//! A URL to retry is not due at once: it waits in a heap ordered by the time it may go
//! (its "not before"), and [`Crawler::next_fetch`] hands it out only once `now` has reached
//! it. When nothing is due, [`Crawler::next_wake`] says when something will be, and each
//! strategy waits until then in its own model (a condvar's timeout, a loop timer, a ring
//! timeout, `tokio::time::sleep_until`) — or until a fetch completes, whichever is first.
//! No thread or loop is blocked by a backoff, and none spins.

use std::{
    cmp::{Ordering as Order, Reverse},
    collections::{BinaryHeap, VecDeque},
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use foldhash::HashMap;

use url::Url;

use crate::{
    budget::{self, Candidate, Cutoff, Rank, Source},
    charset,
    config::{Config, MAX_URL_LEN},
    error::{ErrorKind, FetchError, Limit},
    journal::{Change, Spool},
    known::{Id, Known, UNKNOWN},
    links::extract_links,
    politeness::Hosts,
    report::{Connections, Record, Report, Status},
    response::{Response, ResponseReader},
    robots::{self, Rules},
    shard::{self, Found, Post, Route},
    trace::{Conn, Event, FetchId},
    urls::{Reparse, resolve},
    wait,
};

/// One URL handed to a strategy to fetch.
#[derive(Debug)]
pub struct Fetch {
    /// The URL, normalised, in scope.
    pub url: Url,
    /// Where its host listens: every fetch connects here.
    pub addr: SocketAddr,
    /// Which try this is, from 1.
    pub tries: u32,
    /// Names this try in a trace (0 when tracing is off). A `u32` beside `tries` and the
    /// flags, in what would be padding.
    id: FetchId,
    /// Whether this is an origin's robots.txt rather than a page.
    robots: bool,
    /// For a robots.txt: how many redirects led to this fetch.
    hops: u8,
    /// Whether its host's politeness handed it out ([`Hosts::pop`]).
    polite: bool,
    /// For a robots.txt: which of the crawler's [`Chain`]s it is a step of (in padding, like
    /// `id`).
    chain: u32,
    /// Whether the request keeps the connection (`--connections keep-alive`).
    keep_alive: bool,
    /// Its URL's index among the known ones, so that its end finds its entry without
    /// hashing and comparing its text again; [`UNKNOWN`] where it is not at hand (a
    /// robots.txt; a URL queued on disk with `--state`). In padding, like `id`.
    known: Id,
    /// What became of its connection ([`Conn`] bits, [`Fetch::mark`]), counted in the report.
    marks: u8,
    /// Rounds of work to do on the page once parsed.
    work_rounds: u64,
    /// When this try was handed out.
    started: Option<Instant>,
}

impl Fetch {
    /// What a trace calls this fetch: give it to [`Config::trace`] with each event.
    pub fn id(&self) -> FetchId {
        self.id
    }

    /// The request bytes: HTTP/1.0, one request per connection, or HTTP/1.1 keeping it.
    pub fn request(&self) -> Vec<u8> {
        crate::request::request(&self.url, self.keep_alive)
    }

    /// Whether the URL is `https:`: the connection speaks TLS ([`crate::tls`]).
    pub fn is_tls(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The origin (`scheme://host:port`) the fetch connects to: a pool's key.
    pub fn origin(&self) -> &str {
        &self.url[..url::Position::BeforePath]
    }

    /// Tells what became of the fetch's connection: traced, and counted in the report.
    pub fn mark(&mut self, config: &Config, conn: Conn) {
        self.marks |= conn.bit();
        config.trace(self.id, Event::Conn(conn));
    }

    /// The reader for this fetch's response, within `limits` (a robots.txt's reader keeps its
    /// body, which is not HTML, and has its own cap).
    pub fn reader(&self, limits: crate::Limits) -> ResponseReader {
        ResponseReader::new(limits).for_robots_txt(self.robots)
    }

    /// The first try of the page at `url`.
    fn page(url: Url, addr: SocketAddr) -> Fetch {
        Fetch {
            url,
            addr,
            tries: 1,
            id: FetchId::default(),
            robots: false,
            hops: 0,
            polite: false,
            chain: 0,
            keep_alive: false,
            known: UNKNOWN,
            marks: 0,
            work_rounds: 0,
            started: None,
        }
    }

    /// The fetch of a robots.txt at `url`, reached through `hops` redirects, for `chain`.
    fn robots_txt(url: Url, addr: SocketAddr, hops: u8, chain: u32) -> Fetch {
        Fetch {
            url,
            addr,
            tries: 1,
            id: FetchId::default(),
            robots: true,
            hops,
            polite: false,
            chain,
            keep_alive: false,
            known: UNKNOWN,
            marks: 0,
            work_rounds: 0,
            started: None,
        }
    }

    /// Whether this is an origin's robots.txt, whose body is kept though it is not HTML.
    pub fn is_robots(&self) -> bool {
        self.robots
    }

    /// Turns what the strategy got into an outcome: parses links out of an HTML page.
    ///
    /// Pure CPU work on this fetch's own data, so it can run outside any lock or on a pool.
    // Never inlined: the sweep's profiles split a page's instructions by the core's entry
    // points, which a copy inlined into a caller would hide.
    #[inline(never)]
    pub fn finish(self, result: Result<Response, FetchError>, now: Instant) -> Outcome {
        let latency = self.started.map_or(Duration::ZERO, |started| {
            now.saturating_duration_since(started)
        });
        let result = result.map(|mut response| {
            let mut page = Page {
                status: response.status,
                bytes: response.body_len,
                html: false,
                work_digest: 0,
                links: Vec::new(),
                base: None,
                redirect: None,
                extra: None,
            };
            if response.retry_after.is_some() || response.date.is_some() {
                page.extra = Some(Box::new(Extra {
                    retry_after: response.retry_after.take(),
                    date: response.date.take(),
                    body: Vec::new(),
                }));
            }
            if is_redirect(response.status) {
                // The reader left a `Location` all ASCII: UTF-8 or not, its raw bytes are
                // percent-encoded as they came.
                page.redirect = response
                    .location
                    .as_deref()
                    .and_then(|location| resolve(&self.url, location, encoding_rs::UTF_8));
            } else if self.robots {
                let extra = page.extra.get_or_insert_with(Box::default);
                extra.body = std::mem::take(&mut response.body);
            } else if (200..300).contains(&response.status) && response.is_html() {
                page.html = true;
                if self.work_rounds > 0 {
                    page.work_digest = crate::work::work(&response.body, self.work_rounds);
                }
                let (text, encoding) =
                    charset::decode(&response.body, response.content_type.as_deref());
                let links = extract_links(&text);
                page.base = links
                    .base
                    .as_deref()
                    .and_then(|base| resolve(&self.url, base, encoding));
                let base = page.base.as_ref().unwrap_or(&self.url);
                // A plain path on the base's own origin is its text: most links of most pages
                // are known already, and such a link is parsed only if it is new.
                let path = base.path();
                let origin = matches!(base.scheme(), "http" | "https").then(|| Origin {
                    origin: &base[..url::Position::BeforePath],
                    directory: path.rfind('/').map_or("/", |at| &path[..=at]),
                });
                page.links = links
                    .hrefs
                    .iter()
                    .filter_map(|href| match origin.as_ref().and_then(|o| o.text_of(href)) {
                        Some(text) => Some(Link::Text(text)),
                        None => resolve(base, href, encoding).map(Link::Url),
                    })
                    .collect();
            }
            page
        });
        Outcome {
            fetch: self,
            result,
            latency,
            at: now,
        }
    }
}

/// `href`'s path when the URL parser would take it as it is, relative to the base's origin:
/// `/` then letters, digits and `-._~/` alone, no `//` first (a host) and no segment that
/// begins with a dot (`.` and `..` are dot segments), up to a fragment, which the crawler
/// drops anyway. Anything else (other characters, which the parser may encode, spaces it
/// trims, queries, escapes to normalise) goes through [`resolve`].
fn plain_path(href: &str) -> Option<&str> {
    let path = href.split_once('#').map_or(href, |(path, _)| path);
    let bytes = path.as_bytes();
    let plain = bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && bytes.iter().all(|&byte| {
            byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/')
        })
        && !bytes.windows(2).any(|pair| pair == b"/.");
    plain.then_some(path)
}

/// The base URL of a page's links, for those the crawler writes without the URL parser.
struct Origin<'a> {
    /// `scheme://host:port`, as the base's [`Url`] writes it.
    origin: &'a str,
    /// The base's path up to its last `/`, which a relative path is put after.
    directory: &'a str,
}

impl Origin<'_> {
    /// The text of the URL `href` resolves to, when it is a [`plain_path`] on this origin,
    /// written as a path (`/p/7`), as a path relative to the base's directory (`7`, `p/7`),
    /// or after the origin itself in any case (`HTTP://127.0.0.1:8000/p/7`: the parser lowers
    /// a scheme and a host, and the base's are lowered already). Anything else is `None`,
    /// for [`resolve`].
    fn text_of(&self, href: &str) -> Option<String> {
        let origin = self.origin;
        if href.starts_with('/') {
            return plain_path(href).map(|path| [origin, path].concat());
        }
        if let Some(written) = href.get(..origin.len())
            && written.eq_ignore_ascii_case(origin)
        {
            return plain_path(&href[origin.len()..]).map(|path| [origin, path].concat());
        }
        // A relative path, begun by a character of a path's own: a `#` or `?` first keeps the
        // base's path, a `.` may begin a dot segment, and a scheme needs a `:`, not plain.
        let first = *href.as_bytes().first()?;
        if !(first.is_ascii_alphanumeric() || matches!(first, b'-' | b'_' | b'~')) {
            return None;
        }
        let mut text = String::with_capacity(origin.len() + self.directory.len() + href.len());
        text.push_str(origin);
        text.push_str(self.directory);
        text.push_str(href);
        let path_len = plain_path(&text[origin.len()..])?.len();
        text.truncate(origin.len() + path_len);
        Some(text)
    }
}

/// A link found on a page.
#[derive(Debug)]
enum Link {
    /// Resolved and normalised.
    Url(Url),
    /// A [`plain_path`] on the base's origin, written after it ([`Origin::text_of`]): the same
    /// text, not yet parsed.
    Text(String),
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// What a fetch ended with, ready to be recorded by [`Crawler::complete`].
#[derive(Debug)]
pub struct Outcome {
    fetch: Fetch,
    result: Result<Page, FetchError>,
    latency: Duration,
    /// When the fetch ended: a retry's wait counts from here.
    at: Instant,
}

impl Outcome {
    /// The URL fetched.
    pub fn url(&self) -> &Url {
        &self.fetch.url
    }

    /// The status or the error, for strategies that report progress.
    pub fn result(&self) -> Result<u16, &FetchError> {
        self.result.as_ref().map(|page| page.status)
    }
}

/// A response reduced to what the frontier needs.
#[derive(Debug)]
struct Page {
    status: u16,
    bytes: u64,
    html: bool,
    work_digest: u64,
    links: Vec<Link>,
    /// An HTML page's `<base>`, which its links are on rather than on its own URL (the
    /// fetch's), when it has one.
    base: Option<Url>,
    redirect: Option<Url>,
    /// What few responses have (boxed, so that every page's outcome stays small).
    extra: Option<Box<Extra>>,
}

/// The rare parts of a [`Page`].
#[derive(Debug, Default)]
struct Extra {
    /// A 429's or 503's `Retry-After` and `Date` headers.
    retry_after: Option<String>,
    date: Option<String>,
    /// A robots.txt's body.
    body: Vec<u8>,
}

/// Where an origin's robots.txt stands, on one shard.
#[derive(Debug)]
enum Robots {
    /// Being fetched (by this shard if it is the origin's home, else by the home, asked for
    /// the rules): the origin's URLs of this shard wait here, and, at the home, the other
    /// shards that asked.
    Waiting { held: Vec<Fetch>, asked: Vec<usize> },
    /// Known, since the end of the fetch that read them (a `Crawl-delay` counts from it;
    /// `None` when no fetch ended, and then the rules ask for no delay). The same rules on
    /// every shard: the home's, shared.
    Known(Arc<Rules>, Option<Instant>),
}

/// A robots.txt fetch under way, over its redirects: whose rules it will give, and which
/// shard keeps them (the origin's home).
#[derive(Debug)]
struct Chain {
    origin: String,
    home: usize,
}

/// The robots.txt state of `origin`. A crawl of a few origins looks them over one by one
/// (a few string compares), which costs less per URL than hashing the origin.
fn robots_of<'a>(robots: &'a mut HashMap<String, Robots>, origin: &str) -> Option<&'a mut Robots> {
    if robots.len() <= 4 {
        robots
            .iter_mut()
            .find_map(|(key, state)| (key == origin).then_some(state))
    } else {
        robots.get_mut(origin)
    }
}

/// Statuses that mean "not now": tried again, within `--max-tries`.
fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// A fetch waiting for its time, in [`Crawler::waiting`]: ordered by that time, then by
/// when it was put there, so that equal times go first in, first out.
#[derive(Debug)]
struct Waiting {
    due: Instant,
    order: u64,
    fetch: Fetch,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}

impl Eq for Waiting {}

impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<Order> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> Order {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

/// The new URLs waiting for their first fetch: their indices in the seen set (4 B each, where
/// a [`Fetch`] is about 200 B with its URL), or, when the seen set keeps no text, their text in
/// the caller's [`Spool`] (on disk).
enum Fresh {
    Ids(VecDeque<Id>),
    Spooled(Box<dyn Spool>),
}

impl Fresh {
    fn len(&self) -> usize {
        match self {
            Fresh::Ids(ids) => ids.len(),
            Fresh::Spooled(spool) => spool.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes it holds.
    fn footprint(&self) -> usize {
        match self {
            Fresh::Ids(ids) => ids.capacity() * size_of::<Id>(),
            Fresh::Spooled(spool) => spool.footprint(),
        }
    }
}

impl std::fmt::Debug for Fresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fresh::Ids(ids) => write!(f, "Fresh::Ids({} queued)", ids.len()),
            Fresh::Spooled(spool) => write!(f, "Fresh::Spooled({} queued)", spool.len()),
        }
    }
}

/// What a crawl ended with ([`Crawler::take_ended`]): what its report is made of.
pub(crate) struct Ended {
    /// Every URL's record.
    pub(crate) records: Vec<Record>,
    /// What became of its connections.
    pub(crate) connections: Connections,
    /// The most fetches it had in flight at once.
    pub(crate) peak_in_flight: usize,
    /// What it noted for the report.
    pub(crate) notes: Vec<String>,
}

/// The frontier (seen set, queue, in-flight count) and the records of a crawl.
///
/// Whether a URL is fetched does not depend on the order in which the paths to it are found:
/// a URL counts the fewest redirects any path so far reached it with, so one first reached
/// through a chain longer than `max_redirects` is fetched after all when a link (or a shorter
/// chain) reaches it later, and a redirect already fetched passes the shorter count on to
/// its target.
#[derive(Debug)]
pub struct Crawler {
    config: Config,
    /// Every URL met, with the fewest redirects that led to it, and the record of each that
    /// ended (see [`crate::known`]).
    known: Known,
    /// Records of URLs the crawler does not know (none so far: kept rather than lost).
    strays: Vec<Record>,
    /// Where each redirect fetched so far pointed, to pass a shorter count on (and for its
    /// record), by the redirect's index in `known`.
    redirects: HashMap<Id, Url>,
    /// Fetches to go first: retries whose time came, and robots.txt.
    queue: VecDeque<Fetch>,
    /// New URLs to fetch, after `queue`: the fetch is made when it is handed out.
    fresh: Fresh,
    /// Their text parsed back into URLs.
    reparse: Reparse,
    /// Fetches to try again, each not before its time; earliest on top.
    waiting: BinaryHeap<Reverse<Waiting>>,
    /// How many fetches were ever put in `waiting`: the tie-break of equal times.
    waited: u64,
    /// Addresses the [`crate::config::Resolver`] gave (or not), by `host:port`.
    resolved: HashMap<String, Option<SocketAddr>>,
    /// Each origin's robots.txt, by `http://host:port` (when it is obeyed).
    robots: HashMap<String, Robots>,
    /// How many URLs wait in `robots` for their origin's rules.
    held: usize,
    /// The robots.txt fetches under way on this shard, by the id their [`Fetch`]es carry: a
    /// fetch names its own chain, so two origins whose files redirect to one URL never take
    /// each other's.
    chains: HashMap<u32, Chain>,
    /// The id of the last chain begun.
    last_chain: u32,
    /// What the report should say beside the records (robots.txt that was not plain rules).
    notes: Vec<String>,
    /// The hosts whose politeness applies, and their queues.
    hosts: Hosts<Fetch>,
    in_flight: usize,
    /// The most fetches ever in flight at once.
    peak_in_flight: usize,
    /// Fetches handed out, retries excluded; bounded by `max_pages`.
    started: usize,
    /// What became of the fetches' connections (reuse, TLS handshakes).
    connections: Connections,
    /// Pages credited with links that were new (their `new_links`) after their record was
    /// written: a link new to another shard, or one of a later round of a bounded crawl.
    credits: Vec<(Source, u32)>,
    /// With `--max-pages`: the rank of each URL queued (see [`crate::budget`]), and the URLs
    /// found since the last round, waiting for the next.
    ranks: HashMap<String, Rank>,
    pending: Vec<Candidate>,
    /// The length of the ranks of the next round's candidates: the depth of its URLs. (With
    /// shards, a shard told of a round late may already hold candidates of the one after,
    /// found by pages another shard fetched in the meantime; they wait for their own.)
    depth: usize,
    /// While a round goes past its cutoff: the budget is spent for what comes.
    closed: bool,
    /// Set when this crawler is one shard of several: where the URLs it does not own go, and
    /// the page budget the shards share (see [`crate::shard`]).
    pub(crate) route: Option<Route>,
    /// With a [`crate::Journal`]: the changes of the step under way, handed over at its end.
    changes: Vec<Change>,
    /// URLs restored ([`crate::journal::Restore`]) that go again as a later try than the first.
    restored_tries: HashMap<String, (u32, Instant)>,
}

impl Crawler {
    /// A crawl of `config`'s roots, with the roots queued.
    pub fn new(config: Config) -> Crawler {
        let mut crawler = Crawler::with_route(config, None);
        crawler.restore();
        crawler.queue_roots(&Cutoff::All);
        crawler.flush();
        crawler
    }

    /// Starts from what an earlier crawl left ([`Config::restore`]), if anything: the URLs
    /// this crawler owns are known again, those that ended keep their records, and the others
    /// are queued (as the try they had come to). Told to the journal already, so not again.
    pub(crate) fn restore(&mut self) {
        let Some(restore) = self.config.restore.clone() else {
            return;
        };
        let max = self.config.max_redirects;
        restore.each(&mut |saved| {
            let Ok(url) = Url::parse(saved.url) else {
                return;
            };
            if !shard::owns(&self.route, &url) {
                return;
            }
            match saved.ended {
                // Refused for a chain that a shorter path has since undercut: fetched after
                // all.
                Some(record)
                    if record.status == Status::Error(ErrorKind::RedirectLimit)
                        && saved.redirects <= max => {}
                Some(record) => {
                    let id = self.known.insert(saved.url, saved.redirects);
                    if let Some(target) =
                        record.redirect.as_deref().and_then(|t| Url::parse(t).ok())
                    {
                        self.redirects.insert(id, target);
                    }
                    self.known.end(id, record);
                    if let Some(gauges) = &self.config.gauges {
                        gauges.ended.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
                None => {}
            }
            if let Some(retry) = saved.retry {
                self.restored_tries.insert(url.as_str().to_owned(), retry);
            }
            self.meet(url, saved.redirects, None, true);
        });
        // What went to other shards' outboxes is theirs to restore.
        shard::clear_outbox(&mut self.route);
    }

    /// A crawl of `config`'s roots, alone or as one shard of several, with no root queued
    /// yet ([`Crawler::queue_roots`]).
    pub(crate) fn with_route(config: Config, route: Option<Route>) -> Crawler {
        let mut hosts = Hosts::new(config.per_host, config.delay);
        let fresh = match &config.spools {
            Some(spools) if config.journal.is_some() => Fresh::Spooled((spools.0)()),
            _ => Fresh::Ids(VecDeque::new()),
        };
        let lean = matches!(fresh, Fresh::Spooled(_));
        if let Some(stride) = route.as_ref().and_then(Route::stride) {
            hosts.set_stride(stride);
        }
        Crawler {
            config,
            known: if lean {
                Known::lean()
            } else {
                Known::default()
            },
            strays: Vec::new(),
            redirects: HashMap::default(),
            queue: VecDeque::new(),
            fresh,
            reparse: Reparse::default(),
            waiting: BinaryHeap::new(),
            waited: 0,
            resolved: HashMap::default(),
            robots: HashMap::default(),
            held: 0,
            chains: HashMap::default(),
            last_chain: 0,
            notes: Vec::new(),
            hosts,
            in_flight: 0,
            peak_in_flight: 0,
            started: 0,
            connections: Connections::default(),
            credits: Vec::new(),
            ranks: HashMap::default(),
            pending: Vec::new(),
            depth: 2,
            closed: false,
            route,
            changes: Vec::new(),
            restored_tries: HashMap::default(),
        }
    }

    /// Queues the roots in the order they were given (those this shard owns, if it is one of
    /// several): with `--max-pages`, root `i` has rank `[i]`, and those past `cutoff` find
    /// the budget spent. A crawler alone spends it in order by itself ([`Cutoff::All`]);
    /// shards are told where it stops ([`Crawler::roots_cutoff`]), so that the first roots
    /// get it whichever shard owns them.
    pub(crate) fn queue_roots(&mut self, cutoff: &Cutoff) {
        let roots: Vec<Url> = self.config.roots().cloned().collect();
        for (index, root) in roots.into_iter().enumerate() {
            let rank = self.bounded().then(|| budget::child(&[], index));
            self.closed = rank.as_ref().is_some_and(|rank| !cutoff.admits(rank));
            self.enqueue_ranked(root, 0, rank);
        }
        self.closed = false;
    }

    /// Where the budget of a bounded crawl stops among its roots, as a crawler alone would
    /// find it: called on a crawler with nothing queued yet.
    pub(crate) fn roots_cutoff(&mut self) -> Cutoff {
        if !self.bounded() {
            return Cutoff::All;
        }
        self.pending = self
            .config
            .roots()
            .enumerate()
            .map(|(index, root)| Candidate {
                url: root.clone(),
                redirects: 0,
                rank: budget::child(&[], index),
                from: None,
            })
            .collect();
        // The roots are the round of depth 1.
        self.depth = 1;
        let cutoff = self.cutoff(self.config.max_pages);
        self.depth = 2;
        self.pending.clear();
        cutoff
    }

    /// The settings this crawl runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next URL to fetch, counted as in flight until its outcome is completed; `None`
    /// when nothing is due at `now` (see [`Crawler::next_wake`]).
    // Never inlined: the sweep's profiles split a page's instructions by the core's entry
    // points, which a copy inlined into a caller would hide.
    #[inline(never)]
    pub fn next_fetch(&mut self, now: Instant) -> Option<Fetch> {
        if self.stopping() {
            return None;
        }
        // Retries whose time has come go first: they should not wait behind the frontier.
        while let Some(Reverse(first)) = self.waiting.peek()
            && first.due <= now
        {
            let Some(Reverse(waiting)) = self.waiting.pop() else {
                break;
            };
            self.push(waiting.fetch, true);
        }
        let mut fetch = match self.queue.pop_front() {
            Some(fetch) => fetch,
            None if !self.fresh.is_empty() => self.fresh_fetch()?,
            None => {
                let mut fetch = self.hosts.pop(now)?;
                fetch.polite = true;
                fetch
            }
        };
        fetch.started = Some(now);
        fetch.work_rounds = self.config.work_rounds;
        fetch.keep_alive = self.config.keep_alive;
        fetch.marks = 0;
        self.in_flight += 1;
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight);
        self.publish_in_flight();
        if let Some(tracer) = &self.config.trace {
            fetch.id = tracer.next_id();
            let (url, tries) = (&fetch.url, fetch.tries);
            tracer.event(fetch.id, Event::Start { url, tries });
        }
        Some(fetch)
    }

    /// Records a finished fetch and queues what it found.
    // Never inlined: the sweep's profiles split a page's instructions by the core's entry
    // points, which a copy inlined into a caller would hide.
    #[inline(never)]
    pub fn complete(&mut self, outcome: Outcome) {
        self.take_outcome(outcome);
        self.flush();
    }

    /// [`Crawler::complete`], but for handing the step's changes to the journal.
    fn take_outcome(&mut self, outcome: Outcome) {
        self.in_flight -= 1;
        self.publish_in_flight();
        self.trace_completed(&outcome);
        let Outcome {
            mut fetch,
            result,
            latency,
            at,
        } = outcome;
        self.connections.count(fetch.marks);
        if std::mem::take(&mut fetch.polite) {
            self.hosts
                .ended(&fetch.url[..url::Position::BeforePath], at);
        }
        let tries_left = fetch.tries < self.config.max_tries;
        let page = match result {
            Ok(page) if is_retryable_status(page.status) && tries_left => {
                let asked = page.extra.as_deref().and_then(|extra| {
                    let value = extra.retry_after.as_deref()?;
                    wait::retry_after(value, extra.date.as_deref(), self.config.wall_clock)
                });
                return self.retry(fetch, at, asked);
            }
            Err(err) if err.is_retryable() && tries_left => return self.retry(fetch, at, None),
            _ if fetch.robots => {
                self.robots_done(&fetch, result, at);
                return self.end_round();
            }
            Ok(page) => page,
            Err(err) => {
                self.record(
                    fetch.known,
                    Record {
                        url: fetch.url.into(),
                        status: Status::Error(err.kind()),
                        tries: fetch.tries,
                        latency: Some(latency),
                        ..Record::default()
                    },
                );
                return self.end_round();
            }
        };
        let links_found = page.links.len() as u32;
        let mut new_links = 0;
        let rank = self.bounded().then(|| {
            self.ranks
                .get(fetch.url.as_str())
                .cloned()
                .unwrap_or_default()
        });
        if let Some(rank) = &rank {
            // A bounded crawl: the links wait for their round (see `crate::budget`).
            let from = Source {
                shard: self.index(),
                url: Arc::from(fetch.url.as_str()),
            };
            for (index, link) in page.links.into_iter().enumerate() {
                if let Some(url) = self.parsed(link) {
                    self.found(url, 0, budget::child(rank, index), Some(from.clone()));
                }
            }
        } else {
            let base = page.base.as_ref().unwrap_or(&fetch.url);
            for link in page.links {
                if let Link::Text(text) = &link
                    && self.route.is_none()
                {
                    match self.known.get(text) {
                        // Known, and by no shorter way: `meet` would leave it as it is.
                        Some(id) if self.known.redirects(id) == 0 => continue,
                        None if self.fresh_text(text, base) => {
                            new_links += 1;
                            continue;
                        }
                        _ => {}
                    }
                }
                if let Some(url) = self.parsed(link) {
                    new_links += u32::from(self.enqueue(url, 0));
                }
            }
        }
        if let Some(target) = &page.redirect {
            let id = self.known_id(&fetch);
            let redirects = id.map_or(0, |id| self.known.redirects(id) + 1);
            if let Some(id) = id {
                self.redirects.insert(id, target.clone());
            }
            match &rank {
                Some(rank) => {
                    let rank = budget::child(rank, links_found as usize);
                    self.found(target.clone(), redirects, rank, None);
                }
                None => {
                    self.enqueue(target.clone(), redirects);
                }
            }
        }
        self.record(
            fetch.known,
            Record {
                url: fetch.url.into(),
                status: Status::Http(page.status),
                bytes: page.bytes,
                html: page.html,
                work_digest: page.work_digest,
                links_found,
                new_links,
                redirect: page.redirect.map(Into::into),
                tries: fetch.tries,
                latency: Some(latency),
            },
        );
        self.end_round();
    }

    /// A new link written as text, on `base`'s origin, queued as its text when `meet` would
    /// do no more than that with it: remember it and queue it for its first try, on a
    /// crawler alone (no other shard, no journal, no restored tries) that is not full, with
    /// a verdict that it is fetched ([`Crawler::verdict_as`]: in scope, the origin's address
    /// found), its robots.txt rules known and allowing it (or not read), and no politeness
    /// holding the origin's fetches apart. Its
    /// fetch parses it when it is handed out ([`Crawler::fresh_fetch`]), as every queued URL
    /// is; parsing it here too, only to ask what the origin answers, cost some 1,200
    /// instructions a new page. `false`, with nothing done, for anything else: `meet`
    /// decides, on the parsed [`Url`].
    fn fresh_text(&mut self, text: &str, base: &Url) -> bool {
        if self.config.journal.is_some()
            || !self.restored_tries.is_empty()
            || self.full(false)
            || self.verdict_as(base, text, 0).is_err()
        {
            return false;
        }
        let origin = &base[..url::Position::BeforePath];
        if self.hosts.manages(origin) {
            return false;
        }
        if self.config.robots {
            match robots_of(&mut self.robots, origin) {
                Some(Robots::Known(rules, _)) if rules.allows_text(text) => {}
                _ => return false,
            }
        }
        let id = self.known.insert(text, 0);
        self.started += 1;
        match &mut self.fresh {
            Fresh::Ids(ids) => ids.push_back(id),
            Fresh::Spooled(spool) => spool.push(text),
        }
        true
    }

    /// `link` as a [`Url`] (its text parsed against its origin's).
    fn parsed(&mut self, link: Link) -> Option<Url> {
        match link {
            Link::Url(url) => Some(url),
            Link::Text(text) => self.reparse.parse(&text).ok(),
        }
    }

    /// Puts `fetch` back for another try, not before `at` plus the wait the server `asked`
    /// for (capped at [`Config::max_wait`]) or else the backoff for the try that failed.
    fn retry(&mut self, mut fetch: Fetch, at: Instant, asked: Option<Duration>) {
        let config = &self.config;
        let wait = asked.map_or_else(
            || {
                wait::backoff(
                    config.backoff,
                    config.max_wait,
                    config.jitter_seed,
                    &fetch.url,
                    fetch.tries,
                )
            },
            |asked| asked.min(config.max_wait),
        );
        fetch.tries += 1;
        if self.config.journal.is_some() {
            self.changes.push(Change::Tried {
                url: fetch.url.as_str().to_owned(),
                tries: fetch.tries,
                wait,
            });
        }
        self.waited += 1;
        self.waiting.push(Reverse(Waiting {
            due: at + wait,
            order: self.waited,
            fetch,
        }));
    }

    /// When the earliest waiting URL is due (a retry after its backoff, or the next request a
    /// host's politeness allows); `None` when none waits for a time. A strategy that got
    /// `None` from [`Crawler::next_fetch`] waits until then, or until a fetch completes.
    pub fn next_wake(&self) -> Option<Instant> {
        if self.stopping() {
            return None;
        }
        let retry = self.waiting.peek().map(|Reverse(first)| first.due);
        match (retry, self.hosts.next_wake()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The fetch of the first of the new URLs queued.
    fn fresh_fetch(&mut self) -> Option<Fetch> {
        // The text is a `Url`'s serialization, which parses back to the same `Url`.
        let (url, known) = match &mut self.fresh {
            Fresh::Ids(ids) => {
                let id = ids.pop_front()?;
                (self.reparse.parse(self.known.url(id)), id)
            }
            Fresh::Spooled(spool) => (self.reparse.parse(&spool.pop()?), UNKNOWN),
        };
        let url = url.expect("a queued URL's text parses again");
        // Found when it was queued, so found again (given, or the resolver's, remembered).
        let addr = self
            .addr_of(&url)
            .expect("a queued URL's address was found before");
        Some(Fetch {
            known,
            ..Fetch::page(url, addr)
        })
    }

    /// Nothing queued, nothing waiting and nothing in flight: the crawl is complete.
    pub fn is_done(&self) -> bool {
        self.is_idle() && self.pending.is_empty()
    }

    /// Whether [`Config::stop`] is set: nothing more is handed out.
    fn stopping(&self) -> bool {
        self.config
            .stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
    }

    /// Nothing queued, waiting (for a time or for robots.txt) or in flight: what is left, if
    /// anything, is a bounded crawl's next round.
    pub(crate) fn is_idle(&self) -> bool {
        if self.stopping() {
            return self.in_flight == 0;
        }
        self.queue.is_empty()
            && self.fresh.is_empty()
            && self.waiting.is_empty()
            && self.hosts.queued() == 0
            && self.held == 0
            && self.in_flight == 0
    }

    /// Queues `fetch` (at the front for a retry or a robots.txt; only a new URL's first try
    /// goes at the back): in its host's queue if the host's politeness applies, in the
    /// crawl's queues otherwise.
    fn push(&mut self, fetch: Fetch, front: bool) {
        // A restored retry waits for the time it had, once its origin's rules let it go.
        if !self.restored_tries.is_empty()
            && let Some((_, due)) = self.restored_tries.remove(fetch.url.as_str())
        {
            self.waited += 1;
            let order = self.waited;
            return self.waiting.push(Reverse(Waiting { due, order, fetch }));
        }
        let origin = &fetch.url[..url::Position::BeforePath];
        if self.hosts.manages(origin) {
            let origin = origin.to_owned();
            self.hosts.push(&origin, fetch, front);
        } else if front {
            self.queue.push_front(fetch);
        } else if fetch.tries == 1
            && !fetch.robots
            && let Some(id) = self.known_id(&fetch)
        {
            // `fresh_fetch` makes the same fetch again when its turn comes.
            match &mut self.fresh {
                Fresh::Ids(ids) => ids.push_back(id),
                Fresh::Spooled(spool) => spool.push(fetch.url.as_str()),
            }
        } else {
            // Not one of the crawler's URLs (never so: every page fetch's URL is known).
            self.queue.push_back(fetch);
        }
    }

    /// How many fetches are handed out and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How many URLs wait to be fetched, due or not. (Not those that wait for their origin's
    /// robots.txt: they join the count when the rules come, which is when a strategy that
    /// wakes a worker per URL queued must wake one.)
    pub fn queued(&self) -> usize {
        self.queue.len() + self.fresh.len() + self.waiting.len() + self.hosts.queued()
    }

    /// The records so far, one per URL that ended, in the order the URLs were met: built
    /// from what the crawler keeps of each, so each call copies them all.
    pub fn records(&self) -> Vec<Record> {
        let mut records = Vec::with_capacity(self.known.ended() + self.strays.len());
        for id in self.known.ids() {
            let redirect = || self.redirects.get(&id).map(|url| url.as_str().to_owned());
            if self.known.status(id).is_some() {
                records.extend(self.known.record(id, redirect()));
            }
        }
        records.extend(self.strays.iter().cloned());
        records
    }

    /// Heap bytes the per-URL structures hold, by what holds them (their capacities): the
    /// table the memory test (`crates/core/tests/frontier_bytes.rs`) prints.
    pub fn footprint(&self) -> Vec<(&'static str, usize)> {
        let mut parts = self.known.footprint();
        parts.push((
            "queues: retries' and robots.txt fetches, new URLs' indices (or spool)",
            self.queue.capacity() * size_of::<Fetch>() + self.fresh.footprint(),
        ));
        parts
    }

    /// Ends the crawl: the report, for `strategy`, of a crawl that took `elapsed`.
    // Never inlined: the sweep's profiles split a page's instructions by the core's entry
    // points, which a copy inlined into a caller would hide.
    #[inline(never)]
    pub fn into_report(mut self, strategy: &str, elapsed: Duration) -> Report {
        let ended = self.take_ended();
        let mut report = Report::new(strategy, &self.config, ended.records, elapsed);
        report.connections = ended.connections;
        report.peak_in_flight = ended.peak_in_flight;
        report.notes = ended.notes;
        report
    }

    /// What the crawl ended with, for a report: every record, credited with the links that
    /// found it, and the counts beside them. The crawler is left empty.
    pub(crate) fn take_ended(&mut self) -> Ended {
        self.flush();
        let credits = std::mem::take(&mut self.credits);
        let redirects = std::mem::take(&mut self.redirects);
        let redirect = |id| redirects.get(&id).map(|url: &Url| url.as_str().to_owned());
        let mut records = std::mem::take(&mut self.known).into_records(redirect);
        records.append(&mut self.strays);
        credit(&mut records, credits);
        Ended {
            records,
            connections: self.connections,
            peak_in_flight: self.peak_in_flight,
            notes: std::mem::take(&mut self.notes),
        }
    }

    fn trace_completed(&self, outcome: &Outcome) {
        let Some(tracer) = &self.config.trace else {
            return;
        };
        let status = match &outcome.result {
            Ok(page) => format!("{}, {} links", page.status, page.links.len()),
            Err(err) => Status::Error(err.kind()).to_string(),
        };
        tracer.event(outcome.fetch.id, Event::Completed(&status));
    }

    /// Keeps `record`, of the URL whose index is `known` (or [`UNKNOWN`]: looked up by its
    /// text).
    fn record(&mut self, known: Id, record: Record) {
        if self.config.journal.is_some() {
            // The journal tells the sink once the record is kept.
            self.changes.push(Change::Ended(record.clone()));
        } else if let Some(sink) = &self.config.sink {
            (sink.0)(&record);
        }
        match self.id_of(known, &record.url) {
            Some(id) => self.known.end(id, &record),
            None => self.strays.push(record),
        }
        if let Some(gauges) = &self.config.gauges {
            gauges.ended.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The address of `url`'s host: one the caller gave, or else what the resolver says
    /// (asked once per host).
    fn addr_of(&mut self, url: &Url) -> Option<SocketAddr> {
        if let Some(addr) = self.config.known_addr(url) {
            return Some(addr);
        }
        let resolver = self.config.resolver.as_ref()?;
        let key = crate::config::host_port(url);
        *self.resolved.entry(key).or_insert_with(|| {
            let host = url.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            (resolver.0)(host, url.port_or_known_default().unwrap_or(80))
        })
    }

    /// Hands the step's changes to the journal.
    pub(crate) fn flush(&mut self) {
        if let Some(journal) = &self.config.journal
            && !self.changes.is_empty()
        {
            (journal.0)(&mut self.changes);
            self.changes.clear();
        }
    }

    fn publish_in_flight(&self) {
        if let Some(gauges) = &self.config.gauges {
            gauges
                .in_flight
                .store(self.in_flight as u64, Ordering::Relaxed);
        }
    }

    /// Marks `url` seen, reached through `redirects` redirects; queues it if it is in scope,
    /// records why not otherwise. Returns whether the URL was new.
    pub(crate) fn enqueue(&mut self, url: Url, redirects: u32) -> bool {
        self.meet(url, redirects, None, false)
    }

    /// [`Crawler::enqueue`], with the URL's rank in a bounded crawl.
    fn enqueue_ranked(&mut self, url: Url, redirects: u32, rank: Option<Rank>) -> bool {
        self.meet(url, redirects, rank, false)
    }

    /// [`Crawler::enqueue_ranked`]; `told` when the journal has this URL at this count
    /// already (another shard told it, or it is restored).
    fn meet(&mut self, url: Url, redirects: u32, rank: Option<Rank>, told: bool) -> bool {
        if !told && self.config.journal.is_some() && !shard::owns(&self.route, &url) {
            // The owner may not have taken it in when the crawl dies: the finder tells it.
            self.changes.push(Change::Seen {
                url: url.as_str().to_owned(),
                redirects,
            });
        }
        // One shard of several: a URL another shard owns is handed over, not looked at here.
        // (Its owner is a hash of the text the seen set keys on: `resolve` normalised it.)
        let found = Found {
            url,
            redirects,
            rank,
        };
        let Some(Found { url, rank, .. }) = shard::keep(&mut self.route, found) else {
            return false;
        };
        if let Some(id) = self.known.get(url.as_str()) {
            let before = self.known.redirects(id);
            if redirects < before {
                self.known.set_redirects(id, redirects);
                if !told && self.config.journal.is_some() {
                    self.changes.push(Change::Seen {
                        url: url.as_str().to_owned(),
                        redirects,
                    });
                }
                self.reached_sooner(url, before, redirects, rank);
            }
            return false;
        }
        if self.full(rank.is_some()) {
            // Past the bound nothing new is even remembered: the frontier stops growing.
            return false;
        }
        let id = self.known.insert(url.as_str(), redirects);
        if !told && self.config.journal.is_some() {
            self.changes.push(Change::Seen {
                url: url.as_str().to_owned(),
                redirects,
            });
        }
        match self.verdict(&url, redirects) {
            Err(err) => self.record(
                id,
                Record {
                    url: url.into(),
                    status: Status::Error(err.kind()),
                    ..Record::default()
                },
            ),
            Ok(addr) if shard::take(&self.route) => self.queue_fetch(url, id, addr, rank),
            Ok(_) => {
                // Another shard took the last of the shared budget meanwhile: past the bound.
                self.known.forget_last(id);
                return false;
            }
        }
        true
    }

    /// Whether the crawl has taken all the pages it may: a new URL is then not even
    /// remembered. A `ranked` URL goes through in its round, whose cutoff already says
    /// whether it finds pages left (`closed`): other shards taking theirs meanwhile change
    /// nothing of it.
    fn full(&self, ranked: bool) -> bool {
        let spent = !ranked && shard::spent(&self.route);
        self.closed || self.started >= self.config.max_pages || spent
    }

    /// Where a new URL reached through `redirects` redirects would be fetched, or why it is
    /// not fetched at all.
    fn verdict(&mut self, url: &Url, redirects: u32) -> Result<SocketAddr, FetchError> {
        self.verdict_as(url, url.as_str(), redirects)
    }

    /// [`Crawler::verdict`] for the URL whose text is `text` and whose origin is `on`'s: the
    /// origin decides the scope and the address, the text `--exclude` and the length.
    fn verdict_as(
        &mut self,
        on: &Url,
        text: &str,
        redirects: u32,
    ) -> Result<SocketAddr, FetchError> {
        if let Some(skip) = self.config.out_of_scope_as(on, text) {
            return Err(FetchError::Skipped(skip));
        }
        let addr = self.addr_of(on);
        if redirects > self.config.max_redirects {
            Err(FetchError::RedirectLimit)
        } else if text.len() > MAX_URL_LEN {
            Err(FetchError::TooLarge(Limit::Url))
        } else {
            addr.ok_or_else(|| FetchError::Resolve(on.host_str().unwrap_or_default().to_owned()))
        }
    }

    fn queue_fetch(&mut self, url: Url, known: Id, addr: SocketAddr, rank: Option<Rank>) {
        self.started += 1;
        if let Some(rank) = rank {
            self.ranks.insert(url.as_str().to_owned(), rank);
        }
        let mut fetch = Fetch {
            known,
            ..Fetch::page(url, addr)
        };
        if !self.restored_tries.is_empty()
            && let Some(&(tries, _)) = self.restored_tries.get(fetch.url.as_str())
        {
            fetch.tries = tries;
        }
        if !self.config.robots {
            return self.push(fetch, false);
        }
        let origin = &fetch.url[..url::Position::BeforePath];
        match robots_of(&mut self.robots, origin) {
            Some(Robots::Known(rules, _)) => {
                if rules.allows(&fetch.url) {
                    self.push(fetch, false);
                } else {
                    self.disallowed(fetch);
                }
            }
            Some(Robots::Waiting { held, .. }) => {
                held.push(fetch);
                self.held += 1;
            }
            None => {
                // The origin's first URL here: it waits for the rules, which its home shard
                // fetches (this one, or another that is asked for them).
                let origin = origin.to_owned();
                let waiting = Robots::Waiting {
                    held: vec![fetch],
                    asked: Vec::new(),
                };
                self.robots.insert(origin.clone(), waiting);
                self.held += 1;
                match shard::home_elsewhere(&self.route, &origin) {
                    Some(home) => {
                        let from = self.index();
                        shard::post(&mut self.route, home, Post::RulesWanted { origin, from });
                    }
                    None => self.fetch_robots(origin),
                }
            }
        }
    }

    /// This shard is the home of `origin`, whose rules are not known yet: its robots.txt goes
    /// first.
    fn fetch_robots(&mut self, origin: String) {
        let home = self.index();
        let url = Url::parse(&format!("{origin}/robots.txt"))
            .expect("an origin and an absolute path make a URL");
        match self.addr_of(&url) {
            Some(addr) => {
                let chain = self.chain(Chain { origin, home });
                self.push(Fetch::robots_txt(url, addr, 0, chain), true);
            }
            // The shard that asked had an address for the origin, so this one has too; if a
            // resolver says otherwise, the origin is unreachable.
            None => {
                let err = FetchError::Resolve(url.host_str().unwrap_or_default().to_owned());
                self.settle(Chain { origin, home }, Err(err), None);
            }
        }
    }

    /// A new chain of robots.txt fetches: its id.
    fn chain(&mut self, chain: Chain) -> u32 {
        self.last_chain = self.last_chain.wrapping_add(1);
        self.chains.insert(self.last_chain, chain);
        self.last_chain
    }

    /// A robots.txt fetch ended: a redirect is followed (up to [`robots::MAX_REDIRECTS`], to
    /// any `http:` or `https:` host with an address, as RFC 9309 asks; by the home shard of the origin it
    /// goes to, under that origin's politeness), anything else settles the rules.
    fn robots_done(&mut self, fetch: &Fetch, result: Result<Page, FetchError>, at: Instant) {
        let chain = self.chains.remove(&fetch.chain).unwrap_or_else(|| Chain {
            // Every robots.txt fetch is begun with its chain; this is only a fallback.
            origin: fetch.url[..url::Position::BeforePath].to_owned(),
            home: self.index(),
        });
        if let Ok(Page {
            redirect: Some(target),
            ..
        }) = &result
            && fetch.hops < robots::MAX_REDIRECTS
            && matches!(target.scheme(), "http" | "https")
            && let Some(addr) = self.addr_of(target)
        {
            let hops = fetch.hops + 1;
            let to = &target[..url::Position::BeforePath];
            return match shard::home_elsewhere(&self.route, to) {
                Some(shard) => {
                    let hop = Post::RobotsHop {
                        origin: chain.origin,
                        home: chain.home,
                        url: target.clone(),
                        hops,
                    };
                    shard::post(&mut self.route, shard, hop);
                }
                None => {
                    let chain = self.chain(chain);
                    self.push(Fetch::robots_txt(target.clone(), addr, hops, chain), true);
                }
            };
        }
        self.settle(chain, result, Some(at));
    }

    /// The last fetch of `chain` ended with `result`: its origin's rules, kept here if this
    /// is the origin's home, else sent there. The note, if any, is this shard's. `at` is when
    /// the last fetch ended, if one did (a `Crawl-delay` counts from it).
    fn settle(&mut self, chain: Chain, result: Result<Page, FetchError>, at: Option<Instant>) {
        let result = result.as_ref().map(|page| {
            let body = page.extra.as_deref().map_or(&[][..], |extra| &extra.body);
            (page.status, body)
        });
        let (rules, note) = robots::rules(&chain.origin, result);
        self.notes.extend(note);
        let rules = Arc::new(rules);
        if chain.home == self.index() {
            self.robots_known(chain.origin, rules, at);
        } else {
            let known = Post::Rules {
                origin: chain.origin,
                rules,
                at,
            };
            shard::post(&mut self.route, chain.home, known);
        }
    }

    /// An origin's rules are known (read here, or sent by its home): the URLs that waited for
    /// them are queued or recorded as disallowed, and the shards that asked are told.
    fn robots_known(&mut self, origin: String, rules: Arc<Rules>, at: Option<Instant>) {
        if let (Some(delay), Some(at)) = (rules.crawl_delay(), at) {
            self.hosts.crawl_delay(&origin, delay, at);
        }
        let known = Robots::Known(Arc::clone(&rules), at);
        let Some(Robots::Waiting { held, asked }) = self.robots.insert(origin.clone(), known)
        else {
            return;
        };
        for shard in asked {
            let known = Post::Rules {
                origin: origin.clone(),
                rules: Arc::clone(&rules),
                at,
            };
            shard::post(&mut self.route, shard, known);
        }
        self.held -= held.len();
        for fetch in held {
            if rules.allows(&fetch.url) {
                self.push(fetch, false);
            } else {
                self.disallowed(fetch);
            }
        }
    }

    /// What another shard says of robots.txt: it wants an origin's rules (this shard is the
    /// origin's home), it sends them, or it hands on a redirect for this shard to follow.
    pub(crate) fn robots_post(&mut self, post: Post) {
        match post {
            Post::RulesWanted { origin, from } => match robots_of(&mut self.robots, &origin) {
                Some(Robots::Known(rules, at)) => {
                    let known = Post::Rules {
                        origin,
                        rules: Arc::clone(rules),
                        at: *at,
                    };
                    shard::post(&mut self.route, from, known);
                }
                Some(Robots::Waiting { asked, .. }) => asked.push(from),
                None => {
                    let waiting = Robots::Waiting {
                        held: Vec::new(),
                        asked: vec![from],
                    };
                    self.robots.insert(origin.clone(), waiting);
                    self.fetch_robots(origin);
                }
            },
            Post::Rules { origin, rules, at } => self.robots_known(origin, rules, at),
            Post::RobotsHop {
                origin,
                home,
                url,
                hops,
            } => {
                let chain = Chain { origin, home };
                match self.addr_of(&url) {
                    Some(addr) => {
                        let chain = self.chain(chain);
                        self.push(Fetch::robots_txt(url, addr, hops, chain), true);
                    }
                    None => {
                        let err = FetchError::Resolve(url.host_str().unwrap_or_default().into());
                        self.settle(chain, Err(err), None);
                    }
                }
            }
        }
        self.end_round();
    }

    fn disallowed(&mut self, fetch: Fetch) {
        self.record(
            fetch.known,
            Record {
                url: fetch.url.into(),
                status: Status::Error(ErrorKind::Robots),
                ..Record::default()
            },
        );
    }

    /// `url`, seen before through `before` redirects, is now reached through fewer. A queued
    /// or in-flight fetch needs nothing (its count is read when it completes); a URL refused
    /// for its chain is fetched after all; a redirect already fetched passes the count on
    /// (in a bounded crawl, to its target as a candidate of the next round, ranked after
    /// every link of the page of `rank`).
    fn reached_sooner(&mut self, url: Url, before: u32, redirects: u32, rank: Option<Rank>) {
        let max = self.config.max_redirects;
        if before > max && redirects <= max {
            // A fetch queued now takes its page from the budget like any other.
            if let Some(id) = self.refused(url.as_str())
                && let Some(addr) = self.addr_of(&url)
                && !self.closed
                && self.started < self.config.max_pages
                && shard::take(&self.route)
            {
                self.known.unend(id);
                if let Some(gauges) = &self.config.gauges {
                    gauges.ended.fetch_sub(1, Ordering::Relaxed);
                }
                self.queue_fetch(url, id, addr, rank);
            }
        } else if let Some(target) = self
            .known
            .get(url.as_str())
            .and_then(|id| self.redirects.get(&id))
            .cloned()
        {
            match rank {
                Some(rank) => {
                    let rank = budget::child(&rank, u32::MAX as usize);
                    self.found(target, redirects + 1, rank, None);
                }
                None => {
                    self.enqueue(target, redirects + 1);
                }
            }
        }
    }

    /// The index of `fetch`'s URL among the known ones, if it is known: the one it carries,
    /// else looked up by its text.
    fn known_id(&self, fetch: &Fetch) -> Option<Id> {
        self.id_of(fetch.known, fetch.url.as_str())
    }

    /// `known`, or where it is [`UNKNOWN`], the index of `url` if it is known.
    fn id_of(&self, known: Id, url: &str) -> Option<Id> {
        if known == UNKNOWN {
            self.known.get(url)
        } else {
            debug_assert_eq!(self.known.get(url), Some(known), "{url}");
            Some(known)
        }
    }

    /// The index of `url` if it was refused for its redirect chain.
    fn refused(&self, url: &str) -> Option<Id> {
        let id = self.known.get(url)?;
        let refused = Status::Error(ErrorKind::RedirectLimit);
        (self.known.status(id) == Some(refused)).then_some(id)
    }

    /// This crawler's index among the shards (0 alone).
    fn index(&self) -> usize {
        self.route.as_ref().map_or(0, Route::index)
    }

    /// Whether `--max-pages` bounds the crawl: its links then wait for their round.
    fn bounded(&self) -> bool {
        self.config.max_pages != usize::MAX
    }

    /// A bounded crawl found `url` (through `redirects` redirects, with `rank`), on the page
    /// `from` if it is a link: it waits for its round here, or in the shard that owns it.
    fn found(&mut self, url: Url, redirects: u32, rank: Rank, from: Option<Source>) {
        let found = Found {
            url,
            redirects,
            rank: Some(rank),
        };
        if let Some(Found {
            url,
            redirects,
            rank: Some(rank),
        }) = shard::keep(&mut self.route, found)
        {
            let from = from.filter(|_| redirects == 0);
            self.pending.push(Candidate {
                url,
                redirects,
                rank,
                from,
            });
        }
    }

    /// Links another shard found for this one, on the page `from`: queued now, or (ranked,
    /// in a bounded crawl) held for their round.
    pub(crate) fn links_came(&mut self, from: Option<Source>, links: Vec<Found>) {
        let mut new_links = 0;
        for Found {
            url,
            redirects,
            rank,
        } in links
        {
            match rank {
                Some(rank) => self.pending.push(Candidate {
                    url,
                    redirects,
                    rank,
                    from: from.clone().filter(|_| redirects == 0),
                }),
                // A redirect target (redirects > 0) is not one of the page's links.
                // The shard that found it told the journal.
                None => {
                    let new = self.meet(url, redirects, None, true);
                    new_links += u32::from(new && redirects == 0);
                }
            }
        }
        if let Some(from) = from
            && new_links > 0
        {
            self.credits.push((from, new_links));
        }
    }

    /// A bounded crawl alone has nothing left to do but its next round: the round goes
    /// through the frontier (and again while a round finds nothing to fetch).
    fn end_round(&mut self) {
        while self.route.is_none() && !self.pending.is_empty() && self.is_idle() {
            let left = self.config.max_pages.saturating_sub(self.started);
            let cutoff = self.cutoff(left);
            self.admit(&cutoff);
        }
    }

    /// Where the budget stops in this round, with `left` pages left: the round's candidates
    /// in rank order go as far as the one that takes the last page.
    pub(crate) fn cutoff(&mut self, left: usize) -> Cutoff {
        let chargeable = self.chargeable(left);
        Cutoff::of(left, &chargeable.iter().collect::<Vec<_>>())
    }

    /// The ranks of the round's candidates that would each take a page, in rank order, as far
    /// as the first `limit + 1` of them: what [`Crawler::admit`] would do, without doing it.
    pub(crate) fn chargeable(&mut self, limit: usize) -> Vec<Rank> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by(|a, b| a.rank.cmp(&b.rank));
        let max = self.config.max_redirects;
        // What the round would change of the seen set: fewest redirects, and refused.
        let mut overlay: HashMap<&str, (u32, bool)> = HashMap::default();
        let mut chargeable = Vec::new();
        let depth = self.depth;
        for candidate in pending.iter().filter(|c| c.rank.len() == depth) {
            if chargeable.len() > limit {
                break;
            }
            let url = &candidate.url;
            let key = url.as_str();
            let known = overlay
                .get(key)
                .map(|&(fewest, refused)| (fewest, Some(refused)))
                .or_else(|| {
                    self.known
                        .get(key)
                        .map(|id| (self.known.redirects(id), None))
                });
            let takes = match known {
                None => {
                    let verdict = self.verdict(url, candidate.redirects);
                    let refused = matches!(verdict, Err(FetchError::RedirectLimit));
                    overlay.insert(key, (candidate.redirects, refused));
                    verdict.is_ok()
                }
                Some((fewest, refused)) if candidate.redirects < fewest => {
                    let refused = refused.unwrap_or_else(|| self.refused(key).is_some());
                    let takes = fewest > max
                        && candidate.redirects <= max
                        && refused
                        && self.addr_of(url).is_some();
                    overlay.insert(key, (candidate.redirects, refused && !takes));
                    takes
                }
                Some(_) => false,
            };
            if takes {
                chargeable.push(candidate.rank.clone());
            }
        }
        drop(overlay);
        self.pending = pending;
        chargeable
    }

    /// The round's candidates go through the frontier in rank order, those past `cutoff`
    /// finding the budget spent (new URLs among them are forgotten).
    pub(crate) fn admit(&mut self, cutoff: &Cutoff) {
        let depth = self.depth;
        let (mut round, later) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition::<Vec<_>, _>(|c| c.rank.len() == depth);
        self.pending = later;
        self.depth += 1;
        round.sort_by(|a, b| a.rank.cmp(&b.rank));
        for candidate in round {
            self.closed = !cutoff.admits(&candidate.rank);
            let new = self.enqueue_ranked(candidate.url, candidate.redirects, Some(candidate.rank));
            if let Some(from) = candidate.from.filter(|_| new) {
                match self.credits.last_mut() {
                    Some((page, n)) if page.url == from.url => *n += 1,
                    _ => self.credits.push((from, 1)),
                }
            }
        }
        self.closed = false;
    }

    /// Whether a bounded crawl holds candidates for its next round.
    pub(crate) fn has_round(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The credits of pages of other shards, taken out for [`crate::Shard::merge`].
    pub(crate) fn take_credits(&mut self) -> Vec<(Source, u32)> {
        let index = self.index();
        let (own, others) = std::mem::take(&mut self.credits)
            .into_iter()
            .partition(|(source, _)| source.shard == index);
        self.credits = own;
        others
    }
}

/// Adds each credit to the record of its page (by URL: a record's index may have moved).
pub(crate) fn credit(records: &mut [Record], credits: Vec<(Source, u32)>) {
    if credits.is_empty() {
        return;
    }
    let at: HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(index, record)| (record.url.as_str(), index))
        .collect();
    let credited: Vec<(usize, u32)> = credits
        .iter()
        .filter_map(|(source, n)| Some((*at.get(&*source.url)?, *n)))
        .collect();
    for (index, n) in credited {
        records[index].new_links += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::parse_root, error::ErrorKind, journal::Restore};

    proptest::proptest! {
        /// A link taken as its text is the text its parsed and normalised URL would have.
        #[test]
        fn a_plain_path_is_what_resolving_it_gives(
            href in "/[a-zA-Z0-9._~/#%?-]{0,16}|[a-z./]{0,4}",
            base in "(http|https)://(127\\.0\\.0\\.1:8000|h\\.example|h\\.example:443)/[a-z/.?]{0,6}",
        ) {
            let base = Url::parse(&base).unwrap();
            if let Some(path) = plain_path(&href) {
                let text = [&base[..url::Position::BeforePath], path].concat();
                let resolved = resolve(&base, &href, encoding_rs::UTF_8);
                proptest::prop_assert_eq!(Some(text.as_str()), resolved.as_ref().map(Url::as_str));
            }
        }

        /// The same for every link written as text: paths, relative paths, and URLs on the
        /// base's origin written in any case (or on another origin, which must not pass).
        #[test]
        fn a_link_written_as_text_is_what_resolving_it_gives(
            href in "(([hH][tT]{2}[pP][sS]?://)?(127\\.0\\.0\\.1|[hH]\\.(example|EXAMPLE|xample)|xn--[cC]af-dma\\.example)(:8000|:443|:80|:)?)?\
                     [/a-zA-Z0-9._~#?:%-]{0,12}",
            base in "(http|https)://(127\\.0\\.0\\.1:8000|h\\.example|h\\.example:443|xn--caf-dma\\.example)\
                     /[a-z0-9/.?~]{0,8}",
            on_base in proptest::bool::ANY,
            upper in proptest::collection::vec(proptest::bool::ANY, 32),
            path in "/[a-zA-Z0-9._~/#?%-]{0,12}",
        ) {
            let base = Url::parse(&base).unwrap();
            let origin = Origin {
                origin: &base[..url::Position::BeforePath],
                directory: &base.path()[..=base.path().rfind('/').unwrap()],
            };
            // Half the links: the base's own origin, some of its letters in upper case, and
            // a path.
            let href = if on_base {
                let written: String = (origin.origin.chars().zip(&upper))
                    .map(|(char, &upper)| if upper { char.to_ascii_uppercase() } else { char })
                    .collect();
                written + &path
            } else {
                href
            };
            if let Some(text) = origin.text_of(&href) {
                let resolved = resolve(&base, &href, encoding_rs::UTF_8);
                proptest::prop_assert_eq!(Some(text.as_str()), resolved.as_ref().map(Url::as_str));
            }
        }
    }

    #[test]
    fn links_written_as_text_are_the_plain_ones_on_the_origin() {
        let origin = Origin {
            origin: "http://127.0.0.1:8000",
            directory: "/p/",
        };
        for (href, text) in [
            ("/p/1#x", "http://127.0.0.1:8000/p/1"),
            ("17", "http://127.0.0.1:8000/p/17"),
            ("q/r~s#", "http://127.0.0.1:8000/p/q/r~s"),
            ("HTTP://127.0.0.1:8000/p/9", "http://127.0.0.1:8000/p/9"),
        ] {
            assert_eq!(origin.text_of(href).as_deref(), Some(text), "{href}");
        }
        for other in [
            "",
            "./x",
            "../x",
            "x/../y",
            ".x",
            "x?y",
            "x:y",
            "//h/x",
            "?q",
            "#f",
            "http://127.0.0.1:8000",
            "http://127.0.0.1:80000/x",
            "http://127.0.0.1:8000.x/y",
            "https://127.0.0.1:8000/x",
            "http://user@127.0.0.1:8000/x",
            " /x",
        ] {
            assert_eq!(origin.text_of(other), None, "{other}");
        }
    }

    #[test]
    fn plain_paths_are_only_those_the_parser_leaves_alone() {
        for plain in [
            "/",
            "/p/1",
            "/p/1#x",
            "/a.b/c~d_e-f/",
            "/a//b",
            "/a/b.",
            "/#",
        ] {
            assert!(plain_path(plain).is_some(), "{plain}");
        }
        for other in [
            "", "p/1", "//h/p", "/./a", "/a/..", "/.x", "/a?b", "/%41", "/a b", " /a", "/é",
        ] {
            assert!(plain_path(other).is_none(), "{other}");
        }
    }

    /// One root, robots.txt not fetched (the tests that want it turn it on).
    fn config() -> Config {
        let mut config = Config::new(
            parse_root("http://127.0.0.1:8000/").unwrap(),
            "127.0.0.1:8000".parse().unwrap(),
        );
        config.robots = false;
        config
    }

    fn html(body: &str) -> Result<Response, FetchError> {
        Ok(Response {
            status: 200,
            content_type: Some("text/html; charset=utf-8".into()),
            body: body.as_bytes().to_vec(),
            body_len: body.len() as u64,
            ..Response::default()
        })
    }

    fn redirect(to: &str) -> Result<Response, FetchError> {
        Ok(Response {
            status: 302,
            location: Some(to.into()),
            ..Response::default()
        })
    }

    /// Fetches the next URL with `respond`, completing it at once.
    fn step(
        crawler: &mut Crawler,
        respond: impl FnOnce(&Url) -> Result<Response, FetchError>,
    ) -> Url {
        let now = Instant::now();
        let fetch = crawler.next_fetch(now).expect("a queued URL");
        let url = fetch.url.clone();
        let result = respond(&url);
        crawler.complete(fetch.finish(result, now));
        url
    }

    fn lines(crawler: &Crawler) -> Vec<String> {
        let mut lines: Vec<_> = crawler.records().iter().map(Record::line).collect();
        lines.sort();
        lines
    }

    #[test]
    fn links_are_resolved_scoped_and_deduplicated() {
        let mut crawler = Crawler::new(config());
        step(&mut crawler, |_| {
            html(
                r#"<a href="a">x</a><a href="/a#top">x</a><a href="HTTP://127.0.0.1:8000/b/../c">
                <a href="http://other.example/">x</a><a href="mailto:x@y.z">x</a>"#,
            )
        });
        assert_eq!(crawler.queued(), 2);
        while crawler.queued() > 0 {
            step(&mut crawler, |_| html(""));
        }
        assert!(crawler.is_done());
        assert_eq!(
            lines(&crawler),
            [
                "200\thttp://127.0.0.1:8000/",
                "200\thttp://127.0.0.1:8000/a",
                "200\thttp://127.0.0.1:8000/c",
                "error:skipped\thttp://other.example/",
                "error:skipped\tmailto:x@y.z",
            ]
        );
    }

    #[test]
    fn base_href_changes_resolution() {
        let mut crawler = Crawler::new(config());
        step(&mut crawler, |_| {
            html(r#"<base href="/dir/"><a href="page">"#)
        });
        assert_eq!(
            step(&mut crawler, |_| html("")).as_str(),
            "http://127.0.0.1:8000/dir/page"
        );
    }

    /// A Latin-1 page's links are read in Latin-1: their paths become UTF-8, their queries
    /// stay Latin-1, an entity means what the raw byte means.
    #[test]
    fn links_are_read_in_the_page_charset() {
        let mut crawler = Crawler::new(config());
        step(&mut crawler, |_| {
            let body =
                b"<a href=\"/caf\xe9\"><a href=\"/s?q=caf\xe9\"><a href=\"/s?q=caf&eacute;\">";
            Ok(Response {
                status: 200,
                content_type: Some("text/html; charset=ISO-8859-1".into()),
                body: body.to_vec(),
                body_len: body.len() as u64,
                ..Response::default()
            })
        });
        let mut urls: Vec<String> = (0..crawler.queued())
            .map(|_| step(&mut crawler, |_| html("")).into())
            .collect();
        urls.sort();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:8000/caf%C3%A9",
                "http://127.0.0.1:8000/s?q=caf%E9"
            ]
        );
    }

    /// Fetches the next URL at `now` with `respond`, completing it at once.
    fn step_at(
        crawler: &mut Crawler,
        now: Instant,
        respond: impl FnOnce(&Url) -> Result<Response, FetchError>,
    ) {
        let fetch = crawler.next_fetch(now).expect("a URL due");
        let result = respond(&fetch.url);
        crawler.complete(fetch.finish(result, now));
    }

    #[test]
    fn transport_failures_are_retried_up_to_max_tries() {
        let mut config = config();
        config.max_tries = 3;
        let mut crawler = Crawler::new(config);
        let mut now = Instant::now();
        for _ in 0..3 {
            step_at(&mut crawler, now, |_| Err(FetchError::Timeout));
            if let Some(wake) = crawler.next_wake() {
                now = wake;
            }
        }
        assert!(crawler.is_done());
        assert_eq!(
            crawler.records()[0].status,
            Status::Error(ErrorKind::Timeout)
        );
        assert_eq!(crawler.records()[0].tries, 3);
    }

    /// A retry is not due before its backoff: `next_fetch` says `None` and `next_wake` when.
    #[test]
    fn a_retry_waits_its_backoff() {
        let mut config = config();
        config.backoff = Duration::from_millis(100);
        let mut crawler = Crawler::new(config);
        let start = Instant::now();
        step_at(&mut crawler, start, |_| {
            Err(FetchError::Connect("refused".into()))
        });
        let wake = crawler.next_wake().expect("the root waits");
        let first = wake - start;
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        assert!(!crawler.is_done());
        assert!(
            crawler
                .next_fetch(wake - Duration::from_millis(1))
                .is_none()
        );
        step_at(&mut crawler, wake, |_| {
            Err(FetchError::Connect("refused".into()))
        });
        let second = crawler.next_wake().unwrap() - wake;
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
    }

    fn status(code: u16, retry_after: Option<&str>) -> Result<Response, FetchError> {
        Ok(Response {
            status: code,
            retry_after: retry_after.map(Into::into),
            ..Response::default()
        })
    }

    /// A 429 or 503 is tried again after its `Retry-After` (capped), or the backoff; its
    /// status is recorded once the tries are spent.
    #[test]
    fn too_many_requests_waits_what_the_server_asks() {
        let mut config = config();
        config.max_tries = 3;
        config.max_wait = Duration::from_secs(30);
        let mut crawler = Crawler::new(config);
        let start = Instant::now();
        step_at(&mut crawler, start, |_| status(429, Some("2")));
        assert_eq!(crawler.next_wake(), Some(start + Duration::from_secs(2)));
        let now = start + Duration::from_secs(2);
        step_at(&mut crawler, now, |_| status(503, Some("999999999")));
        assert_eq!(crawler.next_wake(), Some(now + Duration::from_secs(30)));
        step_at(&mut crawler, now + Duration::from_secs(30), |_| {
            status(503, None)
        });
        assert!(crawler.is_done());
        assert_eq!(lines(&crawler), ["503\thttp://127.0.0.1:8000/"]);
        assert_eq!(crawler.records()[0].tries, 3);
    }

    /// A `Retry-After` too large for any integer waits as long as `--max-wait-ms` allows, not
    /// the short backoff of a value that fails to parse.
    #[test]
    fn an_overflowing_retry_after_waits_the_longest_allowed() {
        let mut config = config();
        config.max_wait = Duration::from_secs(30);
        let mut crawler = Crawler::new(config);
        let start = Instant::now();
        step_at(&mut crawler, start, |_| {
            status(503, Some("99999999999999999999999"))
        });
        assert_eq!(crawler.next_wake(), Some(start + Duration::from_secs(30)));
    }

    #[test]
    fn several_roots_are_all_queued_and_fetched_at_their_addresses() {
        let mut config = config();
        config.add_root(
            parse_root("http://127.0.0.2:9000/start").unwrap(),
            "127.0.0.2:9000".parse().unwrap(),
        );
        let mut crawler = Crawler::new(config);
        let now = Instant::now();
        let a = crawler.next_fetch(now).unwrap();
        let b = crawler.next_fetch(now).unwrap();
        assert_eq!(a.addr, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(
            (b.url.as_str(), b.addr),
            (
                "http://127.0.0.2:9000/start",
                "127.0.0.2:9000".parse().unwrap()
            )
        );
        crawler.complete(a.finish(
            html(r#"<a href="http://127.0.0.2:9000/x"><a href="http://127.0.0.3/">"#),
            now,
        ));
        let x = crawler.next_fetch(now).unwrap();
        assert_eq!(x.addr, "127.0.0.2:9000".parse().unwrap());
    }

    /// `--lenient`: a subdomain gets its address from the caller's resolver, once; a host it
    /// cannot find ends as a resolve error.
    #[test]
    fn lenient_subdomains_are_resolved_by_the_caller() {
        use std::sync::{Arc, atomic::AtomicUsize};
        let mut config = Config::new(
            parse_root("http://example.com/").unwrap(),
            "127.0.0.1:8000".parse().unwrap(),
        );
        config.robots = false;
        config.host_match = crate::HostMatch::Lenient;
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        config.resolver = Some(crate::Resolver(Arc::new(move |host, port| {
            counter.fetch_add(1, Ordering::Relaxed);
            (host == "www.example.com").then(|| SocketAddr::from(([127, 0, 0, 9], port)))
        })));
        let mut crawler = Crawler::new(config);
        step(&mut crawler, |_| {
            html(
                r#"<a href="http://www.example.com/a"><a href="http://www.example.com/b">
                <a href="http://gone.example.com/">"#,
            )
        });
        let next = crawler.next_fetch(Instant::now()).unwrap();
        assert_eq!(next.addr, "127.0.0.9:80".parse().unwrap());
        assert_eq!(asked.load(Ordering::Relaxed), 2);
        assert!(lines(&crawler).contains(&"error:resolve\thttp://gone.example.com/".to_owned()));
    }

    fn text(status: u16, body: &str) -> Result<Response, FetchError> {
        Ok(Response {
            status,
            body: body.as_bytes().to_vec(),
            body_len: body.len() as u64,
            ..Response::default()
        })
    }

    /// The links of a small site, by page: the root's, `/a`'s, and `/b`'s under a `<base>` on
    /// another origin.
    fn site_links(path: &str) -> (&'static str, &'static [&'static str]) {
        match path {
            "/" => (
                "",
                &[
                    "/a",
                    "b",
                    "HTTP://127.0.0.1:8000/c",
                    "/x/secret",
                    "/skip/1",
                    "/a",
                    "/g#frag",
                    "h/i",
                ],
            ),
            "/a" => ("", &["/d", "e", "Http://127.0.0.1:8000/f", "/", "/x/other"]),
            "/b" => (r#"<base href="http://other.example/dir/">"#, &["/z", "w"]),
            _ => ("", &[]),
        }
    }

    /// The same link in a form the crawler must parse: a dot segment, which resolving drops.
    fn dotted(href: &str) -> String {
        match href.find("://") {
            Some(at) => {
                let path_at = at + 3 + href[at + 3..].find('/').unwrap();
                format!("{}/.{}", &href[..path_at], &href[path_at..])
            }
            None if href.starts_with('/') => format!("/.{href}"),
            None => format!("./{href}"),
        }
    }

    /// Crawls the site with its links written by `write`: the URLs in the order fetched,
    /// each with when (on a clock that moves only to the next wake-up), and the records.
    fn crawl_site(config: Config, write: fn(&str) -> String) -> (Vec<String>, Vec<String>) {
        let mut crawler = Crawler::new(config);
        let start = Instant::now();
        let mut now = start;
        let mut fetched = Vec::new();
        while !crawler.is_done() {
            let Some(fetch) = crawler.next_fetch(now) else {
                now = crawler
                    .next_wake()
                    .expect("a crawl not done has a time to wait for");
                continue;
            };
            fetched.push(format!("{:?} {}", now - start, fetch.url));
            let result = if fetch.url.path() == "/robots.txt" {
                text(200, "User-agent: *\nDisallow: /x/\n")
            } else {
                let (head, links) = site_links(fetch.url.path());
                let links: String = (links.iter())
                    .map(|href| format!(r#"<a href="{}">"#, write(href)))
                    .collect();
                html(&format!("{head}{links}"))
            };
            crawler.complete(fetch.finish(result, now));
        }
        (fetched, lines(&crawler))
    }

    /// A new link written as text is queued as its text when nothing but queueing it is to
    /// be done (`Crawler::fresh_text`): whatever the rules, the crawl is the one its parsed
    /// URL gives, fetch for fetch.
    #[test]
    fn a_link_taken_as_text_meets_the_rules_its_parsed_url_meets() {
        let configs: [fn(&mut Config); 6] = [
            |_| {},
            |config| config.robots = true,
            |config| config.exclude = Some(regex::Regex::new("/skip/").unwrap()),
            |config| config.max_pages = 5,
            |config| config.per_host = Some(1),
            |config| config.delay = Duration::from_millis(10),
        ];
        for (n, set) in configs.into_iter().enumerate() {
            let mut config = config();
            set(&mut config);
            let as_text = crawl_site(config.clone(), str::to_owned);
            let parsed = crawl_site(config, dotted);
            assert_eq!(as_text, parsed, "config {n}");
            assert!(as_text.0.len() > 3, "config {n}: {as_text:?}");
        }
    }

    /// robots.txt goes first and the root waits for it; what it disallows is recorded, never
    /// handed out; its Crawl-delay spaces the host's requests.
    #[test]
    fn robots_txt_goes_first_and_is_obeyed() {
        let mut config = config();
        config.robots = true;
        let mut crawler = Crawler::new(config);
        let t0 = Instant::now();
        let robots = crawler.next_fetch(t0).unwrap();
        assert_eq!(robots.url.path(), "/robots.txt");
        assert!(robots.is_robots());
        // The root waits for the rules.
        assert!(crawler.next_fetch(t0).is_none());
        assert!(!crawler.is_done());
        let rules = "User-agent: *\nDisallow: /private\nCrawl-delay: 1\n";
        crawler.complete(robots.finish(text(200, rules), t0));
        assert!(crawler.next_fetch(t0).is_none(), "within the crawl delay");
        let due = crawler.next_wake().unwrap();
        assert_eq!(due, t0 + Duration::from_secs(1));
        step_at(&mut crawler, due, |_| {
            html(r#"<a href="/private/x"><a href="/public">"#)
        });
        assert_eq!(crawler.next_wake(), Some(due + Duration::from_secs(1)));
        step_at(&mut crawler, due + Duration::from_secs(1), |_| html(""));
        assert!(crawler.is_done());
        assert_eq!(
            lines(&crawler),
            [
                "200\thttp://127.0.0.1:8000/",
                "200\thttp://127.0.0.1:8000/public",
                "error:robots\thttp://127.0.0.1:8000/private/x",
            ]
        );
    }

    /// A robots.txt that keeps redirecting is followed five times, then all is allowed with a
    /// note: the crawl goes on and ends.
    #[test]
    fn robots_redirects_are_followed_and_bounded() {
        let mut config = config();
        config.robots = true;
        let mut crawler = Crawler::new(config);
        let now = Instant::now();
        for hop in 0..=robots::MAX_REDIRECTS {
            let fetch = crawler.next_fetch(now).unwrap();
            assert!(fetch.is_robots(), "hop {hop}: {}", fetch.url);
            let next = format!("/robots-{hop}.txt");
            crawler.complete(fetch.finish(redirect(&next), now));
        }
        let root = crawler.next_fetch(now).unwrap();
        assert_eq!(root.url.path(), "/");
        crawler.complete(root.finish(html(""), now));
        assert!(crawler.is_done());
        let report = crawler.into_report("test", Duration::ZERO);
        assert_eq!(report.notes.len(), 1);
        assert!(report.notes[0].contains("redirects"), "{:?}", report.notes);
    }

    /// Two origins whose robots.txt both lead to one URL: each gets the rules of the fetch
    /// made for it, whatever order the fetches end in (the bookkeeping is by fetch, not by
    /// the URL they share).
    #[test]
    fn robots_redirects_to_one_url_keep_their_own_origin() {
        use std::sync::Arc;
        let mut config = config();
        config.robots = true;
        config.add_root(
            parse_root("http://127.0.0.2:9000/").unwrap(),
            "127.0.0.2:9000".parse().unwrap(),
        );
        config.resolver = Some(crate::Resolver(Arc::new(|host, port| {
            format!("{host}:{port}").parse().ok()
        })));
        let mut crawler = Crawler::new(config);
        let now = Instant::now();
        let shared = "http://127.0.0.3:7000/robots.txt";
        let mut held = Vec::new();
        while let Some(fetch) = crawler.next_fetch(now) {
            held.push(fetch);
        }
        assert_eq!(held.len(), 2, "both origins' robots.txt");
        // The first origin's goes straight to the shared URL; the second's by one more hop.
        for fetch in held {
            let to = if fetch.url.as_str().starts_with("http://127.0.0.1") {
                shared
            } else {
                "http://127.0.0.4:6000/robots.txt"
            };
            crawler.complete(fetch.finish(redirect(to), now));
        }
        let first = crawler.next_fetch(now).unwrap();
        let hop = crawler.next_fetch(now).unwrap();
        assert_eq!((first.url.as_str(), hop.url.port()), (shared, Some(6000)));
        crawler.complete(hop.finish(redirect(shared), now));
        let second = crawler.next_fetch(now).unwrap();
        assert_eq!(second.url.as_str(), shared);
        // The first origin's fetch fails for good (all disallowed), the second's has rules.
        crawler.complete(first.finish(text(500, ""), now));
        crawler.complete(second.finish(text(200, "User-agent: *\nDisallow: /x\n"), now));
        let root = crawler
            .next_fetch(now)
            .expect("the second origin's root is allowed");
        assert_eq!(root.url.as_str(), "http://127.0.0.2:9000/");
        crawler.complete(root.finish(html(""), now));
        assert!(crawler.is_done());
        assert!(lines(&crawler).contains(&"error:robots\thttp://127.0.0.1:8000/".to_owned()));
    }

    /// `--per-host 1`: one fetch in flight to the host at a time, however many are queued.
    #[test]
    fn per_host_caps_the_fetches_in_flight_to_a_host() {
        let mut config = config();
        config.per_host = Some(1);
        let mut crawler = Crawler::new(config);
        let now = Instant::now();
        step_at(&mut crawler, now, |_| html(r#"<a href="/a"><a href="/b">"#));
        let a = crawler.next_fetch(now).unwrap();
        assert!(crawler.next_fetch(now).is_none());
        assert_eq!(
            crawler.next_wake(),
            None,
            "a completion, not a time, frees the host"
        );
        crawler.complete(a.finish(html(""), now));
        assert!(crawler.next_fetch(now).is_some());
    }

    #[test]
    fn bad_responses_are_not_retried() {
        let mut crawler = Crawler::new(config());
        step(&mut crawler, |_| Err(FetchError::Malformed("x")));
        assert!(crawler.is_done());
        assert_eq!(crawler.records()[0].tries, 1);
    }

    #[test]
    fn redirect_chains_are_bounded() {
        let mut config = config();
        config.max_redirects = 2;
        let mut crawler = Crawler::new(config);
        for n in 1..=3 {
            step(&mut crawler, |_| redirect(&format!("/r{n}")));
        }
        assert!(crawler.is_done());
        assert_eq!(
            lines(&crawler),
            [
                "302\thttp://127.0.0.1:8000/",
                "302\thttp://127.0.0.1:8000/r1",
                "302\thttp://127.0.0.1:8000/r2",
                "error:redirect-limit\thttp://127.0.0.1:8000/r3",
            ]
        );
    }

    /// Whether a URL is fetched does not depend on which path to it completes first: one
    /// refused for its chain is fetched when a link reaches it later, and a link to a redirect
    /// already fetched lets its target through too.
    #[test]
    fn redirect_limit_outcomes_do_not_depend_on_order() {
        let mut config = config();
        config.max_redirects = 1;
        // `/a` → `/t` → `/u` → `/v` is a chain; `/l` links to `/t` and `/m` to `/v`.
        let site = |url: &Url| match url.path() {
            "/" => html(r#"<a href="/a"><a href="/l"><a href="/m">"#),
            "/a" => redirect("/t"),
            "/t" => redirect("/u"),
            "/u" => redirect("/v"),
            "/l" => html(r#"<a href="/t">"#),
            "/m" => html(r#"<a href="/v">"#),
            _ => html(""),
        };
        // Hands out everything queued, and completes first what comes first in `order`.
        let crawl = |order: &[&str]| {
            let mut crawler = Crawler::new(config.clone());
            let mut held = Vec::new();
            loop {
                while let Some(fetch) = crawler.next_fetch(Instant::now()) {
                    held.push(fetch);
                }
                let rank = |fetch: &Fetch| {
                    let path = fetch.url.path();
                    order.iter().position(|p| *p == path).unwrap_or(order.len())
                };
                let Some(next) = (0..held.len()).min_by_key(|&i| rank(&held[i])) else {
                    break;
                };
                let fetch = held.remove(next);
                let result = site(&fetch.url);
                crawler.complete(fetch.finish(result, Instant::now()));
            }
            assert!(crawler.is_done());
            lines(&crawler)
        };
        let expected = [
            "200\thttp://127.0.0.1:8000/",
            "200\thttp://127.0.0.1:8000/l",
            "200\thttp://127.0.0.1:8000/m",
            "200\thttp://127.0.0.1:8000/v",
            "302\thttp://127.0.0.1:8000/a",
            "302\thttp://127.0.0.1:8000/t",
            "302\thttp://127.0.0.1:8000/u",
        ];
        // Links first: `/t` is 0 redirects away from the start, `/v` too.
        assert_eq!(crawl(&["/", "/l", "/m"]), expected);
        // The chain first: `/u` is refused (2 redirects), then `/l` makes `/t` 0 away, which
        // lets `/u` through; `/v` is refused in turn, until `/m` links to it.
        assert_eq!(crawl(&["/", "/a", "/t", "/l", "/u", "/m"]), expected);
    }

    #[test]
    fn max_pages_bounds_the_frontier() {
        let mut config = config();
        config.max_pages = 3;
        let mut crawler = Crawler::new(config);
        step(&mut crawler, |_| {
            html(r#"<a href="/1"><a href="/2"><a href="/3"><a href="/4">"#)
        });
        assert_eq!(crawler.queued(), 2);
    }

    /// With a tracer, each fetch handed out gets the next id, and the frontier writes its
    /// start and its end.
    #[test]
    fn the_frontier_traces_each_fetchs_start_and_end_under_a_new_id() {
        let memory = crate::trace::Memory::default();
        let mut config = config();
        config.trace = Some(std::sync::Arc::new(crate::Tracer::new(memory.clone())));
        let mut crawler = Crawler::new(config);
        step(&mut crawler, |_| html(r#"<a href="/a">"#));
        step(&mut crawler, |_| Err(FetchError::Malformed("x")));
        let events: Vec<String> = memory
            .text()
            .lines()
            .map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                format!("{} {}", words[2], words[4..].join(" "))
            })
            .collect();
        assert_eq!(
            events,
            [
                "#1 start http://127.0.0.1:8000/ (try 1)",
                "#1 completed 200, 1 links",
                "#2 start http://127.0.0.1:8000/a (try 1)",
                "#2 completed error:malformed",
            ]
        );
    }

    #[test]
    fn in_flight_counts_until_complete() {
        let mut crawler = Crawler::new(config());
        let fetch = crawler.next_fetch(Instant::now()).unwrap();
        assert!(!crawler.is_done());
        assert_eq!(crawler.in_flight(), 1);
        let now = Instant::now();
        crawler.complete(fetch.finish(html(""), now));
        assert!(crawler.is_done());
    }

    /// Once stopped, nothing more is handed out, and the crawl is over when what was in
    /// flight has ended, with URLs left queued.
    #[test]
    fn a_stopped_crawl_hands_out_nothing_and_ends_with_its_fetches() {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut config = config();
        config.stop = Some(Arc::clone(&stop));
        let mut crawler = Crawler::new(config);
        step(&mut crawler, |_| {
            html(r#"<a href="/a"></a><a href="/b"></a>"#)
        });
        let now = Instant::now();
        let fetch = crawler.next_fetch(now).unwrap();
        stop.store(true, Ordering::Relaxed);
        assert!(crawler.next_fetch(now).is_none());
        assert_eq!(crawler.next_wake(), None);
        assert!(!crawler.is_done(), "a fetch is in flight");
        crawler.complete(fetch.finish(html(""), now));
        assert!(crawler.is_done());
        assert_eq!(crawler.queued(), 1);
        assert_eq!(crawler.records().len(), 2);
    }

    /// A restored URL that waited for its next try goes as that try, not before its time;
    /// a restored record is kept and its URL not fetched again.
    #[test]
    fn a_restored_retry_waits_for_its_time() {
        let root = "http://127.0.0.1:8000/";
        let page = "http://127.0.0.1:8000/a";
        let start = Instant::now();
        let due = start + Duration::from_secs(1);
        let mut config = config();
        config.restore = Some(Arc::new(Restore {
            seen: vec![(root.to_owned(), 0), (page.to_owned(), 0)],
            tries: vec![crate::journal::Retry {
                url: page.to_owned(),
                tries: 3,
                due,
            }],
            ended: vec![Record {
                url: root.to_owned(),
                status: Status::Http(200),
                tries: 1,
                ..Record::default()
            }],
        }));
        let mut crawler = Crawler::new(config);
        assert!(crawler.next_fetch(start).is_none());
        assert_eq!(crawler.next_wake(), Some(due));
        let fetch = crawler.next_fetch(due).expect("due now");
        assert_eq!((fetch.url.as_str(), fetch.tries), (page, 3));
        crawler.complete(fetch.finish(html(""), due));
        assert!(crawler.is_done());
        assert_eq!(
            lines(&crawler),
            [format!("200\t{root}"), format!("200\t{page}")]
        );
    }
}
