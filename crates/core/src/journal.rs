//! What a crawl must not lose: the changes to its durable state as the frontier makes them,
//! and what a crawl resumed from them starts with (`c10k crawl --state DIR`, issue 28).
//!
//! The core does no I/O, so it only says what changed: a [`Journal`] the caller gives in the
//! [`crate::Config`] is handed each step's [`Change`]s at once, in the order that keeps a
//! crawl exact when it is killed between two steps:
//!
//! - a URL is [`Change::Seen`] before any record that found it is [`Change::Ended`], so a
//!   page's links are never lost with the page kept;
//! - with shards, the shard that finds a link another shard owns says so itself, since the
//!   owner may not have taken it in when the crawl dies;
//! - a URL put back for another try is [`Change::Tried`], so a resumed crawl does not give it
//!   more tries than one that ran through.
//!
//! A crawl resumed from a [`Restore`] knows every URL seen, keeps every record, and fetches
//! again only the URLs that had not ended: those in flight or queued when it stopped.
//! Everything else (robots.txt rules, politeness, connections) is learnt again.
//!
//! With [`Spools`] as well, the crawl keeps the least it can in memory: the seen set as 64-bit
//! fingerprints, and the URLs waiting for their first fetch in a [`Spool`] the caller keeps
//! (on disk); records are the journal's alone, read back by the caller at the end (the report
//! the core returns then holds none). See `crates/core/src/known.rs`.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::report::Record;

/// One change to a crawl's durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A URL is known (a URL seen again through fewer redirects is told again; the fewest
    /// is the one that counts).
    Seen {
        /// The URL, normalised.
        url: String,
        /// How many redirects led to it.
        redirects: u32,
    },
    /// A URL failed a try and goes again.
    Tried {
        /// The URL, normalised.
        url: String,
        /// The try it goes again as (2 after the first failed).
        tries: u32,
        /// How long from now it waits first.
        wait: Duration,
    },
    /// `url` ended with this record.
    Ended(Record),
}

/// Where the core writes its [`Change`]s: called with each step's changes (to take, leaving
/// the vector empty or not), from whichever thread made the step, in the order of the steps.
///
/// With a journal, the core tells no [`crate::RecordSink`] itself: a record is finished once
/// the journal keeps it, so the journal tells the sink then. A journal may keep changes in
/// groups (a store's commit costs the same for one change or a thousand); the steps of a group
/// not yet kept when the process dies are lost together, and their fetches are made again.
#[derive(Clone)]
pub struct Journal(pub Arc<Write>);

/// What a [`Journal`] calls.
pub type Write = dyn Fn(&mut Vec<Change>) + Send + Sync;

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Journal(..)")
    }
}

/// A URL that failed a try and had not ended, as a crawl resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// The URL, normalised.
    pub url: String,
    /// The try it goes again as.
    pub tries: u32,
    /// Not before this (the caller's clock: its wall-clock time, when the store keeps one,
    /// turned into an `Instant`).
    pub due: Instant,
}

/// One URL a crawl resumes with ([`Resume::each`]).
#[derive(Debug, Clone, Copy)]
pub struct Saved<'a> {
    /// The URL, normalised.
    pub url: &'a str,
    /// The fewest redirects it was reached through.
    pub redirects: u32,
    /// Its record, if it ended.
    pub ended: Option<&'a Record>,
    /// If it failed a try and had not ended: the try it goes again as, and not before when.
    pub retry: Option<(u32, Instant)>,
}

/// What a crawl resumes from, as a store reads it back from the [`Change`]s of the runs
/// before, one URL at a time, so that resuming a crawl of millions of URLs holds none of them
/// whole. Each shard of a crawl reads it through and takes the part it owns.
pub trait Resume: Send + Sync + fmt::Debug {
    /// Calls `f` with every URL seen, once each, with what became of it.
    fn each(&self, f: &mut dyn FnMut(Saved<'_>));
    /// How many URLs had ended, and how many of those with a response.
    fn ended(&self) -> (usize, usize);
}

/// A [`Resume`] held in memory: every URL seen and every record kept. A store reads back
/// the same, one URL at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restore {
    /// Every URL seen, with the fewest redirects it was reached through.
    pub seen: Vec<(String, u32)>,
    /// The URLs that failed a try and had not ended.
    pub tries: Vec<Retry>,
    /// Every record of a URL that ended.
    pub ended: Vec<Record>,
}

/// A first-in first-out queue of URLs that the caller keeps out of the crawler's memory (on
/// disk): the URLs met and not yet fetched, which on a wide site are most of them for most of
/// the crawl.
pub trait Spool: Send {
    /// Queues `url` last.
    fn push(&mut self, url: &str);
    /// Takes the first URL queued. `None` when empty, and also when the spool failed (its
    /// owner then stops the crawl through [`crate::Config::stop`]: what was lost is in the
    /// journal as seen and not ended, so a resumed crawl fetches it).
    fn pop(&mut self) -> Option<String>;
    /// How many URLs are queued.
    fn len(&self) -> usize;
    /// Whether none is.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes of memory it holds (its buffers).
    fn footprint(&self) -> usize;
}

/// Makes each crawler's [`Spool`] (a crawl split into shards has one per shard). Setting it in
/// the [`crate::Config`] makes the crawl keep fingerprints rather than URLs (see the module's
/// doc); it goes with a [`Journal`], which keeps what the fingerprints cannot tell back.
#[derive(Clone)]
pub struct Spools(pub Arc<dyn Fn() -> Box<dyn Spool> + Send + Sync>);

impl fmt::Debug for Spools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Spools(..)")
    }
}

impl Resume for Restore {
    fn each(&self, f: &mut dyn FnMut(Saved<'_>)) {
        let ended: std::collections::HashMap<&str, &Record> = self
            .ended
            .iter()
            .map(|record| (record.url.as_str(), record))
            .collect();
        let tries: std::collections::HashMap<&str, (u32, Instant)> = self
            .tries
            .iter()
            .map(|retry| (retry.url.as_str(), (retry.tries, retry.due)))
            .collect();
        for (url, redirects) in &self.seen {
            f(Saved {
                url,
                redirects: *redirects,
                ended: ended.get(url.as_str()).copied(),
                retry: tries.get(url.as_str()).copied(),
            });
        }
    }

    fn ended(&self) -> (usize, usize) {
        let fetched = self
            .ended
            .iter()
            .filter(|record| matches!(record.status, crate::report::Status::Http(_)))
            .count();
        (self.ended.len(), fetched)
    }
}
