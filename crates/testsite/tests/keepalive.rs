//! Connections that live: the server keeps an HTTP/1.1 connection for the next request, frames
//! every response on it, ends it after `max_requests` (silently or saying so) or when idle,
//! and closes after one response exactly as before for HTTP/1.0 and `Connection: close`. The
//! keep-alive fault pages behave as `faults::FAULT_PAGES` says, kept or not.

use std::{sync::atomic::Ordering, time::Duration};

use c10k_testsite::{
    KeepAlive, Server, ServerOptions,
    faults::{FAULT_PAGES, Fault},
};
use common::{Client, spec};

mod common;

fn start(keep_alive: KeepAlive, faults: bool) -> Server {
    Server::start(ServerOptions {
        spec: spec(faults),
        keep_alive,
        ..ServerOptions::default()
    })
    .expect("the server starts")
}

fn count(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Kept responses are framed by `Content-Length` and say nothing of closing.
fn assert_kept(response: &common::Response) {
    assert_eq!(response.version, 1, "{response:?}");
    assert!(response.header("content-length").is_some(), "{response:?}");
    assert!(!response.says_close(), "{response:?}");
}

#[test]
fn two_requests_on_one_connection_get_two_framed_responses() {
    let server = start(KeepAlive::default(), false);
    let spec = spec(false);
    let origin = server.url().trim_end_matches('/').to_owned();
    let mut client = Client::plain(server.addr());
    client.send("/", "1.1", "");
    let root = client.response().unwrap();
    assert_eq!(root.status, 200);
    assert_kept(&root);
    assert_eq!(root.body, spec.render_page(0, &origin));
    client.send("/p/1", "1.1", "");
    let page = client.response().unwrap();
    assert_kept(&page);
    assert_eq!(page.body, spec.render_page(1, &origin));
    // A 404 and a redirect are framed too.
    client.send("/nowhere", "1.1", "");
    assert_eq!(client.response().unwrap().status, 404);
    client.send("/r/0", "1.1", "");
    let redirect = client.response().unwrap();
    assert!(matches!(redirect.status, 301..=308), "{redirect:?}");
    assert_kept(&redirect);

    let stats = server.stats();
    assert_eq!(count(&stats.accepted), 1);
    assert_eq!(count(&stats.served), 4);
    assert_eq!(count(&stats.reused), 3);
    assert_eq!(count(&stats.most_per_connection), 4);
}

/// Requests sent before the last response was read are each answered, in order.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start(KeepAlive::default(), false);
    let mut client = Client::plain(server.addr());
    for path in ["/p/1", "/nowhere", "/p/2"] {
        client.send(path, "1.1", "");
    }
    let statuses: Vec<u16> = (0..3).map(|_| client.response().unwrap().status).collect();
    assert_eq!(statuses, [200, 404, 200]);
    assert_eq!(count(&server.stats().accepted), 1);
}

/// HTTP/1.0, and `Connection: close` in either version, get one response and the close, with
/// the bytes the server always wrote (`HTTP/1.0`, `Connection: close`).
#[test]
fn http10_and_connection_close_still_close_after_one() {
    let server = start(KeepAlive::default(), false);
    let spec = spec(false);
    let body = spec.render_page(0, server.url().trim_end_matches('/'));
    let expected_head = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    for (version, headers) in [
        ("1.0", ""),
        ("1.0", "Connection: close\r\n"),
        ("1.1", "Connection: close\r\n"),
        ("1.1", "Connection: keep-alive, close\r\n"),
    ] {
        let mut client = Client::plain(server.addr());
        client.send("/", version, headers);
        // The whole of what came, byte for byte.
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut client.stream, &mut all).unwrap();
        let mut expected = expected_head.clone().into_bytes();
        expected.extend_from_slice(&body);
        assert_eq!(
            String::from_utf8_lossy(&all),
            String::from_utf8_lossy(&expected),
            "HTTP/{version} {headers:?}"
        );
    }
    // The crawler's request, as it sends it today.
    let mut client = Client::plain(server.addr());
    client.send_close_mode("/p/1");
    let response = client.response().unwrap();
    assert_eq!((response.version, response.status), (0, 200));
    assert!(response.says_close());
    assert!(client.at_end());
    assert_eq!(count(&server.stats().reused), 0);
}

