//! `c10k crawl --state DIR`: the crawl's state kept on disk ([`c10k_state`]), resumed when
//! the directory holds one, and a clean stop on SIGINT or SIGTERM.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::Context as _;
use c10k_core::{Config, Report};
use c10k_state::{Opened, State};
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::usage;

/// An open state directory, told every change of the crawl.
pub(crate) struct Kept {
    dir: PathBuf,
    state: State,
    opened: Opened,
    /// Set by the first SIGINT or SIGTERM, or by a write that failed.
    stop: Arc<AtomicBool>,
    /// Records read back from the directory.
    restored: usize,
}

/// Opens `dir` for the crawl of `config`'s roots (refusing, as a usage error, one that cannot
/// be resumed), sets the config's journal, restore and stop, and catches SIGINT and SIGTERM:
/// the first stops handing out fetches, a second exits at once (every step told so far is in
/// the store already).
pub(crate) fn open(dir: &Path, config: &mut Config) -> anyhow::Result<Kept> {
    let roots: Vec<String> = config.roots().map(ToString::to_string).collect();
    let stop = Arc::new(AtomicBool::new(false));
    // A record reaches `--jsonl` once the state keeps it: the state tells the sink.
    let sink = config.sink.take();
    let (state, restore, opened) = State::open(dir, &roots, Arc::clone(&stop), sink)
        .map_err(|err| usage(format!("--state {err}")))?;
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so that it sees the flag as the first signal left it.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))
            .context("catching SIGINT and SIGTERM")?;
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("catching SIGINT and SIGTERM")?;
    }
    let restored = restore.ended.len();
    match opened {
        Opened::New => {}
        Opened::Unfinished => eprintln!(
            "resuming from {}: {} URLs known, {restored} ended",
            dir.display(),
            restore.seen.len()
        ),
        Opened::Complete => eprintln!(
            "{} holds a complete crawl ({restored} URLs ended): nothing left to fetch",
            dir.display()
        ),
    }
    config.journal = Some(state.journal());
    config.restore = Some(Arc::new(restore));
    config.stop = Some(Arc::clone(&stop));
    Ok(Kept {
        dir: dir.to_path_buf(),
        state,
        opened,
        stop,
        restored,
    })
}

impl Kept {
    /// Whether the crawl was stopped before its end (a signal, or a write that failed).
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// What this run wrote, for `--json`: bytes of keys and values, steps (write batches),
    /// the store's size on disk, and the URLs that had ended before the run.
    pub(crate) fn figures(&self) -> serde_json::Value {
        let (bytes, steps) = self.state.written();
        serde_json::json!({
            "written_bytes": bytes,
            "steps": steps,
            "disk_bytes": self.state.disk_space(),
            "restored": self.restored,
        })
    }

    /// Ends this run: the state synced, and marked complete if the crawl is. Returns the line
    /// the summary gets.
    pub(crate) fn finish(&self, report: &Report) -> anyhow::Result<String> {
        let complete = !self.stopped();
        self.state
            .finish(complete)
            .with_context(|| "--state".to_owned())?;
        let (bytes, batches) = self.state.written();
        let fetched = report.records.len().saturating_sub(self.restored);
        let per_page = if fetched > 0 {
            format!(" ({} B per URL ended)", bytes / fetched as u64)
        } else {
            String::new()
        };
        let from = match self.opened {
            Opened::New => String::new(),
            _ => format!("; {} URLs had ended before this run", self.restored),
        };
        Ok(format!(
            "state: {}: {bytes} B written in {batches} steps{per_page}, {} B on disk{from}",
            self.dir.display(),
            self.state.disk_space()
        ))
    }
}
