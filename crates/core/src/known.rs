//! Every URL a crawler has met, and the record of each that ended, in as few bytes as exactness
//! allows (issue 28: about 445 B per known URL before, at most 100 B now).
//!
//! - The URL's text is kept once, in chunks of 64 KiB that are never moved or grown: a URL is
//!   named by the place of its text ([`Loc`]) and, everywhere else, by its index, a `u32`.
//! - The seen set is a hash table of those indices ([`hashbrown::HashTable`]): 4 B a slot,
//!   and a lookup compares the full text, so it is exact: two URLs whose hashes collide are
//!   two entries, never one (a test hashes every URL to 0). A hash only picks where to look;
//!   no fingerprint stands for a URL, so there is no collision bound to state, and the hash
//!   can be a fast one: foldhash, seeded at random for each process (std's SipHash, here
//!   and in the crawl's other maps, was about 5% of a kept page's user-space instructions).
//!   A page whose URLs collide under a seed it cannot know costs lookups time, never a wrong
//!   answer.
//! - Each URL has one [`Entry`] of 48 B: its fewest redirects, and its record once it ended,
//!   packed. Entries live in chunks of 4,096, so that growing never copies them nor leaves a
//!   doubled vector half empty.
//!
//! A [`Record`] with its own `String` is built only when asked for (the report, the sink).
//!
//! With `--state` ([`Known::lean`], issue 28's 32 B per URL) the text and the records live on
//! disk, and a URL is known here by its fingerprint alone: 64 bits of a keyed SipHash of its
//! text (std's `RandomState`: a fingerprint must be as good as random, a bucket need not),
//! 8 B an index beside a table of 4 B indices (about 16 B a URL in all). No text is
//! compared, so two URLs with one fingerprint would be taken for one, and the second never
//! fetched: among n URLs the chance that any two share one is at most n²/2⁶⁵, 3·10⁻⁶ at ten
//! million (the scale run checks its crawl of ten million against the site's count and
//! checksum). Beside the fingerprints: the fewest redirects of the few URLs a redirect
//! reached, and which URLs ended refused for their chain, since a shorter one may still come.

use std::{
    collections::{HashMap, HashSet},
    hash::{BuildHasher, RandomState},
};

use foldhash::fast::RandomState as FastState;

use hashbrown::HashTable;

use crate::{
    error::ErrorKind,
    report::{Record, Status},
};

/// Bytes of one chunk of URL text. A longer URL gets a chunk of its own.
const TEXT_CHUNK: usize = 64 * 1024;
/// Entries per chunk of entries.
const ENTRY_CHUNK: usize = 4096;
/// In a [`Loc`], the length that means "the whole chunk" (a URL of 64 KiB or more).
const WHOLE: u64 = 0xFFFF;

/// Where a URL's text is: chunk (32 bits), offset in it (16), length (16, or [`WHOLE`]).
#[derive(Debug, Clone, Copy)]
struct Loc(u64);

/// One known URL: its fewest redirects, and its record, packed (48 B).
#[derive(Debug, Clone, Copy)]
struct Entry {
    loc: Loc,
    bytes: u64,
    work_digest: u64,
    /// The last try's latency in nanoseconds (low 48 bits: up to 78 hours; all ones for
    /// none), and the tries (high 16 bits, at most 65,535).
    latency_tries: u64,
    links_found: u32,
    new_links: u32,
    /// The fewest redirects any path so far reached the URL with.
    redirects: u32,
    /// How it ended: [`ENDED`], [`HTML`], [`ERROR`] bits, and the status code or the error
    /// kind's index in the low 16 bits. 0 while it has not ended.
    state: u32,
}

const ENDED: u32 = 1 << 31;
const HTML: u32 = 1 << 30;
const ERROR: u32 = 1 << 29;
const NO_LATENCY: u64 = (1 << 48) - 1;

/// The index of a known URL.
pub(crate) type Id = u32;

