//! The results as Markdown: every table and claim of a sweep, for `summary.md` beside the data
//! and for `docs/results.md` when a run is published ([`crate::publish`]). The front page's
//! headline and *what the numbers say* are [`crate::headline`]'s.

use std::path::Path;

use c10k_core::Latency;

use crate::{
    connections::{self, shape},
    durable::{self, STATE_VS_MEMORY},
    loadgen::CpuPerResponse,
    peers::Peer,
    plan::{Plan, STALL, TLS_MEMORY, Transport},
    results::{Results, Run, WORK_LOSS},
};

/// The results as Markdown: machine, ceiling, one table per site, the claims, every plot
/// (linked relative to `plots`), the run's notes.
pub fn markdown(results: &Results, plots: &Path) -> String {
    let mut md = format!("{}\n\n", measured_on(results));
    md.push_str(&tables(results));
    md.push_str(&plot_links(results, plots, |_| true));
    md.push_str(&notes(results));
    md
}

/// One line: which plan ran, and the machine it ran on (CPU, cores, memory, kernel, rustc,
/// open-file limit, commit, date).
pub fn measured_on(results: &Results) -> String {
    let plan = results.plan.as_ref().map_or("?", |p| p.name.as_str());
    let by = match plan {
        "full" => " (what `cargo bench` runs)",
        "quick" => " (`c10k compare --quick`)",
        "smoke" => " (`cargo bench -- --test`)",
        _ => "",
    };
    format!(
        "Plan `{plan}`{by}, measured on {}.",
        results.machine.describe()
    )
}

/// The plots of `results` whose file stem `keep` accepts, as Markdown images linked relative
/// to `plots`.
pub fn plot_links(results: &Results, plots: &Path, keep: impl Fn(&str) -> bool) -> String {
    let mut md = String::from("\n");
    for (file, caption) in crate::plot::charts(results) {
        if keep(&file) {
            md.push_str(&format!(
                "![{caption}]({})\n",
                plots.join(format!("{file}.svg")).display()
            ));
        }
    }
    md
}

/// What the sweep skipped or could not measure, one line each.
pub fn notes(results: &Results) -> String {
    let mut md = String::new();
    if !results.notes.is_empty() {
        md.push_str("\nNotes from this run:\n\n");
        for note in &results.notes {
            md.push_str(&format!("- {note}\n"));
        }
    }
    md
}

/// The ceiling, one table per site and axis, and the lecture's claims.
pub fn tables(results: &Results) -> String {
    let mut md = String::new();
    let plan = results.plan.as_ref();
    if let Some(c) = &results.ceiling {
        md.push_str(&format!(
            "**Server ceiling** (one request per connection, {} connections, measured by the harness): \
             **{:.0} responses/s**{}.\n\n",
            c.connections,
            c.responses_per_s,
            c.wrk_responses_per_s
                .map(|w| format!("; `wrk -H 'Connection: close'`: {w:.0} responses/s"))
                .unwrap_or_else(|| "; `wrk` not installed (see `scripts/install-tools.sh`)".to_owned())
        ));
    }
    for site in plan.map(|p| p.sites.as_slice()).unwrap_or_default() {
        md.push_str(&format!("## {} site: {}\n\n", site.name, site.describe()));
        md.push_str(
            "| strategy | C | pages | wall s | responses/s | peak in flight | CPU µs/page | peak RSS MiB | RSS at widest MiB | RSS/conn B | p50 ms | p99 ms | ctx switches vol/invol | errors |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for r in results.runs.iter().filter(|r| r.site == site.name) {
            if let Some(err) = &r.error {
                md.push_str(&format!(
                    "| {} | {} | {} | — | — | — | — | — | — | — | — | — | — | could not run: {} |\n",
                    r.strategy, r.concurrency, r.pages, err
                ));
                continue;
            }
            md.push_str(&format!(
                "| {} | {} | {} | {:.2} | {:.0} | {} | {:.0} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {}/{} | {} |\n",
                r.strategy,
                r.concurrency,
                r.pages,
                r.wall_s,
                r.pages_per_s,
                r.peak_in_flight,
                r.cpu_us_per_page,
                r.max_rss_kib as f64 / 1024.0,
                r.rss_kib_at_widest as f64 / 1024.0,
                r.rss_per_connection_b.map_or("—".to_owned(), |b| format!("{b:.0}")),
                r.latency_ms.p50,
                r.latency_ms.p99,
                r.voluntary_switches,
                r.involuntary_switches,
                r.errors
            ));
        }
        md.push('\n');
    }
    if let Some(axis) = plan.and_then(|p| p.work.as_ref()) {
        md.push_str(&format!(
            "## work site: {}, at C = {}; N µs of CPU work per HTML page, on the loop or offloaded to rayon\n\n",
            axis.site.describe(),
            axis.concurrency
        ));
        md.push_str(
            "| strategy | work µs | wall s | responses/s | p50 ms | p99 ms | loop lag p50 ms | loop lag p99 ms | loop lag max ms | CPU µs/page | errors |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for r in results.runs.iter().filter(|r| r.site == "work") {
            if let Some(err) = &r.error {
                md.push_str(&format!(
                    "| {} | {} | — | — | — | — | — | — | — | — | could not run: {err} |\n",
                    r.variant(),
                    r.work_us
                ));
                continue;
            }
            let lag = |f: fn(&Latency) -> f64| {
                r.loop_lag_ms
                    .as_ref()
                    .map_or("—".to_owned(), |l| format!("{:.1}", f(l)))
            };
            md.push_str(&format!(
                "| {} | {} | {:.2} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {:.0} | {} |\n",
                r.variant(),
                r.work_us,
                r.wall_s,
                r.pages_per_s,
                r.latency_ms.p50,
                r.latency_ms.p99,
                lag(|l| l.p50),
                lag(|l| l.p99),
                lag(|l| l.max),
                r.cpu_us_per_page,
                r.errors
            ));
        }
        md.push('\n');
    }
    stall_table(results, &mut md);
    chaos_tables(results, &mut md);
    state_table(results, &mut md);
    cores_table(results, &mut md);
    counts_table(results, &mut md);
    connection_tables(results, &mut md);
    let gap = ceiling_table(results, &mut md);
    md.push_str("## The lecture's claims, measured\n\n");
    for (strategy, (seq, conc, c)) in &results.claims.overlap {
        md.push_str(&format!(
            "- *Overlapping waits* ({strategy}): the latency-bound crawl takes {seq:.2} s at C = 1 and {conc:.2} s at C = {c} ({:.1}× faster).\n",
            seq / conc.max(1e-9)
        ));
    }
    if !results.claims.memory_per_connection_b.is_empty() {
        let list: Vec<String> = results
            .claims
            .memory_per_connection_b
            .iter()
            .map(|(s, b)| format!("{s} {b:.0} B"))
            .collect();
        md.push_str(&format!(
            "- *Memory per connection* (RSS each extra in-flight connection adds, on the memory site): {}.\n",
            list.join(", ")
        ));
    }
    if !results.state_sizes.is_empty() {
        md.push_str("- *What one connection holds* (`size_of` of the per-connection structures, heap excluded):");
        for (strategy, parts) in &results.state_sizes {
            let parts: Vec<String> = parts
                .iter()
                .map(|(what, bytes)| format!("{} {bytes} B", what.trim()))
                .collect();
            md.push_str(&format!(" **{strategy}**: {};", parts.join(", ")));
        }
        md.push('\n');
    }
    if let Some(l) = &results.limits {
        md.push_str(&format!(
            "- *Threads run out before sockets?* One process held {} parked threads ({} KiB stacks; {}) \
             and {} sockets ({}); RSS with the threads parked: {:.0} MiB.\n",
            l.threads,
            l.thread_stack_kb,
            l.thread_error.as_deref().map_or(format!("stopped at the cap of {}", l.cap), |e| format!("stopped by: {e}")),
            l.sockets,
            l.socket_error.as_deref().map_or(format!("stopped at the cap of {}", l.cap), |e| format!("stopped by: {e}")),
            l.rss_kib_with_threads as f64 / 1024.0,
        ));
    }
    for (strategy, w) in &results.claims.work {
        let from = w.costs_from_us.map_or(
            format!(
                "never lost more than {:.0}% of its rate up to {} µs",
                WORK_LOSS * 100.0,
                w.max_work_us
            ),
            |us| {
                format!(
                    "lost more than {:.0}% of its rate from {us} µs of work per page",
                    WORK_LOSS * 100.0
                )
            },
        );
        md.push_str(&format!(
            "- *Blocking the loop* ({strategy}): inline, the crawl {from}; at {} µs it did {:.0} responses/s \
             (vs {:.0} without work) with the loop lagging {:.1} ms at p99; offloaded to rayon, {:.0} responses/s \
             and {:.1} ms.\n",
            w.max_work_us, w.inline_per_s, w.no_work_per_s, w.inline_lag_p99_ms, w.offload_per_s, w.offload_lag_p99_ms
        ));
    }
    scaling_claims(results, &mut md);
    for (peer, c) in &results.claims.peers {
        md.push_str(&format!(
            "- *Against {peer}* (a reference row, CPU-bound site, C = {}): {peer} did {:.0} responses/s; the slowest Rust strategy ({}) {:.1}× that, the fastest ({}) {:.1}×.\n",
            c.concurrency, c.peer_per_s, c.slowest.0, c.slowest.1, c.fastest.0, c.fastest.1
        ));
    }
    if let Some((who, rate, share)) = &results.claims.best_vs_ceiling {
        md.push_str(&format!(
            "- *Fast*: the best crawl of the CPU-bound site ({who}) reached {rate:.0} responses/s, {:.0}% of the server ceiling.\n",
            share * 100.0
        ));
    }
    if let Some(gap) = gap {
        md.push_str(&gap);
    }
    connection_claims(results, &mut md);
    targets_table(results, &mut md);
    md
}

