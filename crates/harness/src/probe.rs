//! The lecture's claim that "we run out of threads before we run out of sockets", measured:
//! how many parked threads and how many sockets one process can hold on this machine. And what
//! a bare rustls client connection holds in flight, the reference for a crawler's TLS
//! connection.

use std::{
    io,
    sync::{Arc, Condvar, Mutex, PoisonError},
    thread,
};

use serde::{Deserialize, Serialize};

use crate::measure::process_usage;

/// How far one process got, spawning threads and opening sockets until the OS said no (or a
/// cap was reached, so the probe always ends by itself).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ceilings {
    /// The most threads or sockets the probe tries.
    pub cap: usize,
    /// Stack reserved per thread, KiB.
    pub thread_stack_kb: usize,
    /// Threads spawned (all parked at once).
    pub threads: usize,
    /// Why spawning stopped, if it did before the cap.
    pub thread_error: Option<String>,
    /// Peak RSS of the process while holding them, KiB.
    pub rss_kib_with_threads: u64,
    /// RSS before spawning, KiB.
    pub rss_kib_before: u64,
    /// TCP sockets opened (all held at once).
    pub sockets: usize,
    /// Why opening stopped, if it did before the cap.
    pub socket_error: Option<String>,
}

/// Spawns parked threads until failure or `cap`, releases them, then opens sockets the same way.
pub fn probe(cap: usize, thread_stack_kb: usize) -> Ceilings {
    let mut ceilings = Ceilings {
        cap,
        thread_stack_kb,
        rss_kib_before: process_usage().map(|u| u.max_rss_kib).unwrap_or_default(),
        ..Ceilings::default()
    };
    let release = Arc::new((Mutex::new(false), Condvar::new()));
    let mut handles = Vec::new();
    // Past the map limit a new thread aborts the process instead of failing to spawn (see
    // `c10k_threads::thread_headroom`): stop at the limit, and say so.
    let headroom = c10k_threads::thread_headroom().unwrap_or(usize::MAX);
    while handles.len() < cap {
        if handles.len() >= headroom {
            ceilings.thread_error = Some(format!(
                "vm.max_map_count: no room for more thread mappings (about {headroom} threads)"
            ));
            break;
        }
        let release = Arc::clone(&release);
        let spawned = thread::Builder::new()
            .stack_size(thread_stack_kb * 1024)
            .spawn(move || {
                let (lock, released) = &*release;
                let mut done = lock.lock().unwrap_or_else(PoisonError::into_inner);
                while !*done {
                    done = released.wait(done).unwrap_or_else(PoisonError::into_inner);
                }
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                ceilings.thread_error = Some(err.to_string());
                break;
            }
        }
    }
    ceilings.threads = handles.len();
    ceilings.rss_kib_with_threads = process_usage().map(|u| u.max_rss_kib).unwrap_or_default();
    *release.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
    release.1.notify_all();
    for handle in handles {
        let _ = handle.join();
    }

    let mut sockets = Vec::new();
    while sockets.len() < cap {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
        match socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        ) {
            Ok(fd) => sockets.push(fd),
            Err(err) => {
                ceilings.socket_error = Some(err.desc().to_owned());
                break;
            }
        }
    }
    ceilings.sockets = sockets.len();
    ceilings
}

/// What bare rustls client connections hold, as the crawlers' in-flight TLS connections are
/// held: the reference the TLS memory target (issue 25) is judged against.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BareTls {
    /// How many connections were held at the first measure and at the second.
    pub connections: (usize, usize),
    /// The process's RSS holding each, KiB.
    pub rss_kib: (u64, u64),
    /// Of all the connections held, how many resumed a session.
    pub resumed: usize,
    /// `size_of::<ClientConnection>()`, boxed as every crawler boxes it.
    pub size_of_b: usize,
}

impl BareTls {
    /// RSS each connection adds: the slope between the two measures (one-time costs, such as
    /// the provider's tables and the config's session store, cancel out).
    pub fn per_connection_b(&self) -> Option<f64> {
        let (narrow, wide) = self.connections;
        (wide > narrow).then(|| {
            (self.rss_kib.1 as f64 - self.rss_kib.0 as f64) * 1024.0 / (wide - narrow) as f64
        })
    }
}

/// What the probe's server thread is told.
enum ToServer {
    /// A new connection: drop the last one.
    Open,
    /// The client's records; answered with the server's.
    Records(Vec<u8>),
}