/// No index: beside an [`Id`] where the URL's is not at hand. Never a URL's, since at most
/// `Id::MAX` URLs are known (0 to `Id::MAX - 1`).
pub(crate) const UNKNOWN: Id = Id::MAX;

/// The index of a URL added after `count` others.
fn next_id(count: usize) -> Id {
    Id::try_from(count)
        .ok()
        .filter(|&id| id != UNKNOWN)
        .expect("at most 4,294,967,295 URLs per crawler")
}

/// The URLs a crawler knows, and their records (see the module's doc).
///
/// `S` hashes the URLs for the seen set (a test gives one under which every URL collides).
#[derive(Debug, Default)]
pub(crate) struct Known<S = FastState> {
    text: Vec<Vec<u8>>,
    entries: Vec<Vec<Entry>>,
    table: HashTable<Id>,
    /// Hashes a URL's bytes for the seen set (as `[u8]`, everywhere: a `str` hashes
    /// differently).
    hasher: S,
    /// How many URLs are known.
    count: usize,
    /// How many entries hold a record.
    ended: usize,
    /// Set for a crawl that keeps fingerprints instead ([`Known::lean`]); the fields above
    /// then stay empty.
    lean: Option<Box<Fingerprints>>,
}

/// The seen set of a crawl whose URLs and records are on disk (see the module's doc).
#[derive(Debug, Default)]
struct Fingerprints {
    /// The key of the fingerprints: SipHash's, drawn for this process.
    keys: RandomState,
    /// Each URL's fingerprint, by index, in chunks of [`FP_CHUNK`].
    fps: Vec<Vec<u64>>,
    /// The indices, found by fingerprint.
    table: HashTable<Id>,
    /// The fewest redirects of URLs a redirect reached (0 for every other).
    redirects: HashMap<Id, u32>,
    /// URLs that ended refused for their chain of redirects.
    refused: HashSet<Id>,
    count: usize,
}

/// Fingerprints per chunk.
const FP_CHUNK: usize = 64 * 1024;

impl Fingerprints {
    /// The fingerprint of `url`.
    fn of(&self, url: &str) -> u64 {
        self.keys.hash_one(url.as_bytes())
    }

    fn fp(&self, id: Id) -> u64 {
        let id = id as usize;
        self.fps[id / FP_CHUNK][id % FP_CHUNK]
    }

    fn get(&self, fp: u64) -> Option<Id> {
        self.table.find(fp, |&id| self.fp(id) == fp).copied()
    }

    fn insert(&mut self, fp: u64, redirects: u32) -> Id {
        let id = next_id(self.count);
        if self.fps.last().is_none_or(|chunk| chunk.len() == FP_CHUNK) {
            self.fps.push(Vec::with_capacity(FP_CHUNK));
        }
        if let Some(chunk) = self.fps.last_mut() {
            chunk.push(fp);
        }
        self.count += 1;
        if redirects > 0 {
            self.redirects.insert(id, redirects);
        }
        let fps = &self.fps;
        self.table.insert_unique(fp, id, |&id| {
            fps[id as usize / FP_CHUNK][id as usize % FP_CHUNK]
        });
        id
    }

    fn forget_last(&mut self, id: Id) {
        let fp = self.fp(id);
        if let Ok(slot) = self.table.find_entry(fp, |&other| other == id) {
            slot.remove();
        }
        if let Some(chunk) = self.fps.last_mut() {
            chunk.pop();
        }
        self.redirects.remove(&id);
        self.count -= 1;
    }

    fn footprint(&self) -> Vec<(&'static str, usize)> {
        let fps = self.fps.iter().map(|c| c.capacity() * 8).sum::<usize>()
            + self.fps.capacity() * size_of::<Vec<u64>>();
        let others = self.redirects.capacity() * (size_of::<(Id, u32)>() + 1)
            + self.refused.capacity() * (size_of::<Id>() + 1);
        vec![
            ("fingerprints, 8 B each", fps),
            (
                "seen set: a hash table of u32 indices",
                table_bytes(&self.table),
            ),
            ("redirected and refused URLs", others),
        ]
    }
}