/// The counted runs: instructions and system calls per response.
fn counts_table(results: &Results, md: &mut String) {
    let Some(axis) = results.plan.as_ref().and_then(|p| p.counts.as_ref()) else {
        return;
    };
    let runs: Vec<_> = results.runs.iter().filter(|r| r.site == "counts").collect();
    if runs.is_empty() {
        return;
    }
    md.push_str(&format!(
        "## cost per page: {}; each crawl counted once, never timed (whole process, start-up included)\n\n",
        axis.site.describe()
    ));
    md.push_str(
        "| strategy | C | responses | user instructions/page | kernel instructions/page | system calls/page | instructions counted by |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in &runs {
        if let Some(err) = &r.error {
            md.push_str(&format!(
                "| {} | {} | — | — | — | — | could not run: {err} |\n",
                r.variant(),
                r.concurrency
            ));
            continue;
        }
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.variant(),
            r.concurrency,
            r.fetched,
            or_dash(r.instructions_per_page, 0),
            or_dash(r.kernel_instructions_per_page, 0),
            or_dash(r.syscalls_per_page, 1),
            r.instructions_by.as_deref().unwrap_or("—"),
        ));
    }
    md.push('\n');
    split_table(&runs, results, md);
}

/// Where the counted runs' user instructions went (callgrind's profile of each): the core's
/// parts, the same work in every model, and each model's own.
fn split_table(runs: &[&Run], results: &Results, md: &mut String) {
    let split: Vec<(&Run, &crate::counts::Split)> = runs
        .iter()
        .filter(|r| r.error.is_none())
        .filter_map(|r| Some((*r, r.split.as_ref()?)))
        .collect();
    if split.is_empty() {
        return;
    }
    md.push_str(
        "### where a page's user instructions go\n\n\
         The same crawls under callgrind, per response. Each of the core's parts is a function \
         with all it calls, the allocator too: reading the response \
         (`ResponseReader::feed`: framing, head, body), the page (`Fetch::finish`: its \
         charset, its links and their URLs), the frontier (`Crawler::next_fetch` and \
         `complete`: the seen set, queues, politeness, records). A page goes through each once \
         in every model. What is left is the model's own: its loop and wake-ups, threads or \
         tasks, the user side of its system calls, the connection pool, the request's bytes. \
         The report is written once the crawl is over, outside its time; start-up is the \
         process's before the crawl.",
    );
    if let Some(wrk) = connections::wrk_instructions_per_response(results) {
        md.push_str(&format!(
            " For scale: `wrk -t1`, keeping its connections, made {wrk:.0} user \
             instructions per response, all of them its own."
        ));
    }
    md.push_str(
        "\n\n| strategy | C | user instructions/page | reading the response | the page and its links | the frontier | the model's own | the report | start-up |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (r, split) in split {
        let per = |value: u64| format!("{:.0}", value as f64 / r.fetched.max(1) as f64);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.variant(),
            r.concurrency,
            per(split.total),
            per(split.response),
            per(split.page),
            per(split.frontier),
            per(split.model()),
            per(split.report),
            per(split.outside),
        ));
    }
    md.push('\n');
}

/// One row of the ceiling table: who loaded the server, how fast, and what each response
/// cost the client and the server in CPU time.
struct Load {
    who: String,
    /// One of this workspace's strategies (not a load generator, not a peer).
    crawler: bool,
    /// A strategy's parallel form on every core (from the cores axis), not its one loop.
    parallel: bool,
    concurrency: usize,
    per_s: f64,
    client: Option<CpuPerResponse>,
    server_us: Option<f64>,
    syscalls: Option<f64>,
    instructions: Option<f64>,
}

impl Load {
    /// A crawl's row: its rate, and its own and the server's CPU time per response.
    fn of(run: &Run) -> Load {
        let pages = run.fetched as f64;
        Load {
            who: run.variant(),
            crawler: true,
            parallel: false,
            concurrency: run.concurrency,
            per_s: run.pages_per_s,
            client: Some(CpuPerResponse {
                user_us: run.user_s * 1e6 / pages,
                sys_us: run.sys_s * 1e6 / pages,
            }),
            server_us: Some(run.server_cpu_s * 1e6 / pages),
            syscalls: None,
            instructions: None,
        }
    }

    fn together_us(&self) -> Option<f64> {
        Some(self.client?.total_us() + self.server_us?)
    }
}

