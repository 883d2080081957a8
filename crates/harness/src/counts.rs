//! What a page costs in instructions and system calls: counts that, unlike wall time, do not
//! wander with what else the machine is doing.
//!
//! - **System calls**: the `raw_syscalls:sys_enter` tracepoint, counted by `perf stat` over the
//!   crawler process and all its threads.
//! - **Instructions**: the CPU's own counters through `perf stat` (user and kernel apart) where
//!   the machine exposes them; where it does not (most virtual machines answer `<not
//!   supported>`), `valgrind --tool=callgrind`, which counts user-space instructions exactly
//!   and the same from run to run (the crawl runs some 50 times slower under it, so the counts
//!   are taken in runs of their own, never in the timed ones).
//!
//! Each count covers the whole `c10k crawl` process, start-up included; on a crawl of a few
//! thousand pages that is a small share. Count against a separate `c10k serve`: the embedded
//! site would count the server too. A tool that is missing skips its count, with a one-line
//! note saying so.
//!
//! [`count_wrk`] counts `wrk` the same way, per request it completed: the reference for a
//! crawl's counts, closing connections and keeping them.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde::{Deserialize, Serialize};

/// Which counters this machine offers, each `Err` with the reason it does not.
#[derive(Debug, Clone)]
pub struct Counters {
    /// `perf stat -e raw_syscalls:sys_enter`.
    pub syscalls: Result<(), String>,
    /// `perf stat -e instructions:u,instructions:k` (hardware counters).
    pub hardware: Result<(), String>,
    /// `valgrind --tool=callgrind`.
    pub callgrind: Result<(), String>,
}

impl Counters {
    /// Finds out, by counting `true` once with each tool.
    pub fn probe() -> Counters {
        let syscalls = perf_stat(&["raw_syscalls:sys_enter"], &["true"]).and_then(|values| {
            match values.first() {
                Some(Some(_)) => Ok(()),
                _ => Err("perf cannot count raw_syscalls:sys_enter here".to_owned()),
            }
        });
        let hardware =
            perf_stat(&["instructions:u", "instructions:k"], &["true"]).and_then(|values| {
                if values.len() == 2 && values.iter().all(Option::is_some) {
                    Ok(())
                } else {
                    Err("no hardware instruction counters (perf: <not supported>)".to_owned())
                }
            });
        let callgrind = Command::new("valgrind")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|_| "valgrind is not installed".to_owned())
            .and_then(|status| {
                status
                    .success()
                    .then_some(())
                    .ok_or_else(|| "valgrind --version failed".to_owned())
            });
        Counters {
            syscalls,
            hardware,
            callgrind,
        }
    }

    /// One line per count this machine cannot take, for the notes of a sweep.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Err(why) = &self.syscalls {
            notes.push(format!(
                "system calls per page not counted: {why} (install linux-perf)"
            ));
        }
        if let (Err(hw), Err(cg)) = (&self.hardware, &self.callgrind) {
            notes.push(format!(
                "instructions per page not counted: {hw}, and {cg} (install valgrind)"
            ));
        }
        notes
    }
}

/// What one counted crawl cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Count {
    /// Responses the crawl received (the unit of "per page").
    pub responses: usize,
    /// System calls of the whole process.
    pub syscalls: Option<u64>,
    /// Instructions in user space.
    pub user_instructions: Option<u64>,
    /// Instructions in the kernel (hardware counters only).
    pub kernel_instructions: Option<u64>,
    /// What counted the instructions: `perf` or `callgrind`.
    pub instructions_by: Option<String>,
    /// A crawl's connections, from its report (none for `wrk`).
    #[serde(default)]
    pub connections: Option<c10k_core::Connections>,
}

/// What a counted command's output says it did: its responses, and a crawl's connections.
type Done = (usize, Option<c10k_core::Connections>);

impl Count {
    /// `value / responses`.
    pub fn per_response(&self, value: Option<u64>) -> Option<f64> {
        value.map(|v| v as f64 / self.responses.max(1) as f64)
    }

