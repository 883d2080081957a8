//! The other subcommands: `serve` the test site, `compare` (the sweep), `count` one crawl's
//! instructions and system calls, `plot` a sweep again.

use std::{fs, net::SocketAddr, path::Path, process::ExitCode, sync::Arc, time::Duration};

use anyhow::{Context, anyhow, bail};
use c10k_harness::{self as harness, raise_fd_limit};
use c10k_testsite::{
    Ca, Chaos, ChaosFault, KeepAlive, Server, ServerOptions, SiteSpec, Tls, TlsMode,
};

use crate::{
    args::{CompareArgs, CountArgs, PlotArgs, PublishArgs, ServeArgs},
    pin, usage,
};

pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<()> {
    pin(args.cpus.as_ref())?;
    raise_fd_limit().context("raising the open-file limit")?;
    let robots = match &args.robots {
        Some(path) => Some(
            fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read --robots {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let spec = SiteSpec {
        pages: args.pages,
        links: usize::try_from(args.links).unwrap_or(usize::MAX),
        page_bytes: args.page_bytes,
        seed: args.seed,
        delay: Duration::from_millis(args.delay_ms),
        faults: args.faults,
        busy: args.busy,
        robots,
        robots_redirect: false,
        robots_elsewhere: None,
        www_link: args.www_link,
        chaos: args.chaos.map(|rate| Chaos {
            faults: args
                .chaos_faults
                .clone()
                .map_or_else(|| ChaosFault::ALL.to_vec(), |list| list.0),
            max_tries: args.max_tries,
            ..Chaos::new(rate, args.seed)
        }),
    };
    if spec.pages == 0 {
        bail!(usage("--pages must be at least 1"));
    }
    // One CA for every listener, so that one --ca-out file is all a client needs.
    let ca = if args.tls {
        let ca = Ca::new().context("making the TLS certificate authority")?;
        Some(Arc::new(ca))
    } else {
        None
    };
    let options = |addr: SocketAddr, tls: Option<Tls>| ServerOptions {
        spec: spec.clone(),
        addr,
        threads: usize::try_from(args.threads).unwrap_or(1),
        name: args.name.clone(),
        log: false,
        tls,
        keep_alive: KeepAlive {
            max_requests: args.max_requests,
            announce_last: args.announce_close,
            idle: Duration::from_millis(args.idle_ms),
        },
    };
    let mut servers = Vec::new();
    for n in 0..args.sites {
        let addr = nth_port(args.addr, n)?;
        let tls = match &ca {
            Some(ca) => Some(Tls {
                plain_twin: args.plain_twin.map(|twin| nth_port(twin, n)).transpose()?,
                ..Tls::with_ca(TlsMode::Valid, Arc::clone(ca))
            }),
            None => None,
        };
        let server = Server::start(options(addr, tls))
            .with_context(|| format!("cannot listen on {addr}"))?;
        servers.push(server);
    }
    let mut tls_faults = Vec::new();
    if let (true, Some(ca)) = (args.tls_faults, &ca) {
        for mode in TlsMode::FAULTS {
            let addr = SocketAddr::new(args.addr.ip(), 0);
            let tls = Tls::with_ca(mode, Arc::clone(ca));
            let server = Server::start(options(addr, Some(tls)))
                .with_context(|| format!("cannot listen on {addr}"))?;
            tls_faults.push(server);
        }
    }
    // The files first: whoever reads the address may read them at once.
    if let (Some(path), Some(ca)) = (&args.ca_out, &ca) {
        fs::write(path, ca.pem()).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.manifest {
        let manifests: Vec<_> = servers.iter().map(|s| s.manifest(&spec)).collect();
        let json = match manifests.as_slice() {
            [one] => serde_json::to_string_pretty(one)?,
            all => serde_json::to_string_pretty(all)?,
        };
        fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.expected_digest {
        let lines: String = servers
            .iter()
            .map(|s| format!("{}\n", s.digest(&spec)))
            .collect();
        fs::write(path, lines).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.expected_urls {
        let lines: String = servers
            .iter()
            .map(|s| s.manifest(&spec).urls_out())
            .collect();
        fs::write(path, lines).with_context(|| format!("writing {}", path.display()))?;
    }
    for server in &servers {
        println!("listening on {}", server.url());
    }
    for twin in servers.iter().filter_map(Server::twin_url) {
        println!("plain twin on {twin}");
    }
    for server in &tls_faults {
        if let Some(mode) = server.tls_mode() {
            println!(
                "tls fault {} on {}: {} ({})",
                mode.name(),
                server.url(),
                mode.outcome(),
                mode.reason()
            );
        }
    }
    // Serves until killed: waiting on the first, which never stops, keeps the others (held
    // here) running beside it.
    let mut servers = servers.into_iter();
    let first = servers.next();
    let _others: Vec<Server> = servers.chain(tls_faults).collect();
    if let Some(first) = first {
        first.wait();
    }
    Ok(())
}

/// `addr` for the `n`-th site: the same, or with a port `n` above its own unless it is 0.
fn nth_port(mut addr: SocketAddr, n: u64) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 {
        let port = u64::from(addr.port()) + n;
        addr.set_port(
            u16::try_from(port).map_err(|_| usage(format!("port {port} is out of range")))?,
        );
    }
    Ok(addr)
}

/// The sweep (`--quick`, or the full plan), its data, the plots, the run beside the reference,
/// and the README section and docs/results.md if asked.
pub(crate) fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let root = Path::new(".");
    if args.publish {
        // Before a sweep of minutes, not after it.
        harness::publish::check(root).map_err(|e| usage(format!("--publish: {e}")))?;
    }
    let reference = harness::publish::reference(root);
    let mut plan = if args.quick {
        harness::Plan::quick()
    } else {
        harness::Plan::full()
    }
    .only(&args.axes);
    if !args.strategies.is_empty() {
        plan.strategies = args.strategies;
    }
    if !args.concurrency.is_empty() {
        plan.concurrencies = args.concurrency.iter().map(|&c| c as usize).collect();
    }
    let bin = std::env::current_exe().context("finding the c10k binary")?;
    let results = harness::runner::sweep(&bin, &plan)?;
    // The data first: a plot that fails afterwards costs no measurement.
    let dir = harness::results::run_dir(&args.out, &results);
    for path in results.write_data(&dir)? {
        eprintln!("wrote {}", path.display());
    }
    let code = plots_drawn(&harness::plot::draw(&results, &dir));
    let end = harness::publish::conclude(root, &dir, &results, reference.as_deref(), args.publish)?;
    println!("{end}");
    Ok(code)
}

/// Publishes a sweep already on disk, and sets it beside the reference it replaces.
pub(crate) fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let dir = if args.run.is_file() {
        args.run.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        args.run.clone()
    };
    let results = harness::publish::load(&dir).map_err(|e| usage(format!("not a sweep: {e}")))?;
    harness::publish::check(&args.root).map_err(|e| usage(e.to_string()))?;
    let previous = harness::publish::reference(&args.root);
    for file in harness::publish::publish(&args.root, &dir, &results)? {
        eprintln!("published {}", file.display());
    }
    let same =
        previous.as_deref().and_then(|p| fs::canonicalize(p).ok()) == fs::canonicalize(&dir).ok();
    if let (Some(previous), false) = (previous, same) {
        let name = format!(
            "results/{}",
            previous.file_name().unwrap_or_default().to_string_lossy()
        );
        println!(
            "{}",
            harness::publish::beside(&results, &harness::publish::load(&previous)?, &name)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn count(args: CountArgs) -> anyhow::Result<ExitCode> {
    let counters = harness::counts::Counters::probe();
    let notes = counters.notes();
    if counters.syscalls.is_err() && counters.hardware.is_err() && counters.callgrind.is_err() {
        bail!(usage(format!(
            "nothing to count with: {}",
            notes.join("; ")
        )));
    }
    for note in notes {
        eprintln!("note: {note}");
    }
    let bin = std::env::current_exe().context("finding the c10k binary")?;
    let count = harness::counts::count(&bin, &args.crawl, &counters).map_err(|e| {
        if e.starts_with(harness::counts::BAD_ARGUMENTS) {
            usage(e)
        } else {
            anyhow!(e)
        }
    })?;
    print!("{}", count.describe());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn plot(args: PlotArgs) -> anyhow::Result<ExitCode> {
    let text = fs::read_to_string(&args.json)
        .with_context(|| format!("reading {}", args.json.display()))?;
    let results: harness::Results = serde_json::from_str(&text).map_err(|e| {
        usage(format!(
            "{} is not a sweep's JSON: {e}",
            args.json.display()
        ))
    })?;
    let dir = args
        .out
        .unwrap_or_else(|| args.json.parent().unwrap_or(Path::new(".")).to_path_buf());
    Ok(plots_drawn(&harness::plot::draw(&results, &dir)))
}

/// Says which plots were written and which failed (one line each); exit code 1 if any failed.
fn plots_drawn(drawn: &harness::plot::Drawn) -> ExitCode {
    drawn.print();
    if drawn.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {} of {} plot files could not be drawn (the data is written)",
            drawn.failed.len(),
            drawn.failed.len() + drawn.written.len()
        );
        ExitCode::FAILURE
    }
}