/// What stands between the crawlers and the server's ceiling: CPU time per response of the
/// client (wrk, the harness's load, each strategy at its best C on the CPU-bound site, and the
/// event-driven strategies' parallel forms on every core, from the cores axis) and of the
/// server, against what the machine's cores give. Returns the claim that sums it up.
fn ceiling_table(results: &Results, md: &mut String) -> Option<String> {
    let ceiling = results.ceiling.as_ref()?;
    let mut loads = Vec::new();
    if let Some(per_s) = ceiling.wrk_responses_per_s {
        loads.push(Load {
            who: "`wrk` (the ceiling)".to_owned(),
            crawler: false,
            parallel: false,
            concurrency: ceiling.connections,
            per_s,
            client: ceiling.wrk_client,
            server_us: ceiling.wrk_server_cpu_us,
            syscalls: None,
            instructions: None,
        });
    }
    loads.push(Load {
        who: "the harness's load".to_owned(),
        crawler: false,
        parallel: false,
        concurrency: ceiling.connections,
        per_s: ceiling.responses_per_s,
        client: ceiling.client,
        server_us: ceiling.server_cpu_us,
        syscalls: None,
        instructions: None,
    });
    let cpu_runs = || {
        results
            .runs
            .iter()
            .filter(|r| r.site == "cpu" && r.error.is_none() && r.fetched > 0)
    };
    let mut strategies: Vec<&str> = Vec::new();
    for run in cpu_runs() {
        if !strategies.contains(&run.strategy.as_str()) {
            strategies.push(&run.strategy);
        }
    }
    for strategy in strategies {
        let Some(best) = cpu_runs()
            .filter(|r| r.strategy == strategy)
            .max_by(|a, b| a.pages_per_s.total_cmp(&b.pages_per_s))
        else {
            continue;
        };
        // Counted at the same C where there is such a count, else at the nearest.
        let counted = results
            .runs
            .iter()
            .filter(|r| {
                r.site == "counts"
                    && r.strategy == strategy
                    && r.runtime.is_none()
                    && r.transport == Transport::HTTP_CLOSE
                    && r.error.is_none()
            })
            .min_by_key(|r| r.concurrency.abs_diff(best.concurrency));
        loads.push(Load {
            who: strategy.to_owned(),
            crawler: !Peer::ALL.iter().any(|peer| peer.name() == strategy),
            parallel: false,
            syscalls: counted.and_then(|r| r.syscalls_per_page),
            instructions: counted.and_then(|r| r.instructions_per_page),
            ..Load::of(best)
        });
    }
    // The event-driven strategies' parallel forms on every core (the cores axis's top step,
    // unpinned as the crawls above): what the models give a machine with more than one core.
    let top = results.top_cores().filter(|&top| top > 1);
    for run in results
        .runs
        .iter()
        .filter(|r| r.site == "cores" && r.cores == top && r.error.is_none() && r.fetched > 0)
    {
        let Some(loops) = run.parallel else {
            continue;
        };
        let unit = if run.runtime.is_some() {
            "runtime threads"
        } else {
            "loops"
        };
        loads.push(Load {
            who: format!("{}, {loops} {unit} (cores site)", run.variant()),
            crawler: true,
            parallel: true,
            syscalls: None,
            instructions: None,
            ..Load::of(run)
        });
    }
    let cores = results.machine.cores.max(1) as f64;
    md.push_str(&format!(
        "## between the crawlers and the ceiling: CPU time per response of client and server, CPU-bound site ({cores} cores shared by both)\n\n"
    ));
    md.push_str(
        "| client | C | responses/s | of the ceiling | client µs/response, user + kernel | server µs/response | together µs | cores in use | rate with every core in use | system calls/page | user instructions/page |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let ceiling_per_s = ceiling
        .wrk_responses_per_s
        .unwrap_or(ceiling.responses_per_s);
    for load in &loads {
        let together = load.together_us();
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.0}% | {} | {} | {} | {} | {} | {} | {} |\n",
            load.who,
            load.concurrency,
            load.per_s,
            load.per_s / ceiling_per_s * 100.0,
            load.client.map_or("—".to_owned(), |c| format!(
                "{:.1} + {:.1}",
                c.user_us, c.sys_us
            )),
            or_dash(load.server_us, 1),
            or_dash(together, 1),
            or_dash(together.map(|t| load.per_s * t / 1e6), 2),
            or_dash(together.map(|t| cores * 1e6 / t), 0),
            or_dash(load.syscalls, 1),
            or_dash(load.instructions, 0),
        ));
    }
    md.push('\n');

    // The claim: the reference client's cost against the crawlers'.
    let reference = loads.first()?;
    let crawlers: Vec<&Load> = loads.iter().filter(|l| l.crawler && !l.parallel).collect();
    let client = reference.client?;
    let share = |l: &Load| Some(l.per_s / ceiling_per_s * 100.0);
    // The smallest and largest of `f` over `loads`, if any has it.
    let range_of = |loads: &[&Load], f: &dyn Fn(&Load) -> Option<f64>| {
        let values: Vec<f64> = loads.iter().filter_map(|l| f(l)).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (!values.is_empty()).then_some((min, max))
    };
    let range = |f: &dyn Fn(&Load) -> Option<f64>| range_of(&crawlers, f);
    let (cost_min, cost_max) = range(&|l| Some(l.client?.total_us()))?;
    let (kernel_min, kernel_max) = range(&|l| {
        let c = l.client?;
        Some(c.sys_us / c.total_us() * 100.0)
    })?;
    let (share_min, share_max) = range(&share)?;
    let (busy_min, busy_max) = range(&|l| Some(l.per_s * l.together_us()? / 1e6))?;
    let (bound_min, bound_max) = range(&|l| Some(cores * 1e6 / l.together_us()?))?;
    let parallel: Vec<&Load> = loads.iter().filter(|l| l.parallel).collect();
    let on_every_core = range_of(&parallel, &share).map_or(String::new(), |(min, max)| {
        format!(
            " With a loop (or a runtime thread) per core, on the cores site, the event-driven crawls reach {min:.0}–{max:.0}%."
        )
    });
    Some(format!(
        "- *Between the crawlers and the ceiling*: per response, {} spends {:.1} µs of CPU ({:.0}% in the kernel) and the server {}; \
         the crawlers spend {cost_min:.0}–{cost_max:.0} µs per page ({kernel_min:.0}–{kernel_max:.0}% in the kernel: one TCP connection per page, \
         opened, written, read and closed on loopback, as `wrk` does too; the rest is parsing the page, which `wrk` does not do). \
         Crawler and server together keep {busy_min:.2}–{busy_max:.2} of the {cores} cores busy ({} {}), and with every core busy \
         their cost per response would allow {bound_min:.0}–{bound_max:.0} responses/s; the crawls reach {share_min:.0}–{share_max:.0}% of the ceiling (the event-driven ones on one loop).{on_every_core}\n",
        reference.who,
        client.total_us(),
        client.sys_us / client.total_us() * 100.0,
        reference
            .server_us
            .map_or("—".to_owned(), |s| format!("{s:.1} µs")),
        reference.who,
        reference.together_us().map_or("—".to_owned(), |t| format!(
            "{:.2}",
            reference.per_s * t / 1e6
        )),
    ))
}

