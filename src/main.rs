//! `c10k`: crawl a site with one of the strategies, serve the test site, or measure them all.
//!
//! The command line alone: each subcommand parses its arguments (`args.rs`) and calls the
//! strategies or the measuring harness (`crates/harness`). `crawl.rs` runs one crawl;
//! `commands.rs` holds the others.

mod args;
mod commands;
mod crawl;
mod state;

use std::process::ExitCode;

use c10k_harness as harness;
use clap::{Parser, Subcommand};

use args::{
    CompareArgs, CountArgs, CrawlArgs, PlotArgs, ProbeArgs, ProbeTlsArgs, PublishArgs, ServeArgs,
};
use commands::{compare, count, plot, publish, serve};
use crawl::crawl;

/// One raw-socket web crawler written five ways, measured C10K-style.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Crawl a site (without URL: an embedded test site, checked against its manifest).
    #[command(
        allow_negative_numbers = true,
        after_help = "Exit status: 0 when the crawl ran, 1 when a root could not be fetched, 2 on \
                      bad arguments, 3 when the crawl ran but URLs could not be reached \
                      (error:connect after their tries: the site went away); each failure with \
                      a one-line reason on stderr. What each feature does: docs/crawler.md."
    )]
    Crawl(CrawlArgs),
    /// Serve the deterministic test site until killed.
    #[command(allow_negative_numbers = true)]
    Serve(ServeArgs),
    /// Measure every strategy at every concurrency, each in its own process; write results/.
    Compare(CompareArgs),
    /// Make a sweep the published reference run: rewrite README.md's results section and
    /// docs/results.md from its sweep.json.
    Publish(PublishArgs),
    /// Redraw the plots of a sweep from its JSON.
    Plot(PlotArgs),
    /// Count what one crawl costs: system calls (perf) and instructions (perf or callgrind).
    /// Takes the arguments of `c10k crawl`; count against a separate `c10k serve`.
    #[command(allow_hyphen_values = true)]
    Count(CountArgs),
    /// Spawn threads, then open sockets, until the OS refuses (or the cap); print JSON.
    #[command(hide = true)]
    ProbeLimits(ProbeArgs),
    /// Hold bare rustls client connections, as in-flight crawls hold theirs; print JSON.
    #[command(hide = true)]
    ProbeTls(ProbeTlsArgs),
}

/// An error in what the user asked: exit code 2.
#[derive(Debug)]
pub(crate) struct Usage(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crawl(args) => crawl(args),
        Command::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
        Command::Compare(args) => compare(args),
        Command::Publish(args) => publish(args),
        Command::Plot(args) => plot(args),
        Command::Count(args) => count(args),
        Command::ProbeLimits(args) => {
            let ceilings = harness::probe::probe(args.cap, args.stack_kb);
            println!("{}", serde_json::to_string(&ceilings).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Command::ProbeTls(args) => harness::probe::bare_tls((args.narrow, args.wide))
            .map(|bare| {
                println!("{}", serde_json::to_string(&bare).unwrap_or_default());
                ExitCode::SUCCESS
            })
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// Pins this process to `cpus`, before it starts any thread (the threads it starts inherit
/// the mask).
pub(crate) fn pin(cpus: Option<&harness::affinity::CpuList>) -> anyhow::Result<()> {
    if let Some(harness::affinity::CpuList(cpus)) = cpus {
        harness::affinity::pin_to(cpus).map_err(|e| {
            usage(format!(
                "cannot run on CPUs {}: {e}",
                harness::affinity::format_cpus(cpus)
            ))
        })?;
    }
    Ok(())
}