/// Holds `connections.1` bare `rustls::ClientConnection`s, each boxed, as an in-flight
/// crawler connection is: its handshake done with the test site's certificate (resuming a
/// session from the second on, as the crawlers do by default), the session tickets the
/// server sends after it read, and the request written. No socket: the server's side runs in
/// a thread of its own (so its memory sits in another allocator arena and is dropped after
/// each handshake), and records pass in memory. The process's RSS is read at
/// `connections.0` and at `connections.1`.
pub fn bare_tls(connections: (usize, usize)) -> io::Result<BareTls> {
    use std::{io::Write as _, sync::mpsc};

    use rustls::{ClientConnection, HandshakeKind, ServerConnection};

    let failed =
        |what: &str, err: &dyn std::fmt::Display| io::Error::other(format!("{what}: {err}"));
    let fixture = c10k_testsite::tls_fixture(&["127.0.0.1"], false)?;
    let server_config = fixture.server;
    let client_config = c10k_core::TlsOptions {
        extra_roots: vec![fixture.ca.der()],
        ..c10k_core::TlsOptions::default()
    }
    .client_config()
    .map_err(|err| failed("a client configuration", &err))?;
    let url =
        c10k_core::Url::parse("https://127.0.0.1/memory/1").map_err(|err| failed("a URL", &err))?;
    let request = c10k_core::request(&url, false);

    let (to_server, server_gets) = mpsc::channel::<ToServer>();
    let (server_sends, from_server) = mpsc::channel::<io::Result<Vec<u8>>>();
    let server = thread::spawn(move || {
        let mut connection = None;
        for message in server_gets {
            let answer = match message {
                ToServer::Open => ServerConnection::new(Arc::clone(&server_config))
                    .map(|c| {
                        connection = Some(c);
                        Vec::new()
                    })
                    .map_err(|err| failed("a server connection", &err)),
                ToServer::Records(records) => match connection.as_mut() {
                    Some(connection) => exchange(connection, &records),
                    None => Err(io::Error::other("records before a connection")),
                },
            };
            if server_sends.send(answer).is_err() {
                break;
            }
        }
    });
    let ask = |message: ToServer| -> io::Result<Vec<u8>> {
        to_server
            .send(message)
            .map_err(|_| io::Error::other("the server thread ended"))?;
        from_server
            .recv()
            .map_err(|_| io::Error::other("the server thread ended"))?
    };

    let mut bare = BareTls {
        connections,
        size_of_b: size_of::<ClientConnection>(),
        ..BareTls::default()
    };
    // Reserved before the first measure, so that its growth is not a connection's.
    let mut held: Vec<Box<ClientConnection>> = Vec::with_capacity(connections.1);
    let mut records = Vec::with_capacity(64 * 1024);
    // The first connection makes a full handshake and stores the tickets the others resume.
    for _ in 0..connections.1 {
        let mut client = Box::new(
            c10k_core::tls::connection(&client_config, &url)
                .map_err(|err| failed("a client connection", &err))?,
        );
        ask(ToServer::Open)?;
        for _ in 0..10 {
            outgoing(&mut client, &mut records)?;
            let sent = !records.is_empty();
            let answer = ask(ToServer::Records(records.clone()))?;
            let mut answer = &answer[..];
            let answered = !answer.is_empty();
            while !answer.is_empty() {
                client.read_tls(&mut answer)?;
                client
                    .process_new_packets()
                    .map_err(|err| failed("the client's handshake", &err))?;
            }
            if !client.is_handshaking() && !sent && !answered {
                break;
            }
        }
        if client.is_handshaking() {
            return Err(io::Error::other("the handshake did not end"));
        }
        client.writer().write_all(&request)?;
        outgoing(&mut client, &mut records)?;
        ask(ToServer::Records(records.clone()))?;
        bare.resumed += usize::from(client.handshake_kind() == Some(HandshakeKind::Resumed));
        held.push(client);
        if held.len() == connections.0 {
            bare.rss_kib.0 = crate::measure::current_rss_kib()?;
        }
    }
    bare.rss_kib.1 = crate::measure::current_rss_kib()?;
    drop(to_server);
    let _ = server.join();
    drop(held);
    Ok(bare)
}

/// What `side` (the client or the server) has to send, in `records` (emptied first).
fn outgoing<D>(side: &mut rustls::ConnectionCommon<D>, records: &mut Vec<u8>) -> io::Result<()> {
    records.clear();
    while side.wants_write() {
        side.write_tls(records)?;
    }
    Ok(())
}

/// The server's side of one step: reads the client's `records`, answers with its own.
fn exchange(server: &mut rustls::ServerConnection, mut records: &[u8]) -> io::Result<Vec<u8>> {
    while !records.is_empty() {
        server.read_tls(&mut records)?;
        server
            .process_new_packets()
            .map_err(|err| io::Error::other(format!("the server's handshake: {err}")))?;
    }
    // The request, once it comes, is read and left unanswered: the response is still to come.
    let mut plain = Vec::new();
    let _ = io::Read::read_to_end(&mut server.reader(), &mut plain);
    let mut answer = Vec::new();
    outgoing(server, &mut answer)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_tls_connections_resume_and_are_all_held() {
        let bare = bare_tls((4, 12)).expect("bare connections");
        assert_eq!(bare.connections, (4, 12));
        // The first makes a full handshake; every other resumes its session.
        assert_eq!(bare.resumed, 11);
        assert!(
            bare.rss_kib.0 > 0 && bare.rss_kib.1 >= bare.rss_kib.0,
            "{bare:?}"
        );
        assert!(bare.per_connection_b().is_some());
    }
}
