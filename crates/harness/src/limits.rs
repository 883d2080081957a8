//! The process limits a measurement runs into: open files, and the descriptors held now.

use std::io;

/// What [`raise_fd_limit`] found and left: the soft limit before, and the limit now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit this process started with.
    pub was: u64,
    /// The soft limit now: the hard limit, which only root can raise.
    pub now: u64,
}

impl FdLimit {
    /// One line for a human when the limit was raised, e.g. `open-file limit raised from 1024
    /// to 20000`; `None` when it already was at its hard limit.
    pub fn note(&self) -> Option<String> {
        (self.was < self.now)
            .then(|| format!("open-file limit raised from {} to {}", self.was, self.now))
    }
}

/// Raises this process's soft open-file limit to its hard limit.
///
/// Every connection costs a descriptor in the crawler and another in the server, and the usual
/// soft limit (1024) is far below C10K.
pub fn raise_fd_limit() -> io::Result<FdLimit> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(FdLimit {
        was: soft,
        now: hard,
    })
}

/// Descriptors this process has open now (Linux: the entries of `/proc/self/fd`).
pub fn open_fds() -> io::Result<usize> {
    // The directory handle itself is one of the entries while it is being read.
    Ok(std::fs::read_dir("/proc/self/fd")?
        .count()
        .saturating_sub(1))
}
