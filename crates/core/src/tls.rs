//! TLS for `https:` URLs: one rustls client configuration per shard, and the bytes-in,
//! bytes-out state machine the event-driven strategies drive themselves.
//!
//! rustls is sans-IO, as this core is: a [`rustls::ClientConnection`] holds no socket. Bytes
//! read from the socket go in (`read_tls`, then `process_new_packets`), plaintext comes out of
//! its reader, and what it has to send (the handshake, the request's records, alerts) is taken
//! with `write_tls`. So one TLS layer sits between every model's socket and the
//! same [`ResponseReader`], and each model only decides when to feed and when to drain:
//!
//! - threads wrap the blocking socket in a [`rustls::StreamOwned`], and async the tokio socket
//!   in `tokio-rustls`'s stream, the way a user of each would;
//! - callbacks, generators and uring hold a [`Tls`] beside their socket: on readiness (or a
//!   completed receive) the bytes go to [`Tls::received`], and whatever [`Tls::outgoing`]
//!   gives is written before the next read.
//!
//! # Trust
//!
//! Certificates are verified by default against the Mozilla roots compiled into the binary
//! (`webpki-roots`), not the system store: the same roots on every machine, nothing to
//! install on a fresh one, and a benchmark that does not depend on what a distribution ships.
//! `--ca-file PEM` adds roots (a private CA, the test server's); `--insecure` (curl's `-k`)
//! verifies nothing but the handshake's signatures, is never the default, and is said once on
//! stderr and in the report.
//!
//! # What goes on the wire
//!
//! SNI is the URL's host (also under `--resolve`, whose address is only where to connect); an
//! IP address is sent no SNI and checked against the certificate's IP names. ALPN offers
//! `http/1.1` alone. TLS 1.3 session tickets (and TLS 1.2 session ids) are kept in memory per
//! shard, so a new connection to an origin resumes instead of a full handshake; `--no-resume`
//! turns that off to measure what it saves. Each shard has its own store (its own
//! `ClientConfig`): a store shared by every loop would be a lock on every handshake.
//!
//! # The end of a TLS stream
//!
//! A TLS stream that ends without `close_notify` may have been cut by someone other than the
//! server. A response whose framing ended first (a `Content-Length` met, the last chunk) is
//! whole either way; one whose body is delimited by the close is then [`FetchError::Truncated`],
//! never a whole page ([`ResponseReader::eof_unclean`]).
//!
//! The crypto provider is `ring`: it builds with the C compiler every machine here has, in a
//! fraction of the time of `aws-lc-rs` (rustls' default, a large C library). Its price: no
//! post-quantum key exchange (X25519 where `aws-lc-rs` would offer X25519MLKEM768), which is
//! also a lighter handshake than a browser's today.
//!
//! The key exchange groups are offered X25519 first, then P-256, then P-384 ([`provider`]),
//! as browsers and OpenSSL offer them. rustls 0.23.48's ring provider offers P-384 first, and
//! a server takes the client's order: ring computes P-384 with its generic big-number code,
//! which made a handshake (full or resumed) cost the crawler about 0.6 ms of CPU more, on
//! both sides, than X25519 does.

use std::{
    io::{self, BufRead as _},
    sync::Arc,
};

use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        Resumption,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use url::Url;

/// The crypto provider of every TLS connection the crawler makes: ring's, with the key
/// exchange groups offered X25519 first (see the module's doc).
pub fn provider() -> CryptoProvider {
    // rustls 0.23.48 deprecates ring's provider for having no post-quantum key exchange;
    // it is still maintained and builds everywhere (see the module's doc).
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    #[allow(deprecated)]
    let preferred = {
        use rustls::crypto::ring::kx_group;
        [kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1]
    };
    provider.kx_groups.sort_by_key(|group| {
        preferred
            .iter()
            .position(|p| p.name() == group.name())
            .unwrap_or(usize::MAX)
    });
    provider
}

use crate::{
    error::FetchError,
    response::{Progress, Response, ResponseReader},
};