    /// A human summary, one line per count.
    pub fn describe(&self) -> String {
        let mut text = format!("{} responses\n", self.responses);
        let mut line = |what: &str, value: Option<u64>| match value {
            Some(v) => text.push_str(&format!(
                "{what}: {v} ({:.1} per response)\n",
                v as f64 / self.responses.max(1) as f64
            )),
            None => text.push_str(&format!("{what}: not counted\n")),
        };
        line("system calls", self.syscalls);
        let by = self.instructions_by.as_deref().unwrap_or("-");
        line(
            &format!("user-space instructions ({by})"),
            self.user_instructions,
        );
        if self.kernel_instructions.is_some() {
            line("kernel instructions (perf)", self.kernel_instructions);
        }
        text
    }
}

/// Counts one crawl: `bin crawl CRAWL_ARGS --json`, once under `perf stat` (system calls, and
/// instructions where the hardware counts them), and once more under callgrind when it does
/// not. Fails when the crawl itself fails.
pub fn count(bin: &Path, crawl_args: &[String], counters: &Counters) -> Result<Count, String> {
    let mut crawl: Vec<String> = vec![bin.display().to_string(), "crawl".to_owned()];
    crawl.extend(crawl_args.iter().cloned());
    crawl.push("--json".to_owned());
    count_command(&crawl, &responses_of, counters)
}

/// Counts `wrk` with `wrk_args` ([`crate::loadgen::WrkLoad::args`]) the same way, per request
/// it completed: the reference a crawl's counts are read against. Fails when wrk does.
pub fn count_wrk(wrk_args: &[String], counters: &Counters) -> Result<Count, String> {
    let mut command = vec!["wrk".to_owned()];
    command.extend(wrk_args.iter().cloned());
    count_command(&command, &wrk_requests, counters)
}

/// The requests a `wrk` run completed, from its report.
fn wrk_requests(output: &std::process::Output) -> Result<Done, String> {
    let report = String::from_utf8_lossy(&output.stdout);
    crate::loadgen::parse_wrk(&report)
        .and_then(|(_, requests)| requests)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0)
        .map(|n| (n, None))
        .ok_or_else(|| format!("wrk reported no requests ({})", output.status))
}

/// Counts `command`, whose responses `done` reads from its output.
fn count_command(
    command: &[String],
    done: &dyn Fn(&std::process::Output) -> Result<Done, String>,
    counters: &Counters,
) -> Result<Count, String> {
    let mut count = Count::default();

    let mut events = Vec::new();
    if counters.syscalls.is_ok() {
        events.push("raw_syscalls:sys_enter");
    }
    if counters.hardware.is_ok() {
        events.extend(["instructions:u", "instructions:k"]);
    }
    if !events.is_empty() {
        let (values, output) = perf_run(&events, command)?;
        (count.responses, count.connections) = done(&output)?;
        let mut values = values.into_iter();
        if counters.syscalls.is_ok() {
            count.syscalls = values.next().flatten();
        }
        if counters.hardware.is_ok() {
            count.user_instructions = values.next().flatten();
            count.kernel_instructions = values.next().flatten();
            count.instructions_by = Some("perf".to_owned());
        }
    }
    if counters.hardware.is_err() && counters.callgrind.is_ok() {
        let (instructions, (responses, connections)) = callgrind_run(command, done)?;
        count.user_instructions = Some(instructions);
        count.instructions_by = Some("callgrind".to_owned());
        if count.responses == 0 {
            (count.responses, count.connections) = (responses, connections);
        }
    }
    Ok(count)
}

/// A file of our own in the temporary folder, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(what: &str) -> TempFile {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempFile(std::env::temp_dir().join(format!("c10k-{what}-{}-{n}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// `perf stat -x, -e EVENTS -o FILE -- COMMAND`: one value per event (`None` where perf says
/// `<not supported>` or `<not counted>`), and the command's output.
fn perf_run<S: AsRef<std::ffi::OsStr>>(
    events: &[&str],
    command: &[S],
) -> Result<(Vec<Option<u64>>, std::process::Output), String> {
    let out = TempFile::new("perf");
    let output = Command::new("perf")
        .args(["stat", "-x,", "-e", &events.join(","), "-o"])
        .arg(&out.0)
        .arg("--")
        .args(command)
        .stdin(Stdio::null())
        .output()
        .map_err(|_| "perf is not installed".to_owned())?;
    let text = fs::read_to_string(&out.0)
        .map_err(|e| format!("perf wrote no counts ({e}), exit {}", output.status))?;
    Ok((parse_perf(&text, events)?, output))
}