/// The connection axis: per site, every form's rate and CPU per page over each transport;
/// on the CPU-bound site, TLS's cost split into handshakes and the rest, and what the pool
/// saves; keep-alive on one core; the memory site over https; wrk's rates.
fn connection_tables(results: &Results, md: &mut String) {
    let Some(axis) = results.plan.as_ref().and_then(|p| p.connections.as_ref()) else {
        return;
    };
    for at in &axis.sites {
        let site = &at.site;
        let runs: Vec<&Run> = results
            .runs
            .iter()
            .filter(|r| r.site == site.name && r.cores.is_none())
            .collect();
        if runs.is_empty() {
            continue;
        }
        md.push_str(&format!(
            "## {} site: {}; http and https, a connection per page or kept\n\n\
             Each cell: responses/s, and the crawler's CPU µs per page. ✗: could not run (the \
             reasons follow the table).",
            site.name,
            site.describe()
        ));
        if runs.iter().any(|r| !r.rounds_per_s.is_empty()) {
            md.push_str(
                " Over http each crawl ran once in each of several rounds: a cell is its \
                 median round, the slowest and fastest in brackets.",
            );
        }
        md.push_str("\n\n");
        md.push_str("| strategy | form | C |");
        for t in &axis.transports {
            md.push_str(&format!(" {} |", t.name()));
        }
        md.push_str("\n|---|---|---:|");
        md.push_str(&"---:|".repeat(axis.transports.len()));
        md.push('\n');
        let mut reasons: Vec<(String, String)> = Vec::new();
        for key in row_keys(&runs) {
            md.push_str(&format!(
                "| {} | {} | {} |",
                key.strategy,
                shape(key),
                key.concurrency
            ));
            for &t in &axis.transports {
                let cell = runs.iter().find(|r| r.same_form(key) && r.transport == t);
                md.push_str(&match cell {
                    None => " |".to_owned(),
                    Some(r) if r.error.is_some() => {
                        let reason = r.error.clone().unwrap_or_default();
                        let what = format!("{} {}", r.strategy, t.name());
                        if !reasons.iter().any(|(w, _)| *w == what) {
                            reasons.push((what, reason));
                        }
                        " ✗ |".to_owned()
                    }
                    Some(r) => format!(
                        " {:.0}{}, {:.0} µs{} |",
                        r.pages_per_s,
                        spread(&r.rounds_per_s),
                        r.cpu_us_per_page,
                        if r.errors > 0 {
                            format!(" ({} errors)", r.errors)
                        } else {
                            String::new()
                        }
                    ),
                });
            }
            md.push('\n');
        }
        md.push('\n');
        if !reasons.is_empty() {
            md.push_str("Could not run:\n\n");
            for (what, reason) in reasons {
                md.push_str(&format!("- {what}: {reason}\n"));
            }
            md.push('\n');
        }
    }
    tls_table(results, md);
    pool_table(results, md);
    one_core_table(results, md);
    tls_memory_table(results, md);
    wrk_table(results, md);
}

/// ` [slowest–fastest]` of a run's rounds, or nothing for a run of one.
fn spread(rounds: &[f64]) -> String {
    let slowest = rounds.iter().copied().reduce(f64::min);
    let fastest = rounds.iter().copied().reduce(f64::max);
    match (slowest, fastest) {
        (Some(slowest), Some(fastest)) if rounds.len() > 1 => {
            format!(" [{slowest:.0}–{fastest:.0}]")
        }
        _ => String::new(),
    }
}

/// One run per row (strategy, form, C), in the order the runs came.
fn row_keys<'a>(runs: &[&'a Run]) -> Vec<&'a Run> {
    let mut keys: Vec<&Run> = Vec::new();
    for &run in runs {
        if !keys.iter().any(|k| k.same_form(run)) {
            keys.push(run);
        }
    }
    keys
}

/// TLS on the CPU-bound site: each row's CPU per page over http, over https with and without
/// resumption, and the split (see [`crate::connections`]).
fn tls_table(results: &Results, md: &mut String) {
    let https: Vec<&Run> = connections::cpu_runs(results, Transport::HTTPS_CLOSE).collect();
    if https.is_empty() {
        return;
    }
    md.push_str(
        "## TLS on the conn-cpu site: the handshake apart from the rest of a page

\
         CPU µs per page of the crawler, in the same form at the same C: over http (the rest: \
         connect, request, response, links), over https with sessions resumed and with none. \
         A full handshake: (no resumption − http) over the full handshakes per page; a resumed \
         one: what is left of (resumed − http) after its full handshakes, over its resumed \
         ones. Both include the connection's records, a few µs for a 2 KiB page.\n\n\
         | strategy | form | C | responses/s resumed / none | http µs | https µs, resumed | https µs, none | resumed share | full handshake µs | resumed handshake µs | loop lag p99 ms, resumed |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in https {
        let split = connections::tls_split(
            run,
            connections::beside(results, run, Transport::HTTP_CLOSE),
            connections::beside(results, run, Transport::HTTPS_CLOSE_NO_RESUME),
        );
        md.push_str(&format!(
            "| {} | {} | {} | {:.0} / {} | {} | {:.0} | {} | {} | {} | {} | {} |\n",
            run.strategy,
            shape(run),
            run.concurrency,
            split.https_per_s,
            or_dash(split.no_resume_per_s, 0),
            or_dash(split.http_cpu_us, 0),
            split.https_cpu_us,
            or_dash(split.no_resume_cpu_us, 0),
            split
                .resumed_share
                .map_or("—".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            or_dash(split.full_handshake_us, 0),
            or_dash(split.resumed_handshake_us, 0),
            or_dash(run.loop_lag_ms.map(|l| l.p99), 1),
        ));
    }
    md.push('\n');
}

/// Keep-alive on the CPU-bound site: each row's rate and CPU per page closing and keeping
/// connections, over http and https.
fn pool_table(results: &Results, md: &mut String) {
    let kept: Vec<&Run> = connections::cpu_runs(results, Transport::HTTP_KEEP_ALIVE)
        .chain(connections::cpu_runs(results, Transport::HTTPS_KEEP_ALIVE))
        .collect();
    if kept.is_empty() {
        return;
    }
    md.push_str(
        "## keep-alive on the conn-cpu site: what the pool saves

\
         Each crawl keeping connections beside the same form at the same C closing them (over \
         https, closing resumes sessions). ×: keeping over closing; where both ran in rounds, \
         the median of each round's ratio, as the targets weigh them. Switches: the crawler's \
         context switches per page, keeping connections.\n\n\
         | strategy | form | C | over | responses/s close → keep-alive | × | CPU µs/page close → keep-alive | saved µs/page | switches/page | reused | stale | loop lag p99 ms |\n\
         |---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in kept {
        let close = Transport {
            keep_alive: false,
            ..run.transport
        };
        let Some(closed) = connections::beside(results, run, close) else {
            continue;
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} → {:.0} | {:.2} | {:.0} → {:.0} | {:.0} | {} | {} | {} | {} |\n",
            run.strategy,
            shape(run),
            run.concurrency,
            if run.transport.tls { "https" } else { "http" },
            closed.pages_per_s,
            run.pages_per_s,
            connections::Ratio::of_runs(run, closed).value,
            closed.cpu_us_per_page,
            run.cpu_us_per_page,
            closed.cpu_us_per_page - run.cpu_us_per_page,
            or_dash(run.switches_per_page(), 2),
            run.reused_share()
                .map_or("—".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            run.connections.map_or("—".to_owned(), |c| c.stale.to_string()),
            or_dash(run.loop_lag_ms.map(|l| l.p99), 1),
        ));
    }
    md.push('\n');
}

/// Keep-alive with the crawler on one CPU and the server on the others.
fn one_core_table(results: &Results, md: &mut String) {
    let pinned = connections::one_core_runs(results);
    let Some(first) = pinned.first() else {
        return;
    };
    let pages = results
        .plan
        .as_ref()
        .and_then(|p| p.connections.as_ref())
        .and_then(|a| a.one_core_site())
        .filter(|site| site.name == first.site)
        .map_or(String::new(), |site| format!(" ({})", site.describe()));
    let threads = pinned
        .iter()
        .copied()
        .find(|r| r.strategy == "threads" && r.error.is_none());
    let rounds = pinned
        .iter()
        .map(|r| r.rounds_per_s.len())
        .max()
        .unwrap_or(0);
    let in_rounds = if rounds > 1 {
        format!(
            "Each strategy crawled once in each of {rounds} rounds, every strategy in every \
             round: a rate is the median crawl's, the slowest and fastest in brackets; × \
             threads is the median of each round's ratio to threads in the same round.\n\n"
        )
    } else {
        String::new()
    };
    md.push_str(&format!(
        "## keep-alive on one core: the {} site{pages} at C = {}, {}\n\n{in_rounds}\
         | strategy | responses/s | × threads | CPU µs/page | switches/page | reused | p99 ms | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n",
        first.site,
        first.concurrency,
        first.pinning.as_deref().unwrap_or("pinned")
    ));
    for &r in &pinned {
        if let Some(err) = &r.error {
            md.push_str(&format!(
                "| {} | — | — | — | — | — | — | could not run: {err} |\n",
                r.strategy
            ));
            continue;
        }
        md.push_str(&format!(
            "| {} | {:.0}{} | {} | {:.0} | {} | {} | {:.1} | {} |\n",
            r.strategy,
            r.pages_per_s,
            spread(&r.rounds_per_s),
            or_dash(threads.map(|t| connections::Ratio::of_runs(r, t).value), 2),
            r.cpu_us_per_page,
            or_dash(r.switches_per_page(), 2),
            r.reused_share()
                .map_or("—".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            r.latency_ms.p99,
            r.errors
        ));
    }
    md.push('\n');
}

/// The memory site over https: RSS per in-flight TLS connection, beside the plain one.
fn tls_memory_table(results: &Results, md: &mut String) {
    let Some(at) = results
        .plan
        .as_ref()
        .and_then(|p| p.connections.as_ref())
        .and_then(|a| a.tls_memory.as_ref())
    else {
        return;
    };
    let runs: Vec<&Run> = results
        .runs
        .iter()
        .filter(|r| r.site == TLS_MEMORY)
        .collect();
    if runs.is_empty() {
        return;
    }
    md.push_str(&format!(
        "## {} site: {}, over https (sessions resumed)\n\n\
         | strategy | C | sampled in flight | RSS at widest MiB | RSS/TLS conn B | RSS/plain conn B (memory site) | errors |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
        at.site.name,
        at.site.describe()
    ));
    for r in runs {
        if let Some(err) = &r.error {
            md.push_str(&format!(
                "| {} | {} | — | — | — | — | could not run: {err} |\n",
                r.strategy, r.concurrency
            ));
            continue;
        }
        let plain = r.rss_per_connection_b.and(
            results
                .claims
                .memory_per_connection_b
                .get(&r.strategy)
                .copied(),
        );
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {} | {} | {} |\n",
            r.strategy,
            r.concurrency,
            r.sampled_in_flight,
            r.rss_kib_at_widest as f64 / 1024.0,
            or_dash(r.rss_per_connection_b, 0),
            or_dash(plain, 0),
            r.errors
        ));
    }
    md.push('\n');
    if let Some(bare) = &results.bare_tls
        && let Some(per_connection) = bare.per_connection_b()
    {
        md.push_str(&format!(
            "Bare rustls client connections, held the same way in a process of their own \
             (`c10k probe-tls`: each boxed, its handshake done against the same certificate, \
             {} of {} resumed, the session tickets read, the request written; no socket): \
             {:.1} MiB at {} and {:.1} MiB at {}, **{per_connection:.0} B per connection** \
             (`size_of` {} B, the rest on the heap). That is what TLS costs a connection \
             before any model's own; the target holds each event-driven model's RSS per TLS \
             connection to it plus the model's per plain connection.\n\n",
            bare.resumed,
            bare.connections.1,
            bare.rss_kib.0 as f64 / 1024.0,
            bare.connections.0,
            bare.rss_kib.1 as f64 / 1024.0,
            bare.connections.1,
            bare.size_of_b,
        ));
    }
}

