//! Link extraction from HTML, by the tokenizer's rules rather than a regular expression.
//!
//! A crawler needs few of the WHATWG tokenizer's answers: where each tag starts and ends, the
//! names of start tags, and the values of a handful of attributes (`href`, SVG's `xlink:href`,
//! and `<meta>`'s charset). It needs them exactly, though: `<a href="/x">` inside a comment, a
//! `<script>` or a quoted attribute value is no link, and `>` inside quotes ends no tag. So
//! [`extract_links`] follows the standard's states, but only as far as they decide those
//! answers. Text, comments and doctypes are skipped to the byte that ends them (`memchr`
//! finds it), and the links are borrowed from the page: nothing is allocated but the list.
//! What the states do beyond that (character references in text, errors, the exact text of
//! a comment) changes nothing a crawler reads, and is not done.
//!
//! One thing a link needs and the states above do not give: a value with a character
//! reference in it (`&amp;`), a NUL or a carriage return is rewritten by the tokenizer
//! (decoded, U+FFFD, a line feed). The references pages mostly write (`&amp;`, `&#x2F;`, an
//! `&` in a query string that begins none) are decoded here ([`char_refs`]); for the rare
//! tags with others the tag alone is handed to `html5gum`'s full tokenizer, which holds the
//! table of 2,231 named references ([`reference`]).
//!
//! `<script>`, `<style>`, `<title>` and the other raw-text elements are raw text only if the
//! tokenizer is told so after their start tag; a tree builder would do that, and [`Content::of`]
//! does the same from the tag name, which is all a crawler needs. `<noscript>` is read as
//! markup, as a browser without scripts reads it.
//!
//! [`reference::extract_links_html5gum`] reads a whole page with `html5gum` and the same
//! rules. It is the slow and obvious answer, and the tests and the fuzz target hold this one
//! to it on arbitrary input.
//!
//! The crawler hands over a page in another encoding decoded to UTF-8 (see
//! [`crate::charset`]), so that entities and raw bytes end up in one encoding; a UTF-8 page
//! comes as it was sent, and its values are read lossily.

mod char_refs;
pub(crate) mod reference;

use std::borrow::Cow;

use memchr::{memchr, memchr2};

use crate::utf8_lossy;

/// What a page links to, before resolution against the page's URL: borrowed from the page
/// where the page spells it out, owned where the tokenizer rewrote it (a character reference,
/// bytes that are not UTF-8).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Links<'a> {
    /// The `href` of the first `<base>` element that has one.
    pub base: Option<Cow<'a, str>>,
    /// The `href` of every `<a>` and `<area>`, in document order, duplicates kept.
    pub hrefs: Vec<Cow<'a, str>>,
    /// The encoding label of the first `<meta>` that declares one, known to the Encoding
    /// Standard or not: `<meta charset=…>` or `<meta http-equiv=content-type content=…>`.
    pub charset: Option<Cow<'a, str>>,
}

/// Extracts the `href`s of a document. Never fails: any bytes give some (maybe empty) answer.
///
/// Bytes that are not UTF-8 are decoded lossily, as a browser does with a wrong charset.
pub fn extract_links(html: &[u8]) -> Links<'_> {
    let mut scanner = Scanner {
        html,
        at: 0,
        links: Links::default(),
    };
    // `None` is the end of the input, wherever it came: nothing is left to read.
    let _ = scanner.data();
    scanner.links
}

/// How the tokenizer reads what follows a start tag: the tree builder's choice for the
/// element, made from its name alone (WHATWG HTML, "parsing elements that contain only text").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Content {
    /// Markup: tags, comments, text (the data state).
    Markup,
    /// Text up to the element's own end tag (`<title>` and `<textarea>` decode character
    /// references in it, which changes nothing here).
    RawText,
    /// `<script>`: raw text, except that `<!--` … `<script>` may hide a `</script>`.
    Script,
    /// `<plaintext>`: the rest of the page is text.
    PlainText,
}

impl Content {
    /// How the content of a start tag of this name is read (the name as written; ASCII case is
    /// ignored, as the tokenizer lowers it).
    pub(crate) fn of(name: &[u8]) -> Content {
        // By length first: every start tag asks, and most names are none of these.
        let is = |raw: &[u8]| name.eq_ignore_ascii_case(raw);
        match name.len() {
            3 if is(b"xmp") => Content::RawText,
            5 if is(b"title") || is(b"style") => Content::RawText,
            6 if is(b"script") => Content::Script,
            6 if is(b"iframe") => Content::RawText,
            7 if is(b"noembed") => Content::RawText,
            8 if is(b"textarea") || is(b"noframes") => Content::RawText,
            9 if is(b"plaintext") => Content::PlainText,
            // `<noscript>` too: a crawler runs no scripts.
            _ => Content::Markup,
        }
    }
}

