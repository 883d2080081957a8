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

use nix::sys::resource::UsageWho;
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    measure::{ProcessUsage, usage_of},
    plan::Transport,
};

/// Responses per second with one request per connection, and what each response cost the
/// client and the server in CPU time.
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
    /// What each response cost the harness's client, in CPU time.
    #[serde(default)]
    pub client: Option<CpuPerResponse>,
    /// What each response cost the server while the harness loaded it, µs of CPU time.
    #[serde(default)]
    pub server_cpu_us: Option<f64>,
    /// The same measured by `wrk`, when it is installed.
    pub wrk_responses_per_s: Option<f64>,
    /// What each response cost `wrk`, in CPU time.
    #[serde(default)]
    pub wrk_client: Option<CpuPerResponse>,
    /// What each response cost the server while `wrk` loaded it, µs of CPU time.
    #[serde(default)]
    pub wrk_server_cpu_us: Option<f64>,
}

/// CPU time per response, µs, in user space and in the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuPerResponse {
    /// In user space.
    pub user_us: f64,
    /// In the kernel (system calls, and the TCP work they start).
    pub sys_us: f64,
}

impl CpuPerResponse {
    /// The change in `who`'s CPU time since `before`, per response.
    fn since(before: &ProcessUsage, who: UsageWho, responses: u64) -> Option<CpuPerResponse> {
        let after = usage_of(who).ok()?;
        let per = |after: f64, before: f64| (after - before) * 1e6 / responses as f64;
        (responses > 0).then(|| CpuPerResponse {
            user_us: per(after.user_s, before.user_s),
            sys_us: per(after.sys_s, before.sys_s),
        })
    }

    /// User and kernel time together.
    pub fn total_us(&self) -> f64 {
        self.user_us + self.sys_us
    }
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
    let usage = usage_of(UsageWho::RUSAGE_SELF)?;
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
        // This process runs nothing else meanwhile (a progress bar at most).
        client: CpuPerResponse::since(&usage, UsageWho::RUSAGE_SELF, responses),
        ..Ceiling::default()
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

/// What one run of `wrk` measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wrk {
    /// Its `Requests/sec`.
    pub responses_per_s: f64,
    /// Its `N requests in`, when it printed it.
    pub responses: Option<u64>,
    /// Its CPU time per request, when it printed their count.
    pub client: Option<CpuPerResponse>,
}

/// How `wrk` loads a server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrkLoad {
    /// `-t`: its threads (each an event loop of its own).
    pub threads: usize,
    /// `-c`: connections open at once.
    pub connections: usize,
    /// `-d`: how long (whole seconds, at least one).
    pub duration: Duration,
    /// `-H 'Connection: close'`: a new connection (over https, a new handshake) for every
    /// request; without it wrk keeps its connections.
    pub close: bool,
}

impl WrkLoad {
    /// `wrk`'s arguments for this load of `url`.
    pub fn args(&self, url: &str) -> Vec<String> {
        let mut args = vec![
            format!("-t{}", self.threads),
            format!("-c{}", self.connections.max(self.threads)),
            format!("-d{}s", self.duration.as_secs().max(1)),
        ];
        if self.close {
            args.extend(["-H".to_owned(), "Connection: close".to_owned()]);
        }
        args.push(url.to_owned());
        args
    }
}

/// `wrk -tT -cN -dS -H 'Connection: close' URL` (T = the cores).
pub fn wrk(url: &str, connections: usize, duration: Duration) -> Result<Wrk, WrkFailed> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    wrk_with(
        url,
        &WrkLoad {
            threads,
            connections,
            duration,
            close: true,
        },
    )
}

/// Why a load of `wrk` measured nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrkFailed {
    /// `wrk` is not on the path.
    Missing,
    /// It ran, or could not be started, and gave no rate: why, in a few words (its exit
    /// status and the first line it wrote).
    Failed(String),
}

/// `wrk` loading `url` as `load` says.
///
/// Its CPU time is read as this process's children's, before and after: nothing else is
/// waited for meanwhile.
pub fn wrk_with(url: &str, load: &WrkLoad) -> Result<Wrk, WrkFailed> {
    run_wrk("wrk", url, load)
}

