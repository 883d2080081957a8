//! The test server in a process of its own, so the crawler's numbers are the crawler's.

use std::{
    fs,
    io::{self, BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
};

use crate::plan::Site;

/// A `c10k serve` child process; killed when dropped (and its CA file removed).
pub struct ServerProcess {
    child: Child,
    /// `http://IP:PORT/`, or `https://IP:PORT/` over TLS.
    pub url: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Over TLS: the PEM file of the server's CA (`serve --ca-out`), for the crawler's
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// With chaos: the file of the outcomes a crawl must end with, in `--urls-out`'s form
    /// (`serve --expected-urls`).
    pub expected_urls: Option<PathBuf>,
}

/// `serve --chaos`: a share of the requests meet a fault, drawn from the seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chaos {
    /// The share of requests, in [0, 1].
    pub rate: f64,
    /// The draw's seed.
    pub seed: u64,
    /// The crawl's `--max-tries`, which the expected outcomes follow.
    pub max_tries: u32,
}

impl ServerProcess {
    /// Starts `bin serve` for `site` at `pages` pages and waits for its address.
    pub fn start(bin: &Path, site: &Site, pages: usize) -> io::Result<ServerProcess> {
        ServerProcess::start_on(bin, site, pages, None, 1, false, None)
    }

    /// [`ServerProcess::start`] over TLS (`serve --tls`): its CA is written to a file of
    /// our own, [`ServerProcess::ca_file`].
    pub fn start_tls(bin: &Path, site: &Site, pages: usize) -> io::Result<ServerProcess> {
        ServerProcess::start_on(bin, site, pages, None, 1, true, None)
    }

    /// [`ServerProcess::start`] on `threads` runtime threads, pinned to `cpus` if given, over
    /// TLS if `tls`, failing a share of its requests if `chaos`.
    pub fn start_on(
        bin: &Path,
        site: &Site,
        pages: usize,
        cpus: Option<&[usize]>,
        threads: usize,
        tls: bool,
        chaos: Option<Chaos>,
    ) -> io::Result<ServerProcess> {
        let mut command = Command::new(bin);
        command.args(["serve", "--threads", &threads.to_string()]);
        if let Some(cpus) = cpus {
            command.args(["--cpus", &crate::affinity::format_cpus(cpus)]);
        }
        // Named by this process and a count: servers of one sweep follow one another, and
        // two sweeps at once do not share a file.
        let ca_file = tls.then(|| {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            std::env::temp_dir().join(format!("c10k-ca-{}-{n}.pem", std::process::id()))
        });
        if let Some(path) = &ca_file {
            command.arg("--tls").arg("--ca-out").arg(path);
        }
        let expected_urls = chaos.map(|chaos| {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("c10k-expected-{}-{n}.txt", std::process::id()));
            command
                .args(["--chaos", &chaos.rate.to_string()])
                .args(["--seed", &chaos.seed.to_string()])
                .args(["--max-tries", &chaos.max_tries.to_string()])
                .arg("--expected-urls")
                .arg(&path);
            path
        });
        let mut child = command
            .args([
                "--pages",
                &pages.to_string(),
                "--links",
                &site.links.to_string(),
            ])
            .args([
                "--page-bytes",
                &site.page_bytes.to_string(),
                "--delay-ms",
                &site.delay_ms.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let mut server = ServerProcess {
            child,
            url: String::new(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            ca_file,
            expected_urls,
        };
        // From here on, a failure drops `server`: the child is killed, its CA file removed.
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            return Err(io::Error::other(format!(
                "c10k serve did not announce its address: {line:?}"
            )));
        };
        server.url = url.to_owned();
        server.addr = address_of(url, tls)?;
        Ok(server)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The address in an announced URL, `http://IP:PORT/` (or `https://` if `tls`).
fn address_of(url: &str, tls: bool) -> io::Result<SocketAddr> {
    let scheme = if tls { "https://" } else { "http://" };
    let Some(rest) = url.strip_prefix(scheme) else {
        return Err(io::Error::other(format!(
            "c10k serve announced {url}, not an {scheme} URL"
        )));
    };
    rest.trim_end_matches('/')
        .parse()
        .map_err(|e| io::Error::other(format!("bad address in {url}: {e}")))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for path in [&self.ca_file, &self.expected_urls].into_iter().flatten() {
            let _ = fs::remove_file(path);
        }
        // A chaos crawl's --urls-out, beside the expected outcomes (see the runner).
        if let Some(path) = &self.expected_urls {
            let _ = fs::remove_file(path.with_extension("crawled.txt"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_addresses_are_read_by_their_scheme() {
        let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        assert_eq!(address_of("https://127.0.0.1:8443/", true).unwrap(), addr);
        assert_eq!(address_of("http://127.0.0.1:8443/", false).unwrap(), addr);
        // A server that should speak TLS and announces http (or the other way) is refused.
        assert!(address_of("http://127.0.0.1:8443/", true).is_err());
        assert!(address_of("https://127.0.0.1:8443/", false).is_err());
        assert!(address_of("https://localhost/", true).is_err());
    }
}
