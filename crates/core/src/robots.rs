//! robots.txt: what each origin's file allows, read with the `texting_robots` crate.
//!
//! A crawl that obeys robots.txt (the default) fetches `/robots.txt` of an origin before any
//! page of it: the first in-scope URL of an origin queues the robots fetch at the front and
//! is held, with every later URL of that origin, until the rules are known. Then each held
//! URL is queued, or recorded as `error:robots` if the rules disallow it. What the file
//! said, when it is not plain rules (missing, malformed, unreachable), is a note in the
//! report.
//!
//! robots.txt is not a page: it gets no record, is not in `--urls-out`, and does not count
//! towards `--max-pages`; it is retried like a page (transport failures, 429, 503) within
//! `--max-tries`. Following RFC 9309: a 4xx means no rules (all allowed); a 5xx that stays
//! one means the site is down for crawlers (all disallowed); a file the parser cannot read
//! is treated as "allow all" with a note. A transport failure also allows all (with a note):
//! the pages then fail on their own, with the error that says what happened. Redirects are
//! followed, up to [`MAX_REDIRECTS`], to any `http:` host whose address is known; past that
//! (or to where the crawler cannot go) all is allowed, with a note.

use std::time::Duration;

use texting_robots::Robot;
use url::Url;

use crate::{error::FetchError, request::USER_AGENT};

/// How much of a robots.txt is read (RFC 9309 asks crawlers to parse at least 500 KiB).
const MAX_ROBOTS: usize = 500 * 1024;

/// How many redirects a robots.txt fetch follows (RFC 9309: at least five).
pub const MAX_REDIRECTS: u8 = 5;

/// What an origin's robots.txt allows.
#[derive(Debug)]
pub(crate) enum Rules {
    /// Everything (no file, or one that could not be read).
    All,
    /// Nothing (the server kept failing).
    Nothing,
    /// What the file says for this crawler.
    Robot(Box<Robot>),
}

impl Rules {
    /// Whether `url` may be fetched.
    pub(crate) fn allows(&self, url: &Url) -> bool {
        match self {
            Rules::All => true,
            Rules::Nothing => false,
            Rules::Robot(robot) => robot.allowed(url.as_str()),
        }
    }

    /// The `Crawl-delay` the file asks of this crawler, if any.
    pub(crate) fn crawl_delay(&self) -> Option<Duration> {
        match self {
            Rules::Robot(robot) => robot
                .delay
                // Under a millisecond is no delay a clock here could keep.
                .filter(|delay| delay.is_finite() && *delay >= 0.001)
                .map(|delay| Duration::from_secs_f32(delay.min(3600.0))),
            _ => None,
        }
    }
}

/// The token robots.txt groups are matched against: the product name of the `User-Agent`.
fn agent() -> &'static str {
    USER_AGENT.split('/').next().unwrap_or(USER_AGENT)
}

/// The rules of `origin`'s robots.txt, given how its fetch ended, and a note for the report
/// when the file was not plain rules.
pub(crate) fn rules(
    origin: &str,
    result: Result<(u16, &[u8]), &FetchError>,
) -> (Rules, Option<String>) {
    match result {
        Ok((status, body)) if (200..300).contains(&status) => {
            let body = &body[..body.len().min(MAX_ROBOTS)];
            let readable = std::str::from_utf8(body).is_ok() && !body.contains(&0);
            match Robot::new(agent(), body) {
                Ok(robot) if readable => (Rules::Robot(Box::new(robot)), None),
                Ok(_) | Err(_) => (
                    Rules::All,
                    Some(format!("{origin}/robots.txt is malformed: all allowed")),
                ),
            }
        }
        Ok((status, _)) if (300..400).contains(&status) => (
            Rules::All,
            Some(format!(
                "{origin}/robots.txt redirects ({status}) too often, or where the crawler cannot go: all allowed"
            )),
        ),
        Ok((status, _)) if (400..500).contains(&status) => (Rules::All, None),
        Ok((status, _)) => (
            Rules::Nothing,
            Some(format!(
                "{origin}/robots.txt answered {status}: all disallowed"
            )),
        ),
        Err(err) => (
            Rules::All,
            Some(format!(
                "{origin}/robots.txt could not be fetched ({err}): all allowed"
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: &str) -> Url {
        Url::parse(&format!("http://h{path}")).unwrap()
    }

    #[test]
    fn rules_for_this_crawler_win_over_the_catch_all() {
        let body = b"User-agent: *\nDisallow: /\n\nUser-agent: c10k-crawler\nDisallow: /private/\nAllow: /private/open\nCrawl-delay: 0.5\n";
        let (rules, note) = rules("http://h", Ok((200, body)));
        assert!(note.is_none());
        assert!(rules.allows(&url("/p/1")));
        assert!(!rules.allows(&url("/private/x")));
        assert!(rules.allows(&url("/private/open")));
        assert_eq!(rules.crawl_delay(), Some(Duration::from_millis(500)));
    }

    #[test]
    fn missing_broken_and_failing_files() {
        let (rules_404, note) = rules("http://h", Ok((404, b"")));
        assert!(rules_404.allows(&url("/x")) && note.is_none());
        let (malformed, note) = rules("http://h", Ok((200, b"\xff\xfe\x00garbage")));
        assert!(malformed.allows(&url("/x")));
        assert!(note.unwrap().contains("malformed"));
        let (down, note) = rules("http://h", Ok((503, b"")));
        assert!(!down.allows(&url("/x")));
        assert!(note.unwrap().contains("disallowed"));
        let (unreachable, note) = rules("http://h", Err(&FetchError::Timeout));
        assert!(unreachable.allows(&url("/x")));
        assert!(note.unwrap().contains("could not be fetched"));
    }
}
