//! Chaos on the wire: each fault does what [`ChaosFault`] says, the `n`-th request for a path
//! is its try `n` and meets that try's draw, and a reset before any byte on a reused
//! connection is not counted (the crawler sends it again as the same try).

use std::{
    io::{ErrorKind, Read},
    net::TcpStream,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use c10k_testsite::{Chaos, ChaosFault, Server, ServerOptions, SiteSpec};
use common::Client;

mod common;

fn start(chaos: Chaos) -> Server {
    Server::start(ServerOptions {
        spec: SiteSpec {
            pages: 20,
            chaos: Some(chaos),
            ..SiteSpec::default()
        },
        ..ServerOptions::default()
    })
    .expect("the server starts")
}

/// Every request meets `fault`.
fn always(fault: ChaosFault) -> Chaos {
    Chaos {
        faults: vec![fault],
        ..Chaos::new(1.0, 1)
    }
}

/// How a connection ended, as a client reading until then sees it.
#[derive(Debug)]
struct Ending {
    bytes: Vec<u8>,
    /// `None`: a clean end of the stream; else the error (a reset, or `WouldBlock` or
    /// `TimedOut` when nothing came within the read timeout).
    error: Option<ErrorKind>,
}

impl Ending {
    fn head_complete(&self) -> bool {
        self.bytes.windows(4).any(|w| w == b"\r\n\r\n")
    }
}

/// Sends a close-mode request for `path` on a fresh connection and reads until the end, a
/// reset, or `quiet` without a byte.
fn fetch(server: &Server, path: &str, quiet: Duration) -> Ending {
    let mut client = Client::plain(server.addr());
    client.send_close_mode(path);
    read_to_end(&mut client.stream, quiet)
}

fn read_to_end(stream: &mut TcpStream, quiet: Duration) -> Ending {
    stream.set_read_timeout(Some(quiet)).unwrap();
    let mut bytes = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ending { bytes, error: None },
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) => {
                return Ending {
                    bytes,
                    error: Some(e.kind()),
                };
            }
        }
    }
}

/// How many bytes come in `window` after a request for `path`.
fn drip(server: &Server, path: &str, window: Duration) -> usize {
    let mut client = Client::plain(server.addr());
    client.send_close_mode(path);
    let start = Instant::now();
    let mut bytes = 0;
    let mut chunk = [0; 4096];
    while let Some(left) = window.checked_sub(start.elapsed()).filter(|d| !d.is_zero()) {
        client.stream.set_read_timeout(Some(left)).unwrap();
        match client.stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("the drip failed: {e}"),
        }
    }
    bytes
}

fn timed_out(ending: &Ending) -> bool {
    matches!(
        ending.error,
        Some(ErrorKind::WouldBlock | ErrorKind::TimedOut)
    )
}

