//! Pages that misbehave on purpose (`c10k serve --faults`): every way a server can break a
//! crawler, each linked from the root and each with the outcome a correct crawler records.
//!
//! The outcomes assume the crawler's defaults for redirects (`--max-redirects 10`), tries
//! (`--max-tries 4`) and body size, and a `--timeout-ms` shorter than the drip (40 s).
//!
//! # Connections
//!
//! The faults of the first rows close their connection after their answer, whatever the
//! request asked: an HTTP/1.0 answer or a body framed by the close ends the connection, and a
//! crawler that keeps connections alive must see that. (Two of them, `chunk-ext-tab` and
//! `chunk-leading-zeros`, answer `HTTP/1.1` without `Connection: close` and still close: for
//! a crawler that keeps connections, each is also a close under a connection it may reuse.)
//!
//! The keep-alive faults (`/fault/ka/…`, at the end of [`FAULT_PAGES`]) depend on the
//! connection living on. Each is also well defined for a crawler that closes every
//! connection (an HTTP/1.0 request with `Connection: close`, today's crawler): it then gets
//! an ordinary response that ends its connection, with the same outcome, `200`. They are
//! text, not HTML, so they add no page to a crawl's page count.
//!
//! # TLS
//!
//! Served over TLS ([`crate::tls`]), the site keeps every page and outcome above: a reset is a
//! TCP reset under TLS too, and a close is `close_notify` and then the TCP close. The TLS site
//! adds [`TLS_PAGES`] (a body cut by a TCP close without `close_notify`), and with a plain
//! twin ([`crate::Tls::plain_twin`]) the [`BOUNCE_PAGES`]: https to http and back.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::{Persist, Stream};

/// One way to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Accept, read the request, reset the connection.
    ResetBeforeResponse,
    /// Reset after part of the status line and headers.
    ResetInHeaders,
    /// Reset after the head and part of the body.
    ResetInBody,
    /// Accept and read the request, then never answer.
    Silent,
    /// A valid response, one byte every 200 ms.
    Drip,
    /// Bytes that are not HTTP at all.
    Garbage,
    /// A header block of several megabytes.
    HugeHeader,
    /// Tens of thousands of header lines.
    ManyHeaders,
    /// `Content-Length: twelve`.
    BadContentLength,
    /// A body shorter than its `Content-Length`, then a clean close.
    ShortBody,
    /// A `Content-Length` far above any sane `--max-body`.
    BigBody,
    /// An HTML body that never ends.
    EndlessBody,
    /// Redirects to [`Fault::LoopB`], which redirects back here.
    LoopA,
    /// Redirects to [`Fault::LoopA`].
    LoopB,
    /// Step `n` of a redirect chain longer than the redirect limit.
    Chain(usize),
    /// Step `n` of another such chain, whose step [`RELINKED_STEP`] is also linked from
    /// [`Fault::LateLink`].
    Relinked(usize),
    /// HTML that answers `LATE_LINK_DELAY` late, linking to step [`RELINKED_STEP`] of the
    /// relinked chain: at high concurrency the chain usually gets there first.
    LateLink,
    /// Redirects to another origin.
    Offsite,
    /// A redirect status without `Location`.
    NoLocation,
    /// Non-HTML content that looks like it has a link.
    Binary,
    /// HTML with invalid UTF-8, and a link that must still be followed.
    BadUtf8,
    /// The page [`Fault::BadUtf8`] links to.
    Utf8Target,
    /// A valid chunked HTML body, with a link.
    Chunked,
    /// The page [`Fault::Chunked`] links to.
    ChunkedTarget,
    /// A chunked body whose chunk size is not hexadecimal.
    BadChunked,
    /// A 500.
    ServerError,
    /// A complete head promising a body that never comes.
    HeadThenSilence,
    /// Resets the first two requests, then answers (per server).
    Flaky,
    /// These bytes as the whole response, then a clean close.
    Raw(&'static [u8]),
    /// A small HTML page that links nowhere: the target of another page's link or redirect.
    Target,
    /// HTML linking to the site's own URLs with user info in them (`http://anon@host/`).
    UserInfo,
    /// HTML with a link, compressed with this coding although the crawler asked for identity.
    Coded(Coding),
    /// `GZIP_BOMB_MIB` MiB of zeros, gzip-compressed to about 1 KiB per MiB, as HTML.
    GzipBomb,
    /// Keep-alive: `Connection: close` on a response to a request that asked to keep the
    /// connection, which then closes (in stages, as every close of a kept connection).
    AnnouncedClose,
    /// Keep-alive: a response framed by nothing but the close, to a request that asked to
    /// keep the connection.
    Unframed,
    /// Keep-alive: a response followed, in the same write, by bytes that read as another
    /// response (a 302 to `/trap/smuggled`); the connection then stays open.
    Overlong,
    /// Keep-alive: two interim responses (`100 Continue`, `103 Early Hints`) before the real
    /// one; the connection then stays open.
    Interim,
    /// Keep-alive: a response that keeps the connection (no `Connection: close`), then a
    /// silent close: the next request on it meets the end of the stream before any byte.
    DropAfter,
    /// TLS: a body cut by a TCP close without `close_notify`, short of its `Content-Length`.
    CutBody,
    /// TLS: a body framed by the close, cut by a TCP close without `close_notify`.
    CutEof,
    /// TLS: a body framed by the close, ended by `close_notify` and then the TCP close.
    NotifyEof,
    /// TLS with a plain twin: redirects to the twin's [`Fault::ToTls`].
    ToPlain,
    /// The plain twin: redirects back to the TLS site's `/fault/tls/back`.
    ToTls,
}

/// How a [`Fault::Coded`] page is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `Content-Encoding: gzip`.
    Gzip,
    /// `Content-Encoding: deflate`, a zlib stream as RFC 9110 says.
    Deflate,
    /// `Content-Encoding: deflate`, raw deflate without the zlib wrapper, as some servers do.
    RawDeflate,
    /// `Transfer-Encoding: gzip, chunked`.
    TransferGzip,
}

impl Coding {
    /// The page the coded page links to.
    fn target(self) -> &'static str {
        match self {
            Coding::Gzip => "/fault/gzip-target",
            Coding::Deflate => "/fault/deflate-target",
            Coding::RawDeflate => "/fault/raw-deflate-target",
            Coding::TransferGzip => "/fault/te-gzip-target",
        }
    }
}

