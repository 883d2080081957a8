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
    time::{Duration, Instant},
};

use c10k_core::pool::Shared;
use nix::{
    errno::Errno,
    sys::socket::{MsgFlags, recv},
};
use rustls::{ClientConnection, HandshakeKind, StreamOwned};

/// One connection: TCP, or TLS over TCP, and the timeouts its socket holds.
pub(crate) struct Stream {
    io: Io,
    /// What `SO_RCVTIMEO` and `SO_SNDTIMEO` hold, as last set here (`None`: never set).
    timeouts: [Option<Duration>; 2],
}

/// What a stream reads and writes through.
enum Io {
    /// `http:`.
    Plain(TcpStream),
    /// `https:`. Boxed: a `ClientConnection` is over a kilobyte (`state_sizes`) where a
    /// `TcpStream` is four bytes, and a plain connection, on a thread's stack or in the
    /// pool, should not carry room for it.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// Which of a socket's two timeouts a blocking call waits under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// `recv` and `peek`.
    Receive = 0,
    /// `send`; on Linux a blocking `connect` obeys it too.
    Send = 1,
}

impl Stream {
    /// A plain connection, whose socket holds `send_timeout` (`connect` set it).
    pub(crate) fn plain(tcp: TcpStream, send_timeout: Duration) -> Stream {
        Stream {
            io: Io::Plain(tcp),
            timeouts: [None, Some(send_timeout)],
        }
    }

    /// The same socket, under TLS: `conn` has yet to shake hands ([`Stream::shake_hands`]).
    pub(crate) fn into_tls(self, conn: ClientConnection) -> Stream {
        let tcp = match self.io {
            Io::Plain(tcp) => tcp,
            Io::Tls(tls) => tls.sock,
        };
        Stream {
            io: Io::Tls(Box::new(StreamOwned::new(conn, tcp))),
            timeouts: self.timeouts,
        }
    }

    /// Writes what TLS has to send and reads what it waits for, until the handshake is done
    /// (made again after a timeout, it goes on where it stopped).
    pub(crate) fn shake_hands(&mut self) -> io::Result<()> {
        if let Io::Tls(tls) = &mut self.io {
            while tls.conn.is_handshaking() {
                tls.conn.complete_io(&mut tls.sock)?;
            }
        }
        Ok(())
    }

    /// Whether its TLS session was resumed (a plain connection's never is).
    pub(crate) fn resumed(&self) -> bool {
        matches!(&self.io, Io::Tls(tls) if tls.conn.handshake_kind() == Some(HandshakeKind::Resumed))
    }