/// Heap bytes of a hashbrown table of indices: one slot and one control byte a bucket, and a
/// group's worth of control bytes more.
fn table_bytes(table: &HashTable<Id>) -> usize {
    if table.capacity() == 0 {
        return 0;
    }
    let buckets = (table.capacity() * 8 / 7).next_power_of_two();
    buckets * (size_of::<Id>() + 1) + 16
}

impl Known {
    /// A seen set of fingerprints, for a crawl whose URLs and records are on disk (see the
    /// module's doc): [`Known::url`] and [`Known::record`] have nothing to give.
    pub(crate) fn lean() -> Known {
        Known {
            lean: Some(Box::default()),
            ..Known::default()
        }
    }
}

impl<S: BuildHasher> Known<S> {
    /// How many URLs are known.
    pub(crate) fn len(&self) -> usize {
        match &self.lean {
            Some(lean) => lean.count,
            None => self.count,
        }
    }

    fn entry(&self, id: Id) -> &Entry {
        let id = id as usize;
        &self.entries[id / ENTRY_CHUNK][id % ENTRY_CHUNK]
    }

    fn entry_mut(&mut self, id: Id) -> &mut Entry {
        let id = id as usize;
        &mut self.entries[id / ENTRY_CHUNK][id % ENTRY_CHUNK]
    }

    /// The text of URL `id`.
    pub(crate) fn url(&self, id: Id) -> &str {
        // Only `&str`s are ever copied in, whole, so every URL's bytes are UTF-8.
        std::str::from_utf8(self.bytes(id)).expect("a URL's text is UTF-8")
    }

    /// The bytes of URL `id`'s text, to compare without checking that they are UTF-8.
    fn bytes(&self, id: Id) -> &[u8] {
        let Loc(loc) = self.entry(id).loc;
        text_of(&self.text, loc)
    }

    /// The index of `url`, if it is known.
    pub(crate) fn get(&self, url: &str) -> Option<Id> {
        if let Some(lean) = &self.lean {
            return lean.get(lean.of(url));
        }
        let hash = self.hasher.hash_one(url.as_bytes());
        self.table
            .find(hash, |&id| self.bytes(id) == url.as_bytes())
            .copied()
    }

    /// The fewest redirects that led to URL `id`.
    pub(crate) fn redirects(&self, id: Id) -> u32 {
        match &self.lean {
            Some(lean) => lean.redirects.get(&id).copied().unwrap_or(0),
            None => self.entry(id).redirects,
        }
    }

    /// Sets the fewest redirects that led to URL `id`.
    pub(crate) fn set_redirects(&mut self, id: Id, redirects: u32) {
        if let Some(lean) = &mut self.lean {
            match redirects {
                0 => lean.redirects.remove(&id),
                _ => lean.redirects.insert(id, redirects),
            };
            return;
        }
        self.entry_mut(id).redirects = redirects;
    }

    /// Adds `url`, not known yet, reached through `redirects` redirects: its index.
    pub(crate) fn insert(&mut self, url: &str, redirects: u32) -> Id {
        if let Some(lean) = &mut self.lean {
            return lean.insert(lean.of(url), redirects);
        }
        let id = next_id(self.len());
        let loc = self.store(url);
        if self
            .entries
            .last()
            .is_none_or(|chunk| chunk.len() == ENTRY_CHUNK)
        {
            self.entries.push(Vec::with_capacity(ENTRY_CHUNK));
        }
        if let Some(chunk) = self.entries.last_mut() {
            chunk.push(Entry {
                loc,
                bytes: 0,
                work_digest: 0,
                latency_tries: NO_LATENCY,
                links_found: 0,
                new_links: 0,
                redirects,
                state: 0,
            });
        }
        self.count += 1;
        let hash = self.hasher.hash_one(url.as_bytes());
        let (text, entries, hasher) = (&self.text, &self.entries, &self.hasher);
        self.table.insert_unique(hash, id, |&id| {
            let Loc(loc) = entries[id as usize / ENTRY_CHUNK][id as usize % ENTRY_CHUNK].loc;
            hasher.hash_one(text_of(text, loc))
        });
        id
    }