/// How the crawl speaks TLS: what it trusts, and whether it resumes sessions.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Roots trusted beside the compiled-in ones (`--ca-file`), in DER.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Verify no certificate (`--insecure`).
    pub insecure: bool,
    /// Resume sessions (TLS 1.3 tickets), per shard; off with `--no-resume`.
    pub resume: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            extra_roots: Vec::new(),
            insecure: false,
            resume: true,
        }
    }
}

impl TlsOptions {
    /// Reads the certificates of a PEM file's text (`--ca-file`); an error names what is
    /// wrong with it.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, String> {
        use rustls::pki_types::pem::PemObject as _;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            self.extra_roots
                .push(cert.map_err(|err| format!("not a PEM certificate: {err}"))?);
            added += 1;
        }
        if added == 0 {
            return Err("no certificate in it".to_owned());
        }
        Ok(added)
    }

    /// A new client configuration: its own session store, so give each shard one.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let provider = Arc::new(provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| err.to_string())?;
        let mut config = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            for cert in &self.extra_roots {
                roots
                    .add(cert.clone())
                    .map_err(|err| format!("a CA certificate that cannot be trusted: {err}"))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = if self.resume {
            Resumption::store(Arc::new(Sessions::default()))
        } else {
            Resumption::disabled()
        };
        Ok(Arc::new(config))
    }
}

/// The name to verify and send as SNI for `url`: its host name, or its IP address.
pub fn server_name(url: &Url) -> Result<ServerName<'static>, FetchError> {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|_| FetchError::Tls(format!("{host:?} is not a name a certificate can have")))
}

/// A new client side of TLS for `url` under `config`.
pub fn connection(config: &Arc<ClientConfig>, url: &Url) -> Result<ClientConnection, FetchError> {
    ClientConnection::new(Arc::clone(config), server_name(url)?).map_err(|err| tls_error(&err))
}

/// The fetch error of a TLS failure: the reason a crawler's user acts on (an unknown issuer, a
/// name mismatch, an expired certificate, a failed handshake, a protocol error).
pub fn tls_error(err: &rustls::Error) -> FetchError {
    use rustls::{CertificateError as C, Error as E};
    let reason = match err {
        E::InvalidCertificate(C::UnknownIssuer) => "unknown issuer".to_owned(),
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "name mismatch: the certificate is for other names".to_owned()
        }
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "certificate expired".to_owned()
        }
        E::InvalidCertificate(other) => format!("invalid certificate: {other:?}"),
        E::AlertReceived(alert) => format!("handshake failure: the server sent {alert:?}"),
        E::PeerIncompatible(why) => format!("handshake failure: {why:?}"),
        E::NoApplicationProtocol => "handshake failure: no common protocol (ALPN)".to_owned(),
        other => format!("protocol error: {other}"),
    };
    FetchError::Tls(reason)
}

/// The TLS error inside an I/O error from a stream wrapper (rustls' `StreamOwned`,
/// `tokio-rustls`), which reports it as `InvalidData` with the rustls error within.
pub(crate) fn tls_error_in(err: &io::Error) -> Option<FetchError> {
    let inner = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(tls_error(inner))
}

/// The client side of one TLS connection, for a strategy that moves its bytes itself.
///
/// Driving order: [`Tls::send`] the request (it waits behind the handshake); write what
/// [`Tls::outgoing`] gives whenever [`Tls::wants_write`]; feed every chunk the socket gives to
/// [`Tls::received`] (then write again: reading may have produced handshake records or an
/// alert), until it says [`Progress::Done`]; at the socket's end, [`Tls::eof`].
#[derive(Debug)]
pub struct Tls {
    conn: ClientConnection,
}

impl Tls {
    /// The client side for `url`, under the shard's `config`.
    pub fn new(config: &Arc<ClientConfig>, url: &Url) -> Result<Tls, FetchError> {
        Ok(Tls {
            conn: connection(config, url)?,
        })
    }

    /// Queues plaintext (the request): encrypted once the handshake allows.
    pub fn send(&mut self, plaintext: &[u8]) {
        use io::Write as _;
        // The writer buffers without bound before and after the handshake: it cannot fail.
        let _ = self.conn.writer().write_all(plaintext);
    }

