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
//! - **Where the instructions go** ([`Split`]): callgrind's profile of the same run gives the
//!   instructions spent inside the core's entry points that every page goes through (reading
//!   the response, the page and its links, the frontier), each with all it calls; what is
//!   left is the model's own (its loop, threads or tasks, the user side of its system calls),
//!   start-up and the report aside. Taken wherever valgrind is installed, hardware counters
//!   or not: it says how much of a crawler's cost over `wrk`'s is which.
//!
//! Each count covers the whole `c10k crawl` process, start-up included; on a crawl of a few
//! thousand pages that is a small share. Count against a separate `c10k serve`: the embedded
//! site would count the server too. A tool that is missing skips its count, with a one-line
//! note saying so.
//!
//! [`count_wrk`] counts `wrk` the same way, per request it completed: the reference for a
//! crawl's counts, closing connections and keeping them.

use std::{
    collections::HashMap,
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
    /// Where a crawl's user-space instructions went (callgrind; none for `wrk`).
    #[serde(default)]
    pub split: Option<Split>,
}

/// Where a counted crawl's user-space instructions went, from its callgrind profile: each
/// part is the instructions inside the functions named beside it, with everything they call
/// (the allocator too). A page goes through each of the core's parts once or so, in every
/// strategy, so they are the same work in every model; what is left is the model's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// The whole process, as the profile counts it.
    pub total: u64,
    /// Outside the crawl: the process's start-up, reading its arguments, writing the report
    /// out ([`MAIN`] but [`CRAWL`], and the dynamic loader, [`LOADER`]).
    pub outside: u64,
    /// Reading responses: [`RESPONSE`] (framing, the head, the body).
    pub response: u64,
    /// The page: [`PAGE`] (its charset, its links and the URLs they resolve to).
    pub page: u64,
    /// The frontier: [`FRONTIER`] (handing out URLs, and taking in outcomes: the seen set,
    /// queues, robots.txt, politeness, records).
    pub frontier: u64,
    /// The report, once the crawl is over: [`REPORT`].
    pub report: u64,
}

impl Split {
    /// What the parts leave: the model's own work (setting up, its loop, wake-ups, threads or
    /// tasks, the user side of its system calls, the connection pool, the request's bytes).
    pub fn model(&self) -> u64 {
        self.total
            .saturating_sub(self.outside + self.response + self.page + self.frontier + self.report)
    }
}

