//! Timers: callbacks due at a deadline, kept in a min-heap. The earliest deadline bounds how
//! long the loop may block in `poll`, which is how a selector loop implements `call_later`.

use std::{cmp::Reverse, collections::BinaryHeap, time::Instant};

// A fast hash: the keys are the loop's own counter, and every fetch sets and cancels a timer.
use foldhash::HashMap;

use crate::EventLoop;

/// What runs when a timer is due.
pub(crate) type TimerCallback = Box<dyn FnOnce(&mut EventLoop)>;

/// Identifies a timer, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

/// Pending timers. Cancelling removes the callback at once and leaves its heap entry to be
/// skipped when it comes up; the heap is compacted when such entries outnumber live ones, so
/// memory follows the live timers, not the total ever set.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    callbacks: HashMap<u64, TimerCallback>,
    next_id: u64,
}

impl Timers {
    pub(crate) fn insert(&mut self, deadline: Instant, callback: TimerCallback) -> TimerId {
        self.next_id += 1;
        let id = self.next_id;
        self.heap.push(Reverse((deadline, id)));
        self.callbacks.insert(id, callback);
        TimerId(id)
    }

    pub(crate) fn cancel(&mut self, id: TimerId) -> bool {
        let cancelled = self.callbacks.remove(&id.0).is_some();
        if self.heap.len() > 64 + 2 * self.callbacks.len() {
            let live = &self.callbacks;
            self.heap.retain(|Reverse((_, id))| live.contains_key(id));
        }
        cancelled
    }

    /// The earliest deadline of a live timer.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, id))) = self.heap.peek() {
            if self.callbacks.contains_key(id) {
                return Some(*deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns one timer due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerCallback> {
        while let Some(&Reverse((deadline, id))) = self.heap.peek() {
            if deadline > now {
                return None;
            }
            self.heap.pop();
            if let Some(callback) = self.callbacks.remove(&id) {
                return Some(callback);
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.callbacks.len()
    }

    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len()
    }
}
