//! The site over TLS: a certificate authority made at start, the leaf certificates it signs,
//! and the faults a TLS client meets before the first byte of HTTP.
//!
//! # One mode per listener
//!
//! [`ServerOptions::tls`](crate::ServerOptions::tls) takes a [`Tls`], whose [`TlsMode`] is
//! either [`TlsMode::Valid`] (the site itself, over TLS) or one of the handshake faults. A
//! certificate fault needs a listener of its own: a client that connects to `127.0.0.1:PORT`
//! sends no server name (SNI carries host names, never addresses), so the only thing a server
//! can choose a certificate by is the address it was reached at. One listener, one
//! certificate. The faults that happen after a good handshake (a body cut without
//! `close_notify`, a bounce through plain http) are pages of the fault site instead, in
//! [`crate::faults::TLS_PAGES`] and [`crate::faults::BOUNCE_PAGES`].
//!
//! So a test that wants every handshake fault starts one [`crate::Server`] per mode in
//! [`TlsMode::FAULTS`], all with the same [`Ca`] (so the client is given one PEM), and reads
//! each one's expected outcome from [`TlsMode::outcome`] or from its
//! [`crate::Server::manifest`]. `c10k serve --tls --tls-faults` does the same.
//!
//! # Certificates
//!
//! Each [`Ca`] is made at run time with `rcgen` (an ECDSA P-256 key; nothing is read from
//! disk and nothing depends on the clock). A leaf names `localhost`, the server's `name` (and
//! `www.` before it, for `--lenient` crawls) and the addresses `127.0.0.1`, `::1` and the one
//! the server is bound to. Keys differ from run to run; nothing in a manifest depends on them.
//!
//! # Sessions
//!
//! TLS 1.3 and 1.2 are both accepted (ring is the crypto provider: it builds with a C
//! compiler and nothing else). Resumption is on: stateless tickets (one ticket key per
//! server, in memory), so a client that kept a ticket resumes without the server keeping
//! state per client. [`crate::Stats`] counts full and resumed handshakes.

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    Ia5String, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};

/// A certificate authority of the test server's own: what a client is given to trust.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// The common name of every test CA.
const CA_NAME: &str = "c10k test CA";
/// The common name of the untrusted issuer's CA.
const UNTRUSTED_CA_NAME: &str = "c10k untrusted CA";

impl Ca {
    /// A new authority with a fresh key.
    pub fn new() -> io::Result<Ca> {
        Ca::named(CA_NAME)
    }

    /// A new authority called `name`. The untrusted issuer's needs a name of its own: a
    /// client that finds a trusted CA of the same name checks the signature against it, and
    /// reports a bad signature, not an unknown issuer.
    fn named(name: &str) -> io::Result<Ca> {
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(io::Error::other)?;
        Ok(Ca { cert, key })
    }

    /// The authority's certificate in PEM, as `--ca-file` (and `curl --cacert`) read it.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// The authority's certificate in DER, for a `rustls::RootCertStore`.
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A leaf certificate for `names` signed by this authority, valid `from` `to` (`None`:
    /// rcgen's default, 1975 to 4096); returns the chain the server sends and its key.
    fn leaf(&self, names: &Names, valid: Option<(i32, i32)>) -> io::Result<Leaf> {
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, names.common_name());
        params.subject_alt_names = names.sans()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if let Some((from, to)) = valid {
            params.not_before = rcgen::date_time_ymd(from, 1, 1);
            params.not_after = rcgen::date_time_ymd(to, 1, 1);
        }
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(io::Error::other)?;
        Ok(Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

/// A certificate chain (the leaf alone: the client holds the CA) and the leaf's key.
struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// What a leaf certificate names.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// Host names (DNS SANs).
    pub(crate) hosts: Vec<String>,
    /// Addresses (IP SANs).
    pub(crate) addrs: Vec<IpAddr>,
}

impl Names {
    /// What a server bound to `bound` and calling itself `name` answers to.
    pub(crate) fn of_server(name: Option<&str>, bound: IpAddr) -> Names {
        let mut hosts = vec!["localhost".to_owned()];
        if let Some(name) = name {
            hosts.push(name.to_owned());
            hosts.push(format!("www.{name}"));
        }
        let mut addrs = vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        if !bound.is_unspecified() && !addrs.contains(&bound) {
            addrs.push(bound);
        }
        Names { hosts, addrs }
    }

    /// Names that are none of the server's: the wrong-name fault.
    fn wrong() -> Names {
        Names {
            hosts: vec![WRONG_NAME.to_owned()],
            addrs: Vec::new(),
        }
    }

    fn common_name(&self) -> String {
        self.hosts
            .last()
            .cloned()
            .unwrap_or_else(|| "c10k test site".to_owned())
    }

    fn sans(&self) -> io::Result<Vec<SanType>> {
        let mut sans = Vec::new();
        for host in &self.hosts {
            let host = Ia5String::try_from(host.as_str()).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{host:?}: {e}"))
            })?;
            sans.push(SanType::DnsName(host));
        }
        sans.extend(self.addrs.iter().copied().map(SanType::IpAddress));
        Ok(sans)
    }
}

