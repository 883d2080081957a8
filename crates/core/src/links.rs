//! Link extraction from HTML, with a real tokenizer rather than a regular expression.
//!
//! The WHATWG tokenizer in `html5gum` decodes entities in attribute values and never reports
//! tags inside comments. `<script>` and `<style>` are raw text only if the tokenizer is told
//! so after their start tag; a tree builder would do that, and `naive_next_state` does the
//! same from the tag name, which is all a crawler needs.
//!
//! The tokenizer reports what it reads to an [`Emitter`]; ours keeps only the tag name and the
//! few attributes that matter (`href`, SVG's `xlink:href`, and `<meta>`'s charset), ignores
//! text, comments and doctypes, and asks for no error reporting, which spares the tokenizer
//! its per-character validation.
//!
//! The crawler hands it the page already decoded to UTF-8 (see [`crate::charset`]), so that
//! entities and raw bytes end up in one encoding. `<noscript>` is read as markup, as a
//! browser without scripts reads it.

use std::{convert::Infallible, mem};

use html5gum::{Emitter, Error, State, Tokenizer, naive_next_state};

/// What a page links to, before resolution against the page's URL.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Links {
    /// The `href` of the first `<base>` element that has one.
    pub base: Option<String>,
    /// The `href` of every `<a>` and `<area>`, in document order, duplicates kept.
    pub hrefs: Vec<String>,
    /// The encoding label of the first `<meta>` that declares one, known to the Encoding
    /// Standard or not: `<meta charset=…>` or `<meta http-equiv=content-type content=…>`.
    pub charset: Option<String>,
}

/// Extracts the `href`s of a document. Never fails: any bytes give some (maybe empty) answer.
///
/// Bytes that are not UTF-8 are decoded lossily, as a browser does with a wrong charset.
pub fn extract_links(html: &[u8]) -> Links {
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
    links: Links,
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

    /// A `<meta>` start tag: the first one that declares an encoding is the page's.
    fn meta(&mut self, attributes: Attributes) {
        if self.links.charset.is_some() {
            return;
        }
        let text = |value: &[u8]| String::from_utf8_lossy(value).trim().to_owned();
        let charset = match attributes {
            Attributes {
                charset: Some(charset),
                ..
            } => Some(text(&charset)),
            Attributes {
                http_equiv: Some(http_equiv),
                content: Some(content),
                ..
            } if text(&http_equiv).eq_ignore_ascii_case("content-type") => {
                crate::charset::from_meta_content(&text(&content)).map(str::to_owned)
            }
            _ => None,
        };
        self.links.charset = charset.filter(|label| !label.is_empty());
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
            String::from_utf8(value)
                .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
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
            b"meta" => self.meta(attributes),
            _ => {}
        }
        // A crawler runs no scripts, so `<noscript>` holds markup, as in a browser without
        // them (the tokenizer's default reads it as raw text, as with scripts on).
        if self.tag == b"noscript" {
            return None;
        }
        naive_next_state(&self.tag)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hrefs(html: &str) -> Vec<String> {
        extract_links(html.as_bytes()).hrefs
    }

    #[test]
    fn finds_anchor_and_area_hrefs_in_order() {
        assert_eq!(
            hrefs(r#"<p><a href="/a">x</a><AREA HREF=/b><a name=x><link href="/css"></p>"#),
            ["/a", "/b"]
        );
    }

    #[test]
    fn decodes_entities() {
        assert_eq!(hrefs(r#"<a href="/q?a=1&amp;b=2&#x2F;">"#), ["/q?a=1&b=2/"]);
    }

    #[test]
    fn ignores_comments_scripts_and_styles() {
        let html = r#"<!-- <a href="/comment"> -->
            <script>var s = '<a href="/script">';</script>
            <style>a::after { content: '<a href="/style">' }</style>
            <a href="/real">"#;
        assert_eq!(hrefs(html), ["/real"]);
    }

    #[test]
    fn raw_text_ends_at_its_own_end_tag_only() {
        let html = r#"<script>if (a</b) { x = "<a href='/no'>" }</script><a href=/after>
            <title><a href="/no2"></title><TEXTAREA></textarea ><A HREF='/upper'>"#;
        assert_eq!(hrefs(html), ["/after", "/upper"]);
    }

    #[test]
    fn end_tags_and_other_attributes_are_not_links() {
        assert_eq!(
            hrefs(r#"</a href="/end"><a data-href="/data" hreflang=en>"#),
            Vec::<String>::new()
        );
    }

    #[test]
    fn first_base_wins_and_first_href_attribute_wins() {
        let links = extract_links(br#"<base href="/x/"><base href="/y/"><a href="1" href="2">"#);
        assert_eq!(links.base.as_deref(), Some("/x/"));
        assert_eq!(links.hrefs, ["1"]);
    }

    #[test]
    fn noscript_holds_markup_and_svg_links_with_xlink_href() {
        let html = r#"<noscript><a href="/no-js">x</a></noscript>
            <svg xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="/svg1"><text>1</text></a>
            <a href="/svg2" xlink:href="/ignored"></a><use xlink:href="/not-a-link"/></svg>
            <area xlink:href="/not-an-area-link">"#;
        assert_eq!(hrefs(html), ["/no-js", "/svg1", "/svg2"]);
    }

    #[test]
    fn the_first_meta_declaring_a_charset_wins() {
        let charset = |html: &str| extract_links(html.as_bytes()).charset;
        assert_eq!(
            charset(r#"<meta charset=" latin1 "><meta charset=koi8-r>"#).as_deref(),
            Some("latin1")
        );
        assert_eq!(
            charset(r#"<meta name=x content="charset=no"><meta http-equiv="CONTENT-TYPE" content="text/html; charset=windows-1251">"#)
                .as_deref(),
            Some("windows-1251")
        );
        assert_eq!(
            charset(r#"<meta http-equiv=refresh content="0; charset=x">"#),
            None
        );
        assert_eq!(charset("<p>no meta</p>"), None);
    }

    #[test]
    fn survives_binary_and_broken_markup() {
        let mut junk: Vec<u8> = (0..=255).collect();
        junk.extend_from_slice(b"<a href=\"/\xff\xfe\">< a <<<a href='");
        let links = extract_links(&junk);
        assert_eq!(links.hrefs, ["/\u{fffd}\u{fffd}"]);
    }
}
