//! The command line: the zero-setup demo, `serve`, exit codes and one-line errors.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Output, Stdio},
};

fn c10k(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_c10k"))
        .args(args)
        .output()
        .expect("the c10k binary runs")
}

/// Starts `c10k serve` with `args`; returns the child and the URL it announced.
fn serve(args: &[&str]) -> (std::process::Child, String) {
    let (child, lines) = serve_lines(args, 1);
    let line = &lines[0];
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the first line announces the URL: {line:?}"))
        .to_owned();
    (child, url)
}

/// Starts `c10k serve` with `args` and reads its first `n` lines.
fn serve_lines(args: &[&str], n: usize) -> (std::process::Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_c10k"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let lines = (0..n)
        .map(|_| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim_end().to_owned()
        })
        .collect();
    (child, lines)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn crawl_without_url_crawls_the_embedded_site_and_checks_it() {
    let output = c10k(&["crawl", "--site-pages", "100", "--concurrency", "10"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("matches the test site's manifest"),
        "{stdout}"
    );
}

#[test]
fn json_report_parses() {
    let output = c10k(&["crawl", "--site-pages", "50", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["strategy"], "threads");
    assert_eq!(report["pages"], 50);
    for key in [
        "fetched",
        "errors",
        "bytes",
        "elapsed_s",
        "pages_per_s",
        "status_counts",
        "error_counts",
    ] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    for key in ["p50", "p90", "p99", "max"] {
        assert!(
            report["latency_ms"].get(key).is_some(),
            "missing latency {key}"
        );
    }
}

/// A usage error is one line on stderr and exit code 2.
fn assert_usage_error(args: &[&str], needle: &str) {
    let output = c10k(args);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{args:?}: {}",
        stderr(&output)
    );
    let text = stderr(&output);
    assert!(text.to_lowercase().contains(needle), "{args:?}: {text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn bad_arguments_exit_2_with_a_reason() {
    assert_usage_error(&["crawl", "not a url"], "invalid url");
    assert_usage_error(&["crawl", "--ca-file", "/nonexistent/ca.pem"], "ca-file");
    assert_usage_error(&["crawl", "--ca-file", "Cargo.toml"], "ca-file");
    assert_usage_error(&["crawl", "--connections", "sometimes"], "connections");
    assert_usage_error(&["crawl", "ftp://127.0.0.1/"], "unsupported scheme");
    assert_usage_error(&["crawl", "--concurrency", "0"], "concurrency");
    assert_usage_error(&["crawl", "--concurrency", "-5"], "concurrency");
    assert_usage_error(&["crawl", "--timeout-ms", "0"], "timeout");
    assert_usage_error(&["crawl", "--exclude", "("], "exclude");
    assert_usage_error(
        &["crawl", "--urls-out", "/nonexistent-dir/x.txt"],
        "urls-out",
    );
    assert_usage_error(&["crawl", "--strategy", "fibers"], "strategy");
    assert_usage_error(&["crawl", "http://"], "invalid url");
    assert_usage_error(
        &["crawl", "mailto:someone@example.com"],
        "unsupported scheme",
    );
    assert_usage_error(&["crawl", "--max-tries", "0"], "max-tries");
    assert_usage_error(&["crawl", "--max-pages", "-1"], "max-pages");
    assert_usage_error(&["serve", "--pages", "0"], "pages");
    assert_usage_error(&["crawl", "--cpus", "3-1"], "cpu");
    assert_usage_error(&["serve", "--cpus", "x"], "cpu");
    assert_usage_error(&["plot", "Cargo.toml"], "not a sweep");
    assert_usage_error(&["compare", "--axes", "sites,tls"], "axes");
    assert_usage_error(&["crawl", "--loops", "0"], "loops");
    assert_usage_error(&["crawl", "--loops", "many"], "loops");
    assert_usage_error(&["crawl", "--strategy", "threads", "--loops", "2"], "loops");
    assert_usage_error(&["crawl", "--strategy", "async", "--loops", "2"], "loops");
    assert_usage_error(&["crawl", "--threads", "auto2"], "threads");
    assert_usage_error(&["crawl", "--runtime", "fibers"], "runtime");
    assert_usage_error(&["crawl", "--backoff-ms", "-1"], "negative");
    assert_usage_error(&["crawl", "--per-host", "0"], "per-host");
    assert_usage_error(&["crawl", "--delay-ms", "-5"], "delay-ms");
    assert_usage_error(&["crawl", "--max-wait-ms", "soon"], "max-wait-ms");
    assert_usage_error(&["crawl", "--resolve", "example.test:80"], "host:port:addr");
    assert_usage_error(
        &["crawl", "--resolve", "example.test:80:nowhere"],
        "ip address",
    );
    assert_usage_error(&["crawl", "--strict", "--lenient"], "cannot be used with");
    assert_usage_error(&["crawl", "--report", "--json"], "cannot be used with");
    assert_usage_error(&["crawl", "--jsonl", "/nonexistent-dir/x.jsonl"], "jsonl");
    assert_usage_error(
        &[
            "crawl",
            "http://127.0.0.1:1/",
            "http://no-such-host.invalid/",
        ],
        "cannot resolve",
    );
    assert_usage_error(&["serve", "--www-link"], "--name");
    assert_usage_error(&["crawl", "--runtime", "per-core"], "runtime is for async");
    assert_usage_error(
        &[
            "crawl",
            "--strategy",
            "async",
            "--runtime",
            "current-thread",
            "--threads",
            "2",
        ],
        "current-thread",
    );
}

/// Every way to use more than one core crawls the embedded site as the default does.
#[test]
fn loops_and_runtimes_per_core_crawl_the_whole_site() {
    for args in [
        &["--strategy", "callbacks", "--loops", "auto"][..],
        &["--strategy", "generators", "--loops", "2"],
        &["--strategy", "async", "--runtime", "per-core"],
        &[
            "--strategy",
            "async",
            "--runtime",
            "stealing",
            "--threads",
            "auto",
        ],
        &["--strategy", "async", "--runtime", "current-thread"],
    ] {
        let output = c10k(&[&["crawl", "--site-pages", "100"], args].concat());
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("matches the test site's manifest"),
            "{args:?}: {stdout}"
        );
    }
}

#[test]
fn a_crawl_pinned_to_one_cpu_runs() {
    let allowed = c10k_harness::affinity::allowed_cpus().expect("the affinity mask");
    let cpu = allowed[0].to_string();
    let output = c10k(&["crawl", "--site-pages", "20", "--cpus", &cpu]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// `auto` counts the cores the crawl may run on once `--cpus` has pinned it: on one CPU,
/// one loop (the trace names each line's thread, `loop-N` for a loop of several).
#[test]
fn loops_auto_counts_the_cpus_it_is_pinned_to() {
    let allowed = c10k_harness::affinity::allowed_cpus().expect("the affinity mask");
    let cpu = allowed[0].to_string();
    let output = c10k(&[
        "crawl",
        "--site-pages",
        "20",
        "--strategy",
        "callbacks",
        "--loops",
        "auto",
        "--cpus",
        &cpu,
        "--trace",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let trace = stderr(&output);
    assert!(trace.contains(" main "), "{trace}");
    assert!(!trace.contains("loop-1"), "{trace}");
    // The control: unpinned, on a machine of several cores, `auto` is several loops.
    if allowed.len() > 1 {
        let args = ["crawl", "--site-pages", "20", "--strategy", "callbacks"];
        let output = c10k(&[&args[..], &["--loops", "auto", "--trace"]].concat());
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stderr(&output).contains("loop-1"), "{}", stderr(&output));
    }
}

#[test]
fn plot_redraws_a_sweep_and_a_chart_that_fails_is_one_line_and_exit_1() {
    let json = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/harness/tests/fixtures/sweep.json"
    );
    let dir = std::env::temp_dir().join(format!("c10k-cli-plot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let output = c10k(&["plot", json, "--out", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.join("work-loop_lag_p99.png").is_file());
    // Each chart is written as SVG and as PNG.
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|entry| {
            let path = entry.as_ref().unwrap().path();
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("svg" | "png")
            )
        })
        .count();

    // A folder where one chart's PNG should go: that chart fails, the others are redrawn.
    std::fs::remove_file(dir.join("cpu-peak_rss.png")).unwrap();
    std::fs::create_dir(dir.join("cpu-peak_rss.png")).unwrap();
    let output = c10k(&["plot", json, "--out", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("plot failed: "))
        .collect();
    assert_eq!(failed.len(), 1, "{text}");
    assert!(failed[0].contains("cpu-peak_rss.png"), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains(&format!("1 of {files} plot files")),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn publish_rewrites_the_readme_section_from_a_run_and_refuses_what_is_not_one() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/harness/tests/fixtures/sweep.json"
    );
    let root = std::env::temp_dir().join(format!("c10k-cli-publish-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let run = root.join("results/2026-11-27T19-18-39Z-full");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::copy(fixture, run.join("sweep.json")).unwrap();
    let readme = "# r\n\n<!-- results:begin -->\n<!-- results:end -->\n";
    std::fs::write(root.join("README.md"), readme).unwrap();
    let root_arg = root.to_str().unwrap();

    // Not a sweep, and a checkout without markers: exit 2, one line, nothing written.
    let output = c10k(&["publish", root_arg, "--root", root_arg]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not a sweep"),
        "{}",
        stderr(&output)
    );
    let elsewhere = std::env::temp_dir().join(format!("c10k-cli-publish-x-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).unwrap();
    let output = c10k(&[
        "publish",
        run.to_str().unwrap(),
        "--root",
        elsewhere.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(root.join("README.md")).unwrap(),
        readme
    );

    // The run's folder (or its sweep.json): the README's section and docs/results.md.
    let output = c10k(&[
        "publish",
        run.join("sweep.json").to_str().unwrap(),
        "--root",
        root_arg,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let published = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        published.contains("The reference run is [`results/2026-11-27T19-18-39Z-full`]"),
        "{published}"
    );
    assert!(
        published.contains("### What the numbers say"),
        "{published}"
    );
    assert!(root.join("docs/results.md").is_file());
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::remove_dir_all(&elsewhere).unwrap();
}

#[test]
fn concurrency_beyond_the_descriptor_limit_is_clamped_with_a_warning() {
    let output = c10k(&["crawl", "--site-pages", "20", "--concurrency", "10000000"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.starts_with("warning: concurrency 10000000 needs more descriptors"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// An open-file limit that leaves no descriptor for connections is refused at once (the
/// concurrency is not clamped to 0, which would wait forever), with one line and exit 2.
#[test]
fn no_descriptor_for_connections_exits_2_with_one_line() {
    // `ulimit -n` lowers the hard limit too, so the crawler cannot raise it back. Half of 64
    // goes to the embedded server, and the CLI keeps 64 for itself: none is left.
    // `timeout`: a crawl that waits forever fails the test instead of hanging it.
    for strategy in ["threads", "callbacks", "generators", "async"] {
        let output = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n 64 && exec timeout 60 "$0" crawl --site-pages 5 --strategy "$1""#)
            .arg(env!("CARGO_BIN_EXE_c10k"))
            .arg(strategy)
            .output()
            .expect("sh runs");
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{strategy}: {text}");
        assert_eq!(text.lines().count(), 1, "{strategy}: {text}");
        assert!(text.contains("open-file limit (64)"), "{strategy}: {text}");
    }
}

#[test]
fn unreachable_root_exits_1_with_one_line() {
    // Bound but not listening: it refuses, and no other test's server can take the port.
    let refusing =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    refusing
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = refusing.local_addr().unwrap().as_socket().unwrap();
    let url = format!("http://{addr}/");
    let output = c10k(&["crawl", &url, "--max-tries", "1"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    // Its robots.txt could not be fetched either, so all is disallowed (RFC 9309): the line
    // says so, and what the connection met.
    assert!(
        text.contains("could not be fetched (error:robots: ") && text.contains("connect failed"),
        "{text}"
    );
}

/// An https crawl of `serve --tls`: trusting the server's CA (`--ca-file`) and keeping
/// connections, the summary counts the handshakes and the kept connections; without the CA,
/// one line that names the reason and the flag, and exit 1.
#[test]
fn https_crawl_trusts_the_ca_file_and_counts_its_connections() {
    let ca = std::env::temp_dir().join(format!("c10k-cli-https-ca-{}.pem", std::process::id()));
    let (mut child, lines) = serve_lines(
        &["--tls", "--pages", "30", "--ca-out", ca.to_str().unwrap()],
        1,
    );
    let url = lines[0].strip_prefix("listening on ").unwrap().to_owned();
    let trusted = c10k(&[
        "crawl",
        &url,
        "--ca-file",
        ca.to_str().unwrap(),
        "--connections",
        "keep-alive",
        "--concurrency",
        "4",
    ]);
    let untrusted = c10k(&["crawl", &url, "--max-tries", "1"]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(trusted.status.success(), "{}", stderr(&trusted));
    let summary = String::from_utf8_lossy(&trusted.stdout);
    let count = |prefix: &str, after: &str| -> u64 {
        let line = summary
            .lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("a line {prefix:?}: {summary}"));
        line[line.find(after).unwrap() + after.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let full = count("tls:", "tls: ");
    let reused = count("connections kept:", "kept: ");
    assert!(
        (1..=4).contains(&full),
        "at most one per connection: {summary}"
    );
    assert!(reused > 0, "{summary}");

    assert_eq!(untrusted.status.code(), Some(1), "{}", stderr(&untrusted));
    let text = stderr(&untrusted);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("unknown issuer") && text.contains("--ca-file"),
        "{text}"
    );
}

/// The site goes away in the middle of a crawl that tries each URL once: the URLs it could
/// not reach end as `error:connect`, and the exit status (3) and one line say so.
#[test]
fn a_site_that_goes_away_exits_3_with_one_line() {
    use std::sync::atomic::Ordering;
    let server = c10k_testsite::Server::start(c10k_testsite::ServerOptions {
        spec: c10k_testsite::SiteSpec {
            pages: 2000,
            delay: std::time::Duration::from_millis(100),
            ..c10k_testsite::SiteSpec::default()
        },
        ..c10k_testsite::ServerOptions::default()
    })
    .unwrap();
    let crawl = Command::new(env!("CARGO_BIN_EXE_c10k"))
        .args([
            "crawl",
            &server.url(),
            "--max-tries",
            "1",
            "--concurrency",
            "4",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while server.stats().served.load(Ordering::Relaxed) < 20 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    drop(server);
    let output = crawl.wait_with_output().unwrap();
    let text = stderr(&output);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{text}{summary}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("could not be reached (error:connect, after 1 tries)"),
        "{text}"
    );
}

#[test]
fn serve_announces_its_address_and_writes_the_manifest() {
    let manifest =
        std::env::temp_dir().join(format!("c10k-cli-manifest-{}.json", std::process::id()));
    let (mut child, url) = serve(&["--pages", "20", "--manifest", manifest.to_str().unwrap()]);
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
        "{url}"
    );

    let crawled = std::env::temp_dir().join(format!("c10k-cli-urls-{}.txt", std::process::id()));
    let output = c10k(&["crawl", &url, "--urls-out", crawled.to_str().unwrap()]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let expected: String = manifest["urls"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(url, outcome)| format!("{}\t{url}\n", outcome.as_str().unwrap()))
        .collect();
    assert_eq!(std::fs::read_to_string(&crawled).unwrap(), expected);
}

/// `host:port` of a `scheme://host:port/` URL.
fn authority(url: &str) -> &str {
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/')
}

/// `GET path` over `stream` as `c10k crawl` asks today (HTTP/1.0, `Connection: close`), and
/// the whole answer.
fn get_close_mode(mut stream: impl std::io::Read + std::io::Write, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.0\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// `serve --tls --ca-out`: the CA is written before the address is announced, and a TLS
/// client that trusts it (and nothing else) fetches the root at the https URL; the manifest
/// is the site at https URLs.
#[test]
fn serve_tls_writes_its_ca_and_serves_https() {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

    let dir = std::env::temp_dir();
    let ca = dir.join(format!("c10k-cli-ca-{}.pem", std::process::id()));
    let manifest = dir.join(format!("c10k-cli-tls-manifest-{}.json", std::process::id()));
    let (mut child, lines) = serve_lines(
        &[
            "--tls",
            "--pages",
            "10",
            "--ca-out",
            ca.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
        ],
        1,
    );
    let url = lines[0].strip_prefix("listening on ").unwrap().to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&ca).expect("--ca-out writes a PEM certificate"))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(c10k_testsite::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = std::net::TcpStream::connect(authority(&url)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let answer = get_close_mode(rustls::StreamOwned::new(conn, tcp), "/");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(answer.starts_with("HTTP/1.0 200 OK\r\n"), "{answer}");
    assert!(answer.contains("<title>Page 0</title>"), "{answer}");
    assert_eq!(manifest["root"], url);
    assert!(
        manifest["urls"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|u| !u.contains("example.invalid") && !u.starts_with("mailto:"))
            .all(|u| u.starts_with(&url)),
        "{manifest}"
    );
}

/// `serve --max-requests 2 --announce-close --idle-ms 300`: two requests on one connection,
/// the second answered with `Connection: close` and then the close; a connection that asks
/// once and then waits is closed after the idle time; HTTP/1.0 closes after one.
#[test]
fn serve_keep_alive_flags() {
    use std::io::{Read, Write};

    let (mut child, lines) = serve_lines(
        &[
            "--pages",
            "10",
            "--max-requests",
            "2",
            "--announce-close",
            "--idle-ms",
            "300",
        ],
        1,
    );
    let url = lines[0].strip_prefix("listening on ").unwrap().to_owned();
    let connect = || {
        let tcp = std::net::TcpStream::connect(authority(&url)).unwrap();
        // Far beyond the idle time: a read that waits this long means no close came.
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        tcp
    };
    let read_all = |mut tcp: std::net::TcpStream| {
        let mut answer = Vec::new();
        let read = tcp.read_to_end(&mut answer);
        (
            read.map(|_| ()),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    };

    let mut two = connect();
    two.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /p/1 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (two_read, two) = read_all(two);

    let mut idle = connect();
    idle.write_all(b"GET /p/2 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (idle_read, idle) = read_all(idle);

    let close = get_close_mode(connect(), "/p/3");
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(two_read.is_ok(), "{two_read:?}: {two}");
    assert_eq!(two.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{two}");
    assert_eq!(two.matches("Connection: close\r\n").count(), 1, "{two}");
    assert!(
        two.rsplit_once("HTTP/1.1 200 OK\r\n")
            .unwrap()
            .1
            .contains("Connection: close\r\n"),
        "{two}"
    );
    assert!(idle_read.is_ok(), "closed when idle: {idle_read:?}");
    assert_eq!(idle.matches("HTTP/1.1 200 OK\r\n").count(), 1, "{idle}");
    assert!(!idle.contains("Connection: close"), "{idle}");
    assert!(close.starts_with("HTTP/1.0 200 OK\r\n"), "{close}");
    assert!(close.contains("Connection: close\r\n"), "{close}");
}

/// `serve --tls --plain-twin ADDR --tls-faults`: the site, its plain twin and one listener per
/// TLS fault, each announced with its expected outcome.
#[test]
fn serve_announces_the_plain_twin_and_the_tls_faults() {
    use c10k_testsite::TlsMode;

    let (mut child, lines) = serve_lines(
        &[
            "--tls",
            "--faults",
            "--pages",
            "10",
            "--plain-twin",
            "127.0.0.1:0",
            "--tls-faults",
        ],
        2 + TlsMode::FAULTS.len(),
    );
    let twin = lines[1].strip_prefix("plain twin on ").map(str::to_owned);
    let plain_root = twin
        .as_deref()
        .map(|twin| get_close_mode(std::net::TcpStream::connect(authority(twin)).unwrap(), "/"));
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(lines[0].starts_with("listening on https://"), "{lines:?}");
    let twin = twin.unwrap_or_else(|| panic!("{lines:?}"));
    assert!(twin.starts_with("http://127.0.0.1:"), "{twin}");
    assert!(
        plain_root.unwrap().starts_with("HTTP/1.0 200 OK\r\n"),
        "the twin serves the site over plain http"
    );
    for (line, mode) in lines[2..].iter().zip(TlsMode::FAULTS) {
        let prefix = format!("tls fault {} on https://127.0.0.1:", mode.name());
        assert!(line.starts_with(&prefix), "{line}");
        let suffix = format!("/: {} ({})", mode.outcome(), mode.reason());
        assert!(line.ends_with(&suffix), "{line}");
    }
}

#[test]
fn serve_flags_that_need_another_exit_2() {
    assert_usage_error(&["serve", "--ca-out", "ca.pem"], "--tls");
    assert_usage_error(&["serve", "--tls-faults"], "--tls");
    assert_usage_error(&["serve", "--plain-twin", "127.0.0.1:0"], "--tls");
    assert_usage_error(&["serve", "--announce-close"], "--max-requests");
    assert_usage_error(&["serve", "--max-requests", "0"], "max-requests");
    assert_usage_error(&["serve", "--idle-ms", "0"], "idle-ms");
    assert_usage_error(&["serve", "--chaos", "1.5"], "between 0 and 1");
    assert_usage_error(&["serve", "--chaos", "often"], "not a number");
    assert_usage_error(&["serve", "--chaos-faults", "reset"], "--chaos");
    assert_usage_error(&["serve", "--max-tries", "3"], "--chaos");
    let unknown = ["serve", "--chaos", "0.1", "--chaos-faults", "reset,bogus"];
    assert_usage_error(&unknown, "bogus");
}

/// `serve --chaos` writes, with `--expected-urls`, what a crawl's `--urls-out` then holds,
/// line for line; a second crawl of the same server meets later tries (the server counts
/// them), so each crawl takes a server of its own.
#[test]
fn serve_chaos_expects_what_a_crawl_gets() {
    let dir = std::env::temp_dir().join(format!("c10k-cli-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let expected = dir.join("expected.txt");
    let got = dir.join("got.txt");
    let (mut child, url) = serve(&[
        "--pages",
        "200",
        "--chaos",
        "0.3",
        "--seed",
        "7",
        "--chaos-faults",
        "reset,reset-in-body,close-in-headers,503,429,wrong-length",
        "--max-tries",
        "3",
        "--expected-urls",
        expected.to_str().unwrap(),
    ]);
    let output = c10k(&[
        "crawl",
        &url,
        "--max-tries",
        "3",
        "--max-wait-ms",
        "50",
        "--urls-out",
        got.to_str().unwrap(),
    ]);
    child.kill().unwrap();
    let _ = child.wait();
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = std::fs::read_to_string(&expected).unwrap();
    assert_eq!(std::fs::read_to_string(&got).unwrap(), expected);
    let faulted = |line: &str| {
        ["error:reset", "error:truncated", "429", "503"]
            .iter()
            .any(|outcome| line.starts_with(&format!("{outcome}\t")))
    };
    assert!(expected.lines().any(faulted), "{expected}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn count_reports_system_calls_and_instructions_per_response_or_says_why_not() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_c10k"))
        .args(["serve", "--pages", "20"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let output = c10k(&[
        "count",
        &url,
        "--strategy",
        "callbacks",
        "--concurrency",
        "4",
    ]);
    let bad = c10k(&["count", &url, "--strategy", "fibers"]);
    server.kill().unwrap();
    server.wait().unwrap();

    let counters = c10k_harness::counts::Counters::probe();
    if counters.syscalls.is_err() && counters.hardware.is_err() && counters.callgrind.is_err() {
        eprintln!("no perf and no valgrind here: only the refusal is checked");
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains("nothing to count with"));
        return;
    }
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let responses: usize = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_suffix(" responses"))
        .and_then(|n| n.parse().ok())
        .expect("a first line `N responses`");
    assert!(responses >= 20, "{stdout}");
    if counters.syscalls.is_ok() {
        assert!(stdout.contains("system calls: "), "{stdout}");
        assert!(!stdout.contains("system calls: not counted"), "{stdout}");
    }
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("bad crawl arguments"),
        "{}",
        stderr(&bad)
    );
}

/// Where io_uring is refused, `--strategy uring` exits 2 with the reason in one line. The
/// refusal is real: strace makes the kernel's `io_uring_setup` fail with EPERM for the c10k
/// process, as `kernel.io_uring_disabled` or a seccomp filter would. Skips (saying why) where
/// strace is missing or may not trace.
#[test]
fn uring_where_io_uring_is_refused_exits_2_with_the_reason() {
    use std::io::Write as _;
    let strace = |args: &[&str]| {
        Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null"])
            .args(args)
            .output()
    };
    if !strace(&["true"]).is_ok_and(|output| output.status.success()) {
        let _ = writeln!(
            std::io::stderr(),
            "skipping: strace is missing or may not trace here"
        );
        return;
    }
    let output = strace(&[
        "-e",
        "trace=io_uring_setup",
        "-e",
        "inject=io_uring_setup:error=EPERM",
        env!("CARGO_BIN_EXE_c10k"),
        "crawl",
        "--strategy",
        "uring",
        "--site-pages",
        "20",
    ])
    .expect("strace runs");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("error: --strategy uring: io_uring is unavailable: io_uring_setup failed"),
        "{text}"
    );
}

#[test]
fn trace_writes_each_fetchs_events_to_stderr_and_leaves_stdout_alone() {
    let output = c10k(&[
        "crawl",
        "--site-pages",
        "5",
        "--concurrency",
        "3",
        "--strategy",
        "callbacks",
        "--trace",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("matches the test site's manifest"),
        "{stdout}"
    );
    let trace = stderr(&output);
    for event in [
        "#1 ",
        "start http://127.0.0.1:",
        "callback connected",
        "request written",
        "callback read_response",
        "read ",
        "completed 200",
    ] {
        assert!(trace.contains(event), "{event:?} in the trace:\n{trace}");
    }
    assert!(
        !stdout.contains(" ms  #"),
        "the trace stays off stdout:\n{stdout}"
    );
}

/// `c10k serve --sites 2` serves two sites; one crawl of both roots prints the 500 Lines
/// report (one sorted line per URL, the outcome counts, the `Finished` line) and streams a
/// JSON line per URL to `--jsonl`.
#[test]
fn two_sites_crawled_at_once_report_like_500_lines_and_stream_jsonl() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_c10k"))
        .args(["serve", "--sites", "2", "--pages", "20", "--busy"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut urls = Vec::new();
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        urls.push(line.strip_prefix("listening on ").unwrap().to_owned());
    }
    assert_ne!(urls[0], urls[1]);
    let jsonl = std::env::temp_dir().join(format!("c10k-cli-{}.jsonl", std::process::id()));
    let output = c10k(&[
        "crawl",
        &urls[0],
        &urls[1],
        "--report",
        "--backoff-ms",
        "10",
        "--jsonl",
        jsonl.to_str().unwrap(),
    ]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    let finished = lines
        .iter()
        .position(|line| line.starts_with("Finished "))
        .unwrap_or_else(|| panic!("a Finished line: {stdout}"));
    let per_url = &lines[..finished];
    let mut sorted = per_url.to_vec();
    sorted.sort();
    assert_eq!(per_url, sorted, "sorted by URL");
    for url in &urls {
        assert!(
            per_url
                .iter()
                .any(|l| l.starts_with(&format!("{url} 200 html "))),
            "{url}"
        );
        let busy = format!("{url}busy/3 429 size 5 (tries 4)");
        assert!(per_url.contains(&busy.as_str()), "{busy}: {stdout}");
    }
    let count = per_url.len();
    assert!(
        lines[finished].starts_with(&format!("Finished {count} urls in "))
            && lines[finished].contains("(max_tasks=100)")
            && lines[finished].ends_with(" urls/sec/task)"),
        "{}",
        lines[finished]
    );
    assert!(
        lines[finished + 1..].iter().any(|l| l.trim() == "40 html"),
        "{stdout}"
    );
    let streamed = std::fs::read_to_string(&jsonl).unwrap();
    std::fs::remove_file(&jsonl).unwrap();
    assert_eq!(streamed.lines().count(), count);
    for line in streamed.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            record["url"].is_string() && record["tries"].is_number(),
            "{line}"
        );
    }
}

/// `--lenient` with `--resolve`: a site that calls itself `site.test` links to a file on
/// `www.site.test`; `--strict` skips it, `--lenient` fetches it at the address given.
#[test]
fn lenient_with_resolve_fetches_the_www_subdomain() {
    let (mut child, url) = serve(&["--pages", "10", "--name", "site.test", "--www-link"]);
    let port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let www = format!("http://www.site.test:{port}/data/0.txt");
    let resolve = [
        format!("site.test:{port}:127.0.0.1"),
        format!("www.site.test:{port}:127.0.0.1"),
    ];
    let run = |mode: &str| {
        let out = std::env::temp_dir().join(format!(
            "c10k-cli-lenient-{}-{mode}.txt",
            std::process::id()
        ));
        let output = c10k(&[
            "crawl",
            &url,
            mode,
            "--resolve",
            &resolve[0],
            "--resolve",
            &resolve[1],
            "--urls-out",
            out.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{mode}: {}", stderr(&output));
        let lines = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        lines
    };
    let strict = run("--strict");
    let lenient = run("--lenient");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        strict.contains(&format!("error:skipped\t{www}\n")),
        "{strict}"
    );
    assert!(lenient.contains(&format!("200\t{www}\n")), "{lenient}");
    assert_eq!(strict.lines().count(), lenient.lines().count());
}
