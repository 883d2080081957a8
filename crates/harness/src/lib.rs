//! The measuring harness of c10k: which strategies exist, and how they are measured against
//! each other. The command line (`src/main.rs`), the integration tests and `benches/` all call
//! this one library.
//!
//! The data goes one way, one module per step:
//!
//! | step | module | what it does |
//! |---|---|---|
//! | registry | [`strategy`] | the strategies, their options, [`run`]: the one place that names them all |
//! | plan | [`plan`] | which crawls a sweep runs, on which test sites ([`Plan::full`], `quick`, `smoke`) |
//! | run | [`runner`] | each crawl in a child process against a [`server`] in another; rusage, the memory sampler's figures, the [`loadgen`] ceiling and the [`probe`] of limits |
//! | results | [`results`] | every run, the figures derived across runs, `sweep.json` and `sweep.csv` |
//! | summary | [`summary`] | every table and claim as Markdown: `summary.md`, `docs/results.md` |
//! | headline | [`headline`] | each model's best form, and what the numbers say, regime by regime |
//! | plots | [`plot`] | SVG and PNG charts, drawn with a font compiled into the binary |
//! | publish | [`publish`] | only when asked: the README's results section and `docs/results.md`; the reference run, and a sweep beside it |
//!
//! Around them: [`measure`] (process usage, the machine), [`counts`] (instructions and system
//! calls per page), [`affinity`] (pinning to cores), [`limits`] (open files) and
//! [`connections`] (what the TLS and connection axes say: the handshake apart from the rest
//! of a page, what resumption and the pool save, the issues' targets, the transports a
//! strategy does not support yet) and [`durable`] (what the state axis says: a crawl with
//! `--state DIR` against the same crawl in memory, and issue 28's target).
//!
//! A sweep never loses what it measured to what comes after: [`Results::write_data`] puts the
//! data on disk before [`plot::draw`] draws, and a chart that fails is reported on its own.

#![deny(missing_docs)]

pub mod affinity;
pub mod connections;
pub mod counts;
pub mod durable;
pub mod headline;
pub mod limits;
pub mod loadgen;
pub mod measure;
pub mod peers;
pub mod plan;
pub mod plot;
pub mod probe;
pub mod publish;
pub mod results;
pub mod runner;
pub mod server;
pub mod strategy;
pub mod summary;

pub use limits::{FdLimit, open_fds, raise_fd_limit};
pub use plan::Plan;
pub use results::Results;
pub use strategy::{Strategy, StrategyOptions, root_unfetched, run, state_sizes, work_rounds};

/// The first line of a tool's output that is not blank, as it is written: what a failure is
/// told by.
pub(crate) fn first_line(text: &str) -> Option<&str> {
    text.lines().find(|line| !line.trim().is_empty())
}
