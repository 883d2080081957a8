//! What a crawl leaves behind: one record per URL, and the report that sums them up.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{config::Config, error::ErrorKind};

/// How a URL ended: with an HTTP status, or with an error of some kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// A response arrived with this status code.
    Http(u16),
    /// No response: the kind of failure (or why the URL was skipped).
    Error(ErrorKind),
}

impl Default for Status {
    fn default() -> Self {
        Status::Error(ErrorKind::Skipped)
    }
}

impl std::fmt::Display for Status {
    /// `200`, or `error:timeout`: the first column of `--urls-out`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Http(code) => write!(f, "{code}"),
            Status::Error(kind) => write!(f, "error:{kind}"),
        }
    }
}

impl std::str::FromStr for Status {
    type Err = String;

    /// Reads back what [`Status`]'s `Display` wrote.
    fn from_str(text: &str) -> Result<Status, String> {
        let kind = |name| {
            ErrorKind::ALL
                .into_iter()
                .find(|kind| kind.as_str() == name)
        };
        match text.strip_prefix("error:") {
            Some(name) => kind(name).map(Status::Error),
            None => text.parse().ok().map(Status::Http),
        }
        .ok_or_else(|| format!("not a status: {text:?}"))
    }
}

/// What happened to one URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The normalised URL.
    pub url: String,
    /// Its status or error.
    pub status: Status,
    /// Bytes of decoded body.
    pub bytes: u64,
    /// Whether this was a 2xx HTML page whose links were extracted.
    pub html: bool,
    /// Digest of the page's `--work-us` work (0 without work).
    pub work_digest: u64,
    /// Links found on the page (resolvable hrefs, duplicates included).
    pub links_found: u32,
    /// Of those, how many were seen for the first time here.
    pub new_links: u32,
    /// Where a redirect pointed, resolved.
    pub redirect: Option<String>,
    /// How many tries it took; 0 for URLs never fetched (skipped).
    pub tries: u32,
    /// Time of the last try, from hand-out to completion; `None` if never fetched.
    pub latency: Option<Duration>,
}

impl Record {
    /// The line `--urls-out` writes for this URL: `STATUS<TAB>URL`.
    pub fn line(&self) -> String {
        format!("{}\t{}", self.status, self.url)
    }

    /// The record as one line of JSON (`--jsonl`): `url`, `status` (a number, or null for an
    /// error), `error` (its kind, or null), `bytes`, `html`, `links`, `new_links`, `redirect`,
    /// `tries` and `latency_ms` (null if never fetched).
    pub fn json(&self) -> String {
        let (status, error) = match self.status {
            Status::Http(code) => (Some(code), None),
            Status::Error(kind) => (None, Some(kind.as_str())),
        };
        serde_json::json!({
            "url": self.url,
            "status": status,
            "error": error,
            "bytes": self.bytes,
            "html": self.html,
            "links": self.links_found,
            "new_links": self.new_links,
            "redirect": self.redirect,
            "tries": self.tries,
            "latency_ms": self.latency.map(|latency| latency.as_secs_f64() * 1e3),
        })
        .to_string()
    }

    /// The record as the 500 Lines crawler's report prints it: the URL, then what it ended
    /// with.
    fn report_line(&self) -> String {
        let tries = if self.tries > 1 {
            format!(" (tries {})", self.tries)
        } else {
            String::new()
        };
        match (&self.status, &self.redirect) {
            (Status::Error(kind), _) => format!("{} error {kind}{tries}", self.url),
            (Status::Http(code), Some(to)) => format!("{} {code} redirect {to}{tries}", self.url),
            (Status::Http(code), None) if self.html => format!(
                "{} {code} html size {} new {} urls {}{tries}",
                self.url, self.bytes, self.new_links, self.links_found
            ),
            (Status::Http(code), None) => {
                format!("{} {code} size {}{tries}", self.url, self.bytes)
            }
        }
    }
}

/// All records as `--urls-out` writes them: one line per URL, sorted by URL.
pub fn urls_out(records: &[Record]) -> String {
    let mut text = Vec::new();
    // Writing to a Vec cannot fail, and every line is UTF-8.
    let _ = write_urls_out(records, &mut text);
    String::from_utf8(text).unwrap_or_default()
}

