//! The site over TLS, seen by a rustls client given the server's CA: the same pages at
//! `https://` URLs, TLS 1.3 and 1.2, resumption, keep-alive; every handshake fault fails the
//! way `TlsMode::reason` says; the TLS fault pages cut or end their bodies as documented; the
//! bounce through the plain twin.

use std::{collections::BTreeSet, sync::Arc, sync::atomic::Ordering};

use c10k_testsite::{
    Ca, Server, ServerOptions, Tls, TlsMode,
    faults::{BOUNCE_PAGES, TLS_PAGES},
    tls::WRONG_NAME,
};
use common::{Client, client_config, client_config_for, rustls_error, spec, tls_connect, tls_root};
use rustls::{CertificateError, Error, HandshakeKind, InvalidMessage, ProtocolVersion};

mod common;

fn start(tls: Tls, faults: bool) -> Server {
    Server::start(ServerOptions {
        spec: spec(faults),
        tls: Some(tls),
        ..ServerOptions::default()
    })
    .expect("the server starts")
}

#[test]
fn a_tls_client_fetches_the_site_at_https_urls() {
    let server = start(Tls::new(TlsMode::Valid), false);
    let url = server.url();
    assert_eq!(url, format!("https://{}/", server.addr()));
    let pem = server.ca_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");

    let mut client = tls_root(&server);
    assert_eq!(client.stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    client.send_close_mode("/");
    let root = client.response().unwrap();
    assert_eq!(root.status, 200);
    let origin = url.trim_end_matches('/');
    assert_eq!(root.body, spec(false).render_page(0, origin));
    // The close is a clean one: close_notify, then the TCP close.
    assert!(client.at_end());

    // The manifest is the plain one's, at https URLs.
    let manifest = server.manifest(&spec(false));
    assert_eq!(manifest.root, url);
    let plain = spec(false).manifest("http://127.0.0.1:9");
    assert_eq!(manifest.urls.len(), plain.urls.len());
    for (url, outcome) in &manifest.urls {
        if outcome != "error:skipped" {
            assert!(url.starts_with(origin), "{url}");
        }
    }
}

/// The certificate names `localhost`, the server's name and `www.` before it, and its
/// addresses; nothing else.
#[test]
fn the_certificate_names_the_server() {
    let server = Server::start(ServerOptions {
        spec: spec(false),
        name: Some("site.test".into()),
        tls: Some(Tls::new(TlsMode::Valid)),
        ..ServerOptions::default()
    })
    .unwrap();
    assert!(server.url().starts_with("https://site.test:"));
    let config = client_config(server.ca().unwrap());
    for name in [
        "site.test",
        "www.site.test",
        "localhost",
        "127.0.0.1",
        "::1",
    ] {
        let mut client =
            tls_connect(server.addr(), name, &config).unwrap_or_else(|e| panic!("{name}: {e}"));
        client.send_close_mode("/p/1");
        assert_eq!(client.response().unwrap().status, 200, "{name}");
    }
    let error = tls_connect(server.addr(), "other.test", &config)
        .err()
        .expect("another name is refused");
    assert!(
        matches!(
            rustls_error(&error),
            Some(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{error:?}"
    );
}

#[test]
fn tls_12_is_accepted_too() {
    let server = start(Tls::new(TlsMode::Valid), false);
    let ca = server.ca().unwrap();
    for (version, expected) in [
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
    ] {
        let config = client_config_for(ca, &[version]);
        let mut client = tls_connect(server.addr(), "127.0.0.1", &config).unwrap();
        assert_eq!(client.stream.conn.protocol_version(), Some(expected));
        client.send_close_mode("/");
        assert_eq!(client.response().unwrap().status, 200);
    }
}

/// A client that kept the session from its first connection resumes on the second, in TLS 1.3
/// (a ticket) and 1.2; the server counts it.
#[test]
fn sessions_resume() {
    let server = start(Tls::new(TlsMode::Valid), false);
    let ca = server.ca().unwrap();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        // One config, so one session cache, per version.
        let config = client_config_for(ca, &[version]);
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let mut client = tls_connect(server.addr(), "127.0.0.1", &config).unwrap();
            client.send_close_mode("/p/1");
            assert_eq!(client.response().unwrap().status, 200);
            assert!(client.at_end());
            kinds.push(client.stream.conn.handshake_kind());
        }
        assert_eq!(
            kinds,
            [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)],
            "{version:?}"
        );
    }
    let stats = server.stats();
    assert_eq!(stats.handshakes.load(Ordering::Relaxed), 4);
    assert_eq!(stats.resumed.load(Ordering::Relaxed), 2);
}

