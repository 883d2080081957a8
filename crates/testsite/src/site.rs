//! The site itself: which paths exist, what each page links to, and the manifest of what a
//! full crawl must find. Pure functions of the [`SiteSpec`]; no I/O.

use std::{
    collections::{BTreeMap, VecDeque},
    fmt::Write as _,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::chaos::{Chaos, ChaosFault};

/// The shape of a site: every figure that decides its pages and their links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSpec {
    /// Number of HTML pages; page 0 is `/`, page `i` is `/p/i`.
    pub pages: usize,
    /// Tree links per page (the tree makes every page reachable from `/`).
    pub links: usize,
    /// Approximate size of each page in bytes (filler text makes up the rest).
    pub page_bytes: usize,
    /// Seed of the extra links and the filler text.
    pub seed: u64,
    /// How long each response is held before it is sent.
    pub delay: Duration,
    /// Whether the root also links to the misbehaving pages of [`crate::faults`].
    #[serde(default)]
    pub faults: bool,
    /// Whether the root also links to the [`BUSY`] pages, which answer 429 or 503 at first.
    #[serde(default)]
    pub busy: bool,
    /// The body of `/robots.txt`; `None`: a 404, as a site without one.
    #[serde(default)]
    pub robots: Option<String>,
    /// Whether `/robots.txt` redirects (301) to `/robots/real.txt`, which serves it.
    #[serde(default)]
    pub robots_redirect: bool,
    /// Where `/robots.txt` redirects (301) to instead, if set: an absolute URL, another
    /// site's robots.txt say, whose rules the manifest takes to be this site's `robots`.
    #[serde(default)]
    pub robots_elsewhere: Option<String>,
    /// Whether the root also links to a text file on the `www.` subdomain of the server's
    /// name (with a name, not an IP address: `--lenient` then fetches it, `--strict` skips it).
    #[serde(default)]
    pub www_link: bool,
    /// Faults drawn at random for a fraction of the requests ([`crate::chaos`]), and the
    /// crawler's tries the manifest assumes; `None`: every page behaves.
    #[serde(default)]
    pub chaos: Option<Chaos>,
}

/// How a busy page says when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyWait {
    /// `Retry-After: N`, in seconds.
    Seconds(u32),
    /// `Retry-After` an HTTP date this many seconds after the response's `Date`.
    Date(u32),
    /// No `Retry-After`: the crawler's own backoff.
    Backoff,
}

/// The busy pages `/busy/N`: the status each answers, how it says when to come back, and how
/// many of the first requests get it (then a 200 text page). The last is always busy, so its
/// tries run out and its status is recorded.
pub const BUSY: [(u16, BusyWait, u32); 4] = [
    (429, BusyWait::Seconds(1), 1),
    (503, BusyWait::Date(1), 1),
    (503, BusyWait::Backoff, 2),
    (429, BusyWait::Seconds(0), u32::MAX),
];

impl Default for SiteSpec {
    fn default() -> Self {
        SiteSpec {
            pages: 500,
            links: 4,
            page_bytes: 2048,
            seed: 1,
            delay: Duration::ZERO,
            faults: false,
            busy: false,
            robots: None,
            robots_redirect: false,
            robots_elsewhere: None,
            www_link: false,
            chaos: None,
        }
    }
}

/// What a path on the site answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// HTML page number `i`.
    Page(usize),
    /// A plain-text resource, linked from page `i`.
    Text(usize),
    /// A redirect with this status to this path.
    Redirect(u16, String),
    /// A page that misbehaves (only with `faults`).
    Fault(crate::faults::Fault),
    /// Busy page `N` of [`BUSY`] (only with `busy`).
    Busy(usize),
    /// `/robots.txt`, when the spec has one.
    Robots,
    /// 404.
    NotFound,
}

/// Where a link leads, in the canonical form a correct crawler records.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A path on this site.
    Local(String),
    /// A URL that must be recorded as skipped, never fetched.
    Skipped(String),
}

