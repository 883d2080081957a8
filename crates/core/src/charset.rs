//! A page's character encoding, and its bytes in UTF-8 for the link extractor.
//!
//! Decided as a browser decides (WHATWG HTML, "determining the character encoding"): a byte
//! order mark; else the `charset` of the `Content-Type`; else a `<meta charset>` (or
//! `<meta http-equiv="Content-Type" content="…; charset=…">`) in the first 1024 bytes; else
//! UTF-8, which the standard leaves to the locale and nearly every undeclared page today is.
//! Bytes that the encoding cannot decode become U+FFFD, as in a browser.
//!
//! The encoding matters twice: to read the `href`s right (`/caf\xe9` on a Latin-1 page is
//! `/café`), and to encode their queries as the page's browsers would (`?q=café` is `%E9`
//! there; paths are UTF-8 everywhere). See [`crate::urls::resolve`].

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

use crate::links::extract_links;

/// How far into a page a `<meta>` declaration counts (the standard's prescan).
const PRESCAN_BYTES: usize = 1024;

/// `body`'s bytes for the link extractor, and its encoding: decoded to UTF-8, except that a
/// UTF-8 page is left as it came, invalid sequences and all. The extractor reads each value it
/// keeps lossily, which gives what decoding the whole page first would: a sequence that is
/// not UTF-8 ends at the next ASCII byte, every byte that shapes markup is ASCII, and both
/// replace the same bytes with U+FFFD. So a UTF-8 page is not read once more to check it.
pub(crate) fn decode<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
) -> (Cow<'a, [u8]>, &'static Encoding) {
    let (encoding, bom) = Encoding::for_bom(body).unwrap_or_else(|| {
        let declared = content_type
            .and_then(charset_parameter)
            .and_then(|label| label_encoding(label.as_bytes()))
            .or_else(|| prescan(body));
        (declared.unwrap_or(UTF_8), 0)
    });
    let body = &body[bom..];
    if encoding == UTF_8 {
        return (Cow::Borrowed(body), encoding);
    }
    let text = match encoding.decode_without_bom_handling(body).0 {
        Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
    };
    (text, encoding)
}

/// The encoding a label names: `utf-8`, the label of nearly every page, without a look in
/// the table of them all.
fn label_encoding(label: &[u8]) -> Option<&'static Encoding> {
    if label.eq_ignore_ascii_case(b"utf-8") {
        return Some(UTF_8);
    }
    Encoding::for_label(label)
}

/// The `charset` parameter of a media type, unquoted.
fn charset_parameter(content_type: &str) -> Option<&str> {
    let (_, mut rest) = split_once(content_type, b';')?;
    loop {
        let (parameter, next) = match split_once(rest, b';') {
            Some((parameter, next)) => (parameter, Some(next)),
            None => (rest, None),
        };
        if let Some((name, value)) = split_once(parameter, b'=')
            && name.trim().eq_ignore_ascii_case("charset")
        {
            return Some(value.trim().trim_matches('"'));
        }
        rest = next?;
    }
}

/// `text` around its first `byte`, an ASCII byte, which is never inside a UTF-8 sequence: a
/// look at each byte of a header value costs less than setting up a `char` searcher.
fn split_once(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|next| next == byte)?;
    Some((&text[..at], &text[at + 1..]))
}

/// The encoding a `<meta>` near the start of the page declares.
fn prescan(body: &[u8]) -> Option<&'static Encoding> {
    let label = extract_links(&body[..body.len().min(PRESCAN_BYTES)]).charset?;
    let encoding = label_encoding(label.as_bytes())?;
    // The page is read as ASCII to find the declaration, so it cannot be UTF-16, and
    // x-user-defined is read as windows-1252 (the prescan's own rules).
    Some(if encoding == UTF_16BE || encoding == UTF_16LE {
        UTF_8
    } else if encoding == X_USER_DEFINED {
        WINDOWS_1252
    } else {
        encoding
    })
}

