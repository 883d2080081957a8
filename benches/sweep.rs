//! The process-isolated sweep, the part of `cargo bench` that criterion cannot do: each
//! strategy × C crawls as a separate child process and reports wall time, responses/s, CPU
//! (user + system, µs per response), peak RSS and RSS per in-flight connection, context
//! switches and latency percentiles; the server's connection ceiling is measured beside them,
//! and the lecture's claims are derived. Everything lands in `results/<date>-full/` (JSON, CSV,
//! summary, SVG and PNG plots), and the run ends by printing its headline, what the numbers
//! say on this machine, and its figures beside the published reference run's (also written to
//! `vs-reference.md` in the run's folder).
//!
//! README.md and `docs/` are left alone unless asked: `C10K_PUBLISH=1 cargo bench` publishes
//! the run as the new reference (the README's results section and `docs/results.md`), as
//! `c10k publish results/<run>` does for a run already on disk.
//!
//! The data is written before any plot is drawn, a crawl that fails is recorded and the sweep
//! goes on, and a plot that fails is one line on stderr and a failing exit code at the end.
//!
//! The sweep includes the connection axis: http and https, a connection per page or kept, on
//! a CPU-bound and a latency-bound site, with wrk's rates over each as the ceilings; and the
//! state axis: the CPU-bound site crawled in memory and with `--state DIR` side by side (see
//! `docs/measuring.md`).
//!
//! `cargo bench -- --test` runs a tiny sweep into a temporary folder instead, so this never
//! rots, and never publishes; nothing in it may fail, except the crawls of a transport (https
//! or keep-alive) that a strategy does not support yet: when every crawl that needs it
//! failed, it is said in one line and the run goes on. `C10K_SWEEP=quick cargo bench --bench
//! sweep` runs the quick plan into `results/`.

use std::{path::Path, process::ExitCode};

use c10k_harness::{Plan, connections, plot, publish, results::run_dir, runner::sweep};

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
    // Only a real run publishes, and only when asked; checked before the sweep, not after.
    let publish =
        !test_mode && std::env::var("C10K_PUBLISH").is_ok_and(|v| !v.is_empty() && v != "0");
    if publish {
        publish::check(root)?;
    }
    let reference = publish::reference(root);
    let results = sweep(bin, &plan)?;
    let describe = |r: &&c10k_harness::results::Run| {
        format!(
            "{} at C = {} on the {} site: {}",
            r.variant(),
            r.concurrency,
            r.site,
            r.error.clone().unwrap_or_else(|| match r.mismatched {
                Some(n) => format!("{n} lines of --urls-out not as the chaos server expected"),
                None => format!("{} URLs failed", r.errors),
            })
        )
    };
    let failed: Vec<String> = results
        .runs
        .iter()
        .filter(|r| r.failed())
        .map(|r| describe(&r))
        .collect();
    // A transport a strategy does not support yet fails every crawl that needs it: the
    // smoke run says so and goes on; any other failure fails it.
    let unexplained: Vec<String> = connections::unexplained_failures(&results)
        .iter()
        .map(describe)
        .collect();
    let missing = connections::missing(&results);
    let dir = if test_mode {
        std::env::temp_dir().join(format!("c10k-sweep-test-{}", std::process::id()))
    } else {
        run_dir(&root.join("results"), &results)
    };
    // The data first: a plot that fails afterwards costs no measurement.
    let mut written = results.write_data(&dir)?;
    let drawn = plot::draw(&results, &dir);
    written.extend(drawn.written.iter().cloned());
    for (path, reason) in &drawn.failed {
        eprintln!("plot failed: {}: {reason}", path.display());
    }
    let end = publish::conclude(root, &dir, &results, reference.as_deref(), publish)?;
    if test_mode {
        println!(
            "sweep (smoke): {} runs, {} files written to {}; its end, {} lines, beside the reference run",
            results.runs.len(),
            written.len(),
            dir.display(),
            end.lines().count()
        );
        std::fs::remove_dir_all(&dir)?;
        for m in &missing {
            eprintln!(
                "not supported yet: {} over {} (every crawl that needs it failed: {})",
                m.strategy, m.feature, m.reason
            );
        }
        // On tiny sites nothing else may fail: the smoke run is a test.
        for line in &unexplained {
            eprintln!("failed: {line}");
        }
        let ok = unexplained.is_empty() && drawn.failed.is_empty();
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!("\n{end}");
    for line in &failed {
        eprintln!("recorded as failed: {line}");
    }
    if let Some(line) = connections::missing_line(&results) {
        eprintln!("not supported yet (every crawl that needs it failed): {line}");
    }
    if drawn.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} plot files could not be drawn (the data is written)",
            drawn.failed.len()
        );
        Ok(ExitCode::FAILURE)
    }
}
