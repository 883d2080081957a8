//! `--runtime per-core --threads N`: thread per core, beside work stealing.
//!
//! A current-thread runtime is the event loop of the other crates: concurrency, not
//! parallelism. tokio's multi-thread runtime (`--threads N`, `--runtime stealing`) gets
//! parallelism by sharing: N workers, each with a run queue, that steal tasks from one another,
//! and here one frontier under one mutex that every worker locks for every fetch. The other
//! way, Seastar's, glommio's and monoio's, shares nothing: N threads, each with a
//! current-thread runtime that runs `crawl.rs`'s tasks unchanged on its own shard of the
//! frontier ([`Shard`]), with its share of the concurrency. The shard's mutex is then only
//! ever taken by the one thread that owns it, so it is never contended. What one runtime finds
//! for another — the links a page has into another shard, the termination probe, the end —
//! travels as a [`c10k_core::Message`] through that runtime's unbounded channel (lock-free),
//! whose receiving task hands it to the shard.
//!
//! What stealing does that this cannot: move work to an idle core. If the shards are uneven,
//! or one runtime is slowed (by `--work-us`, say), the others cannot help it; the hash that
//! assigns URLs to shards keeps them even on average.

use std::{
    io,
    panic::resume_unwind,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use c10k_core::{Config, Message, Report, Shard};
use tokio::sync::{
    mpsc::{self, UnboundedReceiver},
    watch,
};

use crate::crawl::{Shared, run};

/// Crawls `config`'s roots with `threads` current-thread runtimes, one per shard and thread.
pub(crate) fn crawl(config: &Config, threads: usize, offload: bool) -> io::Result<Report> {
    let started = Instant::now();
    let shards = Shard::split(config.clone(), threads);
    // Built before any thread starts, so that a runtime that cannot be built fails the crawl
    // instead of leaving the others waiting for its shard.
    let runtimes = shards
        .iter()
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })
        .collect::<io::Result<Vec<_>>>()?;
    let (peers, inboxes): (Vec<_>, Vec<_>) =
        shards.iter().map(|_| mpsc::unbounded_channel()).unzip();
    // Set when a runtime fails: the others stop instead of waiting for its shard forever.
    let (abort, aborted) = watch::channel(false);
    let ran = thread::scope(|scope| {
        let mut threads = Vec::new();
        for (index, ((shard, runtime), inbox)) in
            shards.into_iter().zip(runtimes).zip(inboxes).enumerate()
        {
            let shared = Arc::new(Shared::new(shard, peers.clone()));
            let (abort, mut aborted) = (&abort, aborted.clone());
            let spawned = thread::Builder::new()
                .name(format!("runtime-{index}"))
                .spawn_scoped(scope, move || {
                    let _unwinding = AbortIfPanicking(abort);
                    let ran = runtime.block_on(async {
                        let receiving = tokio::spawn(receive(Arc::clone(&shared), inbox));
                        let ran = tokio::select! {
                            ran = run(&shared, offload) => ran,
                            _ = aborted.wait_for(|aborted| *aborted) => {
                                Err(io::Error::other("another runtime failed"))
                            }
                        };
                        receiving.abort();
                        ran
                    });
                    if ran.is_err() {
                        abort.send_replace(true);
                    }
                    // Dropping the runtime drops its tasks, and their share of the frontier.
                    drop(runtime);
                    Ok::<_, io::Error>((shared.into_frontier()?, ran?))
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(err) => {
                    abort.send_replace(true);
                    return Err(err);
                }
            }
        }
        threads
            .into_iter()
            .map(|thread| thread.join().unwrap_or_else(|panic| resume_unwind(panic)))
            .collect::<io::Result<Vec<(Shard, Vec<Duration>)>>>()
    })?;
    Ok(Shard::merge(ran, "async", started.elapsed()))
}

/// Aborts the other runtimes if this thread unwinds (a task's panic is an error instead).
struct AbortIfPanicking<'a>(&'a watch::Sender<bool>);

impl Drop for AbortIfPanicking<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.send_replace(true);
        }
    }
}

/// Hands what other runtimes' shards send to this runtime's shard.
async fn receive(shared: Arc<Shared>, mut inbox: UnboundedReceiver<Message>) {
    while let Some(message) = inbox.recv().await {
        shared.change(|frontier| frontier.deliver(message));
    }
}