/// One link on a page: written as [`Link::write_to`] writes it, it leads to [`Link::target`].
/// Numbers, not strings, so that the server writes a page without an allocation or a
/// formatter for each of its links.
#[derive(Debug, Clone, Copy)]
enum Link<'a> {
    /// Page `n` by its path: `/p/n`, or `/` for the root.
    Page(usize),
    /// Page `n` by its number alone, read against the page's `<base href="/p/">`.
    Relative(usize),
    /// Page `n` as `../p/n`.
    Up(usize),
    /// Page `page`'s path with the fragment `#section-{from}`, `from` the linking page.
    Section { page: usize, from: usize },
    /// Page `n` as an absolute URL, its origin (the first field) in upper case.
    Shouting(&'a str, usize),
    /// Page `n`'s path with each `/` written as the character reference `&#x2F;`.
    Escaped(usize),
    /// `/missing/i`: a 404.
    Missing(usize),
    /// `/r/i`: a redirect.
    Redirect(usize),
    /// `/data/i.txt`: a text file.
    Text(usize),
    /// `/busy/n`: busy page `n`.
    Busy(usize),
    /// A URL out of scope, recorded as skipped.
    Skipped(&'static str),
    /// `/data/0.txt` on the `www.` subdomain of the origin (the field): out of scope.
    Www(&'a str),
}

impl Link<'_> {
    /// Where the link leads, in the canonical form a correct crawler records.
    fn target(self) -> Target {
        let written = || {
            let mut href = String::new();
            self.write_to(&mut href);
            href
        };
        match self {
            Link::Page(n)
            | Link::Relative(n)
            | Link::Up(n)
            | Link::Section { page: n, .. }
            | Link::Shouting(_, n)
            | Link::Escaped(n) => Target::Local(page_path(n)),
            Link::Missing(_) | Link::Redirect(_) | Link::Text(_) | Link::Busy(_) => {
                Target::Local(written())
            }
            Link::Skipped(url) => Target::Skipped(url.to_owned()),
            Link::Www(_) => Target::Skipped(written()),
        }
    }

    /// Appends the link as the page writes it (its `href`).
    fn write_to(self, out: &mut String) {
        let number = |out: &mut String, prefix: &str, n: usize, suffix: &str| {
            out.push_str(prefix);
            out.push_str(itoa::Buffer::new().format(n));
            out.push_str(suffix);
        };
        match self {
            Link::Page(0) => out.push('/'),
            Link::Page(n) => number(out, "/p/", n, ""),
            Link::Relative(n) => number(out, "", n, ""),
            Link::Up(n) => number(out, "../p/", n, ""),
            Link::Section { page, from } => {
                Link::Page(page).write_to(out);
                number(out, "#section-", from, "");
            }
            Link::Shouting(origin, n) => {
                out.extend(origin.chars().flat_map(char::to_uppercase));
                Link::Page(n).write_to(out);
            }
            Link::Escaped(0) => out.push_str("&#x2F;"),
            Link::Escaped(n) => number(out, "&#x2F;p&#x2F;", n, ""),
            Link::Missing(i) => number(out, "/missing/", i, ""),
            Link::Redirect(i) => number(out, "/r/", i, ""),
            Link::Text(i) => number(out, "/data/", i, ".txt"),
            Link::Busy(n) => number(out, "/busy/", n, ""),
            Link::Skipped(url) => out.push_str(url),
            Link::Www(origin) => {
                match origin.split_once("://") {
                    Some((scheme, rest)) => {
                        out.push_str(scheme);
                        out.push_str("://www.");
                        out.push_str(rest);
                    }
                    None => out.push_str(origin),
                }
                out.push_str("/data/0.txt");
            }
        }
    }
}

const REDIRECT_CODES: [u16; 5] = [301, 302, 303, 307, 308];

/// The crawler's default `--max-redirects`, which the fault manifest assumes.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// A page with a `<base href>` writes its tree links relative to that base.
const BASE_EVERY: usize = 10;
/// Pages that link to something special (a 404, a redirect, a text file) are spread out.
const SPECIAL_EVERY: usize = 50;

/// splitmix64: a tiny, well-mixed, deterministic generator; quality is not the point.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The path of page `i`.
pub fn page_path(i: usize) -> String {
    if i == 0 {
        "/".to_owned()
    } else {
        format!("/p/{i}")
    }
}

impl SiteSpec {
    fn random(&self, i: usize, salt: u64) -> u64 {
        mix(self.seed ^ mix(i as u64 ^ mix(salt)))
    }

    /// What `path` answers.
    pub fn route(&self, path: &str) -> Route {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let number = |prefix: &str, suffix: &str| -> Option<usize> {
            let digits = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
            // Canonical numbers only: "/p/07" and "/p/+7" are not page 7.
            let canonical = digits == "0" || !digits.starts_with('0');
            if !canonical || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        };
        if path == "/" {
            return Route::Page(0);
        }
        if let Some(elsewhere) = &self.robots_elsewhere
            && path == "/robots.txt"
        {
            return Route::Redirect(301, elsewhere.clone());
        }
        if self.robots.is_some() {
            match (path, self.robots_redirect) {
                ("/robots.txt", false) | ("/robots/real.txt", true) => return Route::Robots,
                ("/robots.txt", true) => {
                    return Route::Redirect(301, "/robots/real.txt".to_owned());
                }
                _ => {}
            }
        }
        if let Some(n) = number("/busy/", "").filter(|&n| self.busy && n < BUSY.len()) {
            return Route::Busy(n);
        }
        if self.faults
            && let Some(fault) = crate::faults::route(path)
        {
            return Route::Fault(fault);
        }
        if let Some(i) = number("/p/", "").filter(|&i| i > 0 && i < self.pages) {
            return Route::Page(i);
        }
        if let Some(i) = number("/r/", "").filter(|&i| i < self.pages) {
            let code = REDIRECT_CODES[i / SPECIAL_EVERY % REDIRECT_CODES.len()];
            return Route::Redirect(code, page_path(self.redirect_target(i)));
        }
        if let Some(i) = number("/data/", ".txt").filter(|&i| i < self.pages) {
            return Route::Text(i);
        }
        Route::NotFound
    }

    fn redirect_target(&self, i: usize) -> usize {
        (self.random(i, 3) % self.pages as u64) as usize
    }

    /// The links of page `i`, in document order.
    fn links_of<'a>(&self, i: usize, origin: &'a str) -> Vec<Link<'a>> {
        // The tree's links, then at most 12 more: the random one, a special one, the root's.
        let mut links = Vec::with_capacity(self.links + 12);
        let children =
            (i * self.links + 1..=i * self.links + self.links).filter(|&c| c < self.pages);
        if i % BASE_EVERY == 3 {
            links.extend(children.map(Link::Relative));
        } else {
            links.extend(children.map(Link::Page));
        }
        // One extra link to a random page, written in one of several equivalent ways.
        let r = (self.random(i, 1) % self.pages as u64) as usize;
        links.push(match self.random(i, 2) % 5 {
            0 => Link::Page(r),
            1 if r > 0 => Link::Up(r),
            2 => Link::Section { page: r, from: i },
            3 => Link::Shouting(origin, r),
            _ => Link::Escaped(r),
        });
        if i % SPECIAL_EVERY == 7 {
            links.push(Link::Missing(i));
        }
        if i % SPECIAL_EVERY == 13 {
            links.push(Link::Redirect(i));
        }
        if i % SPECIAL_EVERY == 21 {
            links.push(Link::Text(i));
        }
        if i == 0 {
            links.push(Link::Skipped("http://example.invalid/elsewhere"));
            links.push(Link::Skipped("mailto:crawler@example.invalid"));
            links.push(Link::Redirect(0));
            if self.busy {
                links.extend((0..BUSY.len()).map(Link::Busy));
            }
            if self.www_link {
                links.push(Link::Www(origin));
            }
        }
        links
    }

    /// The HTML of page `i`, with absolute links written against `origin`
    /// (`http://host:port`, no trailing slash).
    pub fn render_page(&self, i: usize, origin: &str) -> Vec<u8> {
        self.render_page_with(i, origin, "")
    }

    /// [`SiteSpec::render_page`], with `extra` HTML after the root's fault links (the links a
    /// listener adds: the TLS site's own faults).
    pub(crate) fn render_page_with(&self, i: usize, origin: &str, extra: &str) -> Vec<u8> {
        let mut html = String::with_capacity(self.page_bytes + 512);
        html.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
        let _ = write!(html, "<title>Page {i}</title>");
        if i % BASE_EVERY == 3 {
            html.push_str("<base href=\"/p/\">");
        }
        let _ = write!(html, "</head>\n<body><h1>Page {i}</h1>\n<ul>\n");
        for link in self.links_of(i, origin) {
            html.push_str("<li><a href=\"");
            link.write_to(&mut html);
            html.push_str("\">link</a></li>\n");
        }
        html.push_str("</ul>\n");
        if i == 0 && self.faults {
            html.push_str(&crate::faults::root_links());
            html.push_str(extra);
        }
        // Links a crawler must not follow: in a comment, a script and a style sheet.
        let _ = writeln!(
            html,
            "<!-- <a href=\"/trap/comment/{i}\">old</a> -->\n\
             <script>document.write('<a href=\"/trap/script/{i}\">x</a>');</script>\n\
             <style>/* <a href=\"/trap/style/{i}\"> */ p {{ margin: 0 }}</style>"
        );
        const WORDS: [&str; 12] = [
            "coroutine",
            "thread",
            "socket",
            "event",
            "loop",
            "future",
            "task",
            "yield",
            "callback",
            "select",
            "crawler",
            "queue",
        ];
        let mut n = 0;
        html.push_str("<p>");
        while html.len() + 20 < self.page_bytes {
            html.push_str(WORDS[(self.random(i, 100 + n) % WORDS.len() as u64) as usize]);
            html.push(' ');
            n += 1;
        }
        html.push_str("</p>\n</body></html>\n");
        html.into_bytes()
    }

    /// The body of text resource `i`.
    pub fn render_text(&self, i: usize) -> Vec<u8> {
        format!("plain text {i}: <a href=\"/trap/text/{i}\"> is not a link here\n").into_bytes()
    }

    /// What a complete crawl from `/` must record for every URL it meets, keyed by URL.
    pub fn manifest(&self, origin: &str) -> Manifest {
        let mut urls = BTreeMap::new();
        let mut queue = VecDeque::from([page_path(0)]);
        let root = self.chaos_end(&page_path(0));
        let root = root.map_or("200", ChaosFault::outcome);
        urls.insert(format!("{origin}/"), root.to_owned());
        while let Some(path) = queue.pop_front() {
            let mut found = Vec::new();
            // A URL whose last try met a fault gave no page: its links are never seen.
            if !self.robots_allow(&path) || self.chaos_end(&path).is_some() {
                continue;
            }
            match self.route(&path) {
                Route::Page(i) => {
                    found.extend(self.links_of(i, origin).into_iter().map(Link::target))
                }
                Route::Redirect(_, to) => found.push(Target::Local(to)),
                Route::Text(_) | Route::NotFound | Route::Fault(_) | Route::Busy(_) => {}
                Route::Robots => unreachable!("robots.txt is not linked"),
            }
            for target in found {
                let (url, outcome) = match &target {
                    Target::Local(path) => (format!("{origin}{path}"), self.outcome(path)),
                    Target::Skipped(url) => (url.clone(), "error:skipped".to_owned()),
                };
                if urls.insert(url, outcome).is_none()
                    && let Target::Local(path) = target
                {
                    queue.push_back(path);
                }
            }
        }
        if self.faults {
            // The fault pages' outcomes come from their own table: they are not crawled by
            // the breadth-first walk above, which knows only well-behaved pages.
            urls.extend(crate::faults::manifest_entries(
                origin,
                DEFAULT_MAX_REDIRECTS,
            ));
        }
        Manifest {
            spec: self.clone(),
            root: format!("{origin}/"),
            urls,
        }
    }

    /// The [`Digest`] of [`SiteSpec::manifest`], without holding the manifest when the site is
    /// a plain one (no faults, busy pages, robots.txt, chaos or `www.` link: every page then
    /// is reached through the tree, and each URL is its page or a link of one page alone), so a
    /// site of ten million pages takes no memory to check.
    pub fn digest(&self, origin: &str) -> Digest {
        let plain = !self.faults
            && !self.busy
            && self.robots.is_none()
            && self.robots_elsewhere.is_none()
            && !self.www_link
            && self.chaos.is_none()
            && self.links > 0;
        if !plain {
            return self.manifest(origin).digest();
        }
        let mut digest = Digest::default();
        for i in 0..self.pages {
            digest.add("200", &format!("{origin}{}", page_path(i)));
            // What the page links to that is not a page (a page's special links, the root's
            // URLs out of scope): on a plain site, each is linked from this page alone.
            for link in self.links_of(i, origin) {
                match link.target() {
                    Target::Local(path) if matches!(self.route(&path), Route::Page(_)) => {}
                    Target::Local(path) => {
                        digest.add(&self.outcome(&path), &format!("{origin}{path}"));
                    }
                    Target::Skipped(url) => digest.add("error:skipped", &url),
                }
            }
        }
        digest
    }

    /// Whether the site's robots.txt lets a crawler fetch `path`, as the site itself reads it:
    /// its `Allow` and `Disallow` lines as path prefixes (whatever group they are in: the test
    /// site writes one), the longest match winning and `Allow` on a tie. Enough for the files
    /// the tests serve; the crawler reads them with a full parser.
    fn robots_allow(&self, path: &str) -> bool {
        let Some(robots) = &self.robots else {
            return true;
        };
        let mut best: Option<(usize, bool)> = None;
        for line in robots.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let allow = match key.trim().to_ascii_lowercase().as_str() {
                "allow" => true,
                "disallow" => false,
                _ => continue,
            };
            let prefix = value.split('#').next().unwrap_or_default().trim();
            if prefix.is_empty() || !path.starts_with(prefix) {
                continue;
            }
            let better = best.is_none_or(|(len, was)| {
                prefix.len() > len || (prefix.len() == len && allow && !was)
            });
            if better {
                best = Some((prefix.len(), allow));
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }

    /// The fault of [`SiteSpec::chaos`] that ends `path`'s tries, if one does.
    pub fn chaos_end(&self, path: &str) -> Option<ChaosFault> {
        let chaos = self.chaos.as_ref()?;
        if !crate::chaos::applies(&self.route(path), path) {
            return None;
        }
        chaos.last_fault(path)
    }

    fn outcome(&self, path: &str) -> String {
        if !self.robots_allow(path) {
            return "error:robots".to_owned();
        }
        if let Some(fault) = self.chaos_end(path) {
            return fault.outcome().to_owned();
        }
        match self.route(path) {
            Route::Page(_) | Route::Text(_) => "200".to_owned(),
            Route::Redirect(code, _) => code.to_string(),
            Route::NotFound => "404".to_owned(),
            Route::Busy(n) if BUSY[n].2 == u32::MAX => BUSY[n].0.to_string(),
            Route::Busy(_) => "200".to_owned(),
            Route::Fault(_) => unreachable!("fault pages are not linked from ordinary pages"),
            Route::Robots => unreachable!("robots.txt is not linked"),
        }
    }
}