/// [`perf_run`] for the counts alone.
fn perf_stat(events: &[&str], command: &[&str]) -> Result<Vec<Option<u64>>, String> {
    perf_run(events, command).map(|(values, _)| values)
}

/// The values of `events` in `perf stat -x,` output, in the order asked.
fn parse_perf(text: &str, events: &[&str]) -> Result<Vec<Option<u64>>, String> {
    events
        .iter()
        .map(|event| {
            let line = text
                .lines()
                .find(|line| line.split(',').nth(2) == Some(*event))
                .ok_or_else(|| format!("perf did not report {event}"))?;
            Ok(line.split(',').next().and_then(|v| v.trim().parse().ok()))
        })
        .collect()
}

/// `command` under callgrind: its user-space instructions, and what it did.
fn callgrind_run(
    command: &[String],
    done: &dyn Fn(&std::process::Output) -> Result<Done, String>,
) -> Result<(u64, Done), String> {
    let (log, profile) = (
        TempFile::new("callgrind-log"),
        TempFile::new("callgrind-out"),
    );
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--log-file={}", log.0.display()))
        .arg(format!("--callgrind-out-file={}", profile.0.display()))
        .args(command)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    let done = done(&output)?;
    let text = fs::read_to_string(&log.0).map_err(|e| format!("callgrind's log: {e}"))?;
    Ok((parse_callgrind(&text)?, done))
}

/// `==PID== Collected : 48512345` from callgrind's log.
fn parse_callgrind(text: &str) -> Result<u64, String> {
    text.lines()
        .find_map(|line| {
            line.split_once("Collected :")
                .map(|(_, n)| n.trim().to_owned())
        })
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| "callgrind reported no instruction count".to_owned())
}

/// The first line of a crawl's arguments that `c10k crawl` refused (it exits 2 for those).
pub const BAD_ARGUMENTS: &str = "bad crawl arguments: ";

/// The responses and connections in a `c10k crawl --json` child's report, or why there is
/// none.
fn responses_of(output: &std::process::Output) -> Result<Done, String> {
    #[derive(Deserialize)]
    struct Fetched {
        fetched: usize,
        #[serde(default)]
        connections: c10k_core::Connections,
    }
    let failure = || {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = stderr.lines().find(|l| l.starts_with("error:"));
        let line = line.unwrap_or("no report").trim_start_matches("error: ");
        if output.status.code() == Some(2) {
            format!("{BAD_ARGUMENTS}{line}")
        } else {
            format!("the counted crawl failed: {line}")
        }
    };
    if !output.status.success() {
        return Err(failure());
    }
    serde_json::from_slice::<Fetched>(&output.stdout)
        .map(|report| (report.fetched, Some(report.connections)))
        .map_err(|_| failure())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_csv_values_are_read_by_event() {
        let text = "# started on Fri Nov 27\n\n21564,,raw_syscalls:sys_enter,122126327,100.00,,\n\
                    <not supported>,,instructions:k,0,100.00,,\n";
        assert_eq!(
            parse_perf(text, &["raw_syscalls:sys_enter", "instructions:k"]),
            Ok(vec![Some(21564), None])
        );
        assert!(parse_perf(text, &["cycles"]).is_err());
    }

    #[test]
    fn callgrind_total_is_read_from_its_log() {
        let log = "==13890== Events    : Ir\n==13890== Collected : 96591085\n==13890==\n";
        assert_eq!(parse_callgrind(log), Ok(96_591_085));
        assert!(parse_callgrind("==1== nothing\n").is_err());
    }
}
