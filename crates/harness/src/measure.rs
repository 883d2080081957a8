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
    /// The CPU the process used while that many waited, as a share of one core: over the
    /// second half of the longest stretch the sampler saw them all in flight (the first half
    /// holds the last connects and sends), when it lasted at least
    /// [`WAITING_STRETCH_MS`] ms. `None` when it was shorter. The sampler's own thread is
    /// left out ([`crawl_cpu_seconds`]): its `getrusage` walks every thread of the process,
    /// which with 10,000 threads costs several percent of a core at 100 calls a second.
    #[serde(default)]
    pub waiting_cpu: Option<f64>,
}

/// The shortest stretch at the widest in-flight count over which
/// [`ProcessUsage::waiting_cpu`] is taken.
pub const WAITING_STRETCH_MS: u64 = 500;

/// CPU seconds (user + system) this process has used so far, all threads but the calling
/// one: called from a sampler thread, what the rest of the process (the crawl) has used.
pub fn crawl_cpu_seconds() -> f64 {
    use nix::time::{ClockId, clock_gettime};
    let all = process_usage().map_or(0.0, |usage| usage.user_s + usage.sys_s);
    let this_thread = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(0.0, |t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9);
    all - this_thread
}

/// The share of one core used over the second half of the longest stretch of `samples`
/// (`(seconds since start, CPU seconds, in flight)`, in order) at `widest` in flight, if that
/// stretch lasted at least [`WAITING_STRETCH_MS`].
pub fn waiting_cpu(samples: &[(f64, f64, u64)], widest: u64) -> Option<f64> {
    let mut best: Option<(usize, usize)> = None;
    let mut start = None;
    for (i, &(_, _, in_flight)) in samples.iter().enumerate() {
        match (in_flight == widest, start) {
            (true, None) => start = Some(i),
            (false, Some(from)) => {
                best = longer(samples, best, (from, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        best = longer(samples, best, (from, samples.len() - 1));
    }
    let (from, to) = best?;
    let (t0, _, _) = samples[from];
    let (t1, cpu1, _) = samples[to];
    if (t1 - t0) * 1000.0 < WAITING_STRETCH_MS as f64 {
        return None;
    }
    let middle = samples[from..=to]
        .iter()
        .find(|&&(t, _, _)| t >= (t0 + t1) / 2.0)?;
    let (tm, cpum, _) = *middle;
    // Two clocks of different grain (getrusage's and the thread's) can leave a few µs below
    // zero on an idle process: none is none.
    (t1 > tm).then(|| ((cpu1 - cpum) / (t1 - tm)).max(0.0))
}

fn longer(
    samples: &[(f64, f64, u64)],
    best: Option<(usize, usize)>,
    candidate: (usize, usize),
) -> Option<(usize, usize)> {
    let span = |(a, b): (usize, usize)| samples[b].0 - samples[a].0;
    match best {
        Some(best) if span(best) >= span(candidate) => Some(best),
        _ => Some(candidate),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples every 10 ms: `in_flight(i)` fetches in flight, `cpu(i)` CPU seconds so far.
    fn samples(
        n: usize,
        in_flight: impl Fn(usize) -> u64,
        cpu: impl Fn(usize) -> f64,
    ) -> Vec<(f64, f64, u64)> {
        (0..n)
            .map(|i| (i as f64 * 0.01, cpu(i), in_flight(i)))
            .collect()
    }

    #[test]
    fn waiting_cpu_is_taken_over_the_second_half_of_the_longest_stretch_at_the_widest() {
        // A ramp (busy: a core), 1 s at 100 in flight (busy for its first 0.2 s, then 1% of a
        // core), a dip, 0.3 s at 100 again (busy), the end.
        let in_flight = |i: usize| match i {
            0..10 => i as u64 * 10,
            10..110 => 100,
            110..115 => 90,
            115..145 => 100,
            _ => 0,
        };
        let mut cpu = vec![0.0];
        for i in 1..160 {
            let busy = !(30..110).contains(&i);
            cpu.push(cpu[i - 1] + if busy { 0.01 } else { 0.0001 });
        }
        let share = waiting_cpu(&samples(160, in_flight, |i| cpu[i]), 100).unwrap();
        assert!((share - 0.01).abs() < 1e-9, "{share}");
    }

    #[test]
    fn a_short_stretch_gives_no_waiting_cpu() {
        let s = samples(60, |i| if i < 40 { 100 } else { 0 }, |i| i as f64);
        assert_eq!(waiting_cpu(&s, 100), None, "0.39 s at the widest");
        assert_eq!(waiting_cpu(&[], 0), None);
    }
}