    /// Copies `url` into the chunks of text.
    fn store(&mut self, url: &str) -> Loc {
        let bytes = url.as_bytes();
        if bytes.len() >= WHOLE as usize {
            self.text.push(bytes.to_vec());
            return Loc(((self.text.len() as u64 - 1) << 32) | WHOLE);
        }
        // A chunk of one long URL (`WHOLE` long or more) takes no other.
        let full = |chunk: &Vec<u8>| {
            chunk.len() + bytes.len() > TEXT_CHUNK || chunk.len() >= WHOLE as usize
        };
        if self.text.last().is_none_or(full) {
            self.text.push(Vec::with_capacity(TEXT_CHUNK));
        }
        let index = self.text.len() - 1;
        let chunk = &mut self.text[index];
        let start = chunk.len();
        chunk.extend_from_slice(bytes);
        Loc(((index as u64) << 32) | ((start as u64) << 16) | bytes.len() as u64)
    }

    /// Forgets the URL added last, `id` (another shard took the budget it was to use).
    pub(crate) fn forget_last(&mut self, id: Id) {
        if let Some(lean) = &mut self.lean {
            return lean.forget_last(id);
        }
        let url = self.url(id);
        let hash = self.hasher.hash_one(url.as_bytes());
        if let Ok(slot) = self.table.find_entry(hash, |&other| other == id) {
            slot.remove();
        }
        let Loc(loc) = self.entry(id).loc;
        if let Some(chunk) = self.entries.last_mut() {
            chunk.pop();
        }
        self.count -= 1;
        let chunk = &mut self.text[(loc >> 32) as usize];
        match loc & 0xFFFF {
            WHOLE => chunk.clear(),
            len => chunk.truncate(chunk.len() - len as usize),
        }
    }

    /// Keeps `record`, the end of URL `id`.
    pub(crate) fn end(&mut self, id: Id, record: &Record) {
        if let Some(lean) = &mut self.lean {
            // The record is the journal's; only a refusal for the chain matters here.
            if record.status == Status::Error(ErrorKind::RedirectLimit) {
                lean.refused.insert(id);
            } else {
                lean.refused.remove(&id);
            }
            return;
        }
        let (html, value) = match record.status {
            Status::Http(code) => (record.html, u32::from(code)),
            Status::Error(kind) => (false, ERROR | kind as u32),
        };
        let latency = record.latency.map_or(NO_LATENCY, |latency| {
            u64::try_from(latency.as_nanos()).map_or(NO_LATENCY - 1, |ns| ns.min(NO_LATENCY - 1))
        });
        let tries = u64::from(record.tries.min(u32::from(u16::MAX)));
        let entry = self.entry_mut(id);
        let was_ended = entry.state & ENDED != 0;
        entry.bytes = record.bytes;
        entry.work_digest = record.work_digest;
        entry.latency_tries = latency | (tries << 48);
        entry.links_found = record.links_found;
        entry.new_links = record.new_links;
        entry.state = ENDED | if html { HTML } else { 0 } | value;
        self.ended += usize::from(!was_ended);
    }

    /// Drops the record of URL `id` (refused for its chain, now reached by a shorter one).
    pub(crate) fn unend(&mut self, id: Id) {
        if let Some(lean) = &mut self.lean {
            lean.refused.remove(&id);
            return;
        }
        let entry = self.entry_mut(id);
        if entry.state & ENDED != 0 {
            entry.state = 0;
            self.ended -= 1;
        }
    }

