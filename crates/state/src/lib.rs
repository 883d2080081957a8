//! `c10k crawl --state DIR`: the crawl's durable state on disk, so that a crawl killed at any
//! moment (SIGKILL, an out-of-memory, a reboot of the process) continues where it was when
//! run again with the same directory (issue 28).
//!
//! The core says what changed ([`c10k_core::journal`]); this crate keeps it in
//! [fjall](https://docs.rs/fjall), an embedded log-structured store, and reads it back as a
//! [`Resume`] when a crawl starts, one URL at a time.
//!
//! Changes are kept in groups: the steps' changes gather in memory, and every [`GROUP`] a
//! thread of this crate's commits what gathered as one write batch, appended to the store's
//! journal and handed to the operating system ([`PersistMode::Buffer`]: one `write`, no
//! `fsync`), which is what surviving a killed *process* takes; then it tells the
//! [`RecordSink`] (`--jsonl`) of the group's records. A record is finished once committed: a
//! kill loses at most the last group's steps, whose fetches are made again, and never a
//! record anyone was told of. Why fjall: its commit is that `write`; a B-tree store such as
//! redb makes a commit durable only with an `fsync` (milliseconds on most disks). Power loss
//! is not covered: [`State::finish`] syncs at the end, not at each group.
//!
//! The directory holds a `VERSION` file and the store in `store/`. Four keyspaces:
//!
//! | keyspace | key | value |
//! |---|---|---|
//! | `seen` | URL, `0`, redirects (u32 big-endian) | nothing |
//! | `tries` | URL | the try it goes again as (u32), not before (Unix ms, u64) |
//! | `ended` | URL | the record ([`encode`]) |
//! | `meta` | `roots`, `complete` | the roots, one per line; `1` |
//!
//! A URL seen through several redirect counts has a key for each; the smallest sorts first,
//! and it is the one that counts, so a write never needs to read first.

use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

mod spool;

use c10k_core::{Change, Journal, Record, RecordSink, Resume, Retry, Saved, Spool, Spools, Status};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, compaction::Leveled};

/// What `VERSION` says of a directory this version writes and reads.
pub const FORMAT: &str = "c10k-state 1";

/// Bytes of one keyspace's write buffer (fjall's memtable; its default is 64 MiB).
const MEMTABLE: u64 = 4 * 1024 * 1024;
/// Bytes of one table (a file of the store) that compaction writes; its default is 64 MiB.
/// A compaction holds memory in proportion (the input blocks the new table's index points
/// into, its filter's key hashes): about 44 MiB at the default, in a crawl of three million
/// URLs, against the frontier's 16 B per URL.
const TABLE: u64 = 8 * 1024 * 1024;
/// Bytes of the store's block cache.
const CACHE: u64 = 8 * 1024 * 1024;

/// How often the changes gathered are committed.
pub const GROUP: Duration = Duration::from_millis(2);

/// Why a state directory cannot be used. Each says what to do in one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory holds something else.
    #[error(
        "{0}: not a c10k state directory (no VERSION file, and not empty); give a new or empty directory"
    )]
    NotState(PathBuf),
    /// Written by another version of c10k.
    #[error("{path}: written as {found:?}, and this c10k reads {FORMAT:?}; give a new directory")]
    Version {
        /// The directory.
        path: PathBuf,
        /// What its `VERSION` says.
        found: String,
    },
    /// Written by a crawl of other roots.
    #[error(
        "{path}: holds a crawl of {found}, not of {given}; give the same roots or a new directory"
    )]
    Roots {
        /// The directory.
        path: PathBuf,
        /// Its roots.
        found: String,
        /// The roots given now.
        given: String,
    },
    /// Something in the store cannot be read back.
    #[error("{path}: corrupted ({what}); refusing to resume from it")]
    Corrupt {
        /// The directory.
        path: PathBuf,
        /// What could not be read.
        what: String,
    },
    /// The store failed.
    #[error("{path}: {err}")]
    Store {
        /// The directory.
        path: PathBuf,
        /// What failed.
        err: String,
    },
}