/// Two requests on one TLS connection: one handshake, two framed responses.
#[test]
fn a_tls_connection_is_kept_alive() {
    let server = start(Tls::new(TlsMode::Valid), false);
    let mut client = tls_root(&server);
    for path in ["/", "/p/1", "/p/2"] {
        client.send(path, "1.1", "");
        let response = client.response().unwrap();
        assert_eq!((response.version, response.status), (1, 200), "{path}");
        assert!(response.header("content-length").is_some());
    }
    let stats = server.stats();
    assert_eq!(stats.handshakes.load(Ordering::Relaxed), 1);
    assert_eq!(stats.served.load(Ordering::Relaxed), 3);
    assert_eq!(stats.reused.load(Ordering::Relaxed), 2);
}

/// Every handshake fault, each on its own listener, all signed by (or compared with) one CA
/// the client trusts: the error each gives a rustls client, and the manifest's outcome.
#[test]
fn each_handshake_fault_fails_as_documented() {
    let ca = Arc::new(Ca::new().unwrap());
    let config = client_config(&ca);
    for mode in TlsMode::FAULTS {
        let server = start(Tls::with_ca(mode, Arc::clone(&ca)), false);
        assert_eq!(server.tls_mode(), Some(mode));
        assert_eq!(server.ca_pem(), Some(ca.pem()), "{mode:?}: the CA given");
        let manifest = server.manifest(&spec(false));
        assert_eq!(
            manifest.urls.into_iter().collect::<Vec<_>>(),
            [(server.url(), mode.outcome().to_owned())]
        );
        let expect_error = |check: fn(&Error) -> bool| {
            let error = tls_connect(server.addr(), "127.0.0.1", &config)
                .err()
                .unwrap_or_else(|| panic!("{mode:?}: the handshake fails"));
            let rustls = rustls_error(&error);
            assert!(rustls.is_some_and(check), "{mode:?}: {error:?}");
        };
        match mode {
            TlsMode::Expired => expect_error(|e| {
                matches!(
                    e,
                    Error::InvalidCertificate(
                        CertificateError::Expired | CertificateError::ExpiredContext { .. }
                    )
                )
            }),
            TlsMode::WrongName => expect_error(|e| {
                matches!(
                    e,
                    Error::InvalidCertificate(
                        CertificateError::NotValidForName
                            | CertificateError::NotValidForNameContext { .. }
                    )
                )
            }),
            TlsMode::UntrustedIssuer => expect_error(|e| {
                matches!(
                    e,
                    Error::InvalidCertificate(CertificateError::UnknownIssuer)
                )
            }),
            TlsMode::GarbageRecord => expect_error(|e| {
                matches!(e, Error::InvalidMessage(InvalidMessage::InvalidContentType))
            }),
            TlsMode::StalledHandshake => {
                let tcp = std::net::TcpStream::connect(server.addr()).unwrap();
                tcp.set_read_timeout(Some(std::time::Duration::from_millis(500)))
                    .unwrap();
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let conn = rustls::ClientConnection::new(Arc::clone(&config), name).unwrap();
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                // The ClientHello goes out; nothing comes back.
                let error = stream.conn.complete_io(&mut stream.sock).unwrap_err();
                assert!(
                    matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "{error:?}"
                );
                assert!(stream.conn.is_handshaking());
            }
            TlsMode::Valid => unreachable!("not a fault"),
        }
        if mode != TlsMode::StalledHandshake {
            assert_eq!(server.stats().handshakes.load(Ordering::Relaxed), 0);
        }
    }
    // The wrong name's certificate is good for its own name: only the name is wrong.
    let server = start(Tls::with_ca(TlsMode::WrongName, Arc::clone(&ca)), false);
    let mut client = tls_connect(server.addr(), WRONG_NAME, &config).unwrap();
    client.send_close_mode("/");
    assert_eq!(client.response().unwrap().status, 200);
}

fn tls_page(path: &str) -> &'static c10k_testsite::faults::FaultPage {
    TLS_PAGES.iter().find(|p| p.path == path).unwrap()
}

