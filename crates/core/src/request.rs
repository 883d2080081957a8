//! The request bytes: the only thing a strategy ever writes.

use url::Url;

/// The `User-Agent` every strategy sends.
pub const USER_AGENT: &str = concat!("c10k-crawler/", env!("CARGO_PKG_VERSION"));

/// A `GET` for `url`: with `keep_alive`, HTTP/1.1, whose connection persists unless the
/// server says otherwise; else HTTP/1.0 asking the server to close the connection after the
/// response (the lecture's crawler: one connection per fetch).
pub fn request(url: &Url, keep_alive: bool) -> Vec<u8> {
    // The host and the port as the URL writes them (no port if it is the scheme's default).
    let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    // The fixed lines take under 160 bytes: with the target, the host and the agent beside
    // them, the request is built in one allocation.
    let mut request = Vec::with_capacity(160 + target.len() + host.len() + USER_AGENT.len());
    request.extend_from_slice(b"GET ");
    request.extend_from_slice(target.as_bytes());
    request.extend_from_slice(if keep_alive {
        b" HTTP/1.1\r\nHost: "
    } else {
        b" HTTP/1.0\r\nHost: "
    });
    request.extend_from_slice(host.as_bytes());
    request.extend_from_slice(b"\r\nUser-Agent: ");
    request.extend_from_slice(USER_AGENT.as_bytes());
    // Identity only: the crawler decodes gzip and deflate should a server send them anyway,
    // but has no reason to invite the work.
    request.extend_from_slice(b"\r\nAccept: text/html, */*;q=0.5\r\nAccept-Encoding: identity\r\n");
    if !keep_alive {
        request.extend_from_slice(b"Connection: close\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_target_host_and_close() {
        let url = Url::parse("http://127.0.0.1:8080/a/b?q=1#frag").unwrap();
        let text = String::from_utf8(request(&url, false)).unwrap();
        assert!(text.starts_with("GET /a/b?q=1 HTTP/1.0\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.contains("\r\nAccept-Encoding: identity\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let url = Url::parse("http://example.com").unwrap();
        assert!(request(&url, false).starts_with(b"GET / HTTP/1.0\r\nHost: example.com\r\n"));
        // Keep-alive: HTTP/1.1, persistent by default, so no Connection header.
        let text = String::from_utf8(request(&url, true)).unwrap();
        assert!(text.starts_with("GET / HTTP/1.1\r\nHost: example.com\r\n"));
        assert!(!text.contains("Connection:") && text.ends_with("identity\r\n\r\n"));
        // The host as the URL writes it: no user info, an IPv6 address in brackets, and no
        // port when it is the scheme's default.
        for (url, host) in [
            ("http://user:pw@[::1]:8080/x", "[::1]:8080"),
            ("https://example.com:443/", "example.com"),
            ("http://example.com:443/", "example.com:443"),
            ("http://EXAMPLE.com./", "example.com."),
        ] {
            let text = String::from_utf8(request(&Url::parse(url).unwrap(), true)).unwrap();
            assert!(
                text.contains(&format!("\r\nHost: {host}\r\n")),
                "{url}: {text}"
            );
        }
    }
}
