//! `--loops N`: N event loops on N threads, each running the one-loop crawler of `crawl.rs`
//! — its ticker and its share of the workers — on its own shard of the frontier.
//!
//! One loop is concurrency, not parallelism: thousands of coroutines overlap their waits, on
//! one core. To use more cores, nothing in the coroutines changes; the frontier is split
//! ([`Shard`]) and each loop owns one part, which only its own tasks touch, still through a
//! `RefCell` and never a lock. What one loop finds for another — the links a page has into
//! another shard, the termination probe, the end — travels as a [`c10k_core::Message`]
//! through that loop's [`c10k_eventloop::Mailbox`], a lock-free queue and a wake-up. Nothing
//! else is shared: not the read buffer, not the futures, not the sockets, which each loop
//! opens, polls and closes itself. Per connection, a loop holds what the single loop holds.
//!
//! A loop whose shard is idle keeps its workers waiting in `get` (and its ticker keeps it
//! running) until links arrive, which wake them, or the shards agree the crawl is over, which
//! ends them all.

use std::{io, rc::Rc, time::Instant};

use c10k_core::{Config, Report, Shard};
use c10k_eventloop::run_loops;

use crate::crawl::{Crawl, Options, run};

/// Crawls `config`'s roots with `options.loops` loops, one per shard and thread.
pub(crate) fn crawl(config: &Config, options: &Options) -> io::Result<Report> {
    let started = Instant::now();
    let shards = Shard::split(config.clone(), options.loops);
    let ran = run_loops(shards, |shard, mut lp, meeting| {
        let crawl = Crawl::new(&mut lp, shard, options);
        let on_message = Rc::clone(&crawl);
        let inbox = lp.mailbox(move |lp, message| {
            on_message.change(lp, |frontier| frontier.deliver(message));
        });
        let _ = crawl.peers.set(meeting.meet(inbox)?);
        run(lp, crawl)
    })?;
    Ok(Shard::merge(ran, "generators", started.elapsed()))
}

/// Posts what the frontier has for other loops to their mailboxes (one loop has no peers,
/// and its frontier never anything for them).
pub(crate) fn send_messages(crawl: &Crawl) {
    if let Some(peers) = crawl.peers.get() {
        // A loop ends only once it knows the crawl is over; no one posts it anything then.
        peers.post(crawl.frontier.borrow_mut().messages());
    }
}