/// The binary's `main`, whose thread starts the crawl and writes its report out.
pub const MAIN: &[&str] = &["c10k::main"];
/// A whole crawl, as `c10k crawl` runs any strategy, on the main thread (the threads it
/// starts run under their own roots, and count as the model's).
pub const CRAWL: &[&str] = &["c10k_harness::strategy::run"];
/// The dynamic loader, before `main` (when its symbols are in the profile).
pub const LOADER: &[&str] = &["_dl_start"];
/// The core's entry point for a response's bytes.
pub const RESPONSE: &[&str] = &["c10k_core::response::ResponseReader::feed"];
/// The core's entry point for a finished fetch's page.
pub const PAGE: &[&str] = &["c10k_core::crawler::Fetch::finish"];
/// The frontier's entry points: a URL handed out, an outcome taken in.
pub const FRONTIER: &[&str] = &[
    "c10k_core::crawler::Crawler::next_fetch",
    "c10k_core::crawler::Crawler::complete",
];
/// The report: the shards' records merged into one (which takes each shard's), or for a
/// crawl of one crawler its own; the first the profile names.
pub const REPORT: &[&str] = &[
    "c10k_core::shard::Shard::merge",
    "c10k_core::crawler::Crawler::into_report",
];

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
        if let Some(split) = &self.split {
            line(
                "of callgrind's count, reading responses",
                Some(split.response),
            );
            line("  the page and its links", Some(split.page));
            line("  the frontier", Some(split.frontier));
            line("  the model's own", Some(split.model()));
            line("  the report", Some(split.report));
            line("  outside the crawl (start-up)", Some(split.outside));
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
    // Under callgrind wherever it is installed: its instructions where the hardware counts
    // none, and where they went in any case.
    if counters.callgrind.is_ok() {
        let (instructions, (responses, connections), split) = callgrind_run(command, done)?;
        if counters.hardware.is_err() {
            count.user_instructions = Some(instructions);
            count.instructions_by = Some("callgrind".to_owned());
        }
        count.split = split;
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

/// `command` under callgrind: its user-space instructions, what it did, and for a crawl
/// where its instructions went (`None` for a command without the core's entry points, or a
/// profile that could not be read).
fn callgrind_run(
    command: &[String],
    done: &dyn Fn(&std::process::Output) -> Result<Done, String>,
) -> Result<(u64, Done, Option<Split>), String> {
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
    let total = parse_callgrind(&text)?;
    let split = fs::read_to_string(&profile.0)
        .ok()
        .and_then(|profile| split_of(&profile, total));
    Ok((total, done, split))
}

/// The [`Split`] of a profile whose process counted `total` instructions; `None` if the
/// core's entry points are not all in it (not a crawl, or a binary without their symbols).
fn split_of(profile: &str, total: u64) -> Option<Split> {
    let parts = [MAIN, CRAWL, LOADER, RESPONSE, PAGE, FRONTIER, REPORT];
    let names: Vec<&str> = parts.iter().flat_map(|part| part.iter().copied()).collect();
    let inclusive = inclusive_costs(profile, &names);
    let every = |names: &[&str]| -> Option<u64> {
        names.iter().map(|name| inclusive.get(name).copied()).sum()
    };
    let first = |names: &[&str]| names.iter().find_map(|name| inclusive.get(name).copied());
    Some(Split {
        total,
        outside: every(MAIN)?.checked_sub(every(CRAWL)?)? + first(LOADER).unwrap_or(0),
        response: every(RESPONSE)?,
        page: every(PAGE)?,
        frontier: every(FRONTIER)?,
        report: first(REPORT)?,
    })
}

/// The inclusive cost of each of `names` in a callgrind profile (the format of
/// `callgrind.out` files, one event counted): the cost of its own lines and of every call it
/// makes to another function. A function the profile never names is left out.
///
/// The parts of the format read here: `positions:` (how many fields a line's position takes),
/// `fn=` (the function the lines below belong to) and `cfn=` (the one the next `calls=` line
/// calls), each `(id) name` the first time and `(id)` after, the two sharing their ids; a
/// cost line, `POSITION COST`; and `calls=COUNT TARGET`, after which one cost line holds the
/// call's inclusive cost. A call a function makes to itself is not added again.
fn inclusive_costs<'p, 'a>(profile: &'p str, names: &[&'a str]) -> HashMap<&'a str, u64> {
    let mut named: HashMap<&'p str, &'p str> = HashMap::new();
    // `(id) name` names the id; `(id)` is its name; a name alone is uncompressed.
    let mut resolve = |spec: &'p str| -> &'p str {
        let spec = spec.trim();
        match spec.strip_prefix('(').and_then(|rest| rest.split_once(')')) {
            Some((id, "")) => named.get(id).copied().unwrap_or_default(),
            Some((id, name)) => {
                let name = name.trim();
                named.insert(id, name);
                name
            }
            None => spec,
        }
    };
    let mut positions = 1;
    let mut costs: HashMap<&'a str, u64> = HashMap::new();
    let mut current: Option<&'a str> = None;
    let mut callee = "";
    let mut call_follows = false;
    for line in profile.lines() {
        if let Some(fields) = line.strip_prefix("positions:") {
            positions = fields.split_ascii_whitespace().count().max(1);
        } else if let Some(spec) = line.strip_prefix("fn=") {
            let name = resolve(spec);
            current = names.iter().copied().find(|&wanted| wanted == name);
        } else if let Some(spec) = line.strip_prefix("cfn=") {
            callee = resolve(spec);
        } else if line.starts_with("calls=") {
            call_follows = true;
        } else if line.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '*')) {
            let is_call = std::mem::take(&mut call_follows);
            let Some(function) = current else {
                continue;
            };
            if is_call && callee == function {
                continue;
            }
            let cost = line
                .split_ascii_whitespace()
                .nth(positions)
                .and_then(|cost| cost.parse::<u64>().ok())
                .unwrap_or(0);
            *costs.entry(function).or_default() += cost;
        }
    }
    costs
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

    /// A profile in callgrind's format, compressed names and all: `main` calls `feed` twice
    /// and `finish` once; `feed` calls `memcpy` and itself; `finish` is first named by the
    /// call to it.
    const PROFILE: &str = "# callgrind format\nversion: 1\npositions: line\nevents: Ir\n\
        summary: 1000\n\n\
        ob=(1) /bin/c10k\nfl=(1) ???\nfn=(1) main\n0 100\n\
        cfn=(2) c10k_core::response::ResponseReader::feed\ncalls=2 0\n0 300\n\
        cfn=(3) c10k_core::crawler::Fetch::finish\ncalls=1 0\n+2 250\n\n\
        fn=(2)\n0 200\n+1 40\n\
        cfn=(4) memcpy\ncalls=2 0\n* 60\n\
        cfn=(2)\ncalls=1 0\n0 75\n\n\
        ob=(2) /lib/libc.so.6\nfn=(4)\n0 60\n\n\
        ob=(1)\nfn=(3)\n-1 250\n\
        totals: 1000\n";

    #[test]
    fn inclusive_costs_add_a_functions_lines_and_its_calls() {
        let names = [
            "c10k_core::response::ResponseReader::feed",
            "c10k_core::crawler::Fetch::finish",
            "memcpy",
            "c10k_core::crawler::Crawler::complete",
        ];
        let costs = inclusive_costs(PROFILE, &names);
        // Its own 240, memcpy's 60; the call to itself is within its own lines already.
        assert_eq!(costs.get(names[0]), Some(&300));
        assert_eq!(costs.get(names[1]), Some(&250));
        assert_eq!(costs.get(names[2]), Some(&60));
        assert_eq!(costs.get(names[3]), None, "never named");
    }

    #[test]
    fn a_split_needs_every_entry_point_of_the_core() {
        assert_eq!(split_of(PROFILE, 1000), None, "no frontier, no report");
        let profile = format!(
            "{PROFILE}fn=(5) c10k_harness::strategy::run\n0 10\n\
             cfn=(1)\ncalls=1 0\n0 900\n\
             fn=(10) c10k::main\n0 80\ncfn=(5)\ncalls=1 0\n0 910\n\
             fn=(6) c10k_core::crawler::Crawler::next_fetch\n0 30\n\
             fn=(7) c10k_core::crawler::Crawler::complete\n0 70\n\
             fn=(8) c10k_core::crawler::Crawler::into_report\n0 50\n"
        );
        let split = split_of(&profile, 1000).expect("every part");
        assert_eq!((split.outside, split.response, split.page), (80, 300, 250));
        assert_eq!((split.frontier, split.report), (100, 50));
        assert_eq!(split.model(), 220);
        // A crawl of shards: their merge holds each shard's report, and is the report.
        let sharded = format!(
            "{profile}fn=(9) c10k_core::shard::Shard::merge\n0 20\ncfn=(8)\ncalls=1 0\n0 50\n"
        );
        let split = split_of(&sharded, 1000).expect("every part");
        assert_eq!((split.report, split.model()), (70, 200));
    }

    #[test]
    fn callgrind_total_is_read_from_its_log() {
        let log = "==13890== Events    : Ir\n==13890== Collected : 96591085\n==13890==\n";
        assert_eq!(parse_callgrind(log), Ok(96_591_085));
        assert!(parse_callgrind("==1== nothing\n").is_err());
    }
}
