//! Chaos (`c10k serve --chaos P`): a fraction of the site's requests meet a fault drawn from
//! a list, the way a server at load fails, while the outcome of every URL stays known.
//!
//! # The draw
//!
//! The server counts the requests for each path: the `n`-th request for a path is its try
//! `n`. Each try draws from (seed, path, try) alone ([`Chaos::draw`]): with probability `P` a
//! fault, uniformly from the list, else the page as usual. A crawler that asks for each URL
//! once per try (robots.txt too) therefore meets the same fault on the same URL and try
//! whatever its model, its concurrency or the load, and the manifest knows each URL's end
//! ([`Chaos::last_fault`]).
//!
//! Every fault's outcome is fixed whatever the load: the two that hold a connection (a
//! stall, an unread request) never answer, and a drip would take over 100 s, far beyond any
//! `--timeout-ms` a crawl of this site uses (a timeout); none ends near a deadline.
//!
//! # What chaos leaves alone
//!
//! `/robots.txt` (and where it redirects): a robots.txt that fails makes the crawler treat
//! the whole origin differently (RFC 9309), which is a lesson of its own. The fault pages
//! and the busy pages, whose outcomes are their own. Every other path (pages, text files,
//! redirects, 404s) takes part.
//!
//! # Kept connections
//!
//! A reused connection that fails before any byte of its response is taken by the crawler
//! for one the server had let go: it sends the request again on a fresh connection without
//! counting a try (RFC 9112, 9.3.1). The server therefore does not count a try that it ends
//! with [`ChaosFault::Reset`] on a connection that carried a request before: the request
//! comes again, draws the same reset, and on the fresh connection it counts. Every other
//! fault sends a byte first, or none and never closes (a timeout, which is never taken for a
//! stale connection), so the crawler counts it as the server does.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    Persist, Stream,
    faults::{Next, hold, pause_then_reset, reset, send, send_and_close},
    site::mix,
};

/// One fault of the chaos list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChaosFault {
    /// A reset before any byte of the response.
    #[serde(rename = "reset")]
    Reset,
    /// A reset in the middle of the response head.
    #[serde(rename = "reset-in-headers")]
    ResetInHeaders,
    /// A reset in the middle of the body.
    #[serde(rename = "reset-in-body")]
    ResetInBody,
    /// The head and part of the body, then silence until the client leaves.
    #[serde(rename = "stall")]
    Stall,
    /// One byte every [`DRIP_INTERVAL`], of a response that would take over 100 s.
    #[serde(rename = "drip")]
    Drip,
    /// Part of the response head, then a clean close.
    #[serde(rename = "close-in-headers")]
    CloseInHeaders,
    /// `503 Service Unavailable` with `Retry-After: 1`.
    #[serde(rename = "503")]
    Unavailable,
    /// `429 Too Many Requests` without `Retry-After` (the crawler's own backoff).
    #[serde(rename = "429")]
    TooMany,
    /// A `Content-Length` above the body's length, then a clean close.
    #[serde(rename = "wrong-length")]
    WrongLength,
    /// The request read, then nothing: no answer and no close until the client leaves, as
    /// a server that never read it.
    #[serde(rename = "unread")]
    Unread,
}

/// How often a drip sends its next byte.
pub const DRIP_INTERVAL: Duration = Duration::from_millis(100);
/// The length of the dripped response's body: with its head, over 1,000 bytes, so over
/// 100 s at [`DRIP_INTERVAL`].
const DRIP_BODY: usize = 1000;

impl ChaosFault {
    /// Every fault, in the order `--chaos-faults` lists them.
    pub const ALL: [ChaosFault; 10] = [
        ChaosFault::Reset,
        ChaosFault::ResetInHeaders,
        ChaosFault::ResetInBody,
        ChaosFault::Stall,
        ChaosFault::Drip,
        ChaosFault::CloseInHeaders,
        ChaosFault::Unavailable,
        ChaosFault::TooMany,
        ChaosFault::WrongLength,
        ChaosFault::Unread,
    ];