/// A fault's path, what it does and what a crawler must record for it.
#[derive(Debug, Clone, Copy)]
pub struct FaultPage {
    /// Path on the site.
    pub path: &'static str,
    /// Behaviour.
    pub fault: Fault,
    /// Expected outcome, in `--urls-out` words.
    pub outcome: &'static str,
    /// For the README.
    pub what: &'static str,
}

/// Steps of the redirect chain: 0 → 1 → … → `CHAIN_END`; with `--max-redirects 10` the 11th
/// target is never fetched.
pub const CHAIN_END: usize = 12;

/// The fault pages linked from the root (the chain's later steps and the targets of redirects
/// and links are reached from these).
pub const FAULT_PAGES: &[FaultPage] = &[
    FaultPage {
        path: "/fault/reset-before",
        fault: Fault::ResetBeforeResponse,
        outcome: "error:reset",
        what: "reset before the response",
    },
    FaultPage {
        path: "/fault/reset-in-headers",
        fault: Fault::ResetInHeaders,
        outcome: "error:reset",
        what: "reset in the middle of the headers",
    },
    FaultPage {
        path: "/fault/reset-in-body",
        fault: Fault::ResetInBody,
        outcome: "error:reset",
        what: "reset in the middle of the body",
    },
    FaultPage {
        path: "/fault/silent",
        fault: Fault::Silent,
        outcome: "error:timeout",
        what: "accepts, then never answers",
    },
    FaultPage {
        path: "/fault/drip",
        fault: Fault::Drip,
        outcome: "error:timeout",
        what: "a response dripped one byte every 200 ms",
    },
    FaultPage {
        path: "/fault/head-then-silence",
        fault: Fault::HeadThenSilence,
        outcome: "error:timeout",
        what: "headers, then silence",
    },
    FaultPage {
        path: "/fault/garbage",
        fault: Fault::Garbage,
        outcome: "error:malformed",
        what: "garbage instead of HTTP",
    },
    FaultPage {
        path: "/fault/bad-length",
        fault: Fault::BadContentLength,
        outcome: "error:malformed",
        what: "a Content-Length that is not a number",
    },
    FaultPage {
        path: "/fault/bad-chunked",
        fault: Fault::BadChunked,
        outcome: "error:malformed",
        what: "invalid chunked encoding",
    },
    FaultPage {
        path: "/fault/huge-header",
        fault: Fault::HugeHeader,
        outcome: "error:too-large",
        what: "a 4 MiB header block",
    },
    FaultPage {
        path: "/fault/many-headers",
        fault: Fault::ManyHeaders,
        outcome: "error:too-large",
        what: "20,000 header lines",
    },
    FaultPage {
        path: "/fault/big-body",
        fault: Fault::BigBody,
        outcome: "error:too-large",
        what: "a body declared far larger than --max-body",
    },
    FaultPage {
        path: "/fault/endless",
        fault: Fault::EndlessBody,
        outcome: "error:too-large",
        what: "an HTML body that never ends",
    },
    FaultPage {
        path: "/fault/short-body",
        fault: Fault::ShortBody,
        outcome: "error:truncated",
        what: "a body shorter than its Content-Length",
    },
    FaultPage {
        path: "/fault/loop-a",
        fault: Fault::LoopA,
        outcome: "302",
        what: "a redirect loop (a → b → a)",
    },
    FaultPage {
        path: "/fault/loop-b",
        fault: Fault::LoopB,
        outcome: "302",
        what: "the other end of the loop",
    },
    FaultPage {
        path: "/fault/chain/0",
        fault: Fault::Chain(0),
        outcome: "302",
        what: "a redirect chain longer than --max-redirects",
    },
    FaultPage {
        path: "/fault/relinked/0",
        fault: Fault::Relinked(0),
        outcome: "302",
        what: "a chain as long, whose 11th step is also linked from a page: fetched, whichever comes first",
    },
    FaultPage {
        path: "/fault/late-link",
        fault: Fault::LateLink,
        outcome: "200",
        what: "links to the 11th step of the relinked chain, 100 ms late",
    },
    FaultPage {
        path: "/fault/offsite",
        fault: Fault::Offsite,
        outcome: "302",
        what: "a redirect out of scope (its target is skipped)",
    },
    FaultPage {
        path: "/fault/no-location",
        fault: Fault::NoLocation,
        outcome: "302",
        what: "a redirect without Location",
    },
    FaultPage {
        path: "/fault/binary",
        fault: Fault::Binary,
        outcome: "200",
        what: "non-HTML content (not parsed for links)",
    },
    FaultPage {
        path: "/fault/bad-utf8",
        fault: Fault::BadUtf8,
        outcome: "200",
        what: "invalid UTF-8 in HTML (its link is followed)",
    },
    FaultPage {
        path: "/fault/chunked",
        fault: Fault::Chunked,
        outcome: "200",
        what: "valid chunked encoding (its link is followed)",
    },
    FaultPage {
        path: "/fault/500",
        fault: Fault::ServerError,
        outcome: "500",
        what: "a 500",
    },
    FaultPage {
        path: "/fault/flaky",
        fault: Fault::Flaky,
        outcome: "200",
        what: "reset twice, then answers (fetched on the third try)",
    },
    FaultPage {
        path: "/fault/te-trailing-comma",
        fault: Fault::Raw(TE_TRAILING_COMMA),
        outcome: "200",
        what: "`Transfer-Encoding: chunked,`: still chunked (its link, split across chunks, is followed)",
    },
    FaultPage {
        path: "/fault/te-empty-line",
        fault: Fault::Raw(TE_EMPTY_LINE),
        outcome: "200",
        what: "`chunked` and then an empty `Transfer-Encoding:` line: still chunked (its link is followed)",
    },
    FaultPage {
        path: "/fault/chunk-ext-tab",
        fault: Fault::Raw(CHUNK_EXT_TAB),
        outcome: "200",
        what: "a tab before a chunk extension's `;`",
    },
    FaultPage {
        path: "/fault/chunk-leading-zeros",
        fault: Fault::Raw(CHUNK_LEADING_ZEROS),
        outcome: "200",
        what: "a chunk size of 19 digits, all but one leading zeros",
    },
    FaultPage {
        path: "/fault/length-list",
        fault: Fault::Raw(LENGTH_LIST),
        outcome: "200",
        what: "`Content-Length: 9, 9`",
    },
    FaultPage {
        path: "/fault/length-overflow",
        fault: Fault::Raw(LENGTH_OVERFLOW),
        outcome: "error:too-large",
        what: "a `Content-Length` beyond 64 bits",
    },
    FaultPage {
        path: "/fault/interim-then-close",
        fault: Fault::Raw(b"HTTP/1.1 100 Continue\r\n\r\n"),
        outcome: "error:truncated",
        what: "`100 Continue`, then a close (not tried again)",
    },
    FaultPage {
        path: "/fault/gzip",
        fault: Fault::Coded(Coding::Gzip),
        outcome: "200",
        what: "`Content-Encoding: gzip` although identity was asked for (decoded, its link is followed)",
    },
    FaultPage {
        path: "/fault/deflate",
        fault: Fault::Coded(Coding::Deflate),
        outcome: "200",
        what: "`Content-Encoding: deflate`, a zlib stream (decoded, its link is followed)",
    },
    FaultPage {
        path: "/fault/raw-deflate",
        fault: Fault::Coded(Coding::RawDeflate),
        outcome: "200",
        what: "`Content-Encoding: deflate`, raw deflate without zlib's wrapper (decoded, its link is followed)",
    },
    FaultPage {
        path: "/fault/te-gzip",
        fault: Fault::Coded(Coding::TransferGzip),
        outcome: "200",
        what: "`Transfer-Encoding: gzip, chunked` (decoded, its link is followed)",
    },
    FaultPage {
        path: "/fault/gzip-bomb",
        fault: Fault::GzipBomb,
        outcome: "error:too-large",
        what: "1 MiB of gzip that inflates to 1 GiB (stopped at --max-body as it inflates)",
    },
    FaultPage {
        path: "/fault/brotli",
        fault: Fault::Raw(BROTLI_PAGE),
        outcome: "error:encoding",
        what: "an HTML page in `Content-Encoding: br`, which the crawler cannot decode",
    },
    FaultPage {
        path: "/fault/bad-gzip",
        fault: Fault::Raw(BAD_GZIP),
        outcome: "error:encoding",
        what: "`Content-Encoding: gzip` over bytes that are not gzip",
    },
    FaultPage {
        path: "/fault/brotli-image",
        fault: Fault::Raw(BROTLI_IMAGE),
        outcome: "200",
        what: "an image in `Content-Encoding: br` (not parsed, so not decoded)",
    },
    FaultPage {
        path: "/fault/latin1",
        fault: Fault::Raw(LATIN1),
        outcome: "200",
        what: "an ISO-8859-1 page (by its Content-Type) linking to `/caf\\xe9` and `?q=caf\\xe9`: read as Latin-1",
    },
    FaultPage {
        path: "/fault/meta-charset",
        fault: Fault::Raw(META_CHARSET),
        outcome: "200",
        what: "a windows-1251 page by its `<meta charset>`, its query encoded in windows-1251",
    },
    FaultPage {
        path: "/fault/meta-http-equiv",
        fault: Fault::Raw(META_HTTP_EQUIV),
        outcome: "200",
        what: "a KOI8-R page by its `<meta http-equiv=Content-Type>`, its query encoded in KOI8-R",
    },
    FaultPage {
        path: "/fault/latin1-location",
        fault: Fault::Raw(LATIN1_LOCATION),
        outcome: "302",
        what: "a `Location` with a raw Latin-1 byte (percent-encoded as it came)",
    },
    FaultPage {
        path: "/fault/xhtml",
        fault: Fault::Raw(XHTML),
        outcome: "200",
        what: "`application/xhtml+xml` (parsed, its link is followed)",
    },
    FaultPage {
        path: "/fault/noscript",
        fault: Fault::Raw(NOSCRIPT),
        outcome: "200",
        what: "a link inside `<noscript>` (followed: the crawler runs no scripts)",
    },
    FaultPage {
        path: "/fault/svg",
        fault: Fault::Raw(SVG),
        outcome: "200",
        what: "an SVG `<a xlink:href>` (followed)",
    },
    FaultPage {
        path: "/fault/userinfo",
        fault: Fault::UserInfo,
        outcome: "200",
        what: "links to the root and a page with user info (`http://anon@…`): the same URLs, no second crawl",
    },
    FaultPage {
        path: "/fault/percent",
        fault: Fault::Raw(PERCENT),
        outcome: "200",
        what: "links to one page as `pc~`, `pc%7e`, `pc%7E` and another as `pc%2fx`, `pc%2Fx`: each fetched once",
    },
    FaultPage {
        path: "/fault/ka/close",
        fault: Fault::AnnouncedClose,
        outcome: "200",
        what: "keep-alive: `Connection: close` on whichever response of its connection it is (the n-th), then the close: not reused",
    },
    FaultPage {
        path: "/fault/ka/unframed",
        fault: Fault::Unframed,
        outcome: "200",
        what: "keep-alive: an HTTP/1.1 body framed by the close alone (the close ends it; not reused)",
    },
    FaultPage {
        path: "/fault/ka/overlong",
        fault: Fault::Overlong,
        outcome: "200",
        what: "keep-alive: more bytes than the `Content-Length`, reading as a 302 to `/trap/smuggled`: not read as the next response (closed)",
    },
    FaultPage {
        path: "/fault/ka/interim",
        fault: Fault::Interim,
        outcome: "200",
        what: "keep-alive: `100 Continue` and `103 Early Hints` before the response (skipped; the connection stays usable)",
    },
    FaultPage {
        path: "/fault/ka/drop",
        fault: Fault::DropAfter,
        outcome: "200",
        what: "keep-alive: a response that keeps the connection, then a silent close (the next request on it is sent again on a new one, not counted as a try)",
    },
];

