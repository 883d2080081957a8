//! The keep-alive pool: connections kept open after their response, per origin, for the
//! origin's next fetch (`--connections keep-alive`).
//!
//! The lecture: "a sophisticated application amortises the cost of creating threads by keeping
//! idle ones in a pool … the same is usually done with sockets". A [`Pool`] holds sockets of
//! whatever type the model has (a blocking stream, a mio socket, a descriptor the ring knows,
//! with the TLS state beside it), and knows nothing of I/O: it only decides which one to give,
//! and which to let go. Each model keeps its pools in its own idiom (one per event loop, per
//! thread, per task) and says where in its crate's page.
//!
//! The rules, the same in every model:
//!
//! - a connection goes back ([`Pool::put`]) only after its response was read whole and the
//!   server keeps it ([`crate::Response::reusable`]); anything else closes it;
//! - a fetch takes a kept connection to its origin before it opens one ([`Pool::take`]), the
//!   most recently used first (the least likely to have been closed by the server);
//! - an idle connection older than `--idle-ms` is closed, checked when the pool is next
//!   touched, with no timer (a timer would keep an event loop alive, an operation on an idle
//!   socket would keep a ring busy); one the server closed before that is found out when it is
//!   reused, and the request goes again on a fresh one ([`crate::ResponseReader::started`]);
//! - kept and busy connections together stay within the concurrency (the descriptors the
//!   crawl was given) and an origin's kept ones within `--per-host`: before a new connection
//!   is opened, [`Pool::make_room`] closes the oldest idle ones beyond that;
//! - at the end of the crawl the pool is drained: every socket is closed before the crawl
//!   returns.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use crate::Config;

/// Idle connections by origin, oldest first in each.
#[derive(Debug)]
pub struct Pool<S> {
    idle: HashMap<Box<str>, VecDeque<(S, Instant)>>,
    /// Idle connections in all.
    count: usize,
    /// Kept plus busy connections, at most.
    cap: usize,
    /// Kept connections to one origin, at most.
    per_origin: usize,
    /// How long one may stay idle.
    timeout: Duration,
}

impl<S> Pool<S> {
    /// A pool for `config`'s crawl (or shard): within its concurrency, `--per-host` and
    /// `--idle-ms`.
    pub fn new(config: &Config) -> Pool<S> {
        let cap = config.concurrency.max(1);
        Pool {
            idle: HashMap::new(),
            count: 0,
            cap,
            per_origin: config.per_host.unwrap_or(cap).min(cap),
            timeout: config.idle,
        }
    }

    /// A kept connection to `origin` that has not been idle too long, the most recently used
    /// first; the ones too old are closed on the way.
    pub fn take(&mut self, origin: &str, now: Instant) -> Option<S> {
        let kept = self.idle.get_mut(origin)?;
        let fresh = kept
            .iter()
            .position(|(_, since)| now.saturating_duration_since(*since) <= self.timeout)
            .unwrap_or(kept.len());
        // The oldest ones first went stale: close them.
        self.count -= fresh;
        kept.drain(..fresh);
        let taken = kept.pop_back().map(|(socket, _)| socket);
        self.count -= usize::from(taken.is_some());
        if kept.is_empty() {
            self.idle.remove(origin);
        }
        taken
    }

    /// Before a new connection is opened with `busy` others in use (this one counted): closes
    /// the oldest idle connections while kept and busy together would be over the cap.
    pub fn make_room(&mut self, busy: usize) {
        while self.count > 0 && self.count + busy > self.cap {
            let oldest = self
                .idle
                .iter()
                .filter_map(|(origin, kept)| Some((kept.front()?.1, origin.clone())))
                .min();
            let Some((_, origin)) = oldest else {
                break;
            };
            self.close_oldest(&origin);
        }
    }

    /// Keeps `socket`, whose response to `origin` was read whole on a connection the server
    /// keeps; `false` when the pool is full for the origin and it was closed instead.
    pub fn put(&mut self, origin: &str, socket: S, now: Instant) -> bool {
        if self.per_origin == 0 {
            return false;
        }
        if self
            .idle
            .get(origin)
            .is_some_and(|kept| kept.len() >= self.per_origin)
        {
            self.close_oldest(origin);
        }
        self.idle
            .entry(origin.into())
            .or_default()
            .push_back((socket, now));
        self.count += 1;
        true
    }

    fn close_oldest(&mut self, origin: &str) {
        if let Some(kept) = self.idle.get_mut(origin)
            && kept.pop_front().is_some()
        {
            self.count -= 1;
            if kept.is_empty() {
                self.idle.remove(origin);
            }
        }
    }

    /// Idle connections kept now.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no connection is kept.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every kept connection, taken out: the crawl is over (drop them to close them).
    pub fn drain(&mut self) -> impl Iterator<Item = S> + '_ {
        self.count = 0;
        self.idle
            .drain()
            .flat_map(|(_, kept)| kept.into_iter().map(|(socket, _)| socket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_root;

    fn pool(concurrency: usize, per_host: Option<usize>) -> Pool<u32> {
        let mut config = Config::new(
            parse_root("http://127.0.0.1:8000/").unwrap(),
            "127.0.0.1:8000".parse().unwrap(),
        );
        config.concurrency = concurrency;
        config.per_host = per_host;
        config.idle = Duration::from_millis(100);
        Pool::new(&config)
    }

    #[test]
    fn the_most_recent_connection_of_the_origin_goes_first() {
        let mut pool = pool(4, None);
        let t0 = Instant::now();
        assert!(pool.put("http://a", 1, t0));
        assert!(pool.put("http://a", 2, t0));
        assert!(pool.put("http://b", 3, t0));
        assert_eq!(pool.take("http://a", t0), Some(2));
        assert_eq!(pool.take("http://c", t0), None);
        assert_eq!(pool.len(), 2);
        let mut rest: Vec<u32> = pool.drain().collect();
        rest.sort_unstable();
        assert_eq!(rest, [1, 3]);
        assert!(pool.is_empty());
    }

    #[test]
    fn idle_connections_expire_when_next_looked_at() {
        let mut pool = pool(4, None);
        let t0 = Instant::now();
        pool.put("http://a", 1, t0);
        pool.put("http://a", 2, t0 + Duration::from_millis(80));
        assert_eq!(
            pool.take("http://a", t0 + Duration::from_millis(150)),
            Some(2)
        );
        assert!(pool.is_empty(), "the older one was closed on the way");
        pool.put("http://a", 3, t0);
        assert_eq!(pool.take("http://a", t0 + Duration::from_millis(101)), None);
        assert!(pool.is_empty());
    }

    #[test]
    fn kept_and_busy_stay_within_the_caps() {
        let mut pool = pool(3, Some(2));
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        pool.put("http://a", 1, ms(0));
        pool.put("http://a", 2, ms(1));
        // --per-host 2: a third kept connection to the origin closes its oldest.
        pool.put("http://a", 3, ms(2));
        pool.put("http://b", 4, ms(3));
        assert_eq!(pool.len(), 3);
        // A new connection with one busy: at most one kept may stay; the oldest go.
        pool.make_room(2);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.take("http://b", ms(4)), Some(4));
    }
}