    /// Whether TLS has bytes to send now.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Appends the bytes TLS has to send now to `out`; returns how many.
    pub fn outgoing(&mut self, out: &mut Vec<u8>) -> usize {
        let mut written = 0;
        while self.conn.wants_write() {
            // Writing to a `Vec` cannot fail.
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n,
            }
        }
        written
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether the handshake resumed an earlier session instead of a full one.
    pub fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// Bytes read from the socket: decrypted, and the plaintext fed to `reader`, which says
    /// whether the response is complete. A TLS failure ends the fetch (the alert it queued is
    /// in [`Tls::outgoing`], for a strategy that cares to send it).
    pub fn received(
        &mut self,
        mut bytes: &[u8],
        reader: &mut ResponseReader,
    ) -> Result<Progress, FetchError> {
        while !bytes.is_empty() {
            // Every plaintext byte is taken below before more is read, so rustls' buffer of
            // unread plaintext never fills and it takes the bytes; after a close_notify it
            // takes none (`Ok(0)`), and what follows the close is not read.
            let taken = self
                .conn
                .read_tls(&mut bytes)
                .map_err(|err| FetchError::Tls(format!("protocol error: {err}")))?;
            self.conn
                .process_new_packets()
                .map_err(|err| tls_error(&err))?;
            if let Progress::Done(mut response) = self.plaintext(reader)? {
                // Records after the response's: the connection is not reused.
                response.reusable &= bytes.is_empty();
                return Ok(Progress::Done(response));
            }
            if taken == 0 {
                break;
            }
        }
        Ok(Progress::NeedMore)
    }

    /// Ends the connection cleanly: queues `close_notify`, for [`Tls::outgoing`] to give to a
    /// last send before the socket is closed (when the model cares to send it).
    pub fn close(&mut self) {
        self.conn.send_close_notify();
    }

    /// Hands every plaintext byte TLS holds to `reader`.
    fn plaintext(&mut self, reader: &mut ResponseReader) -> Result<Progress, FetchError> {
        loop {
            let mut plain = self.conn.reader();
            let chunk = match plain.fill_buf() {
                Ok([]) => return Ok(Progress::NeedMore),
                Ok(chunk) => chunk,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Progress::NeedMore);
                }
                Err(_) => return Ok(Progress::NeedMore),
            };
            let len = chunk.len();
            let progress = reader.feed(chunk)?;
            plain.consume(len);
            if let Progress::Done(mut response) = progress {
                let rest = self.conn.reader().fill_buf().map_or(0, <[u8]>::len);
                response.reusable &= rest == 0;
                return Ok(Progress::Done(response));
            }
        }
    }

    /// The socket reached its end: with `close_notify`, whatever the close delimits is whole;
    /// without it, only a response whose framing had ended ([`ResponseReader::eof_unclean`]).
    pub fn eof(&mut self, reader: &mut ResponseReader) -> Result<Response, FetchError> {
        // An empty read tells rustls the stream ended; what it says next is whether cleanly.
        let _ = self.conn.read_tls(&mut &[][..]);
        let _ = self.conn.process_new_packets();
        if let Progress::Done(response) = self.plaintext(reader)? {
            return Ok(response);
        }
        if self.conn.reader().fill_buf().is_ok() {
            reader.eof()
        } else if self.conn.is_handshaking() {
            Err(FetchError::Reset(
                "connection closed during the TLS handshake".to_owned(),
            ))
        } else {
            reader.eof_unclean()
        }
    }
}

/// A shard's TLS sessions, by server name: TLS 1.3 tickets (each used once), a TLS 1.2
/// session, the key exchange group last chosen.
///
/// rustls' own in-memory store keeps 8 tickets per server, which is plenty for a browser; a
/// crawler opens up to its concurrency's worth of connections to one origin at once, each
/// wanting a ticket of its own, so with the crawl's connections closed after each fetch most
/// handshakes found none left and were full ones. This store keeps up to
/// [`Sessions::TICKETS`] per server and [`Sessions::TOTAL`] in all, for up to
/// [`Sessions::SERVERS`] servers: about 1.2 MB per shard at most, whatever the crawl.
#[derive(Debug, Default)]
struct Sessions(std::sync::Mutex<SessionMap>);