/// wrk against the connection axis's CPU-bound site.
fn wrk_table(results: &Results, md: &mut String) {
    if results.wrk.is_empty() {
        if results
            .plan
            .as_ref()
            .is_some_and(|p| p.connections.is_some())
        {
            md.push_str(
                "*wrk is not installed here: the TLS and keep-alive ceilings are not measured \
                 (`scripts/install-tools.sh` installs it).*\n\n",
            );
        }
        return;
    }
    md.push_str(
        "## wrk against the conn-cpu site: the TLS and keep-alive ceilings\n\n\
         `wrk` fetching the root page again and again, closing every connection (`-H \
         'Connection: close'`) or keeping them, with a thread per core and with one (as one \
         loop has). Over https wrk resumes its session on every new connection after the \
         first, and checks no certificate. Over http wrk loads the server at the start of \
         each round of the crawls, so that each round's crawls are weighed against wrk's rate \
         of their own moment: a cell with rounds is their median, the slowest and fastest in \
         brackets. System calls and instructions per response come from a second run of one \
         second, counted, in the first round.\n\n\
         | wrk | threads | connections | responses/s | client µs/response, user + kernel | server µs/response | system calls/response | user instructions/response |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for w in &results.wrk {
        md.push_str(&format!(
            "| {} | {} | {} | {:.0}{} | {} | {} | {} | {} |\n",
            w.transport.name(),
            w.threads,
            w.connections,
            w.responses_per_s,
            spread(&w.rounds_per_s),
            w.client.map_or("—".to_owned(), |c| format!(
                "{:.1} + {:.1}",
                c.user_us, c.sys_us
            )),
            or_dash(w.server_cpu_us, 1),
            or_dash(w.syscalls_per_response, 1),
            or_dash(w.instructions_per_response, 0),
        ));
    }
    md.push('\n');
}

/// The lecture's connection pool, the handshake's cost, and memory per TLS connection, as
/// claims; and the transports strategies lack.
fn connection_claims(results: &Results, md: &mut String) {
    let claims = &results.claims;
    if !claims.pool.is_empty() {
        let list: Vec<String> = claims
            .pool
            .iter()
            .map(|(model, p)| {
                let mut text = format!(
                    "**{model}** {:.0} → {:.0} µs (saves {:.0} µs, {:.0}%; {:.2}× the rate, C = {})",
                    p.close_cpu_us,
                    p.keep_alive_cpu_us,
                    p.saves_us(),
                    p.saves_us() / p.close_cpu_us.max(1e-9) * 100.0,
                    p.times(),
                    p.concurrency
                );
                if let Some((close, kept)) = p.https_cpu_us {
                    text.push_str(&format!(", over https {close:.0} → {kept:.0} µs"));
                }
                if let Some((c, close, kept)) = p.syscalls {
                    text.push_str(&format!(
                        ", system calls {close:.1} → {kept:.1} per page (counted, C = {c})"
                    ));
                }
                text
            })
            .collect();
        md.push_str(&format!(
            "- *A pool of connections* (\"the same is usually done with sockets, in a connection \
             pool\"): the crawler's CPU per page on the conn-cpu site, closing → keeping \
             connections, each model's default form at the C where keeping them was fastest (× \
             the rate: where both ran in rounds, the median of each round's ratio): {}.\n",
            list.join("; ")
        ));
    }
    if !claims.tls.is_empty() {
        let list: Vec<String> = claims
            .tls
            .iter()
            .map(|(model, t)| {
                let mut text = format!("**{model}** (C = {})", t.concurrency);
                if let Some(http) = t.http_cpu_us {
                    text.push_str(&format!(" {http:.0} µs over http"));
                }
                text.push_str(&format!(", {:.0} resumed", t.https_cpu_us));
                if let Some(none) = t.no_resume_cpu_us {
                    text.push_str(&format!(", {none:.0} without resumption"));
                }
                if let Some(full) = t.full_handshake_us {
                    text.push_str(&format!("; a full handshake {full:.0} µs"));
                }
                if let Some(resumed) = t.resumed_handshake_us {
                    text.push_str(&format!(", a resumed one {resumed:.0} µs"));
                }
                if let Some(saves) = t.resumption_saves_us() {
                    text.push_str(&format!("; resumption saves {saves:.0} µs per page"));
                }
                text
            })
            .collect();
        md.push_str(&format!(
            "- *What the handshake costs* (the crawler's CPU per page on the conn-cpu site, each \
             model's default form at the C where https was fastest): {}.\n",
            list.join("; ")
        ));
    }
    if !claims.tls_memory_per_connection_b.is_empty() {
        let list: Vec<String> = claims
            .tls_memory_per_connection_b
            .iter()
            .map(
                |(model, bytes)| match claims.memory_per_connection_b.get(model) {
                    Some(plain) => format!("{model} {bytes:.0} B (plain {plain:.0} B)"),
                    None => format!("{model} {bytes:.0} B"),
                },
            )
            .collect();
        let bare = match results.bare_tls.as_ref().and_then(|b| b.per_connection_b()) {
            Some(bytes) => {
                format!("; a bare rustls ClientConnection held the same way {bytes:.0} B")
            }
            None => String::new(),
        };
        md.push_str(&format!(
            "- *Memory per TLS connection* (RSS each extra in-flight connection adds, on the \
             memory site over https): {}{bare}.\n",
            list.join(", ")
        ));
    }
    if let Some(line) = connections::missing_line(results) {
        md.push_str(&format!(
            "- *Not supported yet* (every crawl that needs it failed): {line}.\n"
        ));
    }
}

