//! *(Second read.)* Waiting for a time: one loop timer for the first URL that waits.
//!
//! A URL may wait for its time (a retry's backoff, its host's politeness delay). A getter
//! that finds nothing due sets a loop timer for the first such time, unless one is set for
//! then or sooner ([`Clock::keep`]); the timer wakes the getter that has waited longest. A
//! getter that takes a URL while another waits for a time no timer is set for wakes the next
//! getter to see to it ([`Clock::hand_over`]), so a time that comes wakes one worker, not all.
//! The clocks of the threads and async crawlers do the same with a waiter that keeps time.

use std::{cell::Cell, rc::Rc, time::Instant};

use c10k_eventloop::{EventLoop, TimerId};

use crate::crawl::Crawl;

/// The timer set for when the first waiting URL is due, if any.
pub(crate) struct Clock {
    set: Cell<Option<(Instant, TimerId)>>,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            set: Cell::new(None),
        }
    }

    /// Whether something waits for a time (the frontier's `next_wake`) before any timer is
    /// set for: then a getter must be woken to see to it.
    pub(crate) fn hand_over(&self, next_wake: Option<Instant>) -> bool {
        next_wake.is_some_and(|due| self.set.get().is_none_or(|(set, _)| due < set))
    }

    /// Sets a timer for `next_wake`, when the first waiting URL may go (unless one is set for
    /// then or sooner): it wakes the first waiting getter to look again. A backoff is a timer
    /// on the loop; the other workers run meanwhile.
    pub(crate) fn keep(lp: &mut EventLoop, crawl: &Rc<Crawl>, next_wake: Option<Instant>) {
        let Some(due) = next_wake else {
            return;
        };
        if let Some((set, timer)) = crawl.clock.set.get() {
            if set <= due {
                return;
            }
            lp.cancel(timer);
        }
        let on_due = Rc::clone(crawl);
        let timer = lp.call_at(due, move |lp| {
            on_due.clock.set.set(None);
            on_due.wake_one(lp);
        });
        crawl.clock.set.set(Some((due, timer)));
    }
}
