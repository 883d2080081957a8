//! Both extractors, on the cases that decide a crawl: every test asks the scanner and
//! `html5gum` and expects one answer. `tests/properties.rs` compares them on arbitrary input.

use std::borrow::Cow;

use super::{Links, extract_links, reference::extract_links_html5gum};

/// Both extractors' answer, which must be one.
fn links(html: &[u8]) -> Links<'_> {
    let links = extract_links(html);
    assert_eq!(
        links,
        extract_links_html5gum(html),
        "the scanner and html5gum differ on {:?}",
        String::from_utf8_lossy(html)
    );
    links
}

fn hrefs(html: &str) -> Vec<Cow<'_, str>> {
    links(html.as_bytes()).hrefs
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
    let links = links(br#"<base href="/x/"><base href="/y/"><a href="1" href="2">"#);
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
    let charset = |html: &str| links(html.as_bytes()).charset.map(Cow::into_owned);
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
    let links = links(&junk);
    assert_eq!(links.hrefs, ["/\u{fffd}\u{fffd}"]);
}

#[test]
fn comments_end_as_the_standard_says() {
    let html = r#"<!--><a href=/1><!---><a href=/2><!-- --!><a href=/3>
        <!-- <!-- nested --> <a href=/4> <!-- a --!- b --> <a href=/5>
        <!----!><a href=/6><!-- --- --><a href=/7><!-- x --"#;
    assert_eq!(hrefs(html), ["/1", "/2", "/3", "/4", "/5", "/6", "/7"]);
}

#[test]
fn doctypes_cdata_and_bogus_comments_end_at_the_next_gt() {
    let html = r#"<!DOCTYPE html PUBLIC "x>"><a href=/1><![CDATA[ <a href=/no> ]]><a href=/2>
        <?xml <a href=/no>?><a href=/3></ <a href=/no></><a href=/4></3 <a href=/no>><a href=/5>"#;
    assert_eq!(hrefs(html), ["/1", "/2", "/3", "/4", "/5"]);
}

#[test]
fn quotes_and_odd_attributes_decide_where_a_tag_ends() {
    let html = r#"<p title="a > b" data-x='<a href=/no>'><a href=/1>
        <a =href=/no href=/2><a href = "/3"><a href=/4/><a/href=/5><a href><a href=>
        <a x=a'b"c href='/6' href=/no><div a=1"b><a href=/7><a href="/8"x><a HREF=/9 "#;
    assert_eq!(
        hrefs(html),
        ["/1", "/2", "/3", "/4/", "/5", "", "", "/6", "/7", "/8"]
    );
}

#[test]
fn raw_text_elements_by_name_noframes_included() {
    let html = r#"<noframes><a href=/no></noframes><a href=/1><xmp><a href=/no></XMP foo=">"><a href=/2>
        <noframe><a href=/3></noframe><textarea><a href=/no></textareax></textarea/><a href=/4>
        <iframe><a href=/no></iframe><noembed><a href=/no></noembed><a href=/5>"#;
    assert_eq!(hrefs(html), ["/1", "/2", "/3", "/4", "/5"]);
}

#[test]
fn escaped_scripts_hide_their_end_tag_only_when_double_escaped() {
    let html = r#"<script><!-- </script><a href=/1>
        <script><!-- <script> </script> <a href=/no> --> </script><a href=/2>
        <script><!--<script></script>--></script><a href=/3>
        <script><!-- <scripts> </script><a href=/4>
        <script></x!-- </script><a href=/5>
        <script><!-- --> <!-- -> <a href=/no> </script ><a href=/6>
        <script><!--<script>--></script><a href=/7>"#;
    assert_eq!(hrefs(html), ["/1", "/2", "/3", "/4", "/5", "/6", "/7"]);
}

#[test]
fn plaintext_ends_the_markup() {
    assert_eq!(
        hrefs("<a href=/1><plaintext><a href=/no></plaintext>"),
        ["/1"]
    );
}

#[test]
fn rewritten_values_nul_and_carriage_returns() {
    let html =
        "<a href=\"/a\r\nb\rc\"><a href=/d\0><a title=&amp; href=/plain><a href='&lt;&notin;&not'>";
    assert_eq!(
        hrefs(html),
        ["/a\nb\nc", "/d\u{fffd}", "/plain", "<\u{2209}\u{ac}"]
    );
}

#[test]
fn a_tag_cut_by_the_end_is_dropped() {
    for html in [
        "<a href=/x",
        "<a href=\"/x\"",
        "<a href='/x'/",
        "<a href=/x ",
        "<a",
    ] {
        assert_eq!(hrefs(html), Vec::<String>::new(), "{html}");
    }
}
