//! The front page's figures, drawn from one sweep: each model's best form on the CPU-bound and
//! the latency-bound site and its memory per connection (the headline table), and for each
//! regime a reader chooses a model for, which one leads and by how much (*what the numbers
//! say*). Every figure comes from the sweep's runs; nothing here is typed by hand.
//!
//! A regime is one entry of [`REGIMES`]: a name and the function that draws its [`Verdict`]
//! from a sweep; adding a regime is adding its function there (see `docs/measuring.md`). A
//! sweep without runs for a regime (TLS and keep-alive before the connection axis) lists it
//! as not measured.

use std::fmt::Write as _;

use crate::{
    Strategy,
    connections::{self, KEEP_ALIVE_VS_CLOSE, KEEP_ALIVE_VS_WRK, TLS_VS_WRK},
    durable::{self, STATE_VS_MEMORY},
    peers::Peer,
    plan::{CONN_CPU, Transport},
    results::{Results, Run, WORK_LOSS},
};

/// Models whose figures differ by less than this share of the leader's are called a tie: a
/// sweep runs each crawl once, on a machine the crawler shares with the server.
pub const TIE: f64 = 0.10;

/// One model's figure, and the run that reached it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The model: a strategy, a peer, or a variant such as `callbacks+offload`.
    pub model: String,
    /// The figure.
    pub value: f64,
    /// The form that reached it: `C = 100`, `2 loops, C = 100`, `per-core, 2 threads, C = 100`.
    pub form: String,
    /// The run it comes from.
    pub run: Run,
}

/// A figure that several models have, measured the same way.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figure {
    /// Its unit: `responses/s`, `B`, `MiB`.
    pub unit: &'static str,
    /// Decimals to show.
    pub digits: usize,
    /// Whether more is better (a rate) or less (bytes).
    pub higher_is_better: bool,
    /// One per model that has it, in the order of [`models`].
    pub entries: Vec<Entry>,
    /// Models whose crawl for this figure could not run, and why.
    pub missing: Vec<(String, String)>,
}

impl Figure {
    fn new(unit: &'static str, digits: usize, higher_is_better: bool) -> Figure {
        Figure {
            unit,
            digits,
            higher_is_better,
            ..Figure::default()
        }
    }

    /// The value of `model`, if it has one.
    pub fn value_of(&self, model: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|e| e.model == model)
            .map(|e| e.value)
    }

    /// The entries, best first.
    pub fn ranked(&self) -> Vec<&Entry> {
        let mut ranked: Vec<&Entry> = self.entries.iter().collect();
        ranked.sort_by(|a, b| {
            let order = b.value.total_cmp(&a.value);
            if self.higher_is_better {
                order
            } else {
                order.reverse()
            }
        });
        ranked
    }

    /// Whether `value` is within [`TIE`] of `leader`.
    pub fn ties(&self, leader: f64, value: f64) -> bool {
        if self.higher_is_better {
            value >= leader * (1.0 - TIE)
        } else {
            value <= leader * (1.0 + TIE)
        }
    }

    fn show(&self, value: f64) -> String {
        format!("{value:.*}", self.digits)
    }

    fn show_with_unit(&self, value: f64) -> String {
        match self.unit {
            "B" | "MiB" => format!("{} {}", self.show(value), self.unit),
            unit => format!("{} {unit}", self.show(value)),
        }
    }
}

/// A crawl that ran and fetched what it should: the only kind a figure is drawn from.
fn clean(run: &Run) -> bool {
    run.error.is_none() && run.errors == 0 && run.fetched > 0
}

/// The models of a sweep, in the lecture's order and then the reference rows: those with at
/// least one run.
pub fn models(results: &Results) -> Vec<String> {
    let names = Strategy::ALL
        .iter()
        .map(|s| s.name())
        .chain(Peer::ALL.iter().map(|p| p.name()));
    names
        .filter(|name| results.runs.iter().any(|r| r.strategy == *name))
        .map(str::to_owned)
        .collect()
}

/// Whether `model` is one of this workspace's event-driven strategies (one loop by default).
fn event_driven(model: &str) -> bool {
    Strategy::ALL
        .iter()
        .any(|s| s.name() == model && *s != Strategy::Threads)
}

/// How a run was crawled, in a few words.
pub fn form(run: &Run) -> String {
    let c = format!("C = {}", run.concurrency);
    match (&run.runtime, run.parallel) {
        (Some(runtime), Some(n)) => format!("{runtime}, {n} threads, {c}"),
        (None, Some(n)) => format!("{n} loops, {c}"),
        _ if event_driven(&run.strategy) => format!("one loop, {c}"),
        _ => c,
    }
}

/// Each model's best of `runs` by `value`, one entry per model.
fn best_of<'a>(
    results: &Results,
    runs: impl Iterator<Item = &'a Run> + Clone,
    value: impl Fn(&Run) -> Option<f64>,
    mut figure: Figure,
) -> Figure {
    for model in models(results) {
        let mine = runs.clone().filter(|r| r.strategy == model);
        let best = mine
            .clone()
            .filter(|r| clean(r))
            .filter_map(|r| Some((r, value(r)?)))
            .reduce(|a, b| {
                let better = if figure.higher_is_better {
                    b.1 > a.1
                } else {
                    b.1 < a.1
                };
                if better { b } else { a }
            });
        match best {
            Some((run, value)) => figure.entries.push(Entry {
                model: model.clone(),
                value,
                form: form(run),
                run: run.clone(),
            }),
            None => {
                if let Some(reason) = mine.filter_map(|r| r.error.clone()).next() {
                    figure.missing.push((model, reason));
                }
            }
        }
    }
    figure
}