/// The expected outcome of a full crawl: every URL and its status (or `error:KIND`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The site it describes.
    pub spec: SiteSpec,
    /// Where the crawl starts.
    pub root: String,
    /// URL → `200`, `404`, `301`, … or `error:skipped`.
    pub urls: BTreeMap<String, String>,
}

impl Manifest {
    /// The manifest in the format of `c10k crawl --urls-out`: `STATUS<TAB>URL`, sorted by URL.
    pub fn urls_out(&self) -> String {
        self.urls
            .iter()
            .map(|(url, outcome)| format!("{outcome}\t{url}\n"))
            .collect()
    }

    /// Its count and checksum.
    pub fn digest(&self) -> Digest {
        let mut digest = Digest::default();
        for (url, outcome) in &self.urls {
            digest.add(outcome, url);
        }
        digest
    }

    /// How many URLs end with `outcome`.
    pub fn count(&self, outcome: &str) -> usize {
        self.urls.values().filter(|o| *o == outcome).count()
    }
}

/// A crawl's URLs and outcomes as a count and a checksum, for a site too large to list: the
/// wrapping sum of a 64-bit hash of each `--urls-out` line (`STATUS<TAB>URL`), so the order the
/// lines come in does not matter, and a URL missing, doubled or with another outcome changes
/// it (but for a chance of about 2^-64).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// How many URLs.
    pub urls: u64,
    /// The sum of their lines' hashes.
    pub checksum: u64,
}

