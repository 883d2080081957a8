//! Which CPUs a process may run on (`sched_setaffinity`): the cores axis pins the crawler to k
//! cores and the test server to the others, so that the two do not share a core and what is
//! measured is the crawler's scaling.

use std::io;

use nix::{
    sched::{CpuSet, sched_getaffinity, sched_setaffinity},
    unistd::Pid,
};

/// The CPUs this process may run on now, in ascending order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0))?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect())
}

/// Pins the calling thread, and every thread it starts from now on, to `cpus`. Called first
/// thing in `main`, it pins the whole process.
pub fn pin_to(cpus: &[usize]) -> io::Result<()> {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)
            .map_err(|_| io::Error::other(format!("CPU {cpu} is beyond what this OS can name")))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set)?;
    Ok(())
}

/// Parses a CPU list as `taskset -c` and `/sys` write them: `0`, `0-3`, `0,2,4-7`.
pub fn parse_cpus(text: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number = |n: &str| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("{n:?} in the CPU list {text:?} is not a CPU number"))
        };
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (number(lo)?, number(hi)?);
                if lo > hi {
                    return Err(format!("{part:?} in the CPU list {text:?} is backwards"));
                }
                cpus.extend(lo..=hi);
            }
            None => cpus.push(number(part)?),
        }
    }
    if cpus.len() > CpuSet::count() || cpus.iter().any(|&cpu| cpu >= CpuSet::count()) {
        return Err(format!(
            "the CPU list {text:?} names CPUs beyond {}",
            CpuSet::count() - 1
        ));
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// A CPU list given on the command line (`--cpus 0-3`), as [`parse_cpus`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

impl std::str::FromStr for CpuList {
    type Err = String;

    fn from_str(text: &str) -> Result<CpuList, String> {
        parse_cpus(text).map(CpuList)
    }
}

/// Writes a CPU list in the form [`parse_cpus`] reads, ranges folded: `0-3,6`.
pub fn format_cpus(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        parts.push(if cpus[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", cpus[i])
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(parse_cpus("0,2,4-6"), Ok(vec![0, 2, 4, 5, 6]));
        assert_eq!(format_cpus(&[0, 2, 4, 5, 6]), "0,2,4-6");
        assert_eq!(format_cpus(&[1]), "1");
        assert!(parse_cpus("3-1").is_err());
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("100000").is_err());
    }

    #[test]
    fn a_thread_pinned_to_one_allowed_cpu_runs_only_there() {
        let allowed = allowed_cpus().expect("the affinity mask");
        assert!(!allowed.is_empty());
        let first = allowed[0];
        // A thread of its own, so the test harness's other threads keep their mask.
        std::thread::spawn(move || {
            pin_to(&[first]).expect("pinning to an allowed CPU");
            assert_eq!(allowed_cpus().unwrap(), [first]);
            assert_eq!(
                std::thread::available_parallelism()
                    .map(usize::from)
                    .unwrap(),
                1,
                "available_parallelism follows the mask"
            );
        })
        .join()
        .unwrap();
    }
}
