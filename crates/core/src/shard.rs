//! The frontier split into shards, so that N event loops on N cores can crawl one site without
//! sharing anything but messages.
//!
//! The lecture's event loop gives *concurrency, not parallelism*: one thread overlaps thousands
//! of waits, but it runs on one core. To use N cores, the systems that do it well (nginx's
//! workers, Seastar and glommio's shard per core) run N loops that share nothing. A crawler's
//! shared state is its frontier, so the frontier is what gets split: each [`Shard`] owns part
//! of the URL space — its own seen set, queue, in-flight count and records, in a [`Crawler`] of
//! its own — and only the loop that owns a shard ever touches it. What crosses from one shard
//! to another is a [`Message`]: the links a page of one shard found that belong to another.
//! Like the rest of the core, a shard does no I/O and holds no thread and no clock: the
//! strategies carry the messages (an event loop's mailbox, a channel), and the property tests
//! carry them in any order by hand.
//!
//! # Which shard owns a URL
//!
//! [`owner`] hashes the whole normalised URL. Distributed crawlers (Mercator, BUbiNG) hash the
//! *host* instead: all of a host's pages then live on one agent, which can keep per-host
//! politeness (one connection per host, a delay between requests) without asking anyone, and
//! most links, which stay on their host, never cross agents. This crawler's scope is a single
//! origin, so a host hash would put every URL on one shard and leave the other cores idle:
//! exactly the problem being solved. Hashing the URL spreads the pages evenly over the shards
//! whatever the site; the price is that most links cross shards (a fraction (N − 1) / N of
//! them), handed over in one message per page and shard, and that limits over several URLs
//! must be global: [`Config::max_pages`] is a budget the shards share (below).
//!
//! # Politeness: a host on one shard
//!
//! `--per-host N` caps the connections to a host *in total*, and `--delay-ms` spaces *all* its
//! requests. Shared counters and clocks between shards could do it, at the price of a
//! cross-core write per fetch and of shards waiting on each other; so when either flag is
//! given, URLs go instead to the shard of their *origin* ([`host_owner`]), as in Mercator and
//! BUbiNG: each host's politeness is then kept by the one shard that owns it, exactly, with
//! nothing shared. The price is the one above: a one-host crawl with politeness runs on one
//! shard — which is what politeness asks (one host, a few connections, spaced) — while a
//! crawl of several hosts spreads them over the shards. Without the flags (the benchmark's
//! crawls), URLs are hashed whole as before and nothing changes.
//!
//! robots.txt needs no such routing: each shard reads an origin's robots.txt itself, before
//! fetching any URL of that origin it owns, so the rules are the same everywhere. A
//! `Crawl-delay` found there is kept by one shard when the flags route by host; with URLs
//! hashed whole, the shards take turns in time slots from one shared epoch (a `OnceLock`
//! set once, like the page budget: nothing is written per fetch), so the delay holds over
//! all of them (`crates/core/src/politeness.rs`).
//!
//! # One budget for `--max-pages`
//!
//! `--max-pages` bounds the URLs queued for fetching over the whole crawl. With one shard it is
//! a count in the [`Crawler`]; with several it is one atomic counter of pages left that every
//! shard takes from when it queues a URL. Taking is exact (a compare-and-swap that fails at
//! zero), so the shards together queue exactly as many URLs as one crawler would; a URL found
//! after the budget is spent is forgotten, as with one shard. The counter is the only memory
//! the shards share, and only when `--max-pages` is given: an unbounded crawl touches nothing
//! shared per fetch.
//!
//! # Knowing when the crawl is over
//!
//! One shard is done when nothing is queued and nothing is in flight. N shards are done when
//! every shard is idle *and no message is on its way* (a message in flight may wake an idle
//! shard). Looking at the shards one by one cannot tell: one may be found idle, then receive
//! links from a shard looked at later, which was then still busy. The shards run the
//! termination detection of Dijkstra's EWD998 (Safra's algorithm), which counts messages:
//!
//! - each shard keeps its balance of link messages, sent minus received, and turns *black*
//!   when it receives one;
//! - shard 0, when idle, sends a white probe with count 0 round the ring 0 → 1 → … → N − 1 →
//!   0; each shard passes it on only when idle, adding its balance, blackening it if the shard
//!   is black, and turning white itself;
//! - when the probe comes back to an idle shard 0 white, shard 0 white, and the counts summing
//!   to zero (every message sent was received), the crawl is over: shard 0 tells every shard.
//!   Otherwise shard 0 starts another round.
//!
//! The probe travels only between idle shards (it waits at a busy one), so it costs nothing
//! while the crawl is in full flow; the check is exact, not a timeout or a "looks idle".
//!
//! # Driving order
//!
//! For each shard, on the one thread that owns it:
//!
//! 1. after [`Shard::split`], and after every [`Shard::complete`] and [`Shard::deliver`], send
//!    every [`Shard::poll_message`] ([`Shard::messages`]) to the shard it names (a shard of
//!    one never has any);
//! 2. fetch as with a [`Crawler`]: [`Shard::next_fetch`], then [`Shard::complete`] with the
//!    [`crate::Outcome`];
//! 3. hand every message that arrives to [`Shard::deliver`];
//! 4. stop once [`Shard::is_done`]: the whole crawl is over, not just this shard's part;
//! 5. [`Shard::merge`] the shards into one report, the same as one crawler's.
//!
//! Each shard's [`Shard::config`] has its share of the concurrency: a driver keeps at most that
//! many of its fetches in flight.

