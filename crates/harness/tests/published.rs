//! What a published run says, drawn from a small fixed sweep (`fixtures/sweep.json`): the
//! headline table and *what the numbers say* follow the runs (change a run and the verdict
//! changes), publishing rewrites only the README's section and `docs/results.md`, the
//! reference is found from the README, and a run set beside it names what differs.
//!
//! Expected figures are computed here from the fixture's raw JSON, not taken from the code
//! under test.

use std::{fs, path::PathBuf};

use c10k_harness::{
    Results,
    headline::{self, TIE},
    publish,
};
use serde_json::Value;

const SWEEP: &str = include_str!("fixtures/sweep.json");
const RUN: &str = "2026-11-27T19-18-39Z-full";

fn fixture() -> Results {
    serde_json::from_str(SWEEP).expect("the fixture is a sweep")
}

fn raw_runs() -> Vec<Value> {
    let value: Value = serde_json::from_str(SWEEP).expect("JSON");
    value["runs"].as_array().expect("runs").clone()
}

fn clean(run: &Value) -> bool {
    run["error"].is_null() && run["errors"] == 0 && run["fetched"].as_u64() > Some(0)
}

/// The latency site's widest C, from the raw runs.
fn raw_widest_latency() -> u64 {
    raw_runs()
        .iter()
        .filter(|r| r["site"] == "latency")
        .filter_map(|r| r["concurrency"].as_u64())
        .max()
        .expect("a latency site")
}

/// A model's best responses/s among the clean runs `keep` accepts.
fn best_rate(model: &str, keep: impl Fn(&Value) -> bool) -> Option<f64> {
    raw_runs()
        .iter()
        .filter(|r| r["strategy"] == model && clean(r) && keep(r))
        .filter_map(|r| r["pages_per_s"].as_f64())
        .reduce(f64::max)
}

/// The latency site's widest C, and `change` applied to threads' run there.
fn change_threads_at_widest(
    results: &mut Results,
    change: impl Fn(&mut c10k_harness::results::Run),
) -> usize {
    let widest = results
        .runs
        .iter()
        .filter(|r| r.site == "latency")
        .map(|r| r.concurrency)
        .max()
        .expect("a latency site");
    for run in &mut results.runs {
        if run.site == "latency" && run.concurrency == widest && run.strategy == "threads" {
            change(run);
        }
    }
    widest
}

/// The line of *what the numbers say* about the latency site at its widest C.
fn latency_line(results: &Results) -> String {
    verdict_line(
        &headline::what_the_numbers_say(results, "docs"),
        "Latency-bound, many connections",
    )
}

/// The line of *what the numbers say* about `regime`.
fn verdict_line(text: &str, regime: &str) -> String {
    text.lines()
        .find(|line| line.starts_with(&format!("- **{regime}**")))
        .unwrap_or_else(|| panic!("no line for {regime} in:\n{text}"))
        .to_owned()
}

