//! What one TLS connection holds on the client's side, rustls' own: a bare
//! `ClientConnection`'s size, and the heap it keeps after its handshake and after each
//! response, counted by an allocator that wraps the system's. Both crawlers that drive rustls
//! through a stream wrapper (threads' `StreamOwned`, async's tokio-rustls `TlsStream`) hold
//! this and the wrapper's few fields (`state_sizes` of each crate), boxed. Prints the table
//! the crate pages quote:
//!
//! ```sh
//! cargo test -p c10k-async --release --test tls_bytes -- --nocapture
//! ```
//!
//! The server's side runs in this thread too, between the counted calls: only the client's
//! calls are counted. One test in this binary, so that no other test allocates meanwhile.

use std::{
    io::{Read, Write},
    sync::Arc,
};

use c10k_core::{TlsOptions, Url, tls};
use rustls::{ClientConnection, ServerConnection};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Net heap bytes the client's calls have kept, counted call by call.
#[derive(Default)]
struct Held(isize);

impl Held {
    /// Runs `call` (a call on the client), adding what it kept to the count.
    fn count<T>(&mut self, call: impl FnOnce() -> T) -> T {
        let region = Region::new(GLOBAL);
        let output = call();
        let change = region.change();
        self.0 += change.bytes_allocated as isize - change.bytes_deallocated as isize
            + change.bytes_reallocated;
        output
    }
}

/// Moves what `client` has to send to `server` and back until neither has anything, counting
/// the client's calls. `wire` and `plain` are buffers made before, large enough not to grow.
fn pump(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
    held: &mut Held,
    wire: &mut Vec<u8>,
    plain: &mut [u8],
) -> usize {
    let mut read = 0;
    for _ in 0..10 {
        wire.clear();
        held.count(|| {
            while client.wants_write() {
                client.write_tls(wire).expect("into a Vec");
            }
        });
        server
            .read_tls(&mut &wire[..])
            .expect("the client's records");
        server.process_new_packets().expect("a good client");
        wire.clear();
        while server.wants_write() {
            server.write_tls(wire).expect("into a Vec");
        }
        if wire.is_empty() && !client.wants_write() {
            break;
        }
        held.count(|| {
            let mut records = &wire[..];
            while !records.is_empty() {
                client.read_tls(&mut records).expect("the server's records");
                client.process_new_packets().expect("a good server");
                while let Ok(n) = client.reader().read(plain) {
                    if n == 0 {
                        break;
                    }
                    read += n;
                }
            }
        });
    }
    read
}

/// Keep this the only test of the binary (see the module's doc).
#[test]
fn a_tls_connection_keeps_rustls_buffers_that_do_not_grow_with_each_response() {
    let fixture =
        c10k_testsite::tls_fixture(&["127.0.0.1"], false).expect("a CA and a certificate");
    let server_config = fixture.server;
    let options = TlsOptions {
        extra_roots: vec![fixture.ca.der()],
        ..TlsOptions::default()
    };
    let resuming = options.client_config().expect("a client configuration");
    let not_resuming = TlsOptions {
        resume: false,
        ..options
    }
    .client_config()
    .expect("a client configuration");
    let url = Url::parse("https://127.0.0.1/p/1").expect("a URL");
    let page = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2048\r\n\r\n{}",
        "x".repeat(2048)
    );
    let mut wire = Vec::with_capacity(64 * 1024);
    let mut plain = vec![0; 64 * 1024];
    let request = c10k_core::request(&url, true);

    // Without resumption, what the connection holds alone; with it, the session tickets the
    // server sends are kept too, in the shard's store (the config's, not the connection's):
    // one full handshake stores them, and the next connection resumes, as most do.
    // The first connection of the process also pays what rustls and ring set up once, for
    // all (a warm-up, left out of the table).
    let mut rows = Vec::new();
    for (kind, client_config) in [
        ("warm-up", &not_resuming),
        ("full handshake, --no-resume", &not_resuming),
        ("full handshake, tickets stored", &resuming),
        ("resumed, tickets stored", &resuming),
    ] {
        let mut held = Held::default();
        let mut server = ServerConnection::new(Arc::clone(&server_config)).expect("a server");
        let mut client = held.count(|| tls::connection(client_config, &url).expect("a client"));
        let new = held.0;
        pump(&mut client, &mut server, &mut held, &mut wire, &mut plain);
        assert!(!client.is_handshaking(), "{kind}: the handshake is done");
        let handshaken = held.0;
        let mut after = Vec::new();
        for _ in 0..10 {
            held.count(|| client.writer().write_all(&request).expect("buffered"));
            pump(&mut client, &mut server, &mut held, &mut wire, &mut plain);
            let mut asked = Vec::new();
            server.reader().read_to_end(&mut asked).ok();
            assert!(!asked.is_empty(), "{kind}: the request went through");
            server
                .writer()
                .write_all(page.as_bytes())
                .expect("buffered");
            let read = pump(&mut client, &mut server, &mut held, &mut wire, &mut plain);
            assert_eq!(read, page.len(), "{kind}: the whole response");
            after.push(held.0);
        }
        let resumed = client.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        assert_eq!(resumed, kind.starts_with("resumed"), "{kind}");
        // What a kept connection holds between two fetches does not grow with each one.
        assert!(
            after.iter().all(|&bytes| bytes <= after[0]),
            "{kind}: heap held after each response {after:?}"
        );
        rows.push((kind, new, handshaken, after[0], after[9]));
    }
    println!(
        "ClientConnection: {} B (size_of)",
        size_of::<ClientConnection>()
    );
    println!("| connection | new B | after the handshake B | after a response B | after ten B |");
    println!("|---|---:|---:|---:|---:|");
    for (kind, new, handshaken, one, ten) in rows.into_iter().skip(1) {
        println!("| {kind} | {new} | {handshaken} | {one} | {ten} |");
    }
}