/// A crawl's state directory, open.
pub struct State {
    store: Arc<Store>,
    /// The steps' changes not committed yet.
    gathered: Arc<Mutex<Vec<Change>>>,
    /// Set when the crawl has ended: the committer commits what is left, and stops.
    closing: Arc<AtomicBool>,
    committer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Bytes written to the spools of queued URLs.
    spooled: Arc<AtomicU64>,
}

/// The store, and what was written to it.
struct Store {
    path: PathBuf,
    db: Database,
    seen: Keyspace,
    tries: Keyspace,
    ended: Keyspace,
    meta: Keyspace,
    /// The first write that failed: the crawl is stopped, and [`State::finish`] says why.
    failed: Mutex<Option<String>>,
    /// Set when a write fails, so that the crawl stops handing out fetches.
    stop: Arc<AtomicBool>,
    /// Bytes of keys and values written, and write batches.
    written: AtomicU64,
    batches: AtomicU64,
}

/// What an earlier run left, for the crawl to resume from ([`Resume`]): read from the store
/// one URL at a time, by each shard as it starts (checked whole when the state was opened).
pub struct Left {
    store: Arc<Store>,
    counts: Counts,
}

/// What a store holds: URLs seen, records, and records of a response.
#[derive(Debug, Clone, Copy)]
struct Counts {
    seen: usize,
    ended: usize,
    fetched: usize,
}

impl Left {
    /// How many URLs had been seen.
    pub fn seen(&self) -> usize {
        self.counts.seen
    }
}

impl std::fmt::Debug for Left {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Left")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Resume for Left {
    fn each(&self, f: &mut dyn FnMut(Saved<'_>)) {
        // Read whole once already: a failure now is the disk's, and stops the crawl; what was
        // not read stays in the store for the next run.
        if let Err(err) = self.store.walk(f) {
            self.store.fail(format!("reading the state back: {err}"));
        }
    }

    fn ended(&self) -> (usize, usize) {
        (self.counts.ended, self.counts.fetched)
    }
}

/// What the directory held when opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Nothing: a new crawl.
    New,
    /// A crawl that had not ended.
    Unfinished,
    /// A crawl that ended: nothing is left to fetch.
    Complete,
}

impl State {
    /// Opens (or makes) the state of a crawl of `roots` in `dir`, and reads back what it
    /// holds. Refuses, with one line, a directory of something else, of another version, of
    /// other roots, or one that cannot be read whole; nothing is half-read.
    ///
    /// `stop` is set if a write fails later. `sink` is told of each record once committed.
    pub fn open(
        dir: &Path,
        roots: &[String],
        stop: Arc<AtomicBool>,
        sink: Option<RecordSink>,
    ) -> Result<(State, Left, Opened), Error> {
        let (store, counts, opened) = Store::open(dir, roots, stop)?;
        let store = Arc::new(store);
        let left = Left {
            store: Arc::clone(&store),
            counts,
        };
        let gathered: Arc<Mutex<Vec<Change>>> = Arc::default();
        let closing = Arc::new(AtomicBool::new(false));
        let committer = {
            let (store, gathered, closing) = (
                Arc::clone(&store),
                Arc::clone(&gathered),
                Arc::clone(&closing),
            );
            std::thread::Builder::new()
                .name("state".to_owned())
                .spawn(move || commit_in_groups(&store, &gathered, &closing, sink.as_ref()))
                .map_err(|err| Error::Store {
                    path: dir.to_path_buf(),
                    err: err.to_string(),
                })?
        };
        let state = State {
            store,
            gathered,
            closing,
            committer: Mutex::new(Some(committer)),
            spooled: Arc::default(),
        };
        Ok((state, left, opened))
    }

    /// The journal the core writes to: each step's changes join the group to commit next.
    pub fn journal(&self) -> Journal {
        let gathered = Arc::clone(&self.gathered);
        Journal(Arc::new(move |changes| {
            gathered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(changes);
        }))
    }

