//! *(Second read.)* The connection a thread fetches on, and the pool that keeps connections
//! between fetches.
//!
//! A [`Stream`] is a blocking `TcpStream`, or for `https:` a rustls [`StreamOwned`] over one:
//! `Read` and `Write` on it do the TLS records' work inside the calls, so `crawl.rs` reads
//! and writes the one way for both.
//!
//! [`Kept`] is the keep-alive pool (`--connections keep-alive`): one [`Pool`] for every
//! thread, under a mutex, rather than a connection kept by each thread. A thread takes its
//! origin's most recent connection, whichever thread used it last, and the pool's caps hold
//! over the whole crawl: an origin's kept connections within `--per-host`, kept ones and fetches in
//! flight together within the concurrency. A connection kept per thread would need no lock, and
//! reuses as much on a crawl of one site without `--per-host`; but with `--per-host 1` each
//! thread in turn would open its own connection to the host and keep it, C connections where
//! one is asked for, and a thread whose next URL is on another origin would have to close
//! its connection or hold it idle for nobody. The price is a second mutex, taken once when a
//! fetch starts and once when it keeps its connection, as the frontier's is (a `Mutex` is
//! the threads model's way to share, and no lock is held across a blocking call). Without
//! keep-alive no lock is taken: each fetch opens its own connection and closes it.

use std::{
    io::{self, BufRead as _, Read, Write},
    net::TcpStream,
    os::fd::AsRawFd as _,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Instant,
};

use c10k_core::{Config, Pool};
use nix::{
    errno::Errno,
    sys::socket::{MsgFlags, recv},
};
use rustls::{ClientConnection, StreamOwned};

/// One connection: TCP, or TLS over TCP.
pub(crate) enum Stream {
    /// `http:`.
    Plain(TcpStream),
    /// `https:`. Boxed: a `ClientConnection` is over a kilobyte (`state_sizes`) where a
    /// `TcpStream` is four bytes, and a plain connection, on a thread's stack or in the
    /// pool, should not carry room for it.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket under it (for its timeouts, and the one-byte peek).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.sock,
        }
    }

    /// Whether a kept connection is as its last response left it: nothing came on it while it
    /// sat idle. Stray bytes (more than a response's `Content-Length` said, plaintext still
    /// buffered by TLS) would be read as the next response, and a close means the server let
    /// it go: either way it is closed rather than reused. A non-blocking one-byte peek, one
    /// system call.
    fn quiet(&mut self) -> bool {
        if let Stream::Tls(tls) = self {
            // `WouldBlock`: no plaintext buffered, and neither `close_notify` nor the end.
            let mut plaintext = tls.conn.reader();
            if !matches!(plaintext.fill_buf(), Err(err) if err.kind() == io::ErrorKind::WouldBlock)
            {
                return false;
            }
        }
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
        recv(self.tcp().as_raw_fd(), &mut [0; 1], flags) == Err(Errno::EAGAIN)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// The connections kept between fetches, shared by every thread (the module's page
/// says why one pool and not one connection per thread).
pub(crate) struct Kept {
    idle: Mutex<Pool<Stream>>,
    keep_alive: bool,
}

impl Kept {
    /// The pool of `config`'s crawl: within its concurrency, `--per-host` and `--idle-ms`.
    pub(crate) fn new(config: &Config) -> Kept {
        Kept {
            idle: Mutex::new(Pool::new(config)),
            keep_alive: config.keep_alive,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pool<Stream>> {
        // The pool is consistent between any two calls: a panic leaves nothing half done.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A kept connection to `origin` that nothing came on while it was idle, if there is one.
    pub(crate) fn take(&self, origin: &str) -> Option<Stream> {
        if !self.keep_alive {
            return None;
        }
        loop {
            let mut stream = self.lock().take(origin, Instant::now())?;
            if stream.quiet() {
                return Some(stream);
            }
            // Dropped here, out of the lock: closed.
        }
    }

    /// Whether connections are kept at all (`--connections keep-alive`).
    pub(crate) fn keeps(&self) -> bool {
        self.keep_alive
    }

    /// Before a new connection is opened with `busy` fetches in flight (this one counted):
    /// closes the oldest idle connections while they and the busy ones would be more than
    /// the concurrency.
    pub(crate) fn make_room(&self, busy: usize) {
        self.lock().make_room(busy);
    }

    /// Keeps `stream`, whose response to `origin` was read whole on a connection the server
    /// keeps; `false` if it was closed instead.
    pub(crate) fn put(&self, origin: &str, stream: Stream) -> bool {
        self.keep_alive && self.lock().put(origin, stream, Instant::now())
    }

    /// Closes every kept connection: the crawl is over.
    pub(crate) fn drain(&self) {
        let idle: Vec<Stream> = self.lock().drain().collect();
        drop(idle);
    }
}

#[cfg(test)]
mod tests {
    use std::{net::TcpListener, time::Duration};

    use super::*;

    /// A connection: the crawler's end, and the server's.
    fn pair() -> (Stream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let crawler = TcpStream::connect(listener.local_addr().expect("its address"));
        let (server, _) = listener.accept().expect("the connection");
        (Stream::Plain(crawler.expect("connected")), server)
    }

    /// Blocks until the crawler's end has a byte to read, or the server's end is closed.
    fn until_readable(stream: &Stream) {
        let tcp = stream.tcp();
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a timeout");
        tcp.peek(&mut [0; 1]).expect("readable");
    }

    #[test]
    fn a_kept_connection_is_taken_only_if_nothing_came_on_it_while_idle() {
        let mut config = Config::new(
            c10k_core::parse_root("http://127.0.0.1:1/").expect("a URL"),
            "127.0.0.1:1".parse().expect("an address"),
        );
        config.keep_alive = true;
        let pool = Kept::new(&config);
        let origin = "http://127.0.0.1:1";

        let (stream, _server) = pair();
        assert!(pool.put(origin, stream));
        assert!(pool.take(origin).is_some(), "quiet: taken");

        let (stream, mut server) = pair();
        server
            .write_all(b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n")
            .expect("written");
        until_readable(&stream);
        assert!(pool.put(origin, stream));
        assert!(
            pool.take(origin).is_none(),
            "bytes no request asked for: closed"
        );

        let (stream, server) = pair();
        drop(server);
        until_readable(&stream);
        assert!(pool.put(origin, stream));
        assert!(pool.take(origin).is_none(), "closed by the server: closed");

        config.keep_alive = false;
        let pool = Kept::new(&config);
        assert!(!pool.put(origin, pair().0), "close mode keeps nothing");
    }
}
