//! The process-isolated sweep, the part of `cargo bench` that criterion cannot do: each
//! strategy × C crawls as a separate child process and reports wall time, responses/s, CPU
//! (user + system, µs per response), peak RSS and RSS per in-flight connection, context
//! switches and latency percentiles; the server's connection ceiling is measured beside them,
//! and the lecture's claims are derived. Everything lands in `results/<date>-full/` (JSON, CSV,
//! SVG and PNG plots) and in the results section of `README.md`.
//!
//! `cargo bench -- --test` runs a tiny sweep into a temporary folder instead, so this never
//! rots; `C10K_SWEEP=quick cargo bench --bench sweep` runs the quick plan into `results/`.

use std::{path::Path, process::ExitCode};

use c10k::sweep::{Plan, run_dir, sweep, update_readme};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let test_mode = args.iter().any(|arg| arg == "--test");
    // `cargo bench NAME` passes NAME to every bench binary: run only if it names this one.
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "sweep".contains(f.as_str())) {
        return ExitCode::SUCCESS;
    }
    match run(test_mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sweep failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(test_mode: bool) -> std::io::Result<()> {
    c10k::raise_fd_limit()?;
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
    let failed: Vec<_> = results
        .runs
        .iter()
        .filter(|r| r.error.is_some() || r.errors > 0)
        .collect();
    if test_mode {
        let dir = std::env::temp_dir().join(format!("c10k-sweep-test-{}", std::process::id()));
        let written = results.write(&dir)?;
        println!(
            "sweep (smoke): {} runs, {} files written to {}",
            results.runs.len(),
            written.len(),
            dir.display()
        );
        std::fs::remove_dir_all(&dir)?;
        if !failed.is_empty() {
            return Err(std::io::Error::other(format!(
                "{} runs failed: {failed:?}",
                failed.len()
            )));
        }
        return Ok(());
    }
    let dir = run_dir(&root.join("results"), &results);
    for path in results.write(&dir)? {
        println!("wrote {}", path.display());
    }
    update_readme(&root.join("README.md"), &dir, &results)?;
    println!("updated README.md\n\n{}", results.markdown(&dir));
    Ok(())
}