/// Each model's best responses/s among `runs`.
fn rates<'a>(results: &Results, runs: impl Iterator<Item = &'a Run> + Clone) -> Figure {
    best_of(
        results,
        runs,
        |r| Some(r.pages_per_s),
        Figure::new("responses/s", 0, true),
    )
}

/// Responses/s on the CPU-bound site, each model in its best form: its best C, and for the
/// event-driven models one loop or a loop (or runtime thread) per core — the cores axis's
/// top step, which crawls the same site unpinned, as the CPU-bound crawls run.
pub fn cpu_bound(results: &Results) -> Figure {
    let top = results.top_cores();
    let runs = results
        .runs
        .iter()
        .filter(move |r| r.site == "cpu" || (r.site == "cores" && r.cores == top));
    rates(results, runs)
}

/// Responses/s on the CPU-bound site, each model at its best C as the lecture writes it: the
/// event-driven models on one loop, threads on as many threads as C.
pub fn cpu_one_loop(results: &Results) -> Figure {
    let runs = results.runs.iter().filter(|r| r.site == "cpu");
    rates(results, runs)
}

/// Responses/s on the latency-bound site, each model at its best C.
pub fn latency_bound(results: &Results) -> Figure {
    let runs = results.runs.iter().filter(|r| r.site == "latency");
    rates(results, runs)
}

/// Responses/s on the connection axis's CPU-bound site over `transport`, each model in its
/// best form: its best C, one loop or a loop (runtime thread) per core; unpinned.
pub fn conn_cpu_bound(results: &Results, transport: Transport) -> Figure {
    let runs = results
        .runs
        .iter()
        .filter(move |r| r.site == CONN_CPU && r.transport == transport && r.cores.is_none());
    rates(results, runs)
}

/// Responses/s on the state axis's site with `--state DIR`, each model in its best form by
/// its median crawl (see [`crate::durable`]).
pub fn with_state(results: &Results) -> Figure {
    let pairs = durable::pairs(results);
    // The medians, and the crawls that could not run: a model none of whose forms has a
    // median is missing, with the reason.
    let runs: Vec<&Run> = pairs
        .iter()
        .filter_map(|p| p.kept_median())
        .chain(durable::runs(results).filter(|r| r.state_axis == Some(true) && r.error.is_some()))
        .collect();
    rates(results, runs.into_iter())
}

/// The concurrencies a site was crawled with.
fn concurrencies<'a>(results: &'a Results, site: &'a str) -> impl Iterator<Item = usize> + 'a {
    results
        .runs
        .iter()
        .filter(move |r| r.site == site)
        .map(|r| r.concurrency)
}

/// The most connections a site was crawled with, and the runs at that C.
fn widest<'a>(
    results: &'a Results,
    site: &'a str,
) -> Option<(usize, impl Iterator<Item = &'a Run> + Clone)> {
    let c = concurrencies(results, site).max()?;
    let runs = results
        .runs
        .iter()
        .filter(move |r| r.site == site && r.concurrency == c);
    Some((c, runs))
}

/// Responses/s on the latency-bound site at its largest C: many connections, each waiting.
pub fn latency_at_widest(results: &Results) -> Option<(usize, Figure)> {
    let (c, runs) = widest(results, "latency")?;
    Some((c, rates(results, runs)))
}

/// Bytes of RSS each extra connection in flight adds (the memory site).
pub fn memory_per_connection(results: &Results) -> Figure {
    let runs = results.runs.iter().filter(|r| r.site == "memory");
    best_of(
        results,
        runs,
        |r| r.rss_per_connection_b,
        Figure::new("B", 0, false),
    )
}

/// RSS when the most connections were in flight, at the memory site's largest C.
pub fn memory_at_widest(results: &Results) -> Option<(usize, Figure)> {
    let (c, runs) = widest(results, "memory")?;
    Some((
        c,
        best_of(
            results,
            runs,
            |r| Some(r.rss_kib_at_widest as f64 / 1024.0),
            Figure::new("MiB", 1, false),
        ),
    ))
}

/// Responses/s on every core (the cores axis's top step), each model in its best parallel
/// form; `None` when the crawler had one core.
pub fn every_core(results: &Results) -> Option<(usize, Figure)> {
    let top = results.top_cores().filter(|&top| top > 1)?;
    let runs = results
        .runs
        .iter()
        .filter(move |r| r.site == "cores" && r.cores == Some(top));
    Some((top, rates(results, runs)))
}

/// Responses/s with the most CPU work per page (the work site), each strategy with the work
/// on its loop and, for the event-driven ones, offloaded: one entry per variant.
pub fn blocking_work(results: &Results) -> Option<(u64, Figure)> {
    let most = results
        .runs
        .iter()
        .filter(|r| r.site == "work")
        .map(|r| r.work_us)
        .max()
        .filter(|&us| us > 0)?;
    let mut figure = Figure::new("responses/s", 0, true);
    for run in results
        .runs
        .iter()
        .filter(|r| r.site == "work" && r.work_us == most)
    {
        if clean(run) {
            figure.entries.push(Entry {
                model: run.variant(),
                value: run.pages_per_s,
                form: form(run),
                run: run.clone(),
            });
        } else if let Some(reason) = &run.error {
            figure.missing.push((run.variant(), reason.clone()));
        }
    }
    (!figure.entries.is_empty()).then_some((most, figure))
}

