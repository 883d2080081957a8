//! URL identity: how an `href` or a `Location` becomes the one URL the crawler compares,
//! fetches and records.
//!
//! Two spellings of one resource must give one URL, or the seen set fetches it twice. The
//! WHATWG parser of the `url` crate already lowercases the scheme and host, drops the default
//! port, resolves dot segments and percent-encodes what may not appear raw; [`normalize`] adds
//! what it leaves out:
//!
//! - the fragment goes: it is never sent;
//! - the user info goes: `http://anon@host/` is `http://host/` (an origin ignores user info,
//!   the crawler sends no credentials, and keeping it would make every relative link on that
//!   page a new URL: a second crawl of the site, with the credentials in `--urls-out`);
//! - percent-encoding is normalised as RFC 3986 section 6.2.2 says: an encoded unreserved
//!   character is decoded (`%7e` is `~`) and the hex digits of the others are uppercased
//!   (`%2f` is `%2F`). A `%` that starts no escape is left as it came, and an escape is not
//!   decoded when its character would make a new escape with such a `%` (`/%%34%31` is not
//!   `/%41`): normalising twice gives what normalising once gave, so a URL that comes back
//!   in its own normal form is never a new one.
//!
//! Every URL the crawler compares goes through here: the root ([`crate::parse_root`]), links,
//! `<base>` and redirect targets.
//!
//! A link's query is percent-encoded in its page's encoding, as browsers do (its path is
//! UTF-8 whatever the page's encoding, and so is every part of a `Location`).

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8};
use foldhash::HashMap;
use url::{ParseError, Url};

/// Resolves `href`, from a page in `encoding`, against `base` and normalises the result;
/// `None` if it is not a URL.
pub(crate) fn resolve(base: &Url, href: &str, encoding: &'static Encoding) -> Option<Url> {
    // Characters the encoding lacks become `&#NNNN;` before they are percent-encoded, as the
    // URL Standard asks.
    let encode: &dyn Fn(&str) -> Cow<'_, [u8]> = &|text| encoding.encode(text).0;
    let options = Url::options().base_url(Some(base));
    let options = if encoding.output_encoding() == UTF_8 {
        options
    } else {
        options.encoding_override(Some(encode))
    };
    let mut url = options.parse(href).ok()?;
    normalize(&mut url);
    Some(url)
}

/// URLs the crawl wrote as text, parsed back, each origin parsed once.
///
/// The frontier keeps a URL as its text, and a fetch needs it parsed. Most of a full parse
/// is the origin's: an IP address read and written back, a name through IDNA, the port.
/// The text is a [`Url`]'s own serialization, so its path (and query), put on a copy of the
/// origin's [`Url`], give the same [`Url`] for the price of parsing the path alone.
#[derive(Debug, Default)]
pub(crate) struct Reparse {
    /// Each origin met, by its `scheme://host:port` as written: its [`Url`], with no query
    /// or fragment and the path last put on it.
    origins: HashMap<Box<str>, Url>,
}

impl Reparse {
    /// `text`, a serialized [`Url`], as that [`Url`].
    pub(crate) fn parse(&mut self, text: &str) -> Result<Url, ParseError> {
        // The scheme ends at the first `:`; the origin, at the first `/` after its `//`.
        let bytes = text.as_bytes();
        let path_at = memchr::memchr(b':', bytes)
            .filter(|&colon| bytes[colon + 1..].starts_with(b"//"))
            .and_then(|colon| {
                let host_at = colon + 3;
                memchr::memchr(b'/', &bytes[host_at..]).map(|slash| host_at + slash)
            });
        let Some(path_at) = path_at else {
            return Url::parse(text);
        };
        let (origin, path) = text.split_at(path_at);
        // `//x` or `/\x` would be read as a new host: parsed whole.
        if !matches!(path.as_bytes().get(1), Some(b'/' | b'\\')) {
            if let Some(known) = self.origins.get_mut(origin) {
                let url = if memchr::memchr2(b'?', b'#', path.as_bytes()).is_some() {
                    known.join(path)?
                } else {
                    // On the origin's own copy, whose text keeps the room its longest path
                    // took: the path is written without growing it, and the `Url` handed out
                    // is allocated once, to its length.
                    known.set_path(path);
                    known.clone()
                };
                debug_assert_eq!(url.as_str(), text);
                return Ok(url);
            }
        }
        let url = Url::parse(text)?;
        let mut bare = url.clone();
        bare.set_path("/");
        bare.set_query(None);
        bare.set_fragment(None);
        self.origins.insert(origin.into(), bare);
        Ok(url)
    }
}