    /// The spools the core queues new URLs in ([`Spools`]): a file each, in the directory.
    /// One that cannot be made stops the crawl, as a failed write does, and holds nothing.
    pub fn spools(&self) -> Spools {
        let (store, spooled) = (Arc::clone(&self.store), Arc::clone(&self.spooled));
        Spools(Arc::new(move || -> Box<dyn Spool> {
            match spool::FileSpool::new(&store.path, Arc::clone(&store), Arc::clone(&spooled)) {
                Ok(spool) => Box::new(spool),
                Err(err) => {
                    store.fail(format!("the spool of queued URLs: {err}"));
                    Box::new(Failed)
                }
            }
        }))
    }

    /// Every record kept, sorted by URL (as `--urls-out` lists them), read back one at a
    /// time. After [`State::finish`]. An `Err` says why one cannot be read.
    pub fn records(&self) -> impl Iterator<Item = Result<Record, Error>> + '_ {
        self.store.ended.iter().map(|item| {
            let (key, value) = item
                .into_inner()
                .map_err(|err| self.store.corrupt(err.to_string()))?;
            ended_record(&key, &value).map_err(|what| self.store.corrupt(what))
        })
    }

    /// The record of `url`, if it ended. After [`State::finish`].
    pub fn record(&self, url: &str) -> Result<Option<Record>, Error> {
        let value = self
            .store
            .ended
            .get(url)
            .map_err(|err| self.store.corrupt(err.to_string()))?;
        value
            .map(|value| ended_record(url.as_bytes(), &value))
            .transpose()
            .map_err(|what| self.store.corrupt(what))
    }

    /// Bytes written to the spools of queued URLs in this run.
    pub fn spooled(&self) -> u64 {
        self.spooled.load(Ordering::Relaxed)
    }

    /// Ends this run: what is gathered committed, the crawl marked complete if it is, and the
    /// store synced to disk. Says why if a write failed on the way.
    pub fn finish(&self, complete: bool) -> Result<(), Error> {
        if self.end_committer().is_err() {
            self.store.fail("the committing thread panicked".to_owned());
        }
        self.store.finish(complete)
    }

    /// Tells the committing thread to commit what is left and stop, and waits for it (once;
    /// at once after the first time). `Err` if it panicked.
    fn end_committer(&self) -> std::thread::Result<()> {
        self.closing.store(true, Ordering::Relaxed);
        let committer = self
            .committer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        committer.map_or(Ok(()), std::thread::JoinHandle::join)
    }

    /// Bytes of keys and values written in this run, and in how many commits.
    pub fn written(&self) -> (u64, u64) {
        self.store.written()
    }

    /// Bytes the store takes on disk.
    pub fn disk_space(&self) -> u64 {
        self.store.disk_space()
    }
}

impl Drop for State {
    /// A state dropped without [`State::finish`] (a test's, a crawl that failed) still commits
    /// what it gathered.
    fn drop(&mut self) {
        let _ = self.end_committer();
    }
}

/// The spool of a crawler whose file could not be made: it keeps nothing, and the crawl is
/// stopped already (what it is given is in the journal as seen, for the next run).
struct Failed;

impl Spool for Failed {
    fn push(&mut self, _: &str) {}
    fn pop(&mut self) -> Option<String> {
        None
    }
    fn len(&self) -> usize {
        0
    }
    fn footprint(&self) -> usize {
        0
    }
}

/// The committing thread: every [`GROUP`], what the steps gathered is one commit, then its
/// records go to `sink`. Ends, having committed the rest, once `closing` is set.
fn commit_in_groups(
    store: &Store,
    gathered: &Mutex<Vec<Change>>,
    closing: &AtomicBool,
    sink: Option<&RecordSink>,
) {
    let mut group = Vec::new();
    loop {
        let last = closing.load(Ordering::Relaxed);
        std::mem::swap(
            &mut group,
            &mut gathered.lock().unwrap_or_else(PoisonError::into_inner),
        );
        if !group.is_empty() {
            store.write(&group);
            if let Some(sink) = sink {
                for change in &group {
                    if let Change::Ended(record) = change {
                        (sink.0)(record);
                    }
                }
            }
            group.clear();
        }
        if last {
            return;
        }
        std::thread::sleep(GROUP);
    }
}