    /// Its name in `--chaos-faults`.
    pub fn name(self) -> &'static str {
        match self {
            ChaosFault::Reset => "reset",
            ChaosFault::ResetInHeaders => "reset-in-headers",
            ChaosFault::ResetInBody => "reset-in-body",
            ChaosFault::Stall => "stall",
            ChaosFault::Drip => "drip",
            ChaosFault::CloseInHeaders => "close-in-headers",
            ChaosFault::Unavailable => "503",
            ChaosFault::TooMany => "429",
            ChaosFault::WrongLength => "wrong-length",
            ChaosFault::Unread => "unread",
        }
    }

    /// What a crawler records for a URL whose last try met this fault, in `--urls-out` words
    /// (with a `--timeout-ms` under 100 s).
    pub fn outcome(self) -> &'static str {
        match self {
            ChaosFault::Reset | ChaosFault::ResetInHeaders | ChaosFault::ResetInBody => {
                "error:reset"
            }
            ChaosFault::Stall | ChaosFault::Drip | ChaosFault::Unread => "error:timeout",
            ChaosFault::CloseInHeaders | ChaosFault::WrongLength => "error:truncated",
            ChaosFault::Unavailable => "503",
            ChaosFault::TooMany => "429",
        }
    }

    /// Whether a crawler tries again after it (within `--max-tries`): transport failures
    /// (reset, timeout) and 429 and 503 are; a truncated response is not.
    pub fn retried(self) -> bool {
        !matches!(self, ChaosFault::CloseInHeaders | ChaosFault::WrongLength)
    }

    /// What it does, for a human.
    pub fn what(self) -> &'static str {
        match self {
            ChaosFault::Reset => "a reset before any byte",
            ChaosFault::ResetInHeaders => "a reset in the middle of the headers",
            ChaosFault::ResetInBody => "a reset in the middle of the body",
            ChaosFault::Stall => "the head and part of the body, then silence",
            ChaosFault::Drip => "one byte every 100 ms, over 100 s in all",
            ChaosFault::CloseInHeaders => "part of the headers, then a clean close",
            ChaosFault::Unavailable => "503 with Retry-After: 1",
            ChaosFault::TooMany => "429 without Retry-After",
            ChaosFault::WrongLength => "a Content-Length above the body, then a clean close",
            ChaosFault::Unread => "no answer and no close: as if the request was never read",
        }
    }
}

impl fmt::Display for ChaosFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ChaosFault {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ChaosFault::ALL
            .into_iter()
            .find(|fault| fault.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = ChaosFault::ALL.iter().map(|f| f.name()).collect();
                format!("unknown fault {name:?} (known: {})", names.join(", "))
            })
    }
}

/// Parses a comma-separated list of fault names (`reset,drip,503`): at least one, each
/// known, none twice.
pub fn parse_faults(list: &str) -> Result<Vec<ChaosFault>, String> {
    let mut faults = Vec::new();
    for name in list.split(',').map(str::trim) {
        let fault: ChaosFault = name.parse()?;
        if faults.contains(&fault) {
            return Err(format!("fault {name:?} is listed twice"));
        }
        faults.push(fault);
    }
    Ok(faults)
}

/// The crawler's default `--max-tries`, which a manifest assumes unless told otherwise.
pub const DEFAULT_MAX_TRIES: u32 = 4;

/// How a server misbehaves at random, deterministically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chaos {
    /// The fraction of tries that meet a fault, in millionths (`--chaos 0.05`: 50,000).
    pub per_million: u32,
    /// The seed of the draw.
    pub seed: u64,
    /// The faults drawn from, each as likely.
    pub faults: Vec<ChaosFault>,
    /// The crawler's `--max-tries` the manifest assumes: the server itself does not need it.
    pub max_tries: u32,
}