/// The heading of the targets table: the issues whose axes `plan` runs (25 and 26: the
/// connection axis; 28: the state axis), or `None` when it runs neither.
pub fn targets_heading(plan: &Plan) -> Option<String> {
    match (plan.connections.is_some(), plan.state.is_some()) {
        (true, true) => {
            Some("Targets of issues 25 (TLS), 26 (keep-alive) and 28 (state on disk)".to_owned())
        }
        (true, false) => Some("Targets of issues 25 (TLS) and 26 (keep-alive)".to_owned()),
        (false, true) => Some("Targets of issue 28 (state on disk)".to_owned()),
        (false, false) => None,
    }
}

/// The anchor a link to a heading takes on GitHub: lower case, spaces as hyphens, and
/// nothing else but letters, digits, hyphens and underscores.
pub fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Issues 25, 26 and 28's targets, those whose axes ran, with the figures that meet or miss
/// them: one group of rows per target, its text in the first.
fn targets_table(results: &Results, md: &mut String) {
    let Some(plan) = results.plan.as_ref() else {
        return;
    };
    let Some(heading) = targets_heading(plan) else {
        return;
    };
    let mut targets = Vec::new();
    if plan.connections.is_some() {
        targets.extend(connections::targets(results));
    }
    if plan.state.is_some() {
        targets.push(durable::target(results));
    }
    md.push_str(&format!(
        "\n## {heading}\n\n\
         Each target as the issue sets it, and each model's figure against it (ratio: the \
         figure over what it is held against).\n\n\
         | issue | target | model | measured | ratio | met |\n\
         |---:|---|---|---|---:|---|\n",
    ));
    for target in targets {
        let head = format!("| {} | {} |", target.issue, target.text);
        if let Some(why) = &target.not_measured {
            md.push_str(&format!("{head} — | not measured: {why} | — | — |\n"));
            continue;
        }
        for (i, row) in target.rows.iter().enumerate() {
            md.push_str(&format!(
                "{} {} | {} | {} | {} |\n",
                if i == 0 { head.as_str() } else { "| | |" },
                row.model,
                row.measured,
                or_dash(row.ratio, 2),
                match row.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "not judged",
                }
            ));
        }
    }
    md.push('\n');
    if plan.connections.is_some()
        && let Some(bound) = connections::one_loop_bound(results)
    {
        md.push_str(&bound);
        md.push_str("\n\n");
    }
}

/// A figure with `digits` decimals, or a dash where there is none.
fn or_dash(value: Option<f64>, digits: usize) -> String {
    value.map_or("—".to_owned(), |v| format!("{v:.digits$}"))
}

/// The idle cost of waiting connections: the CPU each model spends while C stalled fetches
/// wait together, against issue 27's target (under 2% of one core).
fn stall_table(results: &Results, md: &mut String) {
    let Some(at) = results.plan.as_ref().and_then(|p| p.stall.as_ref()) else {
        return;
    };
    let runs: Vec<&Run> = results.runs.iter().filter(|r| r.site == STALL).collect();
    if runs.is_empty() {
        return;
    }
    md.push_str(&format!(
        "## {} site: {}; the CPU spent while every fetch waits\n\n\
         The share of one core the crawler used over the second half of the time it held all \
         its connections in flight (the first half holds the last connects and sends), sampled \
         every 10 ms, the sampler's own thread left out. Target: under 2% of one core.\n\n\
         | strategy | C | sampled in flight | CPU while waiting, % of a core | under 2% | errors |\n\
         |---|---:|---:|---:|---|---|\n",
        at.site.name,
        at.site.describe()
    ));
    for r in runs {
        if let Some(err) = &r.error {
            md.push_str(&format!(
                "| {} | {} | — | — | — | could not run: {err} |
",
                r.variant(),
                r.concurrency
            ));
            continue;
        }
        let met = r
            .waiting_cpu
            .map_or("not measured (too short a wait)", |share| {
                if share < 0.02 { "yes" } else { "no" }
            });
        md.push_str(&format!(
            "| {} | {} | {} | {} | {met} | {} |
",
            r.variant(),
            r.concurrency,
            r.sampled_in_flight,
            or_dash(r.waiting_cpu.map(|share| share * 100.0), 2),
            r.errors
        ));
    }
    md.push('\n');
}

