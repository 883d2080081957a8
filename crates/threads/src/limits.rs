//! How many threads this process may still start: the limit the lecture says threads meet
//! before sockets do.

use std::io;

/// Memory mappings each thread adds: its stack and guard page, and the signal stack and guard
/// page std sets up when the thread starts.
const MAPS_PER_THREAD: usize = 4;

/// How many more threads this process can start before `vm.max_map_count` runs out (Linux), or
/// `None` when that cannot be read.
///
/// Past that limit the kernel refuses the mappings: a refused stack fails `spawn` cleanly, but
/// a refused signal stack fails inside the new thread, where std can only abort the process. So
/// the pool checks first, and reports "out of threads" as an error instead of a crash.
pub fn thread_headroom() -> Option<usize> {
    let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let used = std::fs::read_to_string("/proc/self/maps")
        .ok()?
        .lines()
        .count();
    // A margin for the mappings the crawl itself will make (heap growth, the allocator's arenas).
    Some(max.saturating_sub(used + 256) / MAPS_PER_THREAD)
}

/// Fails, with the reason, if `threads` more threads would not fit.
pub(crate) fn check_thread_headroom(threads: usize) -> io::Result<()> {
    match thread_headroom() {
        Some(headroom) if threads > headroom => Err(io::Error::other(format!(
            "out of threads: vm.max_map_count leaves room for about {headroom} more threads \
             ({MAPS_PER_THREAD} mappings each), not {threads}"
        ))),
        _ => Ok(()),
    }
}