/// [`urls_out`], written line by line to `out` (a crawl of millions of URLs need not hold the
/// text whole).
pub fn write_urls_out(records: &[Record], out: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by(|a, b| a.url.cmp(&b.url));
    for record in sorted {
        writeln!(out, "{}", record.line())?;
    }
    Ok(())
}

/// Latency percentiles over the fetched URLs, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Latency {
    /// Percentiles (nearest rank) of `samples`; all zero when there are none.
    pub fn of(samples: Vec<Duration>) -> Latency {
        Latency::of_nanos(samples.iter().map(|d| nanos(*d)).collect())
    }

    /// [`Latency::of`] samples in nanoseconds (8 B each rather than a `Duration`'s 16: a
    /// crawl of ten million URLs sums up its latencies at the end).
    fn of_nanos(mut samples: Vec<u64>) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let index = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index] as f64 / 1e6
        };
        Latency {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: rank(1.0),
        }
    }
}

/// `duration` in nanoseconds (at most 584 years).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The summary of a crawl, as `--json` prints it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Which strategy crawled.
    pub strategy: String,
    /// The root URL (the first, with several).
    pub root: String,
    /// Every root, the first first.
    #[serde(default)]
    pub roots: Vec<String>,
    /// The concurrency limit it ran with.
    pub concurrency: usize,
    /// The most fetches that were in flight at once (at most `concurrency`; less when the
    /// frontier was never that wide).
    pub peak_in_flight: usize,
    /// URLs that ended (fetched, failed or skipped).
    pub urls: usize,
    /// URLs that got an HTTP response, whatever its status.
    pub fetched: usize,
    /// Of those, HTML pages with a 2xx status (the ones whose links were followed).
    pub pages: usize,
    /// URLs that failed (skipped and disallowed ones not counted).
    pub errors: usize,
    /// URLs skipped: out of scope, or disallowed by robots.txt (never fetched either way).
    pub skipped: usize,
    /// Tries beyond the first, over all URLs.
    pub retries: u64,
    /// Bytes of decoded bodies.
    pub bytes: u64,
    /// Of `urls`, those that had ended before this run (a crawl resumed with `--state`).
    #[serde(default)]
    pub restored: usize,
    /// Wall time of the crawl, in seconds.
    pub elapsed_s: f64,
    /// Responses per second: `fetched / elapsed_s`, of this run's responses.
    pub pages_per_s: f64,
    /// Count of responses per status code.
    pub status_counts: BTreeMap<String, usize>,
    /// Count of URLs per error kind (skipped included).
    pub error_counts: BTreeMap<String, usize>,
    /// Latency of fetches that got a response or failed.
    pub latency_ms: Latency,
    /// XOR of every page's work digest: the same for every strategy, with or without offload.
    pub work_digest: u64,
    /// How late the event loop woke for a periodic timer (event-driven strategies only).
    pub loop_lag_ms: Option<Latency>,
    /// What the records do not say: each origin's robots.txt that was not plain rules.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Whether connections were kept for the next fetch (`--connections keep-alive`).
    #[serde(default)]
    pub keep_alive: bool,
    /// Whether TLS certificates went unchecked (`--insecure`).
    #[serde(default)]
    pub insecure: bool,
    /// What became of the fetches' connections.
    #[serde(default)]
    pub connections: Connections,
    /// Every record, for `--urls-out`; not part of the JSON.
    #[serde(skip)]
    pub records: Vec<Record>,
}

/// What became of a crawl's connections, from the fetches' [`crate::Fetch::mark`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connections {
    /// Fetches sent on a connection taken from the pool.
    pub reused: u64,
    /// Full TLS handshakes.
    pub handshakes: u64,
    /// TLS handshakes that resumed a session.
    pub resumed: u64,
    /// Reused connections found closed before any response, and opened again.
    pub stale: u64,
    /// Connections that went back to the pool after their response.
    pub kept: u64,
}

impl Connections {
    /// Counts one fetch's marks.
    pub(crate) fn count(&mut self, marks: u8) {
        use crate::trace::Conn;
        let has = |conn: Conn| u64::from(marks & conn.bit() != 0);
        self.handshakes += has(Conn::Handshake { resumed: false });
        self.resumed += has(Conn::Handshake { resumed: true });
        self.reused += has(Conn::Reused);
        self.stale += has(Conn::Stale);
        self.kept += has(Conn::Kept);
    }

