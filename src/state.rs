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
use c10k_core::{Config, Record, Report, Resume as _};
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
}

/// What a run did to its state directory: the summary's line and `--json`'s `state`.
pub(crate) struct Ended {
    pub(crate) line: String,
    pub(crate) json: serde_json::Value,
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
    let (restored, _) = restore.ended();
    match opened {
        Opened::New => {}
        Opened::Unfinished => eprintln!(
            "resuming from {}: {} URLs known, {restored} ended",
            dir.display(),
            restore.seen()
        ),
        Opened::Complete => eprintln!(
            "{} holds a complete crawl ({restored} URLs ended): nothing left to fetch",
            dir.display()
        ),
    }
    config.journal = Some(state.journal());
    config.spools = Some(state.spools());
    config.restore = Some(Arc::new(restore));
    config.stop = Some(Arc::clone(&stop));
    Ok(Kept {
        dir: dir.to_path_buf(),
        state,
        opened,
        stop,
    })
}

impl Kept {
    /// Whether the crawl was stopped before its end (a signal, or a write that failed).
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The line that says how to resume a crawl that was stopped.
    pub(crate) fn resume_line(&self, report: &Report) -> String {
        format!(
            "stopped with {} URLs ended; to resume, run the same command again (--state {})",
            report.urls,
            self.dir.display()
        )
    }

    /// Ends this run: the state synced, and marked complete if the crawl is; then the report
    /// summed up again from the records the state keeps, which are all of them (the crawler
    /// kept none: its seen set was fingerprints), with them in `report.records` only if
    /// `keep` (else read them with [`Kept::each_record`]). Returns it, and what the run wrote:
    /// bytes of keys and values, steps (write batches), the store's size on disk, the URLs
    /// that had ended before the run, and bytes spooled.
    pub(crate) fn finish(
        &self,
        report: Report,
        config: &Config,
        keep: bool,
    ) -> anyhow::Result<(Report, Ended)> {
        let complete = !self.stopped();
        self.state
            .finish(complete)
            .with_context(|| "--state".to_owned())?;
        let mut failed = None;
        let elapsed = std::time::Duration::from_secs_f64(report.elapsed_s);
        let read = self
            .state
            .records()
            .map_while(|record| record.map_err(|err| failed = Some(err)).ok());
        // Kept, the records are read into memory and summed where they lie; else summed as
        // they are read, so that ten million of them take no memory.
        let (mut sum, records) = if keep {
            let records: Vec<Record> = read.collect();
            let sum = Report::sum(&report.strategy, config, &records, elapsed);
            (sum, records)
        } else {
            let sum = Report::sum(&report.strategy, config, read, elapsed);
            (sum, Vec::new())
        };
        if let Some(err) = failed {
            return Err(err).context("--state");
        }
        // What the records do not say, the crawl does.
        sum.concurrency = report.concurrency;
        sum.peak_in_flight = report.peak_in_flight;
        sum.loop_lag_ms = report.loop_lag_ms;
        sum.notes = report.notes;
        sum.connections = report.connections;
        sum.records = records;
        let (bytes, steps) = self.state.written();
        let disk = self.state.disk_space();
        let spooled = self.state.spooled();
        let restored = sum.restored;
        let fetched = sum.urls.saturating_sub(restored);
        let per_page = if fetched > 0 {
            format!(" ({} B per URL ended)", bytes / fetched as u64)
        } else {
            String::new()
        };
        let from = match self.opened {
            Opened::New => String::new(),
            _ => format!("; {restored} URLs had ended before this run"),
        };
        let ended = Ended {
            line: format!(
                "state: {}: {bytes} B written in {steps} steps{per_page}, {disk} B on disk, \
                 {spooled} B of queued URLs spooled{from}",
                self.dir.display(),
            ),
            json: serde_json::json!({
                "written_bytes": bytes,
                "steps": steps,
                "disk_bytes": disk,
                "spooled_bytes": spooled,
                "restored": restored,
            }),
        };
        Ok((sum, ended))
    }

    /// Calls `f` with every record the state keeps, sorted by URL. After [`Kept::finish`].
    pub(crate) fn each_record(&self, mut f: impl FnMut(&Record)) -> anyhow::Result<()> {
        for record in self.state.records() {
            f(&record.context("--state")?);
        }
        Ok(())
    }

    /// The record of `url`, if it ended. After [`Kept::finish`].
    pub(crate) fn record(&self, url: &str) -> anyhow::Result<Option<Record>> {
        self.state.record(url).context("--state")
    }
}