impl Store {
    /// Opens (or makes) the state of a crawl of `roots` in `dir`, and reads back what it
    /// holds. Refuses, with one line, a directory of something else, of another version, of
    /// other roots, or one that cannot be read whole; nothing is half-read.
    ///
    /// `stop` is set if a write fails later.
    fn open(
        dir: &Path,
        roots: &[String],
        stop: Arc<AtomicBool>,
    ) -> Result<(Store, Counts, Opened), Error> {
        let path = dir.to_path_buf();
        let store_err = |err: &dyn std::fmt::Display| Error::Store {
            path: path.clone(),
            err: err.to_string(),
        };
        let version = dir.join("VERSION");
        match fs::read_to_string(&version) {
            Ok(found) if found.trim_end() == FORMAT => {}
            Ok(found) => {
                return Err(Error::Version {
                    path,
                    found: found.trim_end().to_owned(),
                });
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let empty = match fs::read_dir(dir) {
                    Ok(mut entries) => entries.next().is_none(),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => true,
                    Err(err) => return Err(store_err(&err)),
                };
                if !empty {
                    return Err(Error::NotState(path));
                }
                fs::create_dir_all(dir).map_err(|err| store_err(&err))?;
                fs::write(&version, format!("{FORMAT}\n")).map_err(|err| store_err(&err))?;
            }
            Err(err) => return Err(store_err(&err)),
        }
        let corrupt = |what: String| Error::Corrupt {
            path: path.clone(),
            what,
        };
        // The store's memory is a constant beside the frontier's, which grows with the crawl:
        // small write buffers and cache, since a crawl writes and reads back only at start.
        let db = Database::builder(dir.join("store"))
            .cache_size(CACHE)
            .max_journaling_size(64 * 1024 * 1024)
            .open()
            .map_err(|err| corrupt(format!("the store does not open: {err}")))?;
        let keyspace = |name: &str| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default()
                    .max_memtable_size(MEMTABLE)
                    .compaction_strategy(Arc::new(Leveled::default().with_table_target_size(TABLE)))
            })
            .map_err(|err| corrupt(format!("keyspace {name}: {err}")))
        };
        let state = Store {
            seen: keyspace("seen")?,
            tries: keyspace("tries")?,
            ended: keyspace("ended")?,
            meta: keyspace("meta")?,
            path: path.clone(),
            db,
            failed: Mutex::new(None),
            stop,
            written: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        };
        let given = roots.join("\n");
        let read = |err: fjall::Error| corrupt(err.to_string());
        match state.meta.get("roots").map_err(read)? {
            None => {
                state.meta.insert("roots", given.as_bytes()).map_err(read)?;
                state.db.persist(PersistMode::SyncAll).map_err(read)?;
            }
            Some(found) if *found == *given.as_bytes() => {}
            Some(found) => {
                return Err(Error::Roots {
                    path,
                    found: String::from_utf8_lossy(&found).replace('\n', " "),
                    given: given.replace('\n', " "),
                });
            }
        }
        // Checked whole before any of it is used; read again by each shard as it starts.
        let counts = state.walk(&mut |_| {}).map_err(corrupt)?;
        let opened = if state.meta.get("complete").map_err(read)?.is_some() {
            Opened::Complete
        } else if counts.seen == 0 {
            Opened::New
        } else {
            Opened::Unfinished
        };
        Ok((state, counts, opened))
    }

    /// Reads the store through, calling `f` with every URL seen (once, with the fewest
    /// redirects), its record if it ended, and its retry if it failed a try and had not
    /// ended: the three keyspaces are sorted by URL, so they are read side by side, one
    /// entry at a time. Then the records and retries of URLs not seen (none, as the core
    /// journals) are read too, so that all of it is checked. Returns the URLs seen, the
    /// records, and those with a response; `Err` says what does not read back.
    fn walk(&self, f: &mut dyn FnMut(Saved<'_>)) -> Result<Counts, String> {
        let mut ended = self.ended.iter().map(|item| {
            let (key, value) = item.into_inner().map_err(|err| err.to_string())?;
            ended_record(&key, &value)
        });
        let mut tries = self.tries.iter().map(|item| {
            let (key, value) = item.into_inner().map_err(|err| err.to_string())?;
            let url = std::str::from_utf8(&key).map_err(|_| "a retried URL's key")?;
            retry_of(url, &value).ok_or_else(|| format!("the tries of {url}"))
        });
        let (mut next_ended, mut next_try) = (ended.next().transpose()?, tries.next().transpose()?);
        let (mut seen, mut records, mut fetched) = (0, 0, 0);
        let mut count = |record: &Record| {
            records += 1;
            fetched += usize::from(matches!(record.status, Status::Http(_)));
        };
        let mut last = Vec::new();
        for item in self.seen.iter() {
            let key = item.key().map_err(|err| err.to_string())?;
            let (url, redirects) = seen_key(&key).ok_or("a seen URL's key")?;
            // The fewest redirects sort first.
            if last == url.as_bytes() {
                continue;
            }
            last.clear();
            last.extend_from_slice(url.as_bytes());
            seen += 1;
            while let Some(record) = next_ended.take_if(|record| record.url.as_str() < url) {
                count(&record);
                next_ended = ended.next().transpose()?;
            }
            while next_try.take_if(|retry| retry.url.as_str() < url).is_some() {
                next_try = tries.next().transpose()?;
            }
            let record = next_ended.take_if(|record| record.url == url);
            let retry = next_try.take_if(|retry| retry.url == url);
            f(Saved {
                url,
                redirects,
                ended: record.as_ref(),
                retry: retry.as_ref().map(|retry| (retry.tries, retry.due)),
            });
            if let Some(record) = record {
                count(&record);
                next_ended = ended.next().transpose()?;
            }
            if retry.is_some() {
                next_try = tries.next().transpose()?;
            }
        }
        while let Some(record) = next_ended {
            count(&record);
            next_ended = ended.next().transpose()?;
        }
        while next_try.is_some() {
            next_try = tries.next().transpose()?;
        }
        Ok(Counts {
            seen,
            ended: records,
            fetched,
        })
    }

    /// Commits `changes` as one batch, handed to the operating system before it returns.
    fn write(&self, changes: &[Change]) {
        let mut batch = self.db.batch().durability(Some(PersistMode::Buffer));
        let mut bytes = 0;
        for change in changes {
            let (keyspace, key, value) = match change {
                Change::Seen { url, redirects } => {
                    let mut key = Vec::with_capacity(url.len() + 5);
                    key.extend_from_slice(url.as_bytes());
                    key.push(0);
                    key.extend_from_slice(&redirects.to_be_bytes());
                    (&self.seen, key, Vec::new())
                }
                Change::Tried { url, tries, wait } => {
                    let due = SystemTime::now() + *wait;
                    let due = due.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
                    let mut value = tries.to_le_bytes().to_vec();
                    value.extend_from_slice(&(due.as_millis() as u64).to_le_bytes());
                    (&self.tries, url.as_bytes().to_vec(), value)
                }
                Change::Ended(record) => {
                    (&self.ended, record.url.as_bytes().to_vec(), encode(record))
                }
            };
            bytes += key.len() + value.len();
            batch.insert(keyspace, key, value);
        }
        if let Err(err) = batch.commit() {
            self.fail(err.to_string());
        }
        self.written.fetch_add(bytes as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// The store does not read back whole: `what` says where.
    fn corrupt(&self, what: String) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            what,
        }
    }

    fn fail(&self, err: String) {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.get_or_insert(err);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Marks the crawl complete if it is, and syncs the store to disk. Says why if a write
    /// failed on the way.
    fn finish(&self, complete: bool) -> Result<(), Error> {
        let store_err = |err: String| Error::Store {
            path: self.path.clone(),
            err,
        };
        if let Some(err) = self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            return Err(store_err(format!("a write failed: {err}")));
        }
        if complete {
            self.meta
                .insert("complete", "1")
                .map_err(|err| store_err(err.to_string()))?;
        }
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|err| store_err(err.to_string()))
    }

    fn written(&self) -> (u64, u64) {
        (
            self.written.load(Ordering::Relaxed),
            self.batches.load(Ordering::Relaxed),
        )
    }

    /// The blocks the file system allocated to the directory's files: not their lengths,
    /// since fjall makes its journal at full length, sparse, and fills it as it goes.
    fn disk_space(&self) -> u64 {
        fn allocated(dir: &Path) -> u64 {
            use std::os::unix::fs::MetadataExt as _;
            let Ok(entries) = fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => allocated(&entry.path()),
                    Ok(meta) => meta.blocks() * 512,
                    Err(_) => 0,
                })
                .sum()
        }
        allocated(&self.path)
    }
}

