//! What the TLS axis and the connection axis say (issues 25 and 26): what a handshake costs
//! each model, what resumption and a pool of kept connections save per page, the issues'
//! targets against `wrk`'s rates, and which strategies do not support a transport yet.
//!
//! Everything here is drawn from the runs of a sweep ([`crate::plan::ConnectionsAxis`]) and
//! its `wrk` rows; [`crate::summary`] writes the tables and [`crate::headline`] the regimes.
//!
//! How a page's CPU is split: a model's crawl of the CPU-bound site over http, over https
//! with sessions resumed and over https with none, at the same form and C, costs `http`,
//! `https` and `no_resume` µs of CPU per page. `http` is *the rest* (connect, request,
//! response, links, frontier); `https − http` is what TLS adds with resumption (handshakes and
//! the records' encryption, a few µs for a 2 KiB page); `no_resume − http` divided by the full
//! handshakes per page is one full handshake; what is left of `https − http` after its full
//! handshakes, divided by its resumed ones, is one resumed handshake.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{
    Strategy,
    headline::span,
    loadgen::{CpuPerResponse, WrkRow},
    plan::{CONN_CPU, CONN_ONE_CORE, Transport},
    results::{Results, Run},
};

/// Why a crawl over `transport` that ran (`fetched` responses at C = `concurrency`) did not
/// measure it: asked to keep connections, it reused none where it had to (more responses
/// than connections). A strategy that ignores `--connections keep-alive` would otherwise
/// give its close figures under the keep-alive name.
pub fn unmet(
    transport: Transport,
    fetched: usize,
    concurrency: usize,
    connections: Option<c10k_core::Connections>,
) -> Option<String> {
    let reused = connections.map_or(0, |c| c.reused);
    (transport.keep_alive && fetched > concurrency && reused == 0).then(|| {
        format!(
            "asked to keep connections, it reused none in {fetched} responses at C = \
             {concurrency} (keep-alive not supported yet?)"
        )
    })
}

/// A crawl that ran and fetched what it should.
fn clean(run: &Run) -> bool {
    run.error.is_none() && run.errors == 0 && run.fetched > 0
}

/// A run of a strategy's default form: one loop, a current-thread runtime, threads as they
/// are; unpinned.
pub fn default_form(run: &Run) -> bool {
    run.parallel.is_none() && run.runtime.is_none() && run.cores.is_none()
}

/// The clean runs of the connection axis's CPU-bound site over `transport`, unpinned.
pub fn cpu_runs(results: &Results, transport: Transport) -> impl Iterator<Item = &Run> + Clone {
    results.runs.iter().filter(move |r| {
        r.site == CONN_CPU && r.transport == transport && r.cores.is_none() && clean(r)
    })
}

/// The strategies with runs on the connection axis's CPU-bound site, in the lecture's order.
fn strategies(results: &Results) -> Vec<&'static str> {
    Strategy::ALL
        .iter()
        .map(|s| s.name())
        .filter(|name| {
            results
                .runs
                .iter()
                .any(|r| r.site == CONN_CPU && r.strategy == *name)
        })
        .collect()
}

/// The best run of `runs` by responses/s.
fn fastest<'a>(runs: impl Iterator<Item = &'a Run>) -> Option<&'a Run> {
    runs.max_by(|a, b| a.pages_per_s.total_cmp(&b.pages_per_s))
}

/// Folds the connection axis's rounds into one run each (see
/// [`crate::plan::ConnectionsAxis::rounds`]): the crawls of the CPU-bound site over http,
/// unpinned, and those pinned to one core on the one-core site, of one site, strategy, form,
/// C and transport, become their median by responses/s (the lower of the two middle ones
/// when their number is even), with every round's rate in [`Run::rounds_per_s`], in the
/// order they ran. A round that did not run clean stands for its group instead: a failure
/// is never outvoted. Every other run is left as it is, and the folded run takes its first
/// round's place.
pub fn collapse_rounds(runs: &mut Vec<Run>) {
    fold_groups(
        runs,
        |r| {
            (r.site == CONN_CPU && !r.transport.tls && r.cores.is_none())
                || (r.site == CONN_ONE_CORE && r.cores == Some(1))
        },
        |a, b| {
            a.site == b.site
                && a.cores == b.cores
                && a.same_form(b)
                && a.transport == b.transport
                && a.pages == b.pages
        },
        median_round,
    );
}

/// Folds each group of `items` that are `rounded` and the `same` as one another into one,
/// `fold` of the group (its items in the order they came), at its first item's place; a group
/// of one, and every other item, is left as it is.
fn fold_groups<T: Default>(
    items: &mut Vec<T>,
    rounded: impl Fn(&T) -> bool,
    same: impl Fn(&T, &T) -> bool,
    fold: impl Fn(Vec<T>) -> T,
) {
    let mut folded = Vec::with_capacity(items.len());
    // Each group, and the place in `folded` its item will take.
    let mut groups: Vec<(usize, Vec<T>)> = Vec::new();
    for item in items.drain(..) {
        if !rounded(&item) {
            folded.push(item);
        } else if let Some((_, group)) = groups.iter_mut().find(|(_, g)| same(&g[0], &item)) {
            group.push(item);
        } else {
            groups.push((folded.len(), vec![item]));
            folded.push(T::default());
        }
    }
    for (at, mut group) in groups {
        folded[at] = match group.len() {
            1 => group.remove(0),
            _ => fold(group),
        };
    }
    *items = folded;
}

/// The run that stands for `rounds` (two or more): see [`collapse_rounds`].
fn median_round(mut rounds: Vec<Run>) -> Run {
    let rates: Vec<f64> = rounds.iter().map(|r| r.pages_per_s).collect();
    let chosen = rounds
        .iter()
        .position(|r| !clean(r))
        .unwrap_or_else(|| median_at(&rates));
    let mut run = rounds.swap_remove(chosen);
    run.rounds_per_s = rates;
    run
}

/// Where the median of `figures` (at least one) is: the lower of the two middle ones when
/// their number is even.
fn median_at(figures: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..figures.len()).collect();
    order.sort_by(|&a, &b| figures[a].total_cmp(&figures[b]));
    order[(order.len() - 1) / 2]
}

/// Folds `wrk`'s rounds as [`collapse_rounds`] folds the crawls': the loads of one site,
/// transport, thread count and connection count, one per round of the CPU-bound site's http
/// crawls (each at the start of its round), become their median by responses/s, with every
/// round's rate in [`WrkRow::rounds_per_s`], in the order they ran. The system calls and
/// instructions of the round that was counted (the first) stay with it. A row of one load
/// (over https, or a sweep of one round) is left as it is.
pub fn collapse_wrk_rounds(rows: &mut Vec<WrkRow>) {
    fn load(w: &WrkRow) -> (&str, Transport, usize, usize) {
        (&w.site, w.transport, w.threads, w.connections)
    }
    fold_groups(rows, |_| true, |a, b| load(a) == load(b), median_load);
}

/// The row that stands for `group`, one load a round (two or more): see
/// [`collapse_wrk_rounds`].
fn median_load(mut group: Vec<WrkRow>) -> WrkRow {
    let rates: Vec<f64> = group.iter().map(|w| w.responses_per_s).collect();
    let counted = group
        .iter()
        .find(|w| w.syscalls_per_response.is_some() || w.instructions_per_response.is_some())
        .map(|w| {
            (
                w.syscalls_per_response,
                w.instructions_per_response,
                w.instructions_by.clone(),
            )
        });
    let mut row = group.swap_remove(median_at(&rates));
    if let Some((syscalls, instructions, by)) = counted {
        row.syscalls_per_response = syscalls;
        row.instructions_per_response = instructions;
        row.instructions_by = by;
    }
    row.rounds_per_s = rates;
    row
}

