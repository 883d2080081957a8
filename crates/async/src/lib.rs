//! The crawler as native coroutines on tokio: the lecture's fourth design, "Con corrutinas"
//! (`async`/`await` with an event loop, a queue and N workers).
//!
//! `crawl.rs` is written as a tokio user would write it, and reads like
//! `crates/threads/src/crawl.rs` on purpose: the steps both take (`crawl`, `run`, `worker`,
//! `next_fetch`, `complete`, `fetch_page`, `connect`, `handshake`, `send_request`,
//! `read_response`, `keep_or_close`) have the same names, in the same order, with the same
//! shape, so that a diff of the two is the concurrency model and little else.
//! `scripts/compare.sh threads async` word-diffs each step against its namesake, then lists
//! the helpers only one of them has (here `ticker`, `on_the_pool`, `timed_out`, `traced`;
//! there `peek`, `remaining`):
//!
//! | threads | async |
//! |---|---|
//! | `thread::Builder::spawn_scoped` × C | `JoinSet::spawn` × C tasks |
//! | `while let Some(fetch) = next_fetch(…)` | `let Some(fetch) = next_fetch(…).await else { break }` in a `loop`: a `while let` would keep the finished `next_fetch` future in every task's state |
//! | `Condvar::wait` / `notify_one` / `notify_all` | `Notify::notified().await` / `notify_one` / `notify_waiters` |
//! | `Condvar::wait_timeout` until a retry is due | `time::timeout_at(due, notified)` |
//! | blocking `connect` (bounded by the send timeout), `write_all`, `peek`, `read` | `TcpStream::connect`, `write_all`, `readable`, `read`, each `.await` |
//! | socket-option timeouts, set to what is left before each call | `time::timeout` around the connect, `time::timeout_at(deadline, …)` around each later step |
//! | rustls' `StreamOwned` over the socket, the handshake driven by `complete_io` | tokio-rustls' `TlsStream`, the handshake `TlsConnector::connect(name, tcp).await` (boxed) |
//! | one keep-alive pool for every thread, under a `Mutex` | one keep-alive pool per runtime, under a `std::sync::Mutex` never held across an `.await` |
//!
//! The time-keeping for retries and politeness (which idle task waits for a time) is in
//! `clock.rs`, a second read, as it is in threads'.
//!
//! This is the idiomatic form, not the smallest. Every task's future keeps room for the
//! largest of its waits; `docs/async-bytes.md` and [`bytes`] take the worker here, one
//! measured change at a time (readiness reads, a connect written out, one timer per fetch,
//! …), down to the smallest this crate has run, and say what each change costs the reader.
//! The one change of theirs worth making in ordinary code is made here: the worker takes its
//! next fetch with `let … else`, not `while let` ([`bytes`], steps 0 and 1).
//!
//! Why C workers on a shared frontier rather than a coordinator spawning a task per URL into a
//! `JoinSet`: it is the shape of the lecture's crawler (that of "A Web Crawler With asyncio
//! Coroutines", A. Jesse Jiryu Davis and Guido van Rossum, in *500 Lines or Less*), the
//! concurrency limit is simply the number of workers, and it keeps the code line for line
//! comparable with the threads crawler. The `JoinSet` here only waits for the workers to finish.
//!
//! **What tokio does for us** that `crates/generators` does by hand:
//! - *the state machines*: each `async fn` is compiled into an enum of its suspension points,
//!   like `Connect`, `WriteAll`, `ReadResponse` and `FetchPage` there;
//! - *the executor* (`Task::step` there): tokio's scheduler polls a task when it is woken;
//! - *the waker* (`Future::add_done_callback` there): each `poll` carries a `Waker` that a
//!   resource stores and calls when it becomes ready;
//! - *the reactor* (`crates/eventloop` there): tokio's I/O driver owns the epoll instance and
//!   its timer wheel fires the `Sleep` of each fetch's deadline.
//!
//! **HTTPS.** An `https:` URL's connection is tokio-rustls' `TlsStream` over the tokio
//! socket, as a tokio user writes it: `TlsConnector::connect(name, tcp).await` is the
//! handshake, in `timeout_at` the fetch's deadline like every other step, and then
//! `AsyncRead` and `AsyncWrite` on the stream encrypt and decrypt inside each poll. (The
//! other event-driven crates drive the core's sans-IO `Tls` themselves, feeding it what each
//! readiness gives; here tokio-rustls does that feeding, and the crate shows the model, not
//! a second TLS driver: the same steps as threads' `StreamOwned`, with `.await`.) A TCP end
//! without `close_notify` comes back as `UnexpectedEof`, and the core decides whether what
//! came is whole (`eof_unclean`). Each runtime has one `ClientConfig`, so its tasks resume
//! each other's sessions, and with a runtime per core each has its own store (no lock
//! between cores on a handshake).
//!
//! **Keep-alive** (`--connections keep-alive`). One pool of idle connections per runtime, a
//! `c10k_core::Pool` under a `std::sync::Mutex` never held across an `.await` (`conn.rs`),
//! beside the frontier it serves: with a runtime per core, a pool per shard, so a connection
//! stays with the runtime whose tasks fetch its origin's URLs. A connection kept per task
//! needs no lock and reuses as much on a crawl of one site; but it cannot keep `--per-host`
//! (with `--per-host 1` each task in turn would open its own connection to the host and keep
//! it: C idle connections where one is allowed), a task whose next URL is on another origin
//! could only close it or hold it for no one, and every task's future would carry the room.
//! The pool keeps the core's caps (an origin's idle connections within `--per-host`; idle
//! ones and fetches in flight within the runtime's share of the concurrency) and is drained
//! on the runtime before it is dropped. A connection goes back only after a whole response the
//! server keeps; a timed-out fetch's future is dropped with its connection, so it never
//! does. One that anything came on while it sat idle (bytes no request asked for, the
//! server's close) is closed when taken, if tokio's reactor has seen it come: the look asks
//! tokio's readiness first and peeks only when the socket is readable to tokio (`try_io`),
//! so reusing a connection costs no system call of its own. A kept one that fails before any
//! byte of its response (a close the reactor had not yet seen among them) is sent the
//! request once more, on a new connection, without counting a try. With keep-alive a page
//! then costs a `sendto` and a `recvfrom`, and about 2.4 system calls in all at C = 100
//! (`c10k count URL --strategy async --concurrency 100 --connections keep-alive`, against
//! `c10k serve --threads 1 --pages 2000 --links 50 --page-bytes 2048 --delay-ms 0`; 4.3 to
//! 4.4 when the look was always a peek and the wait for the response one more).
//! Without keep-alive no lock is taken and nothing changes: a connection per fetch.
//!
//! **One fetch, drawn.** The compiler turned `worker` and `fetch_page` into one state
//! machine (the task's future); tokio polls it when a waker says so (`c10k crawl --strategy
//! async --trace` prints the right-hand column):
//!
//! ```text
//!  tokio (one thread)               worker task #N: its future      trace
//!  ───────────────────────────────  ──────────────────────────────  ───────────────────────
//!  run queue: poll(task) ─────────▶ next_fetch: enable(), lock,     start
//!                                   frontier.next_fetch
//!                                   fetch_page: keep-alive:
//!                                   pool.take (lock): a kept, quiet
//!                                   connection to the origin?       connection reused
//!                                   else connect:
//!                                   TcpStream::connect → Pending;
//!                                   the waker sits in the socket's
//!  ◀── Pending (state saved) ────── slot (and the timeout's Sleep)
//!  park: epoll_wait … writable
//!  I/O driver: waker.wake() ──────▶ into the run queue
//!  poll(task) ────────────────────▶ connect → Ready                 task woke in connect
//!                                                                   connected
//!                                   https: handshake: connect(name,
//!                                   tcp) (boxed) writes ClientHello
//!  ◀── Pending ──────────────────── → Pending
//!  … readable: wake, poll(task) ──▶ the server's flight read and
//!                                   checked, Finished written       task woke in handshake
//!                                   → Ready                         tls handshake done
//!                                   send_request: write_all, flush
//!                                   → Ready at once                 request written
//!                                   read_response: readable (https:
//!                                   read one byte) → Pending
//!  ◀── Pending ────────────────────
//!  … readable: wake, poll(task) ──▶ readable → Ready (https: the    task woke in readable
//!                                   session tickets kept by rustls,
//!                                   Pending until the first byte)
//!                                   read → n bytes                  read N bytes
//!                                   feed … NeedMore; read → Pending
//!  … readable: wake, poll(task) ──▶ read → Ready, feed → Done       task woke in read …
//!                                   keep_or_close: whole, reusable
//!                                   → pool.put (lock); else closed  connection kept
//!                                   (a kept connection that failed
//!                                   before any byte: the request    reused connection
//!                                   once more, on a new one)        closed … a fresh one
//!                                   fetch.finish (parse)
//!                                   complete: frontier.complete,    completed 200
//!                                   notify_one per URL queued
//!                                   next_fetch …
//!  … or first, the Sleep is due ──▶ timeout_at returns Elapsed: the step's future and the
//!                                   stream are dropped (cancelled, closed)
//! ```
//!
//! Where the fetch's state lives between two polls: in the task's future, one allocation
//! per task, laid out by rustc like `FetchPage` in `crates/generators`. Who resumes it: the
//! runtime, polling the task its waker put in the run queue.
//!
//! **Runtime.** By default a current-thread runtime: one thread, like the event loop of the
//! callbacks and generators crawlers, so the comparison is fair. `--threads N` (`--runtime
//! stealing`) runs a multi-thread runtime with N workers that steal each other's tasks, on one
//! frontier. `--runtime per-core --threads N` (`percore.rs`) runs N current-thread runtimes on
//! N threads instead, each with its own shard of the frontier (`c10k_core::Shard`), the links
//! of other shards crossing through channels: thread per core, sharing nothing. The frontier
//! sits behind a `std::sync::Mutex` so the same tasks work on all three; it is never held
//! across an `.await`, on one thread it is never contended, and with a runtime per core each
//! mutex is only ever taken by its own thread.
//!
//! **CPU work.** Parsing a page (and `--work-us`) runs in `finish`, inside the worker task:
//! on a current-thread runtime nothing else runs meanwhile, which the report's loop lag shows
//! (a task whose timer is due every 10 ms, and how late it wakes). With `--offload` the work
//! goes to the rayon pool and the task awaits a `oneshot` channel for the outcome.
//!
//! **Memory.** Whatever lives across an `.await` is stored in the task's future, for every
//! task. So a fetch waits for its response to begin with `readable` (where a thread peeks a
//! byte: `readable` reads nothing, one system call fewer per page), and only then takes its
//! read buffer, from the heap: a task waiting for a server holds no buffer. Over `https:`
//! the server's session tickets come first and make the socket readable with no response
//! yet, so there the wait is a read of one byte: tokio-rustls hands rustls the tickets and
//! stays pending until plaintext comes (waiting on `readable` instead held a 4 KiB buffer
//! through every wait, 13.9 KB per connection where it is 9.8 KB now). The future's
//! size is in [`state_sizes`]; [`bytes`] measures what each further change would save, and
//! its step 2 what `https:` and keep-alive cost every task, plain ones too, since a future
//! keeps room for every path: 80 bytes of future (744 B, against 664 for the fetch of
//! `http:` alone), and one step of tokio's cell (an 896-byte task, against 768: `cargo test
//! -p c10k-async --release --test bytes`; with `while let`, step 0, the worker was 912 B in
//! a 1,024-byte task). What keeps that small: the TLS stream is boxed
//! (1,104 B) and so is the handshake's future (1,104 B while it runs), so a task holds a
//! pointer where a TLS connection's state would be.
//!
//! **What a TLS connection costs here.** rustls' own state: a `ClientConnection` is 1,056 B,
//! inside the boxed `TlsStream`, and keeps 7,344 B of heap after its handshake with the test
//! site (the server's certificate among it: rustls keeps it with the connection), 7,440 B once
//! a response is read, the same after ten (`cargo test -p c10k-async --release --test
//! tls_bytes`); a connection kept in the pool holds that, tokio's registration of its socket,
//! and its 56-byte slot. What the whole process pays per connection in flight, measured as
//! the benchmark's memory site does (`scripts/rss-per-connection.sh async`, C = 1,000
//! against 10,000, two runs): 1,503 and 1,474 B over http, then 1,506 and 1,486, with the
//! worker's `let … else` (1,550 and 1,562 B with its `while let`, on the same machine the
//! same day; 1,297 and 1,318 B when https and keep-alive came, 1,311 and 1,269 B built from
//! 4820240, the commit before them), and 10,170 and 10,191 B over https (`TLS=1
//! DELAY_MS=3000`, the wait of one byte; the benchmark's TLS memory site, C = 200 against
//! 1,000: 9,789 and 9,825 B, where waiting on `readable` gave 13,829 and 13,967 B). So a
//! TLS connection adds 8.3 to 8.7 KB of resident memory, about what bare rustls client
//! connections held the same way take (`c10k probe-tls`: 8,985 B each at 200 against 1,000),
//! and a little less than the allocator counts for rustls' heap and the box (resident memory
//! counts the pages written, and not every byte allocated is). The handshake runs inside a poll,
//! on the runtime's one stack: unlike a thread, a task keeps no stack for it.

#![deny(missing_docs)]

mod clock;
mod conn;
mod crawl;
mod percore;

pub use crawl::{Options, bytes, crawl, state_sizes};