/// Puts `url` in the one form the crawler compares (see the module's documentation).
pub(crate) fn normalize(url: &mut Url) {
    url.set_fragment(None);
    if !url.username().is_empty() || url.password().is_some() {
        // Only URLs without a host (or `file:`) refuse, and those have no user info.
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    if !url.as_str().contains('%') {
        return;
    }
    if let Some(path) = normalize_percent(url.path()) {
        url.set_path(&path);
    }
    if let Some(query) = url.query().and_then(normalize_percent) {
        url.set_query(Some(&query));
    }
}

/// `text` with encoded unreserved characters decoded and the other escapes' hex uppercased;
/// `None` when nothing changes. An escape whose decoded character would complete a new
/// escape with a stray `%` before it stays an escape (see the module documentation).
fn normalize_percent(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() {
        let escape = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        let Some(byte) = escape else {
            if let Some(out) = &mut out {
                out.push(char::from(bytes[i]));
            }
            i += 1;
            continue;
        };
        let before = out.as_deref().unwrap_or(&text[..i]).as_bytes();
        let normal = if is_unreserved(byte) && !(byte.is_ascii_hexdigit() && dangling(before)) {
            char::from(byte).to_string()
        } else {
            format!("%{byte:02X}")
        };
        if out.is_none() && normal.as_bytes() != &bytes[i..i + 3] {
            out = Some(text[..i].to_owned());
        }
        if let Some(out) = &mut out {
            out.push_str(&normal);
        }
        i += 3;
    }
    out
}

/// Whether `text` ends with a `%` that a hex digit or two more would make an escape: `%` or
/// `%` and one hex digit.
fn dangling(text: &[u8]) -> bool {
    match text {
        [.., b'%'] => true,
        [.., b'%', digit] => digit.is_ascii_hexdigit(),
        _ => false,
    }
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|d| d as u8)
}