impl Chaos {
    /// A fraction `rate` (0 to 1) of tries meet one of every fault, drawn with `seed`, for a
    /// crawler of [`DEFAULT_MAX_TRIES`] tries.
    pub fn new(rate: f64, seed: u64) -> Chaos {
        Chaos {
            per_million: per_million(rate).unwrap_or(0),
            seed,
            faults: ChaosFault::ALL.to_vec(),
            max_tries: DEFAULT_MAX_TRIES,
        }
    }

    /// The fault try `attempt` of `path` meets, if any.
    pub fn draw(&self, path: &str, attempt: u32) -> Option<ChaosFault> {
        if self.faults.is_empty() {
            return None;
        }
        let x = mix(self.seed ^ mix(fnv1a(path.as_bytes()) ^ mix(u64::from(attempt))));
        if (x % 1_000_000) as u32 >= self.per_million {
            return None;
        }
        let pick = (x >> 32) % self.faults.len() as u64;
        Some(self.faults[pick as usize])
    }

    /// The fault that ends `path`, if one does: tries 1 to [`Chaos::max_tries`] in turn; a
    /// try that draws no fault gets the page (`None`), one that draws a fault the crawler
    /// does not retry ends there, and the last try's fault ends it too.
    pub fn last_fault(&self, path: &str) -> Option<ChaosFault> {
        for attempt in 1..=self.max_tries.max(1) {
            let fault = self.draw(path, attempt)?;
            if !fault.retried() || attempt >= self.max_tries {
                return Some(fault);
            }
        }
        None
    }
}

/// `rate` (0 to 1) in millionths, or why it is not a rate.
pub fn per_million(rate: f64) -> Result<u32, String> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("must be between 0 and 1, not {rate}"));
    }
    Ok((rate * 1_000_000.0).round() as u32)
}

/// FNV-1a over `bytes`: a path's number, the same on every machine and run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether chaos may touch a request for `path` answered by `route` (see the module's page).
pub(crate) fn applies(route: &crate::Route, path: &str) -> bool {
    use crate::Route;
    let robots = path == "/robots.txt" || path.starts_with("/robots/");
    !robots
        && matches!(
            route,
            Route::Page(_) | Route::Text(_) | Route::Redirect(..) | Route::NotFound
        )
}

