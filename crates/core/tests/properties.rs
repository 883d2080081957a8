//! Properties of the sans-IO core, over arbitrary input: the response reader does not care
//! how bytes are cut, and nothing panics on any bytes.

use std::time::Instant;

use c10k_core::{
    Config, Crawler, FetchError, Limits, Progress, Response, ResponseReader, Tls, TlsOptions, Url,
    extract_links, extract_links_html5gum, parse_root,
};
use proptest::prelude::*;

const LIMITS: Limits = Limits {
    max_head: 2048,
    max_body: 8192,
};

fn read(pieces: &[&[u8]]) -> Result<Response, FetchError> {
    let mut reader = ResponseReader::new(LIMITS);
    for piece in pieces {
        if let Progress::Done(response) = reader.feed(piece)? {
            return Ok(response);
        }
    }
    reader.eof()
}

/// The same response read whole and in pieces, but for whether bytes after its end came in
/// the read that ended it: those make it not reusable, which a later piece cannot see. So a
/// reader fed the whole never keeps a connection the pieces would close.
fn same_either_way(
    whole: Result<Response, FetchError>,
    pieces: Result<Response, FetchError>,
) -> Result<(), TestCaseError> {
    let apart = |r: &Result<Response, FetchError>| {
        r.clone().map(|response| Response {
            reusable: false,
            ..response
        })
    };
    prop_assert_eq!(apart(&whole), apart(&pieces));
    if let (Ok(whole), Ok(pieces)) = (&whole, &pieces) {
        prop_assert!(!whole.reusable || pieces.reusable);
    }
    Ok(())
}

/// Cuts `bytes` at the given points (taken modulo its length).
fn cut<'a>(bytes: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    cuts.extend([0, bytes.len()]);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// The pieces markup is made of, for the link extractors: every token that moves the
/// tokenizer from state to state on the way to a link, and some that do not.
const MARKUP: &[&[u8]] = &[
    b"<",
    b"</",
    b">",
    b"/>",
    b"/",
    b"<!",
    b"<!--",
    b"-->",
    b"--!>",
    b"-",
    b"!",
    b"<?",
    b"<a ",
    b"<A ",
    b"<a",
    b"<area ",
    b"<base ",
    b"<meta ",
    b"<p ",
    b"href",
    b"HREF",
    b"xlink:href",
    b"charset",
    b"http-equiv",
    b"content",
    b"content-type",
    b"text/html; charset=",
    b"=",
    b"\"",
    b"'",
    b" ",
    b"\t",
    b"\r",
    b"\n",
    b"\r\n",
    b"\x0c",
    b"\0",
    b"&amp;",
    b"&",
    b"&#x2F;",
    b"&not",
    b"&notin;",
    // References the scanner decodes itself, and some it leaves to html5gum.
    b"&lt;",
    b"&#47;",
    b"&#128;",
    b"&#xD800;",
    b"&#x1F600;",
    b"&b=",
    b"&copy=",
    b"&AMP;",
    b"&#",
    b";",
    b"<script>",
    b"</script>",
    b"<script",
    b"</script",
    b"script",
    b"<style>",
    b"</style>",
    b"<title>",
    b"</TITLE >",
    b"<textarea>",
    b"<plaintext>",
    b"<noscript>",
    b"</noscript>",
    b"<noframes>",
    b"</noframes>",
    b"<!DOCTYPE",
    b"<!doctype html>",
    b"<![CDATA[",
    b"]]>",
    b"x",
    b"/p?q=1",
    b"koi8-r",
    b"utf-8",
    "\u{e9}".as_bytes(),
    b"\xff",
    b"\xc3",
    // Whole links, so that most inputs have some for the states before them to hide.
    b"<a href=/1>",
    b"<a href=/1>",
    b"<a href='/2'>",
    b"<a href='/2'>",
    b"<A HREF=\"/3\">",
    b"<A HREF=\"/3\">",
    b"<area href=/4>",
    b"<base href=/b/>",
    b"<meta charset=koi8-r>",
    b"<meta http-equiv=content-type content='text/html; charset=latin1'>",
    b"<a href=&amp;5>",
    b"<script><!--",
    b"<!--<script>",
    b"--></script>",
    b"<a href=\"/\0\">",
];

/// Responses that are mostly well-formed, so the interesting paths are reached, with any
/// bytes in the body and some damage.
fn responses() -> impl Strategy<Value = Vec<u8>> {
    let framing = prop_oneof![
        any::<u16>().prop_map(|n| format!("Content-Length: {}\r\n", n % 300)),
        Just("Transfer-Encoding: chunked\r\n".to_owned()),
        Just(String::new()),
        Just("Content-Length: x\r\n".to_owned()),
    ];
    let status = prop_oneof![Just(200u16), Just(302), Just(404), Just(100), any::<u16>()];
    (
        status,
        framing,
        proptest::collection::vec(any::<u8>(), 0..400),
        any::<bool>(),
    )
        .prop_map(|(status, framing, body, chunked_body)| {
            let mut bytes =
                format!("HTTP/1.1 {status} X\r\nContent-Type: text/html\r\n{framing}\r\n")
                    .into_bytes();
            if chunked_body {
                bytes.extend(format!("{:x}\r\n", body.len()).into_bytes());
                bytes.extend(&body);
                bytes.extend(b"\r\n0\r\n\r\n");
            } else {
                bytes.extend(&body);
            }
            bytes
        })
}