/// The one name the wrong-name fault's certificate is valid for.
pub const WRONG_NAME: &str = "wrong-name.invalid";

/// How a listener speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// The site over TLS, with a certificate for the server's names signed by its [`Ca`].
    Valid,
    /// A certificate for the right names, by the right CA, that expired on 2001-01-01.
    Expired,
    /// A certificate by the right CA for [`WRONG_NAME`] only.
    WrongName,
    /// A certificate for the right names, signed by another CA (made at start and given to
    /// nobody).
    UntrustedIssuer,
    /// Accepts the connection, reads the ClientHello and never answers it.
    StalledHandshake,
    /// Answers the ClientHello with bytes that are not TLS (a plain-HTTP 400, as a server
    /// that speaks no TLS on this port would send), then closes.
    GarbageRecord,
}

impl TlsMode {
    /// Every handshake fault, in the order `c10k serve --tls-faults` starts them.
    pub const FAULTS: [TlsMode; 5] = [
        TlsMode::Expired,
        TlsMode::WrongName,
        TlsMode::UntrustedIssuer,
        TlsMode::StalledHandshake,
        TlsMode::GarbageRecord,
    ];

    /// A short name (`expired`, `wrong-name`, …).
    pub fn name(self) -> &'static str {
        match self {
            TlsMode::Valid => "valid",
            TlsMode::Expired => "expired",
            TlsMode::WrongName => "wrong-name",
            TlsMode::UntrustedIssuer => "untrusted-issuer",
            TlsMode::StalledHandshake => "stalled-handshake",
            TlsMode::GarbageRecord => "garbage-record",
        }
    }

    /// What a correct crawler records for the root of a listener in this mode, in
    /// `--urls-out` words: `200` for the valid site, a TLS error for the certificate and
    /// record faults (not tried again: the server answered, wrongly), a timeout for the stall
    /// (tried `--max-tries` times, as any timeout).
    pub fn outcome(self) -> &'static str {
        match self {
            TlsMode::Valid => "200",
            TlsMode::StalledHandshake => "error:timeout",
            TlsMode::Expired
            | TlsMode::WrongName
            | TlsMode::UntrustedIssuer
            | TlsMode::GarbageRecord => TLS_ERROR,
        }
    }

    /// The reason a crawler's TLS error should give, and what a rustls client reports:
    /// `CertificateError::Expired` (or `ExpiredContext`), `NotValidForName` (or
    /// `NotValidForNameContext`), `UnknownIssuer`, and for the garbage
    /// `InvalidMessage::InvalidContentType`.
    pub fn reason(self) -> &'static str {
        match self {
            TlsMode::Valid => "",
            TlsMode::Expired => "expired",
            TlsMode::WrongName => "name mismatch",
            TlsMode::UntrustedIssuer => "unknown issuer",
            TlsMode::StalledHandshake => "handshake timeout",
            TlsMode::GarbageRecord => "protocol error",
        }
    }

    /// What the listener does, for `--help` and the docs.
    pub fn what(self) -> &'static str {
        match self {
            TlsMode::Valid => "the site over TLS",
            TlsMode::Expired => "a certificate that expired on 2001-01-01",
            TlsMode::WrongName => "a certificate for another name",
            TlsMode::UntrustedIssuer => "a certificate signed by a CA the client was not given",
            TlsMode::StalledHandshake => "reads the ClientHello and never answers",
            TlsMode::GarbageRecord => "answers the ClientHello with plain HTTP, then closes",
        }
    }
}

/// The outcome of a TLS failure in `--urls-out` words.
pub const TLS_ERROR: &str = "error:tls";

/// How a listener speaks TLS: [`ServerOptions::tls`](crate::ServerOptions::tls).
#[derive(Debug, Clone)]
pub struct Tls {
    /// The site, or one handshake fault.
    pub mode: TlsMode,
    /// The authority that signs the certificate (and whose PEM
    /// [`Server::ca_pem`](crate::Server::ca_pem) gives); `None`: the server makes one. Give
    /// several servers one CA so that a client trusts all of them with one file.
    pub ca: Option<Arc<Ca>>,
    /// Also serve the same site over plain http at this address (port 0: a free port), on
    /// the same runtime: its twin. The TLS fault site then links its bounce pages
    /// ([`crate::faults::BOUNCE_PAGES`]), which redirect to the twin and back. Only with
    /// [`TlsMode::Valid`].
    pub plain_twin: Option<std::net::SocketAddr>,
}

