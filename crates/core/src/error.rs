//! The one error type of a fetch, and the kinds the report counts.

use std::{fmt, io};

use serde::{Deserialize, Serialize};

/// Why a URL ended without an HTTP response.
///
/// Every variant maps to one [`ErrorKind`]; the report counts kinds, the
/// message keeps the detail for a human.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The TCP connection could not be established (refused, unreachable).
    #[error("connect failed: {0}")]
    Connect(String),
    /// The connect timeout or the whole-fetch deadline passed.
    #[error("timed out")]
    Timeout,
    /// The peer reset or closed the connection before a response began.
    #[error("connection reset: {0}")]
    Reset(String),
    /// The bytes received are not an HTTP response.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// A limit was exceeded (head size, header count, body size).
    #[error("{0} too large")]
    TooLarge(Limit),
    /// The connection closed before the response was complete.
    #[error("truncated response: {0}")]
    Truncated(&'static str),
    /// The body is in a coding the crawler cannot decode, or its coded data is corrupt.
    #[error("cannot decode the body: {0}")]
    Encoding(String),
    /// A redirect chain went beyond `--max-redirects`.
    #[error("too many redirects")]
    RedirectLimit,
    /// The URL is out of scope (other origin or scheme, or excluded); never connected to.
    #[error("skipped: {0}")]
    Skipped(Skip),
    /// The URL's host is in scope, but the caller gave no address for it.
    #[error("no address for host {0}")]
    Resolve(String),
    /// TLS failed: the certificate (an unknown issuer, another name, expired), the handshake,
    /// or the records (see [`crate::tls::tls_error`]).
    #[error("tls: {0}")]
    Tls(String),
}

// `ErrorKind::Robots` has no `FetchError`: a disallowed URL is never fetched, only recorded.

/// Which limit a [`FetchError::TooLarge`] hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The response head (status line and headers) is over its byte cap.
    Head,
    /// The response has more header lines than the cap.
    HeaderCount,
    /// The decoded body is over `--max-body`.
    Body,
    /// The URL is longer than the request line may be.
    Url,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Head => "response head",
            Limit::HeaderCount => "header count",
            Limit::Body => "body",
            Limit::Url => "url",
        })
    }
}

/// Why a URL was skipped instead of fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Neither an `http:` nor an `https:` URL.
    Scheme,
    /// Another scheme, host or port than the root's.
    Origin,
    /// Matched `--exclude`.
    Excluded,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::Scheme => "scheme is not http or https",
            Skip::Origin => "other origin",
            Skip::Excluded => "excluded",
        })
    }
}

/// The kinds of [`FetchError`] the report counts, in the words of `--urls-out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// See [`FetchError::Connect`].
    Connect,
    /// See [`FetchError::Timeout`].
    Timeout,
    /// See [`FetchError::Reset`].
    Reset,
    /// See [`FetchError::Malformed`].
    Malformed,
    /// See [`FetchError::TooLarge`].
    TooLarge,
    /// See [`FetchError::Truncated`].
    Truncated,
    /// See [`FetchError::Encoding`].
    Encoding,
    /// See [`FetchError::RedirectLimit`].
    RedirectLimit,
    /// See [`FetchError::Skipped`].
    Skipped,
    /// See [`FetchError::Resolve`].
    Resolve,
    /// Disallowed by its origin's robots.txt; never fetched.
    Robots,
    /// See [`FetchError::Tls`].
    Tls,
}

impl ErrorKind {
    /// Every kind, each at the index its `as usize` gives.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Malformed,
        ErrorKind::TooLarge,
        ErrorKind::Truncated,
        ErrorKind::Encoding,
        ErrorKind::RedirectLimit,
        ErrorKind::Skipped,
        ErrorKind::Resolve,
        ErrorKind::Robots,
        ErrorKind::Tls,
    ];

    /// The kebab-case name used in `--urls-out` and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Malformed => "malformed",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Encoding => "encoding",
            ErrorKind::RedirectLimit => "redirect-limit",
            ErrorKind::Skipped => "skipped",
            ErrorKind::Resolve => "resolve",
            ErrorKind::Robots => "robots",
            ErrorKind::Tls => "tls",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The phase of a fetch an I/O error happened in; it decides how the error is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Establishing the TCP connection.
    Connect,
    /// Writing the request or reading the response.
    Exchange,
}

impl FetchError {
    /// The kind the report counts this error under.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FetchError::Connect(_) => ErrorKind::Connect,
            FetchError::Timeout => ErrorKind::Timeout,
            FetchError::Reset(_) => ErrorKind::Reset,
            FetchError::Malformed(_) => ErrorKind::Malformed,
            FetchError::TooLarge(_) => ErrorKind::TooLarge,
            FetchError::Truncated(_) => ErrorKind::Truncated,
            FetchError::Encoding(_) => ErrorKind::Encoding,
            FetchError::RedirectLimit => ErrorKind::RedirectLimit,
            FetchError::Skipped(_) => ErrorKind::Skipped,
            FetchError::Resolve(_) => ErrorKind::Resolve,
            FetchError::Tls(_) => ErrorKind::Tls,
        }
    }

    /// Transport failures are worth another try; a bad response is not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FetchError::Connect(_) | FetchError::Timeout | FetchError::Reset(_)
        )
    }

    /// Classifies an I/O error from a socket, so every strategy names failures alike.
    ///
    /// `WouldBlock` and `Interrupted` are not failures and must never reach this function in
    /// an event-driven strategy; a blocking socket with a read timeout reports an expired
    /// timeout as `WouldBlock` or `TimedOut`, which is why both map to [`FetchError::Timeout`].
    ///
    /// A TLS stream wrapper's error (rustls' `StreamOwned`, `tokio-rustls`) carries the TLS
    /// failure inside: it is [`FetchError::Tls`].
    pub fn from_io(err: &io::Error, phase: Phase) -> FetchError {
        use io::ErrorKind as K;
        if let Some(tls) = crate::tls::tls_error_in(err) {
            return tls;
        }
        match err.kind() {
            K::TimedOut | K::WouldBlock => FetchError::Timeout,
            _ if phase == Phase::Connect => FetchError::Connect(err.to_string()),
            _ => FetchError::Reset(err.to_string()),
        }
    }
}
