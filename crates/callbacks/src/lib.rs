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
//! | `Fetcher.fetch` | `Fetcher::fetch`, `Fetcher::connect` | take a kept connection to the origin if there is one (`reuse`); else a non-blocking `connect`, register the socket once for both directions with `connected`, arm the deadline timer |
//! | `Fetcher.connected` | `Fetcher::connected` | check the connect, send the request (https: start the handshake) |
//! | (TLS) | `Fetcher::handshake` | https: read the server's flight until `WouldBlock` into TLS, write TLS's answer at once; its own next step until TLS is through |
//! | (partial `send`) | `Fetcher::send_request` | write what the socket takes; on `WouldBlock`, wait to be writable again |
//! | `Fetcher.read_response` | `Fetcher::read_response` | read until `WouldBlock`, feeding the core's reader (through TLS for https); when complete, `finish` |
//! | `urls_todo`, `seen_urls`, `Fetcher(link).fetch()` | `Fetcher::finish`, `start_fetchers` | keep the connection or close it, hand the outcome to the frontier; start fetchers up to the concurrency limit |
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
//! **https: the handshake as one more callback.** TLS is the core's sans-IO `Tls`: bytes
//! read from the socket go in, and what TLS has to send comes out, to be written by the
//! callback that holds it. `connected` creates it with the request queued behind the
//! handshake; `handshake` is the step between `connected` and `send_request`. Readiness is
//! edge-triggered, so each readable edge is read until `WouldBlock`, and TLS's answer is
//! written in the same callback: the writable edge after the connect came once and will not
//! come again. Once TLS is through, `send_request` writes its last message and the request
//! together (one write), and `read_response` feeds every chunk to TLS, writing whatever TLS
//! then has to say (a key update, an alert) before it waits.
//!
//! **Keep-alive** (`--connections keep-alive`): a `c10k_core::Pool` per loop (with
//! `--loops N`, each shard's origins have their connections on the loop that owns the shard).
//! `finish` keeps a connection whose response was read whole and which the server keeps: the
//! socket is *parked* ([`EventLoop::park`](c10k_eventloop::EventLoop::park)) — still in the
//! epoll set under its token, but with no callback, so it neither keeps the loop running nor
//! keeps its `Fetcher` alive — and goes to the pool with its TLS state. The origin's next
//! `fetch` takes it (`reuse`): taken up again with `send_request` as its callback, no connect,
//! no handshake, and no system call either, as epoll is told nothing: the loop kept what the
//! kernel reported for the socket while it was parked, and runs `send_request` with it at its
//! next turn, with no writable edge to wait for (a kept socket has room to write). If the
//! server had closed it meanwhile, that readiness says so, and the first read (or the write)
//! fails before any byte of the response: the connection is *stale*, and `reconnect` sends the
//! request once more on a fresh one, without counting a try. The pool is drained when the loop
//! ends, before the crawl returns.
//!
//! **One fetch, drawn.** The loop calls; each callback does what it can without blocking,
//! names the next, and returns (`c10k crawl --strategy callbacks --trace` prints the
//! right-hand column):
//!
//! ```text
//!  EventLoop::run                  Fetcher #N, in its Rc<RefCell>         trace
//!  ──────────────────────────────  ─────────────────────────────────────  ─────────────────────
//!  start_fetchers: next_fetch ───▶ Fetcher::fetch: no kept connection     start
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
//! Over https, and with a kept connection, the same fetch takes these turns instead (the rest
//! as above):
//!
//! ```text
//!  https, a new connection:
//!  reactor.take(token) ──────────▶ Fetcher::connected                     callback connected
//!                                  take_error → none: connected           connected
//!                                  Tls::new; tls.send(request): queued
//!                                  handshake: write the ClientHello
//!                                  set_callback(token, handshake)
//!  poll() … readable
//!  reactor.take(token) ──────────▶ Fetcher::handshake                     callback handshake
//!                                  read → tls.received … → WouldBlock
//!                                  TLS through: mark the handshake        tls handshake done
//!                                  send_request: its last message and
//!                                  the request, one write                 request written
//!                                  set_callback(token, read_response)
//!  poll() … readable ───────────▶ read_response: read → tls.received …   read N bytes
//!
//!  keep-alive, the response read whole:
//!                                  finish: park(token), the socket and    connection kept …
//!                                  its TLS to the pool; cancel the timer  completed 200
//!  the origin's next fetch:
//!  start_fetchers: next_fetch ───▶ Fetcher::fetch: pool.take → kept       start
//!                                  reuse: unpark(kept, send_request);     connection reused
//!                                  report(token, what came meanwhile)
//!  next turn, before poll()
//!  reactor.take(token) ──────────▶ send_request: (TLS: its records)       callback send_request
//!                                  write → all out                        request written
//!                                  … read_response as above; a read of 0
//!                                  before any byte: reconnect, once       reused connection
//!                                                                           closed …: a fresh one
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
//!
//! **What a connection costs.** Heap per connection, counted by an allocator that wraps the
//! system's (`cargo test -p c10k-callbacks --release --test memory -- --nocapture`: C = 20
//! against C = 220, every response held back until all are asked for; two runs):
//!
//! | connection | in flight, waiting for its response | kept in the pool |
//! |---|---:|---:|
//! | plain | 1,443–1,447 B | 50–60 B |
//! | TLS | 10,137–10,144 B | 8,086–8,093 B |
//! | TLS minus plain | 8,690–8,700 B | 8,033–8,036 B |
//! | a bare rustls `ClientConnection` at the same point | 10,524–10,525 B | |
//!
//! A TLS connection adds the boxed `Tls` (1,056 B, the `ClientConnection`) and the buffers
//! rustls keeps on the heap, and nothing else: the `Fetcher` grew by its `Option<Box<Tls>>`
//! (320 B in its `Rc<RefCell<_>>`, was 312). It stays under issue 25's bound, rustls' own
//! (a bare client driven in memory to the same point, handshake done, request sent, tickets
//! read) plus the plain connection. A kept connection is its parked socket and TLS state in
//! the pool's queue, and the queue's spare room; over TLS, rustls' state is nearly all of it.
//! The kernel's socket buffers are not in these figures. Since a parked socket keeps its token
//! and a handle on the loop (so that reusing it is no system call), the same test gives
//! 88–128 B per kept plain connection, against 36–76 B just before (two runs each).
//!
//! Resident memory says the same (`scripts/rss-per-connection.sh callbacks 200 2000`, and with
//! `TLS=1 DELAY_MS=4000` over https, so that every handshake is done before the first
//! response; two runs): 583–626 B per plain connection in flight, 9,655–9,835 B per TLS one.

#![deny(missing_docs)]

mod crawl;
mod loops;

pub use crawl::{Options, crawl, state_sizes};
