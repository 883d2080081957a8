//! *(Second read.)* The connection a thread fetches on, and the pool that keeps connections
//! between fetches.
//!
//! A [`Stream`] is a blocking `TcpStream`, or for `https:` a rustls [`StreamOwned`] over one:
//! `Read` and `Write` on it do the TLS records' work inside the calls, so `crawl.rs` reads
//! and writes the one way for both.
//!
//! [`Kept`] is the keep-alive pool (`--connections keep-alive`): one core [`Shared`] pool for
//! every thread, a `Pool` under a mutex, rather than a connection kept by each thread; what
//! is this model's own is the look at a kept socket before it is reused ([`Stream::quiet`]).
//! A thread takes its origin's most recent connection, whichever thread used it last, and the
//! pool's caps hold over the whole crawl: an origin's kept connections within `--per-host`,
//! kept ones and fetches in flight together within the concurrency. A connection kept per thread would need no lock, and
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
};

use c10k_core::pool::Shared;
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
    pub(crate) fn quiet(&mut self) -> bool {
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
/// says why one pool and not one connection per thread); a kept one is handed out only if it
/// is [`Stream::quiet`].
pub(crate) type Kept = Shared<Stream>;

#[cfg(test)]
mod tests {
    use std::{
        net::TcpListener,
        time::{Duration, Instant},
    };

    use c10k_core::Config;

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
        assert!(pool.put(origin, stream, Instant::now()));
        assert!(
            pool.take(origin, Instant::now(), Stream::quiet).is_some(),
            "quiet: taken"
        );

        let (stream, mut server) = pair();
        server
            .write_all(b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n")
            .expect("written");
        until_readable(&stream);
        assert!(pool.put(origin, stream, Instant::now()));
        assert!(
            pool.take(origin, Instant::now(), Stream::quiet).is_none(),
            "bytes no request asked for: closed"
        );

        let (stream, server) = pair();
        drop(server);
        until_readable(&stream);
        assert!(pool.put(origin, stream, Instant::now()));
        assert!(
            pool.take(origin, Instant::now(), Stream::quiet).is_none(),
            "closed by the server: closed"
        );
    }
}