/// Pages only the TLS site has, linked from its root (a TCP close without `close_notify` is
/// the point of each; over plain http there is no `close_notify` to leave out).
pub const TLS_PAGES: &[FaultPage] = &[
    FaultPage {
        path: "/fault/tls/cut-body",
        fault: Fault::CutBody,
        outcome: "error:truncated",
        what: "TLS: 100 of 1000 bytes of HTML, then a TCP close without `close_notify`",
    },
    FaultPage {
        path: "/fault/tls/cut-eof",
        fault: Fault::CutEof,
        outcome: "error:truncated",
        what: "TLS: HTML framed by the close, cut by a TCP close without `close_notify` (never a whole page)",
    },
    FaultPage {
        path: "/fault/tls/notify-eof",
        fault: Fault::NotifyEof,
        outcome: "200",
        what: "TLS: HTML framed by the close, ended by `close_notify`: whole",
    },
];

/// The TLS site's trip through its plain twin ([`crate::Tls::plain_twin`]): the first is
/// linked from the TLS root, redirects (301) to the second on the twin, which redirects (301)
/// back to the third on the TLS site. A crawl given both roots (the TLS site's and the
/// twin's) follows the whole trip.
pub const BOUNCE_PAGES: &[FaultPage] = &[
    FaultPage {
        path: "/fault/tls/to-plain",
        fault: Fault::ToPlain,
        outcome: "301",
        what: "TLS: a redirect to the plain twin (and from there back)",
    },
    FaultPage {
        path: "/fault/tls/to-tls",
        fault: Fault::ToTls,
        outcome: "301",
        what: "on the plain twin: a redirect back to the TLS site",
    },
    FaultPage {
        path: "/fault/tls/back",
        fault: Fault::Target,
        outcome: "200",
        what: "on the TLS site: where the bounce ends",
    },
];

