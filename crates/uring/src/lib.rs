//! The crawler as callbacks on a completion loop written on io_uring: a fifth way, one step
//! past the lecture's history of event loops.
//!
//! **Readiness, then completion.** The lecture's loop asks the kernel which sockets are
//! *ready*, then does the I/O itself:
//!
//! - `select` (4.2BSD, 1983) passes bitmaps of every descriptor on every call, at most 1,024,
//!   and the kernel scans them all;
//! - `poll` (System V Release 3; Linux 2.2) passes an array instead: no 1,024 cap, still a scan
//!   of every descriptor per call;
//! - `epoll` (Linux 2.5.44, 2002) keeps the interest set in the kernel (`epoll_ctl` once per
//!   change) and `epoll_wait` returns only the ready ones. Still readiness: each step of a
//!   fetch is a system call of its own — `connect`, `epoll_ctl`, `send`, `recv`, `close` —
//!   and that is what `crates/eventloop` (mio) does for callbacks and generators, and tokio
//!   for async;
//! - io_uring (Linux 5.1, 2019) turns it around: the program *submits the operations* —
//!   socket, connect, send, receive, close, each with a deadline — into a submission queue
//!   shared with the kernel, and the kernel reports them *completed* in a completion queue;
//!   one `io_uring_enter` hands over every queued operation and waits for any completion.
//!   The design is the Proactor's (Windows' IOCP, 1994), where epoll loops are Reactors.
//!
//! [`Ring::run`] is the lecture's five-line loop, turned into a completion loop:
//!
//! ```text
//! while operations are in flight:
//!     submit every queued operation; wait for at least one completion   # one io_uring_enter
//!     for completion in completion_queue:
//!         operation = in_flight.pop(completion.user_data)                # a slab key
//!         operation.callback(completion.result, what the operation had lent the kernel)
//! ```
//!
//! **Beside the other four.** `threads` blocks a thread per connection; `callbacks` chains
//! callbacks on readiness; `generators` writes the same fetch as state machines on that loop;
//! `async` has the compiler write them, on tokio. This crate is `callbacks` again, on a
//! completion loop instead of a readiness loop, so that `diff crates/callbacks/src/crawl.rs
//! crates/uring/src/crawl.rs` shows readiness turning into completion and nothing else:
//!
//! | `crates/callbacks` (readiness) | here, `crawl.rs` (completion) |
//! |---|---|
//! | `Fetcher::fetch`: `socket` + non-blocking `connect`, register for writability, arm a timer | `Fetcher::fetch`: submit `socket`; `Fetcher::connect`: submit `connect`, its deadline kept by the ring |
//! | `connected`: writable; ask `take_error` whether the connect worked | `connected`: the completion *is* the connect's result |
//! | `send_request`: write until `WouldBlock`, re-register for writability | `send_request` + `sent`: the kernel writes; a short send is submitted again |
//! | `read_response`: read until `WouldBlock`, one shared buffer | `read_response` + `received`: one `recv` per completion, a pool buffer per chunk |
//! | `timed_out`: a loop timer finishes the fetch | none: every operation carries the deadline; a late one completes with `TimedOut` |
//! | `finish`: deregister, drop the socket (`close(2)`) | `finish`: submit `close` |
//! | https: TLS fed what each read gives, its output written on writability | `flush`: what `Tls::outgoing` gives is lent to a send before any `recv`; `received`: each completed buffer goes to `Tls::received` |
//! | keep-alive: a kept socket deregistered, in a pool per loop | a kept socket has no operation in flight, in a `Pool` per ring |
//!
//! The frontier, the lag tick (`c10k_core::LAG_TICK`, a `Timeout` operation here) and
//! `--offload` (a [`Mailbox`] whose wake-up is an eventfd `read`, a completion like the rest)
//! are the same as in `callbacks`.
//!
//! **One fetch, drawn.** Each callback submits the next operation with what it lends the
//! kernel, and gets it back with the completion (`c10k crawl --strategy uring --trace`
//! prints the right-hand column). An https fetch on a new connection, then one on a connection
//! kept from an earlier fetch (`--connections keep-alive`):
//!
//! ```text
//!  Ring::run                          Fetcher #N, in its Rc<RefCell>        trace
//!  ─────────────────────────────────  ────────────────────────────────────  ─────────────────────────
//!  start_fetchers: next_fetch ──────▶ Fetcher::fetch: none kept for the     start
//!                                     origin: open: submit socket
//!  io_uring_enter: submit; wait
//!  CQE(socket) → slab[user_data] ───▶ Fetcher::connect: submit connect      callback connect
//!                                     (its deadline into the ring's heap)
//!  io_uring_enter … CQE(connect) ───▶ Fetcher::connected: Ok; a Tls for     callback connected
//!                                     the URL; send_request: the request    connected
//!                                     queued in it, behind the handshake;
//!                                     flush: Tls::outgoing (the ClientHello)
//!                                     into a Vec lent to a send
//!  … CQE(send), the Vec given back ─▶ Fetcher::sent: all out; flush:        callback sent
//!                                     nothing more to send: submit recv
//!  … CQE(recv): a pool buffer ──────▶ Fetcher::received: Tls::received      callback received
//!                                     (rustls copies: the buffer goes back  tls handshake done
//!                                     to the pool) → NeedMore; flush: the
//!                                     handshake's end and the request's
//!                                     records, lent to a send
//!  … CQE(send) ─────────────────────▶ sent: all out, the request with it;   callback sent
//!                                     flush: submit recv                    request written
//!  … CQE(recv) ─────────────────────▶ received: Tls::received → Done        callback received
//!                                     finish: the server keeps it: the      read N bytes
//!                                     socket and its Tls to the pool, no    connection kept …
//!                                     operation on it; fetch.finish
//!                                     (parse); complete: frontier.complete  completed 200
//!                                     → start_fetchers
//!  start_fetchers: next_fetch ──────▶ Fetcher::fetch: one kept: taken,      start
//!                                     send_request at once (no connect, no  connection reused
//!                                     handshake); flush: the request's
//!                                     records lent to a send
//!  … CQE(send) … CQE(recv) ─────────▶ sent, received, finish as above       request written …
//!  … or first, the deadline passes: the ring cancels the operation, which completes
//!                                   ─▶ TimedOut → finish(Timeout)
//!  … or a kept connection the server had closed fails before any byte of its response:
//!                                     Fetcher::failed: stale: close it,     reused connection closed …
//!                                     open a fresh one, send once more      callback connect …
//! ```
//!
//! Over plain http the same, without the `Tls`: `flush` lends the request itself, and what a
//! `recv` brings goes to the reader directly. With connections closed (the default, the
//! lecture's crawler), `finish` submits the socket's close instead of keeping it.
//!
//! Where the fetch's state lives between two completions: in the `Fetcher`, and what it lent
//! the kernel in the operation's slab entry. Who resumes it: [`Ring::run`], calling the
//! callback its completion's `user_data` names.
//!
//! **Ownership.** Every buffer, address and socket the kernel uses belongs to its operation
//! until the completion arrives, and is handed back to the callback with it: the types say so
//! ([`Ring::send`] takes the `Vec<u8>` and the [`Socket`] and gives them back). Received bytes
//! come from a shared pool the kernel picks from only when bytes arrive (`buffers.rs`), as a
//! [`Chunk`] that returns its buffer when dropped. Over TLS the chunk is fed to
//! `c10k_core::Tls::received`, which copies it into rustls (its `read_tls`), so the buffer goes
//! back to the pool at once, as over plain http; what TLS has to send is taken with
//! `Tls::outgoing` into an owned `Vec` that a send holds, the same `Vec` until all of it is out
//! (a send may be partial). One operation per socket at a time: what TLS has to say is sent
//! before a `recv` is submitted.
//!
//! **Kept connections** (`--connections keep-alive`). A connection whose response was read
//! whole, and which the server keeps, goes to the ring's `c10k_core::Pool` with its `Tls` (taken
//! again, it needs no new handshake) and no operation in flight: an idle socket keeps no ring
//! running and owes the completion queue nothing, so its sizing (two completions per
//! connection) still holds. A fetch takes a kept connection to its origin before it opens one;
//! one that fails before any byte of its response (the server let it go while it sat idle) is
//! closed, and the request goes again, once, on a fresh connection, without counting a try.
//! The pool's caps keep kept and busy connections within the ring's share of the concurrency;
//! once the crawl is done, every kept connection is closed through the ring before `run`
//! returns. With `--loops N` each ring has a pool of its own: a connection stays with the ring
//! that opened it. Closing a TLS connection sends what TLS still has to say first (the alert
//! after a failure), by a send before the close: on a ring nothing is written but by a send.
//! (`c10k_core::Tls` offers no `close_notify` for a clean close: none is sent.)
//!
//! **What one connection costs**, while it waits for its response (64-bit Linux; the live
//! figures are [`state_sizes`], which the benchmarks print):
//!
//! | what | bytes | where |
//! |---|---:|---|
//! | the `Fetcher` in its `Rc<RefCell<_>>`: the `Fetch` 168 (its URL, address, tries), the `ResponseReader` 32 (its parser comes with the first bytes), `started` 16, the outgoing `Vec` 24 (empty once sent), `written` 8, the crawl's `Rc` 8, the `Tls` box 8 (https), the socket 4 and two flags (+2 padding), the `RefCell` flag 8, the `Rc` counts 16 | 296 | heap |
//! | the URL's text, owned by the `Fetch` | its length | heap |
//! | the `recv` in flight: its slab entry (socket, deadline, boxed callback, generation) | 56 | the ring's slab |
//! | its callback: a closure holding the fetcher's `Rc` | 8 | heap |
//! | its deadline, in the ring's heap (`Instant` and `user_data`; entries of operations done in time wait there to be dropped: at most one per operation in flight, and 64 besides) | 24 | the ring's heap |
//! | the completion-queue slots owed to it (the `recv`, and its cancellation if its deadline passes) | 32 | ring memory, two slots per connection |
//! | a receive buffer | 0 | none until bytes arrive: then one of the pool's, for one callback |
//! | a submission slot | 0 | consumed by the kernel at submission |
//! | over https, besides: the `Tls`, boxed (a rustls `ClientConnection`, 1,056 inline) and what rustls holds on the heap for it (its record reader's buffer, at least 4 KiB, keys, buffer queues) | about 8,100 | heap |
//!
//! 416 bytes and the URL's text over http, before the allocator's rounding (the request's bytes,
//! about 150, live only until sent). Shared by all connections and fixed: the pool (up to 256
//! buffers of 4 KiB), the submission queue (1,024 slots of 64 bytes) and the `timespec`s beside
//! it. The kernel's side (the socket, the in-flight request) is kernel memory, as it is for
//! epoll's. A kept connection, idle in the pool, holds no `Fetcher` and no operation: its pool
//! entry (the socket, the `Tls` box and when it was kept, 32 bytes) and, over https, the `Tls`.
//!
//! Measured through the crawler, the heap one more connection holds (`cargo test -p c10k-uring
//! --test bytes -- --nocapture`: a site in a child process, its pages held 400 ms; crawls at
//! C = 10 and 60 against the same site, the heap's difference at the same moment of each, the
//! receive pool's growth taken out, over the difference in connections; sessions not resumed,
//! so that the tickets the shard's store keeps are not counted as the connections'; two runs):
//!
//! | connection | in flight, B | kept, idle, B |
//! |---|---:|---:|
//! | uring, http | 282 | 115–116 |
//! | uring, https | 8,355–8,356 | 8,274 |
//! | a bare rustls `ClientConnection`, boxed, at the same two points | 8,060–8,061 | 8,156–8,157 |
//!
//! A connection in flight is counted beyond what its URL costs waiting in the frontier, where
//! it waits at the lower concurrency; a kept one includes the ring's slab and queues grown for
//! more connections. So over TLS a connection in flight costs the plain one's and 8,073–8,074
//! bytes more, no more than the bare `ClientConnection` (issue 25's target: rustls' own buffers
//! plus the plain connection's cost), which the test asserts: the model adds no buffer of its
//! own, as the receive buffer is the ring's shared one and the outgoing `Vec` lives only while
//! its send is in flight. In resident memory, taken as `scripts/rss-per-connection.sh` takes it
//! (C = 1,000 against 5,000, two runs), but with pages held 4 s instead of 200 ms so that the
//! handshakes are done while they wait (`c10k serve --pages 5001 --links 5000 --delay-ms 4000`,
//! and `--tls --ca-out FILE` with the crawl's `--ca-file FILE` for https): 158–264 bytes per
//! connection in flight over http, 7,300–7,728 over https.
//!
//! **System calls per page** (`strace -c -f` of `c10k crawl --strategy uring` against `c10k
//! serve --pages 5000`, 5,301 fetches at C = 100, every call of the process counted, its start
//! included):
//!
//! | | http | https |
//! |---|---:|---:|
//! | one ring, `--connections keep-alive` | 0.12 (622; 433 `io_uring_enter`) | 0.23 (1,221; 498 `io_uring_enter`) |
//! | two rings (`--loops 2`), keep-alive | 0.37 (1,974: 1,154 `io_uring_enter`, 472 eventfd writes, 51 `futex`) | 0.41 (2,189) |
//! | one ring, connections closed | 0.16 (834) | 5.1 (27,058: 21,211 `getrandom`, four per full handshake, which `ring` asks of the kernel; 4,600 of the CLI sampling its memory through a longer crawl) |
//!
//! Every step of a fetch, the connect and close too, is an operation on the ring, so one
//! `io_uring_enter` carries many; what a kept connection saves is the kernel's work of opening
//! and closing it, and over https the handshake.
//!
//! **Every core: `--loops N`** (`loops.rs`, on `rings.rs`). One ring is concurrency, not
//! parallelism: it uses one core. With N rings, each on its own thread, the frontier is split
//! into shards (`c10k_core::Shard`) and each ring runs the code above, unchanged, on its own
//! shard with its share of the concurrency; links that belong to another shard go to its
//! ring's [`Mailbox`], and the shards agree on the end as in `callbacks`. The one-ring crawl is
//! the case N = 1: a shard that never has anything to send.
//!
//! **`unsafe`.** Forbidden in the rest of the workspace; here allowed in two modules only:
//! `ring.rs` (pushing submission entries that point at memory the operation owns; adopting
//! the descriptor a `socket` completion returns) and `buffers.rs` (the pool's memory, shared
//! with the kernel). Each `unsafe` block says why it is sound in a `// SAFETY:` comment, which
//! clippy's `undocumented_unsafe_blocks` enforces; nothing unsafe is public.
//!
//! **Where io_uring is unavailable** (a kernel older than 5.19, `kernel.io_uring_disabled`, a
//! container's seccomp filter), [`Ring::new`] fails with the reason and [`unavailable`] says
//! it in one line: `c10k crawl --strategy uring` exits 2 with it, and the tests say they skip.
//!
//! Start with `crawl.rs` beside `crates/callbacks/src/crawl.rs`; then `ring.rs` (the loop,
//! operations and their ownership, deadlines, the mailbox), `buffers.rs` (the pool),
//! `loops.rs` beside `crates/callbacks/src/loops.rs` and `rings.rs` (rings on threads),
//! `tests.rs` (the loop on its own against loopback sockets), and `tests/connections.rs` (the
//! crawler over TLS and with kept connections) and `tests/bytes.rs` (what a connection holds).

#![deny(missing_docs)]

mod buffers;
mod crawl;
mod loops;
mod ring;
mod rings;

pub use buffers::Chunk;
pub use crawl::{Options, crawl, state_sizes};
pub use ring::{Mailbox, Peer, Ring, Socket, Stats, TimerId};

/// Why the completion loop cannot run on this machine (an old kernel,
/// `kernel.io_uring_disabled`, a seccomp filter), in one line; `None` when it can.
pub fn unavailable() -> Option<String> {
    Ring::new(1).err().map(|err| err.to_string())
}

#[cfg(test)]
mod tests;