/// Whitespace between a tag's parts: tab, line feed, form feed, space, and carriage return,
/// which the input stream turns into a line feed.
fn is_space(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// What ends a tag's name, or an attribute's name without a value.
fn ends_name(byte: u8) -> bool {
    is_space(byte) || byte == b'/' || byte == b'>'
}

/// The attributes of a start tag that a crawler reads, borrowed from the page (`V` is
/// `&[u8]`) or decoded ([`Attributes::decoded`]); the first of each name counts, as in a
/// browser.
#[derive(Default)]
struct Attributes<V> {
    href: Option<V>,
    /// SVG 1.1's link attribute, which `href` replaces in SVG 2.
    xlink_href: Option<V>,
    charset: Option<V>,
    http_equiv: Option<V>,
    content: Option<V>,
    /// Whether a value kept above is not its own text: it holds a character reference, a NUL
    /// or a carriage return, which the tokenizer rewrites.
    rewritten: bool,
}

impl<'a> Attributes<&'a [u8]> {
    /// Keeps the attribute if its name is one of ours and the first of that name.
    fn keep(&mut self, name: &[u8], value: &'a [u8]) {
        let slot = if name.eq_ignore_ascii_case(b"href") {
            &mut self.href
        } else if name.eq_ignore_ascii_case(b"xlink:href") {
            &mut self.xlink_href
        } else if name.eq_ignore_ascii_case(b"charset") {
            &mut self.charset
        } else if name.eq_ignore_ascii_case(b"http-equiv") {
            &mut self.http_equiv
        } else if name.eq_ignore_ascii_case(b"content") {
            &mut self.content
        } else {
            return;
        };
        if slot.is_none() {
            *slot = Some(value);
            // A value is short: a look at each byte costs less than a search's setup.
            self.rewritten |= value
                .iter()
                .any(|&byte| matches!(byte, b'&' | b'\0' | b'\r'));
        }
    }

    /// The values as the tokenizer rewrites them, where [`char_refs::decode`] can tell for
    /// each; `None` if one needs the full tokenizer, or is not UTF-8.
    fn decoded(&self) -> Option<Attributes<String>> {
        let decode = |value: Option<&[u8]>| match value {
            Some(value) => char_refs::decode(std::str::from_utf8(value).ok()?).map(Some),
            None => Some(None),
        };
        Some(Attributes {
            href: decode(self.href)?,
            xlink_href: decode(self.xlink_href)?,
            charset: decode(self.charset)?,
            http_equiv: decode(self.http_equiv)?,
            content: decode(self.content)?,
            rewritten: false,
        })
    }
}

/// A value [`keep`] keeps: the page's bytes, read lossily, or a decoded value.
trait Value<'a> {
    fn text(self) -> Cow<'a, str>;
}

impl<'a> Value<'a> for &'a [u8] {
    fn text(self) -> Cow<'a, str> {
        utf8_lossy(self)
    }
}

impl<'a> Value<'a> for String {
    fn text(self) -> Cow<'a, str> {
        Cow::Owned(self)
    }
}

/// The start tags whose attributes a crawler reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Linking {
    A,
    Area,
    Base,
    Meta,
}

impl Linking {
    fn of(name: &[u8]) -> Option<Linking> {
        let is = |tag: &[u8]| name.eq_ignore_ascii_case(tag);
        match name.len() {
            1 if is(b"a") => Some(Linking::A),
            4 if is(b"area") => Some(Linking::Area),
            4 if is(b"base") => Some(Linking::Base),
            4 if is(b"meta") => Some(Linking::Meta),
            _ => None,
        }
    }
}

/// Keeps in `links` what a start tag of ours links to, or declares.
fn keep<'a, V: Value<'a>>(links: &mut Links<'a>, linking: Linking, attributes: Attributes<V>) {
    match linking {
        // An SVG `<a>` may link with `xlink:href`; `href` wins where both are given.
        Linking::A => {
            if let Some(href) = attributes.href.or(attributes.xlink_href) {
                links.hrefs.push(href.text());
            }
        }
        Linking::Area => {
            if let Some(href) = attributes.href {
                links.hrefs.push(href.text());
            }
        }
        Linking::Base => {
            if links.base.is_none() {
                links.base = attributes.href.map(Value::text);
            }
        }
        Linking::Meta => {
            if links.charset.is_none() {
                links.charset = meta_charset(
                    attributes.charset.map(Value::text),
                    attributes.http_equiv.map(Value::text),
                    attributes.content.map(Value::text),
                );
            }
        }
    }
}