    /// The socket under it (for the one-byte peeks).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match &self.io {
            Io::Plain(tcp) => tcp,
            Io::Tls(tls) => &tls.sock,
        }
    }

    /// Runs `call`, which may block on the socket in each of `waits`, so that it returns by
    /// `deadline`: a blocking call ends at its socket's timeout, and the timeout is a socket
    /// option, one system call to set.
    ///
    /// So it is set only when the socket holds more than is left before the deadline (or
    /// nothing), and then to seven eighths of what is left: a connection's next fetch, kept,
    /// starts with more time left than that and sets nothing, so a fetch on a kept
    /// connection makes no `setsockopt` at all until an eighth of its time has gone. A call
    /// that the shorter timeout ends while time is left is made again, under exactly what is
    /// left; once the deadline has passed, the error is a timeout. (`call` must be safe to
    /// make again after a timeout: it read or wrote nothing, or says how much it did.)
    pub(crate) fn blocking<T>(
        &mut self,
        waits: &[Wait],
        deadline: Instant,
        mut call: impl FnMut(&mut Stream) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut exact = false;
        loop {
            let left = left_before(deadline)?;
            for &wait in waits {
                let held = self.timeouts[wait as usize];
                if exact || held.is_none_or(|held| held > left) {
                    let timeout = if exact { left } else { left - left / 8 }.max(MIN_TIMEOUT);
                    self.set_timeout(wait, timeout)?;
                }
            }
            match call(self) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    exact = true;
                }
                result => return result,
            }
        }
    }

    fn set_timeout(&mut self, wait: Wait, timeout: Duration) -> io::Result<()> {
        let tcp = self.tcp();
        match wait {
            Wait::Receive => tcp.set_read_timeout(Some(timeout))?,
            Wait::Send => tcp.set_write_timeout(Some(timeout))?,
        }
        self.timeouts[wait as usize] = Some(timeout);
        Ok(())
    }

    /// Whether a kept connection is as its last response left it: nothing came on it while it
    /// sat idle. Stray bytes (more than a response's `Content-Length` said, plaintext still
    /// buffered by TLS) would be read as the next response, and a close means the server let
    /// it go: either way it is closed rather than reused. A non-blocking one-byte peek, one
    /// system call.
    pub(crate) fn quiet(&mut self) -> bool {
        if let Io::Tls(tls) = &mut self.io {
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

/// The shortest timeout a socket is given: a microsecond, the grain of the option's
/// `timeval` (zero would mean none at all).
const MIN_TIMEOUT: Duration = Duration::from_micros(1);

/// Time left before `deadline`; a `TimedOut` error once it has passed.
fn left_before(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < MIN_TIMEOUT {
        Err(io::ErrorKind::TimedOut.into())
    } else {
        Ok(left)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.io {
            Io::Plain(tcp) => tcp.read(buf),
            Io::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.io {
            Io::Plain(tcp) => tcp.write(buf),
            Io::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.io {
            Io::Plain(tcp) => tcp.flush(),
            Io::Tls(tls) => tls.flush(),
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
        let crawler = crawler.expect("connected");
        let timeout = Duration::from_secs(5);
        crawler.set_write_timeout(Some(timeout)).expect("a timeout");
        (Stream::plain(crawler, timeout), server)
    }

    fn read_one(stream: &mut Stream) -> io::Result<usize> {
        stream.read(&mut [0; 1])
    }

    /// A fetch on a kept connection, with as much time left as the last one had, finds the
    /// socket's timeout short enough and sets none; the socket holds what was recorded.
    #[test]
    fn a_kept_connections_next_fetch_sets_no_timeout() {
        let (mut stream, mut server) = pair();
        server.write_all(b"ab").expect("written");
        let timeout = Duration::from_secs(10);
        let read = stream.blocking(&[Wait::Receive], Instant::now() + timeout, read_one);
        assert_eq!(read.expect("a byte"), 1);
        let held = stream.timeouts[Wait::Receive as usize].expect("set for the first read");
        assert!(held < timeout, "{held:?}: shorter than what was left");
        let read = stream.blocking(&[Wait::Receive], Instant::now() + timeout, read_one);
        assert_eq!(read.expect("a byte"), 1);
        assert_eq!(
            stream.timeouts[Wait::Receive as usize],
            Some(held),
            "not set again"
        );
        // The kernel keeps the option in its own grain.
        let on_socket = stream
            .tcp()
            .read_timeout()
            .expect("its option")
            .expect("set");
        assert!(
            on_socket.abs_diff(held) < Duration::from_millis(20),
            "{on_socket:?}"
        );
    }

    /// The timeout a socket holds from an earlier fetch may be shorter than what is left of
    /// this one: the call it cuts short is made again, under what is left, and returns what
    /// came; a call the deadline ends is a `TimedOut` error, not before the deadline.
    #[test]
    fn a_call_cut_short_by_a_shorter_timeout_is_made_again() {
        let (mut stream, mut server) = pair();
        let soon = Instant::now() + Duration::from_millis(80);
        let err = stream
            .blocking(&[Wait::Receive], soon, read_one)
            .expect_err("nothing came");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            Instant::now() + MIN_TIMEOUT >= soon,
            "ended at the deadline"
        );

        let answer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            server.write_all(b"a").expect("written");
            server
        });
        let mut calls = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        let read = stream.blocking(&[Wait::Receive], deadline, |stream| {
            calls += 1;
            read_one(stream)
        });
        assert_eq!(read.expect("the byte"), 1);
        assert!(
            calls >= 2,
            "cut short once by what the socket held: {calls} calls"
        );
        answer.join().expect("the server");
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
