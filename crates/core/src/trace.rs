//! `c10k crawl --trace`: one line per event of each fetch, to watch the models interleave.
//!
//! The lecture shows coroutines taking turns by printing from three of them at once (`1 1 1
//! 2 2 2 3 3 3`). A trace does the same for a crawl: every event of every fetch, with the
//! fetch's id and the time since the crawl started, in the order they happened:
//!
//! ```text
//!     0.912 ms  #2    main        callback connected
//!     0.915 ms  #2    main        connected
//!     0.930 ms  #2    main        request written, 77 bytes
//!     1.204 ms  #1    main        read 1536 bytes
//! ```
//!
//! Who writes what:
//!
//! - the core writes `start` (in [`crate::Crawler::next_fetch`], which also hands out the
//!   fetch's [`FetchId`]) and `completed` (in [`crate::Crawler::complete`]);
//! - each strategy writes one short line per step of its own: [`Event::Connected`],
//!   [`Event::Written`], [`Event::Read`], and on the event-driven models which callback
//!   ([`Event::Callback`]) or task ([`Event::Resumed`], [`Event::Woke`]) ran.
//!
//! A strategy calls [`Config::trace`](crate::Config::trace), which checks one `Option` and
//! does nothing else when tracing is off. A line is formatted whole, then written under a
//! lock in one `write_all`: lines from several threads never mix mid-line. Each try of a URL
//! is a fetch of its own, with an id of its own.

use std::{
    fmt::{self, Write as _},
    io::{self, Write},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, Ordering},
    },
    thread,
    time::Instant,
};

use url::Url;

/// Names one fetch (one try of one URL) in a trace. 0 when tracing is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FetchId(pub u32);

impl fmt::Display for FetchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One event of a fetch.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Handed out by the frontier (written by the core).
    Start {
        /// The URL.
        url: &'a Url,
        /// Which try, from 1.
        tries: u32,
    },
    /// The connection is established.
    Connected,
    /// What became of the fetch's connection: a TLS handshake, a pooled connection taken or
    /// kept, a reused one found closed.
    Conn(Conn),
    /// The whole request is written.
    Written(usize),
    /// A read returned this many bytes (0: the end of the stream).
    Read(usize),
    /// An event loop ran this callback of the fetch (callbacks, uring).
    Callback(&'static str),
    /// The fetch's task was resumed, suspended in this sub-coroutine (generators).
    Resumed(&'static str),
    /// The fetch's task was woken and polled again, waiting in this step (async).
    Woke(&'static str),
    /// The frontier took the outcome: its status or error (written by the core). A URL
    /// tried again shows as another fetch, with a `start` of its own.
    Completed(&'a str),
}

/// An event of a fetch's connection, told with [`crate::Fetch::mark`]: the trace shows it and
/// the report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    /// The TLS handshake is done: a full one, or a resumed session.
    Handshake {
        /// Whether an earlier session was resumed.
        resumed: bool,
    },
    /// The fetch went out on a connection taken from the pool.
    Reused,
    /// A reused connection closed before any byte of the response (the server dropped it
    /// while it sat idle): the request goes again on a fresh one, without counting a try.
    Stale,
    /// The response was read whole and the server keeps the connection: back to the pool.
    Kept,
}

impl Conn {
    /// This event's bit in [`crate::Fetch`]'s marks.
    pub(crate) fn bit(self) -> u8 {
        match self {
            Conn::Handshake { resumed: false } => 1,
            Conn::Handshake { resumed: true } => 2,
            Conn::Reused => 4,
            Conn::Stale => 8,
            Conn::Kept => 16,
        }
    }
}

impl fmt::Display for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conn::Handshake { resumed: false } => "tls handshake done",
            Conn::Handshake { resumed: true } => "tls handshake done, session resumed",
            Conn::Reused => "connection reused",
            Conn::Stale => "reused connection closed before any response: a fresh one",
            Conn::Kept => "connection kept for the next fetch",
        })
    }
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Start { url, tries } => write!(f, "start {url} (try {tries})"),
            Event::Connected => f.write_str("connected"),
            Event::Conn(conn) => conn.fmt(f),
            Event::Written(n) => write!(f, "request written, {n} bytes"),
            Event::Read(0) => f.write_str("read 0 bytes: end of stream"),
            Event::Read(n) => write!(f, "read {n} bytes"),
            Event::Callback(name) => write!(f, "callback {name}"),
            Event::Resumed(name) => write!(f, "task resumed in {name}"),
            Event::Woke(name) => write!(f, "task woke in {name}"),
            Event::Completed(status) => write!(f, "completed {status}"),
        }
    }
}

/// Where a crawl's trace goes: the clock it counts from, the ids it hands out, and the sink.
///
/// Shared by every shard and thread of a crawl (through [`crate::Config::trace`]), so ids are
/// unique over the whole crawl.
pub struct Tracer {
    started: Instant,
    next_id: AtomicU32,
    sink: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// A trace written to `sink`, its times counted from now: make it just before the crawl.
    pub fn new(sink: impl Write + Send + 'static) -> Tracer {
        Tracer {
            started: Instant::now(),
            next_id: AtomicU32::new(1),
            sink: Mutex::new(Box::new(sink)),
        }
    }

    /// A new fetch id.
    pub(crate) fn next_id(&self) -> FetchId {
        FetchId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Writes one line: the time since the start, the fetch, the thread, the event.
    ///
    /// The clock is read under the lock, so that the lines of several threads come out in the
    /// order of their times.
    pub fn event(&self, fetch: FetchId, event: Event<'_>) {
        let current = thread::current();
        let thread = current.name().unwrap_or("?");
        let id = fetch.to_string();
        let mut line = String::with_capacity(96);
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = self.started.elapsed().as_secs_f64() * 1000.0;
        // Writing to a `String` cannot fail.
        let _ = writeln!(line, "{elapsed:>10.3} ms  {id:<5} {thread:<11} {event}");
        // A trace that cannot be written (a closed pipe) must not stop the crawl.
        let _ = sink.write_all(line.as_bytes());
    }
}

/// A sink that keeps what is written, to read it back: for tests, or a program that shows a
/// trace itself.
#[derive(Debug, Clone, Default)]
pub struct Memory(Arc<Mutex<Vec<u8>>>);

impl Memory {
    /// Everything written so far (a trace is UTF-8: its URLs are ASCII).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_from_many_threads_stay_whole() {
        let memory = Memory::default();
        let tracer = Arc::new(Tracer::new(memory.clone()));
        thread::scope(|scope| {
            for _ in 0..4 {
                let tracer = Arc::clone(&tracer);
                scope.spawn(move || {
                    let id = tracer.next_id();
                    for _ in 0..200 {
                        tracer.event(id, Event::Callback("read_response"));
                    }
                });
            }
        });
        let text = memory.text();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 800);
        assert!(
            lines
                .iter()
                .all(|line| line.ends_with("callback read_response"))
        );
        let mut ids: Vec<_> = lines
            .iter()
            .map(|line| line.split_whitespace().nth(2).unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids, ["#1", "#2", "#3", "#4"]);
    }
}
