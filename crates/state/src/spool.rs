//! The URLs a crawler has queued and not yet fetched, kept in a file rather than in memory
//! ([`c10k_core::Spool`]): on a wide site they are most of the site for most of the crawl
//! (a site of ten million pages with fifty links each has all of them queued once a fiftieth
//! is fetched).
//!
//! First in, first out, through two buffers of about [`BLOCK`] bytes: URLs are pushed to the
//! tail buffer, which is appended to the file as one block when full; they are taken from the
//! head buffer, which reads the file's oldest block when empty, or takes the tail itself once
//! the file has nothing left. So memory is two blocks whatever the queue's length, and each
//! URL is written and read at most once, a block at a time.
//!
//! The file is scratch, not state: made in the state directory and unlinked at once, it goes
//! with the process. A resumed crawl queues again what the journal says was seen and not ended.
//! A write or read that fails stops the crawl (as a failed commit does), and says why at the end.

use std::{
    collections::VecDeque,
    fs::File,
    io,
    os::unix::fs::FileExt as _,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use c10k_core::Spool;

use crate::Store;

/// Bytes of URLs in a block (a block closes once it holds at least this many).
pub(crate) const BLOCK: usize = 1 << 20;

/// A spool in a file of its own.
pub(crate) struct FileSpool {
    file: File,
    /// URLs pushed since the last block was written, each as its length (u32 LE) and its
    /// bytes.
    tail: Vec<u8>,
    /// The block being taken from, and where in it the next URL is.
    head: Vec<u8>,
    at: usize,
    /// The ends of the blocks in the file not read yet (the start of the first is `read`).
    blocks: VecDeque<u64>,
    /// Where the first block not read yet starts, and where the next one goes.
    read: u64,
    written: u64,
    len: usize,
    /// Where a failure is told, to stop the crawl.
    store: Arc<Store>,
    /// Bytes written to spool files, over all of a state's spools.
    spooled: Arc<AtomicU64>,
}

impl FileSpool {
    /// A new spool in a file made in `dir`, and unlinked at once.
    pub(crate) fn new(
        dir: &Path,
        store: Arc<Store>,
        spooled: Arc<AtomicU64>,
    ) -> io::Result<FileSpool> {
        // Unlinked at once (`O_TMPFILE` where the file system has it): it lives as long as
        // its descriptor.
        let file = tempfile::tempfile_in(dir)?;
        Ok(FileSpool {
            file,
            tail: Vec::new(),
            head: Vec::new(),
            at: 0,
            blocks: VecDeque::new(),
            read: 0,
            written: 0,
            len: 0,
            store,
            spooled,
        })
    }

    /// Appends the tail to the file as one block.
    fn write_tail(&mut self) {
        if let Err(err) = self.file.write_all_at(&self.tail, self.written) {
            self.store.fail(format!("the spool of queued URLs: {err}"));
        }
        self.spooled
            .fetch_add(self.tail.len() as u64, Ordering::Relaxed);
        self.written += self.tail.len() as u64;
        self.blocks.push_back(self.written);
        self.tail.clear();
    }

    /// Fills the head, drained, with the file's oldest block or else the tail. False when
    /// there is nothing to take.
    fn refill(&mut self) -> bool {
        self.at = 0;
        self.head.clear();
        if let Some(end) = self.blocks.pop_front() {
            self.head.resize((end - self.read) as usize, 0);
            if let Err(err) = self.file.read_exact_at(&mut self.head, self.read) {
                self.store.fail(format!("the spool of queued URLs: {err}"));
                self.head.clear();
            }
            self.read = end;
            if self.blocks.is_empty() {
                // Every block is read: the file starts again, and gives its space back.
                self.read = 0;
                self.written = 0;
                let _ = self.file.set_len(0);
            }
        } else {
            std::mem::swap(&mut self.head, &mut self.tail);
        }
        !self.head.is_empty()
    }
}

impl Spool for FileSpool {
    fn push(&mut self, url: &str) {
        let len = u32::try_from(url.len()).expect("a URL is shorter than 4 GiB");
        self.tail.extend_from_slice(&len.to_le_bytes());
        self.tail.extend_from_slice(url.as_bytes());
        self.len += 1;
        if self.tail.len() >= BLOCK {
            self.write_tail();
        }
    }

    fn pop(&mut self) -> Option<String> {
        if self.at >= self.head.len() && !self.refill() {
            return None;
        }
        let start = self.at + 4;
        let url = self
            .head
            .get(self.at..start)
            .map(|len| u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize)
            .and_then(|len| self.head.get(start..start + len))
            .and_then(|url| std::str::from_utf8(url).ok());
        let Some(url) = url.map(str::to_owned) else {
            // Only whole `&str`s went in: a block that does not read back as them is damaged.
            self.store
                .fail("the spool of queued URLs read back damaged".to_owned());
            self.head.clear();
            return None;
        };
        self.at = start + url.len();
        self.len = self.len.saturating_sub(1);
        Some(url)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn footprint(&self) -> usize {
        self.tail.capacity() + self.head.capacity() + self.blocks.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    #[test]
    fn urls_come_out_in_the_order_they_went_in_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let roots = ["http://h/".to_owned()];
        let (state, _, _) =
            crate::State::open(dir.path(), &roots, Default::default(), None).unwrap();
        let mut spool = (state.spools().0)();
        let entries = || std::fs::read_dir(dir.path()).unwrap().count();
        // The VERSION file and the store: the spool's file is unlinked already.
        assert_eq!(entries(), 2);
        let mut model = VecDeque::new();
        let mut x = 1u64;
        // Three pushes for one pop, then pops only (emptying it): blocks written and read
        // back, the file emptied and started again, the tail taken whole.
        for round in 0..120_000u64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            if x >> 62 != 0 && round % 40_000 < 26_000 {
                let url = format!(
                    "http://h/p/{round}/{}",
                    "x".repeat((x >> 40) as usize % 300)
                );
                spool.push(&url);
                model.push_back(url);
            } else {
                assert_eq!(spool.pop(), model.pop_front());
            }
            assert_eq!(spool.len(), model.len());
        }
        assert!(state.spooled() > 4 * super::BLOCK as u64);
        while let Some(url) = model.pop_front() {
            assert_eq!(spool.pop(), Some(url));
        }
        assert_eq!((spool.pop(), spool.len()), (None, 0));
        assert!(spool.footprint() < 3 * super::BLOCK);
        assert_eq!(entries(), 2);
    }
}