impl Digest {
    /// Counts the URL `url`, ended with `outcome` (`200`, `error:timeout`, …).
    pub fn add(&mut self, outcome: &str, url: &str) {
        // FNV-1a over the line, then mixed: stable across builds and platforms.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in outcome.bytes().chain([b'\t']).chain(url.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.urls += 1;
        self.checksum = self.checksum.wrapping_add(mix(hash));
    }
}

impl std::fmt::Display for Digest {
    /// `N URLs, checksum 0123456789abcdef`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} URLs, checksum {:016x}", self.urls, self.checksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "http://127.0.0.1:9";

    #[test]
    fn every_page_is_in_the_manifest_with_the_extras() {
        let spec = SiteSpec::default();
        let manifest = spec.manifest(ORIGIN);
        assert_eq!(
            manifest.count("200")
                - manifest
                    .urls
                    .keys()
                    .filter(|u| u.contains("/data/"))
                    .count(),
            500
        );
        assert!(manifest.count("404") >= 5);
        assert!(
            REDIRECT_CODES
                .iter()
                .any(|c| manifest.count(&c.to_string()) > 0)
        );
        assert_eq!(manifest.count("error:skipped"), 2);
        assert!(!manifest.urls.keys().any(|u| u.contains("/trap/")));
    }

    #[test]
    fn routes_are_canonical() {
        let spec = SiteSpec::default();
        assert_eq!(spec.route("/"), Route::Page(0));
        assert_eq!(spec.route("/p/7"), Route::Page(7));
        assert_eq!(spec.route("/p/07"), Route::NotFound);
        assert_eq!(spec.route("/p/0"), Route::NotFound);
        assert_eq!(spec.route("/p/500"), Route::NotFound);
        assert!(matches!(spec.route("/r/13"), Route::Redirect(..)));
    }