/// A checkout in a temporary folder: a README with the results markers around old text, and
/// the fixture as a run in `results/`, with `drawn` plots beside it.
fn checkout(name: &str, drawn: &[&str]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("c10k-published-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let run = root.join("results").join(RUN);
    fs::create_dir_all(&run).unwrap();
    fs::write(run.join("sweep.json"), SWEEP).unwrap();
    for stem in drawn {
        fs::write(run.join(format!("{stem}.svg")), "<svg/>").unwrap();
    }
    fs::write(
        root.join("README.md"),
        format!(
            "# before\n\n{} (generated) -->\nold figures\n{}\n\n## after\n",
            publish::BEGIN,
            publish::END
        ),
    )
    .unwrap();
    root
}

#[test]
fn the_headline_table_gives_each_models_best_form_from_the_runs() {
    let results = fixture();
    let table = headline::table(&results);
    let top_cores = raw_runs()
        .iter()
        .filter(|r| r["site"] == "cores")
        .filter_map(|r| r["cores"].as_u64())
        .max();
    for model in [
        "threads",
        "callbacks",
        "generators",
        "async",
        "uring",
        "python-asyncio",
        "go",
    ] {
        let row = table
            .lines()
            .find(|line| line.starts_with(&format!("| {model} |")))
            .unwrap_or_else(|| panic!("no row for {model}:\n{table}"));
        let cpu = best_rate(model, |r| {
            r["site"] == "cpu" || (r["site"] == "cores" && r["cores"].as_u64() == top_cores)
        })
        .unwrap();
        let latency = best_rate(model, |r| r["site"] == "latency").unwrap();
        let memory = raw_runs()
            .iter()
            .filter(|r| r["strategy"] == model && r["site"] == "memory" && clean(r))
            .filter_map(|r| r["rss_per_connection_b"].as_f64())
            .reduce(f64::min)
            .unwrap();
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(cells[2].starts_with(&format!("{cpu:.0} (")), "{row}");
        assert!(cells[3].starts_with(&format!("{latency:.0} (")), "{row}");
        assert_eq!(cells[4], format!("{memory:.0} B"), "{row}");
    }
    // The event-driven models' best form on the CPU-bound site is a loop per core here.
    let callbacks = table
        .lines()
        .find(|l| l.starts_with("| callbacks |"))
        .unwrap();
    assert!(callbacks.contains("2 loops, C = 100"), "{callbacks}");
}

#[test]
fn each_regime_names_its_leader_by_the_runs_and_by_how_much() {
    let results = fixture();
    let text = headline::what_the_numbers_say(&results, "docs");
    // The latency-bound site at its widest C: the leader and the runner-up from the raw runs.
    let widest = raw_widest_latency();
    let mut rates: Vec<(String, f64)> = raw_runs()
        .iter()
        .filter(|r| r["site"] == "latency" && r["concurrency"] == widest && clean(r))
        .map(|r| {
            (
                r["strategy"].as_str().unwrap().to_owned(),
                r["pages_per_s"].as_f64().unwrap(),
            )
        })
        .collect();
    rates.sort_by(|a, b| b.1.total_cmp(&a.1));
    let line = verdict_line(&text, "Latency-bound, many connections");
    let (leader, rate) = &rates[0];
    assert!(
        line.contains(&format!("**{leader}** leads with {rate:.0} responses/s")),
        "{line}"
    );
    for (model, value) in &rates[1..] {
        let ratio = value / rate;
        assert!(
            line.contains(&format!("{model} {value:.0} ({ratio:.2}×)")),
            "{model} in {line}"
        );
        // Within the tie margin before "Then", beyond it after.
        let at = line.find(&format!("{model} {value:.0}")).unwrap();
        let then = line.find(". Then ").unwrap_or(line.len());
        assert_eq!(at < then, ratio >= 1.0 - TIE, "{model} in {line}");
    }
    assert!(
        line.contains(&format!("Threads ran at C = {widest} here")),
        "{line}"
    );
    // Memory: less is better, so the leader has the fewest bytes.
    let line = verdict_line(&text, "Memory, many connections");
    let runs = raw_runs();
    let least = runs
        .iter()
        .filter(|r| r["site"] == "memory" && clean(r))
        .filter_map(|r| Some((r["strategy"].as_str()?, r["rss_per_connection_b"].as_f64()?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(
        line.contains(&format!(
            "Per connection in flight: {} {:.0} B",
            least.0, least.1
        )),
        "{line}"
    );
    for regime in [
        "CPU-bound",
        "Blocking work on the loop",
        "Every core",
        "Memory, many connections",
        "TLS",
        "Keep-alive",
    ] {
        assert!(verdict_line(&text, regime).contains("*Rests on*"));
    }
    assert!(!text.contains("Not measured by this run"), "{text}");
}

#[test]
fn a_verdict_changes_when_the_runs_do() {
    let mut results = fixture();
    let before = latency_line(&results);
    assert!(!before.contains("**threads** leads"), "{before}");
    change_threads_at_widest(&mut results, |run| run.pages_per_s = 100_000.0);
    let after = latency_line(&results);
    assert!(
        after.contains("**threads** leads with 100000 responses/s"),
        "{after}"
    );
    // Far ahead: no tie, and by how much over the next.
    assert!(!after.contains("a tie"), "{after}");
    assert!(after.contains("× the next. Then "), "{after}");

    // A crawl that could not run is named with its reason, and not ranked.
    let widest = change_threads_at_widest(&mut results, |run| {
        run.error = Some("no room for more threads".into());
    });
    let failed = latency_line(&results);
    assert!(
        failed.contains("Could not run: threads (no room for more threads)"),
        "{failed}"
    );
    assert!(
        failed.contains(&format!("Threads could not run at C = {widest}")),
        "{failed}"
    );
}

#[test]
fn a_regime_without_runs_is_listed_as_not_measured() {
    let mut results = fixture();
    results
        .runs
        .retain(|r| r.site != "work" && r.site != "cores" && !r.site.starts_with("conn-"));
    let text = headline::what_the_numbers_say(&results, "docs");
    assert!(!text.contains("- **Blocking work"), "{text}");
    assert!(!text.contains("- **Every core"), "{text}");
    assert!(!text.contains("- **TLS"), "{text}");
    assert!(
        text.contains(
            "Not measured by this run: Blocking work on the loop, Every core, TLS, Keep-alive."
        ),
        "{text}"
    );
}

#[test]
fn publishing_rewrites_the_readme_section_and_docs_results_only() {
    let root = checkout("publish", &["cpu-pages_per_s", "latency-pages_per_s"]);
    let results = fixture();
    let written = publish::publish(&root, &root.join("results").join(RUN), &results).unwrap();
    assert_eq!(
        written,
        [root.join("README.md"), root.join("docs/results.md")]
    );
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.starts_with("# before\n\n"), "{readme}");
    assert!(readme.ends_with(&format!("{}\n\n## after\n", publish::END)));
    assert!(!readme.contains("old figures"));
    // The run and its machine are named; the plots are those drawn, linked into the run.
    assert!(readme.contains(&format!(
        "The reference run is [`results/{RUN}`](results/{RUN}/sweep.json)."
    )));
    assert!(readme.contains(&results.machine.describe()));
    assert!(readme.contains(&format!("(results/{RUN}/cpu-pages_per_s.svg)")));
    assert!(readme.contains(&format!("(results/{RUN}/latency-pages_per_s.svg)")));
    assert!(!readme.contains("memory-rss_at_widest.svg"), "not drawn");
    assert!(readme.contains("### What the numbers say"));
    assert!(readme.contains("| model | CPU-bound site"));
    // docs/results.md: every site's table, the claims, the drawn plots from docs/.
    let page = fs::read_to_string(root.join("docs/results.md")).unwrap();
    for site in ["cpu", "latency", "memory", "work", "cores"] {
        assert!(page.contains(&format!("## {site} site")), "{site}");
    }
    assert!(page.contains("## The lecture's claims, measured"));
    assert!(page.contains(&format!("(../results/{RUN}/cpu-pages_per_s.svg)")));
    assert!(!page.contains("cores-pages_per_s.svg"), "not drawn");
    assert!(page.contains(&results.machine.describe()));
    // Publishing the same run again changes nothing.
    publish::publish(&root, &root.join("results").join(RUN), &results).unwrap();
    assert_eq!(fs::read_to_string(root.join("README.md")).unwrap(), readme);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn publishing_refuses_a_readme_without_markers_and_a_run_outside_the_checkout() {
    let root = checkout("refuse", &[]);
    fs::write(root.join("README.md"), "# no markers\n").unwrap();
    let results = fixture();
    let err = publish::publish(&root, &root.join("results").join(RUN), &results).unwrap_err();
    assert!(err.to_string().contains("no results markers"), "{err}");
    assert_eq!(
        fs::read_to_string(root.join("README.md")).unwrap(),
        "# no markers\n"
    );
    assert!(!root.join("docs").exists());

    let other = checkout("refuse-other", &[]);
    let err = publish::publish(&other, &root.join("results").join(RUN), &results).unwrap_err();
    assert!(err.to_string().contains("is not inside"), "{err}");
    fs::remove_dir_all(&root).unwrap();
    fs::remove_dir_all(&other).unwrap();
}

#[test]
fn the_reference_is_the_newest_run_the_readme_links_to_with_its_data() {
    let root = checkout("reference", &[]);
    let newer = "2026-12-01T00-00-00Z-full";
    fs::write(
        root.join("README.md"),
        format!(
            "![a](results/{RUN}/cpu-pages_per_s.svg)\n[b](results/{newer}/sweep.json)\nresults/README.md\n"
        ),
    )
    .unwrap();
    // The newer run has no sweep.json yet: the older one is the reference.
    fs::create_dir_all(root.join("results").join(newer)).unwrap();
    assert_eq!(
        publish::reference(&root),
        Some(root.join("results").join(RUN))
    );
    fs::write(root.join("results").join(newer).join("sweep.json"), SWEEP).unwrap();
    assert_eq!(
        publish::reference(&root),
        Some(root.join("results").join(newer))
    );
    fs::write(root.join("README.md"), "no run\n").unwrap();
    assert_eq!(publish::reference(&root), None);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_run_beside_the_reference_gives_ratios_to_threads_and_what_orders_differently() {
    let reference = fixture();
    let same = publish::beside(&reference, &reference, "results/ref");
    assert!(
        same.contains("The order of the models is the reference's in every figure."),
        "{same}"
    );
    // Ratios to threads, here / there: callbacks on the latency site at its widest C.
    let widest = raw_widest_latency();
    let at = |model: &str| {
        best_rate(model, |r| {
            r["site"] == "latency" && r["concurrency"] == widest
        })
    };
    let ratio = at("callbacks").unwrap() / at("threads").unwrap();
    let row = same
        .lines()
        .find(|l| l.starts_with("| callbacks |"))
        .unwrap();
    assert!(row.contains(&format!("{ratio:.2}× / {ratio:.2}×")), "{row}");

    // This machine: threads far ahead on the latency site; every other figure as before.
    let mut this = fixture();
    change_threads_at_widest(&mut this, |run| run.pages_per_s = 100_000.0);
    let text = publish::beside(&this, &reference, "results/ref");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("- *latency-bound, C = {widest}*")))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("here threads, "), "{line}");
    assert!(
        line.contains("Beyond the tie margin in both runs, this machine orders differently"),
        "{line}"
    );
    assert!(line.contains("threads and uring"), "{line}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("- *")).count(),
        1,
        "only the latency figure differs: {text}"
    );
}

#[test]
fn a_run_ends_beside_the_reference_and_publishes_only_when_asked() {
    let root = checkout("conclude", &[]);
    let reference = root.join("results").join(RUN);
    fs::write(
        root.join("README.md"),
        format!(
            "{} -->\n[run](results/{RUN}/sweep.json)\n{}\n",
            publish::BEGIN,
            publish::END
        ),
    )
    .unwrap();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let dir = root.join("results/2026-12-01T00-00-00Z-quick");
    let mut results = fixture();
    if let Some(plan) = &mut results.plan {
        plan.name = "quick".into();
    }
    results.write_data(&dir).unwrap();
    let found = publish::reference(&root);
    assert_eq!(found.as_deref(), Some(reference.as_path()));
    let out = publish::conclude(&root, &dir, &results, found.as_deref(), false).unwrap();
    assert_eq!(fs::read_to_string(root.join("README.md")).unwrap(), readme);
    assert!(!root.join("docs").exists());
    assert!(out.contains("README.md and docs/ are left alone"), "{out}");
    assert!(
        out.contains("publish results/2026-12-01T00-00-00Z-quick"),
        "{out}"
    );
    assert!(out.contains("The plans differ"), "{out}");
    let beside = fs::read_to_string(dir.join("vs-reference.md")).unwrap();
    assert!(beside.contains(&format!("The reference, `results/{RUN}`")));

    publish::conclude(&root, &dir, &results, found.as_deref(), true).unwrap();
    let published = fs::read_to_string(root.join("README.md")).unwrap();
    assert!(published.contains("results/2026-12-01T00-00-00Z-quick/sweep.json"));
    assert!(root.join("docs/results.md").is_file());
    assert_eq!(
        publish::reference(&root),
        Some(dir.clone()),
        "the published run is the reference now"
    );
    fs::remove_dir_all(&root).unwrap();
}

/// The front page's plots are drawn for the fixture (a name that changes in `plot` fails here).
#[test]
fn the_front_page_plots_are_charts_the_sweep_draws() {
    let charts: Vec<String> = c10k_harness::plot::charts(&fixture())
        .into_iter()
        .map(|(file, _)| file)
        .collect();
    for stem in publish::FRONT_PLOTS {
        assert!(charts.iter().any(|c| c == stem), "{stem} in {charts:?}");
    }
}

/// Models a few percent apart are a tie; models far apart are not, and the gap is given.
#[test]
fn close_models_tie_and_distant_ones_do_not() {
    let run = |strategy: &str, rate: f64| c10k_harness::results::Run {
        site: "latency".into(),
        strategy: strategy.into(),
        concurrency: 1000,
        pages_per_s: rate,
        fetched: 1000,
        ..Default::default()
    };
    let results = Results {
        runs: vec![
            run("threads", 500.0),
            run("callbacks", 1000.0),
            run("async", 970.0),
        ],
        ..Results::default()
    };
    let (_, figure) = headline::latency_at_widest(&results).unwrap();
    let standing = headline::standing(&figure);
    assert_eq!(
        standing,
        "**callbacks** leads with 1000 responses/s (one loop, C = 1000); async 970 (0.97×) \
         within 10%: a tie on this run. Then threads 500 (0.50×)."
    );
    let results = Results {
        runs: vec![run("threads", 500.0), run("callbacks", 1000.0)],
        ..Results::default()
    };
    let (_, figure) = headline::latency_at_widest(&results).unwrap();
    assert_eq!(
        headline::standing(&figure),
        "**callbacks** leads with 1000 responses/s (one loop, C = 1000), 2.00× the next. \
         Then threads 500 (0.50×)."
    );
}

/// A raw run over `transport` (`tls`, `keep_alive`, `no_resume`).
fn over(run: &Value, tls: bool, keep_alive: bool, no_resume: bool) -> bool {
    let t = &run["transport"];
    t["tls"] == tls && t["keep_alive"] == keep_alive && t["no_resume"] == no_resume
}

/// A raw run of the connection axis's CPU-bound site, unpinned.
fn conn_cpu(run: &Value) -> bool {
    run["site"] == "conn-cpu" && run["cores"].is_null()
}

/// A raw run of a strategy's default form (one loop, one runtime thread, threads as they are).
fn default_form(run: &Value) -> bool {
    run["parallel"].is_null() && run["runtime"].is_null() && run["cores"].is_null()
}

/// `wrk`'s rate over the transport, on the most threads it ran with (or on `threads`).
fn raw_wrk(tls: bool, keep_alive: bool, threads: Option<u64>) -> f64 {
    let value: Value = serde_json::from_str(SWEEP).expect("JSON");
    value["wrk"]
        .as_array()
        .expect("wrk rows")
        .iter()
        .filter(|w| w["transport"]["tls"] == tls && w["transport"]["keep_alive"] == keep_alive)
        .filter(|w| threads.is_none_or(|t| w["threads"] == t))
        .max_by_key(|w| w["threads"].as_u64())
        .and_then(|w| w["responses_per_s"].as_f64())
        .expect("a wrk row")
}

const RUST: [&str; 5] = ["threads", "callbacks", "generators", "async", "uring"];

#[test]
fn the_headline_table_gives_each_models_best_form_over_https_and_keeping_connections() {
    let table = headline::table(&fixture());
    for model in RUST {
        let row = table
            .lines()
            .find(|line| line.starts_with(&format!("| {model} |")))
            .unwrap_or_else(|| panic!("no row for {model}:\n{table}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let https = best_rate(model, |r| conn_cpu(r) && over(r, true, false, false)).unwrap();
        let kept = best_rate(model, |r| conn_cpu(r) && over(r, false, true, false)).unwrap();
        assert!(cells[5].starts_with(&format!("{https:.0} (")), "{row}");
        assert!(cells[6].starts_with(&format!("{kept:.0} (")), "{row}");
    }
    // The reference rows crawl neither.
    let go = table.lines().find(|l| l.starts_with("| go |")).unwrap();
    assert!(go.ends_with("| — | — |"), "{go}");
}

#[test]
fn the_tls_and_keep_alive_regimes_rest_on_the_runs_and_wrk() {
    let text = headline::what_the_numbers_say(&fixture(), "docs");
    let best = |tls, keep_alive| -> Vec<(&str, f64)> {
        let mut rates: Vec<(&str, f64)> = RUST
            .iter()
            .filter_map(|&m| {
                Some((
                    m,
                    best_rate(m, |r| conn_cpu(r) && over(r, tls, keep_alive, false))?,
                ))
            })
            .collect();
        rates.sort_by(|a, b| b.1.total_cmp(&a.1));
        rates
    };
    let tls = verdict_line(&text, "TLS");
    let https = best(true, false);
    assert!(
        tls.contains(&format!(
            "**{}** leads with {:.0} responses/s",
            https[0].0, https[0].1
        )),
        "{tls}"
    );
    let wrk = raw_wrk(true, false, None);
    assert!(
        tls.contains(&format!("did {wrk:.0} responses/s over https")),
        "{tls}"
    );
    let met = https.iter().filter(|(_, r)| r / wrk >= 0.9).count();
    assert!(tls.contains(&format!("met by {met} of 5")), "{tls}");

    let line = verdict_line(&text, "Keep-alive");
    let kept = best(false, true);
    let closed = best(false, false);
    assert!(
        line.contains(&format!(
            "**{}** leads with {:.0} responses/s",
            kept[0].0, kept[0].1
        )),
        "{line}"
    );
    for (model, rate) in &kept {
        let close = closed.iter().find(|(m, _)| m == model).unwrap().1;
        assert!(
            line.contains(&format!("{model} {:.1}×", rate / close)),
            "{model} in {line}"
        );
    }
    let met = kept
        .iter()
        .filter(|(m, r)| r / closed.iter().find(|(c, _)| c == m).unwrap().1 >= 3.0)
        .count();
    assert!(
        line.contains(&format!("Target 3× the close rate: met by {met} of 5")),
        "{line}"
    );
}

/// The rows of the targets table under the target whose text starts with `start`.
fn target_rows(page: &str, start: &str) -> Vec<String> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in page.lines() {
        if ["| 25 | ", "| 26 | ", "| 28 | "]
            .iter()
            .any(|issue| line.starts_with(issue))
        {
            inside = line[7..].starts_with(start);
        } else if !line.starts_with("| | |") {
            inside = inside && line.starts_with("| | |");
        }
        if inside {
            rows.push(line.to_owned());
        }
    }
    rows
}

#[test]
fn the_results_page_states_each_target_with_the_figures_that_meet_or_miss_it() {
    let mut results = fixture();
    let page = c10k_harness::summary::tables(&results);
    assert!(page.contains("## Targets of issues 25 (TLS), 26 (keep-alive) and 28 (state on disk)"));
    let wrk = raw_wrk(true, false, None);
    let rows = target_rows(&page, "Every strategy's best form over TLS");
    assert_eq!(rows.len(), 5, "{page}");
    for model in RUST {
        let rate = best_rate(model, |r| conn_cpu(r) && over(r, true, false, false)).unwrap();
        let row = rows
            .iter()
            .find(|r| r.contains(&format!("| {model} | {rate:.0}/s (")))
            .unwrap_or_else(|| panic!("{model}: {rows:?}"));
        let ratio = rate / wrk;
        assert!(row.contains(&format!("| {ratio:.2} |")), "{row}");
        assert!(
            row.ends_with(if ratio >= 0.9 {
                "| yes |"
            } else {
                "| **no** |"
            }),
            "{row}"
        );
    }
    // One loop against wrk -t1, keeping connections: the event-driven models alone.
    let rows = target_rows(
        &page,
        "One loop reaches at least 0.8× `wrk -t1`'s rate, keeping",
    );
    assert_eq!(rows.len(), 4, "{rows:?}");
    let t1 = raw_wrk(false, true, Some(1));
    let uring = best_rate("uring", |r| {
        conn_cpu(r) && default_form(r) && over(r, false, true, false)
    })
    .unwrap();
    assert!(
        rows.iter().any(
            |r| r.contains(&format!("| uring | {uring:.0}/s (one loop, C = "))
                && r.contains(&format!("against wrk -t1 {t1:.0}/s | {:.2} |", uring / t1))
        ),
        "{rows:?}"
    );

    // A slower wrk: every model meets the TLS target, and the verdict says so.
    for row in &mut results.wrk {
        if row.transport.tls && !row.transport.keep_alive {
            row.responses_per_s = 10.0;
        }
    }
    let page = c10k_harness::summary::tables(&results);
    let rows = target_rows(&page, "Every strategy's best form over TLS");
    assert!(rows.iter().all(|r| r.ends_with("| yes |")), "{rows:?}");
    let tls = verdict_line(&headline::what_the_numbers_say(&results, "docs"), "TLS");
    assert!(tls.contains("is met by 5 of 5."), "{tls}");

    // Without wrk, the targets that need it are not measured, and say so.
    results.wrk.clear();
    let page = c10k_harness::summary::tables(&results);
    let rows = target_rows(&page, "Every strategy's best form over TLS");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("not measured: wrk is not installed here"),
        "{rows:?}"
    );
    assert!(page.contains("*wrk is not installed here"), "{page}");
}

#[test]
fn a_strategy_without_https_is_named_and_misses_the_targets_that_need_it() {
    let mut results = fixture();
    for run in &mut results.runs {
        if run.strategy == "uring" && run.transport.tls {
            run.error = Some("no TLS here".into());
        }
    }
    let missing = c10k_harness::connections::missing(&results);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(
        (missing[0].strategy.as_str(), missing[0].feature),
        ("uring", "https")
    );
    assert!(c10k_harness::connections::unexplained_failures(&results).is_empty());
    let page = c10k_harness::summary::tables(&results);
    assert!(
        page.contains("- *Not supported yet* (every crawl that needs it failed): https: uring."),
        "{page}"
    );
    assert!(page.contains("- uring https close: no TLS here"), "{page}");
    let rows = target_rows(&page, "Every strategy's best form over TLS");
    assert!(
        rows.iter()
            .any(|r| r.contains("| uring | could not run: no TLS here | — | **no** |")),
        "{rows:?}"
    );
    let tls = verdict_line(&headline::what_the_numbers_say(&results, "docs"), "TLS");
    assert!(tls.contains("Could not run: uring (no TLS here)"), "{tls}");
    // Keep-alive over http still ran: it is not missing, and a failure there would count.
    results
        .runs
        .iter_mut()
        .find(|r| r.strategy == "uring" && r.site == "conn-cpu" && r.transport.keep_alive)
        .unwrap()
        .error = Some("reset".into());
    assert_eq!(
        c10k_harness::connections::unexplained_failures(&results).len(),
        1
    );
}

/// Whether two JSON values are equal, their numbers to one part in 10¹².
fn close_to(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close_to(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| close_to(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn the_pool_and_the_handshake_claims_follow_the_runs() {
    let results = fixture();
    // The stored claims are what the code derives from the runs (to the last digit JSON
    // keeps).
    let pool = c10k_harness::connections::pool_claims(&results);
    let tls = c10k_harness::connections::tls_claims(&results);
    for (derived, stored) in [
        (
            serde_json::to_value(pool),
            serde_json::to_value(&results.claims.pool),
        ),
        (
            serde_json::to_value(tls),
            serde_json::to_value(&results.claims.tls),
        ),
    ] {
        assert!(close_to(&derived.unwrap(), &stored.unwrap()));
    }
    let page = c10k_harness::summary::tables(&results);
    let runs = raw_runs();
    let cpu = |run: &Value| run["cpu_us_per_page"].as_f64().unwrap();
    for model in RUST {
        let mine = |tls, keep_alive, no_resume| {
            runs.iter()
                .filter(move |r| r["strategy"] == model && clean(r) && conn_cpu(r))
                .filter(move |r| default_form(r) && over(r, tls, keep_alive, no_resume))
        };
        let fastest = |a: &&Value, b: &&Value| {
            a["pages_per_s"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["pages_per_s"].as_f64().unwrap())
        };
        // The pool: closing → keeping, at the C where keeping was fastest.
        let kept = mine(false, true, false).max_by(fastest).unwrap();
        let at = |tls, no_resume| {
            mine(tls, false, no_resume)
                .find(|r| r["concurrency"] == kept["concurrency"])
                .unwrap()
        };
        let close = at(false, false);
        assert!(
            page.contains(&format!(
                "**{model}** {:.0} → {:.0} µs (saves {:.0} µs",
                cpu(close),
                cpu(kept),
                cpu(close) - cpu(kept)
            )),
            "{model}: {page}"
        );
        // The handshake: at the C where https (resumed) was fastest.
        let https = mine(true, false, false).max_by(fastest).unwrap();
        let at = |tls, no_resume| {
            mine(tls, false, no_resume)
                .find(|r| r["concurrency"] == https["concurrency"])
                .unwrap()
        };
        let (http, none) = (at(false, false), at(true, true));
        let full =
            none["connections"]["handshakes"].as_f64().unwrap() / none["fetched"].as_f64().unwrap();
        let handshake = (cpu(none) - cpu(http)) / full;
        assert!(
            page.contains(&format!("a full handshake {handshake:.0} µs")),
            "{model}: {handshake}"
        );
        assert!(
            page.contains(&format!(
                "resumption saves {:.0} µs per page",
                cpu(none) - cpu(https)
            )),
            "{model}"
        );
    }
}

/// The raw runs of the state axis of one `strategy`'s form, with `--state` or in memory.
fn state_runs(kept: bool) -> Vec<Value> {
    raw_runs()
        .into_iter()
        .filter(|r| r["site"] == "state-cpu" && r["state_axis"] == kept)
        .collect()
}

/// A raw run's form: strategy, loops or runtime threads, runtime.
fn raw_form(run: &Value) -> (String, Value, Value) {
    (
        run["strategy"].as_str().expect("a strategy").to_owned(),
        run["parallel"].clone(),
        run["runtime"].clone(),
    )
}

/// The median clean run of `runs` by responses/s (the lower middle one of an even number).
fn raw_median(mut runs: Vec<Value>) -> Option<Value> {
    runs.retain(clean);
    runs.sort_by(|a, b| {
        a["pages_per_s"]
            .as_f64()
            .unwrap()
            .total_cmp(&b["pages_per_s"].as_f64().unwrap())
    });
    let middle = runs.len().checked_sub(1)? / 2;
    runs.get(middle).cloned()
}

/// Each form's median run with `--state` or in memory.
fn state_medians(kept: bool) -> Vec<((String, Value, Value), Value)> {
    let runs = state_runs(kept);
    let mut forms: Vec<(String, Value, Value)> = Vec::new();
    for run in &runs {
        if !forms.contains(&raw_form(run)) {
            forms.push(raw_form(run));
        }
    }
    forms
        .into_iter()
        .filter_map(|form| {
            let of_form: Vec<Value> = runs
                .iter()
                .filter(|r| raw_form(r) == form)
                .cloned()
                .collect();
            Some((form, raw_median(of_form)?))
        })
        .collect()
}

fn rate(run: &Value) -> f64 {
    run["pages_per_s"].as_f64().expect("a rate")
}

#[test]
fn the_state_axis_sets_each_form_with_state_beside_itself_in_memory() {
    let mut results = fixture();
    let page = c10k_harness::summary::tables(&results);
    assert!(page.contains("## state-cpu site: "), "{page}");
    let memory = state_medians(false);
    let kept = state_medians(true);
    assert!(kept.len() >= 5, "the fixture has the state axis: {kept:?}");
    // Each form's row: its medians both ways, their ratio, and the --state crawl's bytes on
    // disk per URL.
    for (form, run) in &kept {
        let (_, in_memory) = memory.iter().find(|(f, _)| f == form).expect("both ways");
        let shape = match (&form.1, &form.2) {
            (Value::Number(n), Value::String(runtime)) => format!("{runtime}, {n} threads"),
            (Value::Number(n), _) => format!("{n} loops"),
            _ if form.0 == "threads" => "threads".to_owned(),
            _ => "one loop".to_owned(),
        };
        let disk = run["kept"]["disk_b"].as_f64().unwrap() / run["kept"]["urls"].as_f64().unwrap();
        let row = page
            .lines()
            .find(|l| l.starts_with(&format!("| {} | {shape} | ", form.0)))
            .unwrap_or_else(|| panic!("{form:?} in {page}"));
        assert!(
            row.contains(&format!("| {:.0} (", rate(in_memory)))
                && row.contains(&format!("| {:.0} (", rate(run))),
            "{row}"
        );
        assert!(
            row.contains(&format!("| {:.2} |", rate(run) / rate(in_memory))),
            "{row}"
        );
        assert!(row.contains(&format!("| {disk:.0} |")), "{row}");
    }

    // The target: each strategy's best form with --state against its best in memory.
    let best = |medians: &[((String, Value, Value), Value)], model: &str| {
        medians
            .iter()
            .filter(|(f, _)| f.0 == model)
            .map(|(_, r)| rate(r))
            .reduce(f64::max)
            .expect("a form")
    };
    let rows = target_rows(
        &page,
        "`--state` costs at most 20% of the in-memory rate at C = 100",
    );
    assert_eq!(rows.len(), 5, "{page}");
    for model in RUST {
        let (with, without) = (best(&kept, model), best(&memory, model));
        let ratio = with / without;
        let row = rows
            .iter()
            .find(|r| r.contains(&format!("| {model} | {with:.0}/s with `--state` (")))
            .unwrap_or_else(|| panic!("{model}: {rows:?}"));
        assert!(
            row.contains(&format!("against {without:.0}/s in memory (")),
            "{row}"
        );
        assert!(row.contains(&format!("| {ratio:.2} |")), "{row}");
        assert!(
            row.ends_with(if ratio >= 0.8 {
                "| yes |"
            } else {
                "| **no** |"
            }),
            "{row}"
        );
    }
    // What the numbers say with --state: the model whose best form's median leads, and the
    // target met by as many as the rows say.
    let leader = RUST
        .iter()
        .max_by(|a, b| best(&kept, a).total_cmp(&best(&kept, b)))
        .expect("models");
    let met = RUST
        .iter()
        .filter(|m| best(&kept, m) / best(&memory, m) >= 0.8)
        .count();
    let state = verdict_line(
        &headline::what_the_numbers_say(&results, "docs"),
        "State on disk",
    );
    assert!(
        state.contains(&format!(
            "**{leader}** leads with {:.0} responses/s (",
            best(&kept, leader)
        )),
        "{state}"
    );
    assert!(
        state.contains(&format!("Target 0.8×: met by {met} of 5")),
        "{state}"
    );
    // The TLS verdict links to the targets by the heading they have now.
    let tls = verdict_line(&headline::what_the_numbers_say(&results, "docs"), "TLS");
    assert!(
        tls.contains(
            "(docs/results.md#targets-of-issues-25-tls-26-keep-alive-and-28-state-on-disk)"
        ),
        "{tls}"
    );

    // Every --state crawl of generators failed: the table marks it and says why, and the
    // target counts it as missed.
    for run in &mut results.runs {
        if run.strategy == "generators" && run.state_axis == Some(true) {
            run.error = Some("--state: a write failed".to_owned());
        }
    }
    let page = c10k_harness::summary::tables(&results);
    assert!(
        page.contains("- generators (one loop), with `--state`: --state: a write failed"),
        "{page}"
    );
    let row = page
        .lines()
        .find(|l| l.starts_with("| generators | one loop | "))
        .expect("a row");
    assert!(row.contains(" | ✗ | — |"), "{row}");
    let rows = target_rows(&page, "`--state` costs at most 20%");
    assert!(
        rows.iter().any(|r| r.contains(
            "| generators | could not run with `--state`: --state: a write failed | — | **no** |"
        )),
        "{rows:?}"
    );

    // Without the state axis in the plan, the targets are issues 25 and 26's alone, and the
    // link follows.
    if let Some(plan) = &mut results.plan {
        plan.state = None;
    }
    let page = c10k_harness::summary::tables(&results);
    assert!(page.contains("## Targets of issues 25 (TLS) and 26 (keep-alive)\n"));
    assert!(!page.contains("state-cpu site"));
    let tls = verdict_line(&headline::what_the_numbers_say(&results, "docs"), "TLS");
    assert!(
        tls.contains("(docs/results.md#targets-of-issues-25-tls-and-26-keep-alive)"),
        "{tls}"
    );
}
