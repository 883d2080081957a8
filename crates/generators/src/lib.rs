//! The crawler as generator-style coroutines, written by hand: the lecture's third design,
//! "Con corrutinas basadas en generadores" — and the heart of the lesson.
//!
//! The lecture builds coroutines from three pieces on top of the callback loop; so does this
//! crate, on top of [`c10k_eventloop`] (no `std::future::Future`, no `Waker`, no tokio). The
//! lecture shows `class Task` and `yield from`; the rest of its Python — the `Future` class,
//! the socket callbacks that resolve futures, `read`/`read_all`, the queue and its workers —
//! is in the chapter it follows, "A Web Crawler With asyncio Coroutines" (A. Jesse Jiryu Davis
//! and Guido van Rossum, in *500 Lines or Less*), marked "500 Lines" below:
//!
//! | Python | here | file |
//! |---|---|---|
//! | `class Future` (`result`, `add_done_callback`, `set_result`) (500 Lines) | [`Future`] | `future.rs` |
//! | a generator: `send(value)`, `yield future`, `StopIteration(result)` | [`Coroutine::resume`] → [`Step::Yielded`] / [`Step::Complete`] | `coroutine.rs` |
//! | `yield from sub_coroutine()` | [`yield_from!`] | `coroutine.rs` |
//! | `class Task` and `Task.step` (the lecture) | [`Task`] | `task.rs` |
//! | `on_connected` → `f.set_result(None)` (500 Lines) | `Socket` and its `Waiter` | `socket.rs` |
//! | `fetch` as a coroutine: `connect`, send, `read_all` (500 Lines) | `FetchPage`, `Connect`, `Handshake` (https), `WriteAll`, `ReadResponse` | `fetch.rs` |
//! | (a socket, and TLS over it; kept between fetches) | `Connection`, `Kept` | `connection.rs` |
//! | `asyncio.Queue` + N workers + `join` (500 Lines) | `Get`, `Worker`, the frontier's getters | `crawl.rs` |
//! | `asyncio.sleep` | `Ticker` (which measures the loop lag) | `crawl.rs` |
//! | `loop.run_in_executor(pool, ...)` (the lecture) | `Offload`, rayon and the loop's `Mailbox` | `crawl.rs` |
//!
//! Read `SumOfThree` in `tests.rs` first: the smallest coroutine here, three timer futures
//! and a sum, driven by a [`Task`] — everything below without a socket.
//!
//! **Generators as state machines.** Stable Rust has no `yield`, so each coroutine is an
//! `enum` with one variant per suspension point, holding exactly the locals that are alive
//! there, and a `resume` that runs from one suspension to the next. The straight-line version
//! of each sits in the doc comment above its `enum`; read them side by side. Composition is
//! `yield from`: `fetch_page` holds its current sub-coroutine in its state and forwards each
//! resume to it until it completes.
//!
//! **How `async fn` would write the same enums.** For `async fn fetch_page(..)`, rustc
//! generates an anonymous type: an enum with a variant for "not started", one for each
//! `.await` (holding the locals live across it, and the inner future being awaited — our
//! `Connecting(Connect)`, `Sending(WriteAll)`, `Reading(ReadResponse)`), and "returned". Its
//! `poll` is our `resume`: match the state, run to the next `.await`, return `Pending` (our
//! `Yielded`) or `Ready` (our `Complete`); `.await` on a sub-future is our `yield_from!`, and
//! polling after `Ready` panics just like resuming our `Done` state. What differs is who wakes
//! whom: here the future carries its callbacks and the [`Task`] registers itself on each one,
//! as in Python; in Rust's design a `Waker` is passed down on every `poll` instead. See
//! `crates/async`, where the compiler writes all of this.
//!
//! **Timeouts and retries.** A fetch's deadline is a loop timer that resolves whatever its
//! socket is waiting on with `Wake::TimedOut`; every state machine checks that input and ends
//! with a timeout. Retries are the frontier's: a failed URL goes back in the queue, not
//! before its backoff, and some worker's `get` picks it up again, exactly as in every other
//! strategy; a `get` that finds nothing due yet sets a loop timer for when something will be
//! (`Clock::keep`, in `clock.rs`), which wakes the getter that has waited longest; one that
//! takes a URL while more wait for a time no timer is set for wakes the next.
//!
//! Everything runs on one thread; the frontier is a `RefCell`, never locked.
//!
//! **https: the handshake as one more sub-coroutine.** TLS is the core's sans-IO `Tls`: bytes
//! read from the socket go in, and what TLS has to send comes out, to be written by the
//! coroutine that holds the connection (`connection.rs`: the socket and, boxed, since the
//! worker's states are stored inline, the `Tls` and what of its output the socket did not take
//! yet). After `connect`, `fetch_page` queues the request inside TLS and `yield from
//! handshake(conn)`: write what TLS has (the ClientHello first), yield, read until
//! `WouldBlock` into TLS, write its answer at once, and so on until TLS is through and all is
//! out — its last write carries the request. A coroutine yields only when the socket said
//! `WouldBlock` and nothing TLS has to send is left in its hands (or to wait for the socket to
//! take the rest): readiness is edge-triggered, and the writable edge after the connect came
//! once. `read_response` then feeds each chunk to TLS, and writes what TLS has to say before
//! each wait.
//!
//! **Keep-alive** (`--connections keep-alive`): a `c10k_core::Pool` per loop. The worker, the
//! pool's one user, takes a connection kept for the origin before `fetch_page` (or makes room
//! for a new one), and keeps the one `fetch_page` hands back after a response read whole on a
//! connection the server keeps: its socket *parked* on the loop (still in the epoll set, with
//! no callback, so it keeps nothing alive and the loop need not wait for it), its TLS state
//! beside it. A kept socket's `Waiter` belongs to the fetch that is over (its deadline may even
//! have fired), so reusing it *rebinds* it: it is taken up again with a callback that wakes the
//! new fetch's waiter, under the token it had (no system call: epoll is told nothing). A reused connection that fails before any byte
//! of the response was closed by the server while it sat idle: `fetch_page` starts once more,
//! on a fresh connection, without counting a try. The pool is drained when the loop ends.
//!
//! **One fetch, drawn.** Each arrow is one call; who calls whom when a socket becomes ready,
//! hop by hop (`c10k crawl --strategy generators --trace` prints the `resumed` lines):
//!
//! ```text
//!  what runs                                              who runs it      trace
//!  ──────────────────────────────────────────────────────  ───────────────  ─────────────────
//!  Worker::resume: Get → frontier.next_fetch()             Task::step       start
//!    FetchPage::new; FetchPage::resume: arm the deadline
//!    Connect::resume: Socket::connect → EINPROGRESS;
//!      lp.register(fd, on_ready); socket.wait() parks a
//!      new Future<Wake> in the Waiter
//!    ◀── Step::Yielded(future), up through yield_from!
//!  Task::step: future.add_done_callback(Task::step)        (the task sleeps)
//!  ···················· the socket becomes writable ····················
//!  EventLoop::run: poll() → reactor.take(token)            the loop
//!    on_ready: notes the readiness; Waiter::wake(Ready)
//!      → Future::set_result
//!      → lp.call_soon(Task::step)    (scheduled, not called: no recursion)
//!  next turn: Task::step → Worker::resume                  the loop         resumed in connect
//!    → FetchPage::resume → Connect::resume
//!        connect_result() → Ok(socket)                                      connected
//!    WriteAll::resume: write(request) → all out                             request written
//!    ReadResponse::resume: nothing reported to read yet, so
//!        no read: socket.wait() parks a new Future in the Waiter
//!    ◀── Step::Yielded(future)
//!  ·············· readable: the same hops, to ReadResponse ··············
//!    ReadResponse::resume: read → feed → … Done            Task::step       resumed in
//!        socket.close()                                                     read_response;
//!                                                                           read N bytes
//!    ◀── Step::Complete(result); FetchPage cancels the deadline
//!  Worker: fetch.finish(result) (parse the links),
//!    crawl.complete(outcome): one getter woken per URL                      completed 200
//! ```
//!
//! Over https, and on a kept connection, the same fetch differs only in these steps:
//!
//! ```text
//!  https, after connect:
//!    FetchPage: Tls::new, tls.send(request): queued; Handshake::resume:
//!      flush: write the ClientHello; socket.wait()
//!    ◀── Step::Yielded(future)
//!  ·········· readable: the same hops, to Handshake ··········            resumed in handshake
//!    Handshake::resume: read → tls.received … → WouldBlock
//!      flush: TLS's last message and the request, one write;
//!      TLS through, all out → Step::Complete(conn)                        tls handshake done;
//!    FetchPage: ReadResponse (reads through TLS)                          request written
//!
//!  keep-alive, the response read whole:
//!    ReadResponse → Complete(response, Some(conn)): not closed
//!    Worker: pool.put(origin, conn.park())                                connection kept …
//!  the origin's next fetch:
//!    Worker: fetch = get(); kept = pool.take(origin)                      start
//!    FetchPage: kept.reuse(waiter): unpark, rebound to this fetch         connection reused
//!    WriteAll::resume: write(request, or TLS's records) → all out         request written
//!    ReadResponse::resume … (it reads at once if the server's close       reused connection
//!      came while the socket was parked; a read of 0 before any byte:       closed …: a fresh one
//!      Stale, FetchPage starts again from connect, once)
//! ```
//!
//! Ten hops from `epoll` to the line that reads, across six files (the event loop's `lib.rs`,
//! then `socket.rs`, `future.rs`, `task.rs`, `crawl.rs` and `fetch.rs` here): the loop's
//! dispatch, the socket's callback, `Waiter::wake`, `Future::set_result`, `call_soon`, the
//! next turn, `Task::step`, `Worker::resume`, `FetchPage::resume`, the sub-coroutine's
//! `resume` — and back up as `Step::Yielded`. `async fn` folds the same path into a waker and a poll
//! (`crates/async`).
//!
//! **What a connection costs.** Heap per connection, counted by an allocator that wraps the
//! system's (`cargo test -p c10k-generators --release --test memory -- --nocapture`: C = 20
//! against C = 220, every response held back until all are asked for; two runs):
//!
//! | connection | in flight, waiting for its response | kept in the pool |
//! |---|---:|---:|
//! | plain | 1,769–1,777 B | 74–78 B |
//! | TLS | 10,206–10,221 B | 8,160–8,164 B |
//! | TLS minus plain | 8,437–8,444 B | 8,083–8,090 B |
//! | a bare rustls `ClientConnection` at the same point | 10,525–10,526 B | |
//!
//! A TLS connection adds the boxed TLS state (the 1,056 B `Tls` and a `Vec` for what the
//! socket did not take) and the buffers rustls keeps on the heap, and nothing else: the worker
//! task is the same 368 B (its `FetchPage` now holds the `Fetch` that sat beside it). It stays
//! under issue 25's bound, rustls' own (a bare client driven in memory to the same point,
//! handshake done, request sent, tickets read) plus the plain connection. A kept connection is
//! its parked socket and TLS state in the pool's queue, and the queue's spare room; over TLS,
//! rustls' state is nearly all of it. The kernel's socket buffers are not in these figures.
//! Since a parked socket keeps its token and a handle on the loop (so that reusing it is no
//! system call), the same test gives 92–95 B per kept plain connection, against 51–62 B just
//! before (two runs each).
//!
//! Resident memory says the same (`scripts/rss-per-connection.sh generators 200 2000`, and
//! with `TLS=1 DELAY_MS=4000` over https, so that every handshake is done before the first
//! response; two runs): 628–642 B per plain connection in flight, 9,826–9,894 B per TLS one.
//!
//! Resident memory puts a TLS connection here some 470 B above the callbacks' one, though
//! the heap puts it 70 B above (the table, and the same test in `crates/callbacks`): with
//! `TLS=1 DELAY_MS=3000 scripts/rss-per-connection.sh MODEL 1000 10000`, 10,036–10,046 B
//! against 9,562–9,583 B (two runs each). The rest is where glibc's `malloc` puts things, not
//! what the model holds: with its per-thread cache off
//! (`GLIBC_TUNABLES=glibc.malloc.tcache_count=0`), 9,525–9,562 B against 9,334–9,353 B, close
//! to the 150–200 B that plain connections differ by (892–900 B against 704–740 B,
//! `DELAY_MS=3000` without TLS).
//!
//! **Every core: `--loops N`** (`loops.rs`). One loop is concurrency, not parallelism: it
//! uses one core. With N loops, each on its own thread, the frontier is split into shards
//! (`c10k_core::Shard`) and each loop runs the coroutines above, unchanged, on its own shard
//! with its share of the workers; links that belong to another shard go to its loop's
//! `Mailbox`. The one-loop crawl is the case N = 1: a shard that never has anything to send.

#![deny(missing_docs)]

mod clock;
mod connection;
mod coroutine;
mod crawl;
mod fetch;
mod future;
mod loops;
mod socket;
mod task;

pub use coroutine::{Coroutine, Step};
pub use crawl::{Options, crawl, state_sizes};
pub use future::Future;
pub use socket::Wake;
pub use task::Task;

#[cfg(test)]
mod tests;
