//! The crawler as callbacks on an event loop: the lecture's second design, "Async" and "Con
//! callbacks".
//!
//! Sockets are non-blocking and one thread runs the [`c10k_eventloop::EventLoop`]. A
//! `Fetcher` per URL walks through the lecture's callbacks, each naming the next (the lecture
//! unregisters and registers the socket at each step; here it stays registered for both
//! directions and only its callback changes, which needs no system call):
//!
//! | lecture | here (`crawl.rs`) | what it does |
//! |---|---|---|
//! | `Fetcher.fetch` | `Fetcher::fetch` | non-blocking `connect`, register the socket once for both directions with `connected`, arm the deadline timer |
//! | `Fetcher.connected` | `Fetcher::connected` | check the connect, send the request |
//! | (partial `send`) | `Fetcher::send_request` | write what the socket takes; on `WouldBlock`, wait to be writable again |
//! | `Fetcher.read_response` | `Fetcher::read_response` | read until `WouldBlock`, feeding the core's reader; when complete, `finish` |
//! | `urls_todo`, `seen_urls`, `Fetcher(link).fetch()` | `Fetcher::finish`, `start_fetchers` | hand the outcome to the frontier; start fetchers up to the concurrency limit |
//! | `stopped = True` | `EventLoop::run` returning | nothing registered, no timer left: the crawl is done |
//!
//! Timeouts are loop timers: `fetch` arms one at the connect deadline and `connected` moves it
//! to the whole-fetch deadline; when it fires, `timed_out` finishes the fetch as a timeout.
//! Retries, and a host's politeness, are the frontier's decision and a timer here: a failed
//! URL waits in the frontier until its backoff is over; when `start_fetchers` finds nothing
//! due, `wake_when_due` sets one loop timer for the first time something will be, and the
//! loop serves the other sockets meanwhile.
//!
//! **CPU work and the loop.** Parsing a page (and `--work-us` of extra work) runs in
//! `finish`, on the loop: while it runs, no other socket is served, which the loop lag in the
//! report measures (a timer due every 10 ms, and how late it fires). With `--offload` the
//! parsing goes to the rayon pool and the outcome comes back through the loop's `Mailbox`,
//! the `run_in_executor` of the lecture.
//!
//! **No locks.** Callbacks run one at a time on the loop's thread, so the frontier is a plain
//! `RefCell` (borrowed, never contended), and one read buffer serves every socket.
//!
//! **Every core: `--loops N`** (`loops.rs`). One loop is concurrency, not parallelism: it
//! uses one core. With N loops, each on its own thread, the frontier is split into shards
//! (`c10k_core::Shard`) and each loop runs the code above, unchanged, on its own shard with
//! its share of the concurrency; links that belong to another shard go to its loop's
//! `Mailbox`. The one-loop crawl is the case N = 1: a shard that never has anything to send.
//!
//! **One fetch, drawn.** The loop calls; each callback does what it can without blocking,
//! names the next, and returns (`c10k crawl --strategy callbacks --trace` prints the
//! right-hand column):
//!
//! ```text
//!  EventLoop::run                  Fetcher #N, in its Rc<RefCell>         trace
//!  ──────────────────────────────  ─────────────────────────────────────  ─────────────────────
//!  start_fetchers: next_fetch ───▶ Fetcher::fetch                         start
//!                                  connect → EINPROGRESS
//!                                  register(fd, both ways, connected)
//!                                  arm_timer(deadline, timed_out)
//!  poll() … writable
//!  reactor.take(token) ──────────▶ Fetcher::connected                     callback connected
//!                                  take_error → none: connected           connected
//!                                  move the timer to the fetch deadline
//!                                  send_request: write → all out          request written
//!                                  set_callback(token, read_response)
//!  put_back: replaced, so dropped ◀ return
//!  poll() … readable
//!  reactor.take(token) ──────────▶ Fetcher::read_response                 callback read_response
//!                                  read, feed … read → WouldBlock         read N bytes
//!  put_back(token, callback)     ◀ return (called again next time)
//!  poll() … readable
//!  reactor.take(token) ──────────▶ read_response: read, feed → Done       read N bytes
//!                                  finish: close(token, stream), cancel
//!                                  the timer, fetch.finish (parse);
//!                                  complete: frontier.complete,           completed 200
//!                                  start_fetchers (the next Fetcher)
//!  … or first, the timer is due ─▶ Fetcher::timed_out → finish(Timeout)   callback timed_out
//! ```
//!
//! Where the fetch's state lives between two callbacks: in the `Fetcher`. Who resumes it:
//! [`EventLoop::run`](c10k_eventloop::EventLoop::run), calling whatever callback the token
//! names now.
//!
//! **What it costs the reader: stack ripping.** The straight-line story of a fetch —
//! connect, send, read until done, parse — is cut into callbacks at every point where it
//! would block. Its local variables move into the `Fetcher` struct because no stack frame
//! survives between callbacks; the fetcher must be shared (`Rc<RefCell<_>>`) between its
//! socket callback and its timer; an error can happen in any callback and each must route it
//! to `finish`; and a backtrace from a callback shows the event loop, not the fetch that led
//! there. Compare `crates/threads/src/crawl.rs`, where the same steps are one function.

#![deny(missing_docs)]

mod crawl;
mod loops;

pub use crawl::{Options, crawl, state_sizes};