/// An `ended` key and value read back as the record; `Err` says what does not read back.
fn ended_record(key: &[u8], value: &[u8]) -> Result<Record, String> {
    let url = std::str::from_utf8(key).map_err(|_| "an ended URL's key".to_owned())?;
    decode(url, value).ok_or_else(|| format!("the record of {url}"))
}

/// A `tries` value read back, for `url`: the try it goes again as, and the wall clock's
/// not-before (Unix ms) as the time still to wait from now.
fn retry_of(url: &str, value: &[u8]) -> Option<Retry> {
    let tries = u32::from_le_bytes(value.get(..4)?.try_into().ok()?);
    let not_before = u64::from_le_bytes(value.get(4..12)?.try_into().ok()?);
    (value.len() == 12).then_some(())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let wait = Duration::from_millis(not_before).saturating_sub(now);
    Some(Retry {
        url: url.to_owned(),
        tries,
        due: std::time::Instant::now() + wait,
    })
}

/// A `seen` key's URL and redirects.
fn seen_key(key: &[u8]) -> Option<(&str, u32)> {
    let (url, rest) = key.split_at_checked(key.len().checked_sub(5)?)?;
    let (zero, redirects) = rest.split_first()?;
    (*zero == 0).then_some(())?;
    Some((
        std::str::from_utf8(url).ok()?,
        u32::from_be_bytes(redirects.try_into().ok()?),
    ))
}

