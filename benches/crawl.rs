//! Criterion benches: the wall time of a whole crawl, for every strategy × C ∈ {1, 10, 100,
//! 1000, 10000}, on two sites:
//!
//! - *latency-bound* (`--delay-ms 50`): waits dominate, and concurrency should win — the
//!   lecture's 9 s → 3 s;
//! - *CPU-bound* (no delay): every response is immediate, so the per-connection overhead of
//!   each model shows.
//!
//! The test server runs in its own process (`c10k serve`), so what is timed here is the
//! crawler. Throughput is set to the responses of one crawl: criterion reports responses/s.
//! What criterion cannot see (CPU, memory, context switches) is in `benches/sweep.rs`.
//!
//! A third group, *work*, crawls a latency-bound site at C = 100 with N µs of CPU work per
//! page (N ∈ {0, 100, 1000}), done on the event loop or offloaded to rayon (`+offload`).
//!
//! A fourth, *cores*, crawls the CPU-bound site with every core: threads; callbacks,
//! generators and uring with one loop per core; async per-core and work-stealing with a thread
//! per core.
//!
//! Two more crawl the connection axis's CPU-bound site (2,000 pages at C = 100) in each
//! strategy's default form: *tls* over https (the test server's own CA trusted), a
//! connection per page with sessions resumed and with none (the first 300 pages: a handshake
//! costs tens of times a plain page), and connections kept; and
//! *keep-alive* over http, a connection per page against connections kept. A strategy that
//! does not support a transport yet is skipped with its reason, as is a keep-alive crawl that
//! reused no connection.
//!
//! The last, *links*, times the link scanner alone on a page of fifty links written three
//! ways: plain paths; query strings with `&amp;`; and query strings with a bare `&`, as pages
//! written by hand have them. A value with an `&` is rewritten by the tokenizer, and these are
//! the references the scanner decodes itself (`crates/core/src/links/char_refs.rs`).
//!
//! `cargo bench -- --test` runs each bench once on tiny sites, so the benches never rot.

use std::{cell::RefCell, path::Path, time::Duration};

use c10k_core::{Config, parse_root};
use c10k_harness::{
    Plan, Strategy, StrategyOptions,
    plan::{Site, Transport},
    raise_fd_limit,
    server::ServerProcess,
};
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};

/// One configuration of a group: its name, the strategy and its options, how it connects.
struct Variant {
    name: String,
    strategy: Strategy,
    options: StrategyOptions,
    transport: Transport,
}

impl Variant {
    /// `strategy` with `options`, over http with a connection per page.
    fn new(name: impl Into<String>, strategy: Strategy, options: StrategyOptions) -> Variant {
        Variant {
            name: name.into(),
            strategy,
            options,
            transport: Transport::HTTP_CLOSE,
        }
    }
}

/// Configurations that could not be measured, one line each: said when they happen, listed
/// again at the end, and written to `target/criterion/c10k-failed.txt`.
#[derive(Default)]
struct Failures(RefCell<Vec<String>>);

impl Failures {
    fn add(&self, line: String) {
        eprintln!("skipped: {line}");
        self.0.borrow_mut().push(line);
    }

    fn finish(self) {
        let lines = self.0.into_inner();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion/c10k-failed.txt");
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        // Best effort: the lines were printed already.
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
        let _ = std::fs::write(&path, text);
        if !lines.is_empty() {
            eprintln!(
                "{} configurations could not be measured (listed in {}):",
                lines.len(),
                path.display()
            );
            for line in &lines {
                eprintln!("  {line}");
            }
        }
    }
}

