//! The process-isolated sweep, the part of `cargo bench` that criterion cannot do: each
//! strategy × C crawls as a separate child process and reports wall time, responses/s, CPU
//! (user + system, µs per response), peak RSS and RSS per in-flight connection, context
//! switches and latency percentiles; the server's connection ceiling is measured beside them,
//! and the lecture's claims are derived. Everything lands in `results/<date>-full/` (JSON, CSV,
//! summary, SVG and PNG plots) and in the results section of `README.md`.
//!
//! The data is written before any plot is drawn, a crawl that fails is recorded and the sweep
//! goes on, and a plot that fails is one line on stderr and a failing exit code at the end.
//!
//! `cargo bench -- --test` runs a tiny sweep into a temporary folder instead, so this never
//! rots; `C10K_SWEEP=quick cargo bench --bench sweep` runs the quick plan into `results/`.

use std::{path::Path, process::ExitCode};

use c10k_harness::{
    Plan, plot,
    results::run_dir,
    runner::sweep,
    summary::{markdown, update_readme},
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let test_mode = args.iter().any(|arg| arg == "--test");
    // `cargo bench NAME` passes NAME to every bench binary: run only if it names this one.
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "sweep".contains(f.as_str())) {
        return ExitCode::SUCCESS;
    }
    match run(test_mode) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sweep failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(test_mode: bool) -> std::io::Result<ExitCode> {
    let plan = if test_mode {
        Plan::smoke()
    } else if std::env::var("C10K_SWEEP").is_ok_and(|v| v == "quick") {
        Plan::quick()
    } else {
        Plan::full()
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_c10k"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let results = sweep(bin, &plan)?;
    let failed: Vec<String> = results
        .runs
        .iter()
        .filter(|r| r.error.is_some() || r.errors > 0)
        .map(|r| {
            format!(
                "{} at C = {} on the {} site: {}",
                r.variant(),
                r.concurrency,
                r.site,
                r.error
                    .clone()
                    .unwrap_or_else(|| format!("{} URLs failed", r.errors))
            )
        })
        .collect();
    let dir = if test_mode {
        std::env::temp_dir().join(format!("c10k-sweep-test-{}", std::process::id()))
    } else {
        run_dir(&root.join("results"), &results)
    };
    // The data first: a plot that fails afterwards costs no measurement.
    let mut written = results.write_data(&dir)?;
    if !test_mode {
        update_readme(&root.join("README.md"), &dir, &results)?;
    }
    let drawn = plot::draw(&results, &dir);
    written.extend(drawn.written.iter().cloned());
    for (path, reason) in &drawn.failed {
        eprintln!("plot failed: {}: {reason}", path.display());
    }
    if test_mode {
        println!(
            "sweep (smoke): {} runs, {} files written to {}",
            results.runs.len(),
            written.len(),
            dir.display()
        );
        std::fs::remove_dir_all(&dir)?;
        // On tiny sites nothing may fail: the smoke run is a test.
        for line in &failed {
            eprintln!("failed: {line}");
        }
        let ok = failed.is_empty() && drawn.failed.is_empty();
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!("updated README.md\n\n{}", markdown(&results, &dir));
    for line in &failed {
        eprintln!("recorded as failed: {line}");
    }
    if drawn.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} plot files could not be drawn (the data and README are written)",
            drawn.failed.len()
        );
        Ok(ExitCode::FAILURE)
    }
}
