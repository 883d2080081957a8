//! Link extraction from HTML, with a real tokenizer rather than a regular expression.
//!
//! The WHATWG tokenizer in `html5gum` decodes entities in attribute values and never reports
//! tags inside comments. `<script>` and `<style>` are raw text only if the tokenizer is told
//! so after their start tag; a tree builder would do that, and `naively_switch_states` does
//! the same from the tag name, which is all a crawler needs.

use std::convert::Infallible;

use html5gum::{
    Span, Tokenizer,
    emitters::callback::{CallbackEmitter, CallbackEvent},
};

/// What a page links to, before resolution against the page's URL.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Links {
    /// The `href` of the first `<base>` element that has one.
    pub base: Option<String>,
    /// The `href` of every `<a>` and `<area>`, in document order, duplicates kept.
    pub hrefs: Vec<String>,
}

/// Which element the tokenizer is inside, as far as links are concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Element {
    Anchor,
    Base,
    Other,
}

/// Extracts the `href`s of a document. Never fails: any bytes give some (maybe empty) answer.
///
/// Bytes that are not UTF-8 are decoded lossily, as a browser does with a wrong charset.
pub fn extract_links(html: &[u8]) -> Links {
    let mut links = Links::default();
    let mut element = Element::Other;
    let mut in_href = false;
    let mut emitter = CallbackEmitter::new(
        |event: CallbackEvent<'_>, _: Span<()>| -> Option<Infallible> {
            match event {
                CallbackEvent::OpenStartTag { name } => {
                    element = match name {
                        b"a" | b"area" => Element::Anchor,
                        b"base" => Element::Base,
                        _ => Element::Other,
                    };
                    in_href = false;
                }
                CallbackEvent::AttributeName { name } => in_href = name == b"href",
                CallbackEvent::AttributeValue { value } if in_href => {
                    let href = String::from_utf8_lossy(value).into_owned();
                    match element {
                        Element::Anchor => links.hrefs.push(href),
                        Element::Base if links.base.is_none() => links.base = Some(href),
                        _ => {}
                    }
                    // The tokenizer reports a repeated attribute too; the first one counts.
                    element = Element::Other;
                    in_href = false;
                }
                CallbackEvent::CloseStartTag { .. } | CallbackEvent::EndTag { .. } => {
                    element = Element::Other;
                    in_href = false;
                }
                _ => {}
            }
            None
        },
    );
    emitter.naively_switch_states(true);
    // The callback collects everything, so running the tokenizer to its end is all that is
    // left. Its items are uninhabited: a slice cannot fail to read, the callback yields nothing.
    Tokenizer::new_with_emitter(html, emitter).for_each(drop);
    links
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