/// HTTP/1.0 with `Connection: keep-alive` keeps the connection, and says so.
#[test]
fn http10_keep_alive_keeps_the_connection() {
    let server = start(KeepAlive::default(), false);
    let mut client = Client::plain(server.addr());
    for path in ["/", "/p/2"] {
        client.send(path, "1.0", "Connection: keep-alive\r\n");
        let response = client.response().unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }
    assert_eq!(count(&server.stats().reused), 1);
}

fn limited(n: u64, announce_last: bool) -> KeepAlive {
    KeepAlive {
        max_requests: Some(n),
        announce_last,
        ..KeepAlive::default()
    }
}

/// After N responses the server closes without a word: the next request on the connection
/// meets the end of the stream before any byte of a response (RFC 9112 section 9.3.1).
#[test]
fn max_requests_closes_silently_after_n() {
    let server = start(limited(3, false), false);
    let mut client = Client::plain(server.addr());
    for _ in 0..3 {
        client.send("/p/1", "1.1", "");
        assert_kept(&client.response().unwrap());
    }
    // The request may or may not reach the server: either way no answer, and a clean end
    // (the server reads on after its close, so the request meets no reset).
    let _ = std::io::Write::write_all(&mut client.stream, b"GET /p/2 HTTP/1.1\r\n\r\n");
    assert!(client.at_end());
    let stats = server.stats();
    assert_eq!(count(&stats.served), 3);
    assert_eq!(count(&stats.limit_closed), 1);
    // A new connection gets its own three, even when a fourth request is already there: the
    // three responses, then a clean end.
    let mut again = Client::plain(server.addr());
    for _ in 0..4 {
        again.send("/p/2", "1.1", "");
    }
    for _ in 0..3 {
        assert_kept(&again.response().unwrap());
    }
    assert!(again.at_end());
    assert_eq!(count(&stats.served), 6);
}

/// With `announce_last`, the N-th response says `Connection: close`, and the close follows.
#[test]
fn max_requests_announced_on_the_last_response() {
    let server = start(limited(2, true), false);
    let mut client = Client::plain(server.addr());
    client.send("/p/1", "1.1", "");
    assert_kept(&client.response().unwrap());
    client.send("/p/2", "1.1", "");
    let last = client.response().unwrap();
    assert_eq!((last.version, last.status), (1, 200));
    assert!(last.says_close(), "{last:?}");
    assert!(client.at_end());
    assert_eq!(count(&server.stats().limit_closed), 1);
}

/// A kept connection that sends nothing for the idle time is closed, cleanly; one that keeps
/// asking within it is not.
#[test]
fn an_idle_connection_is_closed() {
    let idle = Duration::from_secs(1);
    let server = start(
        KeepAlive {
            idle,
            ..KeepAlive::default()
        },
        false,
    );
    let mut busy = Client::plain(server.addr());
    let mut idle_client = Client::plain(server.addr());
    idle_client.send("/", "1.1", "");
    assert_kept(&idle_client.response().unwrap());
    for _ in 0..8 {
        busy.send("/p/1", "1.1", "");
        assert_kept(&busy.response().unwrap());
        std::thread::sleep(idle / 4);
    }
    // Twice the idle time by now (and less than the default's): the idle one is closed, the
    // busy one still answers.
    assert_eq!(count(&server.stats().idle_closed), 1);
    assert!(idle_client.at_end());
    busy.send("/p/2", "1.1", "");
    assert_kept(&busy.response().unwrap());
}

fn page(fault: Fault) -> &'static str {
    FAULT_PAGES
        .iter()
        .find(|page| page.fault == fault)
        .map(|page| page.path)
        .expect("a fault page")
}