use std::{
    collections::VecDeque,
    hash::{DefaultHasher, Hash, Hasher},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use url::Url;

use crate::{
    budget::{Cutoff, Rank, Source},
    config::Config,
    crawler::{self, Crawler, Fetch, Outcome},
    report::{Latency, Record, Report},
    robots::Rules,
};

/// The shard, of `shards`, that owns `url`: a hash of the whole normalised URL (see the module
/// documentation for why not of its host). The same in every shard and on every thread.
pub fn owner(url: &Url, shards: usize) -> usize {
    hash_owner(url.as_str(), shards)
}

/// The shard, of `shards`, that owns `url` when politeness is in force: a hash of its origin,
/// so that one shard owns all of a host (see the module documentation).
pub fn host_owner(url: &Url, shards: usize) -> usize {
    hash_owner(&url[..url::Position::BeforePath], shards)
}

fn hash_owner(key: &str, shards: usize) -> usize {
    // `DefaultHasher::new` has fixed keys, so every shard computes the same owner.
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % shards.max(1) as u64) as usize
}

/// Shard `index`'s part of `total` fetches in flight, of `shards` (which differ by one at
/// most).
fn share(total: usize, index: usize, shards: usize) -> usize {
    total / shards + usize::from(index < total % shards)
}

/// The shard, of `shards`, that is the home of `origin` (`http://host:port`): the one that
/// fetches its robots.txt and keeps its rules, and (routing by host) all of its URLs.
pub(crate) fn home(origin: &str, shards: usize) -> usize {
    hash_owner(origin, shards)
}

/// A URL found for the frontier: a link (redirects 0) or a redirect's target, with its rank
/// in a bounded crawl ([`crate::budget`]).
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) url: Url,
    pub(crate) redirects: u32,
    pub(crate) rank: Option<Rank>,
}

/// What one shard says to another of robots.txt, whose rules live on the origin's home
/// shard alone.
#[derive(Debug)]
pub(crate) enum Post {
    /// To an origin's home: shard `from` holds URLs of `origin` and wants its rules.
    RulesWanted { origin: String, from: usize },
    /// From an origin's home (or from the shard that read them, to the home): its rules, read
    /// when a fetch ended at `at`.
    Rules {
        origin: String,
        rules: Arc<Rules>,
        at: Option<Instant>,
    },
    /// To the home of the origin a robots.txt redirected to: fetch `url`, the `hops`th
    /// redirect of `origin`'s robots.txt, under your politeness for that origin, and send
    /// the rules it gives to shard `home`.
    RobotsHop {
        origin: String,
        home: usize,
        url: Url,
        hops: u8,
    },
}