#[derive(Debug, Default)]
struct SessionMap {
    servers: std::collections::HashMap<ServerName<'static>, ServerSessions>,
    /// TLS 1.3 tickets held, over every server.
    tickets: usize,
}

#[derive(Debug, Default)]
struct ServerSessions {
    kx_hint: Option<rustls::NamedGroup>,
    tls12: Option<rustls::client::Tls12ClientSessionValue>,
    /// Oldest first.
    tls13: std::collections::VecDeque<rustls::client::Tls13ClientSessionValue>,
}

impl Sessions {
    /// Tickets kept per server: more than any concurrency a crawl runs at per loop and origin
    /// is worth, and about 300 bytes each.
    const TICKETS: usize = 1024;
    /// Tickets kept over every server: a ticket to a server beyond this takes the place of
    /// that server's oldest, or, if it has none, every server's are forgotten.
    const TOTAL: usize = 4096;
    /// Servers remembered (a shard forgets them all past this: a crawl of many origins).
    const SERVERS: usize = 4096;

    fn map(&self) -> std::sync::MutexGuard<'_, SessionMap> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `f` on `name`'s sessions, under the lock.
    fn with<T>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut ServerSessions) -> T) -> T {
        self.map().with(name, f)
    }
}

impl SessionMap {
    /// `f` on `name`'s sessions, the count of tickets held kept up to date.
    fn with<T>(&mut self, name: &ServerName<'_>, f: impl FnOnce(&mut ServerSessions) -> T) -> T {
        if !self.servers.contains_key(name) && self.servers.len() >= Sessions::SERVERS {
            *self = SessionMap::default();
        }
        let server = self.servers.entry(name.to_owned()).or_default();
        let before = server.tls13.len();
        let result = f(server);
        let after = server.tls13.len();
        self.tickets = self.tickets + after - before;
        result
    }

    /// Keeps a TLS 1.3 ticket for `name`: past [`Sessions::TICKETS`] for the server, or
    /// past [`Sessions::TOTAL`] in all if the server holds some, in place of its oldest;
    /// past the total if it holds none, in a store that forgets every other server first.
    fn insert_tls13_ticket(
        &mut self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        let held = self
            .servers
            .get(&name)
            .map_or(0, |server| server.tls13.len());
        let full = self.tickets >= Sessions::TOTAL;
        if full && held == 0 {
            // Every server's tickets forgotten: a crawl of many origins starts over.
            *self = SessionMap::default();
        }
        self.with(&name, |server| {
            // Past the total, a server that holds tickets gives up its oldest.
            if server.tls13.len() >= Sessions::TICKETS || full && held > 0 {
                server.tls13.pop_front();
            }
            server.tls13.push_back(value);
        });
    }
}

impl rustls::client::ClientSessionStore for Sessions {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.with(&name, |server| server.kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.with(name, |server| server.kx_hint)
    }

    fn set_tls12_session(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.with(&name, |server| server.tls12 = Some(value));
    }

    fn tls12_session(
        &self,
        name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.with(name, |server| server.tls12.clone())
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |server| server.tls12 = None);
    }

    fn insert_tls13_ticket(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        // One guard for the whole insertion: what is held, and the room made for the ticket,
        // are as the ticket finds them, whatever other connections of the shard insert or take
        // meanwhile (a work-stealing runtime's threads share a store).
        self.map().insert_tls13_ticket(name, value);
    }

    fn take_tls13_ticket(
        &self,
        name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        // The newest first: the least likely to have expired.
        self.with(name, |server| server.tls13.pop_back())
    }
}

