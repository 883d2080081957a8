//! The reference rows: the same crawler written outside Rust, in what readers of the lecture
//! would otherwise use — its own final form in Python asyncio (`scripts/peers/python/crawl.py`)
//! and goroutines in Go (`scripts/peers/go/`).
//!
//! They are not strategies of this workspace (nothing in them drives `c10k-core`), but they
//! follow the core's rules and take the arguments of `c10k crawl` that a sweep passes (root
//! URL, `--concurrency`, `--timeout-ms`, `--max-tries`, `--max-redirects`, `--max-body`,
//! `--json`, `--urls-out`), print the same JSON report with the same `process` figures, and
//! write the same `--urls-out` lines; `tests/peers.rs` checks them on the test site.
//!
//! [`command`] finds what a peer needs — `python3` 3.9 or later, or `go` to build the Go one
//! into the target directory — and says in one line why not when it is missing, so that a
//! machine without them runs everything else as before.

use std::{
    fs, io,
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

/// A crawler written outside this workspace, run beside the Rust strategies for reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// Worker coroutines on an `asyncio.Queue`: the lecture's final crawler, that of "A Web
    /// Crawler With asyncio Coroutines" (Davis and van Rossum, in *500 Lines or Less*).
    PythonAsyncio,
    /// Goroutine workers with blocking sockets, on a frontier under a mutex.
    Go,
}

impl Peer {
    /// Every peer.
    pub const ALL: &[Peer] = &[Peer::PythonAsyncio, Peer::Go];

    /// The name in reports (the `strategy` of its JSON report).
    pub fn name(self) -> &'static str {
        match self {
            Peer::PythonAsyncio => "python-asyncio",
            Peer::Go => "go",
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The oldest Python the asyncio crawler runs on.
const MIN_PYTHON: (u32, u32) = (3, 9);

/// Where the peers' sources are: `scripts/peers` of this workspace.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers")
}

/// A command that runs `peer`, ready to take the crawl's arguments, or one line saying why it
/// cannot run here ("python3 not found", "go not found", a failed build).
///
/// The Go crawler is built into `<target_dir>/peers/go-crawler` the first time, and again
/// only when a source file is newer than the binary.
pub fn command(peer: Peer, target_dir: &Path) -> Result<Command, String> {
    match peer {
        Peer::PythonAsyncio => python(),
        Peer::Go => go(target_dir).map(Command::new),
    }
}

fn python() -> Result<Command, String> {
    let output = Command::new("python3")
        .arg("--version")
        .output()
        .map_err(|err| not_found("python3", &err))?;
    // Pythons before 3.4 print their version on stderr.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let version = text
        .trim()
        .strip_prefix("Python ")
        .and_then(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .ok_or_else(|| format!("python3 --version said {:?}", text.trim()))?;
    if version < MIN_PYTHON {
        return Err(format!(
            "python3 is {}.{}, older than {}.{}",
            version.0, version.1, MIN_PYTHON.0, MIN_PYTHON.1
        ));
    }
    let mut command = Command::new("python3");
    command.arg(scripts_dir().join("python/crawl.py"));
    Ok(command)
}

/// The Go crawler's binary, built if it is missing or older than its sources.
fn go(target_dir: &Path) -> Result<PathBuf, String> {
    let source = scripts_dir().join("go");
    let out_dir = target_dir.join("peers");
    let binary = out_dir.join("go-crawler");
    let built = modified(&binary);
    let newest_source = fs::read_dir(&source)
        .and_then(|entries| {
            entries
                .map(|entry| entry.and_then(|e| e.metadata()?.modified()))
                .try_fold(SystemTime::UNIX_EPOCH, |newest, m| Ok(newest.max(m?)))
        })
        .map_err(|err| format!("cannot read {}: {err}", source.display()))?;
    if built.is_some_and(|built| built >= newest_source) {
        return Ok(binary);
    }
    let version = Command::new("go")
        .arg("version")
        .output()
        .map_err(|err| not_found("go", &err))?;
    if !version.status.success() {
        return Err(format!(
            "go version failed: {}",
            first_line(&version.stderr)
        ));
    }
    fs::create_dir_all(&out_dir)
        .map_err(|err| format!("cannot create {}: {err}", out_dir.display()))?;
    // Built beside the binary and renamed into place, so that two builds at once (tests in
    // parallel) never leave half a binary; the standard library only, so nothing is fetched.
    let partial = out_dir.join(format!("go-crawler.{}.partial", std::process::id()));
    let output = Command::new("go")
        .args(["build", "-o"])
        .arg(&partial)
        .arg(".")
        .current_dir(&source)
        .env("GOCACHE", out_dir.join("go-build-cache"))
        .env("GOPROXY", "off")
        .env("GOWORK", "off")
        .output()
        .map_err(|err| format!("cannot run go build: {err}"))?;
    if !output.status.success() {
        let _ = fs::remove_file(&partial);
        return Err(format!("go build failed: {}", first_line(&output.stderr)));
    }
    fs::rename(&partial, &binary)
        .map_err(|err| format!("cannot move the Go crawler into place: {err}"))?;
    Ok(binary)
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn not_found(program: &str, err: &io::Error) -> String {
    if err.kind() == io::ErrorKind::NotFound {
        format!("{program} not found")
    } else {
        format!("cannot run {program}: {err}")
    }
}

fn first_line(bytes: &[u8]) -> String {
    crate::first_line(&String::from_utf8_lossy(bytes))
        .unwrap_or("no output")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_reports_strategies() {
        assert_eq!(
            Peer::ALL.iter().map(|p| p.name()).collect::<Vec<_>>(),
            ["python-asyncio", "go"]
        );
    }

    #[test]
    fn the_sources_are_where_the_commands_look() {
        assert!(scripts_dir().join("python/crawl.py").is_file());
        assert!(scripts_dir().join("go/go.mod").is_file());
    }
}