/// One figure over another, as a target weighs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// The ratio: the median of [`Ratio::rounds`] where there are any, else the two figures'
    /// ratio.
    pub value: f64,
    /// Each round's ratio, in the order the rounds ran, where both figures ran in the same
    /// rounds.
    pub rounds: Vec<f64>,
}

impl Ratio {
    /// `a` over `b`, each a figure and the rates of its rounds (none, for a figure of one
    /// run). Where both ran in the same rounds, each round's rate over the same round's, and
    /// their median: the two stood side by side in time in every round, so what the
    /// machine's speed did between rounds (on a shared machine, by a factor of 1.5-2 over
    /// minutes) does not move it, as it moves the ratio of two medians taken minutes apart.
    pub fn of((a, a_rounds): (f64, &[f64]), (b, b_rounds): (f64, &[f64])) -> Ratio {
        if a_rounds.len() > 1 && a_rounds.len() == b_rounds.len() {
            let rounds: Vec<f64> = a_rounds
                .iter()
                .zip(b_rounds)
                .map(|(a, b)| a / b.max(1e-9))
                .collect();
            Ratio {
                value: rounds[median_at(&rounds)],
                rounds,
            }
        } else {
            Ratio {
                value: a / b.max(1e-9),
                rounds: Vec::new(),
            }
        }
    }

    /// `run`'s rate over `other`'s.
    pub fn of_runs(run: &Run, other: &Run) -> Ratio {
        Ratio::of(
            (run.pages_per_s, &run.rounds_per_s),
            (other.pages_per_s, &other.rounds_per_s),
        )
    }

    /// `; ratio: the median of each round's (0.52, 0.61, …, in the order they ran)` where it
    /// is one, else nothing.
    fn said(&self) -> String {
        if self.rounds.is_empty() {
            return String::new();
        }
        let each: Vec<String> = self.rounds.iter().map(|r| format!("{r:.2}")).collect();
        format!(
            "; ratio: the median of each round's ({}, in the order they ran)",
            each.join(", ")
        )
    }
}

/// What TLS costs one model, on the CPU-bound site, in its default form at the C where its
/// https crawl (sessions resumed) was fastest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsClaim {
    /// The concurrency compared at.
    pub concurrency: usize,
    /// Responses/s over http, https resumed, https without resumption.
    pub http_per_s: Option<f64>,
    /// Responses/s over https, sessions resumed.
    pub https_per_s: f64,
    /// Responses/s over https, a full handshake per connection.
    pub no_resume_per_s: Option<f64>,
    /// CPU µs per page over http: the rest of a page's cost.
    pub http_cpu_us: Option<f64>,
    /// CPU µs per page over https, sessions resumed.
    pub https_cpu_us: f64,
    /// CPU µs per page over https, no resumption.
    pub no_resume_cpu_us: Option<f64>,
    /// The share of the https crawl's handshakes that resumed a session.
    pub resumed_share: Option<f64>,
    /// CPU µs of one full handshake (and its connection's records).
    pub full_handshake_us: Option<f64>,
    /// CPU µs of one resumed handshake.
    pub resumed_handshake_us: Option<f64>,
}

impl TlsClaim {
    /// What TLS adds per page with resumption: `https − http`.
    pub fn tls_us(&self) -> Option<f64> {
        Some(self.https_cpu_us - self.http_cpu_us?)
    }

    /// What resumption saves per page: `no_resume − https`.
    pub fn resumption_saves_us(&self) -> Option<f64> {
        Some(self.no_resume_cpu_us? - self.https_cpu_us)
    }
}

/// What TLS costs the crawl `https` (sessions resumed), beside the same form's crawls at the
/// same C over http and over https without resumption (either may be missing).
pub fn tls_split(https: &Run, http: Option<&Run>, no_resume: Option<&Run>) -> TlsClaim {
    let full_handshake_us = (|| {
        let (http, no_resume) = (http?, no_resume?);
        let full = no_resume.handshakes_per_page().filter(|&h| h > 0.0)?;
        Some((no_resume.cpu_us_per_page - http.cpu_us_per_page) / full)
    })();
    let resumed_handshake_us = (|| {
        let resumed = https.resumed_per_page().filter(|&r| r > 0.0)?;
        let full = https.handshakes_per_page()?;
        let tls = https.cpu_us_per_page - http?.cpu_us_per_page;
        Some((tls - full * full_handshake_us?) / resumed)
    })();
    let resumed_share = https.connections.and_then(|c| {
        let all = c.handshakes + c.resumed;
        (all > 0).then(|| c.resumed as f64 / all as f64)
    });
    TlsClaim {
        concurrency: https.concurrency,
        http_per_s: http.map(|r| r.pages_per_s),
        https_per_s: https.pages_per_s,
        no_resume_per_s: no_resume.map(|r| r.pages_per_s),
        http_cpu_us: http.map(|r| r.cpu_us_per_page),
        https_cpu_us: https.cpu_us_per_page,
        no_resume_cpu_us: no_resume.map(|r| r.cpu_us_per_page),
        resumed_share,
        full_handshake_us,
        resumed_handshake_us,
    }
}

/// The run beside `run` on the same site, in the same form at the same C, over `transport`.
pub fn beside<'a>(results: &'a Results, run: &Run, transport: Transport) -> Option<&'a Run> {
    results.runs.iter().find(|r| {
        r.site == run.site
            && r.same_form(run)
            && r.cores == run.cores
            && r.transport == transport
            && clean(r)
    })
}

/// Per model: what TLS costs, split into the handshake and the rest.
pub fn tls_claims(results: &Results) -> BTreeMap<String, TlsClaim> {
    let mut claims = BTreeMap::new();
    for strategy in strategies(results) {
        let best = fastest(
            cpu_runs(results, Transport::HTTPS_CLOSE)
                .filter(|r| r.strategy == strategy && default_form(r)),
        );
        let Some(https) = best else {
            continue;
        };
        let split = tls_split(
            https,
            beside(results, https, Transport::HTTP_CLOSE),
            beside(results, https, Transport::HTTPS_CLOSE_NO_RESUME),
        );
        claims.insert(strategy.to_owned(), split);
    }
    claims
}

/// What a pool of kept connections saves one model, on the CPU-bound site, in its default
/// form at the C where its keep-alive crawl was fastest: the lecture's "the same is usually
/// done with sockets, in a connection pool", measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolClaim {
    /// The concurrency compared at.
    pub concurrency: usize,
    /// Responses/s closing connections (http).
    pub close_per_s: f64,
    /// Responses/s keeping them (http).
    pub keep_alive_per_s: f64,
    /// Keeping over closing, where both ran in the same rounds: the median of each round's
    /// ratio ([`Ratio`]). `None` where they did not (or the sweep was written before it):
    /// [`PoolClaim::times`] is then the two rates' ratio.
    #[serde(default)]
    pub ratio: Option<f64>,
    /// CPU µs per page closing connections.
    pub close_cpu_us: f64,
    /// CPU µs per page keeping them.
    pub keep_alive_cpu_us: f64,
    /// The share of responses sent on a connection taken from the pool.
    pub reused_share: Option<f64>,
    /// CPU µs per page over https, closing (sessions resumed) and keeping connections, at
    /// the same C.
    #[serde(default)]
    pub https_cpu_us: Option<(f64, f64)>,
    /// The counted runs (the counts site, at the C where keep-alive was counted): the C,
    /// and system calls per page closing and keeping connections.
    #[serde(default)]
    pub syscalls: Option<(usize, f64, f64)>,
    /// User-space instructions per page there, closing and keeping.
    #[serde(default)]
    pub instructions: Option<(f64, f64)>,
}

