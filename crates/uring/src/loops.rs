//! `--loops N`: N rings on N threads, each running the one-ring crawler of `crawl.rs` on its
//! own shard of the frontier, with its share of the concurrency.
//!
//! One ring is concurrency, not parallelism: thousands of operations in flight, completed on
//! one core. To use more cores, nothing in the callbacks changes; the frontier is split
//! ([`Shard`]) and each ring owns one part, which only its own callbacks touch, still through
//! a `RefCell` and never a lock. What one ring finds for another — the links a page has into
//! another shard, the termination probe, the end — travels as a [`c10k_core::Message`]
//! through that ring's [`crate::Mailbox`]: a queue, and a bump of the ring's eventfd that
//! completes its pending `read`. Nothing else is shared: not the receive pool, not the
//! submission and completion queues, not the sockets, which each ring opens, uses and closes
//! itself. Per connection, a ring holds what the single ring holds.
//!
//! A ring whose shard is idle waits (its eventfd `read` and its lag tick in flight) until
//! links arrive or the shards agree the crawl is over; then it stops listening
//! ([`crate::rings::Peers::hang_up`]), its tick is cancelled, and its loop ends.

use std::{io, rc::Rc, time::Instant};

use c10k_core::{Config, Report, Shard};

use crate::{
    crawl::{Crawl, Options, after_change, run},
    ring::Ring,
    rings::run_rings,
};

/// Crawls `config.root` with `options.loops` rings, one per shard and thread.
pub(crate) fn crawl(config: &Config, options: &Options) -> io::Result<Report> {
    let started = Instant::now();
    let shards = Shard::split(config.clone(), options.loops);
    let ran = run_rings(shards, |shard, meeting| {
        let mut lp = Ring::new(shard.config().concurrency)?;
        let crawl = Crawl::new(&mut lp, shard, options);
        let on_message = Rc::clone(&crawl);
        let inbox = lp.mailbox(move |lp, message| {
            on_message.frontier.borrow_mut().deliver(message);
            after_change(lp, &on_message);
        });
        let _ = crawl.peers.set(meeting.meet(&mut lp, inbox)?);
        run(lp, crawl)
    })?;
    Ok(Shard::merge(ran, "uring", started.elapsed()))
}

/// Posts what the frontier has for other loops to their mailboxes (one loop has no peers,
/// and its frontier never anything for them); once the crawl is over, stops listening for
/// theirs, as none will come.
pub(crate) fn send_messages(lp: &mut Ring, crawl: &Crawl) {
    if let Some(peers) = crawl.peers.get() {
        // A loop ends only once it knows the crawl is over; no one posts it anything then.
        peers.post(crawl.frontier.borrow_mut().messages());
        if crawl.frontier.borrow().is_done() {
            peers.hang_up(lp);
        }
    }
}