/// The headline table: each model's best form on the CPU-bound and latency-bound sites, and
/// its memory per connection.
pub fn table(results: &Results) -> String {
    let (cpu, latency, memory) = (
        cpu_bound(results),
        latency_bound(results),
        memory_per_connection(results),
    );
    let (https, kept) = (
        conn_cpu_bound(results, Transport::HTTPS_CLOSE),
        conn_cpu_bound(results, Transport::HTTP_KEEP_ALIVE),
    );
    let connections = !https.entries.is_empty() || !kept.entries.is_empty();
    let cell = |figure: &Figure, model: &str| {
        figure
            .entries
            .iter()
            .find(|e| e.model == model)
            .map_or("—".to_owned(), |e| {
                if figure.unit == "B" {
                    format!("{} B", figure.show(e.value))
                } else {
                    format!("{} ({})", figure.show(e.value), e.form)
                }
            })
    };
    let mut md = String::from(
        "| model | CPU-bound site: best responses/s | latency-bound site: best responses/s | memory per connection |",
    );
    md.push_str(if connections {
        " over https: best responses/s | keep-alive: best responses/s |\n|---|---:|---:|---:|---:|---:|\n"
    } else {
        "\n|---|---:|---:|---:|\n"
    });
    for model in models(results) {
        let _ = write!(
            md,
            "| {model} | {} | {} | {} |",
            cell(&cpu, &model),
            cell(&latency, &model),
            cell(&memory, &model)
        );
        if connections {
            let _ = write!(md, " {} | {} |", cell(&https, &model), cell(&kept, &model));
        }
        md.push('\n');
    }
    let site = |name: &str| {
        results
            .plan
            .as_ref()
            .and_then(|p| p.sites.iter().find(|s| s.name == name))
            .map_or(String::new(), |s| format!(" ({})", s.describe()))
    };
    let memory_cs: Vec<usize> = memory.entries.iter().map(|e| e.run.concurrency).collect();
    let memory_from = concurrencies(results, "memory").min();
    let _ = write!(
        md,
        "\nThe CPU-bound site{}: every C, and for the event-driven models one loop or the cores \
         axis's top step, a loop (or runtime thread) per core. The latency-bound site{}: every C. \
         Memory per connection: the RSS one more connection in flight adds, on the memory site",
        site("cpu"),
        site("latency"),
    );
    if let (Some(from), Some(to)) = (memory_from, memory_cs.iter().max()) {
        let _ = write!(md, " from C = {from} to C = {to}");
    }
    md.push('.');
    if connections {
        let site = results
            .plan
            .as_ref()
            .and_then(|p| p.connections.as_ref())
            .and_then(|a| a.cpu_site())
            .map_or(String::new(), |s| format!(" ({})", s.describe()));
        let _ = write!(
            md,
            " Over https and keep-alive: the connection axis's CPU-bound site{site}, every C, one \
             loop or a loop (or runtime thread) per core; over https a connection per page, \
             sessions resumed; keep-alive over http."
        );
    }
    md.push('\n');
    md
}

/// What one regime's figures say: who leads, by how much, what it rests on, and where the
/// answer depends on the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The regime's name.
    pub regime: &'static str,
    /// Where in the sweep: the site and its C or work.
    pub context: String,
    /// The figure compared.
    pub figure: Figure,
    /// The table of `docs/results.md` it rests on.
    pub rests_on: String,
    /// What may differ on another machine, with this run's figures; may be empty.
    pub machine: String,
}

/// A regime a reader chooses a model for, and how its verdict is drawn; `None` for one the
/// sweep does not measure yet.
pub struct Regime {
    /// The regime's name.
    pub name: &'static str,
    /// Draws the verdict from a sweep, or `None` when the sweep has no runs for it; `docs` is
    /// the path from the page being written to the `docs/` folder.
    pub verdict: Option<fn(&Results, &str) -> Option<Verdict>>,
}

/// The regimes, in the order the front page gives them.
pub const REGIMES: &[Regime] = &[
    Regime {
        name: "Latency-bound, many connections",
        verdict: Some(latency_verdict),
    },
    Regime {
        name: "CPU-bound",
        verdict: Some(cpu_verdict),
    },
    Regime {
        name: "Blocking work on the loop",
        verdict: Some(blocking_verdict),
    },
    Regime {
        name: "Every core",
        verdict: Some(every_core_verdict),
    },
    Regime {
        name: "Memory, many connections",
        verdict: Some(memory_verdict),
    },
    Regime {
        name: "TLS",
        verdict: Some(tls_verdict),
    },
    Regime {
        name: "Keep-alive",
        verdict: Some(keep_alive_verdict),
    },
    Regime {
        name: "State on disk",
        verdict: Some(state_verdict),
    },
];