    /// Adds another shard's counts.
    pub fn add(&mut self, other: &Connections) {
        self.reused += other.reused;
        self.handshakes += other.handshakes;
        self.resumed += other.resumed;
        self.stale += other.stale;
        self.kept += other.kept;
    }
}

impl Report {
    /// Sums up `records`, and keeps them.
    pub fn new(strategy: &str, config: &Config, records: Vec<Record>, elapsed: Duration) -> Report {
        let mut report = Report::sum(strategy, config, &records, elapsed);
        report.records = records;
        report
    }

    /// Sums up `records` without keeping them (a crawl whose records are on disk reads them
    /// back one at a time).
    pub fn sum<R: std::borrow::Borrow<Record>>(
        strategy: &str,
        config: &Config,
        records: impl IntoIterator<Item = R>,
        elapsed: Duration,
    ) -> Report {
        let mut report = Report {
            strategy: strategy.to_owned(),
            root: config.root.to_string(),
            roots: config.roots().map(ToString::to_string).collect(),
            concurrency: config.concurrency,
            keep_alive: config.keep_alive,
            insecure: config.tls.insecure,
            elapsed_s: elapsed.as_secs_f64(),
            ..Report::default()
        };
        let mut latencies = Vec::new();
        // Counted by value, named once at the end.
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        let mut errors: BTreeMap<ErrorKind, usize> = BTreeMap::new();
        for record in records {
            let record = record.borrow();
            report.urls += 1;
            report.bytes += record.bytes;
            report.work_digest ^= record.work_digest;
            report.retries += u64::from(record.tries.saturating_sub(1));
            latencies.extend(record.latency.map(nanos));
            match record.status {
                Status::Http(code) => {
                    report.fetched += 1;
                    *statuses.entry(code).or_default() += 1;
                    report.pages += usize::from(record.html);
                }
                Status::Error(kind) => {
                    if matches!(kind, ErrorKind::Skipped | ErrorKind::Robots) {
                        report.skipped += 1;
                    } else {
                        report.errors += 1;
                    }
                    *errors.entry(kind).or_default() += 1;
                }
            }
        }
        report.status_counts = statuses
            .into_iter()
            .map(|(code, n)| (code.to_string(), n))
            .collect();
        report.error_counts = errors
            .into_iter()
            .map(|(kind, n)| (kind.to_string(), n))
            .collect();
        let (restored, fetched_before) = config
            .restore
            .as_ref()
            .map_or((0, 0), |restore| restore.ended());
        report.restored = restored;
        report.pages_per_s = if elapsed.is_zero() {
            0.0
        } else {
            report.fetched.saturating_sub(fetched_before) as f64 / report.elapsed_s
        };
        report.latency_ms = Latency::of_nanos(latencies);
        report
    }

    /// The record of the root URL, which decides whether the crawl could start at all.
    pub fn root_record(&self) -> Option<&Record> {
        self.records.iter().find(|r| r.url == self.root)
    }

    /// The record of every root that was crawled, the first first.
    pub fn root_records(&self) -> impl Iterator<Item = &Record> {
        self.roots
            .iter()
            .filter_map(|root| self.records.iter().find(|r| &r.url == root))
    }

    /// The 500 Lines crawler's report (`--report`): one line per URL, sorted; the count of
    /// each outcome; and `Finished N urls in X secs (max_tasks=C) (Y urls/sec/task)`.
    pub fn text(&self) -> String {
        let mut sorted: Vec<&Record> = self.records.iter().collect();
        sorted.sort_by(|a, b| a.url.cmp(&b.url));
        let mut text = String::new();
        for record in sorted {
            let _ = writeln!(text, "{}", record.report_line());
        }
        let per_task = if self.elapsed_s > 0.0 && self.concurrency > 0 {
            self.urls as f64 / self.elapsed_s / self.concurrency as f64
        } else {
            0.0
        };
        let _ = writeln!(
            text,
            "Finished {} urls in {:.3} secs (max_tasks={}) ({:.3} urls/sec/task)",
            self.urls, self.elapsed_s, self.concurrency, per_task
        );
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        for record in &self.records {
            let outcome = match record.status {
                Status::Http(_) if record.html => "html".to_owned(),
                Status::Http(_) if record.redirect.is_some() => "redirect".to_owned(),
                Status::Http(code) => format!("status {code}"),
                Status::Error(kind) => format!("error {kind}"),
            };
            *outcomes.entry(outcome).or_default() += 1;
        }
        for (outcome, count) in outcomes {
            let _ = writeln!(text, "{count:>10} {outcome}");
        }
        if self.retries > 0 {
            let _ = writeln!(text, "{:>10} retries", self.retries);
        }
        for note in &self.notes {
            let _ = writeln!(text, "note: {note}");
        }
        text
    }