#[test]
fn each_fault_behaves_as_documented() {
    let patience = common::PATIENCE;
    // What "nothing more comes" waits: the faults that hold a connection hold it far longer.
    let quiet = Duration::from_millis(300);
    for fault in ChaosFault::ALL {
        let server = start(always(fault));
        let ending = if fault == ChaosFault::Drip {
            let dripped = drip(&server, "/p/1", Duration::from_secs(1));
            assert!(
                (1..=11).contains(&dripped),
                "{dripped} bytes dripped in a second"
            );
            // Nothing else to see: an empty timed-out ending stands for it below.
            Ending {
                bytes: Vec::new(),
                error: Some(ErrorKind::TimedOut),
            }
        } else {
            fetch(&server, "/p/1", quiet)
        };
        let text = String::from_utf8_lossy(&ending.bytes).into_owned();
        let reset = ending.error == Some(ErrorKind::ConnectionReset);
        match fault {
            ChaosFault::Reset => assert!(reset && ending.bytes.is_empty(), "{fault}: {ending:?}"),
            ChaosFault::ResetInHeaders => assert!(
                reset && !ending.bytes.is_empty() && !ending.head_complete(),
                "{fault}: {ending:?}"
            ),
            ChaosFault::ResetInBody => {
                assert!(reset && ending.head_complete(), "{fault}: {ending:?}")
            }
            ChaosFault::Stall => {
                assert!(
                    timed_out(&ending) && ending.head_complete(),
                    "{fault}: {ending:?}"
                )
            }
            ChaosFault::Drip => {
                // Read for a second: at one byte per 100 ms, no more than 11 bytes.
                assert!(ending.bytes.is_empty() && timed_out(&ending), "{ending:?}");
            }
            ChaosFault::CloseInHeaders => assert!(
                ending.error.is_none() && !ending.bytes.is_empty() && !ending.head_complete(),
                "{fault}: {ending:?}"
            ),
            ChaosFault::Unavailable => {
                assert!(text.starts_with("HTTP/1.0 503 "), "{text}");
                assert!(text.contains("\r\nRetry-After: 1\r\n"), "{text}");
            }
            ChaosFault::TooMany => {
                assert!(text.starts_with("HTTP/1.0 429 "), "{text}");
                assert!(!text.contains("Retry-After"), "{text}");
            }
            ChaosFault::WrongLength => {
                assert!(ending.error.is_none(), "{fault}: {ending:?}");
                let body = text.split_once("\r\n\r\n").map(|(_, body)| body.len());
                assert!(text.contains("Content-Length: 1000\r\n"), "{text}");
                assert!(body.is_some_and(|len| len < 1000), "{text}");
            }
            ChaosFault::Unread => {
                assert!(
                    timed_out(&ending) && ending.bytes.is_empty(),
                    "{fault}: {ending:?}"
                )
            }
        }
        assert_eq!(server.stats().chaos_faults.load(Ordering::Relaxed), 1);
        // robots.txt is left alone.
        let robots = fetch(&server, "/robots.txt", patience);
        assert!(
            String::from_utf8_lossy(&robots.bytes).starts_with("HTTP/1.0 404 "),
            "{robots:?}"
        );
    }
}

/// The `n`-th request for a path meets the draw of try `n`, whatever came between.
#[test]
fn the_nth_request_for_a_path_is_its_try_n() {
    let chaos = Chaos {
        faults: vec![ChaosFault::TooMany],
        ..Chaos::new(0.5, 11)
    };
    let server = start(chaos.clone());
    let paths = ["/", "/p/1", "/p/2", "/nowhere"];
    let mut expected = Vec::new();
    let mut got = Vec::new();
    for attempt in 1..=6 {
        for path in paths {
            let ending = fetch(&server, path, common::PATIENCE);
            let text = String::from_utf8_lossy(&ending.bytes).into_owned();
            got.push(text.starts_with("HTTP/1.0 429 "));
            expected.push(chaos.draw(path, attempt).is_some());
        }
    }
    assert_eq!(got, expected);
    assert!(got.iter().any(|&b| b) && !got.iter().all(|&b| b));
}

/// A reset before any byte on a reused connection is not a try: the same request on a
/// fresh connection meets the same draw.
#[test]
fn a_reset_on_a_reused_connection_is_not_counted() {
    let chaos = Chaos {
        faults: vec![ChaosFault::Reset],
        ..Chaos::new(0.5, 5)
    };
    let path = |i: usize| {
        if i == 0 {
            "/".to_owned()
        } else {
            format!("/p/{i}")
        }
    };
    let first_ok = (0..20)
        .map(path)
        .find(|p| chaos.draw(p, 1).is_none())
        .expect("a page whose first try gets through");
    let reset_then_ok = (0..20)
        .map(path)
        .find(|p| chaos.draw(p, 1).is_some() && chaos.draw(p, 2).is_none())
        .expect("a page reset on its first try only");
    let server = start(chaos);
    let mut kept = Client::plain(server.addr());
    kept.send(&first_ok, "1.1", "");
    assert_eq!(kept.response().unwrap().status, 200);
    kept.send(&reset_then_ok, "1.1", "");
    let ending = read_to_end(&mut kept.stream, common::PATIENCE);
    assert_eq!(ending.error, Some(ErrorKind::ConnectionReset), "{ending:?}");
    // Try 1 again, on a fresh connection: reset, and counted.
    let again = fetch(&server, &reset_then_ok, common::PATIENCE);
    assert_eq!(again.error, Some(ErrorKind::ConnectionReset), "{again:?}");
    // Try 2.
    let third = fetch(&server, &reset_then_ok, common::PATIENCE);
    let text = String::from_utf8_lossy(&third.bytes).into_owned();
    assert!(text.starts_with("HTTP/1.0 200 "), "{text}");
}