/// `min–max` of `values` with `digits` decimals (one figure when they are equal), or `None`.
pub(crate) fn span(values: impl Iterator<Item = f64>, digits: usize) -> Option<String> {
    let values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    let min = values.iter().copied().reduce(f64::min)?;
    let max = values.iter().copied().reduce(f64::max)?;
    let (a, b) = (format!("{min:.digits$}"), format!("{max:.digits$}"));
    Some(if a == b { a } else { format!("{a}–{b}") })
}

/// How much of a crawler's work per page is which, from the counted keep-alive crawls'
/// callgrind profiles: the core's parts (the same in every model) as ranges over the models,
/// and each model's own; `None` without them.
fn own_work(results: &Results, wrk: Option<f64>, docs: &str) -> Option<String> {
    let counted: Vec<(&Run, &crate::counts::Split)> = results
        .runs
        .iter()
        .filter(|r| {
            r.site == "counts" && r.transport == Transport::HTTP_KEEP_ALIVE && r.error.is_none()
        })
        .filter_map(|r| Some((r, r.split.as_ref()?)))
        .collect();
    let (first, _) = counted.first()?;
    let per = |r: &Run, value: u64| value as f64 / r.fetched.max(1) as f64;
    let thousands = |part: fn(&crate::counts::Split) -> u64| {
        span(counted.iter().map(|(r, s)| per(r, part(s)) / 1000.0), 1)
            .map(|span| format!("{span}K"))
    };
    let totals = span(counted.iter().map(|(r, s)| per(r, s.total)), 0)?;
    let wrk = wrk.map_or(String::new(), |wrk| {
        format!(" where wrk made {wrk:.0} per response")
    });
    let own: Vec<String> = counted
        .iter()
        .map(|(r, s)| format!("{} {:.1}K", r.strategy, per(r, s.model()) / 1000.0))
        .collect();
    Some(format!(
        "counted at C = {c}, the crawlers made {totals} user instructions per page{wrk}: the \
         core's work, the same in every model, was reading the response {response}, the page \
         and its links {page}, the frontier {frontier}; each model's own was {own} \
         ([where they go]({docs}/results.md#where-a-pages-user-instructions-go))",
        c = first.concurrency,
        response = thousands(|s| s.response)?,
        page = thousands(|s| s.page)?,
        frontier = thousands(|s| s.frontier)?,
        own = own.join(", "),
    ))
}

/// How many of a target's rows are met, as `met by N of M`, or why it was not judged.
fn met(target: Option<&connections::Target>) -> String {
    let Some(target) = target else {
        return "not judged".to_owned();
    };
    if let Some(why) = &target.not_measured {
        return format!("not measured: {why}");
    }
    let judged: Vec<bool> = target.rows.iter().filter_map(|r| r.met).collect();
    let missed: Vec<&str> = target
        .rows
        .iter()
        .filter(|r| r.met == Some(false))
        .map(|r| r.model.as_str())
        .collect();
    let mut text = format!(
        "met by {} of {}",
        judged.iter().filter(|&&m| m).count(),
        judged.len()
    );
    if !missed.is_empty() {
        let _ = write!(text, ", missed by {}", missed.join(", "));
    }
    text
}

/// The target of `issue` whose text starts with `start`.
fn target<'a>(
    targets: &'a [connections::Target],
    issue: u32,
    start: &str,
) -> Option<&'a connections::Target> {
    targets
        .iter()
        .find(|t| t.issue == issue && t.text.starts_with(start))
}

/// A link to the targets table, under the heading it has in this sweep, ending a sentence.
fn targets_link(results: &Results, docs: &str) -> String {
    match results
        .plan
        .as_ref()
        .and_then(crate::summary::targets_heading)
    {
        Some(heading) => format!(
            " ([targets]({docs}/results.md#{})).",
            crate::summary::anchor(&heading)
        ),
        None => ".".to_owned(),
    }
}

fn tls_verdict(results: &Results, docs: &str) -> Option<Verdict> {
    let figure = conn_cpu_bound(results, Transport::HTTPS_CLOSE);
    if figure.entries.is_empty() && figure.missing.is_empty() {
        return None;
    }
    let claims = &results.claims.tls;
    let mut machine = String::new();
    let full = span(claims.values().filter_map(|t| t.full_handshake_us), 0);
    let resumed = span(claims.values().filter_map(|t| t.resumed_handshake_us), 0);
    if let Some(full) = full {
        let _ = write!(
            machine,
            "A full handshake cost the crawlers {full} µs of CPU here"
        );
        if let Some(resumed) = resumed {
            let _ = write!(machine, " and a resumed one {resumed} µs");
        }
        machine.push_str(" (key exchange and, in full, checking the certificate)");
    }
    // What the handshake does to each model: the share of its page's CPU that TLS takes.
    let shares: Vec<String> = claims
        .iter()
        .filter_map(|(model, t)| {
            let tls = t.tls_us()?;
            Some(format!(
                "{model} {:.0}%",
                tls / t.https_cpu_us.max(1e-9) * 100.0
            ))
        })
        .collect();
    if !shares.is_empty() {
        let _ = write!(
            machine,
            "{}TLS took this share of each model's CPU per page, sessions resumed: {}; it is \
             CPU work on the loop, so one loop is bound by it where threads and a loop per \
             core spread it",
            if machine.is_empty() { "" } else { "; " },
            shares.join(", ")
        );
    }
    if let Some(saves) = span(claims.values().filter_map(|t| t.resumption_saves_us()), 0) {
        let _ = write!(machine, "; resumption saved {saves} µs per page");
    }
    if !machine.is_empty() {
        machine.push_str(". ");
    }
    let targets = connections::targets(results);
    match connections::wrk(results, Transport::HTTPS_CLOSE, None) {
        Some(wrk) => {
            let _ = write!(
                machine,
                "`wrk -t{}` closing every connection did {:.0} responses/s over https against the \
                 same server (it resumes sessions and checks no certificate); the target, each \
                 model's best form at {TLS_VS_WRK}× that or more, is {}. ",
                wrk.threads,
                wrk.responses_per_s,
                met(target(&targets, 25, "Every strategy's best form over TLS"))
            );
        }
        None => machine.push_str("wrk is not installed here: no TLS ceiling. "),
    }
    let _ = write!(
        machine,
        "Handshakes cost the same µs on any machine of the same CPU, but their share moves with \
         the kernel's cost of a connection"
    );
    machine.push_str(&targets_link(results, docs));
    Some(Verdict {
        regime: "TLS",
        context: "CPU-bound site over https, a connection per page, sessions resumed, each model \
                  in its best form"
            .to_owned(),
        figure,
        rests_on: "the *TLS on the conn-cpu site* table".to_owned(),
        machine,
    })
}

