//! A crawl returns only once its threads are gone: two crawls at a high C, one after the other
//! in one process, both run, and the process holds no more memory mappings after them than
//! before (past the map limit a new thread would abort the process; see `thread_headroom`).
//!
//! In a test binary of its own, so no other test's threads share the process.

use c10k_core::{Config, parse_root};
use c10k_testsite::{Server, ServerOptions, SiteSpec};
use c10k_threads::{Options, crawl, thread_headroom};

/// Raises the soft open-file limit to the hard one (a fresh shell's soft limit is often
/// 1,024), and returns how many fetches the descriptors allow: each holds one here and one in
/// the server, which runs in this process too.
fn fetches_the_descriptors_allow() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("the open-file limit");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("the open-file limit raised");
    }
    // A hundred for what else the process holds.
    usize::try_from(hard)
        .unwrap_or(usize::MAX)
        .saturating_sub(100)
        / 2
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("Linux: /proc/self/maps")
        .lines()
        .count()
}

#[test]
fn crawls_at_high_concurrency_back_to_back_leave_no_thread_behind() {
    // Every thread busy with a fetch that ends at about the same moment (50 ms each): the
    // shape under which the old pool returned with its threads still exiting (19,386 mappings
    // left behind at C = 9,783, here).
    let spec = SiteSpec {
        pages: 10_000,
        delay: std::time::Duration::from_millis(50),
        ..SiteSpec::default()
    };
    let server = Server::start(ServerOptions {
        spec: spec.clone(),
        ..ServerOptions::default()
    })
    .expect("the test server starts");
    let Some(headroom) = thread_headroom() else {
        eprintln!("skipped: no /proc/sys/vm/max_map_count to size the pool by");
        return;
    };
    // More than half the headroom: if one crawl's threads outlived it, the next could not
    // start its pool. (Where the open-file limit allows fewer fetches, the crawls are
    // smaller and the mappings after them still tell.)
    let concurrency = (headroom * 3 / 5)
        .min(fetches_the_descriptors_allow())
        .min(10_000);
    let mut config = Config::new(parse_root(&server.url()).unwrap(), server.addr());
    config.concurrency = concurrency;
    let before = mappings();
    for round in 1..=2 {
        let report = crawl(&config, &Options::default())
            .unwrap_or_else(|err| panic!("crawl {round} at C = {concurrency}: {err}"));
        assert_eq!(report.pages, spec.pages, "crawl {round}");
        assert_eq!(report.errors, 0, "crawl {round}");
        let after = mappings();
        // The allocator may keep a few freed stacks cached (glibc: up to 40 MiB of them),
        // a few hundred mappings, not one per thread.
        assert!(
            after < before + concurrency / 4,
            "crawl {round} at C = {concurrency} left {after} mappings, {before} before"
        );
    }
}
