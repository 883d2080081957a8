//! Many rings, one per thread, that share nothing but mailboxes: for the completion loop what
//! `c10k_eventloop::run_loops` is for the readiness loop.
//!
//! [`run_rings`] starts a thread per piece of state (a shard), and each thread builds its own
//! [`Ring`] (a ring belongs to the thread that submits to it, so none is built elsewhere and
//! moved), sets up its side and trades its mailbox once with the others
//! ([`Meeting::meet`]) before it runs. The trade goes through the calling thread: each ring
//! leaves its mailbox there and waits for all of them.
//!
//! **Listening.** A ring sees its mailboxes only while a `read` of its wake-up eventfd is in
//! flight, which [`Ring::hold`] keeps there. So a ring that met its peers holds itself open
//! for them until it knows that none will post anything more ([`Peers::hang_up`], once the
//! crawl is over); then, with nothing else in flight, its loop ends.
//!
//! **Failure.** If one ring fails or panics, the others are stopped (their `run` returns)
//! rather than left waiting for its shard: besides its mailbox for values, each ring trades one
//! that stops it.

use std::{
    cell::Cell,
    io,
    panic::{self, AssertUnwindSafe},
    sync::{OnceLock, mpsc},
    thread,
};

use crate::ring::{Mailbox, Ring};

/// Every ring's mailbox, by index: where a ring posts what it has for the others.
pub(crate) struct Peers<T> {
    mailboxes: Vec<Mailbox<T>>,
    /// This ring still holds itself open for its peers' values.
    listening: Cell<bool>,
}

impl<T: Send + 'static> Peers<T> {
    /// Sends each value to the mailbox of the ring whose index it comes with. A value for a
    /// ring that has ended is dropped.
    pub(crate) fn post(&self, values: impl IntoIterator<Item = (usize, T)>) {
        for (to, value) in values {
            let _ = self.mailboxes[to].send(value);
        }
    }

    /// Stops listening for the peers' values: call once none will come (the crawl is over),
    /// so that `ring` can end when nothing else is in flight.
    pub(crate) fn hang_up(&self, ring: &mut Ring) {
        if self.listening.replace(false) {
            ring.release();
        }
    }
}

/// What a ring leaves at the meeting: its mailbox for values and the one that stops it, or
/// `None` if it could not start.
type Arrival<T> = (usize, Option<(Mailbox<T>, Mailbox<()>)>);

/// A ring's place at the rendezvous: [`Meeting::meet`] it once its mailbox exists.
pub(crate) struct Meeting<T> {
    index: usize,
    arrive: mpsc::Sender<Arrival<T>>,
    /// Every ring's mailbox, once all arrived; closed without it if one could not start.
    handout: mpsc::Receiver<Vec<Mailbox<T>>>,
    arrived: bool,
}

impl<T: Send + 'static> Meeting<T> {
    /// Leaves `mailbox` (a mailbox of `ring`) for the others and waits until every ring has;
    /// returns all their mailboxes, this ring's own at its index, and holds `ring` open for
    /// them until [`Peers::hang_up`]. Fails if a ring could not start.
    pub(crate) fn meet(mut self, ring: &mut Ring, mailbox: Mailbox<T>) -> io::Result<Peers<T>> {
        let stop = ring.mailbox(|ring, ()| ring.stop());
        self.arrived = true;
        let _ = self.arrive.send((self.index, Some((mailbox, stop))));
        let mailboxes = self
            .handout
            .recv()
            .map_err(|_| io::Error::other("another ring could not start"))?;
        ring.hold();
        Ok(Peers {
            mailboxes,
            listening: Cell::new(true),
        })
    }
}

impl<T> Drop for Meeting<T> {
    fn drop(&mut self) {
        if !self.arrived {
            let _ = self.arrive.send((self.index, None));
        }
    }
}

/// Runs `body(states[i], meeting)` for each of `states`, each on a thread of its own: the body
/// builds its ring, sets up its side, registers a mailbox for values of type `T`, trades it at
/// the meeting for every ring's mailbox (ring `i`'s at index `i`), and runs its ring. Returns
/// what each body returned, in the order of `states`.
///
/// If a body fails or panics, the other rings are stopped; the failure of the lowest index is
/// returned, and a panic goes on in the caller.
pub(crate) fn run_rings<S, T, R>(
    states: Vec<S>,
    body: impl Fn(S, Meeting<T>) -> io::Result<R> + Sync,
) -> io::Result<Vec<R>>
where
    S: Send,
    T: Send + 'static,
    R: Send,
{
    let rings = states.len();
    let (arrive, arrivals) = mpsc::channel();
    // Every ring's stopping mailbox, set once all met: how a ring that fails stops the others.
    let stops = OnceLock::new();
    let (stops, body) = (&stops, &body);
    thread::scope(|scope| {
        let mut threads = Vec::with_capacity(rings);
        let mut handouts = Vec::with_capacity(rings);
        for (index, state) in states.into_iter().enumerate() {
            let (handout, waiting) = mpsc::channel();
            let meeting = Meeting {
                index,
                arrive: arrive.clone(),
                handout: waiting,
                arrived: false,
            };
            let spawned = thread::Builder::new()
                .name(format!("ring-{index}"))
                .spawn_scoped(scope, move || {
                    let ran = panic::catch_unwind(AssertUnwindSafe(|| body(state, meeting)));
                    if !matches!(ran, Ok(Ok(_))) {
                        stop_all(stops);
                    }
                    ran
                });
            match spawned {
                Ok(thread) => {
                    threads.push(thread);
                    handouts.push(handout);
                }
                // The rings started so far find no peers (their handouts close) and end.
                Err(err) => return Err(err),
            }
        }
        drop(arrive);
        let mut met: Vec<Option<(Mailbox<T>, Mailbox<()>)>> = (0..rings).map(|_| None).collect();
        for (index, mailboxes) in arrivals.iter().take(rings) {
            let Some(mailboxes) = mailboxes else { break };
            met[index] = Some(mailboxes);
        }
        if let Some(met) = met.into_iter().collect::<Option<Vec<_>>>() {
            let (mailboxes, stopping): (Vec<_>, Vec<_>) = met.into_iter().unzip();
            let _ = stops.set(stopping);
            for handout in &handouts {
                let _ = handout.send(mailboxes.clone());
            }
        }
        // A ring could not start: the others' meetings fail as their handouts close.
        drop(handouts);
        let mut results = Vec::with_capacity(rings);
        let mut panicked = None;
        for thread in threads {
            match thread.join() {
                Ok(Ok(result)) => results.push(result),
                Ok(Err(payload)) | Err(payload) => panicked = panicked.or(Some(payload)),
            }
        }
        if let Some(payload) = panicked {
            panic::resume_unwind(payload);
        }
        results.into_iter().collect()
    })
}

/// Stops every ring, if they all met (before that, a failure closes the meeting instead).
fn stop_all(stops: &OnceLock<Vec<Mailbox<()>>>) {
    for stop in stops.get().into_iter().flatten() {
        let _ = stop.send(());
    }
}