impl PoolClaim {
    /// CPU µs per page the pool saves (over http).
    pub fn saves_us(&self) -> f64 {
        self.close_cpu_us - self.keep_alive_cpu_us
    }

    /// How many times the close rate keeping connections reached.
    pub fn times(&self) -> f64 {
        self.ratio
            .unwrap_or(self.keep_alive_per_s / self.close_per_s.max(1e-9))
    }
}

/// Per model: what the pool saves.
pub fn pool_claims(results: &Results) -> BTreeMap<String, PoolClaim> {
    let mut claims = BTreeMap::new();
    for strategy in strategies(results) {
        let best = fastest(
            cpu_runs(results, Transport::HTTP_KEEP_ALIVE)
                .filter(|r| r.strategy == strategy && default_form(r)),
        );
        let Some(kept) = best else {
            continue;
        };
        let c = kept.concurrency;
        let Some(close) = beside(results, kept, Transport::HTTP_CLOSE) else {
            continue;
        };
        let https = (|| {
            let close = beside(results, kept, Transport::HTTPS_CLOSE)?;
            let kept = beside(results, kept, Transport::HTTPS_KEEP_ALIVE)?;
            Some((close.cpu_us_per_page, kept.cpu_us_per_page))
        })();
        let counted = |transport: Transport, at: Option<usize>| {
            results.runs.iter().find(|r| {
                r.site == "counts"
                    && r.strategy == strategy
                    && r.transport == transport
                    && at.is_none_or(|c| r.concurrency == c)
                    && r.error.is_none()
            })
        };
        let counted_kept = counted(Transport::HTTP_KEEP_ALIVE, None);
        let counted_close =
            counted_kept.and_then(|k| counted(Transport::HTTP_CLOSE, Some(k.concurrency)));
        let pair = |f: fn(&Run) -> Option<f64>| Some((f(counted_close?)?, f(counted_kept?)?));
        claims.insert(
            strategy.to_owned(),
            PoolClaim {
                concurrency: c,
                close_per_s: close.pages_per_s,
                keep_alive_per_s: kept.pages_per_s,
                ratio: Some(Ratio::of_runs(kept, close))
                    .filter(|ratio| !ratio.rounds.is_empty())
                    .map(|ratio| ratio.value),
                close_cpu_us: close.cpu_us_per_page,
                keep_alive_cpu_us: kept.cpu_us_per_page,
                reused_share: kept.reused_share(),
                https_cpu_us: https,
                syscalls: pair(|r| r.syscalls_per_page)
                    .zip(counted_kept)
                    .map(|((close, kept), run)| (run.concurrency, close, kept)),
                instructions: pair(|r| r.instructions_per_page),
            },
        );
    }
    claims
}

/// A transport feature a strategy does not have yet, as the sweep found it: every crawl that
/// needs it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The strategy.
    pub strategy: String,
    /// `https` or `keep-alive`.
    pub feature: &'static str,
    /// The first of its runs' reasons.
    pub reason: String,
}

/// The features a crawl over `transport` needs.
fn features(transport: Transport) -> Vec<&'static str> {
    let mut needs = Vec::new();
    if transport.tls {
        needs.push("https");
    }
    if transport.keep_alive {
        needs.push("keep-alive");
    }
    needs
}

fn failed(run: &Run) -> bool {
    run.failed()
}

/// The transport features each strategy lacks in this sweep: those whose every run failed
/// (https: every crawl over TLS; keep-alive: every crawl over http that keeps connections).
/// A feature some of whose runs ran is not missing: its failures are failures.
pub fn missing(results: &Results) -> Vec<Missing> {
    let mut missing = Vec::new();
    let names: BTreeSet<&str> = results.runs.iter().map(|r| r.strategy.as_str()).collect();
    for strategy in Strategy::ALL
        .iter()
        .map(|s| s.name())
        .filter(|s| names.contains(s))
    {
        for feature in ["https", "keep-alive"] {
            // Keep-alive is judged on http alone: over https it needs TLS as well.
            let runs: Vec<&Run> = results
                .runs
                .iter()
                .filter(|r| r.strategy == strategy && features(r.transport) == [feature])
                .collect();
            if !runs.is_empty() && runs.iter().all(|r| failed(r)) {
                let reason = runs
                    .iter()
                    .find_map(|r| r.error.clone())
                    .unwrap_or_else(|| format!("{} URLs failed", runs[0].errors));
                missing.push(Missing {
                    strategy: strategy.to_owned(),
                    feature,
                    reason,
                });
            }
        }
    }
    missing
}

/// The runs that failed for a reason other than a feature their strategy lacks (see
/// [`missing`]): what a sweep that must not fail (the smoke run) fails on.
pub fn unexplained_failures(results: &Results) -> Vec<&Run> {
    let missing = missing(results);
    results
        .runs
        .iter()
        .filter(|r| failed(r))
        .filter(|r| {
            !features(r.transport).iter().any(|f| {
                missing
                    .iter()
                    .any(|m| m.strategy == r.strategy && m.feature == *f)
            })
        })
        .collect()
}

/// One line: which strategies lack which transport, e.g. `https: threads, async; keep-alive:
/// threads`; `None` when none does.
pub fn missing_line(results: &Results) -> Option<String> {
    let missing = missing(results);
    let parts: Vec<String> = ["https", "keep-alive"]
        .iter()
        .filter_map(|feature| {
            let who: Vec<&str> = missing
                .iter()
                .filter(|m| m.feature == *feature)
                .map(|m| m.strategy.as_str())
                .collect();
            (!who.is_empty()).then(|| format!("{feature}: {}", who.join(", ")))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A strategy's form in a few words, without its C: `one loop`, `2 loops`, `per-core, 2
/// threads`, `threads` (a thread per connection).
pub fn shape(run: &Run) -> String {
    match (&run.runtime, run.parallel) {
        (Some(runtime), Some(n)) => format!("{runtime}, {n} threads"),
        (None, Some(n)) => format!("{n} loops"),
        _ if run.strategy == Strategy::Threads.name() => "threads".to_owned(),
        _ => "one loop".to_owned(),
    }
}

/// `wrk`'s row on the CPU-bound site over `transport` with `threads` threads (`None`: the
/// most it ran with, a thread per core).
pub fn wrk(results: &Results, transport: Transport, threads: Option<usize>) -> Option<&WrkRow> {
    let rows = results
        .wrk
        .iter()
        .filter(|w| w.site == CONN_CPU && w.transport == transport);
    match threads {
        Some(n) => rows.clone().find(|w| w.threads == n),
        None => rows.max_by_key(|w| w.threads),
    }
}

/// `wrk -t1`'s user instructions per response, keeping connections: wrk is counted in its
/// one-thread run, as one loop is.
pub fn wrk_instructions_per_response(results: &Results) -> Option<f64> {
    wrk(results, Transport::HTTP_KEEP_ALIVE, Some(1))?.instructions_per_response
}

/// One of the issues' targets, and how each model stands against it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The issue that sets it (25: TLS, 26: keep-alive).
    pub issue: u32,
    /// The target, as the issue states it.
    pub text: String,
    /// Each model's figure against it.
    pub rows: Vec<TargetRow>,
    /// Why the sweep could not judge it at all (wrk not installed, no such runs), if so.
    pub not_measured: Option<String>,
}

/// One model against a target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRow {
    /// The model (and, where a target has two parts, which).
    pub model: String,
    /// What was measured, with the figure it is held against.
    pub measured: String,
    /// The figure over what the target asks for, where it is a ratio or a bound.
    pub ratio: Option<f64>,
    /// Met, missed, or not judged (`None`).
    pub met: Option<bool>,
}

/// Best form over https at least this share of wrk's https close rate (issue 25).
pub const TLS_VS_WRK: f64 = 0.9;
/// Keep-alive at least this many times the close rate (issue 26).
pub const KEEP_ALIVE_VS_CLOSE: f64 = 3.0;
/// Best form with keep-alive at least this share of wrk's keep-alive rate (issue 26).
pub const KEEP_ALIVE_VS_WRK: f64 = 0.5;
/// On one core, each event-driven model at least this many times threads (issue 26).
pub const ONE_CORE_VS_THREADS: f64 = 1.5;
/// System calls per page with keep-alive, at most, for the readiness models (issue 26).
pub const READINESS_SYSCALLS: f64 = 3.0;
/// … and for uring.
pub const URING_SYSCALLS: f64 = 0.5;
/// One loop at least this share of `wrk -t1`, closing and keeping connections (issue 26).
pub const ONE_LOOP_VS_WRK_T1: f64 = 0.8;

/// Each model's run against a target, or the reason it could not run.
type Forms<'a> = Vec<(String, Result<&'a Run, String>)>;