/// [`wrk_with`], with `program` as `wrk`.
fn run_wrk(program: &str, url: &str, load: &WrkLoad) -> Result<Wrk, WrkFailed> {
    let usage =
        usage_of(UsageWho::RUSAGE_CHILDREN).map_err(|err| WrkFailed::Failed(err.to_string()))?;
    let output = match Command::new(program).args(load.args(url)).output() {
        Ok(output) => output,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(WrkFailed::Missing),
        Err(err) => return Err(WrkFailed::Failed(format!("could not start it: {err}"))),
    };
    let Some((responses_per_s, requests)) = parse_wrk(&String::from_utf8_lossy(&output.stdout))
    else {
        // wrk writes its errors to either stream.
        let said = [&output.stderr, &output.stdout]
            .into_iter()
            .find_map(|bytes| {
                crate::first_line(&String::from_utf8_lossy(bytes))
                    .map(|line| line.trim().to_owned())
            })
            .unwrap_or_else(|| "it wrote nothing".to_owned());
        return Err(WrkFailed::Failed(format!(
            "{}, no rate: {said}",
            output.status
        )));
    };
    Ok(Wrk {
        responses_per_s,
        responses: requests,
        client: requests.and_then(|n| CpuPerResponse::since(&usage, UsageWho::RUSAGE_CHILDREN, n)),
    })
}

/// One `wrk` load of the connection axis's CPU-bound site: a ceiling of the TLS and
/// keep-alive crawls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WrkRow {
    /// The site whose server it loaded (its root page, `/`, again and again).
    pub site: String,
    /// http or https; closing every connection after its response (`-H 'Connection:
    /// close'`) or keeping them. Over https wrk resumes its session on each new connection
    /// (it keeps its OpenSSL session across reconnects), and checks no certificate.
    pub transport: Transport,
    /// `-t`: its threads.
    pub threads: usize,
    /// `-c`: connections open at once.
    pub connections: usize,
    /// Its `Requests/sec`.
    pub responses_per_s: f64,
    /// What each response cost wrk, in CPU time.
    pub client: Option<CpuPerResponse>,
    /// What each response cost the server meanwhile, µs of CPU time.
    pub server_cpu_us: Option<f64>,
    /// System calls per response, from a run of its own under `perf stat` (one thread).
    #[serde(default)]
    pub syscalls_per_response: Option<f64>,
    /// User-space instructions per response, from a run of its own.
    #[serde(default)]
    pub instructions_per_response: Option<f64>,
    /// What counted the instructions, `perf` or `callgrind`.
    #[serde(default)]
    pub instructions_by: Option<String>,
    /// Over http, wrk loads the server at the start of each round of the crawls
    /// ([`crate::plan::ConnectionsAxis::rounds`]): the responses/s of every round, in the
    /// order they ran. This row is their median
    /// ([`crate::connections::collapse_wrk_rounds`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds_per_s: Vec<f64>,
}

/// `Requests/sec` and the count of `N requests in T` from `wrk`'s report.
pub(crate) fn parse_wrk(text: &str) -> Option<(f64, Option<u64>)> {
    let per_s = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())?;
    let requests = text.lines().find_map(|line| {
        let (count, rest) = line.trim().split_once(' ')?;
        rest.starts_with("requests in")
            .then(|| count.parse().ok())?
    });
    Some((per_s, requests))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_report_is_read() {
        let report = "Running 3s test @ http://127.0.0.1:1/\n  2 threads and 100 connections\n\
                      \x20 69208 requests in 3.00s, 151.68MB read\nRequests/sec:  23084.17\n";
        assert_eq!(parse_wrk(report), Some((23084.17, Some(69208))));
        assert_eq!(parse_wrk("Requests/sec: 5\n"), Some((5.0, None)));
        assert_eq!(parse_wrk("wrk: command failed\n"), None);
    }

    #[test]
    fn wrk_closes_connections_only_when_asked() {
        let mut load = WrkLoad {
            threads: 1,
            connections: 100,
            duration: Duration::from_millis(200),
            close: true,
        };
        assert_eq!(
            load.args("https://127.0.0.1:1/"),
            [
                "-t1",
                "-c100",
                "-d1s",
                "-H",
                "Connection: close",
                "https://127.0.0.1:1/"
            ]
        );
        load.close = false;
        load.threads = 4;
        load.connections = 2;
        // wrk refuses fewer connections than threads.
        assert_eq!(
            load.args("http://127.0.0.1:1/"),
            ["-t4", "-c4", "-d1s", "http://127.0.0.1:1/"]
        );
    }

    /// Only a `wrk` that is not there is "not installed": one that ran and failed says how,
    /// so that a sweep does not take a failed load for a missing tool.
    #[test]
    fn a_wrk_that_fails_is_told_from_one_that_is_missing() {
        let load = WrkLoad {
            threads: 1,
            connections: 1,
            duration: Duration::from_secs(1),
            close: false,
        };
        let url = "http://127.0.0.1:1/";
        assert_eq!(
            run_wrk("c10k-no-such-program", url, &load),
            Err(WrkFailed::Missing)
        );
        // `false` takes wrk's arguments, writes nothing and exits 1.
        let Err(WrkFailed::Failed(why)) = run_wrk("false", url, &load) else {
            panic!("`false` measured something");
        };
        assert!(why.contains("exit status: 1"), "{why}");
        assert!(why.ends_with("no rate: it wrote nothing"), "{why}");
    }
}