/// Misbehaves on `stream`, whose request was read, as `fault` says; `persist` is what the
/// request allows a response to say of its connection (only 429 and 503 keep it).
pub(crate) async fn serve<S: Stream>(stream: &mut S, fault: ChaosFault, persist: Persist) -> Next {
    const HEAD: &[u8] =
        b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n";
    match fault {
        ChaosFault::Reset => reset(stream),
        ChaosFault::ResetInHeaders => {
            let _ = send(stream, b"HTTP/1.0 200 OK\r\nContent-Type: text/ht").await;
            pause_then_reset(stream).await
        }
        ChaosFault::ResetInBody => {
            let _ = send(stream, HEAD).await;
            let _ = send(stream, &[b'x'; 100]).await;
            pause_then_reset(stream).await
        }
        ChaosFault::Stall => {
            if send(stream, HEAD).await.is_ok() && send(stream, b"<p>stall").await.is_ok() {
                hold(stream).await;
            }
            Next::Closed
        }
        ChaosFault::Drip => {
            let mut response = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {DRIP_BODY}\r\n\r\n"
            )
            .into_bytes();
            response.resize(response.len() + DRIP_BODY, b'.');
            for byte in response {
                if send(stream, &[byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(DRIP_INTERVAL).await;
            }
            Next::Closed
        }
        ChaosFault::CloseInHeaders => {
            send_and_close(stream, b"HTTP/1.0 200 OK\r\nContent-Type: text/ht").await
        }
        ChaosFault::Unavailable | ChaosFault::TooMany => {
            let (status, headers) = if fault == ChaosFault::Unavailable {
                (503, "Retry-After: 1\r\nContent-Type: text/plain\r\n")
            } else {
                (429, "Content-Type: text/plain\r\n")
            };
            let response = crate::response(status, headers, b"chaos\n", persist);
            if send(stream, &response).await.is_err() {
                return Next::Closed;
            }
            crate::finish(stream, persist).await
        }
        ChaosFault::WrongLength => {
            send_and_close(
                stream,
                b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n<p>short</p>",
            )
            .await
        }
        ChaosFault::Unread => hold(stream).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_depends_on_seed_path_and_try_alone() {
        let chaos = Chaos::new(0.5, 7);
        let draws = |chaos: &Chaos| -> Vec<_> {
            (0..200)
                .flat_map(|i| (1..=4).map(move |t| (i, t)))
                .map(|(i, t)| chaos.draw(&format!("/p/{i}"), t))
                .collect()
        };
        assert_eq!(draws(&chaos), draws(&chaos.clone()));
        assert_ne!(draws(&chaos), draws(&Chaos::new(0.5, 8)));
        let faulted = draws(&chaos).iter().filter(|d| d.is_some()).count();
        // 800 draws at one half: far from none and from all.
        assert!((300..500).contains(&faulted), "{faulted} of 800");
        for fault in ChaosFault::ALL {
            assert!(draws(&chaos).contains(&Some(fault)), "{fault} never drawn");
        }
        assert!(draws(&Chaos::new(0.0, 7)).iter().all(Option::is_none));
        assert!(draws(&Chaos::new(1.0, 7)).iter().all(Option::is_some));
    }

    #[test]
    fn a_narrowed_list_draws_only_its_faults() {
        let chaos = Chaos {
            faults: vec![ChaosFault::Drip, ChaosFault::TooMany],
            ..Chaos::new(1.0, 3)
        };
        for i in 0..100 {
            let fault = chaos.draw(&format!("/p/{i}"), 1).unwrap();
            assert!(matches!(fault, ChaosFault::Drip | ChaosFault::TooMany));
        }
    }

    #[test]
    fn the_last_fault_follows_the_tries() {
        let every = |fault: ChaosFault, max_tries: u32| Chaos {
            faults: vec![fault],
            max_tries,
            ..Chaos::new(1.0, 1)
        };
        assert_eq!(
            every(ChaosFault::Reset, 3).last_fault("/"),
            Some(ChaosFault::Reset)
        );
        // Tried once or many times, a truncation ends the URL.
        assert_eq!(
            every(ChaosFault::WrongLength, 3).last_fault("/"),
            Some(ChaosFault::WrongLength)
        );
        assert_eq!(Chaos::new(0.0, 1).last_fault("/"), None);
        // At one half, some URL gets its page on a later try, after a fault.
        let chaos = Chaos::new(0.5, 1);
        let late = (0..100).map(|i| format!("/p/{i}")).find(|path| {
            chaos.draw(path, 1).is_some_and(ChaosFault::retried) && chaos.last_fault(path).is_none()
        });
        assert!(late.is_some());
    }

    #[test]
    fn fault_lists_parse_strictly() {
        assert_eq!(
            parse_faults("reset, 503,drip"),
            Ok(vec![
                ChaosFault::Reset,
                ChaosFault::Unavailable,
                ChaosFault::Drip
            ])
        );
        assert!(parse_faults("reset,bogus").unwrap_err().contains("bogus"));
        assert!(parse_faults("reset,reset").unwrap_err().contains("twice"));
        assert!(parse_faults("").is_err());
        for fault in ChaosFault::ALL {
            assert_eq!(fault.name().parse(), Ok(fault));
            let json = serde_json::to_string(&fault).unwrap();
            assert_eq!(json, format!("\"{}\"", fault.name()));
        }
        assert_eq!(per_million(0.05), Ok(50_000));
        assert!(per_million(1.5).is_err());
        assert!(per_million(f64::NAN).is_err());
    }
}
