//! The exercise of GUIDE.md on `Notify::enable` in `next_fetch`: what breaks without it.
//!
//! Two workers look at the frontier, find nothing, and are about to wait; meanwhile (another
//! thread of a work-stealing runtime) two URLs are queued, one `notify_one` each. Polled
//! with a no-op waker, so the test sees each future's state without a runtime.

use std::{
    future::Future,
    pin::pin,
    task::{Context, Waker},
};

use tokio::sync::Notify;

/// How many of two waiting workers the two `notify_one`s wake.
fn woken(enable_before_looking: bool) -> usize {
    let notify = Notify::new();
    let mut first = pin!(notify.notified());
    let mut second = pin!(notify.notified());
    if enable_before_looking {
        first.as_mut().enable();
        second.as_mut().enable();
    }
    // Both looked and found nothing; now two URLs are queued.
    notify.notify_one();
    notify.notify_one();
    // Both wait.
    let mut cx = Context::from_waker(Waker::noop());
    let first = first.as_mut().poll(&mut cx).is_ready();
    let second = second.as_mut().poll(&mut cx).is_ready();
    usize::from(first) + usize::from(second)
}

#[test]
fn without_enable_two_notify_ones_leave_one_permit_and_one_worker_sleeps() {
    assert_eq!(woken(false), 1);
}

#[test]
fn with_enable_each_notify_one_wakes_a_worker() {
    assert_eq!(woken(true), 2);
}

/// The end of the crawl (`notify_waiters`) needs no `enable`: a `Notified` receives it from
/// its creation.
#[test]
fn notify_waiters_reaches_a_notified_from_its_creation() {
    let notify = Notify::new();
    let mut waiting = pin!(notify.notified());
    notify.notify_waiters();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(waiting.as_mut().poll(&mut cx).is_ready());
}
