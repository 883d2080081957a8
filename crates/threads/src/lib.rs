//! The crawler as a pool of blocking OS threads: the lecture's first design, "El enfoque
//! tradicional".
//!
//! Each of `concurrency` threads loops: take a URL from the shared frontier, `connect`, send
//! the request, `recv` until the response is complete, hand the response to the core, and go
//! back for another URL. Every call blocks its thread, so the pool needs one thread per
//! connection in flight — which is the whole cost of the model:
//!
//! - **Shared state needs locks.** The frontier sits behind a [`std::sync::Mutex`]; a
//!   [`std::sync::Condvar`] parks threads while the queue is empty and wakes one per URL
//!   queued, if one waits (or all of them once the crawl is done). Link extraction runs *outside* the lock.
//! - **Threads cost memory.** Each thread has its own stack (`--thread-stack-kb`, default
//!   256 KiB reserved, of which only the touched pages count in RSS) plus a kernel stack and
//!   task structure that RSS does not show. The benchmarks measure both.
//! - **The OS runs out of threads.** Spawning fails (and [`crawl`] returns the error) when
//!   `kernel.threads-max`, `kernel.pid_max` or memory say no. On a stock Linux the first limit
//!   met is usually `vm.max_map_count` (65,530): every thread maps four regions (stack, guard,
//!   signal stack, guard), so one process gets about 16,000 threads — fewer than the sockets it
//!   may open. [`thread_headroom`] checks it before the pool is built.
//!
//! Timeouts are socket options: the send timeout bounds the connect too (on Linux a blocking
//! `connect` obeys it), and every call that may block ends within the whole-fetch deadline.
//! A socket option is a system call to set, so a timeout is set only when the socket holds
//! more than is left (then to seven eighths of it), and a call cut short by it while time is
//! left is made again under exactly what is left (`Stream::blocking`): a fetch on a kept
//! connection usually sets none. A thread waits for its response to begin
//! with a one-byte `peek`, and only then takes a read buffer, from the heap, giving it back
//! once the response is read: a waiting thread holds no buffer, and one that has read and
//! parsed pages keeps three touched pages of stack, not the four a buffer on the stack
//! would leave it.
//!
//! This crate needs no CPU offload (`--offload` is for the event-driven strategies): a thread
//! busy parsing a page, or doing `--work-us` of work, blocks only itself, and the OS scheduler
//! preempts it so the other threads keep their sockets moving — the pool already *is* a
//! thread pool, on all cores. What it pays instead is context switches, which the benchmarks
//! count. There is no loop, so there is no loop lag either.
//!
//! **HTTPS.** An `https:` URL's connection is a rustls `StreamOwned` over the blocking
//! socket, the way a rustls user writes it: `handshake` drives the handshake to its end
//! (`complete_io`, each round under what is left of the fetch's deadline, so a handshake that
//! stalls is a timeout), then `Read` and `Write` on the stream encrypt and decrypt inside the
//! calls. A TCP end without `close_notify` comes back as `UnexpectedEof`, and the core
//! decides whether what came is whole (`eof_unclean`). Every thread shares the crawl's one
//! `ClientConfig`, so a session any thread stored may be resumed by any other (rustls' store
//! is a mutex of its own: shared state, as everything shared in this model).
//!
//! **Keep-alive** (`--connections keep-alive`). One pool of idle connections for every thread,
//! a `c10k_core::Pool` under a `Mutex` (`conn.rs`), rather than a connection kept by each
//! thread. A connection per thread needs no lock and reuses as much on a crawl of one site;
//! but it cannot keep `--per-host`: with `--per-host 1` each thread in turn would open its own
//! connection to the host and keep it, C idle connections where one is allowed, and a thread
//! whose next URL is on another origin could only close its connection or hold it idle for
//! no one. The shared pool keeps the core's caps over the whole crawl (an origin's idle
//! connections within `--per-host`; idle ones and fetches in flight within the concurrency,
//! the descriptors the crawl was given) and lets any thread take the connection another left.
//! Its price is a second mutex, taken when a fetch starts and when it keeps its connection,
//! never across a blocking call. A connection goes back only after a whole response the
//! server keeps; one that anything came on while it sat idle (bytes no request asked for, the
//! server's close) is closed when taken; a kept one that fails before any byte of its
//! response is sent the request once more, on a new connection, without counting a try.
//! Without keep-alive no lock is taken and nothing changes: a connection per fetch.
//!
//! **One fetch, drawn.** One thread does every step, and each call blocks it until the
//! kernel is done; nothing else runs on this thread meanwhile (`c10k crawl --trace` prints
//! the right-hand column):
//!
//! ```text
//!  the worker thread (crawl.rs)                          the kernel              trace
//!  ────────────────────────────────────────────────────  ──────────────────────  ───────────────
//!  next_fetch: lock the frontier; Crawler::next_fetch                            start
//!    (queue empty, fetches in flight: Condvar::wait)     futex: thread parked
//!  fetch_page:
//!    keep-alive: pool.take (lock): a kept connection to
//!      the origin, if one is quiet (peek, MSG_DONTWAIT)                          connection reused
//!    else connect: socket, SO_SNDTIMEO, connect ───────▶ SYN … SYN-ACK
//!      ◀────────────────────────────── returns: connected                        connected
//!      https: handshake: complete_io ──────────────────▶ ClientHello; reads the
//!        ◀───────── the server's flight (certificate,     server's records       tls handshake
//!                   verified here) and Finished sent                              done [, resumed]
//!    send_request: write, flush, under the time left ──▶ copied to the socket    request written
//!      (https: encrypted into records inside the call)
//!    peek: peek(1 byte), under the time left ──────────▶ thread parked until
//!      ◀────────────────────────────── the answer begins  bytes arrive
//!    read_response:
//!      read(&mut chunk) ───────────────────────────────▶ (blocks only if the
//!        ◀────────────────────────────── n bytes          rest is still coming)  read N bytes
//!        (https: records decrypted inside the call)
//!      reader.feed(chunk): NeedMore → read again;
//!                          Done → return
//!    keep_or_close: whole and reusable → pool.put (lock)                         connection kept
//!      else dropped: close ────────────────────────────▶ FIN
//!    (a kept connection that failed before any byte:                             reused connection
//!     the request once more, on a new connection)                                 closed … a fresh one
//!  fetch.finish(result): parse the links (no lock held)
//!  complete: lock; Crawler::complete; unlock;                                    completed 200
//!    notify_one per URL queued (notify_all once done)
//! ```
//!
//! Where the fetch's state lives between two waits: in the stack frames of `fetch_page`
//! (`stream`, the reader, the deadline) and, once the answer begins, `read_response`
//! (`chunk`, whose 4 KiB are on the heap while the response is read), on this thread's own
//! stack; an `https:` connection's TLS state is boxed beside its socket. Who resumes it: the
//! kernel, returning from the blocking call.
//!
//! **What a TLS connection costs here.** rustls' own state: a `ClientConnection` is 1,056 B,
//! boxed with the socket in the `StreamOwned` (1,064 B), and keeps 7,344 B of heap after its
//! handshake with the test site (the server's certificate among it: rustls keeps it with the
//! connection), 7,440 B once a response is read, the same after ten (`cargo test -p c10k-async
//! --release --test tls_bytes`); a connection kept in the pool holds that and its 64-byte slot
//! (the `Stream`, 48 B with the timeouts its socket holds, and when it was kept). What the
//! whole process pays per connection in flight, measured as the benchmark's memory site does
//! (`scripts/rss-per-connection.sh threads 500 2000`, two runs each, twice): 7.8 to 8.2 KB over
//! http, 24.5 to 25.3 KB over https (`TLS=1`; one run of six gave 9.4 KB, one 22.4). Of the 17
//! KB more, 8.4 are rustls' state and its box; the rest is stack: the handshake's code (key
//! exchange, certificate checks) runs on the thread's stack, which keeps every page it touched.
//! `handshake` is never inlined, so that an http crawl's threads do not pay for its frame (they
//! touch 12 KiB of stack with it apart, 16 with it inlined into `fetch_page`:
//! `scripts/thread-memory.sh`).
//!
//! Read [`crawl`] in `crawl.rs` next to `crates/async/src/crawl.rs`: the steps and their names
//! are the same, and the difference is the concurrency model. `scripts/compare.sh threads
//! async` word-diffs each function against its namesake.

#![deny(missing_docs)]

mod clock;
mod conn;
mod crawl;
mod limits;

pub use crawl::{Options, crawl, state_sizes};
pub use limits::thread_headroom;
