//! The obvious link extractor: `html5gum`'s full WHATWG tokenizer, an [`Emitter`] that keeps
//! the few attributes that matter, and the same choice of content per element as the
//! scanner's ([`Content::of`]).
//!
//! It reads every byte through the standard's states, so it is several times slower than
//! [`super::extract_links`], and it is the answer that one is held to: the tests and the fuzz
//! target compare the two on arbitrary input. The scanner also hands it the rare tag whose
//! values need the tokenizer's rewriting (character references, NUL, carriage returns).
//!
//! The emitter asks for no error reporting, which spares the tokenizer its per-character
//! validation, and ignores text, comments and doctypes.

use std::{borrow::Cow, convert::Infallible, mem};

use html5gum::{Emitter, Error, State, Tokenizer};

use super::{Content, Links, meta_charset};

/// What [`super::extract_links`] answers, by `html5gum`'s tokenizer: the same [`Links`] for
/// any bytes, several times slower.
pub fn extract_links_html5gum(html: &[u8]) -> Links<'static> {
    let mut emitter = LinkEmitter::default();
    // The emitter collects everything, so running the tokenizer to its end is all that is
    // left. Its items are uninhabited: a slice cannot fail to read, the emitter yields nothing.
    Tokenizer::new_with_emitter(html, &mut emitter).for_each(drop);
    emitter.links
}

/// Collects the `href` of `<a>`, `<area>` and `<base>` start tags, and the charset of
/// `<meta>`, as the tokenizer reads them.
#[derive(Default)]
struct LinkEmitter {
    links: Links<'static>,
    /// Name of the tag being read.
    tag: Vec<u8>,
    /// Whether it is an end tag.
    end_tag: bool,
    /// Name of the last start tag, to recognise the end of `<script>`, `<style>`, ….
    last_start_tag: Vec<u8>,
    /// The attributes of the tag being read that matter, each the first of its name.
    attributes: Attributes,
    attribute_name: Vec<u8>,
    attribute_value: Vec<u8>,
    in_attribute: bool,
}

/// The attributes a crawler reads; the first of each name counts, as in a browser.
#[derive(Default)]
struct Attributes {
    href: Option<Vec<u8>>,
    /// SVG 1.1's link attribute, which `href` replaces in SVG 2.
    xlink_href: Option<Vec<u8>>,
    charset: Option<Vec<u8>>,
    http_equiv: Option<Vec<u8>>,
    content: Option<Vec<u8>>,
}

impl LinkEmitter {
    /// The attribute being read is complete: keep it if it matters and is the first of its
    /// name.
    fn end_attribute(&mut self) {
        if !mem::take(&mut self.in_attribute) || self.end_tag {
            return;
        }
        let attributes = &mut self.attributes;
        let slot = match self.attribute_name.as_slice() {
            b"href" => &mut attributes.href,
            b"xlink:href" => &mut attributes.xlink_href,
            b"charset" => &mut attributes.charset,
            b"http-equiv" => &mut attributes.http_equiv,
            b"content" => &mut attributes.content,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(mem::take(&mut self.attribute_value));
        }
    }
}

impl Emitter for &mut LinkEmitter {
    type Token = Infallible;

    fn set_last_start_tag(&mut self, last_start_tag: Option<&[u8]>) {
        self.last_start_tag.clear();
        self.last_start_tag
            .extend_from_slice(last_start_tag.unwrap_or_default());
    }

    fn emit_eof(&mut self) {}

    fn emit_error(&mut self, _: Error) {}

    fn should_emit_errors(&mut self) -> bool {
        false
    }

    fn pop_token(&mut self) -> Option<Infallible> {
        None
    }

    fn emit_string(&mut self, _: &[u8]) {}

    fn init_start_tag(&mut self) {
        self.tag.clear();
        self.end_tag = false;
        self.attributes = Attributes::default();
        self.in_attribute = false;
    }

    fn init_end_tag(&mut self) {
        self.init_start_tag();
        self.end_tag = true;
    }

    fn init_comment(&mut self) {}

    fn emit_current_tag(&mut self) -> Option<State> {
        self.end_attribute();
        if self.end_tag {
            return None;
        }
        self.last_start_tag.clone_from(&self.tag);
        let attributes = mem::take(&mut self.attributes);
        // The page was decoded to UTF-8, so the value's own buffer becomes the `String`;
        // entities the tokenizer decoded cannot make it invalid, but should anything, the
        // bytes are read lossily.
        let text = |value: Vec<u8>| {
            Cow::Owned(
                String::from_utf8(value)
                    .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()),
            )
        };
        match self.tag.as_slice() {
            // An SVG `<a>` may link with `xlink:href`; `href` wins where both are given.
            b"a" => {
                if let Some(href) = attributes.href.or(attributes.xlink_href) {
                    self.links.hrefs.push(text(href));
                }
            }
            b"area" => {
                if let Some(href) = attributes.href {
                    self.links.hrefs.push(text(href));
                }
            }
            b"base" if self.links.base.is_none() => self.links.base = attributes.href.map(text),
            b"meta" if self.links.charset.is_none() => {
                self.links.charset = meta_charset(
                    attributes.charset.map(text),
                    attributes.http_equiv.map(text),
                    attributes.content.map(text),
                );
            }
            _ => {}
        }
        match Content::of(&self.tag) {
            Content::Markup => None,
            Content::RawText => Some(State::RawText),
            Content::Script => Some(State::ScriptData),
            Content::PlainText => Some(State::PlainText),
        }
    }

    fn emit_current_comment(&mut self) {}

    fn emit_current_doctype(&mut self) {}

    fn set_self_closing(&mut self) {}

    fn set_force_quirks(&mut self) {}

    fn push_tag_name(&mut self, s: &[u8]) {
        self.tag.extend_from_slice(s);
    }

    fn push_comment(&mut self, _: &[u8]) {}

    fn push_doctype_name(&mut self, _: &[u8]) {}

    fn init_doctype(&mut self) {}

    fn init_attribute(&mut self) {
        self.end_attribute();
        self.attribute_name.clear();
        self.attribute_value.clear();
        self.in_attribute = true;
    }

    fn push_attribute_name(&mut self, s: &[u8]) {
        self.attribute_name.extend_from_slice(s);
    }

    fn push_attribute_value(&mut self, s: &[u8]) {
        self.attribute_value.extend_from_slice(s);
    }

    fn set_doctype_public_identifier(&mut self, _: &[u8]) {}

    fn set_doctype_system_identifier(&mut self, _: &[u8]) {}

    fn push_doctype_public_identifier(&mut self, _: &[u8]) {}

    fn push_doctype_system_identifier(&mut self, _: &[u8]) {}

    fn current_is_appropriate_end_tag_token(&mut self) -> bool {
        self.end_tag && !self.last_start_tag.is_empty() && self.tag == self.last_start_tag
    }
}