/// The state axis: each form's rate in memory and with `--state DIR` (the median crawl of
/// each side, and the range of its crawls), their ratio against issue 28's target, CPU per
/// page and peak RSS both ways, and what the state cost in bytes per URL.
fn state_table(results: &Results, md: &mut String) {
    let Some(axis) = results.plan.as_ref().and_then(|p| p.state.as_ref()) else {
        return;
    };
    let pairs = durable::pairs(results);
    if pairs.is_empty() {
        return;
    }
    let repeats = if axis.repeats > 1 {
        format!(
            ", {} times each way; each figure is the median crawl's (responses/s: the median, \
             and the slowest and fastest crawl in brackets)",
            axis.repeats
        )
    } else {
        String::new()
    };
    md.push_str(&format!(
        "## {} site: {}, at C = {}; in memory and with `--state DIR`\n\n\
         Each form crawled the site in memory and with `--state`, one crawl after the \
         other{repeats}. With `--state`, each crawl had a directory made empty for it (under \
         `TMPDIR`), removed after it. Responses/s is over the crawl's own time (the store is \
         opened before it and synced after it); CPU per page and peak RSS are the whole \
         process's. Bytes are per URL that ended: *written*, the keys and values the crawl gave \
         its store (— where `c10k crawl --json` does not report them); *on disk*, the blocks \
         the directory's files held after the crawl. Target (issue 28): with `--state` at \
         least {STATE_VS_MEMORY}× the rate in memory. ✗: no crawl ran clean (the reasons \
         follow the table).\n\n\
         | strategy | form | responses/s in memory | responses/s with `--state` | ratio | CPU µs/page, in memory → `--state` | peak RSS MiB, in memory → `--state` | written B/URL | on disk B/URL | errors, in memory / `--state` |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        axis.site.name,
        axis.site.describe(),
        axis.concurrency,
    ));
    let mut reasons: Vec<(String, String)> = Vec::new();
    for pair in &pairs {
        let Some(form) = pair.form() else {
            continue;
        };
        for (runs, how) in [
            (&pair.in_memory, "in memory"),
            (&pair.kept, "with `--state`"),
        ] {
            for run in runs.iter() {
                let why = match (&run.error, run.errors) {
                    (Some(err), _) => err.clone(),
                    (None, 0) => continue,
                    (None, n) => format!("{n} URLs failed"),
                };
                let what = format!("{} ({}), {how}", run.strategy, shape(run));
                if !reasons.iter().any(|(w, r)| *w == what && *r == why) {
                    reasons.push((what, why));
                }
            }
        }
        let (memory, kept) = (pair.memory_median(), pair.kept_median());
        let rate = |median: Option<&Run>, runs: &[&Run]| {
            let Some(median) = median else {
                return if runs.is_empty() { "—" } else { "✗" }.to_owned();
            };
            let rates = runs
                .iter()
                .filter(|r| r.error.is_none() && r.errors == 0)
                .map(|r| r.pages_per_s);
            let (low, high) = (
                rates.clone().fold(f64::INFINITY, f64::min),
                rates.fold(f64::NEG_INFINITY, f64::max),
            );
            if runs.len() > 1 {
                format!("{:.0} ({low:.0}–{high:.0})", median.pages_per_s)
            } else {
                format!("{:.0}", median.pages_per_s)
            }
        };
        let both = |of: &dyn Fn(&Run) -> String| {
            format!(
                "{} → {}",
                memory.map_or("—".to_owned(), of),
                kept.map_or("—".to_owned(), of)
            )
        };
        let stored = kept.and_then(|r| r.kept);
        let per_url =
            |bytes: Option<u64>| or_dash(stored.zip(bytes).and_then(|(k, b)| k.per_url(b)), 0);
        let errors = |runs: &[&Run]| runs.iter().map(|r| r.errors).sum::<usize>().to_string();
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |\n",
            form.strategy,
            shape(form),
            rate(memory, &pair.in_memory),
            rate(kept, &pair.kept),
            or_dash(pair.ratio(), 2),
            both(&|r| format!("{:.0}", r.cpu_us_per_page)),
            both(&|r| format!("{:.1}", r.max_rss_kib as f64 / 1024.0)),
            per_url(stored.and_then(|k| k.written_b)),
            per_url(stored.map(|k| k.disk_b)),
            errors(&pair.in_memory),
            errors(&pair.kept),
        ));
    }
    md.push('\n');
    if !reasons.is_empty() {
        md.push_str("Could not run clean:\n\n");
        for (what, reason) in reasons {
            md.push_str(&format!("- {what}: {reason}\n"));
        }
        md.push('\n');
    }
}

/// Faults at load: per chaos site, each variant's rate, p99 and exactness at each fault
/// rate; its rate at the lowest nonzero fault rate against none (issue 27's target: at least
/// 0.9× at 1%), and its peak RSS at the highest against none (at most 2×).
fn chaos_tables(results: &Results, md: &mut String) {
    let Some(axis) = results.plan.as_ref().and_then(|p| p.chaos.as_ref()) else {
        return;
    };
    for set in &axis.sets {
        let runs: Vec<&Run> = results
            .runs
            .iter()
            .filter(|r| r.site == set.site.name)
            .collect();
        if runs.is_empty() {
            continue;
        }
        let pct = |rate: f64| format!("{}%", rate * 100.0);
        md.push_str(&format!(
            "## {} site: {}, at C = {}; `serve --chaos` at {}, seed {}, `--max-tries {}`, `--timeout-ms {}`\n\n\
             Each cell: responses/s, p99 latency in ms, and the lines of `--urls-out` not as the \
             server expected (0: no URL lost, doubled or ended otherwise). A crawl ends no sooner \
             than its slowest URL, and a stall or a drip costs a try `--timeout-ms`: on a site \
             crawled in well under that, any fault rate bounds the rate by the timeout, not by \
             the model.\n\n",
            set.site.name,
            set.site.describe(),
            set.concurrency,
            set.rates.iter().map(|&r| pct(r)).collect::<Vec<_>>().join(", "),
            axis.seed,
            axis.max_tries,
            set.timeout_ms(axis),
        ));
        let baseline = set.rates.contains(&0.0);
        let lowest = set
            .rates
            .iter()
            .copied()
            .filter(|&r| r > 0.0)
            .reduce(f64::min);
        md.push_str("| strategy | form |");
        for &rate in &set.rates {
            md.push_str(&format!(" {} |", pct(rate)));
        }
        let highest = set
            .rates
            .iter()
            .copied()
            .reduce(f64::max)
            .filter(|&r| r > 0.0);
        if let (true, Some(lowest), Some(highest)) = (baseline, lowest, highest) {
            md.push_str(&format!(
                " rate at {} against none | peak RSS at {} against none |",
                pct(lowest),
                pct(highest)
            ));
        }
        md.push_str("\n|---|---|");
        for _ in &set.rates {
            md.push_str("---:|");
        }
        if baseline && lowest.is_some() && highest.is_some() {
            md.push_str("---:|---:|");
        }
        md.push('\n');
        for key in row_keys(&runs) {
            let at = |rate: f64| {
                runs.iter()
                    .find(|r| r.same_form(key) && r.chaos == Some(rate))
                    .copied()
            };
            md.push_str(&format!("| {} | {} |", key.strategy, shape(key)));
            for &rate in &set.rates {
                let cell = match at(rate) {
                    Some(r) if r.error.is_none() => format!(
                        "{:.0} · {:.0} · {}",
                        r.pages_per_s,
                        r.latency_ms.p99,
                        r.mismatched.map_or("—".to_owned(), |n| n.to_string())
                    ),
                    Some(r) => format!("✗ {}", r.error.as_deref().unwrap_or_default()),
                    None => "—".to_owned(),
                };
                md.push_str(&format!(" {cell} |"));
            }
            if let (true, Some(lowest), Some(highest)) = (baseline, lowest, highest) {
                let ratio = |rate: f64, of: fn(&Run) -> f64| match (at(0.0), at(rate)) {
                    (Some(none), Some(with)) if none.error.is_none() && with.error.is_none() => {
                        Some(of(with) / of(none).max(1e-9))
                    }
                    _ => None,
                };
                md.push_str(&format!(
                    " {}× | {}× |",
                    or_dash(ratio(lowest, |r| r.pages_per_s), 2),
                    or_dash(ratio(highest, |r| r.max_rss_kib as f64), 2)
                ));
            }
            md.push('\n');
        }
        md.push('\n');
    }
}