/// What a sharded [`Crawler`] knows about the others: which URLs it owns, the links it found
/// for the others, and the budget of pages they share.
#[derive(Debug)]
pub(crate) struct Route {
    index: usize,
    /// For each shard, the links found for it since the last hand-over.
    outbox: Vec<Vec<Found>>,
    /// What this shard has to say of robots.txt to others since the last hand-over.
    posts: Vec<(usize, Post)>,
    /// Pages left under `--max-pages`, shared by every shard; `None` when unbounded.
    budget: Option<Arc<AtomicUsize>>,
    /// Whether URLs go to the shard of their host ([`host_owner`]), politeness being in force.
    by_host: bool,
    /// The start of the time slots the shards take turns in for a `Crawl-delay` (when URLs
    /// are not routed by host); set by the first shard that needs it.
    pub(crate) epoch: Arc<OnceLock<Instant>>,
}

impl Route {
    /// The shard that owns `url`.
    fn owner(&self, url: &Url) -> usize {
        if self.by_host {
            host_owner(url, self.outbox.len())
        } else {
            owner(url, self.outbox.len())
        }
    }

    /// This shard's index.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// This shard's turn in time for hosts with a `Crawl-delay`, when URLs are spread by URL
    /// over several shards; `None` when one shard keeps each host (or there is one shard).
    pub(crate) fn stride(&self) -> Option<crate::politeness::Stride> {
        (!self.by_host && self.outbox.len() > 1).then(|| crate::politeness::Stride {
            epoch: Arc::clone(&self.epoch),
            index: self.index,
            shards: self.outbox.len(),
        })
    }
}

/// Called first by [`Crawler::enqueue`]: `Some(found)` if this crawler owns the URL (or is
/// alone), `None` once it is in the outbox of the shard that does.
pub(crate) fn keep(route: &mut Option<Route>, found: Found) -> Option<Found> {
    let Some(route) = route else {
        return Some(found);
    };
    let to = route.owner(&found.url);
    if to == route.index {
        return Some(found);
    }
    route.outbox[to].push(found);
    None
}

/// Forgets the links found for other shards (those they find for themselves).
pub(crate) fn clear_outbox(route: &mut Option<Route>) {
    if let Some(route) = route {
        route.outbox.iter_mut().for_each(Vec::clear);
    }
}

/// Whether this crawler owns `url` (always, alone).
pub(crate) fn owns(route: &Option<Route>, url: &Url) -> bool {
    route
        .as_ref()
        .is_none_or(|route| route.owner(url) == route.index)
}

/// The home of `origin` if it is another shard than this one; `None` alone or at home.
pub(crate) fn home_elsewhere(route: &Option<Route>, origin: &str) -> Option<usize> {
    let route = route.as_ref()?;
    let home = home(origin, route.outbox.len());
    (home != route.index).then_some(home)
}

/// Says `post` to shard `to` (with the next hand-over).
pub(crate) fn post(route: &mut Option<Route>, to: usize, post: Post) {
    if let Some(route) = route {
        route.posts.push((to, post));
    }
}

/// Whether a shared budget is spent; never for a crawler alone (it counts its own).
pub(crate) fn spent(route: &Option<Route>) -> bool {
    budget(route).is_some_and(|left| left.load(Ordering::Relaxed) == 0)
}

/// Takes one page from a shared budget; `false` if another shard took the last one first.
/// Always `true` for a crawler alone, whose own count was checked before.
pub(crate) fn take(route: &Option<Route>) -> bool {
    budget(route).is_none_or(|left| {
        left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    })
}

fn budget(route: &Option<Route>) -> Option<&AtomicUsize> {
    route.as_ref()?.budget.as_deref()
}

/// Pages left of a shared budget, when every shard is idle (so the count is exact).
fn left(route: &Option<Route>) -> usize {
    budget(route).map_or(usize::MAX, |left| left.load(Ordering::Relaxed))
}

/// A message from one shard to another. Opaque: a strategy only carries it to the shard
/// [`Shard::poll_message`] names and hands it to [`Shard::deliver`] there.
#[derive(Debug)]
pub struct Message(Kind);