fn keep_alive_verdict(results: &Results, docs: &str) -> Option<Verdict> {
    let figure = conn_cpu_bound(results, Transport::HTTP_KEEP_ALIVE);
    if figure.entries.is_empty() && figure.missing.is_empty() {
        return None;
    }
    let closing = conn_cpu_bound(results, Transport::HTTP_CLOSE);
    let mut machine = String::new();
    let times: Vec<String> = figure
        .entries
        .iter()
        .filter_map(|e| {
            let close = closing.entries.iter().find(|c| c.model == e.model)?;
            let ratio = connections::Ratio::of_runs(&e.run, &close.run);
            Some(format!("{} {:.1}×", e.model, ratio.value))
        })
        .collect();
    if !times.is_empty() {
        let _ = write!(
            machine,
            "Keeping connections, each model's best form against its best closing them: {}",
            times.join(", ")
        );
    }
    let pool = &results.claims.pool;
    if let Some(saves) = span(pool.values().map(|p| p.saves_us()), 0) {
        let _ = write!(
            machine,
            "; the pool saved {saves} µs of CPU per page (the kernel's connect, accept and close)"
        );
    }
    if !machine.is_empty() {
        machine.push_str(". ");
    }
    let targets = connections::targets(results);
    let _ = write!(
        machine,
        "Target {KEEP_ALIVE_VS_CLOSE}× the close rate: {}. ",
        met(target(&targets, 26, "On the CPU-bound site, keep-alive"))
    );
    match connections::wrk(results, Transport::HTTP_KEEP_ALIVE, None) {
        Some(wrk) => {
            let _ = write!(
                machine,
                "`wrk -t{}` keeping its connections did {:.0} responses/s{}, spending {} µs of \
                 CPU per response",
                wrk.threads,
                wrk.responses_per_s,
                match wrk.rounds_per_s.len() {
                    0 | 1 => String::new(),
                    n => format!(" (the median of {n} loads, one at the start of each round)"),
                },
                wrk.client
                    .map_or("—".to_owned(), |c| format!("{:.1}", c.total_us()))
            );
            if let Some(crawlers) = span(figure.entries.iter().map(|e| e.run.cpu_us_per_page), 0) {
                let _ = write!(
                    machine,
                    " where the crawlers spent {crawlers} µs per page: the difference is the \
                     crawler's own work"
                );
                let counted = connections::wrk_instructions_per_response(results);
                match own_work(results, counted, docs) {
                    Some(split) => {
                        let _ = write!(machine, ", which wrk does not do ({split})");
                    }
                    None => machine.push_str(
                        " (parsing the page and its links, the frontier), which wrk does not do",
                    ),
                }
            }
            let _ = write!(
                machine,
                "; target {KEEP_ALIVE_VS_WRK}× wrk: {}. ",
                met(target(&targets, 26, "Every strategy's best form reaches"))
            );
        }
        None => machine.push_str("wrk is not installed here: no keep-alive ceiling. "),
    }
    let _ = write!(
        machine,
        "With the kernel's connection cost gone, what is left is each model's own overhead, \
         which moves with the CPU more than with the kernel ([what the pool saves]({docs}/results.md#keep-alive-on-the-conn-cpu-site-what-the-pool-saves))"
    );
    match wake_ups(&figure) {
        Some(wake_ups) => {
            let _ = write!(machine, ": {wake_ups}.");
        }
        None => machine.push('.'),
    }
    Some(Verdict {
        regime: "Keep-alive",
        context: "CPU-bound site over http, connections kept, each model in its best form"
            .to_owned(),
        figure,
        rests_on: "the *keep-alive on the conn-cpu site* table".to_owned(),
        machine,
    })
}

/// The context switches per page of `figure`'s runs: threads' against the other models'.
fn wake_ups(figure: &Figure) -> Option<String> {
    let threads = figure.entries.iter().find(|e| e.model == "threads")?;
    let others = span(
        figure
            .entries
            .iter()
            .filter(|e| e.model != "threads")
            .filter_map(|e| e.run.switches_per_page()),
        2,
    )?;
    Some(format!(
        "threads switched context {:.2} times a page (each thread blocks on its response, \
         which wakes it: a trip through the scheduler per page), the other models' best forms \
         {others}",
        threads.run.switches_per_page()?
    ))
}