/// Each model's best run of the CPU-bound site over `transport` (any form, unpinned), or
/// the reason its runs failed.
fn best_forms(results: &Results, transport: Transport) -> Forms<'_> {
    strategies(results)
        .into_iter()
        .filter_map(|strategy| {
            let best = fastest(cpu_runs(results, transport).filter(|r| r.strategy == strategy));
            let outcome = match best {
                Some(run) => Ok(run),
                None => Err(results
                    .runs
                    .iter()
                    .filter(|r| r.site == CONN_CPU && r.strategy == strategy)
                    .filter(|r| r.transport == transport)
                    .find_map(|r| r.error.clone())?),
            };
            Some((strategy.to_owned(), outcome))
        })
        .collect()
}

/// A row for a model whose runs could not run.
fn could_not_run(model: &str, reason: &str) -> TargetRow {
    TargetRow {
        model: model.to_owned(),
        measured: format!("could not run: {reason}"),
        ratio: None,
        met: Some(false),
    }
}

/// Where a run's figure comes from: its form and C (`one loop, C = 100`), and the rounds it
/// is the median of, if more than one.
fn form_at(run: &Run) -> String {
    let rounds = match run.rounds_per_s.len() {
        0 | 1 => String::new(),
        n => format!(", median of {n} rounds"),
    };
    format!("{}, C = {}{rounds}", shape(run), run.concurrency)
}

/// A model's rate against `reference` responses/s (and the rates of its rounds, if any),
/// met at `at_least` of it.
fn against(
    model: &str,
    run: &Run,
    reference: (f64, &[f64]),
    what: &str,
    at_least: f64,
) -> TargetRow {
    let ratio = Ratio::of((run.pages_per_s, &run.rounds_per_s), reference);
    let rounds = match reference.1.len() {
        0 | 1 => String::new(),
        n => format!(" (median of {n} rounds)"),
    };
    TargetRow {
        model: model.to_owned(),
        measured: format!(
            "{:.0}/s ({}) against {what} {:.0}/s{rounds}{}",
            run.pages_per_s,
            form_at(run),
            reference.0,
            ratio.said()
        ),
        ratio: Some(ratio.value),
        met: Some(ratio.value >= at_least),
    }
}

/// A target against `wrk`'s rate over `transport` with `threads` threads (`None`: on every
/// core): each of `forms` at least `at_least` of it.
fn versus_wrk(
    results: &Results,
    (issue, text): (u32, String),
    transport: Transport,
    threads: Option<usize>,
    at_least: f64,
    forms: Forms<'_>,
) -> Target {
    let mut target = Target {
        issue,
        text,
        rows: Vec::new(),
        not_measured: None,
    };
    let Some(reference) = wrk(results, transport, threads) else {
        target.not_measured = Some(if results.wrk.is_empty() {
            "wrk is not installed here".to_owned()
        } else {
            "wrk did not run over this transport".to_owned()
        });
        return target;
    };
    let what = format!("wrk -t{}", reference.threads);
    for (model, outcome) in forms {
        target.rows.push(match outcome {
            Ok(run) => against(
                &model,
                run,
                (reference.responses_per_s, &reference.rounds_per_s),
                &what,
                at_least,
            ),
            Err(reason) => could_not_run(&model, &reason),
        });
    }
    target
}

/// The issues' targets, each with every model's figure against it.
pub fn targets(results: &Results) -> Vec<Target> {
    let mut targets = Vec::new();
    // Issue 25.
    targets.push(versus_wrk(
        results,
        (
            25,
            format!(
                "Every strategy's best form over TLS reaches at least {TLS_VS_WRK}× wrk's https \
                 `Connection: close` rate against the same server"
            ),
        ),
        Transport::HTTPS_CLOSE,
        None,
        TLS_VS_WRK,
        best_forms(results, Transport::HTTPS_CLOSE),
    ));
    let mut memory = Target {
        issue: 25,
        text: "The TLS memory per in-flight connection of the event-driven models is no more \
               than rustls' own buffers plus today's plain-connection cost"
            .to_owned(),
        rows: Vec::new(),
        not_measured: None,
    };
    let bare = results.bare_tls.as_ref().and_then(|b| b.per_connection_b());
    for (model, tls) in &results.claims.tls_memory_per_connection_b {
        if model == Strategy::Threads.name() {
            continue;
        }
        let plain = results.claims.memory_per_connection_b.get(model);
        memory.rows.push(match (plain, bare) {
            (Some(plain), Some(bare)) => {
                let ratio = tls / (bare + plain);
                TargetRow {
                    model: model.clone(),
                    measured: format!(
                        "{tls:.0} B per TLS connection against {:.0} B: a bare ClientConnection's \
                         {bare:.0} B and {plain:.0} B per plain connection (TLS adds {:.0} B)",
                        bare + plain,
                        tls - plain
                    ),
                    ratio: Some(ratio),
                    met: Some(ratio <= 1.0),
                }
            }
            (Some(plain), None) => TargetRow {
                model: model.clone(),
                measured: format!(
                    "{tls:.0} B per TLS connection, {plain:.0} B per plain one: TLS adds {:.0} \
                     B (bare connections not measured)",
                    tls - plain
                ),
                ratio: None,
                met: None,
            },
            (None, _) => TargetRow {
                model: model.clone(),
                measured: format!(
                    "{tls:.0} B per TLS connection (the plain memory site did not run)"
                ),
                ratio: None,
                met: None,
            },
        });
    }
    if memory.rows.is_empty() {
        memory.not_measured = Some("no crawl of the memory site over https ran".to_owned());
    }
    targets.push(memory);
    let mut resumption = Target {
        issue: 25,
        text: "Resumption's saving in CPU per page is shown".to_owned(),
        rows: Vec::new(),
        not_measured: None,
    };
    for (model, claim) in &results.claims.tls {
        let saves = claim.resumption_saves_us();
        resumption.rows.push(TargetRow {
            model: model.clone(),
            measured: match (saves, claim.no_resume_cpu_us) {
                (Some(saves), Some(full)) => format!(
                    "{full:.0} → {:.0} µs per page (C = {}): resumption saves {saves:.0} µs",
                    claim.https_cpu_us, claim.concurrency
                ),
                _ => "no crawl without resumption beside it".to_owned(),
            },
            ratio: None,
            met: Some(saves.is_some()),
        });
    }
    if resumption.rows.is_empty() {
        resumption.not_measured = Some("no crawl over https ran".to_owned());
    }
    targets.push(resumption);

    // Issue 26.
    let mut pool = Target {
        issue: 26,
        text: format!(
            "On the CPU-bound site, keep-alive reaches at least {KEEP_ALIVE_VS_CLOSE}× the \
             close rate for every strategy's best form"
        ),
        rows: Vec::new(),
        not_measured: None,
    };
    let closing = best_forms(results, Transport::HTTP_CLOSE);
    for (model, kept) in best_forms(results, Transport::HTTP_KEEP_ALIVE) {
        let close = closing.iter().find(|(m, _)| *m == model).map(|(_, c)| c);
        pool.rows.push(match (kept, close) {
            (Ok(kept), Some(Ok(close))) => {
                let ratio = Ratio::of_runs(kept, close);
                TargetRow {
                    model,
                    measured: format!(
                        "{:.0}/s ({}) against {:.0}/s closing ({}){}",
                        kept.pages_per_s,
                        form_at(kept),
                        close.pages_per_s,
                        form_at(close),
                        ratio.said()
                    ),
                    ratio: Some(ratio.value),
                    met: Some(ratio.value >= KEEP_ALIVE_VS_CLOSE),
                }
            }
            (Err(reason), _) => could_not_run(&model, &reason),
            (_, Some(Err(reason))) => could_not_run(&model, reason),
            (Ok(_), None) => could_not_run(&model, "no close crawl beside it"),
        });
    }
    if pool.rows.is_empty() {
        pool.not_measured = Some("no crawl of the connection axis ran".to_owned());
    }
    targets.push(pool);
    targets.push(versus_wrk(
        results,
        (26, format!(
            "Every strategy's best form reaches at least {KEEP_ALIVE_VS_WRK}× wrk's keep-alive rate"
        )),
        Transport::HTTP_KEEP_ALIVE,
        None,
        KEEP_ALIVE_VS_WRK,
        best_forms(results, Transport::HTTP_KEEP_ALIVE),
    ));
    targets.push(one_core_target(results));
    targets.push(syscalls_target(results));
    for (transport, mode) in [
        (Transport::HTTP_CLOSE, "closing"),
        (Transport::HTTP_KEEP_ALIVE, "keeping connections"),
    ] {
        let one_loop = one_loop_forms(results, transport);
        targets.push(versus_wrk(
            results,
            (
                26,
                format!("One loop reaches at least {ONE_LOOP_VS_WRK_T1}× `wrk -t1`'s rate, {mode}"),
            ),
            transport,
            Some(1),
            ONE_LOOP_VS_WRK_T1,
            one_loop,
        ));
    }
    targets
}

