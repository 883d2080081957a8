//! Many loops, one per thread: an event loop gives concurrency, not parallelism, so a program
//! that wants N cores runs N loops that share nothing, as nginx runs a loop per worker process
//! and Seastar a reactor per core. What one loop has for another travels as a value through
//! that loop's [`Mailbox`].
//!
//! [`run_loops`] starts a thread per piece of state (a shard, say), gives each its loop, and
//! has them trade mailboxes once ([`Meeting::meet`]) before they run; after that, nothing is
//! shared but the mailboxes' queues.

use std::{
    io,
    panic::{self, AssertUnwindSafe},
    sync::{Condvar, Mutex, PoisonError},
    thread,
};

use crate::{EventLoop, Mailbox};

/// Where the loops trade mailboxes before they run.
struct Rendezvous<T> {
    state: Mutex<Table<T>>,
    all_met: Condvar,
}

struct Table<T> {
    mailboxes: Vec<Option<Mailbox<T>>>,
    /// A loop could not start, or left before meeting: nobody will get everyone's mailbox.
    failed: bool,
}

impl<T> Rendezvous<T> {
    fn table(&self) -> std::sync::MutexGuard<'_, Table<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self) {
        self.table().failed = true;
        self.all_met.notify_all();
    }
}

/// Every loop's mailbox, by index: where a loop posts what it has for the others.
pub struct Peers<T>(Vec<Mailbox<T>>);

impl<T: Send + 'static> Peers<T> {
    /// Sends each value to the mailbox of the loop whose index it comes with. A value for a
    /// loop that has ended is dropped.
    pub fn post(&self, values: impl IntoIterator<Item = (usize, T)>) {
        for (to, value) in values {
            let _ = self.0[to].send(value);
        }
    }
}

/// A loop's place at the rendezvous: [`Meeting::meet`] it once its mailbox exists.
pub struct Meeting<'a, T> {
    rendezvous: &'a Rendezvous<T>,
    index: usize,
    met: bool,
}

impl<T: Send + 'static> Meeting<'_, T> {
    /// Leaves this loop's mailbox for the others and waits until every loop has; returns all
    /// the mailboxes, this loop's own at its index. Fails if a loop could not start.
    pub fn meet(mut self, mailbox: Mailbox<T>) -> io::Result<Peers<T>> {
        self.met = true;
        let rendezvous = self.rendezvous;
        let mut table = rendezvous.table();
        table.mailboxes[self.index] = Some(mailbox);
        rendezvous.all_met.notify_all();
        loop {
            if let Some(all) = table.mailboxes.iter().cloned().collect() {
                return Ok(Peers(all));
            }
            if table.failed {
                return Err(io::Error::other("another event loop could not start"));
            }
            table = rendezvous
                .all_met
                .wait(table)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl<T> Drop for Meeting<'_, T> {
    fn drop(&mut self) {
        if !self.met {
            self.rendezvous.fail();
        }
    }
}

/// Runs an event loop for each of `states`, each on a thread of its own: loop `i` runs
/// `body(states[i], loop, meeting)`, which sets up its side, registers a mailbox for values of
/// type `T`, trades it at the meeting for every loop's mailbox (loop `i`'s at index `i`), and
/// runs its loop. Returns what each body returned, in the order of `states`.
///
/// If a body fails or panics, the other loops are stopped (their `run` returns) rather than
/// left waiting for it; the failure of the lowest index is returned, and a panic goes on in
/// the caller.
pub fn run_loops<S, T, R>(
    states: Vec<S>,
    body: impl Fn(S, EventLoop, Meeting<'_, T>) -> io::Result<R> + Sync,
) -> io::Result<Vec<R>>
where
    S: Send,
    T: Send + 'static,
    R: Send,
{
    let loops = states.len();
    let rendezvous = Rendezvous {
        state: Mutex::new(Table {
            mailboxes: (0..loops).map(|_| None).collect(),
            failed: false,
        }),
        all_met: Condvar::new(),
    };
    let rendezvous = &rendezvous;
    let body = &body;
    thread::scope(|scope| {
        let mut threads = Vec::with_capacity(loops);
        for (index, state) in states.into_iter().enumerate() {
            let spawned = thread::Builder::new()
                .name(format!("loop-{index}"))
                .spawn_scoped(scope, move || {
                    let meeting = Meeting {
                        rendezvous,
                        index,
                        met: false,
                    };
                    let ran = panic::catch_unwind(AssertUnwindSafe(|| {
                        body(state, EventLoop::new()?, meeting)
                    }));
                    if !matches!(ran, Ok(Ok(_))) {
                        stop_all(rendezvous);
                    }
                    ran
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(err) => {
                    rendezvous.fail();
                    return Err(err);
                }
            }
        }
        let mut results = Vec::with_capacity(loops);
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

/// Stops every loop that met (a loop stopped before it runs returns at once).
fn stop_all<T: Send + 'static>(rendezvous: &Rendezvous<T>) {
    rendezvous.fail();
    let mailboxes = rendezvous.table().mailboxes.clone();
    for mailbox in mailboxes.into_iter().flatten() {
        let _ = mailbox.remote.call_soon(EventLoop::stop);
    }
}