fn state_verdict(results: &Results, docs: &str) -> Option<Verdict> {
    let figure = with_state(results);
    if figure.entries.is_empty() && figure.missing.is_empty() {
        return None;
    }
    let target = durable::target(results);
    let mut machine = String::new();
    let ratios: Vec<String> = target
        .rows
        .iter()
        .filter_map(|row| Some(format!("{} {:.2}×", row.model, row.ratio?)))
        .collect();
    if !ratios.is_empty() {
        let _ = write!(
            machine,
            "Each model's best form with `--state` against its best in memory: {}. ",
            ratios.join(", ")
        );
    }
    let _ = write!(
        machine,
        "Target {STATE_VS_MEMORY}×: {}. ",
        met(Some(&target))
    );
    let pairs = durable::pairs(results);
    let added = pairs.iter().filter_map(|p| {
        Some(p.kept_median()?.cpu_us_per_page - p.memory_median()?.cpu_us_per_page)
    });
    if let Some(added) = span(added, 0) {
        let _ = write!(
            machine,
            "`--state` added {added} µs of CPU per page to the median crawls here (a write \
             batch per step into the store's journal); "
        );
    }
    machine.push_str(
        "each step's batch is handed to the operating system without a sync, and the store is \
         synced once, at the end, outside the crawl's time, so the disk under `TMPDIR` weighs \
         less here than the CPU",
    );
    machine.push_str(&targets_link(results, docs));
    let at = results
        .plan
        .as_ref()
        .and_then(|p| p.state.as_ref())
        .map_or(String::new(), |axis| {
            format!(
                " at C = {}, the median of {} crawls",
                axis.concurrency, axis.repeats
            )
        });
    Some(Verdict {
        regime: "State on disk",
        context: format!("CPU-bound site with `--state DIR`{at}, each model in its best form"),
        figure,
        rests_on: "the *state-cpu site* table".to_owned(),
        machine,
    })
}

fn latency_verdict(results: &Results, docs: &str) -> Option<Verdict> {
    let (c, figure) = latency_at_widest(results)?;
    let mut machine = String::new();
    if let Some(limits) = &results.limits {
        let ran = figure.value_of("threads").is_some();
        let _ = write!(
            machine,
            "Threads {} C = {c} here, where one process could hold {} threads{}; where \
             `vm.max_map_count` or the open-file limit is lower they stop sooner \
             ([limits]({docs}/limits.md)). ",
            if ran { "ran at" } else { "could not run at" },
            limits.threads,
            if limits.thread_error.is_some() {
                " before the OS refused more"
            } else {
                " (the probe's cap)"
            },
        );
    }
    // CPU time per page × rate: the cores a crawl kept busy.
    let busy = |e: &Entry| e.run.cpu_us_per_page * e.value / 1e6;
    let ranked = figure.ranked();
    if let Some(leader) = ranked.first() {
        let _ = write!(
            machine,
            "At this width the crawlers do not only wait: {} kept {:.2} cores busy",
            leader.model,
            busy(leader)
        );
        if let Some(threads) = figure.entries.iter().find(|e| e.model == "threads")
            && threads.model != leader.model
        {
            let _ = write!(machine, " and threads {:.2}", busy(threads));
        }
        machine.push_str(
            " (CPU time per page × rate), so the speed of the CPU moves these rates too.",
        );
    }
    Some(Verdict {
        regime: "Latency-bound, many connections",
        context: format!("latency site, C = {c}"),
        figure,
        rests_on: "the *latency site* table".to_owned(),
        machine,
    })
}

fn cpu_verdict(results: &Results, docs: &str) -> Option<Verdict> {
    let figure = cpu_one_loop(results);
    if figure.entries.is_empty() {
        return None;
    }
    let shares: Vec<f64> = figure
        .entries
        .iter()
        .filter(|e| !Peer::ALL.iter().any(|p| p.name() == e.model))
        .filter(|e| e.run.user_s + e.run.sys_s > 0.0)
        .map(|e| e.run.sys_s / (e.run.user_s + e.run.sys_s) * 100.0)
        .collect();
    let mut machine = format!(
        "Crawler and server share this machine's {} cores, and one loop uses one of them; \
         the event-driven models' parallel forms are the next regime.",
        results.machine.cores
    );
    if let (Some(min), Some(max)) = (
        shares.iter().copied().reduce(f64::min),
        shares.iter().copied().reduce(f64::max),
    ) {
        let _ = write!(
            machine,
            " {min:.0}–{max:.0}% of the Rust crawlers' CPU time is the kernel's (one TCP connection \
             per page), so the order follows system calls and instructions per page \
             ([cost per page]({docs}/cost.md)), and moves with the kernel and the CPU."
        );
    }
    if let Some(ceiling) = &results.ceiling
        && let Some(best) = figure.ranked().first()
    {
        let _ = write!(
            machine,
            " The server's own ceiling here is {:.0} responses/s; the leader reached {:.0}% of \
             it.",
            ceiling.responses_per_s,
            best.value / ceiling.responses_per_s * 100.0
        );
    }
    Some(Verdict {
        regime: "CPU-bound",
        context: "CPU-bound site, each model at its best C, the event-driven ones on one loop"
            .to_owned(),
        figure,
        rests_on: "the *cpu site* table".to_owned(),
        machine,
    })
}