fn crawl(c: &mut Criterion) {
    match raise_fd_limit() {
        Ok(limit) => {
            if let Some(note) = limit.note() {
                eprintln!("note: {note}");
            }
        }
        Err(err) => eprintln!("note: the open-file limit could not be raised: {err}"),
    }
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let plan = if test_mode {
        Plan::smoke()
    } else {
        Plan::criterion()
    };
    let failures = Failures::default();
    for site in &plan.sites {
        let mut group = group(c, &format!("crawl-{}", site.name));
        for &concurrency in plan
            .concurrencies
            .iter()
            .filter(|&&c| c >= site.min_concurrency)
        {
            let variants: Vec<Variant> = plan
                .strategies
                .iter()
                .map(|&s| Variant::new(s.name(), s, StrategyOptions::default()))
                .collect();
            let what = format!("crawl-{}/C = {concurrency}", site.name);
            bench_site(
                &mut group,
                &failures,
                &what,
                (site, concurrency, 0, None),
                &variants,
                |name, _| BenchmarkId::new(name, concurrency),
            );
        }
        group.finish();
    }

    // The work axis: N µs of CPU work per page, on the loop or offloaded to rayon.
    if let Some(axis) = &plan.work {
        let mut group = group(c, "crawl-work");
        let mut variants = Vec::new();
        for &strategy in &plan.strategies {
            for offload in [false, true] {
                if offload && strategy == Strategy::Threads {
                    continue;
                }
                let name = if offload {
                    format!("{strategy}+offload")
                } else {
                    strategy.name().to_owned()
                };
                let options = StrategyOptions {
                    offload,
                    ..StrategyOptions::default()
                };
                variants.push(Variant::new(name, strategy, options));
            }
        }
        for &work_us in &axis.work_us {
            let what = format!("crawl-work/{work_us} µs");
            bench_site(
                &mut group,
                &failures,
                &what,
                (&axis.site, axis.concurrency, work_us, None),
                &variants,
                |name, _| BenchmarkId::new(name, work_us),
            );
        }
        group.finish();
    }
    // The cores axis at its top step: every core, unpinned. (The sweep pins the crawler apart
    // from the server below that; criterion crawls in its own process, which it cannot pin
    // without pinning itself.)
    if let Some(axis) = &plan.cores {
        let cores = axis.cores.last().copied().unwrap_or(1);
        let mut group = group(c, "crawl-cores");
        let mut variants = Vec::new();
        for &strategy in &plan.strategies {
            let options = StrategyOptions::default();
            match strategy {
                Strategy::Callbacks | Strategy::Generators | Strategy::Uring => {
                    variants.push(Variant::new(
                        strategy.name(),
                        strategy,
                        StrategyOptions {
                            loops: Some(cores),
                            ..options
                        },
                    ))
                }
                Strategy::Async => {
                    for (runtime, per_core) in [("per-core", true), ("stealing", false)] {
                        variants.push(Variant::new(
                            format!("async+{runtime}"),
                            strategy,
                            StrategyOptions {
                                runtime_threads: Some(cores),
                                per_core,
                                ..options.clone()
                            },
                        ));
                    }
                }
                _ => variants.push(Variant::new(strategy.name(), strategy, options)),
            }
        }
        let what = format!("crawl-cores/{cores} cores");
        bench_site(
            &mut group,
            &failures,
            &what,
            (&axis.site, axis.concurrency, 0, None),
            &variants,
            |name, _| BenchmarkId::new(name, cores),
        );
        group.finish();
    }
    // The connection axis's CPU-bound site at its first C, each strategy's default form.
    let axis = plan.connections.as_ref();
    let at = axis.and_then(|a| a.sites.iter().find(|at| at.site.delay_ms == 0));
    if let (Some(axis), Some(at)) = (axis, at) {
        let concurrency = at.concurrencies.first().copied().unwrap_or(1);
        let over = |transports: &[Transport]| -> Vec<Variant> {
            let mut variants = Vec::new();
            for &strategy in &plan.strategies {
                for &transport in transports.iter().filter(|t| axis.transports.contains(t)) {
                    variants.push(Variant {
                        transport,
                        ..Variant::new(strategy.name(), strategy, StrategyOptions::default())
                    });
                }
            }
            variants
        };
        let mut tls_group = group(c, "crawl-tls");
        let https = over(&[
            Transport::HTTPS_CLOSE,
            Transport::HTTPS_CLOSE_NO_RESUME,
            Transport::HTTPS_KEEP_ALIVE,
        ]);
        bench_site(
            &mut tls_group,
            &failures,
            &format!("crawl-tls/C = {concurrency}"),
            (&at.site, concurrency, 0, axis.handshake_pages),
            &https,
            parameter,
        );
        tls_group.finish();
        let mut group = group(c, "crawl-keep-alive");
        let http = over(&[Transport::HTTP_CLOSE, Transport::HTTP_KEEP_ALIVE]);
        bench_site(
            &mut group,
            &failures,
            &format!("crawl-keep-alive/C = {concurrency}"),
            (&at.site, concurrency, 0, axis.handshake_pages),
            &http,
            parameter,
        );
        group.finish();
    }
    failures.finish();
}

/// A connection bench's id: the strategy, and the transport without its scheme (one group
/// is all https, the other all http): `threads/keep-alive`, `uring/close, no resumption`.
fn parameter(name: &str, transport: Transport) -> BenchmarkId {
    let name_of = transport.name();
    let mode = name_of
        .split_once(' ')
        .map_or(name_of.as_str(), |(_, mode)| mode);
    BenchmarkId::new(name, mode)
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100));
    group
}

