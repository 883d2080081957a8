//! The test server in a process of its own, so the crawler's numbers are the crawler's.

use std::{
    io::{self, BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
};

use crate::plan::Site;

/// A `c10k serve` child process; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://IP:PORT/`.
    pub url: String,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `bin serve` for `site` at `pages` pages and waits for its address.
    pub fn start(bin: &Path, site: &Site, pages: usize) -> io::Result<ServerProcess> {
        ServerProcess::start_on(bin, site, pages, None, 1)
    }

    /// [`ServerProcess::start`] on `threads` runtime threads, pinned to `cpus` if given.
    pub fn start_on(
        bin: &Path,
        site: &Site,
        pages: usize,
        cpus: Option<&[usize]>,
        threads: usize,
    ) -> io::Result<ServerProcess> {
        let mut command = Command::new(bin);
        command.args(["serve", "--threads", &threads.to_string()]);
        if let Some(cpus) = cpus {
            command.args(["--cpus", &crate::affinity::format_cpus(cpus)]);
        }
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
        let url = line.trim().strip_prefix("listening on ").map(str::to_owned);
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "c10k serve did not announce its address: {line:?}"
            )));
        };
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| io::Error::other(format!("bad address in {url}: {e}")))?;
        Ok(ServerProcess { child, url, addr })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