#[derive(Debug)]
enum Kind {
    /// URLs the receiver owns, found by one completed fetch of the sender (`from`, whose
    /// `new_links` the links new to the receiver are added to when the shards are merged):
    /// the page's links (redirects 0) and where it redirects to.
    Links {
        from: Option<Source>,
        links: Vec<Found>,
    },
    /// robots.txt: rules asked for, sent, or a redirect to follow.
    Robots(Post),
    /// The termination probe, passed round the ring by idle shards.
    Probe(Probe),
    /// A bounded crawl's round: shard 0 asks round the ring, every shard idle, how many of
    /// the candidates would take a page, or (when that is at least the `budget` left) the
    /// ranks of the first `budget` of them.
    Census {
        budget: usize,
        count: usize,
        ranks: Option<Vec<Rank>>,
    },
    /// The round goes on, with the budget stopping at this cutoff.
    Admit(Cutoff),
    /// Shard 0 found the crawl over.
    Done,
}

impl Kind {
    /// Whether the message is work for the receiver, counted by EWD998 (the probe, the
    /// census and the end, which travel between idle shards, are not).
    fn is_counted(&self) -> bool {
        matches!(self, Kind::Links { .. } | Kind::Robots(_) | Kind::Admit(_))
    }
}

/// EWD998's token: the sum of the balances of the shards it visited, whether any of them
/// received a message since the probe last passed, and whether any holds a bounded crawl's
/// next round.
#[derive(Debug, Clone, Copy)]
struct Probe {
    count: i64,
    black: bool,
    round: bool,
}

impl Probe {
    /// The probe shard 0 holds at the start, and after a bounded crawl's round: black, so
    /// that its first look starts a round of the ring.
    fn restart() -> Probe {
        Probe {
            count: 0,
            black: true,
            round: false,
        }
    }
}

/// One part of a crawl: a [`Crawler`] that owns the URLs [`owner`] gives it, and what it
/// needs to trade links with the other shards and agree with them on the end.
#[derive(Debug)]
pub struct Shard {
    crawler: Crawler,
    index: usize,
    shards: usize,
    /// Messages to send, with their destination, oldest first.
    outgoing: VecDeque<(usize, Message)>,
    /// Link messages sent minus link messages received.
    balance: i64,
    /// Received a link message since the probe last passed.
    black: bool,
    /// The probe, while this shard holds it.
    probe: Option<Probe>,
    /// The whole crawl is over (shard 0 found it so, or said so).
    done: bool,
}

impl Shard {
    /// The whole crawl of `config.root` in one shard: a [`Crawler`] that never sends a
    /// message.
    pub fn alone(config: Config) -> Shard {
        Shard::new(Crawler::new(config), 0, 1)
    }

    /// Splits the crawl of `config.root` into `shards` shards, or as many as
    /// `config.concurrency` allows if fewer (at least one, each with at least one fetch in
    /// flight); shard `i` is at index `i`. The root is queued in the shard that owns it. Each
    /// shard's [`Shard::config`] says how many fetches it may have in flight: its share of
    /// `config.concurrency`.
    pub fn split(config: Config, shards: usize) -> Vec<Shard> {
        let shards = shards.clamp(1, config.concurrency.max(1));
        if shards == 1 {
            return vec![Shard::alone(config)];
        }
        let budget =
            (config.max_pages != usize::MAX).then(|| Arc::new(AtomicUsize::new(config.max_pages)));
        let gauges = config.gauges.as_ref().map(|gauges| gauges.split(shards));
        let epoch = Arc::new(OnceLock::new());
        let mut crawlers: Vec<Crawler> = (0..shards)
            .map(|index| {
                let mut config = config.clone();
                config.concurrency = share(config.concurrency, index, shards);
                // Each shard resumes TLS sessions from a store of its own: no lock between
                // loops on a handshake.
                config.own_tls_client();
                if let Some(gauges) = &gauges {
                    config.gauges = Some(Arc::clone(&gauges[index]));
                }
                let route = Route {
                    index,
                    outbox: (0..shards).map(|_| Vec::new()).collect(),
                    posts: Vec::new(),
                    budget: budget.clone(),
                    by_host: config.per_host.is_some() || !config.delay.is_zero(),
                    epoch: Arc::clone(&epoch),
                };
                Crawler::with_route(config, Some(route))
            })
            .collect();
        // The roots take the budget in the order they were given, whichever shard owns them.
        let cutoff = crawlers[0].roots_cutoff();
        crawlers
            .into_iter()
            .enumerate()
            .map(|(index, mut crawler)| {
                crawler.restore();
                crawler.queue_roots(&cutoff);
                // Every shard offered itself the roots; only a root's owner keeps it. (Its
                // robots.txt is asked for once a message can be sent.)
                clear_outbox(&mut crawler.route);
                crawler.flush();
                let mut shard = Shard::new(crawler, index, shards);
                shard.hand_over(None);
                shard
            })
            .collect()
    }

