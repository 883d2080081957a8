//! The scale run (issue 28): one crawl of a site of ten million pages with `--state`, in child
//! processes (`c10k serve` computes its pages, `c10k crawl` keeps its state on disk), checked
//! against the site's count and checksum, and measured: peak RSS, bytes of RSS per known URL,
//! responses per second, and bytes written to the state per page.
//!
//! `cargo bench --bench scale` runs it (part of `cargo bench`); `-- --test` (CI) crawls 2,000
//! pages instead and writes nothing. `C10K_SCALE_PAGES`, `C10K_SCALE_STRATEGY` (flags of
//! `c10k crawl`, split on spaces) and `C10K_SCALE_BUDGET_MIB` change the run. The figures go
//! to `results/STAMP-scale/` (`scale.json`, `scale.md`).

use std::{
    fs,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    time::SystemTime,
};

const CONCURRENCY: &str = "100";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let test_mode = args.iter().any(|arg| arg == "--test");
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "scale".contains(f.as_str())) {
        return ExitCode::SUCCESS;
    }
    match run(test_mode) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("scale run failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Kills the server when the run ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(test_mode: bool) -> Result<bool, Box<dyn std::error::Error>> {
    let bin = Path::new(env!("CARGO_BIN_EXE_c10k"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages: u64 = env_or(
        "C10K_SCALE_PAGES",
        if test_mode { "2000" } else { "10000000" },
    )
    .parse()?;
    let strategy = env_or("C10K_SCALE_STRATEGY", "--strategy callbacks");
    let budget_mib: u64 = env_or("C10K_SCALE_BUDGET_MIB", "384").parse()?;
    let work = root
        .join("target")
        .join(format!("scale-{}", std::process::id()));
    fs::create_dir_all(&work)?;
    let _cleanup = Cleanup(work.clone());
    let expected_file = work.join("expected-digest");
    let mut server = Command::new(bin)
        .args(["serve", "--threads", "1", "--pages", &pages.to_string()])
        .arg("--expected-digest")
        .arg(&expected_file)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = server.stdout.take().ok_or("the server's output")?;
    let server = Server(server);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("the server announced {line:?}"))?
        .to_owned();
    let expected = fs::read_to_string(&expected_file)?.trim().to_owned();
    eprintln!("scale: crawling {url} ({pages} pages, {expected}) with --state");
    let output = Command::new(bin)
        .args(["crawl", &url, "--concurrency", CONCURRENCY])
        .args(strategy.split_whitespace())
        .arg("--state")
        .arg(work.join("state"))
        .args(["--urls-digest", "--json"])
        .stderr(Stdio::inherit())
        .output()?;
    drop(server);
    if !output.status.success() {
        return Err(format!("the crawl exited with {}", output.status).into());
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let number = |pointer: &str| json.pointer(pointer).and_then(serde_json::Value::as_f64);
    let need = |pointer: &str| number(pointer).ok_or(format!("the crawl's JSON lacks {pointer}"));
    let urls = need("/urls")?;
    let rss = need("/process/max_rss_kib")? * 1024.0;
    let written = need("/state/written_bytes")?;
    let disk = need("/state/disk_bytes")?;
    let spooled = need("/state/spooled_bytes")?;
    let digest = format!(
        "{} URLs, checksum {:016x}",
        need("/urls_digest/urls")?,
        json.pointer("/urls_digest/checksum")
            .and_then(serde_json::Value::as_u64)
            .ok_or("the crawl's JSON lacks its checksum")?
    );
    let exact = digest == expected;
    let figures = serde_json::json!({
        "pages": pages,
        "crawl": format!("--concurrency {CONCURRENCY} {strategy} --state"),
        "urls": urls,
        "exact": exact,
        "digest": digest,
        "expected": expected,
        "responses_per_s": need("/pages_per_s")?,
        "elapsed_s": need("/elapsed_s")?,
        "peak_rss_bytes": rss,
        "rss_per_url": rss / urls,
        "written_bytes": written,
        "written_per_url": written / urls,
        "disk_bytes": disk,
        "disk_per_url": disk / urls,
        "spooled_bytes": spooled,
        "spooled_per_url": spooled / urls,
        "budget_mib": budget_mib,
        "within_budget": rss <= (budget_mib * 1024 * 1024) as f64,
        "machine": c10k_harness::measure::machine(),
        "process": json.pointer("/process").cloned(),
    });
    let table = format!(
        "| pages | URLs | exact | responses/s | peak RSS | RSS per URL (target 32 B) | written per URL | on disk per URL | queue spooled per URL | budget |\n\
         |---|---|---|---|---|---|---|---|---|---|\n\
         | {pages} | {urls} | {} | {:.0} | {:.0} MiB | {:.0} B | {:.0} B | {:.0} B | {:.0} B | {} MiB: {} |\n",
        if exact { "yes" } else { "NO" },
        need("/pages_per_s")?,
        rss / (1024.0 * 1024.0),
        rss / urls,
        written / urls,
        disk / urls,
        spooled / urls,
        budget_mib,
        if rss <= (budget_mib * 1024 * 1024) as f64 {
            "within"
        } else {
            "OVER"
        },
    );
    println!("{table}");
    if !exact {
        eprintln!("scale: the crawl's {digest} is not the site's {expected}");
    }
    if !test_mode {
        let dir = results_dir(root)?;
        fs::write(
            dir.join("scale.json"),
            serde_json::to_string_pretty(&figures)?,
        )?;
        let md = format!(
            "# Scale run\n\n`cargo bench --bench scale`: `c10k crawl` of a site of {pages} pages \
             served by `c10k serve --threads 1`, with `{}`, checked against the site's count \
             and checksum (`serve --expected-digest`).\n\n{table}",
            figures["crawl"].as_str().unwrap_or_default()
        );
        fs::write(dir.join("scale.md"), md)?;
        println!("wrote {}", dir.display());
    }
    Ok(exact)
}

/// `results/STAMP-scale`, made.
fn results_dir(root: &Path) -> std::io::Result<PathBuf> {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "-");
    let dir = root.join("results").join(format!("{stamp}-scale"));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Removes the run's files (the state of ten million URLs is gigabytes) when it ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
