//! *(Second read.)* Waiting for a time: which idle thread keeps it.
//!
//! A URL may wait for its time (a retry's backoff, its host's politeness delay). One idle
//! thread, the *keeper*, waits with a timeout until the first such time; the others wait
//! without one, so a time that comes wakes one thread, not the pool. `next_fetch` asks the
//! clock, under the frontier's lock, whether to wake a thread to keep a time no one keeps
//! ([`Clock::hand_over`], once it has taken a URL) and whether to keep it itself
//! ([`Clock::keep`], before it waits); a keeper that wakes says so ([`Clock::woke`]).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

/// When the keeper will wake, if one does.
pub(crate) struct Clock {
    /// The keeper's time in ns after `epoch`; `NO_ONE` when no thread keeps time. An atomic
    /// so that it can sit beside the frontier's mutex, but read and written under it.
    timed: AtomicU64,
    epoch: Instant,
}

/// `Clock::timed` when no thread keeps time.
const NO_ONE: u64 = u64::MAX;

/// A thread's turn to keep the time: it waits until `due`, and then no longer.
pub(crate) struct Keeper {
    pub(crate) due: Instant,
    at: u64,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            timed: AtomicU64::new(NO_ONE),
            epoch: Instant::now(),
        }
    }

    /// Whether something waits for a time (the frontier's `next_wake`) before any keeper
    /// wakes: then a thread must be woken to keep it.
    pub(crate) fn hand_over(&self, next_wake: Option<Instant>) -> bool {
        next_wake.is_some_and(|due| self.nanos(due) < self.timed.load(Ordering::Relaxed))
    }

    /// Makes the caller the keeper, if something waits for a time (`next_wake`) before any
    /// keeper wakes.
    pub(crate) fn keep(&self, next_wake: Option<Instant>) -> Option<Keeper> {
        let due = next_wake?;
        let at = self.nanos(due);
        if at >= self.timed.load(Ordering::Relaxed) {
            return None;
        }
        self.timed.store(at, Ordering::Relaxed);
        Some(Keeper { due, at })
    }

    /// The keeper woke: no one keeps time now, unless another thread has taken over.
    pub(crate) fn woke(&self, keeper: Keeper) {
        let _ =
            self.timed
                .compare_exchange(keeper.at, NO_ONE, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// `at` in ns after `epoch` (below `NO_ONE`).
    fn nanos(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos).unwrap_or(NO_ONE - 1).min(NO_ONE - 1)
    }
}
