//! The sans-IO crawler core that every c10k strategy drives.
//!
//! This crate knows URLs, HTTP bytes and HTML, and nothing about sockets, threads, event loops
//! or clocks it was not handed. Each strategy crate (threads, callbacks, generators, async,
//! uring) owns only its concurrency model and drives this core in the same order, so all five
//! find the same URLs with the same outcomes:
//!
//! | piece | file | what it does |
//! |---|---|---|
//! | [`Config`] | `config.rs` | roots and their addresses, scope (`--strict`/`--lenient`, `--exclude`), limits, timeouts, retries, politeness |
//! | [`Crawler`] | `crawler.rs` | the frontier: seen set, queue, in-flight count, retries, records |
//! | known URLs | `known.rs` | the seen set and the records, packed: each URL's text once, 48 B beside it, a table of `u32` indices |
//! | URL identity | `urls.rs` | resolving a link to the one normal form the seen set compares |
//! | [`Fetch::request`] | `request.rs` | the request bytes: HTTP/1.0 and close, or HTTP/1.1 and keep-alive |
//! | [`Tls`], [`TlsOptions`] | `tls.rs` | `https:`: rustls configured once per shard, and the bytes-in, bytes-out TLS state the event-driven models drive |
//! | [`Pool`] | `pool.rs` | keep-alive: idle connections per origin, in each model's own socket type |
//! | [`ResponseReader`] | `response.rs` | incremental response parsing: `NeedMore` / `Done` / error |
//! | body codings | `decode.rs` | gzip and deflate bodies decoded as they arrive, within `--max-body` |
//! | [`extract_links`] | `links.rs` | `<a>`, `<area>` and `<base>` hrefs, by the HTML tokenizer's states that decide them |
//! | page charsets | `charset.rs` | a page's encoding (BOM, `Content-Type`, `<meta>`), its text in UTF-8 |
//! | [`FetchError`] | `error.rs` | one error enum; the [`ErrorKind`]s the report counts |
//! | [`Report`] | `report.rs` | per-URL [`Record`]s and the JSON report |
//! | robots.txt | `robots.rs` | each origin's rules, fetched first and obeyed |
//! | politeness | `politeness.rs` | `--per-host`, `--delay-ms`, `Crawl-delay`: per-host queues |
//! | retries | `wait.rs` | `Retry-After`, and exponential backoff with deterministic jitter |
//! | `--max-pages` | `budget.rs` | the first N URLs breadth first: ranks, rounds, where the budget stops |
//! | [`Shard`] | `shard.rs` | the frontier split N ways for N loops on N cores: links as [`Message`]s, exact termination |
//! | [`work::work`] | `work.rs` | deterministic CPU work per page (`--work-us`) |
//! | [`Tracer`] | `trace.rs` | `--trace`: one line per event of each fetch, with its [`FetchId`] |
//!
//! Start with the driving order documented in [`crawler`]; the blocking-threads strategy is
//! the plainest driver to read next to it.

#![deny(missing_docs)]

mod budget;
mod charset;
mod config;
pub mod crawler;
mod decode;
mod error;
pub mod journal;
mod known;
mod links;
mod politeness;
pub mod pool;
mod report;
mod request;
mod response;
pub mod robots;
pub mod shard;
pub mod tls;
pub mod trace;
mod urls;
mod wait;
pub mod work;

pub use config::{
    Config, ConfigError, Gauges, HostMatch, Limits, MAX_URL_LEN, RecordSink, Resolve, Resolver,
    RootError, parse_root,
};
pub use crawler::{Crawler, Fetch, Outcome};
pub use error::{ErrorKind, FetchError, Limit, Phase, Skip};
pub use journal::{Change, Journal, Restore, Resume, Retry, Saved, Spool, Spools};
pub use links::{Links, extract_links, reference::extract_links_html5gum};
pub use pool::Pool;
pub use report::Connections;
pub use report::{Latency, Record, Report, Status, urls_out, write_urls_out};
pub use request::{USER_AGENT, request};
pub use response::{MAX_HEADERS, Progress, Response, ResponseReader};
pub use shard::{Message, Shard};
pub use tls::{Tls, TlsOptions};
pub use trace::{Conn, Event, FetchId, Tracer};
pub use url::Url;

/// How often the event-driven strategies wake to measure how late their loop runs (the
/// loop lag of the report).
pub const LAG_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Bytes asked of each `read` on a socket: the lecture's `sock.recv(4096)`, the same in every
/// strategy.
pub const CHUNK_SIZE: usize = 4096;

/// `String::from_utf8_lossy`, with a look first at whether the bytes are UTF-8 as they are
/// (nearly every header value and link is): `from_utf8_lossy` walks them in chunks to find
/// none invalid, which costs a short value more than the check.
pub(crate) fn utf8_lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}