/// Benches every variant crawling `site` at `concurrency` with `work_us` of work per page, in
/// a server process of its own (over TLS when the variants are); a crawl with a TLS handshake
/// per page stops after `handshake_pages`. A configuration that fails is recorded in
/// `failures` and the others go on.
fn bench_site(
    group: &mut BenchmarkGroup<'_, WallTime>,
    failures: &Failures,
    what: &str,
    (site, concurrency, work_us, handshake_pages): (&Site, usize, u64, Option<usize>),
    variants: &[Variant],
    id: impl Fn(&str, Transport) -> BenchmarkId,
) {
    let bin = Path::new(env!("CARGO_BIN_EXE_c10k"));
    let pages = site.pages_for(concurrency);
    let tls = variants.iter().any(|v| v.transport.tls);
    let started = if tls {
        ServerProcess::start_tls(bin, site, pages)
    } else {
        ServerProcess::start(bin, site, pages)
    };
    let server = match started {
        Ok(server) => server,
        Err(err) => {
            failures.add(format!("{what}: the test server did not start: {err}"));
            return;
        }
    };
    let mut base = match parse_root(&server.url) {
        Ok(root) => Config::new(root, server.addr),
        Err(err) => {
            failures.add(format!("{what}: the server's URL {}: {err}", server.url));
            return;
        }
    };
    if let Some(path) = &server.ca_file {
        let added = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| base.tls.add_pem(&pem));
        if let Err(err) = added {
            failures.add(format!("{what}: the server's CA {}: {err}", path.display()));
            return;
        }
    }
    base.concurrency = concurrency;
    base.work_rounds = c10k_harness::work_rounds(work_us);
    let config_of = |variant: &Variant| {
        let mut config = base.clone();
        config.keep_alive = variant.transport.keep_alive;
        config.tls.resume = !variant.transport.no_resume;
        if variant.transport.handshake_per_page() {
            config.max_pages = handshake_pages.unwrap_or(usize::MAX);
        }
        config
    };
    // A crawl that ran but did not measure its variant: URLs failed, or keep-alive asked and
    // no connection reused.
    let unmet = |variant: &Variant, report: &c10k_core::Report| {
        if report.errors > 0 {
            return Some(format!("{} URLs failed", report.errors));
        }
        if let Some(why) = c10k_harness::root_unfetched(report) {
            return Some(why);
        }
        c10k_harness::connections::unmet(
            variant.transport,
            report.fetched,
            concurrency,
            Some(report.connections),
        )
    };
    let mut measured = 0;
    for variant in variants {
        let config = config_of(variant);
        let label = match variant.transport {
            Transport::HTTP_CLOSE => variant.name.clone(),
            transport => format!("{} {}", variant.name, transport.name()),
        };
        // Tried once before it is timed: a configuration that cannot run (out of threads,
        // a transport not supported yet) is skipped with its reason rather than ending the
        // whole benchmark. The try also gives how many responses a crawl gets (the throughput
        // unit: a crawl with a handshake per page stops sooner) and how long it takes, so
        // that ten samples of one crawl each fit in the measurement time.
        let tried = match c10k_harness::run(variant.strategy, &config, &variant.options) {
            Ok(report) => match unmet(variant, &report) {
                Some(why) => Err(why),
                None => Ok(report),
            },
            Err(err) => Err(err.to_string()),
        };
        let tried = match tried {
            Ok(report) => report,
            Err(why) => {
                failures.add(format!("{what}/{label}: {why}"));
                continue;
            }
        };
        measured += 1;
        group.throughput(Throughput::Elements(tried.fetched as u64));
        group.measurement_time(Duration::from_secs_f64((tried.elapsed_s * 9.0).max(0.5)));
        let failed = RefCell::new(None);
        let (strategy, options) = (variant.strategy, &variant.options);
        group.bench_with_input(
            id(&variant.name, variant.transport),
            &config,
            |b, config| {
                b.iter(|| match c10k_harness::run(strategy, config, options) {
                    Ok(report) => {
                        if let Some(why) = unmet(variant, &report) {
                            failed.replace(Some(why));
                        }
                        report.fetched
                    }
                    Err(err) => {
                        failed.replace(Some(err.to_string()));
                        0
                    }
                });
            },
        );
        if let Some(reason) = failed.into_inner() {
            failures.add(format!(
                "{what}/{label}: a timed crawl failed ({reason}); its figure above is not valid"
            ));
        }
    }
    if measured == 0 {
        failures.add(format!("{what}: no strategy could crawl the site once"));
    }
}

/// Criterion's own plots are off: they would add minutes to `cargo bench` (one set per
/// benchmark), and the sweep draws the plots this project publishes. Its statistics and
/// `target/criterion/` JSON remain.
fn config() -> Criterion {
    Criterion::default().without_plots()
}

/// The *links* group (see the module's doc): throughput in links.
fn links(c: &mut Criterion) {
    const LINKS: usize = 50;
    let page = |href: fn(usize) -> String| {
        let mut page =
            String::from("<!DOCTYPE html>\n<html><head><title>Links</title></head><ul>\n");
        for i in 0..LINKS {
            page.push_str(&format!("<li><a href=\"{}\">link</a></li>\n", href(i)));
        }
        page + "</ul></html>\n"
    };
    let pages = [
        ("plain", page(|i| format!("/p/{i}"))),
        ("amp", page(|i| format!("/p?id={i}&amp;page=2"))),
        ("bare-amp", page(|i| format!("/p?id={i}&page=2"))),
    ];
    let mut group = c.benchmark_group("links");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(LINKS as u64));
    for (name, html) in &pages {
        group.bench_function(*name, |b| {
            b.iter(|| c10k_core::extract_links(std::hint::black_box(html.as_bytes())))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = crawl, links
}
criterion_main!(benches);