    #[test]
    fn busy_pages_robots_and_the_www_link_are_opt_in() {
        let plain = SiteSpec::default();
        assert_eq!(plain.route("/busy/0"), Route::NotFound);
        assert_eq!(plain.route("/robots.txt"), Route::NotFound);
        let spec = SiteSpec {
            busy: true,
            robots: Some("User-agent: *\nDisallow: /p/1\n".into()),
            www_link: true,
            ..SiteSpec::default()
        };
        assert_eq!(spec.route("/busy/3"), Route::Busy(3));
        assert_eq!(spec.route("/busy/4"), Route::NotFound);
        assert_eq!(spec.route("/robots.txt"), Route::Robots);
        let manifest = spec.manifest("http://site.test:9");
        assert_eq!(manifest.urls["http://site.test:9/p/1"], "error:robots");
        assert_eq!(manifest.urls["http://site.test:9/p/2"], "200");
        // A prefix: /p/10 is disallowed too, where a link reaches it.
        assert!(
            manifest
                .urls
                .get("http://site.test:9/p/10")
                .is_none_or(|outcome| outcome == "error:robots")
        );
        assert_eq!(manifest.urls["http://site.test:9/busy/0"], "200");
        assert_eq!(manifest.urls["http://site.test:9/busy/3"], "429");
        assert_eq!(
            manifest.urls["http://www.site.test:9/data/0.txt"],
            "error:skipped"
        );
    }