proptest! {
    #[test]
    fn any_bytes_cut_anywhere_read_the_same(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        points in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        same_either_way(read(&[&bytes]), read(&cut(&bytes, &points)))?;
    }

    #[test]
    fn responses_cut_anywhere_read_the_same(
        bytes in responses(),
        points in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        same_either_way(read(&[&bytes]), read(&cut(&bytes, &points)))?;
    }

    /// A peer that answers a TLS client with any bytes, cut anywhere, gives it no response (no
    /// plaintext without a handshake it cannot complete) and no panic; the end is an error.
    #[test]
    fn tls_fed_any_bytes_gives_no_response(
        bytes in proptest::collection::vec(any::<u8>(), 0..1500),
        points in proptest::collection::vec(any::<usize>(), 0..12),
        handshake_head in any::<bool>(),
    ) {
        use std::sync::{Arc, OnceLock};
        static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
        let config = CONFIG.get_or_init(|| TlsOptions::default().client_config().unwrap());
        let mut tls = Tls::new(config, &Url::parse("https://127.0.0.1/").unwrap()).unwrap();
        tls.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let mut hello = Vec::new();
        prop_assert!(tls.outgoing(&mut hello) > 0, "a ClientHello");
        // Half the time the bytes follow a TLS handshake record's header, so that rustls reads
        // further than its first check.
        let mut answer = Vec::new();
        if handshake_head {
            answer.extend([0x16, 0x03, 0x03]);
            answer.extend(u16::try_from(bytes.len()).unwrap().to_be_bytes());
        }
        answer.extend(&bytes);
        let mut reader = ResponseReader::new(LIMITS);
        let mut failed = false;
        for piece in cut(&answer, &points) {
            match tls.received(piece, &mut reader) {
                Ok(Progress::NeedMore) => {}
                Ok(Progress::Done(response)) => {
                    prop_assert!(false, "a response without a handshake: {response:?}");
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            prop_assert!(tls.eof(&mut reader).is_err());
        }
    }

    #[test]
    fn html_like_input_never_panics_the_whole_page_path(
        html in "(<[aA] [hH][rR][eE][fF]=[\"']?[ -~]{0,30}[\"']?>|<base href=[^>]{0,20}>|<!--|-->|<script>|</script>|[ -~]{0,20}){0,30}",
    ) {
        let mut config = Config::new(parse_root("http://127.0.0.1:8000/dir/page").unwrap(), "127.0.0.1:8000".parse().unwrap());
        config.robots = false;
        let mut crawler = Crawler::new(config);
        let now = Instant::now();
        let fetch = crawler.next_fetch(now).unwrap();
        let response = Response {
            status: 200,
            content_type: Some("text/html".into()),
            body_len: html.len() as u64,
            body: html.into_bytes(),
            ..Response::default()
        };
        crawler.complete(fetch.finish(Ok(response), now));
        // Whatever the links were, the frontier stays consistent.
        prop_assert_eq!(crawler.in_flight(), 0);
        prop_assert_eq!(crawler.records().len(), 1 + crawler.records().iter().filter(|r| r.tries == 0).count());
    }
}

proptest! {
    // Cheap cases, and the states that differ are found by long sequences: many of them.
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn link_extraction_agrees_with_html5gum_on_any_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        prop_assert_eq!(extract_links(&bytes), extract_links_html5gum(&bytes));
    }

    /// What lets the crawler hand a UTF-8 page over undecoded: read lossily value by value,
    /// it gives what the page decoded first gives.
    #[test]
    fn links_of_utf8_pages_need_no_decoding_first(
        pieces in proptest::collection::vec(prop::sample::select(MARKUP), 0..60),
    ) {
        let html = pieces.concat();
        let (decoded, _) = encoding_rs::UTF_8.decode_without_bom_handling(&html);
        prop_assert_eq!(extract_links(&html), extract_links(decoded.as_bytes()));
    }

    #[test]
    fn links_of_any_bytes_need_no_decoding_first(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let (decoded, _) = encoding_rs::UTF_8.decode_without_bom_handling(&bytes);
        prop_assert_eq!(extract_links(&bytes), extract_links(decoded.as_bytes()));
    }

    #[test]
    fn link_extraction_agrees_with_html5gum_on_markup(
        pieces in proptest::collection::vec(prop::sample::select(MARKUP), 0..60),
    ) {
        let html = pieces.concat();
        prop_assert_eq!(extract_links(&html), extract_links_html5gum(&html));
    }
}

proptest! {
    // Each case is two short tags, dense in what they test: fewer cases find as much.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Values dense in character references, whole or broken, the scanner's own decoding
    /// and html5gum's full tokenizer read alike.
    #[test]
    fn references_in_values_read_as_html5gum_reads_them(
        value in "(&#[0-9]{1,4};|&#[xX][0-9a-fA-F]{1,6};|&(amp|lt|quot|apos|copy|not|nbsp|AMP);|\
                  [&#;=]|amp|lt|copy|not|x|[0-9]{1,3}|[0-9a-fA-F]{2,6}|D800|FFFE|110000|/| ){0,12}",
        quote in prop::sample::select(vec!["\"", "'", ""]),
    ) {
        let html = format!("<a href={quote}{value}{quote}><meta charset={quote}{value}{quote}>");
        prop_assert_eq!(extract_links(html.as_bytes()), extract_links_html5gum(html.as_bytes()));
    }
}
