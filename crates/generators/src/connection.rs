//! A connection as the fetch's coroutines hold it: the socket and, over https, the TLS state
//! between it and the response reader; and the same connection kept between two fetches.
//!
//! TLS is the core's sans-IO [`Tls`]: bytes read from the socket go in, and what it has to
//! send comes out, to be written by whoever holds the connection. Nothing else changes: the
//! coroutines read and write the socket themselves, try first and wait only on `WouldBlock`.

use std::io::{self, Write};

use c10k_core::{FetchError, Progress, Response, ResponseReader, Tls};
use c10k_eventloop::{EventLoop, Parked, interrupted, would_block};
use mio::net::TcpStream;

use crate::socket::{Socket, Waiter};

/// A connected socket and, over https, its TLS.
pub(crate) struct Connection {
    pub(crate) socket: Socket,
    /// Boxed: TLS is large, and the fetch's states, which hold the connection, are stored
    /// inline in every worker (a plain connection pays 8 bytes for it).
    pub(crate) tls: Option<Box<TlsSide>>,
}

/// TLS, and what of its output the socket did not take yet.
pub(crate) struct TlsSide {
    pub(crate) tls: Tls,
    unsent: Vec<u8>,
}

/// A connection kept for its origin's next fetch (keep-alive): the socket parked on the loop,
/// bound to no fetch, and its TLS state, so that reusing it needs no new handshake.
pub(crate) struct Kept {
    socket: Parked<TcpStream>,
    tls: Option<Box<TlsSide>>,
}

impl Connection {
    /// A plain connection.
    pub(crate) fn plain(socket: Socket) -> Connection {
        Connection { socket, tls: None }
    }

    /// Starts TLS on the connection, with `request` queued behind the handshake.
    pub(crate) fn start_tls(&mut self, mut tls: Tls, request: &[u8]) {
        tls.send(request);
        self.tls = Some(Box::new(TlsSide {
            tls,
            unsent: Vec::new(),
        }));
    }

    /// What to write for `request` on a connection whose handshake is done: the request, or
    /// over TLS its records.
    pub(crate) fn records(&mut self, request: Vec<u8>) -> Vec<u8> {
        let Some(side) = &mut self.tls else {
            return request;
        };
        side.tls.send(&request);
        let mut records = Vec::new();
        side.tls.outgoing(&mut records);
        records
    }

    /// Writes what TLS has to send now, and what the socket did not take before, as far as
    /// it takes it: `Ok(true)` once all is out (always, for a plain connection), `Ok(false)`
    /// on `WouldBlock`, the rest kept for the next try.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        let Some(side) = &mut self.tls else {
            return Ok(true);
        };
        side.tls.outgoing(&mut side.unsent);
        let mut written = 0;
        let result = loop {
            if written == side.unsent.len() {
                break Ok(true);
            }
            match self.socket.stream().write(&side.unsent[written..]) {
                Ok(n) => written += n,
                Err(err) if would_block(&err) => break Ok(false),
                Err(err) if interrupted(&err) => {}
                Err(err) => break Err(err),
            }
        };
        side.unsent.drain(..written);
        if side.unsent.is_empty() {
            // What TLS writes is small and rare once the handshake is done: no capacity kept.
            side.unsent = Vec::new();
        }
        result
    }

    /// Bytes just read, to the response reader: straight, or through TLS.
    pub(crate) fn received(
        &mut self,
        bytes: &[u8],
        reader: &mut ResponseReader,
    ) -> Result<Progress, FetchError> {
        match &mut self.tls {
            Some(side) => side.tls.received(bytes, reader),
            None => reader.feed(bytes),
        }
    }

    /// The socket reached its end: over TLS, whether it said `close_notify` decides what the
    /// close may delimit.
    pub(crate) fn eof(&mut self, reader: &mut ResponseReader) -> Result<Response, FetchError> {
        match &mut self.tls {
            Some(side) => side.tls.eof(reader),
            None => reader.eof(),
        }
    }

    /// Whether the TLS handshake is still going on.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|side| side.tls.is_handshaking())
    }

    /// Whether the TLS handshake resumed an earlier session.
    pub(crate) fn resumed(&self) -> bool {
        self.tls.as_ref().is_some_and(|side| side.tls.resumed())
    }

    /// Whether nothing waits to be written: a connection may only be kept then.
    pub(crate) fn is_flushed(&self) -> bool {
        self.tls
            .as_ref()
            .is_none_or(|side| side.unsent.is_empty() && !side.tls.wants_write())
    }

    /// Closes the connection, and drops its socket's callback.
    pub(crate) fn close(self, lp: &mut EventLoop) {
        self.socket.close(lp);
    }

    /// Parks the socket on the loop, for the origin's next fetch.
    pub(crate) fn park(self, lp: &mut EventLoop) -> Kept {
        Kept {
            socket: self.socket.park(lp),
            tls: self.tls,
        }
    }
}

impl Kept {
    /// The kept connection, for a new fetch whose waits `waiter` ends.
    pub(crate) fn reuse(self, lp: &mut EventLoop, waiter: Waiter) -> io::Result<Connection> {
        Ok(Connection {
            socket: Socket::unpark(lp, self.socket, waiter)?,
            tls: self.tls,
        })
    }
}
