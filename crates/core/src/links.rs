//! Link extraction from HTML, with a real tokenizer rather than a regular expression.
//!
//! The WHATWG tokenizer in `html5gum` decodes entities in attribute values and never reports
//! tags inside comments. `<script>` and `<style>` are raw text only if the tokenizer is told
//! so after their start tag; a tree builder would do that, and `naive_next_state` does the
//! same from the tag name, which is all a crawler needs.
//!
//! The tokenizer reports what it reads to an [`Emitter`]; ours keeps only the tag name and the
//! `href` of the tag being read, ignores text, comments and doctypes, and asks for no error
//! reporting, which spares the tokenizer its per-character validation.

use std::{convert::Infallible, mem};

use html5gum::{Emitter, Error, State, Tokenizer, naive_next_state};

/// What a page links to, before resolution against the page's URL.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Links {
    /// The `href` of the first `<base>` element that has one.
    pub base: Option<String>,
    /// The `href` of every `<a>` and `<area>`, in document order, duplicates kept.
    pub hrefs: Vec<String>,
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

/// Collects the `href` of `<a>`, `<area>` and `<base>` start tags as the tokenizer reads them.
#[derive(Default)]
struct LinkEmitter {
    links: Links,
    /// Name of the tag being read.
    tag: Vec<u8>,
    /// Whether it is an end tag.
    end_tag: bool,
    /// Name of the last start tag, to recognise the end of `<script>`, `<style>`, ….
    last_start_tag: Vec<u8>,
    /// The first `href` of the tag being read.
    href: Option<Vec<u8>>,
    attribute_name: Vec<u8>,
    attribute_value: Vec<u8>,
    in_attribute: bool,
}

impl LinkEmitter {
    /// The attribute being read is complete: keep it if it is the tag's first `href`.
    fn end_attribute(&mut self) {
        if mem::take(&mut self.in_attribute)
            && !self.end_tag
            && self.href.is_none()
            && self.attribute_name == b"href"
        {
            self.href = Some(mem::take(&mut self.attribute_value));
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
        self.href = None;
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
        if let Some(href) = self.href.take() {
            let href = String::from_utf8_lossy(&href).into_owned();
            match self.tag.as_slice() {
                b"a" | b"area" => self.links.hrefs.push(href),
                b"base" if self.links.base.is_none() => self.links.base = Some(href),
                _ => {}
            }
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
    fn survives_binary_and_broken_markup() {
        let mut junk: Vec<u8> = (0..=255).collect();
        junk.extend_from_slice(b"<a href=\"/\xff\xfe\">< a <<<a href='");
        let links = extract_links(&junk);
        assert_eq!(links.hrefs, ["/\u{fffd}\u{fffd}"]);
    }
}