    fn new(crawler: Crawler, index: usize, shards: usize) -> Shard {
        Shard {
            crawler,
            index,
            shards,
            outgoing: VecDeque::new(),
            balance: 0,
            black: false,
            // Shard 0 starts holding a black probe, so that its first look starts a round.
            probe: (index == 0).then_some(Probe::restart()),
            done: false,
        }
    }

    /// This shard's index, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The settings of the crawl.
    pub fn config(&self) -> &Config {
        self.crawler.config()
    }

    /// The next URL of this shard to fetch, as [`Crawler::next_fetch`].
    pub fn next_fetch(&mut self, now: Instant) -> Option<Fetch> {
        self.crawler.next_fetch(now)
    }

    /// When this shard's earliest waiting URL is due, as [`Crawler::next_wake`].
    pub fn next_wake(&self) -> Option<Instant> {
        self.crawler.next_wake()
    }

    /// Records a finished fetch, as [`Crawler::complete`]; the links it found for other shards
    /// become messages for [`Shard::poll_message`].
    pub fn complete(&mut self, outcome: Outcome) {
        if self.shards == 1 {
            return self.crawler.complete(outcome);
        }
        let from = Source {
            shard: self.index,
            url: Arc::from(outcome.url().as_str()),
        };
        self.crawler.complete(outcome);
        self.hand_over(Some(from));
    }

    /// Turns what the crawler has for other shards into messages: the links (found on the
    /// page `from`, if a page found them) and what it says of robots.txt.
    fn hand_over(&mut self, from: Option<Source>) {
        let Some(route) = &mut self.crawler.route else {
            return;
        };
        for (to, links) in route.outbox.iter_mut().enumerate() {
            if !links.is_empty() {
                let links = std::mem::take(links);
                let from = from.clone();
                self.outgoing
                    .push_back((to, Message(Kind::Links { from, links })));
                self.balance += 1;
            }
        }
        for (to, post) in route.posts.drain(..) {
            self.outgoing.push_back((to, Message(Kind::Robots(post))));
            self.balance += 1;
        }
    }

    /// Takes in a message from another shard: queues the links this shard had not seen, or
    /// answers for robots.txt, or moves the probe or a bounded crawl's round on, or learns
    /// that the crawl is over.
    pub fn deliver(&mut self, message: Message) {
        if message.0.is_counted() {
            self.balance -= 1;
            self.black = true;
        }
        match message.0 {
            Kind::Links { from, links } => self.crawler.links_came(from, links),
            Kind::Robots(post) => self.crawler.robots_post(post),
            Kind::Probe(probe) => self.probe = Some(probe),
            Kind::Census {
                budget,
                count,
                ranks,
            } => self.census(budget, count, ranks),
            Kind::Admit(cutoff) => self.crawler.admit(&cutoff),
            Kind::Done => self.done = true,
        }
        self.crawler.flush();
        self.hand_over(None);
    }