/// The cores axis: one row per variant and core count.
fn cores_table(results: &Results, md: &mut String) {
    let Some(axis) = results.plan.as_ref().and_then(|p| p.cores.as_ref()) else {
        return;
    };
    md.push_str(&format!(
        "## cores site: {}, at C = {}; the crawler on k cores (pinned apart from the server below the top step)\n\n",
        axis.site.describe(),
        axis.concurrency
    ));
    md.push_str(
        "| variant | cores | loops or threads | pinning | wall s | responses/s | scaling efficiency | CPU µs/page | p99 ms | errors |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in results.runs.iter().filter(|r| r.site == "cores") {
        let cores = r.cores.map_or("?".to_owned(), |c| c.to_string());
        let parallel = r.parallel.map_or("—".to_owned(), |p| p.to_string());
        let pinning = r.pinning.as_deref().unwrap_or("—");
        if let Some(err) = &r.error {
            md.push_str(&format!(
                "| {} | {cores} | {parallel} | {pinning} | — | — | — | — | — | could not run: {err} |\n",
                r.variant()
            ));
            continue;
        }
        md.push_str(&format!(
            "| {} | {cores} | {parallel} | {pinning} | {:.2} | {:.0} | {} | {:.0} | {:.1} | {} |\n",
            r.variant(),
            r.wall_s,
            r.pages_per_s,
            r.scaling_efficiency
                .map_or("—".to_owned(), |e| format!("{e:.2}")),
            r.cpu_us_per_page,
            r.latency_ms.p99,
            r.errors
        ));
    }
    md.push('\n');
}

/// The lecture's "concurrency, not parallelism", measured on the cores axis.
fn scaling_claims(results: &Results, md: &mut String) {
    let parallelism = &results.claims.parallelism;
    let Some(cores) = parallelism.values().map(|c| c.cores).max() else {
        return;
    };
    if cores < 2 {
        md.push_str("- *Concurrency, not parallelism*: this machine gave the crawler one core, so the cores axis has one step.\n");
        return;
    }
    let list: Vec<String> = parallelism
        .iter()
        .filter(|(variant, _)| variant.as_str() != "threads")
        .map(|(variant, c)| {
            format!(
                "{variant} {:.0} → {:.0} ({:.2} efficiency{})",
                c.one_core_per_s,
                c.all_cores_per_s,
                c.efficiency,
                c.vs_threads
                    .map_or(String::new(), |t| format!(", {t:.2}× threads"))
            )
        })
        .collect();
    let threads = parallelism.get("threads").map_or(String::new(), |t| {
        format!(
            " Threads, which the OS spreads over the cores by itself: {:.0} → {:.0} responses/s.",
            t.one_core_per_s, t.all_cores_per_s
        )
    });
    if list.is_empty() {
        return;
    }
    md.push_str(&format!(
        "- *Concurrency, not parallelism*: one event loop uses one core; one loop per core (share-nothing shards) or a work-stealing runtime uses them all. Responses/s on 1 → {cores} cores: {}.{threads}\n",
        list.join("; ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counted run whose profile split `total` instructions over 1,000 responses.
    fn counted(strategy: &str, split: Option<crate::counts::Split>) -> Run {
        Run {
            site: "counts".to_owned(),
            strategy: strategy.to_owned(),
            concurrency: 100,
            transport: Transport::HTTP_KEEP_ALIVE,
            fetched: 1000,
            split,
            ..Run::default()
        }
    }

    #[test]
    fn a_pages_instructions_are_split_per_response_with_the_models_own_left() {
        let split = crate::counts::Split {
            total: 24_000_000,
            outside: 700_000,
            response: 3_700_000,
            page: 10_400_000,
            frontier: 3_900_000,
            report: 1_100_000,
        };
        let mut results = Results::default();
        results.wrk.push(crate::loadgen::WrkRow {
            site: crate::plan::CONN_CPU.to_owned(),
            transport: Transport::HTTP_KEEP_ALIVE,
            threads: 1,
            connections: 100,
            responses_per_s: 150_000.0,
            instructions_per_response: Some(570.0),
            ..crate::loadgen::WrkRow::default()
        });
        let runs = [counted("callbacks", Some(split)), counted("threads", None)];
        let mut md = String::new();
        split_table(&runs.iter().collect::<Vec<_>>(), &results, &mut md);
        assert!(
            md.contains("`wrk -t1`, keeping its connections, made 570"),
            "{md}"
        );
        assert!(!md.contains("  "), "prose of single spaces: {md}");
        // 24,000 a page: 3,700 + 10,400 + 3,900, the model's 4,200, 1,100 and 700.
        assert!(
            md.contains(
                "| callbacks+keep-alive | 100 | 24000 | 3700 | 10400 | 3900 | 4200 | 1100 | 700 |"
            ),
            "{md}"
        );
        assert!(!md.contains("| threads"), "no profile, no row: {md}");

        let mut md = String::new();
        split_table(&[&runs[1]], &results, &mut md);
        assert!(md.is_empty(), "no table without a profile");
    }

    #[test]
    fn the_gap_to_the_ceiling_is_cpu_time_per_response() {
        let mut results = Results::default();
        results.machine.cores = 2;
        results.ceiling = Some(crate::loadgen::Ceiling {
            connections: 100,
            responses_per_s: 19_000.0,
            client: Some(CpuPerResponse {
                user_us: 3.0,
                sys_us: 37.0,
            }),
            server_cpu_us: Some(30.0),
            wrk_responses_per_s: Some(20_000.0),
            wrk_client: Some(CpuPerResponse {
                user_us: 2.0,
                sys_us: 38.0,
            }),
            wrk_server_cpu_us: Some(30.0),
            ..Default::default()
        });
        let run =
            |strategy: &str, site: &str, concurrency: usize, per_s: f64| crate::results::Run {
                strategy: strategy.to_owned(),
                site: site.to_owned(),
                concurrency,
                pages_per_s: per_s,
                fetched: 1000,
                user_s: 0.010,
                sys_s: 0.040,
                server_cpu_s: 0.030,
                syscalls_per_page: (site == "counts").then_some(8.0),
                ..Default::default()
            };
        let on_cores = |cores: usize, per_s: f64| crate::results::Run {
            cores: Some(cores),
            parallel: Some(cores),
            ..run("callbacks", "cores", 100, per_s)
        };
        results.runs = vec![
            run("callbacks", "cpu", 10, 15_000.0),
            run("callbacks", "cpu", 100, 16_000.0),
            run("go", "cpu", 100, 10_000.0),
            run("callbacks", "counts", 100, 0.0),
            on_cores(1, 14_000.0),
            on_cores(2, 19_000.0),
        ];
        let mut md = String::new();
        let claim = ceiling_table(&results, &mut md).unwrap();
        // wrk: 40 + 30 = 70 µs together; at 20,000/s that is 1.40 cores, 2 cores allow 28,571/s.
        assert!(md.contains("| `wrk` (the ceiling) | 100 | 20000 | 100% | 2.0 + 38.0 | 30.0 | 70.0 | 1.40 | 28571 | — | — |"), "{md}");
        // callbacks at its best C: 10 + 40 µs of its own, 30 of the server's, counted at C = 100.
        assert!(md.contains("| callbacks | 100 | 16000 | 80% | 10.0 + 40.0 | 30.0 | 80.0 | 1.28 | 25000 | 8.0 | — |"), "{md}");
        assert!(md.contains("| go | 100 | 10000 |"), "{md}");
        // The claim ranges over the crawlers only, not the peers.
        assert!(
            claim.contains("the crawlers spend 50–50 µs per page (80–80% in the kernel"),
            "{claim}"
        );
        assert!(claim.contains("reach 80–80% of the ceiling"), "{claim}");
        // The parallel form on every core has a row of its own, and a sentence: not the one
        // loop's range, and not its one-core step.
        assert!(
            md.contains("| callbacks, 2 loops (cores site) | 100 | 19000 | 95% |"),
            "{md}"
        );
        assert!(!md.contains("| callbacks, 1 loops"), "{md}");
        assert!(
            claim.contains("per core, on the cores site, the event-driven crawls reach 95–95%"),
            "{claim}"
        );
    }
}