/// The label in the `content` of `<meta http-equiv="Content-Type">`: after `charset`,
/// optional spaces, `=` and optional spaces, either quoted or up to a space or `;` (WHATWG
/// HTML, "extracting a character encoding from a meta element").
pub(crate) fn from_meta_content(content: &str) -> Option<&str> {
    let lower = content.to_ascii_lowercase();
    let mut from = 0;
    loop {
        let at = from + lower[from..].find("charset")?;
        from = at + "charset".len();
        let rest = content[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        return match rest.chars().next()? {
            quote @ ('"' | '\'') => rest[1..].split_once(quote).map(|(label, _)| label),
            _ => rest.split([' ', '\t', '\n', '\r', ';']).next(),
        }
        .filter(|label| !label.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoding_of(body: &[u8], content_type: &str) -> &'static str {
        decode(body, Some(content_type)).1.name()
    }

    proptest::proptest! {
        /// The parameter read by bytes is the one `str::split` gives, on media types made of
        /// the characters that decide it, spaces (Unicode ones too) and a letter beyond ASCII.
        #[test]
        fn the_charset_parameter_is_the_one_split_reads(
            content_type in "[;= \t\u{b}\u{a0}\"a-cA-Ct/é]{0,24}(charset|CharSet)?[;= \"a-cé]{0,12}",
        ) {
            let split = content_type.split(';').skip(1).find_map(|parameter| {
                let (name, value) = parameter.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("charset")
                    .then(|| value.trim().trim_matches('"'))
            });
            proptest::prop_assert_eq!(charset_parameter(&content_type), split);
        }
    }

    #[test]
    fn bom_then_content_type_then_meta_then_utf8() {
        let meta = b"<html><head><meta charset=\"koi8-r\"></head>";
        assert_eq!(encoding_of(meta, "text/html"), "KOI8-R");
        assert_eq!(
            encoding_of(meta, "text/html; charset=ISO-8859-1"),
            "windows-1252"
        );
        assert_eq!(
            encoding_of(
                &[b"\xef\xbb\xbf", &meta[..]].concat(),
                "text/html; charset=latin1"
            ),
            "UTF-8"
        );
        assert_eq!(encoding_of(b"<p>caf\xe9</p>", "text/html"), "UTF-8");
        // An unknown label is no declaration.
        assert_eq!(encoding_of(meta, "text/html; charset=klingon"), "KOI8-R");
        let late = [&b" ".repeat(PRESCAN_BYTES)[..], &meta[..]].concat();
        assert_eq!(encoding_of(&late, "text/html"), "UTF-8");
        let equiv =
            b"<meta http-equiv=Content-Type content='text/html; Charset = \"windows-1251\"'>";
        assert_eq!(encoding_of(equiv, "text/html"), "windows-1251");
        let utf16 = b"<meta charset=utf-16le>";
        assert_eq!(encoding_of(utf16, "text/html"), "UTF-8");
    }

    #[test]
    fn pages_are_decoded_to_utf8() {
        let (text, _) = decode(
            b"<a href=\"/caf\xe9\">",
            Some("text/html; charset=\"iso-8859-1\""),
        );
        assert_eq!(&*text, "<a href=\"/café\">".as_bytes());
        let valid = "<a href=\"/café\">".as_bytes();
        assert!(matches!(decode(valid, None).0, Cow::Borrowed(_)));
        // Not checked, not copied: the extractor reads it as decoding would have.
        let invalid = b"<a href=\"/caf\xe9\">";
        assert!(matches!(decode(invalid, None).0, Cow::Borrowed(_)));
    }

    #[test]
    fn meta_content_labels() {
        assert_eq!(from_meta_content("text/html; charset=utf-8"), Some("utf-8"));
        assert_eq!(from_meta_content("text/html;charset='x'y"), Some("x"));
        assert_eq!(
            from_meta_content("charsetcharset = koi8-r;"),
            Some("koi8-r")
        );
        assert_eq!(from_meta_content("text/html"), None);
        assert_eq!(from_meta_content("charset=\"unterminated"), None);
    }
}