/// A chunked body with a link split across two chunks, so that reading it with its framing
/// left in gives a wrong URL.
macro_rules! chunked_link_response {
    ($transfer_encoding:literal) => {
        concat!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n",
            $transfer_encoding,
            "Connection: close\r\n\r\n",
            "15\r\n<a href=\"/fault/te-ta\r\nb\r\nrget\">t</a>\r\n0\r\n\r\n"
        )
        .as_bytes()
    };
}

const TE_TRAILING_COMMA: &[u8] = chunked_link_response!("Transfer-Encoding: chunked,\r\n");
const TE_EMPTY_LINE: &[u8] =
    chunked_link_response!("Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n");
const CHUNK_EXT_TAB: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
    Transfer-Encoding: chunked\r\n\r\n9\t;name=value\r\n<p>hi</p>\r\n0\r\n\r\n";
const CHUNK_LEADING_ZEROS: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
    Transfer-Encoding: chunked\r\n\r\n0000000000000000009\r\n<p>hi</p>\r\n0\r\n\r\n";
const LENGTH_LIST: &[u8] =
    b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9, 9\r\n\r\n<p>hi</p>";
const LENGTH_OVERFLOW: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\
    Content-Length: 99999999999999999999999\r\n\r\n<p>hi</p>";

const BROTLI_PAGE: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\
    Content-Encoding: br\r\nContent-Length: 13\r\n\r\n\x0b\x03\x80<p>hi</p>\x03";
const BAD_GZIP: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\
    Content-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xff\xff\xffnot deflate";
const BROTLI_IMAGE: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n\
    Content-Encoding: br\r\nContent-Length: 8\r\n\r\n\x89PNG\r\n\x1a\n";

/// `/caf\xe9` in Latin-1 is `/café`; the third link spells the query's é as an entity.
const LATIN1: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=ISO-8859-1\r\n\r\n\
    <p>caf\xe9 <a href=\"/fault/caf\xe9\">1</a><a href=\"/fault/search?q=caf\xe9\">2</a>\
    <a href=\"/fault/search?q=caf&eacute;\">3</a></p>";
/// "привет" in windows-1251.
const META_CHARSET: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n\
    <html><head><meta charset=\"windows-1251\"></head>\
    <body><a href=\"/fault/search?q=\xef\xf0\xe8\xe2\xe5\xf2\">1</a></body></html>";
/// "привет" in KOI8-R.
const META_HTTP_EQUIV: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n\
    <html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=koi8-r\"></head>\
    <body><a href=\"/fault/search?q=\xd0\xd2\xc9\xd7\xc5\xd4\">1</a></body></html>";
const LATIN1_LOCATION: &[u8] =
    b"HTTP/1.0 302 Found\r\nLocation: /fault/caf\xe9\r\nContent-Length: 0\r\n\r\n";
const XHTML: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: application/xhtml+xml\r\n\r\n\
    <?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><body>\
    <a href=\"/fault/xhtml-target\">t</a></body></html>";
const NOSCRIPT: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n\
    <script>location = '/fault/noscript-target'</script>\
    <noscript><a href=\"/fault/noscript-target\">t</a></noscript>";
const SVG: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n\
    <svg xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"10\" height=\"10\">\
    <a xlink:href=\"/fault/svg-target\"><text y=\"9\">t</text></a></svg>";

/// Links that differ only in their percent-encoding.
const PERCENT: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n\
    <a href=\"pc~\">1</a><a href=\"pc%7e\">2</a><a href=\"pc%7E\">3</a><a href=\"%70c%7e\">4</a>\
    <a href=\"pc%2fx\">5</a><a href=\"pc%2Fx\">6</a>";