/// RFC 3986 section 2.3: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(href: &str) -> String {
        resolved_in(encoding_rs::UTF_8, href)
    }

    fn resolved_in(encoding: &'static Encoding, href: &str) -> String {
        let base = Url::parse("http://127.0.0.1:8000/dir/page").unwrap();
        resolve(&base, href, encoding)
            .map(String::from)
            .unwrap_or_default()
    }

    #[test]
    fn queries_are_encoded_in_the_page_encoding_and_paths_in_utf8() {
        use encoding_rs::{KOI8_R, UTF_16LE, WINDOWS_1252};
        assert_eq!(
            resolved_in(WINDOWS_1252, "/café?q=café&e=€&k=к"),
            "http://127.0.0.1:8000/caf%C3%A9?q=caf%E9&e=%80&k=&%231082;"
        );
        assert_eq!(
            resolved_in(KOI8_R, "/к?q=к"),
            "http://127.0.0.1:8000/%D0%BA?q=%CB"
        );
        // UTF-16 pages' URLs are encoded in UTF-8.
        assert_eq!(
            resolved_in(UTF_16LE, "?q=é"),
            "http://127.0.0.1:8000/dir/page?q=%C3%A9"
        );
    }

    #[test]
    fn user_info_is_dropped() {
        assert_eq!(
            resolved("http://anon@127.0.0.1:8000/"),
            "http://127.0.0.1:8000/"
        );
        assert_eq!(
            resolved("//anon:secret@127.0.0.1:8000/a?b"),
            "http://127.0.0.1:8000/a?b"
        );
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_the_others_uppercased() {
        for href in ["/pc~", "/pc%7e", "/pc%7E", "/p%63~"] {
            assert_eq!(resolved(href), "http://127.0.0.1:8000/pc~", "{href}");
        }
        assert_eq!(
            resolved("/a%2fb%41?q=%2f%7e%5F&r=%c3%a9"),
            "http://127.0.0.1:8000/a%2FbA?q=%2F~_&r=%C3%A9"
        );
        // Not escapes: left as they are.
        assert_eq!(
            resolved("/100%/x%zz%4"),
            "http://127.0.0.1:8000/100%/x%zz%4"
        );
        // An encoded dot segment is a dot segment.
        assert_eq!(resolved("/a/%2E%2e/b"), "http://127.0.0.1:8000/b");
    }

    /// A stray `%` never becomes an escape: `/%%34%31` would be `/%41` (which a server reads
    /// as `/A`) if its escapes were decoded, and that is a URL normalising would change again.
    #[test]
    fn a_stray_percent_makes_no_new_escape() {
        assert_eq!(resolved("/%%34%31"), "http://127.0.0.1:8000/%%341");
        assert_eq!(resolved("/%4%31"), "http://127.0.0.1:8000/%4%31");
        assert_eq!(resolved("/%%7e"), "http://127.0.0.1:8000/%~");
        assert_eq!(
            resolved("?q=%%66%6F"),
            "http://127.0.0.1:8000/dir/page?q=%%66o"
        );
    }

    proptest::proptest! {
        /// Normalising a normal form changes nothing, whatever the path and query.
        #[test]
        fn normalising_twice_is_normalising_once(
            href in "[/a-zA-Z0-9%._~?&=#-]{0,24}|(/|%|%[2-7]|%[2-7][0-9a-fA-F]|[0-9a-fA-F]|\\?|é){0,12}",
        ) {
            let base = Url::parse("http://127.0.0.1:8000/dir/page").unwrap();
            if let Some(once) = resolve(&base, &href, encoding_rs::UTF_8) {
                let twice = resolve(&base, once.as_str(), encoding_rs::UTF_8);
                proptest::prop_assert_eq!(Some(once.as_str()), twice.as_ref().map(Url::as_str));
            }
        }
    }

    #[test]
    fn a_url_parsed_back_from_its_origin_is_the_url_parsed_whole() {
        let mut reparse = Reparse::default();
        let texts = [
            "http://127.0.0.1:8000/",
            "http://127.0.0.1:8000/a/b?q=1&r=%C3%A9",
            "http://127.0.0.1:8000//host-like/path",
            "http://127.0.0.1:8000/%5Cx",
            "http://127.0.0.1:8001/other-port",
            "https://127.0.0.1:8000/other-scheme?",
            "http://[::1]:8000/v6",
            "http://xn--caf-dma.example/caf%C3%A9",
            "http://127.0.0.1:8000/again",
            // The first of its origin with a query and a fragment, which the next must not keep.
            "http://127.0.0.1:8002/q?x=1#f",
            "http://127.0.0.1:8002/plain",
            "http://127.0.0.1:8002/a%2eb/%7E~/@:;=,+$!*'()",
            "http://user:pw@127.0.0.1:8000/with-user-info",
            // A long path, then shorter ones, with a query between: the origin's copy keeps
            // whatever path it was given last, and none of it shows.
            "http://127.0.0.1:8000/a/much/longer/path/than/any/of/the/others/here",
            "http://127.0.0.1:8000/s",
            "http://127.0.0.1:8000/s?q",
            "http://127.0.0.1:8000/t",
        ];
        // Twice each: the first of an origin is parsed whole, the rest against it.
        for text in texts.iter().chain(&texts) {
            let url = reparse.parse(text).unwrap();
            assert_eq!(url, Url::parse(text).unwrap());
            assert_eq!(url.as_str(), *text);
            assert_eq!(url.host(), Url::parse(text).unwrap().host());
        }
        assert_eq!(reparse.origins.len(), 7);
    }

    #[test]
    fn fragments_are_dropped_and_plain_urls_left_alone() {
        assert_eq!(resolved("x#top"), "http://127.0.0.1:8000/dir/x");
        assert_eq!(normalize_percent("/plain/path"), None);
        assert_eq!(normalize_percent("/a%2F"), None);
    }
}
