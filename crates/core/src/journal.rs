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

/// What a crawl resumes with: every URL seen and every record kept, as a store read them back
/// from the [`Change`]s of the runs before. A crawl split into shards gives each shard the
/// part it owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restore {
    /// Every URL seen, with the fewest redirects it was reached through.
    pub seen: Vec<(String, u32)>,
    /// The URLs that failed a try and had not ended.
    pub tries: Vec<Retry>,
    /// Every record of a URL that ended.
    pub ended: Vec<Record>,
}