    #[test]
    fn chaos_decides_outcomes_and_hides_the_links_of_failed_pages() {
        let plain = SiteSpec::default();
        let calm = SiteSpec {
            chaos: Some(Chaos::new(0.0, 7)),
            ..SiteSpec::default()
        };
        assert_eq!(calm.manifest(ORIGIN).urls, plain.manifest(ORIGIN).urls);
        let spec = SiteSpec {
            chaos: Some(Chaos {
                max_tries: 2,
                ..Chaos::new(0.5, 7)
            }),
            robots: Some("User-agent: *\nDisallow: /p/1\n".into()),
            ..SiteSpec::default()
        };
        let manifest = spec.manifest(ORIGIN);
        let calm = SiteSpec {
            chaos: None,
            ..spec.clone()
        };
        let mut ended = 0;
        for (url, outcome) in &manifest.urls {
            let Some(path) = url.strip_prefix(ORIGIN) else {
                assert_eq!(outcome, "error:skipped");
                continue;
            };
            match spec.chaos_end(path) {
                Some(fault) if spec.robots_allow(path) => {
                    ended += 1;
                    assert_eq!(outcome, fault.outcome(), "{url}");
                }
                _ => assert_eq!(*outcome, calm.outcome(path), "{url}"),
            }
        }
        assert!(ended > 20, "{ended} URLs ended by a fault");
        // Fewer pages reached: the links of the pages that failed are never seen.
        assert!(manifest.urls.len() < plain.manifest(ORIGIN).urls.len());
        // Every URL but the root is linked from a page that got through.
        let linked: std::collections::BTreeSet<String> = manifest
            .urls
            .keys()
            .filter_map(|url| url.strip_prefix(ORIGIN))
            .filter(|path| spec.robots_allow(path) && spec.chaos_end(path).is_none())
            .flat_map(|path| match spec.route(path) {
                Route::Page(i) => spec
                    .links_of(i, ORIGIN)
                    .into_iter()
                    .map(|link| match link.target() {
                        Target::Local(path) => format!("{ORIGIN}{path}"),
                        Target::Skipped(url) => url,
                    })
                    .collect(),
                Route::Redirect(_, to) => vec![format!("{ORIGIN}{to}")],
                _ => vec![],
            })
            .collect();
        for url in manifest.urls.keys().filter(|u| *u != &format!("{ORIGIN}/")) {
            assert!(linked.contains(url), "{url} is reached by no page");
        }
    }