/// The tokenizer's states that matter, over a page held whole. Each method starts where its
/// state starts and returns `None` where the input ends, which ends the page's reading: a tag
/// cut by the end is dropped, as the tokenizer drops it.
struct Scanner<'a> {
    html: &'a [u8],
    /// The next byte to read.
    at: usize,
    links: Links<'a>,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.html.get(self.at).copied()
    }

    /// Moves past the next `byte`.
    fn skip_past(&mut self, byte: u8) -> Option<()> {
        let rest = &self.html[self.at..];
        // Tags mostly follow each other within a few bytes (`</a></li>`), where a look at
        // them costs less than a call that sets up to search far.
        let found = match rest.iter().take(8).position(|&next| next == byte) {
            Some(found) => found,
            None => memchr(byte, rest)?,
        };
        self.at += found + 1;
        Some(())
    }

    /// Moves past bytes while `more` holds; the end of input ends the tag being read.
    fn skip_while(&mut self, more: impl Fn(u8) -> bool) -> Option<&'a [u8]> {
        let html = self.html;
        let start = self.at;
        while more(*html.get(self.at)?) {
            self.at += 1;
        }
        Some(&html[start..self.at])
    }

    /// Moves past ASCII letters, and returns them (a tag name in raw text or script data).
    fn letters(&mut self) -> &'a [u8] {
        let html = self.html;
        let start = self.at;
        let len = html[start..]
            .iter()
            .take_while(|byte| byte.is_ascii_alphabetic())
            .count();
        self.at += len;
        &html[start..self.at]
    }

    /// The data state: text up to a `<`, then what the `<` opens.
    fn data(&mut self) -> Option<()> {
        loop {
            self.skip_past(b'<')?;
            let lt = self.at - 1;
            match self.peek()? {
                b'!' => {
                    self.at += 1;
                    self.markup_declaration()?;
                }
                b'/' => {
                    self.at += 1;
                    self.end_tag_open()?;
                }
                byte if byte.is_ascii_alphabetic() => self.start_tag(lt)?,
                // `<?xml …>`: a bogus comment, to the next `>`.
                b'?' => self.skip_past(b'>')?,
                // A `<` that opens nothing is text.
                _ => {}
            }
        }
    }

    /// After `<!`: a comment, or else a doctype, a CDATA section outside foreign content or
    /// a bogus comment, all of which end at the next `>`.
    fn markup_declaration(&mut self) -> Option<()> {
        if !self.html[self.at..].starts_with(b"--") {
            return self.skip_past(b'>');
        }
        self.at += 2;
        // `<!-->` and `<!--->` end where they start.
        for empty in [&b">"[..], b"->"] {
            if self.html[self.at..].starts_with(empty) {
                self.at += empty.len();
                return Some(());
            }
        }
        // Otherwise the first `-->` or `--!>`, any number of dashes before the `>` or `!>`.
        loop {
            // The next `--`: a dash, and a dash after it (a searcher made for each comment
            // would cost more than these comments are long).
            self.at += memchr(b'-', &self.html[self.at..])? + 1;
            if self.html.get(self.at) != Some(&b'-') {
                continue;
            }
            self.at += 1;
            self.skip_while(|byte| byte == b'-')?;
            match self.html[self.at..] {
                [b'>', ..] => {
                    self.at += 1;
                    return Some(());
                }
                [b'!', b'>', ..] => {
                    self.at += 2;
                    return Some(());
                }
                _ => {}
            }
        }
    }

    /// After `</`: an end tag, nothing (`</>`), or a bogus comment.
    fn end_tag_open(&mut self) -> Option<()> {
        match self.peek()? {
            b'>' => {
                self.at += 1;
                Some(())
            }
            byte if byte.is_ascii_alphabetic() => {
                self.skip_while(|byte| !ends_name(byte))?;
                self.end_of_tag(None)
            }
            _ => self.skip_past(b'>'),
        }
    }

    /// A start tag from its name (`lt` is its `<`), then its content.
    fn start_tag(&mut self, lt: usize) -> Option<()> {
        let name = self.skip_while(|byte| !ends_name(byte))?;
        let linking = Linking::of(name);
        let mut attributes = Attributes::default();
        self.end_of_tag(linking.is_some().then_some(&mut attributes))?;
        if let Some(linking) = linking {
            if attributes.rewritten {
                let html = self.html;
                self.rewritten(linking, &attributes, &html[lt..self.at]);
            } else {
                keep(&mut self.links, linking, attributes);
            }
        }
        match Content::of(name) {
            Content::Markup => Some(()),
            Content::RawText => self.raw_text(name),
            Content::Script => self.script_data(),
            Content::PlainText => None,
        }
    }

    /// What follows a tag's name: its `>` at once (most tags), or [`Scanner::attributes`].
    #[inline]
    fn end_of_tag(&mut self, keep: Option<&mut Attributes<&'a [u8]>>) -> Option<()> {
        if self.peek()? == b'>' {
            self.at += 1;
            Some(())
        } else {
            self.attributes(keep)
        }
    }

    /// A tag's attributes up to its `>`, from the state before an attribute's name; `keep`
    /// collects those of ours. A `/` before the `>` (or anywhere between attributes) changes
    /// nothing here.
    fn attributes(&mut self, mut keep: Option<&mut Attributes<&'a [u8]>>) -> Option<()> {
        loop {
            self.skip_while(is_space)?;
            match self.peek()? {
                b'/' => {
                    self.at += 1;
                    continue;
                }
                b'>' => {
                    self.at += 1;
                    return Some(());
                }
                _ => {}
            }
            // A name's first character is part of it, even a `=`.
            let start = self.at;
            self.at += 1;
            self.skip_while(|byte| !ends_name(byte) && byte != b'=')?;
            let name = &self.html[start..self.at];
            self.skip_while(is_space)?;
            let value = if self.peek()? == b'=' {
                self.at += 1;
                self.skip_while(is_space)?;
                self.attribute_value()?
            } else {
                // No value: an empty one. What follows is read as before a name.
                b""
            };
            if let Some(keep) = keep.as_deref_mut() {
                keep.keep(name, value);
            }
        }
    }

    /// An attribute's value, quoted or not, as the page writes it. A `>` where the value
    /// should start leaves it empty and ends the tag.
    fn attribute_value(&mut self) -> Option<&'a [u8]> {
        let html = self.html;
        match self.peek()? {
            quote @ (b'"' | b'\'') => {
                let start = self.at + 1;
                let len = memchr(quote, &html[start..])?;
                self.at = start + len + 1;
                Some(&html[start..start + len])
            }
            b'>' => Some(b""),
            _ => self.skip_while(|byte| !is_space(byte) && byte != b'>'),
        }
    }

    /// A start tag of ours whose values the tokenizer rewrites: its values decoded, or, with
    /// a reference [`char_refs`] leaves to the full tokenizer, the tag alone read by it (its
    /// reading does not depend on what came before a start tag's `<`).
    fn rewritten(&mut self, linking: Linking, attributes: &Attributes<&'a [u8]>, tag: &[u8]) {
        if let Some(decoded) = attributes.decoded() {
            keep(&mut self.links, linking, decoded);
            return;
        }
        let found = reference::extract_links_html5gum(tag);
        self.links.hrefs.extend(found.hrefs);
        if self.links.base.is_none() {
            self.links.base = found.base;
        }
        if self.links.charset.is_none() {
            self.links.charset = found.charset;
        }
    }

    /// After `<` in raw text or script data: whether `/NAME` and a space, `/` or `>` follow,
    /// NAME that of the element (its end tag, read to its `>`). Otherwise reading goes on
    /// from the first byte that is not part of a tag name.
    fn end_tag(&mut self, name: &[u8]) -> Option<bool> {
        if self.peek()? != b'/' {
            return Some(false);
        }
        self.at += 1;
        let letters = self.letters();
        if !(ends_name(self.peek()?) && letters.eq_ignore_ascii_case(name)) {
            return Some(false);
        }
        self.end_of_tag(None)?;
        Some(true)
    }

    /// The content of `<title>`, `<style>`, …: text up to the element's end tag.
    fn raw_text(&mut self, name: &[u8]) -> Option<()> {
        loop {
            self.skip_past(b'<')?;
            if self.end_tag(name)? {
                return Some(());
            }
        }
    }

    /// The content of `<script>`, up to its end tag. Past `<!--` it is "escaped": a
    /// `<script` there opens a "double escaped" stretch, in which `</script>` ends only that
    /// stretch, and `-->` ends both.
    fn script_data(&mut self) -> Option<()> {
        let mut state = Script::Plain;
        loop {
            state = match state {
                Script::Plain => {
                    self.skip_past(b'<')?;
                    match self.peek()? {
                        b'/' if self.end_tag(b"script")? => return Some(()),
                        b'!' if self.html[self.at..].starts_with(b"!--") => {
                            self.at += 3;
                            Script::EscapedDashDash
                        }
                        _ => Script::Plain,
                    }
                }
                Script::Escaped => {
                    self.at += memchr2(b'-', b'<', &self.html[self.at..])?;
                    match self.next()? {
                        b'-' => Script::EscapedDash,
                        _ => self.escaped_less_than()?,
                    }
                }
                Script::EscapedDash | Script::EscapedDashDash => match self.next()? {
                    b'-' => Script::EscapedDashDash,
                    b'<' => self.escaped_less_than()?,
                    b'>' if state == Script::EscapedDashDash => Script::Plain,
                    _ => Script::Escaped,
                },
                Script::DoubleEscaped => {
                    self.at += memchr2(b'-', b'<', &self.html[self.at..])?;
                    match self.next()? {
                        b'-' => Script::DoubleEscapedDash,
                        _ => self.double_escaped_less_than()?,
                    }
                }
                Script::DoubleEscapedDash | Script::DoubleEscapedDashDash => match self.next()? {
                    b'-' => Script::DoubleEscapedDashDash,
                    b'<' => self.double_escaped_less_than()?,
                    b'>' if state == Script::DoubleEscapedDashDash => Script::Plain,
                    _ => Script::DoubleEscaped,
                },
                Script::Ended => return Some(()),
            };
        }
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    /// After `<` in escaped script data: the script's end tag, `<script` and a space, `/`
    /// or `>` (double escaped), or more escaped text.
    fn escaped_less_than(&mut self) -> Option<Script> {
        if self.end_tag(b"script")? {
            return Some(Script::Ended);
        }
        // Past a `/` and its letters, the next byte is no letter: escaped text again.
        let letters = self.letters();
        let script = ends_name(self.peek()?) && letters.eq_ignore_ascii_case(b"script");
        Some(if script {
            Script::DoubleEscaped
        } else {
            Script::Escaped
        })
    }

    /// After `<` in double escaped script data: `</script` and a space, `/` or `>` go back
    /// to escaped; anything else stays double escaped.
    fn double_escaped_less_than(&mut self) -> Option<Script> {
        if self.peek()? != b'/' {
            return Some(Script::DoubleEscaped);
        }
        self.at += 1;
        let letters = self.letters();
        let script = ends_name(self.peek()?) && letters.eq_ignore_ascii_case(b"script");
        Some(if script {
            Script::Escaped
        } else {
            Script::DoubleEscaped
        })
    }
}

