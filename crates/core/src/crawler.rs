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
    collections::{BinaryHeap, HashMap, VecDeque},
    net::SocketAddr,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use url::Url;

use crate::{
    charset,
    config::{Config, MAX_URL_LEN},
    error::{ErrorKind, FetchError, Limit},
    links::extract_links,
    politeness::Hosts,
    report::{Record, Report, Status},
    response::{Response, ResponseReader},
    robots::{self, Rules},
    shard::{self, Route},
    trace::{Event, FetchId},
    urls::resolve,
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

    /// The request bytes: HTTP/1.0, one request per connection.
    pub fn request(&self) -> Vec<u8> {
        crate::request::request(&self.url)
    }

    /// The reader for this fetch's response, within `limits` (a robots.txt's reader keeps its
    /// body, which is not HTML, and has its own cap).
    pub fn reader(&self, limits: crate::Limits) -> ResponseReader {
        ResponseReader::new(limits).for_robots_txt(self.robots)
    }

    /// The fetch of a robots.txt at `url`, reached through `hops` redirects.
    fn robots_txt(url: Url, addr: SocketAddr, hops: u8) -> Fetch {
        Fetch {
            url,
            addr,
            tries: 1,
            id: FetchId::default(),
            robots: true,
            hops,
            polite: false,
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
                let links = extract_links(text.as_bytes());
                let base = links
                    .base
                    .as_deref()
                    .and_then(|base| resolve(&self.url, base, encoding))
                    .unwrap_or_else(|| self.url.clone());
                page.links = links
                    .hrefs
                    .iter()
                    .filter_map(|href| resolve(&base, href, encoding))
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
    links: Vec<Url>,
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

/// Where an origin's robots.txt stands.
#[derive(Debug)]
enum Robots {
    /// Being fetched; the origin's URLs wait here meanwhile.
    Fetching(Vec<Fetch>),
    /// Known.
    Known(Rules),
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
    /// Every URL met, with the fewest redirects that led to it.
    seen: HashMap<String, u32>,
    /// Where each redirect fetched so far pointed, to pass a shorter count on.
    redirects: HashMap<String, Url>,
    queue: VecDeque<Fetch>,
    /// Fetches to try again, each not before its time; earliest on top.
    waiting: BinaryHeap<Reverse<Waiting>>,
    /// How many fetches were ever put in `waiting`: the tie-break of equal times.
    waited: u64,
    /// Addresses the [`crate::config::Resolver`] gave (or not), by `host:port`.
    resolved: HashMap<String, Option<SocketAddr>>,
    /// Each origin's robots.txt, by `http://host:port` (when it is obeyed).
    robots: HashMap<String, Robots>,
    /// Where a robots.txt redirected to: the URL fetched next, and the origins whose rules
    /// it holds (two origins' files may point to one).
    robots_redirects: HashMap<String, Vec<String>>,
    /// What the report should say beside the records (robots.txt that was not plain rules).
    notes: Vec<String>,
    /// The hosts whose politeness applies, and their queues.
    hosts: Hosts<Fetch>,
    in_flight: usize,
    /// The most fetches ever in flight at once.
    peak_in_flight: usize,
    /// Fetches handed out, retries excluded; bounded by `max_pages`.
    started: usize,
    records: Vec<Record>,
    /// Set when this crawler is one shard of several: where the URLs it does not own go, and
    /// the page budget the shards share (see [`crate::shard`]).
    pub(crate) route: Option<Route>,
}

impl Crawler {
    /// A crawl of `config`'s roots, with the roots queued.
    pub fn new(config: Config) -> Crawler {
        Crawler::with_route(config, None)
    }

    /// A crawl of `config`'s roots, alone or as one shard of several (then a root is queued
    /// only if this shard owns it).
    pub(crate) fn with_route(config: Config, route: Option<Route>) -> Crawler {
        let mut hosts = Hosts::new(config.per_host, config.delay);
        if let Some(stride) = route.as_ref().and_then(Route::stride) {
            hosts.set_stride(stride);
        }
        let mut crawler = Crawler {
            config,
            seen: HashMap::new(),
            redirects: HashMap::new(),
            queue: VecDeque::new(),
            waiting: BinaryHeap::new(),
            waited: 0,
            resolved: HashMap::new(),
            robots: HashMap::new(),
            robots_redirects: HashMap::new(),
            notes: Vec::new(),
            hosts,
            in_flight: 0,
            peak_in_flight: 0,
            started: 0,
            records: Vec::new(),
            route,
        };
        let roots: Vec<Url> = crawler.config.roots().cloned().collect();
        for root in roots {
            crawler.enqueue(root, 0);
        }
        crawler
    }

    /// The settings this crawl runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next URL to fetch, counted as in flight until its outcome is completed; `None`
    /// when nothing is due at `now` (see [`Crawler::next_wake`]).
    pub fn next_fetch(&mut self, now: Instant) -> Option<Fetch> {
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
            None => {
                let mut fetch = self.hosts.pop(now)?;
                fetch.polite = true;
                fetch
            }
        };
        fetch.started = Some(now);
        fetch.work_rounds = self.config.work_rounds;
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
    pub fn complete(&mut self, outcome: Outcome) {
        self.in_flight -= 1;
        self.publish_in_flight();
        self.trace_completed(&outcome);
        let Outcome {
            mut fetch,
            result,
            latency,
            at,
        } = outcome;
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
            _ if fetch.robots => return self.robots_done(&fetch, result, at),
            Ok(page) => page,
            Err(err) => {
                self.record(Record {
                    url: fetch.url.into(),
                    status: Status::Error(err.kind()),
                    tries: fetch.tries,
                    latency: Some(latency),
                    ..Record::default()
                });
                return;
            }
        };
        let links_found = page.links.len() as u32;
        let mut new_links = 0;
        for link in page.links {
            new_links += u32::from(self.enqueue(link, 0));
        }
        if let Some(target) = &page.redirect {
            let redirects = self.seen.get(fetch.url.as_str()).map_or(0, |&r| r + 1);
            self.redirects
                .insert(fetch.url.as_str().to_owned(), target.clone());
            self.enqueue(target.clone(), redirects);
        }
        self.record(Record {
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
        });
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
        let retry = self.waiting.peek().map(|Reverse(first)| first.due);
        match (retry, self.hosts.next_wake()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Nothing queued, nothing waiting and nothing in flight: the crawl is complete.
    pub fn is_done(&self) -> bool {
        self.queue.is_empty()
            && self.waiting.is_empty()
            && self.hosts.queued() == 0
            && self.in_flight == 0
    }

    /// Queues `fetch` (at the front for a retry): in its host's queue if the host's
    /// politeness applies, in the crawl's one queue otherwise.
    fn push(&mut self, fetch: Fetch, front: bool) {
        let origin = &fetch.url[..url::Position::BeforePath];
        if self.hosts.manages(origin) {
            let origin = origin.to_owned();
            self.hosts.push(&origin, fetch, front);
        } else if front {
            self.queue.push_front(fetch);
        } else {
            self.queue.push_back(fetch);
        }
    }

    /// How many fetches are handed out and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How many URLs wait to be fetched, due or not.
    pub fn queued(&self) -> usize {
        self.queue.len() + self.waiting.len() + self.hosts.queued()
    }

    /// The records so far, one per URL that ended.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Ends the crawl: the report, for `strategy`, of a crawl that took `elapsed`.
    pub fn into_report(self, strategy: &str, elapsed: Duration) -> Report {
        let mut report = Report::new(strategy, &self.config, self.records, elapsed);
        report.peak_in_flight = self.peak_in_flight;
        report.notes = self.notes;
        report
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

    fn record(&mut self, record: Record) {
        if let Some(sink) = &self.config.sink {
            (sink.0)(&record);
        }
        self.records.push(record);
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
        // One shard of several: a URL another shard owns is handed over, not looked at here.
        // (Its owner is a hash of the text the seen set keys on: `resolve` normalised it.)
        let Some(url) = shard::keep(&mut self.route, url, redirects) else {
            return false;
        };
        if let Some(fewest) = self.seen.get_mut(url.as_str()) {
            if redirects < *fewest {
                let before = std::mem::replace(fewest, redirects);
                self.reached_sooner(url, before, redirects);
            }
            return false;
        }
        if self.started >= self.config.max_pages || shard::spent(&self.route) {
            // Past the bound nothing new is even remembered: the frontier stops growing.
            return false;
        }
        self.seen.insert(url.as_str().to_owned(), redirects);
        let skip = self.config.out_of_scope(&url);
        let addr = if skip.is_none() {
            self.addr_of(&url)
        } else {
            None
        };
        let error = if let Some(skip) = skip {
            Some(FetchError::Skipped(skip))
        } else if redirects > self.config.max_redirects {
            Some(FetchError::RedirectLimit)
        } else if url.as_str().len() > MAX_URL_LEN {
            Some(FetchError::TooLarge(Limit::Url))
        } else if addr.is_none() {
            Some(FetchError::Resolve(
                url.host_str().unwrap_or_default().to_owned(),
            ))
        } else {
            None
        };
        if let Some(err) = error {
            self.record(Record {
                url: url.into(),
                status: Status::Error(err.kind()),
                ..Record::default()
            });
        } else if !shard::take(&self.route) {
            // Another shard took the last of the shared budget meanwhile: past the bound.
            self.seen.remove(url.as_str());
            return false;
        } else if let Some(addr) = addr {
            // (No error means an address was found.)
            self.queue_fetch(url, addr);
        }
        true
    }

    fn queue_fetch(&mut self, url: Url, addr: SocketAddr) {
        self.started += 1;
        let fetch = Fetch {
            url,
            addr,
            tries: 1,
            id: FetchId::default(),
            robots: false,
            hops: 0,
            polite: false,
            work_rounds: 0,
            started: None,
        };
        if !self.config.robots {
            return self.push(fetch, false);
        }
        let origin = &fetch.url[..url::Position::BeforePath];
        match robots_of(&mut self.robots, origin) {
            Some(Robots::Known(rules)) => {
                if rules.allows(&fetch.url) {
                    self.push(fetch, false);
                } else {
                    self.disallowed(fetch);
                }
            }
            Some(Robots::Fetching(held)) => held.push(fetch),
            None => {
                // The origin's first URL: its robots.txt goes first, and the URL waits.
                let mut robots_txt = fetch.url.clone();
                robots_txt.set_path("/robots.txt");
                robots_txt.set_query(None);
                self.robots
                    .insert(origin.to_owned(), Robots::Fetching(vec![fetch]));
                self.push(Fetch::robots_txt(robots_txt, addr, 0), true);
            }
        }
    }

    /// A robots.txt fetch ended: a redirect is followed (up to [`robots::MAX_REDIRECTS`], to
    /// any `http:` host with an address, as RFC 9309 asks), anything else settles the rules.
    fn robots_done(&mut self, fetch: &Fetch, result: Result<Page, FetchError>, at: Instant) {
        let origins = self
            .robots_redirects
            .get_mut(fetch.url.as_str())
            .and_then(Vec::pop);
        let origin = origins.unwrap_or_else(|| fetch.url[..url::Position::BeforePath].to_owned());
        if self
            .robots_redirects
            .get(fetch.url.as_str())
            .is_some_and(Vec::is_empty)
        {
            self.robots_redirects.remove(fetch.url.as_str());
        }
        if let Ok(Page {
            redirect: Some(target),
            ..
        }) = &result
            && fetch.hops < robots::MAX_REDIRECTS
            && target.scheme() == "http"
            && let Some(addr) = self.addr_of(target)
        {
            let next = Fetch::robots_txt(target.clone(), addr, fetch.hops + 1);
            self.robots_redirects
                .entry(target.as_str().to_owned())
                .or_default()
                .push(origin);
            return self.push(next, true);
        }
        self.robots_known(&origin, result, at);
    }

    /// An origin's robots.txt is read: its rules are known, and the URLs that waited for
    /// them are queued or recorded as disallowed.
    fn robots_known(&mut self, origin: &str, result: Result<Page, FetchError>, at: Instant) {
        let result = result.as_ref().map(|page| {
            let body = page.extra.as_deref().map_or(&[][..], |extra| &extra.body);
            (page.status, body)
        });
        let (rules, note) = robots::rules(origin, result);
        self.notes.extend(note);
        if let Some(delay) = rules.crawl_delay() {
            self.hosts.crawl_delay(origin, delay, at);
        }
        let before = self.robots.insert(origin.to_owned(), Robots::Known(rules));
        let Some(Robots::Fetching(held)) = before else {
            return;
        };
        let Some(Robots::Known(rules)) = self.robots.get(origin) else {
            return;
        };
        let (allowed, disallowed): (Vec<Fetch>, Vec<Fetch>) =
            held.into_iter().partition(|fetch| rules.allows(&fetch.url));
        for fetch in allowed {
            self.push(fetch, false);
        }
        for fetch in disallowed {
            self.disallowed(fetch);
        }
    }

    fn disallowed(&mut self, fetch: Fetch) {
        self.record(Record {
            url: fetch.url.into(),
            status: Status::Error(ErrorKind::Robots),
            ..Record::default()
        });
    }

    /// `url`, seen before through `before` redirects, is now reached through fewer. A queued
    /// or in-flight fetch needs nothing (its count is read when it completes); a URL refused
    /// for its chain is fetched after all; a redirect already fetched passes the count on.
    fn reached_sooner(&mut self, url: Url, before: u32, redirects: u32) {
        let max = self.config.max_redirects;
        if before > max && redirects <= max {
            let refused = self.records.iter().position(|record| {
                record.url == url.as_str()
                    && record.status == Status::Error(ErrorKind::RedirectLimit)
            });
            // A fetch queued now takes its page from the budget like any other.
            if let Some(index) = refused
                && let Some(addr) = self.addr_of(&url)
                && self.started < self.config.max_pages
                && shard::take(&self.route)
            {
                self.records.remove(index);
                if let Some(gauges) = &self.config.gauges {
                    gauges.ended.fetch_sub(1, Ordering::Relaxed);
                }
                self.queue_fetch(url, addr);
            }
        } else if let Some(target) = self.redirects.get(url.as_str()).cloned() {
            self.enqueue(target, redirects + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::parse_root, error::ErrorKind};

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
}