/// A record's value in `ended`: bytes, work digest, latency in ns (all ones for none), as
/// u64; links found, new links, tries, as u32; whether HTML, and the status's length, as a
/// byte; the status as `--urls-out` writes it; then the redirect's target, if any (all
/// little-endian).
pub fn encode(record: &Record) -> Vec<u8> {
    let status = record.status.to_string();
    let redirect = record.redirect.as_deref().unwrap_or_default();
    let mut value = Vec::with_capacity(38 + status.len() + redirect.len());
    let latency = record
        .latency
        .map_or(u64::MAX, |latency| latency.as_nanos() as u64);
    for n in [record.bytes, record.work_digest, latency] {
        value.extend_from_slice(&n.to_le_bytes());
    }
    for n in [record.links_found, record.new_links, record.tries] {
        value.extend_from_slice(&n.to_le_bytes());
    }
    value.push(u8::from(record.html));
    value.push(status.len() as u8);
    value.extend_from_slice(status.as_bytes());
    value.extend_from_slice(redirect.as_bytes());
    value
}

/// [`encode`] read back, for `url`; `None` if the value is not one.
pub fn decode(url: &str, value: &[u8]) -> Option<Record> {
    let u64_at = |at: usize| Some(u64::from_le_bytes(value.get(at..at + 8)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(value.get(at..at + 4)?.try_into().ok()?));
    let html = match *value.get(36)? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let status_len = usize::from(*value.get(37)?);
    let status = std::str::from_utf8(value.get(38..38 + status_len)?).ok()?;
    let redirect = std::str::from_utf8(value.get(38 + status_len..)?).ok()?;
    let latency = u64_at(16)?;
    Some(Record {
        url: url.to_owned(),
        status: status.parse::<Status>().ok()?,
        bytes: u64_at(0)?,
        html,
        work_digest: u64_at(8)?,
        links_found: u32_at(24)?,
        new_links: u32_at(28)?,
        redirect: (!redirect.is_empty()).then(|| redirect.to_owned()),
        tries: u32_at(32)?,
        latency: (latency != u64::MAX).then(|| Duration::from_nanos(latency)),
    })
}

#[cfg(test)]
mod tests {
    use c10k_core::{ErrorKind, Restore};

    use super::*;

    fn record(url: &str) -> Record {
        Record {
            url: url.to_owned(),
            status: Status::Http(301),
            bytes: 1234,
            html: true,
            work_digest: 99,
            links_found: 50,
            new_links: 7,
            redirect: Some("http://127.0.0.1:1/b".to_owned()),
            tries: 2,
            latency: Some(Duration::from_micros(1500)),
        }
    }

    /// Opens the state, and reads back what it holds as a [`Restore`].
    fn open(dir: &Path, roots: &[&str]) -> Result<(State, Restore, Opened), Error> {
        let roots: Vec<String> = roots.iter().map(|r| (*r).to_owned()).collect();
        let (state, left, opened) = State::open(dir, &roots, Arc::default(), None)?;
        let mut restore = Restore::default();
        left.each(&mut |saved| {
            restore.seen.push((saved.url.to_owned(), saved.redirects));
            restore.ended.extend(saved.ended.cloned());
            if let Some((tries, due)) = saved.retry {
                restore.tries.push(Retry {
                    url: saved.url.to_owned(),
                    tries,
                    due,
                });
            }
        });
        assert_eq!(left.seen(), restore.seen.len());
        Ok((state, restore, opened))
    }

    #[test]
    fn records_read_back_as_written() {
        let mut other = record("http://127.0.0.1:1/c");
        other.status = Status::Error(ErrorKind::RedirectLimit);
        other.redirect = None;
        other.latency = None;
        for record in [record("http://127.0.0.1:1/a"), other] {
            assert_eq!(decode(&record.url, &encode(&record)), Some(record.clone()));
            let value = encode(&record);
            for cut in 0..value.len() - record.redirect.as_deref().map_or(0, str::len) {
                assert_eq!(decode(&record.url, &value[..cut]), None, "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_state_reopened_gives_back_what_it_was_told() {
        let dir = tempfile::tempdir().unwrap();
        let roots = ["http://127.0.0.1:1/"];
        let (state, restore, opened) = open(dir.path(), &roots).unwrap();
        assert_eq!((restore, opened), (Restore::default(), Opened::New));
        let journal = state.journal();
        let seen = |url: &str, redirects| Change::Seen {
            url: url.to_owned(),
            redirects,
        };
        (journal.0)(&mut vec![
            seen("http://127.0.0.1:1/a", 2),
            seen("http://127.0.0.1:1/b", 0),
            seen("http://127.0.0.1:1/a", 1),
            seen("http://127.0.0.1:1/a", 3),
            Change::Tried {
                url: "http://127.0.0.1:1/b".to_owned(),
                tries: 3,
                wait: Duration::from_secs(1),
            },
            Change::Ended(record("http://127.0.0.1:1/a")),
        ]);
        drop(journal);
        // Dropped without `finish`, as a killed crawl leaves it.
        drop(state);
        let (_, restore, opened) = open(dir.path(), &roots).unwrap();
        assert_eq!(opened, Opened::Unfinished);
        assert_eq!(
            restore.seen,
            [
                ("http://127.0.0.1:1/a".to_owned(), 1),
                ("http://127.0.0.1:1/b".to_owned(), 0)
            ]
        );
        let [retry] = &restore.tries[..] else {
            panic!("one retry: {:?}", restore.tries);
        };
        assert_eq!(
            (retry.url.as_str(), retry.tries),
            ("http://127.0.0.1:1/b", 3)
        );
        // Told to wait a second from its writing: it waits what is left of it.
        let wait = retry
            .due
            .saturating_duration_since(std::time::Instant::now());
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(restore.ended, [record("http://127.0.0.1:1/a")]);
    }

    #[test]
    fn other_roots_other_versions_and_other_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (state, ..) = open(dir.path(), &["http://127.0.0.1:1/"]).unwrap();
        state.finish(true).unwrap();
        drop(state);
        let (.., opened) = open(dir.path(), &["http://127.0.0.1:1/"]).unwrap();
        assert_eq!(opened, Opened::Complete);
        let err = open(dir.path(), &["http://127.0.0.1:2/"]).err().unwrap();
        assert!(matches!(err, Error::Roots { .. }), "{err}");

        fs::write(dir.path().join("VERSION"), "c10k-state 0\n").unwrap();
        let err = open(dir.path(), &["http://127.0.0.1:1/"]).err().unwrap();
        assert!(matches!(err, Error::Version { .. }), "{err}");

        let other = tempfile::tempdir().unwrap();
        fs::write(other.path().join("notes.txt"), "mine").unwrap();
        let err = open(other.path(), &["http://127.0.0.1:1/"]).err().unwrap();
        assert!(matches!(err, Error::NotState(_)), "{err}");
        assert_eq!(
            fs::read_dir(other.path()).unwrap().count(),
            1,
            "nothing written"
        );
    }

    #[test]
    fn a_damaged_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let roots = ["http://127.0.0.1:1/"];
        let (state, ..) = open(dir.path(), &roots).unwrap();
        (state.journal().0)(&mut vec![Change::Ended(record("http://127.0.0.1:1/a"))]);
        state.finish(false).unwrap();
        drop(state);
        // A record's value cut short, as a bug or another program could leave it.
        {
            let db = Database::builder(dir.path().join("store")).open().unwrap();
            let ended = db
                .keyspace("ended", KeyspaceCreateOptions::default)
                .unwrap();
            ended.insert("http://127.0.0.1:1/a", [1u8, 2, 3]).unwrap();
            db.persist(PersistMode::SyncAll).unwrap();
        }
        let err = open(dir.path(), &roots).err().unwrap();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("http://127.0.0.1:1/a"), "{err}");
    }

    /// The sink hears of a record once it is committed, and every record it heard of is read
    /// back.
    #[test]
    fn the_sink_hears_of_records_once_they_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let roots = vec!["http://127.0.0.1:1/".to_owned()];
        let told: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = {
            let told = Arc::clone(&told);
            RecordSink(Arc::new(move |record: &Record| {
                told.lock().unwrap().push(record.url.clone());
            }))
        };
        let (state, ..) = State::open(dir.path(), &roots, Arc::default(), Some(sink)).unwrap();
        let journal = state.journal();
        for n in 0..50 {
            (journal.0)(&mut vec![Change::Ended(record(&format!(
                "http://127.0.0.1:1/{n}"
            )))]);
        }
        let started = std::time::Instant::now();
        while told.lock().unwrap().len() < 50 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the group is committed"
            );
            std::thread::sleep(GROUP);
        }
        state.finish(false).unwrap();
        drop(state);
        let (state, ..) = open(dir.path(), &["http://127.0.0.1:1/"]).unwrap();
        let kept: std::collections::HashSet<String> =
            state.records().map(|r| r.unwrap().url).collect();
        for url in told.lock().unwrap().iter() {
            assert!(kept.contains(url), "{url}");
        }
    }
}