    /// How URL `id` ended, if it did.
    /// (Of a lean one: only whether it ended refused for its chain.)
    pub(crate) fn status(&self, id: Id) -> Option<Status> {
        if let Some(lean) = &self.lean {
            return lean
                .refused
                .contains(&id)
                .then_some(Status::Error(ErrorKind::RedirectLimit));
        }
        let state = self.entry(id).state;
        if state & ENDED == 0 {
            None
        } else if state & ERROR != 0 {
            Some(Status::Error(ErrorKind::ALL[(state & 0xFFFF) as usize]))
        } else {
            Some(Status::Http((state & 0xFFFF) as u16))
        }
    }

    /// How many URLs ended.
    pub(crate) fn ended(&self) -> usize {
        self.ended
    }

    /// The record of URL `id`, if it ended, with `redirect` where it pointed.
    /// (None of a lean one: its records are on disk.)
    pub(crate) fn record(&self, id: Id, redirect: Option<String>) -> Option<Record> {
        if self.lean.is_some() {
            return None;
        }
        let status = self.status(id)?;
        let entry = self.entry(id);
        let latency = entry.latency_tries & NO_LATENCY;
        Some(Record {
            url: self.url(id).to_owned(),
            status,
            bytes: entry.bytes,
            html: entry.state & HTML != 0,
            work_digest: entry.work_digest,
            links_found: entry.links_found,
            new_links: entry.new_links,
            redirect,
            tries: (entry.latency_tries >> 48) as u32,
            latency: (latency != NO_LATENCY).then(|| std::time::Duration::from_nanos(latency)),
        })
    }

    /// Every record, in the order the URLs were met, `redirect` saying where each pointed:
    /// the chunks of text and entries are freed as the records are built, so the two forms
    /// are not held whole at once (the report at the end of a crawl).
    pub(crate) fn into_records(mut self, redirect: impl Fn(Id) -> Option<String>) -> Vec<Record> {
        if self.lean.is_some() {
            return Vec::new();
        }
        let mut records = Vec::with_capacity(self.ended);
        // Text chunks before this one are done with: the URLs' text is in the order they were
        // met.
        let mut text_done = 0;
        for id in self.ids() {
            let index = id as usize;
            if index % ENTRY_CHUNK == 0 && index > 0 {
                self.entries[index / ENTRY_CHUNK - 1] = Vec::new();
            }
            let Loc(loc) = self.entry(id).loc;
            while text_done < (loc >> 32) as usize {
                self.text[text_done] = Vec::new();
                text_done += 1;
            }
            records.extend(self.record(id, redirect(id)));
        }
        records
    }

    /// Every index, in the order the URLs were met.
    /// (None of a lean one.)
    pub(crate) fn ids(&self) -> std::ops::Range<Id> {
        0..self.count as Id
    }

    /// Bytes on the heap, by what holds them: capacities, for the memory test's table.
    pub(crate) fn footprint(&self) -> Vec<(&'static str, usize)> {
        if let Some(lean) = &self.lean {
            return lean.footprint();
        }
        let text: usize = self.text.iter().map(Vec::capacity).sum();
        let entries: usize = self
            .entries
            .iter()
            .map(|chunk| chunk.capacity() * size_of::<Entry>())
            .sum::<usize>()
            + self.entries.capacity() * size_of::<Vec<Entry>>();
        let table = table_bytes(&self.table);
        vec![
            (
                "URL text, once (64 KiB chunks)",
                text + self.text.capacity() * 24,
            ),
            (
                "entries: fewest redirects and the record, 48 B each",
                entries,
            ),
            ("seen set: a hash table of u32 indices", table),
        ]
    }
}

