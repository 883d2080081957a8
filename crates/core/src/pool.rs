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
//!
//! Where the threads or tasks of one crawl share a pool (threads, and async's runtime), it is a
//! [`Shared`]: the same [`Pool`] behind a `Mutex`, which also says whether the crawl keeps
//! connections at all, and checks a kept connection with the model's own look at its socket
//! before handing it out.

use std::{
    collections::VecDeque,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use foldhash::HashMap;

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
            idle: HashMap::default(),
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
        // An origin's list stays when emptied, for its next connection (a crawl of one origin
        // would otherwise free and allocate it on every fetch). Past twice as many origins
        // as connections can be kept, the empty lists go before a new one is made.
        if !self.idle.contains_key(origin) && self.idle.len() >= 2 * self.cap {
            self.idle.retain(|_, kept| !kept.is_empty());
        }
        let kept = match self.idle.get_mut(origin) {
            Some(kept) => kept,
            None => self.idle.entry(origin.into()).or_default(),
        };
        kept.push_back((socket, now));
        self.count += 1;
        true
    }

    fn close_oldest(&mut self, origin: &str) {
        if let Some(kept) = self.idle.get_mut(origin)
            && kept.pop_front().is_some()
        {
            self.count -= 1;
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

/// A [`Pool`] shared by the threads (or tasks) of a crawl, under a `Mutex` that is taken only
/// for the pool's own bookkeeping: never while a socket is looked at, and never across a
/// wait, so a thread that blocks (or a task that awaits) holds no one else up. Without
/// keep-alive it keeps nothing and takes no lock.
#[derive(Debug)]
pub struct Shared<S> {
    idle: Mutex<Pool<S>>,
    keep_alive: bool,
}

impl<S> Shared<S> {
    /// The pool of `config`'s crawl (or shard): within its concurrency, `--per-host` and
    /// `--idle-ms`, keeping connections only with `--connections keep-alive`.
    pub fn new(config: &Config) -> Shared<S> {
        Shared {
            idle: Mutex::new(Pool::new(config)),
            keep_alive: config.keep_alive,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pool<S>> {
        // The pool is consistent between any two calls: a panic leaves nothing half done.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A kept connection to `origin` ([`Pool::take`]) for which `quiet` says that nothing
    /// came on it while it was idle, if there is one. One that is not quiet (stray bytes, or
    /// closed by the server) is dropped, and so closed, out of the lock, and the next is
    /// tried. `quiet` is the model's look at its socket (the core does no I/O).
    pub fn take(&self, origin: &str, now: Instant, quiet: impl FnMut(&mut S) -> bool) -> Option<S> {
        self.take_else(origin, now, quiet, None)
    }

    /// For a fetch to `origin` about to connect: a kept connection that `quiet` passes, unless
    /// the fetch is `fresh` (the retry of a request a stale connection lost, which goes on a
    /// new one); else, before a new one is opened, room for it: the oldest idle connections
    /// closed while they and the fetches in flight (each of which may hold one) would be more
    /// descriptors than the concurrency. Taking and making room are one hold of the lock, so
    /// that a connection put back in between is taken rather than closed to make room (which
    /// would open one more than can be busy). `busy` counts the fetches in flight, this one
    /// among them; it is asked only when connections are kept.
    pub fn take_or_make_room(
        &self,
        origin: &str,
        now: Instant,
        quiet: impl FnMut(&mut S) -> bool,
        fresh: bool,
        busy: impl FnOnce() -> usize,
    ) -> Option<S> {
        if !self.keep_alive {
            return None;
        }
        let busy = busy();
        if fresh {
            self.lock().make_room(busy);
            return None;
        }
        self.take_else(origin, now, quiet, Some(busy))
    }

    /// [`Shared::take`], and when there is none to take, with `room` (the fetches busy), room
    /// made for a new one under the same lock.
    fn take_else(
        &self,
        origin: &str,
        now: Instant,
        mut quiet: impl FnMut(&mut S) -> bool,
        room: Option<usize>,
    ) -> Option<S> {
        if !self.keep_alive {
            return None;
        }
        loop {
            let mut pool = self.lock();
            let Some(mut socket) = pool.take(origin, now) else {
                if let Some(busy) = room {
                    pool.make_room(busy);
                }
                return None;
            };
            drop(pool);
            if quiet(&mut socket) {
                return Some(socket);
            }
        }
    }

    /// Keeps `socket`, whose response to `origin` was read whole on a connection the server
    /// keeps; `false` if it was closed instead (close mode, or the origin's share is full).
    pub fn put(&self, origin: &str, socket: S, now: Instant) -> bool {
        self.keep_alive && self.lock().put(origin, socket, now)
    }

    /// Closes every kept connection, out of the lock: the crawl is over.
    pub fn drain(&self) {
        let idle: Vec<S> = self.lock().drain().collect();
        drop(idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_root;

    fn config(concurrency: usize, per_host: Option<usize>) -> Config {
        let mut config = Config::new(
            parse_root("http://127.0.0.1:8000/").unwrap(),
            "127.0.0.1:8000".parse().unwrap(),
        );
        config.concurrency = concurrency;
        config.per_host = per_host;
        config.idle = Duration::from_millis(100);
        config
    }

    fn pool(concurrency: usize, per_host: Option<usize>) -> Pool<u32> {
        Pool::new(&config(concurrency, per_host))
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

    /// Emptied lists stay for their origin's next connection, but a crawl of many origins
    /// does not keep one for each origin it ever pooled.
    #[test]
    fn origins_listed_stay_within_twice_the_cap() {
        let mut pool = pool(4, None);
        let t0 = Instant::now();
        for n in 0..1000 {
            let origin = format!("http://h{n}");
            pool.make_room(1);
            assert!(pool.put(&origin, n, t0));
            if n % 2 == 0 {
                assert_eq!(pool.take(&origin, t0), Some(n));
            }
            assert!(pool.len() <= 4);
            assert!(pool.idle.len() <= 8, "{} origins listed", pool.idle.len());
        }
        assert!(pool.put("http://h999", 5, t0));
        assert_eq!(pool.take("http://h999", t0), Some(5));
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

    #[test]
    fn a_shared_pool_hands_out_only_quiet_connections() {
        let mut config = config(4, None);
        config.keep_alive = true;
        let shared = Shared::new(&config);
        let t0 = Instant::now();
        assert!(shared.put("http://a", 1, t0));
        assert!(shared.put("http://a", 2, t0));
        assert!(shared.put("http://a", 3, t0));
        // The most recent (3) is not quiet: closed, and the next most recent is looked at.
        let mut looked = Vec::new();
        let taken = shared.take("http://a", t0, |socket| {
            looked.push(*socket);
            *socket != 3
        });
        assert_eq!(taken, Some(2));
        assert_eq!(looked, [3, 2]);
        assert_eq!(shared.take("http://a", t0, |_| false), None, "1 not quiet");
        assert_eq!(shared.take("http://a", t0, |_| true), None, "none left");
        // A fresh fetch takes nothing; without a kept one, another takes nothing either.
        assert!(shared.put("http://a", 5, t0));
        assert_eq!(
            shared.take_or_make_room("http://a", t0, |_| true, true, || 1),
            None
        );
        assert_eq!(
            shared.take_or_make_room("http://a", t0, |_| true, false, || 1),
            Some(5)
        );
        assert_eq!(
            shared.take_or_make_room("http://b", t0, |_| true, false, || 1),
            None
        );
        shared.put("http://b", 4, t0);
        shared.drain();
        assert_eq!(shared.take("http://b", t0, |_| true), None, "drained");

        config.keep_alive = false;
        let shared = Shared::new(&config);
        assert!(!shared.put("http://a", 1, t0), "close mode keeps nothing");
        assert_eq!(shared.take("http://a", t0, |_| true), None);
    }
}