impl Tls {
    /// `mode`, with a CA of the server's own and no twin.
    pub fn new(mode: TlsMode) -> Tls {
        Tls {
            mode,
            ca: None,
            plain_twin: None,
        }
    }

    /// `mode`, signed by `ca`.
    pub fn with_ca(mode: TlsMode, ca: Arc<Ca>) -> Tls {
        Tls {
            mode,
            ca: Some(ca),
            plain_twin: None,
        }
    }
}

/// What a TLS listener does with a new TCP connection.
#[derive(Clone)]
pub(crate) enum Handshake {
    /// A rustls handshake with this configuration (the valid site or a certificate fault).
    Accept(tokio_rustls::TlsAcceptor),
    /// [`TlsMode::StalledHandshake`].
    Stall,
    /// [`TlsMode::GarbageRecord`].
    Garbage,
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Handshake::Accept(_) => "Accept",
            Handshake::Stall => "Stall",
            Handshake::Garbage => "Garbage",
        })
    }
}

impl Handshake {
    /// The handshake of `mode` for a server with these `names`, its certificate by `ca`.
    pub(crate) fn new(mode: TlsMode, ca: &Ca, names: &Names) -> io::Result<Handshake> {
        let leaf = match mode {
            TlsMode::Valid => ca.leaf(names, None)?,
            TlsMode::Expired => ca.leaf(names, Some((2000, 2001)))?,
            TlsMode::WrongName => ca.leaf(&Names::wrong(), None)?,
            TlsMode::UntrustedIssuer => Ca::named(UNTRUSTED_CA_NAME)?.leaf(names, None)?,
            TlsMode::StalledHandshake => return Ok(Handshake::Stall),
            TlsMode::GarbageRecord => return Ok(Handshake::Garbage),
        };
        Ok(Handshake::Accept(tokio_rustls::TlsAcceptor::from(
            server_config(leaf)?,
        )))
    }
}

/// The rustls configuration of a listener: TLS 1.3 and 1.2, ring, stateless tickets, ALPN
/// `http/1.1`.
fn server_config(leaf: Leaf) -> io::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(leaf.chain, leaf.key)
        .map_err(io::Error::other)?;
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A test's own TLS server: an authority made for it, and the rustls configuration of a
/// server whose certificate it signed (as the site's: TLS 1.3 and 1.2, ring, stateless
/// tickets, ALPN `http/1.1`). For tests that run a server of their own, a blocking one with
/// rustls' `StreamOwned` or a `ServerConnection` pumped in memory, rather than a
/// [`crate::Server`].
#[derive(Debug)]
pub struct TlsFixture {
    /// What a client is given to trust ([`Ca::der`], [`Ca::pem`]).
    pub ca: Ca,
    /// The server's side, for a `rustls::ServerConnection`.
    pub server: Arc<ServerConfig>,
}

/// A [`TlsFixture`] whose certificate names `names` (an address as an IP name, anything else
/// as a host name), valid from 1975 to 4096, or if `expired` only in 2000.
///
/// Each fixture's authority has a name of its own: a client given one test's authority that
/// meets another's certificate then reports an unknown issuer, as a client that does not
/// trust the issuer should, not a bad signature (a CA is found by its name before its
/// signature is checked).
pub fn tls_fixture(names: &[&str], expired: bool) -> io::Result<TlsFixture> {
    static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ca = Ca::named(&format!("{CA_NAME} {n} of process {}", std::process::id()))?;
    let (addrs, hosts): (Vec<&str>, Vec<&str>) = names
        .iter()
        .partition(|name| name.parse::<IpAddr>().is_ok());
    let names = Names {
        hosts: hosts.into_iter().map(str::to_owned).collect(),
        addrs: addrs.iter().filter_map(|addr| addr.parse().ok()).collect(),
    };
    let leaf = ca.leaf(&names, expired.then_some((2000, 2001)))?;
    Ok(TlsFixture {
        ca,
        server: server_config(leaf)?,
    })
}

/// The crypto provider of the server (and of the tests' clients): ring's.
///
/// rustls 0.23.48 deprecates it because ring has no post-quantum key exchange, nudging users
/// to aws-lc-rs; aws-lc-rs needs cmake and more to build, which the project's two-command
/// setup does not assume, and a loopback test server needs no protection from a future
/// quantum computer. Named here once, so the choice is in one place.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

/// The garbage record's bytes: what a plain HTTP server answers to a ClientHello.
pub(crate) const GARBAGE: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
    Content-Length: 38\r\nConnection: close\r\n\r\nThis port speaks HTTP, not HTTPS. Bye.";