/// The text at `loc` among `text`'s chunks (for the table's rehash, which cannot borrow the
/// whole [`Known`]).
fn text_of(text: &[Vec<u8>], loc: u64) -> &[u8] {
    let chunk = &text[(loc >> 32) as usize];
    let start = ((loc >> 16) & 0xFFFF) as usize;
    match loc & 0xFFFF {
        WHOLE => chunk,
        len => &chunk[start..start + len as usize],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_48_bytes() {
        assert_eq!(size_of::<Entry>(), 48);
    }

    #[test]
    fn every_error_kind_is_at_its_index() {
        for (index, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index);
        }
        assert_eq!(ErrorKind::ALL.len(), ErrorKind::Tls as usize + 1);
    }

    #[test]
    fn urls_are_found_by_their_whole_text() {
        let mut known: Known = Known::default();
        let long = format!("http://h/{}", "x".repeat(70_000));
        let urls: Vec<String> = (0..10_000)
            .map(|i| format!("http://h/p/{i}"))
            .chain([long])
            .collect();
        for (i, url) in urls.iter().enumerate() {
            assert_eq!(known.get(url), None);
            assert_eq!(known.insert(url, i as u32 % 3) as usize, i);
        }
        for (i, url) in urls.iter().enumerate() {
            assert_eq!(known.get(url), Some(i as Id));
            assert_eq!(known.url(i as Id), url);
            assert_eq!(known.redirects(i as Id), i as u32 % 3);
        }
        assert_eq!(known.get("http://h/p/10000"), None);
        let id = known.insert("http://h/last", 0);
        known.forget_last(id);
        assert_eq!(known.get("http://h/last"), None);
        assert_eq!(known.insert("http://h/again", 0), id);
        assert_eq!(known.url(id), "http://h/again");
    }

    /// A hasher under which every URL collides with every other.
    #[derive(Default)]
    struct Collide;

    impl std::hash::Hasher for Collide {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, _: &[u8]) {}
    }

    #[test]
    fn urls_whose_hashes_collide_stay_apart() {
        let mut known: Known<std::hash::BuildHasherDefault<Collide>> = Known::default();
        let urls: Vec<String> = (0..300).map(|i| format!("http://h/p/{i}")).collect();
        for (i, url) in urls.iter().enumerate() {
            assert_eq!(known.get(url), None, "{url} is new");
            assert_eq!(known.insert(url, 0) as usize, i);
        }
        for (i, url) in urls.iter().enumerate() {
            assert_eq!(known.get(url), Some(i as Id));
        }
        assert_eq!(known.len(), urls.len());
    }

    #[test]
    fn records_come_back_as_they_went_in() {
        let mut known: Known = Known::default();
        let records = [
            Record {
                url: "http://h/a".into(),
                status: Status::Http(200),
                bytes: 1 << 40,
                html: true,
                work_digest: u64::MAX,
                links_found: 7,
                new_links: 3,
                redirect: None,
                tries: 2,
                latency: Some(std::time::Duration::new(12, 345)),
            },
            Record {
                url: "http://h/b".into(),
                status: Status::Error(ErrorKind::Tls),
                ..Record::default()
            },
            Record {
                url: "http://h/c".into(),
                status: Status::Http(302),
                redirect: Some("http://h/a".into()),
                tries: 1,
                latency: Some(std::time::Duration::ZERO),
                ..Record::default()
            },
        ];
        for record in &records {
            let id = known.insert(&record.url, 0);
            assert_eq!(known.record(id, None), None);
            known.end(id, record);
        }
        assert_eq!(known.ended(), 3);
        for (id, record) in records.iter().enumerate() {
            let back = known.record(id as Id, record.redirect.clone());
            assert_eq!(back.as_ref(), Some(record));
        }
        let all = |known: &Known| {
            let redirect = |id: Id| records[id as usize].redirect.clone();
            let mut copy: Known = Known::default();
            for id in known.ids() {
                copy.insert(known.url(id), known.redirects(id));
                copy.end(id, &known.record(id, redirect(id)).expect("ended"));
            }
            copy.into_records(redirect)
        };
        assert_eq!(all(&known), records);
        known.unend(1);
        assert_eq!(known.ended(), 2);
        assert_eq!(known.status(1), None);
    }
}
