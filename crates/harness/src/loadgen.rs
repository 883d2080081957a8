//! The server's connection ceiling, measured by the harness itself: how many responses per
//! second the test server gives a client that opens a new connection for each request (what
//! `wrk -H 'Connection: close'` measures). It is the upper bound for any crawler of that server
//! on the same machine.

use std::{
    io,
    net::SocketAddr,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Responses per second with one request per connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ceiling {
    /// Connections kept open at once.
    pub connections: usize,
    /// How long the load ran, seconds.
    pub seconds: f64,
    /// Complete responses received.
    pub responses: u64,
    /// Connections that failed.
    pub errors: u64,
    /// `responses / seconds`.
    pub responses_per_s: f64,
    /// The same measured by `wrk`, when it is installed.
    pub wrk_responses_per_s: Option<f64>,
}

/// Loads `addr` with `connections` concurrent clients for `duration`, each fetching `path`
/// on a fresh connection, again and again.
pub fn measure(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> io::Result<Ceiling> {
    // As many client threads as cores, as `wrk -t` would: one thread would measure the
    // client, not the server.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let responses = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let request: Arc<[u8]> =
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
            .into_bytes()
            .into();
    let started = Instant::now();
    let deadline = started + duration;
    runtime.block_on(async {
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..connections {
            let (responses, errors, request) = (
                Arc::clone(&responses),
                Arc::clone(&errors),
                Arc::clone(&request),
            );
            clients.spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                while Instant::now() < deadline {
                    match one_request(addr, &request, &mut buf).await {
                        Ok(()) => responses.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
        while clients.join_next().await.is_some() {}
    });
    let seconds = started.elapsed().as_secs_f64();
    let responses = responses.load(Ordering::Relaxed);
    Ok(Ceiling {
        connections,
        seconds,
        responses,
        errors: errors.load(Ordering::Relaxed),
        responses_per_s: responses as f64 / seconds,
        wrk_responses_per_s: None,
    })
}

async fn one_request(addr: SocketAddr, request: &[u8], buf: &mut [u8]) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut total = 0;
    loop {
        match stream.read(buf).await? {
            0 if total == 0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            0 => return Ok(()),
            n => total += n,
        }
    }
}

/// `wrk -tT -cN -dS -H 'Connection: close' URL` (T = the cores), when `wrk` is on the path:
/// its Requests/sec.
pub fn wrk(url: &str, connections: usize, duration: Duration) -> Option<f64> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let output = Command::new("wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{connections}"),
            &format!("-d{}s", duration.as_secs().max(1)),
        ])
        .args(["-H", "Connection: close", url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())
}