/// Each event-driven model's fastest run of the CPU-bound site over `transport` in its
/// default form (one loop, a current-thread runtime), or the reason its runs failed.
fn one_loop_forms(results: &Results, transport: Transport) -> Forms<'_> {
    strategies(results)
        .into_iter()
        .filter(|s| *s != Strategy::Threads.name())
        .filter_map(|strategy| {
            let runs =
                cpu_runs(results, transport).filter(|r| r.strategy == strategy && default_form(r));
            let outcome = match fastest(runs) {
                Some(run) => Ok(run),
                None => Err(results
                    .runs
                    .iter()
                    .filter(|r| r.site == CONN_CPU && r.strategy == strategy)
                    .filter(|r| r.transport == transport && default_form(r))
                    .find_map(|r| r.error.clone())?),
            };
            Some((strategy.to_owned(), outcome))
        })
        .collect()
}

/// What bounds one loop against `wrk -t1` keeping connections, from the run's own figures:
/// each is one thread on a busy core, so their rates stand about as the inverse of their CPU
/// per response, and [`ONE_LOOP_VS_WRK_T1`] of wrk's rate leaves a loop a budget of CPU per
/// page. `None` without wrk's CPU or a one-loop crawl.
pub fn one_loop_bound(results: &Results) -> Option<String> {
    let transport = Transport::HTTP_KEEP_ALIVE;
    let reference = wrk(results, transport, Some(1))?;
    let client = reference.client?;
    let wrk_us = client.user_us + client.sys_us;
    let runs: Vec<(String, &Run)> = one_loop_forms(results, transport)
        .into_iter()
        .filter_map(|(model, run)| Some((model, run.ok()?)))
        .collect();
    if runs.is_empty() {
        return None;
    }
    // A page's CPU in user space and in the kernel, where the run has the process's split.
    let per_page = |run: &Run| {
        (run.user_s > 0.0 && run.fetched > 0).then(|| {
            let per = 1e6 / run.fetched as f64;
            CpuPerResponse {
                user_us: run.user_s * per,
                sys_us: run.sys_s * per,
            }
        })
    };
    let models: Vec<String> = runs
        .iter()
        .map(|(model, run)| {
            let user = per_page(run).map_or(String::new(), |cpu| {
                format!("; {:.1} of it in user space", cpu.user_us)
            });
            format!(
                "{model} {:.1} µs ({:.2}× wrk's{user})",
                run.cpu_us_per_page,
                run.cpu_us_per_page / wrk_us.max(1e-9),
            )
        })
        .collect();
    let kernel = span(
        runs.iter()
            .filter_map(|(_, run)| Some(per_page(run)?.sys_us)),
        1,
    );
    let in_the_kernel = kernel.map_or(String::new(), |kernel| {
        format!(
            " In the kernel, a page cost these crawlers {kernel} µs and a response cost wrk \
             {:.1} µs (the operating system splits a process's CPU time between user space and \
             the kernel at its clock's ticks: the split is close, not exact).",
            client.sys_us,
        )
    });
    Some(format!(
        "**What bounds one loop against `wrk -t1`, keeping connections.** Each is one thread \
         on a busy core: wrk spent {wrk_us:.1} µs of CPU a response ({:.1} in user space), busy \
         {:.0}% of the time at {:.0}/s, so one loop reaches {ONE_LOOP_VS_WRK_T1}× its rate only \
         within about {:.1} µs a page ({:.2}× wrk's). The one-loop crawls above spent, per \
         page (the whole process, its start and its report included): {}.{in_the_kernel} wrk \
         reads the page and parses nothing; the crawler parses it, resolves and looks up its \
         links, and keeps the frontier and the record (the counted runs give each model's \
         instructions and system calls per page, how much of them is which, and wrk's per \
         response).",
        client.user_us,
        wrk_us * reference.responses_per_s / 1e4,
        reference.responses_per_s,
        wrk_us / ONE_LOOP_VS_WRK_T1,
        1.0 / ONE_LOOP_VS_WRK_T1,
        models.join(", "),
    ))
}

/// The keep-alive crawls pinned to one core, on the one-core site (or, in a sweep before it,
/// the CPU-bound one).
pub fn one_core_runs(results: &Results) -> Vec<&Run> {
    results
        .runs
        .iter()
        .filter(|r| r.site == CONN_ONE_CORE || r.site == CONN_CPU)
        .filter(|r| r.cores == Some(1) && r.transport == Transport::HTTP_KEEP_ALIVE)
        .collect()
}

/// Issue 26: on one core, the event-driven models at C = 1,000 against threads, keeping
/// connections (the runs pinned to one CPU).
fn one_core_target(results: &Results) -> Target {
    let mut target = Target {
        issue: 26,
        text: format!(
            "On one core, the event-driven models at C = 1,000 reach at least \
             {ONE_CORE_VS_THREADS}× threads with keep-alive"
        ),
        rows: Vec::new(),
        not_measured: None,
    };
    let pinned = one_core_runs(results);
    let threads = pinned
        .iter()
        .find(|r| r.strategy == Strategy::Threads.name() && clean(r));
    let Some(threads) = threads else {
        target.not_measured = Some(match pinned.iter().find(|r| r.strategy == "threads") {
            Some(run) => format!(
                "threads could not run: {}",
                run.error.as_deref().unwrap_or("URLs failed")
            ),
            None => {
                "no crawl pinned to one core (this machine gave the crawler one CPU)".to_owned()
            }
        });
        return target;
    };
    for run in pinned.iter().filter(|r| r.strategy != "threads") {
        target.rows.push(if clean(run) {
            against(
                &run.strategy,
                run,
                (threads.pages_per_s, &threads.rounds_per_s),
                "threads",
                ONE_CORE_VS_THREADS,
            )
        } else {
            could_not_run(&run.strategy, run.error.as_deref().unwrap_or("URLs failed"))
        });
    }
    target
}