/// Pages reached only through other fault pages.
pub const REACHED_PAGES: &[FaultPage] = &[
    FaultPage {
        path: "/fault/utf8-target",
        fault: Fault::Utf8Target,
        outcome: "200",
        what: "linked from the invalid UTF-8 page",
    },
    FaultPage {
        path: "/fault/chunked-target",
        fault: Fault::ChunkedTarget,
        outcome: "200",
        what: "linked from the chunked page",
    },
    FaultPage {
        path: "/fault/caf%C3%A9",
        fault: Fault::Target,
        outcome: "200",
        what: "`/caf\\xe9` on the Latin-1 page: the path is UTF-8",
    },
    FaultPage {
        path: "/fault/search?q=caf%E9",
        fault: Fault::Target,
        outcome: "200",
        what: "`?q=caf\\xe9` and `?q=caf&eacute;` on the Latin-1 page: the query is Latin-1",
    },
    FaultPage {
        path: "/fault/search?q=%EF%F0%E8%E2%E5%F2",
        fault: Fault::Target,
        outcome: "200",
        what: "the windows-1251 page's query",
    },
    FaultPage {
        path: "/fault/search?q=%D0%D2%C9%D7%C5%D4",
        fault: Fault::Target,
        outcome: "200",
        what: "the KOI8-R page's query",
    },
    FaultPage {
        path: "/fault/caf%E9",
        fault: Fault::Target,
        outcome: "200",
        what: "where the Latin-1 `Location` points",
    },
    FaultPage {
        path: "/fault/xhtml-target",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from the XHTML page",
    },
    FaultPage {
        path: "/fault/noscript-target",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from inside `<noscript>`",
    },
    FaultPage {
        path: "/fault/svg-target",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from the SVG link",
    },
    FaultPage {
        path: "/fault/gzip-target",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from the gzip page",
    },
    FaultPage {
        path: "/fault/deflate-target",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from the deflate page",
    },
    FaultPage {
        path: "/fault/raw-deflate-target",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from the raw deflate page",
    },
    FaultPage {
        path: "/fault/te-gzip-target",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from the gzip transfer-coded page",
    },
    FaultPage {
        path: "/fault/te-target",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from the two Transfer-Encoding pages",
    },
    FaultPage {
        path: "/fault/userinfo-target",
        fault: Fault::Target,
        outcome: "200",
        what: "linked with user info from the user-info page",
    },
    FaultPage {
        path: "/fault/pc~",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from the percent page in four spellings",
    },
    FaultPage {
        path: "/fault/pc%2Fx",
        fault: Fault::Target,
        outcome: "200",
        what: "linked from the percent page in two spellings",
    },
];

/// How many MiB the gzip bomb inflates to.
const GZIP_BOMB_MIB: u32 = 1024;

/// The step of the relinked chain that the late page links to: beyond the redirect limit, so
/// reached through the chain it is refused, and through the link it is fetched.
pub const RELINKED_STEP: usize = 11;
/// How late [`Fault::LateLink`] answers.
const LATE_LINK_DELAY: Duration = Duration::from_millis(100);

/// Where the out-of-scope redirect points.
pub const OFFSITE_TARGET: &str = "http://example.invalid/offsite";
/// A link to a port nothing listens on: another origin, so it is skipped, never connected to.
pub const CLOSED_PORT_LINK: &str = "http://127.0.0.1:1/closed-port";
/// Length of the path of the very long link (beyond the crawler's URL limit).
pub const LONG_PATH_LEN: usize = 10_000;

/// The very long link of the root page.
pub fn long_path() -> String {
    format!("/fault/long/{}", "x".repeat(LONG_PATH_LEN))
}

/// The fault served at `path` (without its query), if any.
pub fn route(path: &str) -> Option<Fault> {
    let step = |prefix: &str| {
        let step: usize = path.strip_prefix(prefix)?.parse().ok()?;
        (step <= CHAIN_END).then_some(step)
    };
    if let Some(step) = step("/fault/chain/") {
        return Some(Fault::Chain(step));
    }
    if let Some(step) = step("/fault/relinked/") {
        return Some(Fault::Relinked(step));
    }
    FAULT_PAGES
        .iter()
        .chain(REACHED_PAGES)
        .find(|page| page.path.split('?').next() == Some(path))
        .map(|page| page.fault)
}

/// Every fault URL and its expected outcome, for the manifest (`origin` has no trailing slash).
pub fn manifest_entries(origin: &str, max_redirects: usize) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = FAULT_PAGES
        .iter()
        .chain(REACHED_PAGES)
        .filter(|page| !matches!(page.fault, Fault::Chain(_) | Fault::Relinked(_)))
        .map(|page| (format!("{origin}{}", page.path), page.outcome.to_owned()))
        .collect();
    entries.extend(chain_entries(origin, "chain", None, max_redirects));
    entries.extend(chain_entries(
        origin,
        "relinked",
        Some(RELINKED_STEP),
        max_redirects,
    ));
    entries.push((OFFSITE_TARGET.to_owned(), "error:skipped".to_owned()));
    entries.push((CLOSED_PORT_LINK.to_owned(), "error:skipped".to_owned()));
    entries.push((
        format!("{origin}{}", long_path()),
        "error:too-large".to_owned(),
    ));
    entries
}

/// The steps of the chain `/fault/NAME/…` a crawl meets, with their outcomes: a step is as
/// many redirects away as the fewest on any path to it, from the chain's start (linked from
/// the root) or from the step `linked` (linked from a page), and refused past the limit.
fn chain_entries(
    origin: &str,
    name: &str,
    linked: Option<usize>,
    max_redirects: usize,
) -> Vec<(String, String)> {
    (0..=CHAIN_END)
        .filter_map(|step| {
            let from_link = linked.and_then(|linked| step.checked_sub(linked));
            let redirects = from_link.map_or(step, |from_link| from_link.min(step));
            let outcome = if redirects > max_redirects + 1 {
                // Its predecessor was refused: never reached.
                return None;
            } else if redirects > max_redirects {
                "error:redirect-limit"
            } else if step == CHAIN_END {
                "200"
            } else {
                "302"
            };
            Some((format!("{origin}/fault/{name}/{step}"), outcome.to_owned()))
        })
        .collect()
}

/// The root's links to the fault pages, as HTML.
pub fn root_links() -> String {
    let mut html = String::from("<h2>Faults</h2>\n<ul>\n");
    for page in FAULT_PAGES {
        html.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>\n",
            page.path, page.what
        ));
    }
    html.push_str(&format!(
        "<li><a href=\"{CLOSED_PORT_LINK}\">a closed port</a></li>\n"
    ));
    html.push_str(&format!(
        "<li><a href=\"{}\">a very long URL</a></li>\n</ul>\n",
        long_path()
    ));
    html
}

/// The pages a listener adds to the fault site beyond [`FAULT_PAGES`], by how it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extras {
    /// A plain server: none.
    None,
    /// The TLS site: [`TLS_PAGES`], and with a plain twin the TLS ends of [`BOUNCE_PAGES`].
    Tls {
        /// Whether it has a plain twin.
        twin: bool,
    },
    /// A TLS site's plain twin: the middle of the bounce.
    Twin,
}

