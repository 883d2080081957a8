//! The request bytes: the only thing a strategy ever writes.

use url::Url;

/// The `User-Agent` every strategy sends.
pub const USER_AGENT: &str = concat!("c10k-crawler/", env!("CARGO_PKG_VERSION"));

/// An HTTP/1.0 `GET` for `url`, asking the server to close the connection after the response.
pub fn request(url: &Url) -> Vec<u8> {
    let host = url.host_str().unwrap_or_default();
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let mut request = Vec::with_capacity(128 + target.len());
    request.extend_from_slice(b"GET ");
    request.extend_from_slice(target.as_bytes());
    request.extend_from_slice(b" HTTP/1.0\r\nHost: ");
    request.extend_from_slice(host.as_bytes());
    if let Some(port) = url.port() {
        request.extend_from_slice(format!(":{port}").as_bytes());
    }
    request.extend_from_slice(b"\r\nUser-Agent: ");
    request.extend_from_slice(USER_AGENT.as_bytes());
    // Identity only: the crawler decodes gzip and deflate should a server send them anyway,
    // but has no reason to invite the work.
    request.extend_from_slice(
        b"\r\nAccept: text/html, */*;q=0.5\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
    );
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_target_host_and_close() {
        let url = Url::parse("http://127.0.0.1:8080/a/b?q=1#frag").unwrap();
        let text = String::from_utf8(request(&url)).unwrap();
        assert!(text.starts_with("GET /a/b?q=1 HTTP/1.0\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.contains("\r\nAccept-Encoding: identity\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let url = Url::parse("http://example.com").unwrap();
        assert!(request(&url).starts_with(b"GET / HTTP/1.0\r\nHost: example.com\r\n"));
    }
}