fn blocking_verdict(results: &Results, docs: &str) -> Option<Verdict> {
    let (work_us, figure) = blocking_work(results)?;
    let c = figure.entries.first().map_or(0, |e| e.run.concurrency);
    let from: Vec<u64> = results
        .claims
        .work
        .values()
        .filter_map(|w| w.costs_from_us)
        .collect();
    let mut machine = String::new();
    if let (Some(min), Some(max)) = (from.iter().min(), from.iter().max()) {
        let _ = write!(
            machine,
            "The loop began to lose more than {:.0}% of its rate from {} µs of work per page here; \
             that is a share of the loop's time, so it moves with the core's speed. ",
            WORK_LOSS * 100.0,
            if min == max {
                min.to_string()
            } else {
                format!("{min}–{max}")
            }
        );
    }
    let _ = write!(
        machine,
        "Threads and offloading put the work on other cores (this machine has {}) ([CPU work \
         and the loop]({docs}/offload.md)).",
        results.machine.cores
    );
    Some(Verdict {
        regime: "Blocking work on the loop",
        context: format!(
            "work site, C = {c}, {work_us} µs of CPU per page on the loop or, +offload, on a \
             rayon pool"
        ),
        figure,
        rests_on: "the *work site* table".to_owned(),
        machine,
    })
}

fn every_core_verdict(results: &Results, docs: &str) -> Option<Verdict> {
    let (cores, figure) = every_core(results)?;
    let efficiency: Vec<f64> = figure
        .entries
        .iter()
        .filter_map(|e| e.run.scaling_efficiency)
        .collect();
    let mut machine = format!("Measured on {cores} cores, shared with the server at this step");
    if let (Some(min), Some(max)) = (
        efficiency.iter().copied().reduce(f64::min),
        efficiency.iter().copied().reduce(f64::max),
    ) {
        let _ = write!(
            machine,
            " (scaling efficiency {min:.2}–{max:.2} against one core)"
        );
    }
    let _ = write!(
        machine,
        "; on a machine with more cores `cargo bench` walks the axis further and the order may \
         change ([many cores]({docs}/cores.md))."
    );
    // Threads always have every core: their best C on the CPU-bound site is a form too.
    let threads = |f: &Figure| f.entries.iter().find(|e| e.model == "threads").cloned();
    if let (Some(here), Some(best)) = (threads(&figure), threads(&cpu_one_loop(results)))
        && best.value > here.value
        && best.run.concurrency != here.run.concurrency
    {
        let _ = write!(
            machine,
            " Threads, which use every core at any C, did {:.0} responses/s at their best C on \
             the CPU-bound site ({}).",
            best.value, best.form
        );
    }
    Some(Verdict {
        regime: "Every core",
        context: format!(
            "CPU-bound site on {cores} cores, C = {}, each model's parallel form",
            figure.entries.first().map_or(0, |e| e.run.concurrency)
        ),
        figure,
        rests_on: "the *cores site* table".to_owned(),
        machine,
    })
}

fn memory_verdict(results: &Results, docs: &str) -> Option<Verdict> {
    let (c, figure) = memory_at_widest(results)?;
    let per_connection = memory_per_connection(results);
    let mut machine = String::new();
    if !per_connection.entries.is_empty() {
        let list: Vec<String> = per_connection
            .ranked()
            .iter()
            .map(|e| format!("{} {:.0} B", e.model, e.value))
            .collect();
        let _ = write!(machine, "Per connection in flight: {}. ", list.join(", "));
    }
    machine.push_str(
        "Bytes depend on the libraries (glibc's thread stacks and arenas, the runtime's task \
         cells) more than on the CPU",
    );
    let _ = write!(machine, " ([byte by byte]({docs}/memory.md)).");
    Some(Verdict {
        regime: "Memory, many connections",
        context: format!("memory site, RSS with C = {c} in flight"),
        figure,
        rests_on: "the *memory site* table".to_owned(),
        machine,
    })
}