impl Extras {
    /// The pages this listener adds.
    fn pages(self) -> impl Iterator<Item = &'static FaultPage> {
        let (tls, bounce): (&[FaultPage], &[FaultPage]) = match self {
            Extras::None => (&[], &[]),
            Extras::Tls { twin: false } => (TLS_PAGES, &[]),
            Extras::Tls { twin: true } => (TLS_PAGES, BOUNCE_PAGES),
            Extras::Twin => (&[], BOUNCE_PAGES),
        };
        let on_twin = self == Extras::Twin;
        tls.iter().chain(
            bounce
                .iter()
                .filter(move |page| (page.fault == Fault::ToTls) == on_twin),
        )
    }

    /// The fault this listener adds at `path`, if any.
    pub(crate) fn route(self, path: &str) -> Option<Fault> {
        self.pages()
            .find(|page| page.path == path)
            .map(|page| page.fault)
    }

    /// The root's links to the pages this listener adds, as HTML: the TLS site links its own
    /// and the start of the bounce, whose other steps are reached through it.
    pub(crate) fn root_links(self) -> String {
        let mut html = String::new();
        let linked = |page: &&FaultPage| !matches!(page.fault, Fault::Target | Fault::ToTls);
        for page in self.pages().filter(linked) {
            html.push_str(&format!(
                "<li><a href=\"{}\">{}</a></li>\n",
                page.path, page.what
            ));
        }
        if html.is_empty() {
            return html;
        }
        format!("<h2>TLS faults</h2>\n<ul>\n{html}</ul>\n")
    }
}

/// The manifest entries of the TLS site's own fault pages at `origin`, and with a plain twin
/// at `twin`, of the bounce through it (`origin` and `twin` without a trailing slash).
pub fn tls_manifest_entries(origin: &str, twin: Option<&str>) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = TLS_PAGES
        .iter()
        .map(|page| (format!("{origin}{}", page.path), page.outcome.to_owned()))
        .collect();
    if let Some(twin) = twin {
        entries.extend(BOUNCE_PAGES.iter().map(|page| {
            let at = if page.fault == Fault::ToTls {
                twin
            } else {
                origin
            };
            (format!("{at}{}", page.path), page.outcome.to_owned())
        }));
    }
    entries
}

/// The longest any fault holds a connection, so the server always lets go by itself.
const HOLD_LIMIT: Duration = Duration::from_secs(120);

/// What a fault needs to know of the listener it misbehaves on.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    /// The listener's origin (`http://host:port` or `https://…`).
    pub(crate) origin: &'a str,
    /// The other end of a TLS site and its plain twin, if any: its origin.
    pub(crate) twin: Option<&'a str>,
    /// The requests for the flaky page so far, on this listener.
    pub(crate) flaky_requests: &'a AtomicU32,
}

/// What is left of the connection after a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// It may carry the next request.
    Keep,
    /// It is closed (or reset, or given up): drop it.
    Closed,
}