    /// The census of a bounded crawl's round reached this shard, every shard idle: it adds
    /// its own and passes it on; back at shard 0, the round goes on, or a second census asks
    /// for ranks.
    fn census(&mut self, budget: usize, count: usize, ranks: Option<Vec<Rank>>) {
        if self.index != 0 {
            let own = self.crawler.chargeable(budget);
            let census = match ranks {
                None => Kind::Census {
                    budget,
                    count: count + own.len(),
                    ranks: None,
                },
                Some(mut ranks) => {
                    ranks.extend(own);
                    ranks.sort();
                    ranks.truncate(budget);
                    Kind::Census {
                        budget,
                        count,
                        ranks: Some(ranks),
                    }
                }
            };
            let next = (self.index + 1) % self.shards;
            return self.outgoing.push_back((next, Message(census)));
        }
        let cutoff = match ranks {
            None if count >= budget => {
                // More candidates than pages: which rank takes the last page?
                let mut own = self.crawler.chargeable(budget);
                own.truncate(budget);
                let census = Kind::Census {
                    budget,
                    count,
                    ranks: Some(own),
                };
                return self.outgoing.push_back((1, Message(census)));
            }
            None => Cutoff::All,
            // The first `budget` ranks of all the shards: the last of them takes the last page.
            Some(mut ranks) => ranks.pop().map_or(Cutoff::All, Cutoff::Through),
        };
        for to in 1..self.shards {
            let admit = Kind::Admit(cutoff.clone());
            self.outgoing.push_back((to, Message(admit)));
            self.balance += 1;
        }
        self.crawler.admit(&cutoff);
        self.probe = Some(Probe::restart());
    }

    /// The next message to send, and the index of the shard to send it to.
    ///
    /// Links come first; then, if this shard is idle and holds the probe, the probe moves on
    /// — and if shard 0 finds the crawl over, the messages that tell every shard.
    pub fn poll_message(&mut self) -> Option<(usize, Message)> {
        if self.outgoing.is_empty() {
            self.pass_probe();
        }
        self.outgoing.pop_front()
    }