/// Who leads a figure and by how much: the leader, the models within [`TIE`] of it, then the
/// others with their ratio to the leader, and the models that could not run.
pub fn standing(figure: &Figure) -> String {
    let ranked = figure.ranked();
    let Some(leader) = ranked.first() else {
        return match could_not_run(figure) {
            Some(missing) => format!("no model ran. Could not run: {missing}."),
            None => "no model ran".to_owned(),
        };
    };
    let ratio = |e: &Entry| e.value / leader.value.max(1e-9);
    let (tied, behind): (Vec<&Entry>, Vec<&Entry>) = ranked[1..]
        .iter()
        .partition(|e| figure.ties(leader.value, e.value));
    let mut text = format!(
        "**{}** leads with {} ({})",
        leader.model,
        figure.show_with_unit(leader.value),
        leader.form
    );
    let show = |entries: &[&Entry]| {
        entries
            .iter()
            .map(|e| format!("{} {} ({:.2}×)", e.model, figure.show(e.value), ratio(e)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if tied.is_empty() {
        if let Some(next) = behind.first() {
            if figure.higher_is_better {
                let _ = write!(text, ", {:.2}× the next", 1.0 / ratio(next));
            } else {
                let _ = write!(text, "; the next needs {:.2}× as much", ratio(next));
            }
        }
    } else {
        let _ = write!(
            text,
            "; {} within {:.0}%: a tie on this run",
            show(&tied),
            TIE * 100.0
        );
    }
    if !behind.is_empty() {
        let _ = write!(text, ". Then {}", show(&behind));
    }
    if let Some(missing) = could_not_run(figure) {
        let _ = write!(text, ". Could not run: {missing}");
    }
    text.push('.');
    text
}

/// The models of `figure` that could not run, those with the same reason together:
/// `threads, async (the reason), uring (another)`.
fn could_not_run(figure: &Figure) -> Option<String> {
    let mut groups: Vec<(Vec<&str>, &str)> = Vec::new();
    for (model, reason) in &figure.missing {
        match groups.iter_mut().find(|(_, r)| *r == reason) {
            Some((models, _)) => models.push(model),
            None => groups.push((vec![model], reason)),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(models, reason)| format!("{} ({reason})", models.join(", ")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The *what the numbers say* section: one line per regime the sweep measured, and the
/// regimes it did not; `docs` is the path from the page to the `docs/` folder.
pub fn what_the_numbers_say(results: &Results, docs: &str) -> String {
    let mut md = format!(
        "Drawn from this run by `crates/harness/src/headline.rs`, never typed: for each regime, the \
         model that leads and by how much (× is the ratio to the leader; models within {:.0}% of \
         it are a tie, since each crawl ran once, or on the state axis a few times for their \
         median). Ratios between models carry across machines \
         better than rates do.\n\n",
        TIE * 100.0
    );
    let mut not_measured = Vec::new();
    for regime in REGIMES {
        match regime.verdict.and_then(|verdict| verdict(results, docs)) {
            Some(v) => {
                let _ = writeln!(
                    md,
                    "- **{}** ({}): {} *Rests on* {} in [the results]({docs}/results.md).{}",
                    v.regime,
                    v.context,
                    standing(&v.figure),
                    v.rests_on,
                    if v.machine.is_empty() {
                        String::new()
                    } else {
                        format!(" *On another machine:* {}", v.machine)
                    }
                );
            }
            None => not_measured.push(regime.name),
        }
    }
    if !not_measured.is_empty() {
        let _ = writeln!(
            md,
            "\nNot measured by this run: {}.",
            not_measured.join(", ")
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counts::Split;

    fn counted(strategy: &str, model: u64, transport: Transport) -> Run {
        let split = Split {
            total: 18_000_000 + model,
            outside: 0,
            response: 3_500_000,
            page: 10_400_000,
            frontier: 3_900_000,
            report: 200_000,
        };
        Run {
            site: "counts".to_owned(),
            strategy: strategy.to_owned(),
            concurrency: 100,
            transport,
            fetched: 1000,
            split: Some(split),
            ..Run::default()
        }
    }

    #[test]
    fn a_crawlers_own_work_is_told_part_by_part_from_the_kept_connections_counts() {
        let mut results = Results::default();
        assert_eq!(own_work(&results, Some(570.0), "docs"), None, "no counts");
        results.runs = vec![
            counted("callbacks", 4_100_000, Transport::HTTP_KEEP_ALIVE),
            counted("threads", 8_100_000, Transport::HTTP_KEEP_ALIVE),
            // Closing connections: not the keep-alive comparison.
            counted("async", 20_000_000, Transport::HTTP_CLOSE),
        ];
        let told = own_work(&results, Some(570.0), "docs").expect("two counted crawls");
        assert!(
            told.starts_with(
                "counted at C = 100, the crawlers made 22100–26100 user instructions per page \
                 where wrk made 570 per response: the core's work, the same in every model, was \
                 reading the response 3.5K, the page and its links 10.4K, the frontier 3.9K; \
                 each model's own was callbacks 4.1K, threads 8.1K"
            ),
            "{told}"
        );
        assert!(!told.contains("async"), "{told}");
    }

    #[test]
    fn the_keep_alive_verdict_tells_threads_wake_ups_from_the_others() {
        let kept = |strategy: &str, per_s: f64, switches: u64| Run {
            site: CONN_CPU.to_owned(),
            strategy: strategy.to_owned(),
            concurrency: 100,
            transport: Transport::HTTP_KEEP_ALIVE,
            pages_per_s: per_s,
            fetched: 10_000,
            voluntary_switches: switches,
            involuntary_switches: switches / 10,
            ..Run::default()
        };
        let mut results = Results {
            runs: vec![
                kept("threads", 60_000.0, 10_000),
                kept("callbacks", 110_000.0, 40),
                kept("uring", 120_000.0, 100),
            ],
            ..Results::default()
        };
        let told = |results: &Results| {
            keep_alive_verdict(results, "docs")
                .expect("keep-alive crawls")
                .machine
        };
        let machine = told(&results);
        assert!(
            machine.contains(
                "threads switched context 1.10 times a page (each thread blocks on its \
                 response, which wakes it: a trip through the scheduler per page), the other \
                 models' best forms 0.00–0.01."
            ),
            "{machine}"
        );
        // Without threads, nothing to set the others against.
        results.runs.remove(0);
        let machine = told(&results);
        assert!(!machine.contains("switched"), "{machine}");
        assert!(machine.ends_with("what-the-pool-saves))."), "{machine}");
    }
}
