//! What a measurement needs to know besides the crawl's own report: how much CPU and memory a
//! process used, and which machine it ran on.

use std::{fs, io, process::Command};

use serde::{Deserialize, Serialize};

/// Resource usage of this process so far (`getrusage(RUSAGE_SELF)`, all threads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessUsage {
    /// CPU time in user mode, seconds.
    pub user_s: f64,
    /// CPU time in the kernel, seconds.
    pub sys_s: f64,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    /// Context switches because a thread waited (blocked on I/O, a lock, a sleep).
    pub voluntary_switches: u64,
    /// Context switches because the scheduler preempted a thread.
    pub involuntary_switches: u64,
    /// The most fetches in flight seen by the 10 ms sampler of `c10k crawl`.
    #[serde(default)]
    pub sampled_in_flight: u64,
    /// Resident memory when that many were in flight, KiB.
    #[serde(default)]
    pub rss_kib_at_widest: u64,
}

/// Reads this process's resource usage.
pub fn process_usage() -> io::Result<ProcessUsage> {
    usage_of(nix::sys::resource::UsageWho::RUSAGE_SELF)
}

/// Reads the resource usage of `who`: this process, or its children that were waited for.
pub fn usage_of(who: nix::sys::resource::UsageWho) -> io::Result<ProcessUsage> {
    let usage = nix::sys::resource::getrusage(who)?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(ProcessUsage {
        user_s: seconds(usage.user_time()),
        sys_s: seconds(usage.system_time()),
        max_rss_kib: u64::try_from(usage.max_rss()).unwrap_or_default(),
        voluntary_switches: u64::try_from(usage.voluntary_context_switches()).unwrap_or_default(),
        involuntary_switches: u64::try_from(usage.involuntary_context_switches())
            .unwrap_or_default(),
        ..ProcessUsage::default()
    })
}

/// Resident memory of this process now, KiB (from `/proc/self/statm`).
pub fn current_rss_kib() -> io::Result<u64> {
    let statm = fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other("unexpected /proc/self/statm"))?;
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    Ok(pages * page_size / 1024)
}

/// CPU seconds (user + system) another process has used so far, from `/proc/PID/stat`.
pub fn cpu_seconds_of(pid: u32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or_default()
    };
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    Ok((ticks(11) + ticks(12)) as f64 / per_second)
}

/// The machine a measurement ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// `rustc --version`, if rustc is on the path.
    pub rustc: String,
    /// Hard limit of open files per process.
    pub fd_limit: u64,
    /// `git rev-parse --short HEAD` of the working tree, if any.
    pub commit: String,
    /// When the measurement started, UTC.
    pub date: String,
}

/// Describes this machine.
pub fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, name)| name.trim().to_owned())
        .unwrap_or_default();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_default();
    let output = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        rustc: output("rustc", &["--version"]),
        fd_limit: nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(_, hard)| hard)
            .unwrap_or_default(),
        commit: output("git", &["rev-parse", "--short", "HEAD"]),
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    }
}

impl Machine {
    /// One line for a human: what the figures were measured on.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} cores, {} GiB), Linux {}, {}, open-file limit {}, commit {}, {}",
            self.cpu,
            self.cores,
            self.memory_gib,
            self.kernel,
            self.rustc,
            self.fd_limit,
            self.commit,
            self.date
        )
    }
}