/// Misbehaves on `stream` (whose request has been read) as `fault` says; `persist` is what
/// the request and the server's limits allow the response to say about the connection, which
/// the keep-alive faults follow (the others close whatever it says).
pub(crate) async fn serve<S: Stream>(
    stream: &mut S,
    fault: Fault,
    context: &Context<'_>,
    persist: Persist,
) -> Next {
    match fault {
        Fault::ResetBeforeResponse => reset(stream),
        Fault::ResetInHeaders => {
            let _ = send(stream, b"HTTP/1.0 200 OK\r\nContent-Type: text/ht").await;
            pause_then_reset(stream).await
        }
        Fault::ResetInBody => {
            let head =
                b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n";
            let _ = send(stream, head).await;
            let _ = send(stream, &[b'x'; 100]).await;
            pause_then_reset(stream).await
        }
        Fault::Silent => hold(stream).await,
        Fault::HeadThenSilence => {
            let head = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100\r\n\r\n";
            if send(stream, head).await.is_ok() {
                hold(stream).await;
            }
            Next::Closed
        }
        Fault::Drip => {
            let body = "<p>".to_owned() + &"drip ".repeat(40) + "</p>";
            let response = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            for byte in response.bytes() {
                if send(stream, &[byte]).await.is_err() {
                    return Next::Closed;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Next::Closed
        }
        Fault::Garbage => {
            let mut garbage = b"\x00\xffSSH-2.0-OpenSSH_9.6\r\n".to_vec();
            garbage.extend((0..1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
            send_and_close(stream, &garbage).await
        }
        Fault::HugeHeader => {
            let _ = send(stream, b"HTTP/1.0 200 OK\r\nX-Big: ").await;
            let chunk = [b'a'; 64 * 1024];
            for _ in 0..64 {
                if send(stream, &chunk).await.is_err() {
                    return Next::Closed;
                }
            }
            send_and_close(stream, b"\r\n\r\n").await
        }
        Fault::ManyHeaders => {
            let mut head = b"HTTP/1.0 200 OK\r\n".to_vec();
            for i in 0..20_000 {
                head.extend_from_slice(format!("X-Header-{i}: value\r\n").as_bytes());
            }
            head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            send_and_close(stream, &head).await
        }
        Fault::BadContentLength => {
            send_and_close(stream, b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: twelve\r\n\r\nhello world!").await
        }
        Fault::ShortBody => send_and_close(stream, &short_body()).await,
        Fault::BigBody => {
            let head =
                b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1073741824\r\n\r\n";
            stream_until_closed(stream, head, b"<p>big</p>").await
        }
        Fault::EndlessBody => {
            let head = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n";
            stream_until_closed(
                stream,
                head,
                b"<p>endless <a href=\"/fault/endless\">again</a></p>\n",
            )
            .await
        }
        Fault::LoopA => redirect(stream, "/fault/loop-b").await,
        Fault::LoopB => redirect(stream, "/fault/loop-a").await,
        Fault::Chain(n) if n < CHAIN_END => {
            redirect(stream, &format!("/fault/chain/{}", n + 1)).await
        }
        Fault::Relinked(n) if n < CHAIN_END => {
            redirect(stream, &format!("/fault/relinked/{}", n + 1)).await
        }
        Fault::Chain(_) | Fault::Relinked(_) => html(stream, "<p>the end of the chain</p>").await,
        Fault::LateLink => {
            tokio::time::sleep(LATE_LINK_DELAY).await;
            let body = format!("<a href=\"/fault/relinked/{RELINKED_STEP}\">a step</a>");
            html(stream, &body).await
        }
        Fault::Offsite => redirect(stream, OFFSITE_TARGET).await,
        Fault::NoLocation => {
            send_and_close(stream, b"HTTP/1.0 302 Found\r\nContent-Length: 0\r\n\r\n").await
        }
        Fault::Binary => {
            let mut body = b"\x89PNG\r\n\x1a\n\x00\x00<a href=\"/trap/binary\">".to_vec();
            body.extend((0..512u32).map(|i| (i * 7) as u8));
            let mut response = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            response.extend_from_slice(&body);
            send_and_close(stream, &response).await
        }
        Fault::BadUtf8 => {
            let body = b"<html><body>\xff\xfe\xc3\x28 invalid \xe2\x82 UTF-8 <a href=\"/fault/utf8-target\">\xf0\x9f</a></body></html>";
            let mut response = format!("HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
            response.extend_from_slice(body);
            send_and_close(stream, &response).await
        }
        Fault::Utf8Target | Fault::ChunkedTarget | Fault::Target => {
            html(stream, "<p>a target</p>").await
        }
        Fault::Chunked => {
            let response = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                            6\r\n<html>\r\n25\r\n<a href=\"/fault/chunked-target\">t</a>\r\n7\r\n</html>\r\n0\r\n\r\n";
            send_and_close(stream, response.as_bytes()).await
        }
        Fault::BadChunked => {
            let response = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                            zz\r\nhello\r\n0\r\n\r\n";
            send_and_close(stream, response.as_bytes()).await
        }
        Fault::ServerError => {
            send_and_close(stream, b"HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\noops!").await
        }
        Fault::Flaky => {
            if context.flaky_requests.fetch_add(1, Ordering::Relaxed) < 2 {
                reset(stream)
            } else {
                html(stream, "<p>third time lucky</p>").await
            }
        }
        Fault::Raw(response) => send_and_close(stream, response).await,
        Fault::Coded(coding) => {
            let page = format!("<p><a href=\"{}\">target</a></p>", coding.target());
            let (head, body) = match coding {
                Coding::Gzip => ("Content-Encoding: gzip", compress::gzip(page.as_bytes())),
                Coding::Deflate => ("Content-Encoding: deflate", compress::zlib(page.as_bytes())),
                Coding::RawDeflate => (
                    "Content-Encoding: deflate",
                    compress::raw_deflate(page.as_bytes()),
                ),
                Coding::TransferGzip => (
                    "Transfer-Encoding: gzip, chunked",
                    compress::chunked(&compress::gzip(page.as_bytes())),
                ),
            };
            let mut response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{head}\r\nConnection: close\r\n\r\n"
            )
            .into_bytes();
            response.extend_from_slice(&body);
            send_and_close(stream, &response).await
        }
        Fault::GzipBomb => {
            // Delimited by the close, so no Content-Length gives the size away: the crawler
            // learns it only by inflating.
            let mut response =
                b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n"
                    .to_vec();
            response.extend_from_slice(compress::gzip_bomb());
            send_and_close(stream, &response).await
        }
        Fault::UserInfo => {
            let with_user = |user: &str| {
                context
                    .origin
                    .replacen("://", &format!("://{user}@"), 1)
            };
            let body = format!(
                "<a href=\"{}/\">the root</a><a href=\"{}/fault/userinfo-target\">a page</a>",
                with_user("anon"),
                with_user("anon:secret"),
            );
            html(stream, &body).await
        }
        Fault::AnnouncedClose => {
            // The response of a kept connection that says it is the last: HTTP/1.1 (as the
            // request kept the connection), `Connection: close`.
            let last = match persist {
                Persist::Close => Persist::Close,
                Persist::Keep { .. } | Persist::Last => Persist::Last,
            };
            let response = crate::response(200, TEXT, b"the last response here\n", last);
            if send(stream, &response).await.is_err() {
                return Next::Closed;
            }
            crate::finish(stream, last).await
        }
        Fault::Unframed => {
            let version = persist.version();
            let response =
                format!("{version} 200 OK\r\n{TEXT}\r\nframed by the close, and only by it\n");
            send_and_close(stream, response.as_bytes()).await
        }
        Fault::Overlong => {
            let mut response = crate::response(200, TEXT, b"hello\n", persist);
            // One write: the extra bytes arrive with the body's last ones.
            response.extend_from_slice(SMUGGLED);
            if send(stream, &response).await.is_err() {
                return Next::Closed;
            }
            crate::finish(stream, persist).await
        }
        Fault::Interim => {
            let mut response = INTERIM.to_vec();
            response.extend(crate::response(200, TEXT, b"after two interim responses\n", persist));
            if send(stream, &response).await.is_err() {
                return Next::Closed;
            }
            crate::finish(stream, persist).await
        }
        Fault::DropAfter => {
            let response = crate::response(200, TEXT, b"and then the close\n", persist);
            if send(stream, &response).await.is_err() {
                return Next::Closed;
            }
            match persist {
                Persist::Close => crate::finish(stream, persist).await,
                // Said nothing, closes all the same.
                Persist::Keep { .. } | Persist::Last => crate::finish(stream, Persist::Last).await,
            }
        }
        Fault::CutBody => cut(stream, &short_body()).await,
        Fault::CutEof => {
            let response = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n\
                            <p>framed by the close, which never comes whole</p>";
            cut(stream, response.as_bytes()).await
        }
        Fault::NotifyEof => {
            let response = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n\
                            <p>framed by the close, and close_notify says it is whole</p>";
            send_and_close(stream, response.as_bytes()).await
        }
        Fault::ToPlain | Fault::ToTls => {
            let path = if fault == Fault::ToPlain {
                "/fault/tls/to-tls"
            } else {
                "/fault/tls/back"
            };
            match context.twin {
                Some(origin) => {
                    let response = format!(
                        "HTTP/1.0 301 Moved Permanently\r\nLocation: {origin}{path}\r\nContent-Length: 0\r\n\r\n"
                    );
                    send_and_close(stream, response.as_bytes()).await
                }
                // Routed only where there is a twin.
                None => reset(stream),
            }
        }
    }
}

/// 100 bytes of a body of 1000.
fn short_body() -> Vec<u8> {
    let mut response =
        b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n".to_vec();
    response.extend_from_slice(&[b'x'; 100]);
    response
}

/// The keep-alive faults' content type, as a header line.
const TEXT: &str = "Content-Type: text/plain\r\n";

/// What [`Fault::Overlong`] sends after its body: a response of its own, which a client that
/// reads it as the answer to its next request records as a 302 and follows to a trap no
/// manifest lists.
const SMUGGLED: &[u8] =
    b"HTTP/1.1 302 Found\r\nLocation: /trap/smuggled\r\nContent-Length: 0\r\n\r\n";

/// What [`Fault::Interim`] sends before its response.
const INTERIM: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
    HTTP/1.1 103 Early Hints\r\nLink: </trap/hint>; rel=preload\r\n\r\n";

/// Closes with a reset (RST) instead of a clean close: linger on, with a zero timeout (which
/// never blocks, unlike a nonzero linger); the reset goes when the caller drops the stream.
pub(crate) fn reset<S: Stream>(stream: &mut S) -> Next {
    let _ = stream.tcp().set_zero_linger();
    Next::Closed
}

/// Lets what was written leave first, so the reset comes mid-response.
pub(crate) async fn pause_then_reset<S: Stream>(stream: &mut S) -> Next {
    tokio::time::sleep(Duration::from_millis(20)).await;
    reset(stream)
}

/// Keeps the connection open without answering until the client leaves (or the hold limit).
pub(crate) async fn hold<S: AsyncRead + Unpin>(stream: &mut S) -> Next {
    let mut buf = [0; 512];
    let _ = tokio::time::timeout(HOLD_LIMIT, async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    Next::Closed
}

/// Writes `bytes` and sends them on: over TLS, a write may leave records in the session
/// until flushed.
pub(crate) async fn send<S: Stream>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Writes `bytes`, then closes cleanly (over TLS: `close_notify`, then the TCP close).
pub(crate) async fn send_and_close<S: Stream>(stream: &mut S, bytes: &[u8]) -> Next {
    if send(stream, bytes).await.is_ok() {
        let _ = stream.shutdown().await;
    }
    Next::Closed
}

/// Writes `bytes`, then ends the TCP stream without TLS's `close_notify` (over plain http,
/// the same as [`send_and_close`]). A pause first, so the records leave before the end.
async fn cut<S: Stream>(stream: &mut S, bytes: &[u8]) -> Next {
    if send(stream, bytes).await.is_ok() {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = stream.tcp().shutdown().await;
    }
    Next::Closed
}

/// Writes `head`, then `chunk` again and again until the client goes away (or the hold limit).
async fn stream_until_closed<S: Stream>(stream: &mut S, head: &[u8], chunk: &[u8]) -> Next {
    if send(stream, head).await.is_err() {
        return Next::Closed;
    }
    let block = chunk.repeat((16 * 1024 / chunk.len()).max(1));
    let _ = tokio::time::timeout(HOLD_LIMIT, async {
        while send(stream, &block).await.is_ok() {}
    })
    .await;
    Next::Closed
}

async fn redirect<S: Stream>(stream: &mut S, to: &str) -> Next {
    let response = format!("HTTP/1.0 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
    send_and_close(stream, response.as_bytes()).await
}

async fn html<S: Stream>(stream: &mut S, body: &str) -> Next {
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    send_and_close(stream, response.as_bytes()).await
}

/// The compressed bodies of the coded pages.
mod compress {
    use std::{io::Write, sync::OnceLock};

    use flate2::{
        Compress, Compression, Crc, FlushCompress,
        write::{DeflateEncoder, GzEncoder, ZlibEncoder},
    };

    pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(data);
        encoder.finish().unwrap_or_default()
    }

    pub(super) fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        let _ = encoder.write_all(data);
        encoder.finish().unwrap_or_default()
    }

    pub(super) fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        let _ = encoder.write_all(data);
        encoder.finish().unwrap_or_default()
    }

    /// `data` as a chunked body, in chunks of 16 bytes.
    pub(super) fn chunked(data: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for chunk in data.chunks(16) {
            body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
        body
    }

    /// The bomb, built once per process.
    pub(super) fn gzip_bomb() -> &'static [u8] {
        static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
        BOMB.get_or_init(|| zeros_gzip(super::GZIP_BOMB_MIB))
    }

    /// A valid gzip stream of `mib` MiB of zeros, about 1 KiB per MiB, built without
    /// compressing more than one: a MiB compressed from a fresh state refers to nothing
    /// before it, and a sync flush ends it on a byte boundary, so copies of it in a row are
    /// one deflate stream. A final empty block, and the CRC of the whole (combined from the
    /// one MiB's), close it.
    pub(super) fn zeros_gzip(mib: u32) -> Vec<u8> {
        let zeros = vec![0; 1 << 20];
        let mut compress = Compress::new(Compression::best(), false);
        let mut block = Vec::with_capacity(64 * 1024);
        // A MiB of zeros compresses to about 1 KiB, far less than the room given: one call
        // takes all of it.
        let _ = compress.compress_vec(&zeros, &mut block, FlushCompress::Sync);
        let mut one = Crc::new();
        one.update(&zeros);
        let mut crc = Crc::new();
        let mut gzip = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        for _ in 0..mib {
            gzip.extend_from_slice(&block);
            crc.combine(&one);
        }
        // A final block of fixed Huffman codes holding only its end-of-block code.
        gzip.extend_from_slice(&[0x03, 0x00]);
        gzip.extend_from_slice(&crc.sum().to_le_bytes());
        gzip.extend_from_slice(&crc.amount().to_le_bytes());
        gzip
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_gzip_bomb_is_valid_gzip_and_small() {
        let bomb = compress::zeros_gzip(4);
        assert!(bomb.len() < 8 * 1024, "{} bytes", bomb.len());
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&bomb[..])
            .read_to_end(&mut inflated)
            .expect("valid gzip, CRC and length included");
        assert_eq!(inflated.len(), 4 << 20);
        assert!(inflated.iter().all(|&b| b == 0));
    }
}
