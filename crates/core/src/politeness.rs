//! Politeness: at most `--per-host` fetches in flight to one host, and no fetch to a host
//! within its delay (`--delay-ms`, raised by robots.txt's `Crawl-delay`) of the previous one.
//!
//! A host (here: an origin, scheme host and port) is *managed* when a cap or a delay applies
//! to it; its URLs then wait in a queue of their own instead of the crawl's one queue, and
//! [`Hosts::pop`] serves the managed hosts in turn, each only when it is under its cap and
//! past its "not before" time. A crawl with neither flag and no `Crawl-delay` manages no
//! host: its URLs never come here, and the hot path costs one `is_empty` check.
//!
//! The delay is kept from the start of each request and from the end of each: with
//! `--per-host 1` the server sees the requests of one host at least the delay apart. (With
//! more than one in flight, starts are spaced, but a slow connect can still bring two
//! arrivals closer: no client can promise more.)
//!
//! # A `Crawl-delay` over several shards
//!
//! With `--per-host` or `--delay-ms`, a host's URLs all go to one shard, which keeps its
//! delay alone. Without them URLs are spread over the shards by a hash of the whole URL, and
//! a `Crawl-delay` found in robots.txt concerns every shard. Rather than share a clock or a
//! lock, the shards share time itself, cut into slots of twice the delay from one common
//! epoch ([`Stride`]): slot k belongs to shard k mod N, and a shard starts a request to a
//! delayed host only in the first half of one of its own slots. Two requests from different
//! shards then start at least 1.5 delays apart (the delay with room for a late connect), and
//! two from one shard at least the delay apart, as with one shard. The price is throughput:
//! one request per two delays at best, which a host that asks for a delay accepts.

use std::{
    collections::VecDeque,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use foldhash::HashMap;

/// This shard's share of time for delayed hosts, when URLs are spread by URL over `shards`
/// shards (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct Stride {
    /// When slot 0 began: the `now` of the first shard that needed it, the same for all.
    pub(crate) epoch: Arc<OnceLock<Instant>>,
    pub(crate) index: usize,
    pub(crate) shards: usize,
}

impl Stride {
    /// The earliest time at or after `t` at which this shard may start a request to a host
    /// whose delay is `delay`.
    fn window(&self, delay: Duration, t: Instant) -> Instant {
        let epoch = *self.epoch.get_or_init(|| t);
        let slot = delay.saturating_mul(2).max(Duration::from_nanos(1));
        let elapsed = t.saturating_duration_since(epoch);
        let k = (elapsed.as_nanos() / slot.as_nanos()) as u64;
        let start = |k: u64| epoch + slot.saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
        let (n, i) = (self.shards as u64, self.index as u64);
        if t < epoch {
            // Before slot 0 (another shard set the epoch from a later `now`): this shard's
            // first slot, not one a whole cycle later.
            return start(i);
        }
        if k % n == i && t <= start(k) + delay / 2 && t >= start(k) {
            return t;
        }
        let ahead = (i + n - k % n) % n;
        let next = if ahead == 0 { k + n } else { k + ahead };
        start(next)
    }
}

/// The managed hosts and the fetches waiting for them.
#[derive(Debug)]
pub(crate) struct Hosts<T> {
    /// At most this many in flight per host.
    per_host: Option<usize>,
    /// The least time between two requests to one host (before any `Crawl-delay`).
    delay: Duration,
    hosts: HashMap<String, Host<T>>,
    /// Managed hosts in the order they are served (round robin).
    order: VecDeque<String>,
    /// Fetches waiting in all the hosts' queues.
    queued: usize,
    /// With URLs spread over several shards: this shard's time slots.
    stride: Option<Stride>,
    /// The `now` of the last [`Hosts::pop`]: what [`Hosts::next_wake`] counts from, as `pop`
    /// does, so that a slot that had passed by then is not named as the time to wake.
    looked: Option<Instant>,
}

#[derive(Debug)]
struct Host<T> {
    queue: VecDeque<T>,
    in_flight: usize,
    delay: Duration,
    /// No request starts before this.
    not_before: Option<Instant>,
}

impl<T> Hosts<T> {
    pub(crate) fn new(per_host: Option<usize>, delay: Duration) -> Hosts<T> {
        Hosts {
            per_host,
            delay,
            hosts: HashMap::default(),
            order: VecDeque::new(),
            queued: 0,
            stride: None,
            looked: None,
        }
    }