/// Each keep-alive fault, asked by a client that keeps connections.
#[test]
fn keep_alive_faults_on_a_kept_connection() {
    let server = start(KeepAlive::default(), true);

    // `Connection: close` on the second response of the connection, then the end.
    let mut client = Client::plain(server.addr());
    client.send("/p/1", "1.1", "");
    assert_kept(&client.response().unwrap());
    client.send(page(Fault::AnnouncedClose), "1.1", "");
    let last = client.response().unwrap();
    assert_eq!((last.version, last.status), (1, 200));
    assert!(last.says_close());
    assert!(client.at_end());

    // No framing but the close.
    let mut client = Client::plain(server.addr());
    client.send(page(Fault::Unframed), "1.1", "");
    let unframed = client.response().unwrap();
    assert_eq!((unframed.version, unframed.status), (1, 200));
    assert!(unframed.header("content-length").is_none());
    assert!(unframed.header("transfer-encoding").is_none());
    assert!(!unframed.says_close());
    assert_eq!(unframed.body, b"framed by the close, and only by it\n");

    // More bytes than the length, which read as a response of their own; the connection
    // stays open, so a client that reuses it takes them for the answer to its next request.
    let mut client = Client::plain(server.addr());
    client.send(page(Fault::Overlong), "1.1", "");
    let overlong = client.response().unwrap();
    assert_kept(&overlong);
    assert_eq!(overlong.body, b"hello\n");
    client.send("/p/1", "1.1", "");
    let smuggled = client.response().unwrap();
    assert_eq!(smuggled.status, 302);
    assert_eq!(smuggled.header("location"), Some("/trap/smuggled"));
    let real = client.response().unwrap();
    assert_eq!(real.status, 200);

    // Two interim responses, then the real one; the connection carries on.
    let mut client = Client::plain(server.addr());
    client.send(page(Fault::Interim), "1.1", "");
    let (interim, response) = client.final_response().unwrap();
    let codes: Vec<u16> = interim.iter().map(|r| r.status).collect();
    assert_eq!(codes, [100, 103]);
    assert_kept(&response);
    assert_eq!(response.status, 200);
    client.send("/p/1", "1.1", "");
    assert_eq!(client.response().unwrap().status, 200);

    // A response that keeps the connection, then the close: the next request meets the end.
    let mut client = Client::plain(server.addr());
    client.send(page(Fault::DropAfter), "1.1", "");
    assert_kept(&client.response().unwrap());
    let _ = std::io::Write::write_all(&mut client.stream, b"GET /p/1 HTTP/1.1\r\n\r\n");
    assert!(client.at_end());
}

/// Asked the way `c10k crawl` asks today (HTTP/1.0, `Connection: close`), every keep-alive
/// fault is an ordinary response and a close, with the outcome its table states.
#[test]
fn keep_alive_faults_in_close_mode() {
    let server = start(KeepAlive::default(), true);
    for fault in [
        Fault::AnnouncedClose,
        Fault::Unframed,
        Fault::Overlong,
        Fault::Interim,
        Fault::DropAfter,
    ] {
        let path = page(fault);
        let outcome = FAULT_PAGES.iter().find(|p| p.path == path).unwrap().outcome;
        let mut client = Client::plain(server.addr());
        client.send_close_mode(path);
        let (_, response) = client.final_response().unwrap();
        assert_eq!(response.status.to_string(), outcome, "{path}");
        assert_eq!(response.version, 0, "{path}");
        if fault != Fault::Unframed {
            assert!(response.says_close(), "{path}");
        }
        // The overlong page's extra bytes are all that is left before the end.
        if fault == Fault::Overlong {
            let mut rest = std::mem::take(&mut client.pending);
            std::io::Read::read_to_end(&mut client.stream, &mut rest).unwrap();
            assert!(
                rest.starts_with(b"HTTP/1.1 302 Found\r\nLocation: /trap/smuggled\r\n"),
                "{}",
                String::from_utf8_lossy(&rest)
            );
        } else {
            assert!(client.at_end(), "{path}");
        }
    }
    assert_eq!(count(&server.stats().reused), 0);
}
