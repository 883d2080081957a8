//! robots.txt: what each origin's file allows, read with the `texting_robots` crate.
//!
//! A crawl that obeys robots.txt (the default) fetches `/robots.txt` of an origin before any
//! page of it: the first in-scope URL of an origin queues the robots fetch at the front and
//! is held, with every later URL of that origin, until the rules are known. Then each held
//! URL is queued, or recorded as `error:robots` if the rules disallow it. What the file
//! said, when it is not plain rules (missing, unreadable in part, unreachable), is a note in
//! the report. With several shards, one shard (the origin's home, [`crate::shard`]) fetches
//! it and the others ask that shard for the rules: one fetch per origin, one set of rules.
//!
//! robots.txt is not a page: it gets no record, is not in `--urls-out`, and does not count
//! towards `--max-pages`; it is retried like a page (transport failures, 429, 503) within
//! `--max-tries`. Following RFC 9309:
//!
//! - the first [`MAX_ROBOTS`] bytes are read (section 2.5: at least 500 KiB), whatever
//!   `--max-body` says of pages; a longer file is cut there, not refused;
//! - the file is decoded as UTF-8, a byte that is not becoming U+FFFD, and every line the
//!   parser takes is kept: one bad byte or one bad rule does not throw the others away;
//! - a 4xx means no rules (all allowed);
//! - a 5xx that stays one, or a file that cannot be fetched at all (a reset, a timeout, a
//!   broken response), means the site is unreachable for crawlers: all disallowed
//!   (section 2.3.1.4). The pages are then recorded as `error:robots`, and the note says
//!   what the robots.txt fetch met;
//! - redirects are followed, up to [`MAX_REDIRECTS`], to any `http:` host whose address is
//!   known (each hop fetched by the home shard of the origin it goes to, under that
//!   origin's politeness); past that, or to where the crawler cannot go, all is allowed,
//!   with a note.

use std::time::Duration;

use texting_robots::Robot;
use url::Url;

use crate::{error::FetchError, request::USER_AGENT};

/// How much of a robots.txt is read (RFC 9309 asks crawlers to parse at least 500 KiB).
pub const MAX_ROBOTS: usize = 500 * 1024;

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
        self.allows_text(url.as_str())
    }

    /// [`Rules::allows`], for a URL's text.
    pub(crate) fn allows_text(&self, url: &str) -> bool {
        match self {
            Rules::All => true,
            Rules::Nothing => false,
            Rules::Robot(robot) => robot.allowed(url),
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
            let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ROBOTS)]);
            if let Ok(robot) = Robot::new(agent(), text.as_bytes()) {
                return (Rules::Robot(Box::new(robot)), None);
            }
            // A rule the parser refuses (a pattern it cannot compile) fails the whole file:
            // keep every line it takes on its own.
            let (kept, dropped): (Vec<&str>, Vec<&str>) = text
                .lines()
                .partition(|line| Robot::new(agent(), line.as_bytes()).is_ok());
            match Robot::new(agent(), kept.join("\n").as_bytes()) {
                Ok(robot) => (
                    Rules::Robot(Box::new(robot)),
                    Some(format!(
                        "{origin}/robots.txt: {} unreadable {} ignored",
                        dropped.len(),
                        if dropped.len() == 1 { "line" } else { "lines" }
                    )),
                ),
                Err(_) => (
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
            Rules::Nothing,
            Some(format!(
                "{origin}/robots.txt could not be fetched ({err}): all disallowed"
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
        let (garbage, note) = rules("http://h", Ok((200, b"\xff\xfe\x00garbage")));
        assert!(garbage.allows(&url("/x")) && note.is_none());
        let (down, note) = rules("http://h", Ok((503, b"")));
        assert!(!down.allows(&url("/x")));
        assert!(note.unwrap().contains("disallowed"));
        // RFC 9309, 2.3.1.4: unreachable means complete disallow.
        let (unreachable, note) = rules("http://h", Err(&FetchError::Timeout));
        assert!(!unreachable.allows(&url("/x")));
        assert!(note.unwrap().contains("could not be fetched"));
        let reset = FetchError::Reset("connection reset".into());
        assert!(!rules("http://h", Err(&reset)).0.allows(&url("/x")));
    }

    /// One byte that is not UTF-8 (a Latin-1 `é` in a comment) costs nothing but itself.
    #[test]
    fn a_byte_that_is_not_utf8_keeps_the_rules() {
        let body = b"# caf\xe9\nUser-agent: *\nDisallow: /private\n";
        let (rules, note) = rules("http://h", Ok((200, body)));
        assert!(note.is_none());
        assert!(!rules.allows(&url("/private/x")));
        assert!(rules.allows(&url("/public")));
    }

    /// A file longer than 500 KiB is read up to there, even when the cut falls inside a
    /// character: the rules before it hold.
    #[test]
    fn a_long_file_is_read_up_to_its_cut() {
        let mut body = b"User-agent: *\nDisallow: /private\n# ".to_vec();
        body.resize(MAX_ROBOTS - 1, b'x');
        body.extend("é\nDisallow: /late\n".as_bytes());
        assert!(std::str::from_utf8(&body[..MAX_ROBOTS]).is_err());
        let (rules, note) = rules("http://h", Ok((200, &body)));
        assert!(note.is_none());
        assert!(!rules.allows(&url("/private/x")));
        assert!(rules.allows(&url("/late"))); // past the cut
    }

    /// A rule the parser cannot take (a pattern too big for its regex limits) is dropped, with
    /// a note; the others hold.
    #[test]
    fn an_unreadable_rule_costs_only_itself() {
        let bad = format!("Disallow: /{}$", "x*".repeat(5000));
        assert!(
            Robot::new(agent(), bad.as_bytes()).is_err(),
            "the rule is refused"
        );
        let body = format!("User-agent: *\nDisallow: /private\n{bad}\n");
        let (rules, note) = rules("http://h", Ok((200, body.as_bytes())));
        assert!(note.unwrap().contains("1 unreadable line ignored"));
        assert!(!rules.allows(&url("/private/x")));
        assert!(rules.allows(&url("/public")));
    }
}