/// Issue 26: system calls per page with keep-alive, from the counted runs.
fn syscalls_target(results: &Results) -> Target {
    let mut target = Target {
        issue: 26,
        text: format!(
            "Keep-alive system calls per page: at most {READINESS_SYSCALLS} for the readiness \
             models and at most {URING_SYSCALLS} for uring"
        ),
        rows: Vec::new(),
        not_measured: None,
    };
    let counted = results
        .runs
        .iter()
        .filter(|r| r.site == "counts" && r.transport == Transport::HTTP_KEEP_ALIVE);
    for strategy in [
        Strategy::Callbacks,
        Strategy::Generators,
        Strategy::Async,
        Strategy::Uring,
    ] {
        let bound = if strategy == Strategy::Uring {
            URING_SYSCALLS
        } else {
            READINESS_SYSCALLS
        };
        let runs: Vec<&Run> = counted
            .clone()
            .filter(|r| r.strategy == strategy.name())
            .collect();
        let Some(first) = runs.first() else {
            continue;
        };
        // The worst of its counted C.
        let worst = runs
            .iter()
            .filter(|r| r.error.is_none())
            .filter_map(|r| Some((r, r.syscalls_per_page?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        target.rows.push(match worst {
            Some((run, syscalls)) => TargetRow {
                model: strategy.name().to_owned(),
                measured: format!("{syscalls:.1} per page at C = {}", run.concurrency),
                ratio: Some(syscalls / bound),
                met: Some(syscalls <= bound),
            },
            None => match &first.error {
                Some(reason) => could_not_run(strategy.name(), reason),
                None => TargetRow {
                    model: strategy.name().to_owned(),
                    measured: "not counted (perf cannot count system calls here)".to_owned(),
                    ratio: None,
                    met: None,
                },
            },
        });
    }
    if target.rows.is_empty() {
        target.not_measured = Some("no keep-alive crawl was counted".to_owned());
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(strategy: &str, transport: Transport, c: usize, per_s: f64, cpu_us: f64) -> Run {
        Run {
            site: CONN_CPU.into(),
            strategy: strategy.into(),
            transport,
            concurrency: c,
            pages_per_s: per_s,
            cpu_us_per_page: cpu_us,
            fetched: 1000,
            ..Run::default()
        }
    }

    fn with(mut run: Run, handshakes: u64, resumed: u64, reused: u64) -> Run {
        run.connections = Some(c10k_core::Connections {
            handshakes,
            resumed,
            reused,
            ..Default::default()
        });
        run
    }

    #[test]
    fn a_keep_alive_crawl_that_reused_nothing_did_not_measure_keep_alive() {
        let kept = |reused| {
            Some(c10k_core::Connections {
                reused,
                ..Default::default()
            })
        };
        let ka = Transport::HTTP_KEEP_ALIVE;
        assert!(unmet(ka, 1000, 10, kept(0)).is_some());
        assert!(unmet(ka, 1000, 10, None).is_some());
        assert_eq!(unmet(ka, 1000, 10, kept(990)), None);
        // No more responses than connections: nothing had to be reused.
        assert_eq!(unmet(ka, 10, 10, kept(0)), None);
        assert_eq!(unmet(Transport::HTTPS_CLOSE, 1000, 10, kept(0)), None);
    }

    #[test]
    fn the_handshake_is_split_from_the_rest_by_the_runs_with_and_without_resumption() {
        let results = Results {
            runs: vec![
                run("callbacks", Transport::HTTP_CLOSE, 10, 30_000.0, 50.0),
                // One full handshake in ten, nine resumed: 50 + 0.1·400 + 0.9·150 = 225.
                with(
                    run("callbacks", Transport::HTTPS_CLOSE, 10, 4_000.0, 225.0),
                    100,
                    900,
                    0,
                ),
                // Every page a full handshake: 50 + 400.
                with(
                    run(
                        "callbacks",
                        Transport::HTTPS_CLOSE_NO_RESUME,
                        10,
                        2_000.0,
                        450.0,
                    ),
                    1000,
                    0,
                    0,
                ),
                // A slower C: not the one compared at.
                run("callbacks", Transport::HTTPS_CLOSE, 100, 3_000.0, 300.0),
            ],
            ..Results::default()
        };
        let claim = &tls_claims(&results)["callbacks"];
        assert_eq!(claim.concurrency, 10);
        assert_eq!(claim.full_handshake_us, Some(400.0));
        let resumed = claim.resumed_handshake_us.unwrap();
        assert!((resumed - 150.0).abs() < 1e-9, "{resumed}");
        assert_eq!(claim.resumption_saves_us(), Some(225.0));
        assert_eq!(claim.tls_us(), Some(175.0));
        assert_eq!(claim.resumed_share, Some(0.9));
    }

    #[test]
    fn the_pool_is_compared_at_the_c_where_keep_alive_was_fastest() {
        let mut counted_close = run("uring", Transport::HTTP_CLOSE, 100, 0.0, 0.0);
        counted_close.site = "counts".into();
        counted_close.syscalls_per_page = Some(9.0);
        let mut counted_kept = counted_close.clone();
        counted_kept.transport = Transport::HTTP_KEEP_ALIVE;
        counted_kept.syscalls_per_page = Some(0.4);
        let results = Results {
            runs: vec![
                run("uring", Transport::HTTP_CLOSE, 10, 30_000.0, 50.0),
                run("uring", Transport::HTTP_CLOSE, 100, 32_000.0, 45.0),
                with(
                    run("uring", Transport::HTTP_KEEP_ALIVE, 10, 90_000.0, 12.0),
                    0,
                    0,
                    990,
                ),
                run("uring", Transport::HTTP_KEEP_ALIVE, 100, 80_000.0, 11.0),
                counted_close,
                counted_kept,
            ],
            ..Results::default()
        };
        let claim = &pool_claims(&results)["uring"];
        assert_eq!(claim.concurrency, 10);
        assert_eq!(
            (claim.close_per_s, claim.keep_alive_per_s),
            (30_000.0, 90_000.0)
        );
        assert_eq!(claim.saves_us(), 38.0);
        assert_eq!(claim.reused_share, Some(0.99));
        assert_eq!(claim.syscalls, Some((100, 9.0, 0.4)));
        assert_eq!(claim.https_cpu_us, None);
        assert_eq!(claim.times(), 3.0);
    }

    /// Keeping against closing, as the lecture's claim, is weighed round by round as the
    /// targets weigh it: here the medians' ratio would be 2.0, while the rounds, each
    /// against its own, kept 3.0, 3.25 and 2.0 times the close rate (their median, 3.0).
    #[test]
    fn the_pool_claim_weighs_each_round_against_its_own() {
        let rounds = |transport, per_s: &[f64]| Run {
            rounds_per_s: per_s.to_vec(),
            pages_per_s: per_s[median_at(per_s)],
            ..run("async", transport, 10, 0.0, 20.0)
        };
        let results = Results {
            runs: vec![
                rounds(Transport::HTTP_CLOSE, &[10.0, 40.0, 30.0]),
                rounds(Transport::HTTP_KEEP_ALIVE, &[30.0, 130.0, 60.0]),
            ],
            ..Results::default()
        };
        let claim = &pool_claims(&results)["async"];
        assert_eq!((claim.close_per_s, claim.keep_alive_per_s), (30.0, 60.0));
        assert_eq!(claim.times(), 3.0);
        // A sweep written before the ratio was kept: the rates' ratio.
        let older = PoolClaim {
            ratio: None,
            ..claim.clone()
        };
        assert_eq!(older.times(), 2.0);
    }

    /// Each row of `target`: its model, and whether it is met.
    fn judged(target: Target) -> Vec<(String, Option<bool>)> {
        target.rows.into_iter().map(|r| (r.model, r.met)).collect()
    }

    #[test]
    fn the_one_core_target_reads_the_one_core_site_or_an_older_sweeps_cpu_site() {
        for site in [CONN_ONE_CORE, CONN_CPU] {
            let pinned = |strategy: &str, per_s: f64| Run {
                site: site.into(),
                cores: Some(1),
                ..run(strategy, Transport::HTTP_KEEP_ALIVE, 1000, per_s, 10.0)
            };
            let results = Results {
                runs: vec![
                    pinned("threads", 60_000.0),
                    pinned("callbacks", 96_000.0),
                    pinned("uring", 84_000.0),
                    // Not pinned: not one of them.
                    run("async", Transport::HTTP_KEEP_ALIVE, 1000, 200_000.0, 5.0),
                ],
                ..Results::default()
            };
            assert_eq!(
                judged(one_core_target(&results)),
                [
                    ("callbacks".to_owned(), Some(true)),
                    ("uring".to_owned(), Some(false))
                ],
                "{site}"
            );
        }
    }

    #[test]
    fn the_one_core_crawls_fold_by_round_and_are_weighed_against_threads_round_by_round() {
        let pinned = |strategy: &str, per_s: f64| Run {
            site: CONN_ONE_CORE.into(),
            cores: Some(1),
            ..run(strategy, Transport::HTTP_KEEP_ALIVE, 1000, per_s, 10.0)
        };
        // Three rounds, each over both strategies, in the order the runner queues them. Each
        // round's ratio: 1.40, 1.45, 2.00; the medians' (84 over 50): 1.68.
        let mut runs = Vec::new();
        for (threads, callbacks) in [(60.0, 84.0), (40.0, 58.0), (50.0, 100.0)] {
            runs.push(pinned("threads", threads));
            runs.push(pinned("callbacks", callbacks));
        }
        // The same strategy and C on the CPU-bound site, unpinned: a group of its own.
        runs.push(run("threads", Transport::HTTP_KEEP_ALIVE, 1000, 70.0, 1.0));
        collapse_rounds(&mut runs);
        let seen: Vec<(&str, Option<usize>, f64, Vec<f64>)> = runs
            .iter()
            .map(|r| {
                let site = r.site.as_str();
                (site, r.cores, r.pages_per_s, r.rounds_per_s.clone())
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (CONN_ONE_CORE, Some(1), 50.0, vec![60.0, 40.0, 50.0]),
                (CONN_ONE_CORE, Some(1), 84.0, vec![84.0, 58.0, 100.0]),
                (CONN_CPU, None, 70.0, vec![]),
            ]
        );
        let results = Results {
            runs,
            ..Results::default()
        };
        let target = one_core_target(&results);
        assert_eq!(target.rows[0].ratio, Some(1.45));
        assert_eq!(judged(target), [("callbacks".to_owned(), Some(false))]);
    }

    #[test]
    fn tls_memory_is_judged_against_a_bare_client_connection_and_the_plain_cost() {
        let mut results = Results::default();
        for (model, plain, tls) in [
            ("callbacks", 800.0, 9_700.0),
            ("async", 1_400.0, 13_900.0),
            ("threads", 14_000.0, 42_000.0),
        ] {
            results
                .claims
                .memory_per_connection_b
                .insert(model.into(), plain);
            results
                .claims
                .tls_memory_per_connection_b
                .insert(model.into(), tls);
        }
        let memory = |results: &Results| {
            targets(results)
                .into_iter()
                .find(|t| t.text.contains("TLS memory"))
                .expect("the memory target")
        };
        // Without the bare connections, nothing is judged.
        let rows = memory(&results).rows;
        assert!(rows.iter().all(|r| r.met.is_none()), "{rows:?}");
        // 200 connections at 10,000 KiB, 1,000 at 17,000: 8,960 B each.
        results.bare_tls = Some(crate::probe::BareTls {
            connections: (200, 1000),
            rss_kib: (10_000, 17_000),
            ..crate::probe::BareTls::default()
        });
        // Threads (blocking) are not held to it; async's 13,900 B is over 8,960 + 1,400.
        assert_eq!(
            judged(memory(&results)),
            [
                ("async".to_owned(), Some(false)),
                ("callbacks".to_owned(), Some(true))
            ]
        );
    }

    #[test]
    fn a_feature_is_missing_when_every_run_that_needs_it_failed() {
        let failed = |strategy: &str, transport: Transport| Run {
            error: Some("the root could not be fetched".into()),
            ..run(strategy, transport, 10, 0.0, 0.0)
        };
        let results = Results {
            runs: vec![
                // threads: no https at all; keep-alive works.
                failed("threads", Transport::HTTPS_CLOSE),
                failed("threads", Transport::HTTPS_KEEP_ALIVE),
                run("threads", Transport::HTTP_KEEP_ALIVE, 10, 1.0, 1.0),
                // async: https works, keep-alive does not, so neither does https keep-alive.
                run("async", Transport::HTTPS_CLOSE, 10, 1.0, 1.0),
                failed("async", Transport::HTTP_KEEP_ALIVE),
                failed("async", Transport::HTTPS_KEEP_ALIVE),
                // uring: one https run failed and another ran: a failure, not a feature.
                run("uring", Transport::HTTPS_CLOSE, 10, 1.0, 1.0),
                failed("uring", Transport::HTTPS_CLOSE),
                // A plain crawl that fails is always a failure.
                failed("callbacks", Transport::HTTP_CLOSE),
            ],
            ..Results::default()
        };
        let missing: Vec<(String, &str)> = missing(&results)
            .into_iter()
            .map(|m| (m.strategy, m.feature))
            .collect();
        assert_eq!(
            missing,
            [
                ("threads".to_owned(), "https"),
                ("async".to_owned(), "keep-alive")
            ]
        );
        assert_eq!(
            missing_line(&results).as_deref(),
            Some("https: threads; keep-alive: async")
        );
        let unexplained: Vec<(&str, Transport)> = unexplained_failures(&results)
            .iter()
            .map(|r| (r.strategy.as_str(), r.transport))
            .collect();
        assert_eq!(
            unexplained,
            [
                ("uring", Transport::HTTPS_CLOSE),
                ("callbacks", Transport::HTTP_CLOSE)
            ]
        );
    }

    #[test]
    fn rounds_fold_into_their_median_with_every_rate_beside_it() {
        let keep = Transport::HTTP_KEEP_ALIVE;
        let close = Transport::HTTP_CLOSE;
        let mut runs = vec![
            run("callbacks", keep, 100, 50.0, 1.0),
            run("callbacks", close, 100, 10.0, 1.0),
            // Not in rounds: over https, and another site.
            run("callbacks", Transport::HTTPS_CLOSE, 100, 3.0, 1.0),
            Run {
                site: CONN_ONE_CORE.into(),
                ..run("callbacks", keep, 100, 70.0, 1.0)
            },
            run("callbacks", keep, 100, 90.0, 1.0),
            run("callbacks", close, 100, 12.0, 1.0),
            // Another C: a group of its own.
            run("callbacks", keep, 10, 40.0, 1.0),
            run("callbacks", keep, 100, 60.0, 1.0),
            run("callbacks", close, 100, 11.0, 1.0),
            run("callbacks", keep, 10, 30.0, 1.0),
        ];
        collapse_rounds(&mut runs);
        let seen: Vec<(usize, Transport, f64, Vec<f64>)> = runs
            .iter()
            .map(|r| {
                (
                    r.concurrency,
                    r.transport,
                    r.pages_per_s,
                    r.rounds_per_s.clone(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (100, keep, 60.0, vec![50.0, 90.0, 60.0]),
                (100, close, 11.0, vec![10.0, 12.0, 11.0]),
                (100, Transport::HTTPS_CLOSE, 3.0, vec![]),
                (100, keep, 70.0, vec![]),
                // Two rounds: the lower of the middle two.
                (10, keep, 30.0, vec![40.0, 30.0]),
            ]
        );
        assert_eq!(runs[3].site, CONN_ONE_CORE);
    }

    #[test]
    fn a_round_that_failed_is_never_outvoted() {
        let keep = Transport::HTTP_KEEP_ALIVE;
        let mut runs = vec![
            run("uring", keep, 100, 90.0, 1.0),
            Run {
                errors: 3,
                ..run("uring", keep, 100, 80.0, 1.0)
            },
            run("uring", keep, 100, 95.0, 1.0),
        ];
        collapse_rounds(&mut runs);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].errors, 3);
        assert_eq!(runs[0].rounds_per_s, vec![90.0, 80.0, 95.0]);
    }

    #[test]
    fn wrks_rounds_fold_into_their_median_and_keep_the_counted_figures() {
        let load = |transport: Transport, threads: usize, per_s: f64| WrkRow {
            site: CONN_CPU.into(),
            transport,
            threads,
            connections: 100,
            responses_per_s: per_s,
            ..WrkRow::default()
        };
        let keep = Transport::HTTP_KEEP_ALIVE;
        let mut rows = vec![
            WrkRow {
                syscalls_per_response: Some(4.0),
                instructions_per_response: Some(575.0),
                instructions_by: Some("callgrind".into()),
                ..load(keep, 1, 100.0)
            },
            load(keep, 2, 80.0),
            load(Transport::HTTPS_CLOSE, 1, 2.0),
            load(keep, 1, 200.0),
            load(keep, 2, 90.0),
            load(keep, 1, 150.0),
            load(keep, 2, 70.0),
        ];
        collapse_wrk_rounds(&mut rows);
        let seen: Vec<_> = rows
            .iter()
            .map(|w| {
                (
                    w.transport,
                    w.threads,
                    w.responses_per_s,
                    w.rounds_per_s.clone(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (keep, 1, 150.0, vec![100.0, 200.0, 150.0]),
                (keep, 2, 80.0, vec![80.0, 90.0, 70.0]),
                (Transport::HTTPS_CLOSE, 1, 2.0, vec![]),
            ]
        );
        assert_eq!(rows[0].syscalls_per_response, Some(4.0));
        assert_eq!(rows[0].instructions_per_response, Some(575.0));
        assert_eq!(rows[0].instructions_by.as_deref(), Some("callgrind"));
        assert_eq!(rows[1].syscalls_per_response, None);
    }

    #[test]
    fn targets_weigh_each_round_against_the_same_rounds_reference() {
        let keep = Transport::HTTP_KEEP_ALIVE;
        let close = Transport::HTTP_CLOSE;
        // The machine ran twice as fast in the second round: a median of wrk's rounds and
        // a median of the crawl's fall in different rounds.
        let mut runs = Vec::new();
        for (kept, closing) in [
            (85_000.0, 25_000.0),
            (170_000.0, 50_000.0),
            (90_000.0, 45_000.0),
        ] {
            runs.push(run("callbacks", keep, 100, kept, 10.0));
            runs.push(run("callbacks", close, 100, closing, 30.0));
        }
        collapse_rounds(&mut runs);
        let mut results = Results {
            runs,
            ..Results::default()
        };
        for per_s in [100_000.0, 200_000.0, 150_000.0] {
            results.wrk.push(WrkRow {
                site: CONN_CPU.into(),
                transport: keep,
                threads: 1,
                responses_per_s: per_s,
                ..WrkRow::default()
            });
        }
        collapse_wrk_rounds(&mut results.wrk);
        let found = |text: &str| {
            targets(&results)
                .into_iter()
                .find(|t| t.text.contains(text))
                .expect("the target")
        };
        // Medians 90K against 150K would be 0.60; round by round 0.85, 0.85, 0.60.
        let one_loop = found("wrk -t1`'s rate, keeping connections");
        assert_eq!(
            judged(one_loop.clone()),
            vec![("callbacks".into(), Some(true))]
        );
        let row = &one_loop.rows[0];
        assert!((row.ratio.unwrap() - 0.85).abs() < 1e-9, "{row:?}");
        assert!(
            row.measured
                .contains("against wrk -t1 150000/s (median of 3 rounds)")
                && row
                    .measured
                    .contains("each round's (0.85, 0.85, 0.60, in the order"),
            "{}",
            row.measured
        );
        // Medians 90K against 45K would be 2.0; round by round 3.4, 3.4, 2.0.
        let pool = found("keep-alive reaches at least");
        assert_eq!(judged(pool.clone()), vec![("callbacks".into(), Some(true))]);
        assert!((pool.rows[0].ratio.unwrap() - 3.4).abs() < 1e-9);
        // A figure of one run against rounds: the two figures' ratio.
        let single = Ratio::of((60_000.0, &[]), (150_000.0, &[100_000.0, 200_000.0]));
        assert_eq!(
            single,
            Ratio {
                value: 0.4,
                rounds: vec![]
            }
        );
    }

    #[test]
    fn one_loops_budget_against_wrk_t1_comes_from_wrks_cpu_per_response() {
        let keep = Transport::HTTP_KEEP_ALIVE;
        let mut results = Results {
            runs: vec![
                run("callbacks", keep, 100, 80_000.0, 12.0),
                run("callbacks", keep, 10, 70_000.0, 13.0),
                // Not one loop, nor an event-driven model: not in the paragraph.
                Run {
                    parallel: Some(2),
                    ..run("uring", keep, 100, 90_000.0, 11.0)
                },
                run("threads", keep, 10, 60_000.0, 20.0),
            ],
            ..Results::default()
        };
        assert_eq!(one_loop_bound(&results), None, "no wrk, no bound");
        results.wrk.push(WrkRow {
            site: CONN_CPU.into(),
            transport: keep,
            threads: 1,
            responses_per_s: 100_000.0,
            client: Some(crate::loadgen::CpuPerResponse {
                user_us: 1.0,
                sys_us: 8.0,
            }),
            ..WrkRow::default()
        });
        let text = one_loop_bound(&results).expect("a bound");
        assert!(text.contains("wrk spent 9.0 µs of CPU a response (1.0 in user space), busy 90%"));
        assert!(text.contains("within about 11.2 µs a page (1.25× wrk's)"));
        assert!(text.contains("per page (the whole process, its start and its report included): callbacks 12.0 µs (1.33× wrk's). wrk reads"), "{text}");
        assert!(
            !text.contains("In the kernel"),
            "no split, no kernel figure: {text}"
        );
        // With the process's split between user space and the kernel.
        for run in &mut results.runs {
            run.user_s = 0.005;
            run.sys_s = 0.007;
        }
        let text = one_loop_bound(&results).expect("a bound");
        assert!(
            text.contains("callbacks 12.0 µs (1.33× wrk's; 5.0 of it in user space). In the kernel, a page cost these crawlers 7.0 µs and a response cost wrk 8.0 µs"),
            "{text}"
        );
    }
}