/// `--insecure`: no certificate is checked (the handshake's signatures still are, with the
/// provider's algorithms).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use rustls::{ServerConfig, ServerConnection, client::ClientSessionStore as _};

    use super::*;
    use crate::Limits;

    #[test]
    fn x25519_is_offered_first_and_every_group_still_is() {
        let names: Vec<_> = provider().kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [
                rustls::NamedGroup::X25519,
                rustls::NamedGroup::secp256r1,
                rustls::NamedGroup::secp384r1
            ]
        );
    }

    /// A CA, and a server whose leaf certificate it signed for `names` (expired, or valid).
    struct Site {
        ca: CertificateDer<'static>,
        server: Arc<ServerConfig>,
    }

    fn site(names: &[&str], expired: bool) -> Site {
        let fixture = c10k_testsite::tls_fixture(names, expired).unwrap();
        Site {
            ca: fixture.ca.der(),
            server: fixture.server,
        }
    }

    fn client(site: &Site, insecure: bool) -> Arc<ClientConfig> {
        let options = TlsOptions {
            extra_roots: vec![site.ca.clone()],
            insecure,
            resume: true,
        };
        options.client_config().unwrap()
    }

    /// How the server ends its side after the response.
    #[derive(Clone, Copy, PartialEq)]
    enum End {
        /// Keeps the connection open.
        Open,
        /// `close_notify`, then the end of the stream.
        Clean,
        /// The end of the stream alone.
        Cut,
    }

    /// One fetch of `url` through `client`'s [`Tls`] from `site`'s server, which answers
    /// `response` and ends as `end`, the bytes pumped between the two in memory: the result,
    /// and whether the session was resumed.
    fn fetch(
        client: &Arc<ClientConfig>,
        site: &Site,
        url: &str,
        response: &[u8],
        end: End,
    ) -> (Result<Response, FetchError>, bool) {
        let url = Url::parse(url).unwrap();
        match Tls::new(client, &url) {
            Ok(tls) => exchange(tls, site, &url, response, end),
            Err(err) => (Err(err), false),
        }
    }

    /// [`fetch`] on a client side already begun.
    fn exchange(
        mut tls: Tls,
        site: &Site,
        url: &Url,
        response: &[u8],
        end: End,
    ) -> (Result<Response, FetchError>, bool) {
        let mut server = ServerConnection::new(Arc::clone(&site.server)).unwrap();
        let mut reader = ResponseReader::new(Limits::default());
        tls.send(&crate::request::request(url, true));
        let mut answered = false;
        for _ in 0..20 {
            let mut to_server = Vec::new();
            tls.outgoing(&mut to_server);
            if server.read_tls(&mut &to_server[..]).is_ok()
                && let Err(err) = server.process_new_packets()
            {
                // The server refuses the client (an alert): let the client read it.
                let _ = err;
            }
            let mut request = Vec::new();
            let _ = server.reader().read_to_end(&mut request);
            if !answered && !request.is_empty() {
                server.writer().write_all(response).unwrap();
                if end == End::Clean {
                    server.send_close_notify();
                }
                answered = true;
            }
            let mut to_client = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut to_client).unwrap();
            }
            if !to_client.is_empty() {
                match tls.received(&to_client, &mut reader) {
                    Ok(Progress::Done(response)) => return (Ok(response), tls.resumed()),
                    Ok(Progress::NeedMore) => {}
                    Err(err) => return (Err(err), false),
                }
            }
            if answered && end != End::Open {
                return (tls.eof(&mut reader), tls.resumed());
            }
        }
        panic!("the exchange did not end");
    }

    const PAGE: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn a_page_over_tls_and_a_resumed_session() {
        let site = site(&["localhost", "127.0.0.1"], false);
        let client = client(&site, false);
        for url in ["https://localhost:8443/", "https://127.0.0.1:8443/"] {
            let (response, _) = fetch(&client, &site, url, PAGE, End::Open);
            let response = response.unwrap();
            assert_eq!((response.status, &response.body[..]), (200, &b"hello"[..]));
            assert!(response.reusable, "HTTP/1.1, framed, read whole");
        }
        // The client's session store resumes the next connection to the same name.
        let (response, resumed) = fetch(&client, &site, "https://localhost:8443/", PAGE, End::Open);
        assert!(response.is_ok() && resumed);
        // Without resumption: a full handshake every time.
        let options = TlsOptions {
            extra_roots: vec![site.ca.clone()],
            resume: false,
            ..TlsOptions::default()
        };
        let fresh = options.client_config().unwrap();
        assert!(
            fetch(&fresh, &site, "https://localhost:8443/", PAGE, End::Open)
                .0
                .is_ok()
        );
        let (_, resumed) = fetch(&fresh, &site, "https://localhost:8443/", PAGE, End::Open);
        assert!(!resumed);
    }

    /// A crawler opens many connections to one origin at once: each new one finds a ticket of
    /// its own to resume with (rustls' own store keeps 8 per server).
    #[test]
    fn many_connections_at_once_each_resume() {
        let site = site(&["localhost"], false);
        let client = client(&site, false);
        let url = "https://localhost/";
        for _ in 0..20 {
            assert!(fetch(&client, &site, url, PAGE, End::Open).0.is_ok());
        }
        // Twenty begun before any ends: each took its ticket with its ClientHello.
        let url = Url::parse(url).unwrap();
        let begun: Vec<Tls> = (0..20).map(|_| Tls::new(&client, &url).unwrap()).collect();
        let resumed = begun
            .into_iter()
            .map(|tls| exchange(tls, &site, &url, PAGE, End::Open))
            .filter(|(response, resumed)| response.is_ok() && *resumed)
            .count();
        assert_eq!(resumed, 20);
    }

    /// `n` TLS 1.3 tickets, from handshakes with a server that sends many (rustls' tickets
    /// are not `Clone`, and only a handshake makes them).
    fn tickets(n: usize) -> Vec<rustls::client::Tls13ClientSessionValue> {
        let mut site = site(&["localhost"], false);
        let mut server = Arc::unwrap_or_clone(site.server);
        server.send_tls13_tickets = 200;
        site.server = Arc::new(server);
        let sessions = Arc::new(Sessions::default());
        let mut config = Arc::unwrap_or_clone(client(&site, false));
        config.resumption = Resumption::store(Arc::clone(&sessions) as _);
        let config = Arc::new(config);
        let localhost = ServerName::try_from("localhost").unwrap();
        let mut tickets = Vec::new();
        while tickets.len() < n {
            assert!(
                fetch(&config, &site, "https://localhost/", PAGE, End::Open)
                    .0
                    .is_ok()
            );
            let before = tickets.len();
            tickets.extend(std::iter::from_fn(|| {
                sessions.take_tls13_ticket(&localhost)
            }));
            assert!(tickets.len() > before, "the handshake left tickets");
        }
        tickets.truncate(n);
        tickets
    }

    /// The store's caps, per server and in all: a server's oldest ticket makes room for its
    /// newest, and a server with none, past the total, makes the store forget every other.
    #[test]
    fn tickets_stay_within_the_caps() {
        let name = |n: usize| ServerName::try_from(format!("s{n}.test")).unwrap();
        let servers = Sessions::TOTAL / Sessions::TICKETS;
        let mut tickets = tickets(Sessions::TOTAL + 3).into_iter();
        let mut map = SessionMap::default();
        let held = |map: &SessionMap, n| map.servers.get(&name(n)).map_or(0, |s| s.tls13.len());
        for server in 0..servers {
            for ticket in tickets.by_ref().take(Sessions::TICKETS) {
                map.insert_tls13_ticket(name(server), ticket);
            }
        }
        assert_eq!(map.tickets, Sessions::TOTAL);
        // A server at its cap, the store full: its oldest goes.
        map.insert_tls13_ticket(name(0), tickets.next().unwrap());
        assert_eq!(
            (held(&map, 0), map.tickets),
            (Sessions::TICKETS, Sessions::TOTAL)
        );
        // A server with none, the store full: the others are forgotten.
        map.insert_tls13_ticket(name(servers), tickets.next().unwrap());
        assert_eq!((held(&map, servers), held(&map, 0), map.tickets), (1, 0, 1));
        map.insert_tls13_ticket(name(0), tickets.next().unwrap());
        let counted: usize = map.servers.values().map(|s| s.tls13.len()).sum();
        assert_eq!(map.tickets, counted);
    }

    /// A body the close delimits is whole only after `close_notify`; a framed one either way.
    #[test]
    fn the_end_of_a_tls_stream_is_whole_only_with_close_notify() {
        let site = site(&["localhost"], false);
        let client = client(&site, false);
        let unframed = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nhello";
        let url = "https://localhost/";
        let (clean, _) = fetch(&client, &site, url, unframed, End::Clean);
        let clean = clean.unwrap();
        assert_eq!(clean.body, b"hello");
        assert!(!clean.reusable, "delimited by the close");
        let (cut, _) = fetch(&client, &site, url, unframed, End::Cut);
        assert!(matches!(cut, Err(FetchError::Truncated(_))), "{cut:?}");
        let (framed, _) = fetch(&client, &site, url, PAGE, End::Cut);
        assert!(framed.is_ok());
    }

    #[test]
    fn certificate_failures_are_tls_errors_with_their_reason() {
        let reason = |result: (Result<Response, FetchError>, bool)| match result.0 {
            Err(FetchError::Tls(reason)) => reason,
            other => panic!("a TLS error, not {other:?}"),
        };
        let good = site(&["localhost"], false);
        // Another CA's certificate: the client trusts only its own CA and the web's roots.
        let other = site(&["localhost"], false);
        let client = client(&good, false);
        let url = "https://localhost/";
        assert_eq!(
            reason(fetch(&client, &other, url, PAGE, End::Open)),
            "unknown issuer"
        );
        let wrong = site(&["other.test"], false);
        let client = self::client(&wrong, false);
        assert!(reason(fetch(&client, &wrong, url, PAGE, End::Open)).contains("name"));
        let expired = site(&["localhost"], true);
        let client = self::client(&expired, false);
        assert!(reason(fetch(&client, &expired, url, PAGE, End::Open)).contains("expired"));
        // --insecure: none of that is checked.
        let insecure = self::client(&good, true);
        assert!(fetch(&insecure, &other, url, PAGE, End::Open).0.is_ok());
        assert!(fetch(&insecure, &expired, url, PAGE, End::Open).0.is_ok());
    }

    /// Records after a close_notify are not read, and do not keep the reader waiting.
    #[test]
    fn what_follows_a_close_notify_is_not_read() {
        let site = site(&["localhost"], false);
        let client = client(&site, false);
        let url = Url::parse("https://localhost/").unwrap();
        let mut tls = Tls::new(&client, &url).unwrap();
        let mut server = ServerConnection::new(Arc::clone(&site.server)).unwrap();
        let mut reader = ResponseReader::new(Limits::default());
        tls.send(&crate::request::request(&url, true));
        let mut wire = Vec::new();
        for _ in 0..4 {
            wire.clear();
            tls.outgoing(&mut wire);
            server.read_tls(&mut &wire[..]).unwrap();
            server.process_new_packets().unwrap();
            wire.clear();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            tls.received(&wire, &mut reader).unwrap();
        }
        server
            .writer()
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nunframed")
            .unwrap();
        server.send_close_notify();
        wire.clear();
        while server.wants_write() {
            server.write_tls(&mut wire).unwrap();
        }
        assert_eq!(tls.received(&wire, &mut reader), Ok(Progress::NeedMore));
        // A record after the close, in a later read.
        let after = [23, 3, 3, 0, 5, 1, 2, 3, 4, 5];
        assert_eq!(tls.received(&after, &mut reader), Ok(Progress::NeedMore));
        let response = tls.eof(&mut reader).unwrap();
        assert_eq!(response.body, b"unframed");
    }

    /// Bytes after the response (more than its `Content-Length` says) leave the connection in
    /// doubt: it is not reused.
    #[test]
    fn bytes_after_the_response_make_it_not_reusable() {
        let site = site(&["localhost"], false);
        let client = client(&site, false);
        let extra = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n";
        let (response, _) = fetch(&client, &site, "https://localhost/", extra, End::Open);
        assert!(!response.unwrap().reusable);
    }

    #[test]
    fn a_ca_file_is_read_from_pem() {
        let site = site(&["localhost"], false);
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64(&site.ca)
        );
        let mut options = TlsOptions::default();
        assert_eq!(options.add_pem(pem.as_bytes()), Ok(1));
        assert!(options.add_pem(b"not pem").is_err());
        let client = options.client_config().unwrap();
        assert!(
            fetch(&client, &site, "https://localhost/", PAGE, End::Open)
                .0
                .is_ok()
        );
    }

    fn base64(bytes: &[u8]) -> String {
        const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
            for i in 0..4 {
                out.push(if i <= chunk.len() {
                    char::from(ABC[(n >> (18 - 6 * i) & 63) as usize])
                } else {
                    '='
                });
            }
        }
        out
    }
}