    /// A few lines for a human.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} crawled {} at concurrency {} ({} at most in flight): {} URLs, {} responses ({} pages), {} errors, {} skipped, {} retries\n\
             {:.3} s, {:.0} responses/s, {} body bytes; latency ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}\n",
            self.strategy,
            self.root,
            self.concurrency,
            self.peak_in_flight,
            self.urls,
            self.fetched,
            self.pages,
            self.errors,
            self.skipped,
            self.retries,
            self.elapsed_s,
            self.pages_per_s,
            self.bytes,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.max,
        );
        let counts = |map: &BTreeMap<String, usize>| {
            map.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(lag) = &self.loop_lag_ms {
            let _ = writeln!(
                text,
                "loop lag ms p50 {:.2} p99 {:.2} max {:.2}",
                lag.p50, lag.p99, lag.max
            );
        }
        if self.work_digest != 0 {
            let _ = writeln!(text, "work digest {:016x}", self.work_digest);
        }
        let conns = &self.connections;
        if self.keep_alive {
            let _ = writeln!(
                text,
                "connections kept: {} fetches on a kept one, {} kept after their response, {} \
                 found closed and sent again",
                conns.reused, conns.kept, conns.stale
            );
        }
        if conns.handshakes + conns.resumed > 0 {
            let _ = writeln!(
                text,
                "tls: {} full handshakes, {} resumed{}",
                conns.handshakes,
                conns.resumed,
                if self.insecure {
                    "; certificates not checked (--insecure)"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(text, "status: {}", counts(&self.status_counts));
        if !self.error_counts.is_empty() {
            let _ = writeln!(text, "errors: {}", counts(&self.error_counts));
        }
        for note in &self.notes {
            let _ = writeln!(text, "note: {note}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let latency = Latency::of(samples);
        assert_eq!(
            (latency.p50, latency.p90, latency.p99, latency.max),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(Latency::of(Vec::new()), Latency::default());
    }

    #[test]
    fn urls_out_is_sorted_by_url() {
        let record = |url: &str, status| Record {
            url: url.into(),
            status,
            ..Record::default()
        };
        let text = urls_out(&[
            record("http://h/b", Status::Http(404)),
            record("http://h/a", Status::Error(ErrorKind::Timeout)),
        ]);
        assert_eq!(text, "error:timeout\thttp://h/a\n404\thttp://h/b\n");
    }

    #[test]
    fn the_text_report_is_sorted_and_counted() {
        let config = Config::new(
            crate::parse_root("http://h/").unwrap(),
            "127.0.0.1:1".parse().unwrap(),
        );
        let records = vec![
            Record {
                url: "http://h/b".into(),
                status: Status::Http(302),
                redirect: Some("http://h/".into()),
                tries: 1,
                ..Record::default()
            },
            Record {
                url: "http://h/".into(),
                status: Status::Http(200),
                html: true,
                bytes: 10,
                links_found: 3,
                new_links: 2,
                tries: 1,
                ..Record::default()
            },
            Record {
                url: "http://h/c".into(),
                status: Status::Error(ErrorKind::Connect),
                tries: 4,
                ..Record::default()
            },
        ];
        let mut report = Report::new("threads", &config, records, Duration::from_secs(2));
        report.concurrency = 3;
        assert_eq!(
            report.text(),
            "http://h/ 200 html size 10 new 2 urls 3\n\
             http://h/b 302 redirect http://h/\n\
             http://h/c error connect (tries 4)\n\
             Finished 3 urls in 2.000 secs (max_tasks=3) (0.500 urls/sec/task)\n         \
             1 error connect\n         1 html\n         1 redirect\n         3 retries\n"
        );
        assert_eq!(
            report.records[2].json(),
            r#"{"url":"http://h/c","status":null,"error":"connect","bytes":0,"html":false,"links":0,"new_links":0,"redirect":null,"tries":4,"latency_ms":null}"#
        );
    }
}
