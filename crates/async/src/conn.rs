//! *(Second read.)* The connection a task fetches on, and the pool that keeps connections
//! between fetches.
//!
//! A [`Stream`] is tokio's `TcpStream`, or for `https:` tokio-rustls' `TlsStream` over one:
//! `AsyncRead` and `AsyncWrite` on it do the TLS records' work inside each poll, so `crawl.rs`
//! reads and writes the one way for both.
//!
//! [`Kept`] is the keep-alive pool (`--connections keep-alive`): one core [`Shared`] pool per
//! runtime, a `Pool` under a `std::sync::Mutex` never held across an `.await`, rather than a
//! connection kept by each task; what is this model's own is the look at a kept socket before
//! it is reused ([`Stream::quiet`]). A task takes its origin's most recent connection, whichever task used it last,
//! and the pool's caps hold over the runtime's share of the crawl: an origin's kept connections
//! within `--per-host`, kept and busy ones together within the concurrency. A connection kept
//! per task would need no lock, and reuses as much on a crawl of one site without
//! `--per-host`; but with `--per-host 1` each task in turn would open its own connection to the
//! host and keep it, C connections where one is asked for, and every task's future would keep
//! room for it. On one thread the mutex is never contended; with a runtime per core each
//! runtime has its own pool, as it has its own shard (connections stay with the loop that
//! owns their URLs); with work stealing the pool is shared by the runtime's threads, as the
//! frontier is. Without keep-alive no lock is taken: each fetch opens its own connection and
//! closes it.

use std::{
    io::{self, BufRead as _},
    os::fd::AsRawFd as _,
    pin::Pin,
    task::{Context, Poll},
};

use c10k_core::pool::Shared;
use nix::sys::socket::{MsgFlags, recv};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, Interest, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::client::TlsStream;

/// One connection: TCP, or TLS over TCP.
pub(crate) enum Stream {
    /// `http:`.
    Plain(TcpStream),
    /// `https:`. Boxed: a `TlsStream` holds a `ClientConnection`, over a kilobyte
    /// (`state_sizes`), and every task's future would otherwise keep room for it.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The socket under it (to wait for readiness, and to look at a kept one).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Waits until the response begins (or the peer closes), holding no read buffer: over TCP
    /// until the socket is readable, reading nothing (`None`); over TLS until plaintext is
    /// decrypted, reading one byte of it into `first` (`Some(0)` at the end). The session
    /// tickets a TLS server sends first make the socket readable too; rustls reads them and
    /// keeps them, and the read waits on.
    pub(crate) async fn response_begins(
        &mut self,
        first: &mut [u8; 1],
    ) -> io::Result<Option<usize>> {
        match self {
            Stream::Plain(tcp) => tcp.readable().await.map(|()| None),
            Stream::Tls(tls) => tls.read(first).await.map(Some),
        }
    }

    /// Whether a kept connection is as its last response left it: nothing came on it while it
    /// sat idle. Stray bytes (more than a response's `Content-Length` said, plaintext still
    /// buffered by TLS) would be read as the next response, and a close means the server let
    /// it go: either way it is closed rather than reused.
    ///
    /// Asked of tokio first: `try_io` runs the one-byte peek (`MSG_PEEK`, non-blocking) only
    /// if the runtime's reactor has seen the socket readable since its last read met
    /// `WouldBlock` or came back short (tokio clears the readiness then). Otherwise the answer
    /// is `WouldBlock` with no system call: on almost every reuse, so a kept connection costs
    /// no system call of its own. What the kernel has and the reactor has not yet seen (it
    /// sees events when the runtime next polls it) goes unnoticed here, as it would a moment
    /// before the peek: a close is then found by the request's read (nothing came before the
    /// end: sent again on a new connection). Bytes that follow a response in the same write
    /// are not missed: they come in the read that ends it, where the core sees them (not
    /// reusable), or that read filled its buffer, which leaves the readiness set for the peek.
    pub(crate) fn quiet(&mut self) -> bool {
        if let Stream::Tls(tls) = self {
            // `WouldBlock`: no plaintext buffered, and neither `close_notify` nor the end.
            let mut plaintext = tls.get_mut().1.reader();
            if !matches!(plaintext.fill_buf(), Err(err) if err.kind() == io::ErrorKind::WouldBlock)
            {
                return false;
            }
        }
        let tcp = self.tcp();
        let peeked = tcp.try_io(Interest::READABLE, || {
            let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
            Ok(recv(tcp.as_raw_fd(), &mut [0; 1], flags)?)
        });
        // `WouldBlock` from the peek also clears tokio's readiness, as a read's would.
        matches!(peeked, Err(err) if err.kind() == io::ErrorKind::WouldBlock)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls).poll_shutdown(cx),
        }
    }
}

/// The connections kept between fetches, shared by every task of a runtime (the module's page
/// says why one pool and not one connection per task); a kept one is handed out only if it
/// is [`Stream::quiet`].
pub(crate) type Kept = Shared<Stream>;

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use c10k_core::Config;
    use tokio::{io::AsyncWriteExt as _, net::TcpListener};

    use super::*;

    /// A connection: the crawler's end, and the server's.
    async fn pair() -> (Stream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let crawler = TcpStream::connect(listener.local_addr().expect("its address"));
        let (crawler, accepted) = tokio::join!(crawler, listener.accept());
        let (server, _) = accepted.expect("the connection");
        (Stream::Plain(crawler.expect("connected")), server)
    }

    #[tokio::test]
    async fn a_kept_connection_is_taken_only_if_nothing_came_on_it_while_idle() {
        let mut config = Config::new(
            c10k_core::parse_root("http://127.0.0.1:1/").expect("a URL"),
            "127.0.0.1:1".parse().expect("an address"),
        );
        config.keep_alive = true;
        let pool = Kept::new(&config);
        let origin = "http://127.0.0.1:1";

        let (stream, _server) = pair().await;
        assert!(pool.put(origin, stream, Instant::now()));
        assert!(
            pool.take(origin, Instant::now(), Stream::quiet).is_some(),
            "quiet: taken"
        );

        let (stream, mut server) = pair().await;
        server
            .write_all(b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n")
            .await
            .expect("written");
        stream.tcp().readable().await.expect("readable");
        assert!(pool.put(origin, stream, Instant::now()));
        assert!(
            pool.take(origin, Instant::now(), Stream::quiet).is_none(),
            "bytes no request asked for: closed"
        );

        let (stream, server) = pair().await;
        drop(server);
        stream.tcp().readable().await.expect("readable");
        assert!(pool.put(origin, stream, Instant::now()));
        assert!(
            pool.take(origin, Instant::now(), Stream::quiet).is_none(),
            "closed by the server: closed"
        );

        // Readable to tokio, but read to the end: a read that fills its buffer leaves tokio's
        // readiness set, so the peek runs, meets `WouldBlock`, and the connection is quiet.
        let (stream, mut server) = pair().await;
        server.write_all(b"abc").await.expect("written");
        stream.tcp().readable().await.expect("readable");
        let read = stream.tcp().try_read(&mut [0; 3]).expect("the three bytes");
        assert_eq!(read, 3);
        assert!(pool.put(origin, stream, Instant::now()));
        assert!(
            pool.take(origin, Instant::now(), Stream::quiet).is_some(),
            "read whole: taken"
        );
    }
}