    /// This crawler is one of several shards that URLs are spread over by URL: a host's
    /// delay is kept in the time slots of `stride`.
    pub(crate) fn set_stride(&mut self, stride: Stride) {
        self.stride = Some(stride);
    }

    /// The earliest time at or after `t` that `host` may start a request.
    fn allowed_at(stride: Option<&Stride>, host: &Host<T>, t: Instant) -> Instant {
        let t = host.not_before.map_or(t, |at| at.max(t));
        match stride {
            Some(stride) if !host.delay.is_zero() => stride.window(host.delay, t),
            _ => t,
        }
    }

    /// Whether the flags manage every host.
    pub(crate) fn in_force(&self) -> bool {
        self.per_host.is_some() || !self.delay.is_zero()
    }

    /// Whether fetches to `origin` go through here.
    pub(crate) fn manages(&self, origin: &str) -> bool {
        self.in_force() || self.hosts.contains_key(origin)
    }

    fn host(&mut self, origin: &str) -> &mut Host<T> {
        if !self.hosts.contains_key(origin) {
            self.order.push_back(origin.to_owned());
            let host = Host {
                queue: VecDeque::new(),
                in_flight: 0,
                delay: self.delay,
                not_before: None,
            };
            self.hosts.insert(origin.to_owned(), host);
        }
        self.hosts
            .get_mut(origin)
            .expect("inserted above if it was missing")
    }

    /// `origin`'s robots.txt asks for `crawl_delay` between requests, counted from `now` (its
    /// own request): the host's delay is the larger of it and `--delay-ms`.
    pub(crate) fn crawl_delay(&mut self, origin: &str, crawl_delay: Duration, now: Instant) {
        let host = self.host(origin);
        host.delay = host.delay.max(crawl_delay);
        let next = now + host.delay;
        host.not_before = Some(host.not_before.map_or(next, |at| at.max(next)));
    }

    /// Queues `fetch` for `origin`, at the front for a retry.
    pub(crate) fn push(&mut self, origin: &str, fetch: T, front: bool) {
        let host = self.host(origin);
        if front {
            host.queue.push_front(fetch);
        } else {
            host.queue.push_back(fetch);
        }
        self.queued += 1;
    }

    /// The next fetch some host may start at `now`, counted in flight for that host.
    pub(crate) fn pop(&mut self, now: Instant) -> Option<T> {
        self.looked = Some(now);
        if self.queued == 0 {
            return None;
        }
        let cap = self.per_host.unwrap_or(usize::MAX);
        for turn in 0..self.order.len() {
            let host = self.hosts.get_mut(&self.order[turn])?;
            if host.queue.is_empty()
                || host.in_flight >= cap
                || Self::allowed_at(self.stride.as_ref(), host, now) > now
            {
                continue;
            }
            let fetch = host.queue.pop_front()?;
            host.in_flight += 1;
            host.not_before = Some(now + host.delay);
            self.queued -= 1;
            // Served: to the back of the turn.
            if let Some(origin) = self.order.remove(turn) {
                self.order.push_back(origin);
            }
            return Some(fetch);
        }
        None
    }

    /// A fetch to `origin` that [`Hosts::pop`] handed out ended at `at`.
    pub(crate) fn ended(&mut self, origin: &str, at: Instant) {
        if let Some(host) = self.hosts.get_mut(origin) {
            host.in_flight = host.in_flight.saturating_sub(1);
            let next = at + host.delay;
            host.not_before = Some(host.not_before.map_or(next, |before| before.max(next)));
        }
    }