/// Where script data is (the tokenizer's script states that change what ends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Plain,
    Escaped,
    EscapedDash,
    EscapedDashDash,
    DoubleEscaped,
    DoubleEscapedDash,
    DoubleEscapedDashDash,
    /// Its end tag has been read.
    Ended,
}

/// The label a `<meta>` declares: `charset`, or `http-equiv=content-type` with a `content`
/// that names one; trimmed, and none if empty.
pub(crate) fn meta_charset<'a>(
    charset: Option<Cow<'a, str>>,
    http_equiv: Option<Cow<'a, str>>,
    content: Option<Cow<'a, str>>,
) -> Option<Cow<'a, str>> {
    let trimmed = |value: Cow<'a, str>| match value {
        Cow::Borrowed(value) => Cow::Borrowed(value.trim()),
        Cow::Owned(value) => Cow::Owned(value.trim().to_owned()),
    };
    let label = match (charset, http_equiv, content) {
        (Some(charset), _, _) => Some(trimmed(charset)),
        (None, Some(http_equiv), Some(content))
            if http_equiv.trim().eq_ignore_ascii_case("content-type") =>
        {
            match trimmed(content) {
                Cow::Borrowed(content) => {
                    crate::charset::from_meta_content(content).map(Cow::Borrowed)
                }
                Cow::Owned(content) => crate::charset::from_meta_content(&content)
                    .map(|label| Cow::Owned(label.to_owned())),
            }
        }
        _ => None,
    };
    label.filter(|label| !label.is_empty())
}

#[cfg(test)]
mod tests;