/// The TLS site's own fault pages: a body cut by a TCP close without `close_notify` is an
/// unexpected end for rustls, whatever framed it; one ended by `close_notify` is whole. The
/// root links them; the plain site has none of them.
#[test]
fn the_tls_fault_pages_cut_or_end_their_bodies() {
    let server = start(Tls::new(TlsMode::Valid), true);
    let manifest = server.manifest(&spec(true));
    let origin = server.url().trim_end_matches('/').to_owned();
    for page in TLS_PAGES {
        assert_eq!(
            manifest.urls[&format!("{origin}{}", page.path)],
            page.outcome
        );
    }
    let mut client = tls_root(&server);
    client.send_close_mode("/");
    let root = String::from_utf8(client.response().unwrap().body).unwrap();
    for page in TLS_PAGES {
        assert!(root.contains(&format!("href=\"{}\"", page.path)), "{root}");
    }

    for path in ["/fault/tls/cut-body", "/fault/tls/cut-eof"] {
        assert_eq!(tls_page(path).outcome, "error:truncated");
        let mut client = tls_root(&server);
        client.send_close_mode(path);
        let error = client.response().unwrap_err();
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::UnexpectedEof,
            "{path}: {error:?}"
        );
        // Some of the body did come before the cut.
        assert!(!client.pending.is_empty(), "{path}");
    }
    assert_eq!(tls_page("/fault/tls/notify-eof").outcome, "200");
    let mut client = tls_root(&server);
    client.send_close_mode("/fault/tls/notify-eof");
    let whole = client.response().unwrap();
    assert_eq!(whole.status, 200);
    assert!(whole.header("content-length").is_none());
    assert!(String::from_utf8_lossy(&whole.body).ends_with("whole</p>"));

    // The plain fault site has none of them.
    let plain = Server::start(ServerOptions {
        spec: spec(true),
        ..ServerOptions::default()
    })
    .unwrap();
    let mut client = Client::plain(plain.addr());
    client.send_close_mode("/fault/tls/cut-eof");
    assert_eq!(client.response().unwrap().status, 404);
    assert!(
        !plain
            .manifest(&spec(true))
            .urls
            .keys()
            .any(|url| url.contains("/fault/tls/"))
    );
}

/// With a plain twin: https → http → https, each step where `BOUNCE_PAGES` says, and the
/// manifest is the crawl of both roots.
#[test]
fn the_bounce_goes_through_the_plain_twin_and_back() {
    let server = start(
        Tls {
            mode: TlsMode::Valid,
            ca: None,
            plain_twin: Some("127.0.0.1:0".parse().unwrap()),
        },
        true,
    );
    let tls_origin = server.url().trim_end_matches('/').to_owned();
    let twin_url = server.twin_url().unwrap();
    let twin_origin = twin_url.trim_end_matches('/').to_owned();
    assert_eq!(twin_url, format!("http://{}/", server.twin_addr().unwrap()));

    let mut client = tls_root(&server);
    client.send_close_mode("/fault/tls/to-plain");
    let first = client.response().unwrap();
    assert_eq!(first.status, 301);
    let to_twin = first.header("location").unwrap().to_owned();
    assert_eq!(to_twin, format!("{twin_origin}/fault/tls/to-tls"));

    let mut client = Client::plain(server.twin_addr().unwrap());
    client.send_close_mode("/fault/tls/to-tls");
    let second = client.response().unwrap();
    assert_eq!(second.status, 301);
    let back = second.header("location").unwrap().to_owned();
    assert_eq!(back, format!("{tls_origin}/fault/tls/back"));

    let mut client = tls_root(&server);
    client.send_close_mode("/fault/tls/back");
    assert_eq!(client.response().unwrap().status, 200);

    // The twin is the plain site: its root links no TLS page, and its own pages are there.
    let mut client = Client::plain(server.twin_addr().unwrap());
    client.send_close_mode("/");
    let twin_root = client.response().unwrap();
    assert_eq!(
        twin_root.body,
        spec(true).render_page(0, &twin_origin),
        "the plain site's root, at the twin's origin"
    );

    let manifest = server.manifest(&spec(true));
    for page in BOUNCE_PAGES {
        let at = if page.path == "/fault/tls/to-tls" {
            &twin_origin
        } else {
            &tls_origin
        };
        assert_eq!(manifest.urls[&format!("{at}{}", page.path)], page.outcome);
    }
    let plain = spec(true).manifest(&twin_origin);
    let tls = spec(true).manifest(&tls_origin);
    let expected: BTreeSet<&String> = plain
        .urls
        .keys()
        .chain(tls.urls.keys())
        .collect::<BTreeSet<_>>();
    let got: BTreeSet<&String> = manifest
        .urls
        .keys()
        .filter(|url| !url.contains("/fault/tls/"))
        .collect();
    assert_eq!(got, expected);

    // A twin only for the valid site.
    let refused = Server::start(ServerOptions {
        tls: Some(Tls {
            mode: TlsMode::Expired,
            ca: None,
            plain_twin: Some("127.0.0.1:0".parse().unwrap()),
        }),
        ..ServerOptions::default()
    });
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::InvalidInput)
    );
}