    #[test]
    fn pages_are_deterministic_and_sized() {
        let spec = SiteSpec::default();
        let page = spec.render_page(3, ORIGIN);
        assert_eq!(page, spec.render_page(3, ORIGIN));
        assert!(page.len() >= spec.page_bytes - 20 && page.len() <= spec.page_bytes + 1024);
    }

    /// The digest of a plain site, computed from the page numbers alone, is the manifest's;
    /// and any other site's is its manifest's too.
    #[test]
    fn a_digest_without_the_manifest_is_the_manifests() {
        let origin = "http://127.0.0.1:8080";
        for pages in [1, 2, 7, 14, 51, 300, 1234] {
            for links in [1, 2, 4, 7] {
                for seed in [1, 9] {
                    let spec = SiteSpec {
                        pages,
                        links,
                        seed,
                        ..SiteSpec::default()
                    };
                    let what = format!("{pages} pages, {links} links, seed {seed}");
                    assert_eq!(
                        spec.digest(origin),
                        spec.manifest(origin).digest(),
                        "{what}"
                    );
                }
            }
        }
        let faulty = SiteSpec {
            faults: true,
            ..SiteSpec::default()
        };
        assert_eq!(faulty.digest(origin), faulty.manifest(origin).digest());
        // One outcome changed, one URL dropped: the digest says so.
        let spec = SiteSpec::default();
        let mut manifest = spec.manifest(origin);
        let url = format!("{origin}/p/3");
        manifest.urls.insert(url.clone(), "404".to_owned());
        assert_ne!(manifest.digest(), spec.digest(origin));
        manifest.urls.remove(&url);
        assert_ne!(manifest.digest(), spec.digest(origin));
    }
}
