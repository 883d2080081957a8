//! The byte-tuning lesson (`docs/async-bytes.md`, `c10k_async::bytes`), measured: each step's
//! worker future (`size_of_val`) and the allocation tokio makes for its task, counted by an
//! allocator that wraps the system's. Prints the table the doc quotes:
//!
//! ```sh
//! cargo test -p c10k-async --release --test bytes -- --nocapture
//! ```
//!
//! One test in this binary, so that no other test allocates while a spawn is counted.

use c10k_async::bytes::{Lesson, STEPS};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The bytes tokio allocates to spawn step `step`'s worker (never polled): its task.
fn task_allocation(lesson: &Lesson, step: usize) -> usize {
    let region = Region::new(GLOBAL);
    let task = lesson.spawn(step);
    let change = region.change();
    task.abort();
    assert_eq!(
        change.allocations, 1,
        "step {step}: one allocation to spawn a task, its cell: {change:?}"
    );
    change.bytes_allocated
}

/// Keep this the only test of the binary (see the module's doc).
#[test]
fn each_step_makes_the_task_smaller() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let _in_runtime = runtime.enter();
    let lesson = Lesson::default();
    // Whatever the runtime allocates on its first spawn is not the task's.
    drop(lesson.spawn(0));

    println!(
        "| step | change | fetch_page future B | worker future B | saved B | task allocation B |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    let mut before: Option<(usize, usize)> = None;
    for (step, change) in STEPS.iter().enumerate() {
        let worker = lesson.worker_size(step);
        let task = task_allocation(&lesson, step);
        let saved = before.map_or(String::new(), |(worker_before, _)| {
            (worker_before as i64 - worker as i64).to_string()
        });
        let fetch_page = lesson.fetch_page_size(step);
        println!("| {step} | {change} | {fetch_page} | {worker} | {saved} | {task} |");
        assert!(
            task >= worker,
            "step {step}: the task ({task} B) holds the future ({worker} B)"
        );
        if let Some((worker_before, task_before)) = before {
            // Unoptimized, rustc lays out some states apart that it overlaps with
            // optimizations on: there a step may save nothing, but never cost.
            let saves = if cfg!(debug_assertions) {
                worker <= worker_before
            } else {
                worker < worker_before
            };
            assert!(
                saves,
                "step {step} ({change}) saves nothing: {worker_before} -> {worker} B"
            );
            assert!(
                task <= task_before,
                "step {step}: {task_before} -> {task} B"
            );
        }
        before = Some((worker, task));
    }
}