    /// Every message to send now, with the index of its shard: [`Shard::poll_message`] until
    /// `None`.
    pub fn messages(&mut self) -> impl Iterator<Item = (usize, Message)> + '_ {
        std::iter::from_fn(|| self.poll_message())
    }

    /// One step of EWD998, taken only while this shard is idle.
    fn pass_probe(&mut self) {
        if self.shards == 1 || self.done || !self.crawler.is_idle() {
            return;
        }
        let Some(probe) = self.probe.take() else {
            return;
        };
        let next = (self.index + 1) % self.shards;
        let probe = if self.index == 0 {
            if !probe.black && !self.black && probe.count + self.balance == 0 {
                // Every shard idle and no message on its way: the crawl is over, unless a
                // bounded crawl holds a round and has pages left for it.
                let budget = left(&self.crawler.route);
                if (probe.round || self.crawler.has_round()) && budget > 0 {
                    let count = self.crawler.chargeable(budget).len();
                    let census = Kind::Census {
                        budget,
                        count,
                        ranks: None,
                    };
                    return self.outgoing.push_back((next, Message(census)));
                }
                self.done = true;
                for to in 1..self.shards {
                    self.outgoing.push_back((to, Message(Kind::Done)));
                }
                return;
            }
            // Not over, or not sure: a new round.
            Probe {
                count: 0,
                black: false,
                round: false,
            }
        } else {
            Probe {
                count: probe.count + self.balance,
                black: probe.black || self.black,
                round: probe.round || self.crawler.has_round(),
            }
        };
        self.black = false;
        self.outgoing.push_back((next, Message(Kind::Probe(probe))));
    }

    /// The whole crawl is over: every shard idle and no link on its way. (A shard alone: it
    /// has nothing queued and nothing in flight.)
    pub fn is_done(&self) -> bool {
        if self.shards == 1 {
            self.crawler.is_done()
        } else {
            self.done
        }
    }

    /// Fetches of this shard handed out and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.crawler.in_flight()
    }

    /// URLs of this shard waiting to be fetched.
    pub fn queued(&self) -> usize {
        self.crawler.queued()
    }

    /// This shard's records so far (their `new_links` count only links this shard owns until
    /// the shards are merged).
    pub fn records(&self) -> Vec<Record> {
        self.crawler.records()
    }

    /// The report of the whole crawl, for `strategy`, from all of its shards, each with how
    /// late the loop that ran it woke for its timer (the loop lag): the same URLs, outcomes,
    /// tries and counts as one crawler's. Each page's `new_links` gets the links that were new
    /// to the other shards; the peak in flight is the sum of the shards' peaks.
    // Never inlined: the sweep's profiles split a page's instructions by the core's entry
    // points, which a copy inlined into a caller would hide.
    #[inline(never)]
    pub fn merge(ran: Vec<(Shard, Vec<Duration>)>, strategy: &str, elapsed: Duration) -> Report {
        let (shards, lags): (Vec<_>, Vec<_>) = ran.into_iter().unzip();
        let Some(mut config) = shards.first().map(|shard| shard.config().clone()) else {
            return Report {
                strategy: strategy.to_owned(),
                ..Report::default()
            };
        };
        config.concurrency = shards.iter().map(|shard| shard.config().concurrency).sum();
        let mut credits = Vec::new();
        let mut records: Vec<Record> = Vec::new();
        let mut peak_in_flight = 0;
        let mut notes = Vec::new();
        let mut connections = crate::report::Connections::default();
        for mut shard in shards {
            credits.extend(shard.crawler.take_credits());
            let ended = shard.crawler.take_ended();
            peak_in_flight += ended.peak_in_flight;
            connections.add(&ended.connections);
            records.extend(ended.records);
            notes.extend(ended.notes);
        }
        notes.sort();
        crawler::credit(&mut records, credits);
        let mut report = Report::new(strategy, &config, records, elapsed);
        report.peak_in_flight = peak_in_flight;
        report.connections = connections;
        report.notes = notes;
        report.loop_lag_ms = Some(Latency::of(lags.concat()));
        report
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::{config::Gauges, config::parse_root, response::Response};

    fn config() -> Config {
        let root = parse_root("http://127.0.0.1:8000/").unwrap();
        let mut config = Config::new(root, "127.0.0.1:8000".parse().unwrap());
        config.robots = false;
        config
    }

    #[test]
    fn a_shard_alone_sends_nothing_and_ends_with_its_crawl() {
        let mut shards = Shard::split(config(), 1);
        let shard = &mut shards[0];
        let now = Instant::now();
        let fetch = shard.next_fetch(now).unwrap();
        let page = Response {
            status: 200,
            content_type: Some("text/html".into()),
            ..Response::default()
        };
        shard.complete(fetch.finish(Ok(page), now));
        assert!(shard.poll_message().is_none());
        assert!(shard.is_done());
    }

    #[test]
    fn shards_share_the_concurrency_and_are_never_more_than_it() {
        let mut config = config();
        config.concurrency = 10;
        let shares: Vec<_> = Shard::split(config.clone(), 4)
            .iter()
            .map(|shard| shard.config().concurrency)
            .collect();
        assert_eq!(shares, [3, 3, 2, 2]);
        config.concurrency = 2;
        assert_eq!(Shard::split(config.clone(), 3).len(), 2);
        let ran = Shard::split(config, 3).into_iter().map(|s| (s, Vec::new()));
        let report = Shard::merge(ran.collect(), "test", Duration::ZERO);
        assert_eq!(report.concurrency, 2);
    }

    #[test]
    fn each_shard_has_its_own_gauges_and_the_observer_sees_their_sum() {
        let gauges = Arc::new(Gauges::default());
        let mut config = config();
        config.gauges = Some(Arc::clone(&gauges));
        let mut shards = Shard::split(config, 3);
        let root = shards.iter().position(|shard| shard.queued() == 1).unwrap();
        let fetch = shards[root].next_fetch(Instant::now()).unwrap();
        assert_eq!(gauges.in_flight.load(Ordering::Relaxed), 0);
        assert_eq!(gauges.in_flight(), 1);
        shards[root].complete(fetch.finish(Err(crate::FetchError::Timeout), Instant::now()));
        assert_eq!((gauges.in_flight(), gauges.ended()), (0, 0));
    }
}