    /// When a host with fetches waiting and room under its cap may start one, from the last
    /// [`Hosts::pop`] on; `None` if none can before a fetch in flight ends.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        if self.queued == 0 {
            return None;
        }
        let cap = self.per_host.unwrap_or(usize::MAX);
        let stride = self.stride.as_ref();
        self.hosts
            .values()
            .filter(|host| !host.queue.is_empty() && host.in_flight < cap)
            .filter_map(|host| {
                // Counted as `pop` counts, from its `now` (`allowed_at` takes the later of it
                // and the host's own time): a host's time may have come while this shard's
                // slot had passed, and then its next slot is the time.
                let from = self.looked.or(host.not_before)?;
                Some(Self::allowed_at(stride, host, from))
            })
            .min()
    }

    /// Fetches waiting for their host.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_capped_and_spaced_and_hosts_take_turns() {
        let mut hosts = Hosts::new(Some(1), Duration::from_millis(100));
        let t0 = Instant::now();
        for n in 0..3 {
            hosts.push("http://a", ("a", n), false);
            hosts.push("http://b", ("b", n), false);
        }
        assert_eq!(hosts.pop(t0), Some(("a", 0)));
        assert_eq!(hosts.pop(t0), Some(("b", 0)));
        // Both at their cap.
        assert_eq!(hosts.pop(t0), None);
        assert_eq!(hosts.next_wake(), None);
        hosts.ended("http://a", t0 + Duration::from_millis(30));
        // Under its cap, but within its delay of the end of the last request.
        assert_eq!(hosts.pop(t0 + Duration::from_millis(100)), None);
        assert_eq!(hosts.next_wake(), Some(t0 + Duration::from_millis(130)));
        assert_eq!(hosts.pop(t0 + Duration::from_millis(130)), Some(("a", 1)));
        assert_eq!(hosts.queued(), 3);
    }

    /// A shard whose slot has passed by the time its host may go again wakes at its next
    /// slot: not at the host's time, which has passed too (a timer for a time gone would fire
    /// at once, and `pop` would again find nothing, round after round until the slot).
    #[test]
    fn a_shard_that_missed_its_slot_waits_for_its_next_one() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut hosts = Hosts::new(None, Duration::ZERO);
        hosts.set_stride(Stride {
            epoch: Arc::new(OnceLock::from(t0)),
            index: 0,
            shards: 3,
        });
        // A 100 ms Crawl-delay counted from 100 ms before t0: the host may go from t0.
        let delay = Duration::from_millis(100);
        hosts.crawl_delay("http://a", delay, t0.checked_sub(delay).unwrap());
        hosts.push("http://a", ("a", 0), false);
        // At 60 ms shard 0's first slot (0 to 50 ms) has passed; its next begins at 600 ms.
        assert_eq!(hosts.pop(ms(60)), None);
        assert_eq!(hosts.next_wake(), Some(ms(600)));
        assert_eq!(hosts.pop(ms(600)), Some(("a", 0)));
    }

    /// Over three shards, the slots of a 100 ms delay are 200 ms long, shard k mod 3 owning
    /// slot k, of which only the first 50 ms (ends included) may start a request.
    #[test]
    fn shards_take_turns_in_slots_of_two_delays() {
        let epoch = Instant::now();
        let stride = |index| Stride {
            epoch: Arc::new(OnceLock::from(epoch)),
            index,
            shards: 3,
        };
        let ms = |n| epoch + Duration::from_millis(n);
        let delay = Duration::from_millis(100);
        assert_eq!(stride(0).window(delay, ms(0)), ms(0));
        assert_eq!(stride(0).window(delay, ms(49)), ms(49));
        assert_eq!(stride(0).window(delay, ms(50)), ms(50));
        assert_eq!(stride(0).window(delay, ms(51)), ms(600));
        // A window is never empty: its start is in it, however short the delay.
        let tiny = Duration::from_nanos(1);
        let start = stride(1).window(tiny, ms(0));
        assert_eq!(stride(1).window(tiny, start), start);
        assert_eq!(stride(1).window(delay, ms(0)), ms(200));
        assert_eq!(stride(2).window(delay, ms(10)), ms(400));
        assert_eq!(stride(1).window(delay, ms(230)), ms(230));
        assert_eq!(stride(1).window(delay, ms(260)), ms(800));
        // A time before the epoch (another shard set it from a later `now`): the shard's
        // first slot.
        let before = epoch.checked_sub(Duration::from_millis(3)).unwrap();
        assert_eq!(stride(0).window(delay, before), ms(0));
        assert_eq!(stride(2).window(delay, before), ms(400));
    }

    #[test]
    fn a_crawl_delay_manages_its_host_alone() {
        let mut hosts: Hosts<u8> = Hosts::new(None, Duration::ZERO);
        assert!(!hosts.manages("http://a"));
        let t0 = Instant::now();
        hosts.crawl_delay("http://a", Duration::from_secs(2), t0);
        assert!(hosts.manages("http://a") && !hosts.manages("http://b"));
        hosts.push("http://a", 1, false);
        hosts.push("http://a", 2, false);
        assert_eq!(hosts.pop(t0), None);
        assert_eq!(hosts.pop(t0 + Duration::from_secs(2)), Some(1));
        // No cap: the next may start while the first is in flight, 2 s after its start.
        assert_eq!(hosts.next_wake(), Some(t0 + Duration::from_secs(4)));
    }
}
