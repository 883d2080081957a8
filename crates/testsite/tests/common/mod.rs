//! What the server's tests share: a blocking HTTP client that reads responses one at a time off
//! a connection it keeps, over TCP or over a rustls client.

#![allow(dead_code)] // Not every test binary uses every helper.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    time::Duration,
};

use c10k_testsite::{Ca, Server, SiteSpec};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned, pki_types::ServerName};

/// How long a test waits for a byte that should come: far beyond what any answer takes, so a
/// timeout means the server did not send it.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// The site the tests serve: 20 pages, and the fault pages if asked.
pub(crate) fn spec(faults: bool) -> SiteSpec {
    SiteSpec {
        pages: 20,
        faults,
        ..SiteSpec::default()
    }
}

/// One response as read off the wire.
#[derive(Debug)]
pub(crate) struct Response {
    /// The status line's version, `0` for HTTP/1.0 or `1` for HTTP/1.1.
    pub(crate) version: u8,
    pub(crate) status: u16,
    /// The header lines, names lowercased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the response says the connection closes after it.
    pub(crate) fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A connection to the server, with the bytes read but not yet taken as a response.
pub(crate) struct Client<S> {
    pub(crate) stream: S,
    pub(crate) pending: Vec<u8>,
}

impl Client<TcpStream> {
    pub(crate) fn plain(addr: SocketAddr) -> Client<TcpStream> {
        let stream = TcpStream::connect(addr).expect("the server accepts");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Client::over(stream)
    }
}

impl<S: Read + Write> Client<S> {
    pub(crate) fn over(stream: S) -> Client<S> {
        Client {
            stream,
            pending: Vec::new(),
        }
    }

    /// Sends `GET path` as `version` (`1.0` or `1.1`) with `headers` (whole lines).
    pub(crate) fn send(&mut self, path: &str, version: &str, headers: &str) {
        let request = format!("GET {path} HTTP/{version}\r\nHost: test\r\n{headers}\r\n");
        self.stream.write_all(request.as_bytes()).unwrap();
        self.stream.flush().unwrap();
    }

    /// Sends what `c10k crawl` sends today: HTTP/1.0 and `Connection: close`.
    pub(crate) fn send_close_mode(&mut self, path: &str) {
        self.send(
            path,
            "1.0",
            "Accept: text/html, */*;q=0.5\r\nAccept-Encoding: identity\r\nConnection: close\r\n",
        );
    }

    /// Reads more bytes; `Ok(0)` at the end of the stream.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0; 4096];
        let n = self.stream.read(&mut chunk)?;
        self.pending.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response head (interim responses included) and its body as its head frames
    /// it: by `Content-Length`, or else to the end of the stream.
    pub(crate) fn response(&mut self) -> io::Result<Response> {
        let (len, version, status, headers) = loop {
            let mut parsed_headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Response::new(&mut parsed_headers);
            match parsed.parse(&self.pending) {
                Ok(httparse::Status::Complete(len)) => {
                    let headers = parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect::<Vec<_>>();
                    break (
                        len,
                        parsed.version.unwrap_or_default(),
                        parsed.code.unwrap_or_default(),
                        headers,
                    );
                }
                Ok(httparse::Status::Partial) => {
                    if self.fill()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        };
        self.pending.drain(..len);
        let mut response = Response {
            version,
            status,
            headers,
            body: Vec::new(),
        };
        if (100..200).contains(&status) {
            return Ok(response);
        }
        match response.header("content-length") {
            Some(length) => {
                let length: usize = length.trim().parse().map_err(io::Error::other)?;
                while self.pending.len() < length {
                    if self.fill()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                response.body = self.pending.drain(..length).collect();
            }
            None => {
                while self.fill()? > 0 {}
                response.body = std::mem::take(&mut self.pending);
            }
        }
        Ok(response)
    }

    /// The final response, after any interim ones (which are returned first).
    pub(crate) fn final_response(&mut self) -> io::Result<(Vec<Response>, Response)> {
        let mut interim = Vec::new();
        loop {
            let response = self.response()?;
            if (100..200).contains(&response.status) {
                interim.push(response);
            } else {
                return Ok((interim, response));
            }
        }
    }

    /// Whether the server has ended the stream: nothing pending and a read gives the end (a
    /// timeout or a reset fails the test, so the check cannot pass by waiting).
    pub(crate) fn at_end(&mut self) -> bool {
        self.pending.is_empty() && self.fill().expect("the end of the stream, not an error") == 0
    }
}

/// A rustls client that trusts `ca` (and only it), TLS 1.3 and 1.2, ALPN `http/1.1`.
pub(crate) fn client_config(ca: &Ca) -> Arc<ClientConfig> {
    client_config_for(ca, &[&rustls::version::TLS13, &rustls::version::TLS12])
}

/// [`client_config`] for these protocol versions only.
pub(crate) fn client_config_for(
    ca: &Ca,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der()).expect("the CA is a valid certificate");
    let mut config = ClientConfig::builder_with_provider(c10k_testsite::tls::provider())
        .with_protocol_versions(versions)
        .expect("ring supports these versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

pub(crate) type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `addr` as `name` and completes the handshake; the rustls error if it fails.
pub(crate) fn tls_connect(
    addr: SocketAddr,
    name: &str,
    config: &Arc<ClientConfig>,
) -> Result<Client<Tls>, io::Error> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(PATIENCE))?;
    let name = ServerName::try_from(name.to_owned()).expect("a valid server name");
    let conn = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(Client::over(stream))
}

/// The rustls error inside an I/O error, if that is what it is.
pub(crate) fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// `server`'s root over TLS, at its IP address.
pub(crate) fn tls_root(server: &Server) -> Client<Tls> {
    let ca = server.ca().expect("a TLS server");
    tls_connect(
        server.addr(),
        &server.addr().ip().to_string(),
        &client_config(ca),
    )
    .expect("the handshake completes")
}
