//! Attribute values with the character references pages mostly write, decoded without the
//! full tokenizer.
//!
//! A link with a query string is written `/search?q=1&amp;page=2`, or, by hand, `?q=1&page=2`.
//! Each such value is rewritten by the tokenizer, and the scanner used to hand every such tag
//! to `html5gum` (see [`super::reference`]), which sets up a whole tokenizer for it: a page of
//! fifty such links took several times as long to read as the same page without the `&`.
//! [`decode`] reads the common references itself, and declines the rest (another named
//! reference needs the table of 2,231 names, and a number the tokenizer replaces needs the
//! standard's table of replacements): those tags still go to `html5gum`. Both readings are
//! held to one answer by the tests that compare the scanner with `html5gum` on any bytes.
//!
//! What is decoded here, following WHATWG HTML's tokenizer (13.2.5.72, character reference
//! state, and the states after it), in an attribute value:
//! - `&amp;`, `&lt;`, `&gt;`, `&quot;` and `&apos;`, written with their `;`;
//! - `&#NNN;` and `&#xHHH;` with their `;`, for a character that stands for itself (not NUL, a
//!   control, a surrogate, a noncharacter or beyond U+10FFFF, which the tokenizer replaces or
//!   flags);
//! - an `&` that begins no reference: followed by neither a letter, a digit nor `#` (`& `,
//!   `&&`, the end), or followed by letters and digits and then `=`. The latter is the unescaped
//!   query string (`&page=2`): in an attribute value, a name the table matches there is not
//!   decoded when an `=` or an alphanumeric follows it (13.2.5.73), and any match is a prefix
//!   of the letters and digits, so one follows it.

/// `value` as the tokenizer rewrites it, if every `&` in it is one of the kinds above; `None`
/// for anything else, and for a value that holds a NUL or a carriage return (rewritten too,
/// and rare).
pub(super) fn decode(value: &str) -> Option<String> {
    let mut decoded = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find(['&', '\0', '\r']) {
        decoded.push_str(&rest[..at]);
        if rest.as_bytes()[at] != b'&' {
            return None;
        }
        rest = &rest[at + 1..];
        match reference(rest.as_bytes())? {
            Reference::None => decoded.push('&'),
            Reference::Char(char, len) => {
                decoded.push(char);
                rest = &rest[len..];
            }
        }
    }
    decoded.push_str(rest);
    Some(decoded)
}

/// What follows an `&`.
#[derive(Debug, PartialEq, Eq)]
enum Reference {
    /// No reference: the `&` stands for itself, and what follows is read as text.
    None,
    /// A reference to this character, `len` bytes long after the `&`.
    Char(char, usize),
}

/// The reference that `after` (what follows an `&`) begins, if it is one of the kinds this
/// module decodes (see its doc); `None` if the full tokenizer must tell.
fn reference(after: &[u8]) -> Option<Reference> {
    match after.first() {
        Some(b'#') => numeric(&after[1..]).map(|(char, len)| Reference::Char(char, len + 1)),
        Some(byte) if byte.is_ascii_alphanumeric() => {
            let len = after
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            let char = match (&after[..len], after.get(len)) {
                (_, Some(b'=')) => return Some(Reference::None),
                (b"amp", Some(b';')) => '&',
                (b"lt", Some(b';')) => '<',
                (b"gt", Some(b';')) => '>',
                (b"quot", Some(b';')) => '"',
                (b"apos", Some(b';')) => '\'',
                _ => return None,
            };
            Some(Reference::Char(char, len + 1))
        }
        _ => Some(Reference::None),
    }
}

/// After `&#`: a decimal or (after `x` or `X`) hexadecimal number of at most eight digits and
/// its `;`, naming a character that stands for itself; the character, and the bytes taken.
fn numeric(after: &[u8]) -> Option<(char, usize)> {
    let (radix, start) = match after.first() {
        Some(b'x' | b'X') => (16, 1),
        _ => (10, 0),
    };
    let digits = after[start..]
        .iter()
        .take_while(|b| (**b as char).is_digit(radix))
        .count();
    let end = start + digits;
    if digits == 0 || digits > 8 || after.get(end) != Some(&b';') {
        return None;
    }
    let text = std::str::from_utf8(&after[start..end]).ok()?;
    let code = u32::from_str_radix(text, radix).ok()?;
    let stands_for_itself =
        matches!(code, 0x20..=0x7E | 0xA0..=0xFDCF | 0xFDF0..=0x10_FFFF) && code & 0xFFFE != 0xFFFE;
    // Surrogates are no `char`: `from_u32` declines them.
    let char = char::from_u32(code).filter(|_| stands_for_itself)?;
    Some((char, end + 1))
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn the_common_references_are_decoded() {
        for (value, decoded) in [
            ("/q?a=1&amp;b=2", "/q?a=1&b=2"),
            ("&lt;&gt;&quot;&apos;", "<>\"'"),
            ("&#x2F;p&#X2f;1&#47;", "/p/1/"),
            ("&#233;&#x1F600;", "\u{e9}\u{1f600}"),
            ("/q?a=1&b=2&c3=&", "/q?a=1&b=2&c3=&"),
            ("a & b &&amp; c&", "a & b && c&"),
            ("&copy=1&not=2&ampx=3", "&copy=1&not=2&ampx=3"),
        ] {
            assert_eq!(decode(value).as_deref(), Some(decoded), "{value}");
        }
    }

    #[test]
    fn what_needs_the_full_tokenizer_is_declined() {
        for value in [
            "&nbsp;",
            "&AMP;",
            "&amp",
            "&copy",
            "&notin;",
            "&not;x",
            "&#47",
            "&#;",
            "&#x;",
            "&#0;",
            "&#128;",
            "&#x9F;",
            "&#10;",
            "&#x7F;",
            "&#xD800;",
            "&#xFFFE;",
            "&#xFDD0;",
            "&#x110000;",
            "&#000000047;",
            "/a\rb",
            "/a\0b",
        ] {
            assert_eq!(decode(value), None, "{value}");
        }
    }
}
