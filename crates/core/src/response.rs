//! The incremental HTTP response reader: feed it whatever bytes arrived, learn whether the
//! response is complete.
//!
//! Driving order: create one [`ResponseReader`] per fetch; call [`ResponseReader::feed`] with
//! each chunk read from the socket until it returns [`Progress::Done`]; if the peer closes the
//! connection first, call [`ResponseReader::eof`], which decides whether what arrived is a
//! whole response (a body delimited by the close) or a truncated one. [`Progress::NeedMore`]
//! is the normal state of a response in transit, not an error.
//!
//! The body is kept only when the response is a 2xx HTML page (the only thing the crawler
//! parses), decoded if the server applied codings to it (see [`crate::decode`]); any other
//! body is counted as it arrives and dropped, so a large image costs no memory.

use std::mem;

use percent_encoding::{CONTROLS, percent_encode};

use crate::{
    config::Limits,
    decode::{Body, Decoder},
    error::{FetchError, Limit},
    robots::MAX_ROBOTS,
};

/// Header lines beyond this many make the head [`Limit::HeaderCount`] too large.
pub const MAX_HEADERS: usize = 100;

/// A complete response, as the core needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Location` header, if any, with its bytes that are not printable ASCII
    /// percent-encoded (curl's way: a server's raw Latin-1 is kept, not turned into U+FFFD).
    pub location: Option<String>,
    /// The `Retry-After` header of a 429 or 503 (other statuses do not keep it).
    pub retry_after: Option<String>,
    /// The `Date` header of a 429 or 503, which a `Retry-After` date is relative to.
    pub date: Option<String>,
    /// The decoded body, kept only for 2xx HTML.
    pub body: Vec<u8>,
    /// Length of the body: decoded if kept, as it arrived (unchunked) otherwise.
    pub body_len: u64,
    /// Whether the connection may carry another request (keep-alive): the server did not ask
    /// to close it (`Connection: close`, or HTTP/1.0 without `keep-alive`), the body was
    /// framed by its length or by chunks and read whole, and nothing came after it. Anything
    /// else leaves bytes in doubt on the connection, which is then closed.
    pub reusable: bool,
}

impl Response {
    /// Whether the body is HTML, the only kind whose links are followed.
    pub fn is_html(&self) -> bool {
        self.content_type.as_deref().is_some_and(is_html)
    }
}

/// HTML, or XHTML (which an HTML tokenizer reads well enough for links).
fn is_html(content_type: &str) -> bool {
    // Nearly every page's type, as it is written.
    if let Some(rest) = content_type.strip_prefix("text/html")
        && matches!(rest.as_bytes().first(), None | Some(b';'))
    {
        return true;
    }
    // The media type ends at the first `;` (a byte search: a header value is short, and a
    // `char` searcher costs more to set up than it saves).
    let end = (content_type.bytes())
        .position(|byte| byte == b';')
        .unwrap_or(content_type.len());
    let media_type = content_type[..end].trim();
    media_type.eq_ignore_ascii_case("text/html")
        || media_type.eq_ignore_ascii_case("application/xhtml+xml")
}

/// What one call to [`ResponseReader::feed`] achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// The response is not complete yet; read more.
    NeedMore,
    /// The response is complete; stop reading. The connection is closed, or (keep-alive)
    /// goes back to the pool if [`Response::reusable`] says it may.
    Done(Response),
}

/// Reads one HTTP/1.x response from bytes fed in pieces of any size.
///
/// A reader that has been fed nothing holds its limits and an empty pointer: the parser's
/// state (the head so far, the response, the body's framing and decoders, about 200 bytes)
/// is allocated with the first bytes. Most of ten thousand connections in flight are waiting
/// for their response to begin, and this way they wait, in every model, without it.
#[derive(Debug)]
pub struct ResponseReader {
    limits: Limits,
    parser: Option<Box<Parser>>,
    /// The response is a robots.txt: its body is kept whatever its type, and cut at
    /// [`MAX_ROBOTS`] rather than refused past `--max-body`.
    robots: bool,
}

impl ResponseReader {
    /// A reader that enforces `limits`.
    pub fn new(limits: Limits) -> ResponseReader {
        ResponseReader {
            limits,
            parser: None,
            robots: false,
        }
    }

    /// A reader of a robots.txt, if `robots`: it keeps (and decodes) a 2xx body whatever its
    /// type, and reads at most [`MAX_ROBOTS`] bytes of it, whatever `--max-body` says of
    /// pages: a longer file is cut there and the response is complete (RFC 9309, 2.5).
    pub fn for_robots_txt(mut self, robots: bool) -> ResponseReader {
        self.robots = robots;
        self
    }

    /// Consumes bytes just read from the connection.
    ///
    /// After [`Progress::Done`] the reader has nothing more to do; bytes beyond the end of the
    /// response are ignored.
    // Never inlined: the sweep's profiles split a page's instructions by the core's entry
    // points, which a copy inlined into a caller would hide.
    #[inline(never)]
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, FetchError> {
        let (limits, robots) = (self.limits, self.robots);
        self.parser
            .get_or_insert_with(|| Box::new(Parser::new(limits, robots)))
            .feed(data)
    }

    /// The connection was closed by the peer: what arrived is the whole response, or an error.
    pub fn eof(&mut self) -> Result<Response, FetchError> {
        match &mut self.parser {
            Some(parser) => parser.eof(),
            None => Err(FetchError::Reset(NO_RESPONSE.to_owned())),
        }
    }

    /// A TLS stream ended without `close_notify`: someone may have cut it, so a body that only
    /// the close delimits is [`FetchError::Truncated`], never a whole page; a response whose
    /// own framing was incomplete is truncated as at any end.
    pub fn eof_unclean(&mut self) -> Result<Response, FetchError> {
        match &mut self.parser {
            Some(parser) if parser.state == State::UntilEof => Err(FetchError::Truncated(
                "TLS stream ended without close_notify",
            )),
            _ => self.eof(),
        }
    }

    /// Whether any byte of the response has come. A reused connection that fails before one
    /// did was closed by the server while it sat idle: the request goes again on a fresh
    /// connection, without counting a try (RFC 9112, 9.3.1).
    pub fn started(&self) -> bool {
        self.parser.is_some()
    }

    /// Whether `err`, met on a connection taken from the pool (`reused`), says only that the
    /// server had let that connection go: it failed before any byte of the response, or the
    /// first bytes are no response head (the rest of an earlier answer). The request then goes
    /// again on a fresh connection, without counting a try (RFC 9112, 9.3.1); any other error
    /// is the fetch's own.
    pub fn stale(&self, reused: bool, err: &FetchError) -> bool {
        reused
            && match err {
                FetchError::Timeout => false,
                FetchError::Malformed(INVALID_HEAD) => true,
                _ => !self.started(),
            }
    }
}

/// What a response head that does not parse is.
const INVALID_HEAD: &str = "invalid response head";

/// Why a connection closed before it sent a byte is a transport failure (worth another try).
const NO_RESPONSE: &str = "connection closed before any response";

/// How far [`Parser::parse_head`] got.
enum Head {
    /// The final head is complete; its body begins at `body_at`.
    Complete { body_at: usize },
    /// The head that begins at `at` is not complete yet (interim heads before it are done).
    Partial { at: usize },
}

/// The state of a [`ResponseReader`] once bytes have come.
#[derive(Debug)]
struct Parser {
    limits: Limits,
    state: State,
    /// Bytes of the head received so far; released once the head is parsed.
    head: Vec<u8>,
    response: Response,
    /// Where the body goes once unframed: through the decoders of its codings, if it is
    /// kept and coded, to the body.
    body: Decoder,
    /// Bytes of body as they arrived (codings not undone): bounded by `max_body` too, so a
    /// coded stream that decodes to little cannot run on forever either.
    coded_len: u64,
    /// Whether an interim (1xx) response came before the head now awaited.
    interim: bool,
    /// Keep any 2xx body, not only HTML, and cut it at `max_body` instead of refusing it
    /// (a robots.txt).
    robots: bool,
    /// The body reached `max_body` and was cut there (a robots.txt only).
    cut: bool,
    /// Bytes came after the end of the response: the connection is not reused.
    overflow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    /// Body delimited by `Content-Length`, with this many bytes still due.
    Length(u64),
    Chunked(Chunk),
    /// Body delimited by the end of the connection.
    UntilEof,
    Done,
}

/// Where a chunked body decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading hex digits of a chunk size; `line` bytes of the line so far (0: no digit yet).
    Size { size: u64, line: usize },
    /// After the size: an extension or whitespace, up to the end of the line.
    SizeLineRest { size: u64, line: usize },
    /// Inside chunk data, with this many bytes left.
    Data(u64),
    /// After chunk data, expecting CR LF (or a bare LF).
    DataEnd { cr: bool },
    /// In the trailer section; `len` bytes on the current line.
    Trailer { len: usize, total: usize },
}

impl Parser {
    fn new(mut limits: Limits, robots: bool) -> Parser {
        if robots {
            limits.max_body = MAX_ROBOTS as u64;
        }
        Parser {
            limits,
            state: State::Head,
            head: Vec::new(),
            response: Response::default(),
            body: Decoder::Body(Body::default()),
            coded_len: 0,
            interim: false,
            robots,
            cut: false,
            overflow: false,
        }
    }

    fn feed(&mut self, data: &[u8]) -> Result<Progress, FetchError> {
        if self.state == State::Head {
            // The head usually comes whole with the first bytes: it is parsed where it lies,
            // and only a head that is still partial is kept, to be parsed again with the rest.
            let mut head = mem::take(&mut self.head);
            let fresh = head.is_empty();
            if !fresh {
                head.extend_from_slice(data);
            }
            let bytes = if fresh { data } else { &head[..] };
            match self.parse_head(bytes)? {
                Head::Complete { body_at } => self.feed_body(&bytes[body_at..])?,
                Head::Partial { at } => {
                    if fresh {
                        self.head = data[at..].to_vec();
                    } else {
                        head.drain(..at);
                        self.head = head;
                    }
                    return Ok(Progress::NeedMore);
                }
            }
        } else {
            self.feed_body(data)?;
        }
        if self.state == State::Done {
            Ok(Progress::Done(self.finish()?))
        } else {
            Ok(Progress::NeedMore)
        }
    }

    fn eof(&mut self) -> Result<Response, FetchError> {
        match self.state {
            State::Head if self.head.is_empty() && !self.interim => {
                Err(FetchError::Reset(NO_RESPONSE.to_owned()))
            }
            // After an interim response the server did answer: a close is a truncated
            // response, not a transport failure worth another try.
            State::Head => Err(FetchError::Truncated("response head")),
            State::Length(_) => Err(FetchError::Truncated("body shorter than Content-Length")),
            State::Chunked(_) => Err(FetchError::Truncated("chunked body")),
            State::UntilEof | State::Done => {
                self.state = State::Done;
                self.finish()
            }
        }
    }

    /// The body ended: the decoders give up what they hold, and the response is complete.
    fn finish(&mut self) -> Result<Response, FetchError> {
        // A cut stream cannot end well: what it decoded so far is the body.
        if self.coded_len > 0 && !self.cut {
            match self.body.finish() {
                // A robots.txt whose decoders held back more than its cap: cut there.
                Err(FetchError::TooLarge(Limit::Body)) if self.robots => self.cut = true,
                result => result?,
            }
        }
        let body = self.body.body();
        self.response.body = body.bytes.take().unwrap_or_default();
        self.response.body_len = body.len;
        if self.cut || self.overflow {
            self.response.reusable = false;
        }
        Ok(mem::take(&mut self.response))
    }

    /// Parses the head at the start of `bytes` (the head received so far), after any interim
    /// (1xx) heads. Once the final head is complete, moves to the body state.
    fn parse_head(&mut self, bytes: &[u8]) -> Result<Head, FetchError> {
        let mut at = 0;
        loop {
            let head = &bytes[at..];
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            let head_len = match httparse::ParserConfig::default()
                .allow_spaces_after_header_name_in_responses(true)
                .allow_obsolete_multiline_headers_in_responses(true)
                .allow_multiple_spaces_in_response_status_delimiters(true)
                .parse_response(&mut parsed, head)
            {
                Ok(httparse::Status::Complete(len)) if len <= self.limits.max_head => len,
                Ok(httparse::Status::Complete(_)) => {
                    return Err(FetchError::TooLarge(Limit::Head));
                }
                Ok(httparse::Status::Partial) if head.len() > self.limits.max_head => {
                    return Err(FetchError::TooLarge(Limit::Head));
                }
                Ok(httparse::Status::Partial) => return Ok(Head::Partial { at }),
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(FetchError::TooLarge(Limit::HeaderCount));
                }
                Err(_) => return Err(FetchError::Malformed(INVALID_HEAD)),
            };
            let status = parsed.code.unwrap_or_default();
            if (100..200).contains(&status) && status != 101 {
                // An interim response (100 Continue): the real head follows.
                at += head_len;
                self.interim = true;
                continue;
            }
            let codings;
            self.response.reusable = persistent(parsed.version, parsed.headers);
            (self.state, codings) = start_body(
                &self.limits,
                self.robots,
                &mut self.response,
                status,
                parsed.headers,
            )?;
            // Only a page whose links are followed is kept, and so decoded (or a robots.txt).
            let keep = (200..300).contains(&status) && (self.robots || self.response.is_html());
            // With no coding to undo, the body is as long as its `Content-Length` says: room
            // for it now, rather than as it grows.
            let expected = match self.state {
                State::Length(length) if codings.is_empty() => length,
                _ => 0,
            };
            let body = Body::new(self.limits.max_body, keep, expected);
            self.body = if keep {
                Decoder::new(&codings, body)?
            } else {
                Decoder::Body(body)
            };
            return Ok(Head::Complete {
                body_at: at + head_len,
            });
        }
    }

    fn feed_body(&mut self, mut data: &[u8]) -> Result<(), FetchError> {
        while !data.is_empty() {
            if self.cut {
                // A robots.txt at its cap: the rest is not read.
                self.state = State::Done;
            }
            match self.state {
                State::Head => unreachable!("the head is parsed before the body"),
                State::Done => {
                    // Bytes after the response: nothing was asked for them, so the connection
                    // holds what no one can read in order. It is not reused.
                    self.overflow = true;
                    return Ok(());
                }
                State::UntilEof => {
                    self.take_body(data)?;
                    data = &[];
                }
                State::Length(remaining) => {
                    let left = self.take_at_most(&mut data, remaining)?;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Length(left)
                    };
                }
                State::Chunked(Chunk::Data(remaining)) => {
                    let left = self.take_at_most(&mut data, remaining)?;
                    self.state = State::Chunked(if left == 0 {
                        Chunk::DataEnd { cr: false }
                    } else {
                        Chunk::Data(left)
                    });
                }
                State::Chunked(chunk) => {
                    self.state = self.chunk_framing(chunk, data[0])?;
                    data = &data[1..];
                }
            }
        }
        if self.cut {
            self.state = State::Done;
        }
        Ok(())
    }

    /// One byte of chunked framing (sizes, line ends, trailers); data bytes go elsewhere.
    ///
    /// A chunk-size line, like a trailer line, may be no longer than the head's cap, so
    /// endless leading zeros or extensions end as too large instead of being read forever.
    fn chunk_framing(&self, chunk: Chunk, byte: u8) -> Result<State, FetchError> {
        const BAD: FetchError = FetchError::Malformed("invalid chunked encoding");
        if let Chunk::Size { line, .. } | Chunk::SizeLineRest { line, .. } = chunk
            && line >= self.limits.max_head
        {
            return Err(FetchError::TooLarge(Limit::Head));
        }
        let next = match (chunk, byte) {
            (Chunk::Size { size, line }, b) if b.is_ascii_hexdigit() => {
                // Leading zeros are no digits of the size: only its value is bounded.
                let digit = u64::from((b as char).to_digit(16).unwrap_or_default());
                let size = size
                    .checked_mul(16)
                    .and_then(|size| size.checked_add(digit))
                    .filter(|&size| self.robots || size <= self.limits.max_body)
                    .ok_or(FetchError::TooLarge(Limit::Body))?;
                Chunk::Size {
                    size,
                    line: line + 1,
                }
            }
            (Chunk::Size { line: 0, .. }, _) => return Err(BAD),
            (Chunk::Size { size, .. } | Chunk::SizeLineRest { size, .. }, b'\n') => {
                if size == 0 {
                    Chunk::Trailer { len: 0, total: 0 }
                } else if !self.robots && self.coded_len.saturating_add(size) > self.limits.max_body
                {
                    return Err(FetchError::TooLarge(Limit::Body));
                } else {
                    Chunk::Data(size)
                }
            }
            // Whitespace (RFC 9112, 7.1.1: `BWS`, a space or a tab) or an extension after the
            // size.
            (
                Chunk::Size { size, line } | Chunk::SizeLineRest { size, line },
                b'\r' | b';' | b' ' | b'\t',
            )
            | (Chunk::SizeLineRest { size, line }, _) => Chunk::SizeLineRest {
                size,
                line: line + 1,
            },
            (Chunk::Size { .. }, _) => return Err(BAD),
            (Chunk::DataEnd { cr: false }, b'\r') => Chunk::DataEnd { cr: true },
            (Chunk::DataEnd { .. }, b'\n') => Chunk::Size { size: 0, line: 0 },
            (Chunk::DataEnd { .. }, _) => return Err(BAD),
            (Chunk::Trailer { len: 0, .. }, b'\n') => return Ok(State::Done),
            (Chunk::Trailer { total, .. }, _) if total >= self.limits.max_head => {
                return Err(FetchError::TooLarge(Limit::Head));
            }
            (Chunk::Trailer { total, .. }, b'\n') => Chunk::Trailer {
                len: 0,
                total: total + 1,
            },
            (Chunk::Trailer { len, total }, b'\r') => Chunk::Trailer {
                len,
                total: total + 1,
            },
            (Chunk::Trailer { len, total }, _) => Chunk::Trailer {
                len: len + 1,
                total: total + 1,
            },
            (Chunk::Data(_), _) => unreachable!("chunk data is not framing"),
        };
        Ok(State::Chunked(next))
    }

    /// Takes up to `remaining` body bytes from the front of `data`; returns how many are
    /// still due after them.
    fn take_at_most(&mut self, data: &mut &[u8], remaining: u64) -> Result<u64, FetchError> {
        let n = data
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        self.take_body(&data[..n])?;
        *data = &data[n..];
        Ok(remaining - n as u64)
    }

    fn take_body(&mut self, data: &[u8]) -> Result<(), FetchError> {
        let room = self.limits.max_body.saturating_sub(self.coded_len);
        let data = if self.robots && data.len() as u64 > room {
            self.cut = true;
            &data[..usize::try_from(room).unwrap_or(usize::MAX)]
        } else {
            data
        };
        self.coded_len += data.len() as u64;
        if self.coded_len > self.limits.max_body {
            return Err(FetchError::TooLarge(Limit::Body));
        }
        match self.body.write_body(data) {
            // A robots.txt that decodes to more than its cap: cut where the cap fell.
            Err(FetchError::TooLarge(Limit::Body)) if self.robots => {
                self.cut = true;
                Ok(())
            }
            result => result,
        }
    }
}

/// Reads what the head says about the body: how it is delimited, and the codings to undo
/// once it is unframed, in the order they were applied (content codings, then transfer
/// codings but the final `chunked`).
fn start_body(
    limits: &Limits,
    cut: bool,
    response: &mut Response,
    status: u16,
    headers: &[httparse::Header<'_>],
) -> Result<(State, Vec<String>), FetchError> {
    let mut content_length: Option<u64> = None;
    // The codings of every `Content-Encoding` and `Transfer-Encoding` line, each one list
    // (RFC 9110, 8.4; RFC 9112, 6.1).
    let mut codings = Vec::new();
    let mut transfer_codings = Vec::new();
    for header in headers {
        let value = || crate::utf8_lossy(header.value).trim().to_owned();
        if header.name.eq_ignore_ascii_case("content-type") {
            response.content_type = Some(value());
        } else if header.name.eq_ignore_ascii_case("location") {
            let location = header.value.trim_ascii();
            response.location = Some(percent_encode(location, CONTROLS).to_string());
        } else if matches!(status, 429 | 503) && header.name.eq_ignore_ascii_case("retry-after") {
            response.retry_after = Some(value());
        } else if matches!(status, 429 | 503) && header.name.eq_ignore_ascii_case("date") {
            response.date = Some(value());
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_codings.extend(list(header.value));
        } else if header.name.eq_ignore_ascii_case("content-encoding") {
            codings.extend(list(header.value));
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let length = parse_content_length(header.value)?;
            if content_length.is_some_and(|l| l != length) {
                return Err(FetchError::Malformed("conflicting Content-Length"));
            }
            content_length = Some(length);
        }
    }
    response.status = status;
    let framed_twice = content_length.is_some() && !transfer_codings.is_empty();
    let state = if status == 204 || status == 304 {
        State::Done
    } else if let Some(last) = transfer_codings.last() {
        // Transfer-Encoding overrides Content-Length (RFC 9112, 6.3), and only its last coding
        // says whether the body is chunked; otherwise the close delimits it.
        if last.eq_ignore_ascii_case("chunked") {
            transfer_codings.pop();
            State::Chunked(Chunk::Size { size: 0, line: 0 })
        } else {
            State::UntilEof
        }
    } else if let Some(length) = content_length {
        if length > limits.max_body && !cut {
            return Err(FetchError::TooLarge(Limit::Body));
        }
        if length == 0 {
            State::Done
        } else {
            State::Length(length)
        }
    } else {
        State::UntilEof
    };
    if state == State::UntilEof || framed_twice {
        // Delimited by the close, or framed two ways (RFC 9112, 6.3: close after it).
        response.reusable = false;
    }
    codings.extend(transfer_codings);
    Ok((state, codings))
}

/// Whether the server lets the connection carry another request: HTTP/1.1 unless it says
/// `Connection: close`, HTTP/1.0 only if it says `Connection: keep-alive` (RFC 9112, 9.3).
fn persistent(version: Option<u8>, headers: &[httparse::Header<'_>]) -> bool {
    let mut close = false;
    let mut keep_alive = false;
    for header in headers {
        if header.name.eq_ignore_ascii_case("connection") {
            for option in elements(header.value) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    match version {
        Some(1) => !close,
        _ => keep_alive && !close,
    }
}

/// The elements of a comma-separated header list, trimmed, empty ones dropped (RFC 9110,
/// 5.6.1: a recipient ignores them).
fn list(value: &[u8]) -> impl Iterator<Item = String> + '_ {
    elements(value).map(|element| crate::utf8_lossy(element).into_owned())
}

/// [`list`]'s elements as the bytes they are, for the lists read against ASCII (every
/// response's `Content-Length`, a `Connection`): nothing allocated.
fn elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|element| !element.is_empty())
}

/// A `Content-Length` value: digits, or a list of the same digits repeated (RFC 9110, 8.6,
/// `5, 5`). A number too big for 64 bits is too large, not malformed.
fn parse_content_length(value: &[u8]) -> Result<u64, FetchError> {
    const INVALID: FetchError = FetchError::Malformed("invalid Content-Length");
    let mut length = None;
    for element in elements(value) {
        if !element.iter().all(u8::is_ascii_digit) {
            return Err(INVALID);
        }
        let value = element
            .iter()
            .try_fold(0u64, |n, &digit| {
                n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
            })
            .unwrap_or(u64::MAX);
        if length.is_some_and(|length| length != value) {
            return Err(FetchError::Malformed("conflicting Content-Length"));
        }
        length = Some(value);
    }
    length.ok_or(INVALID)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_head: 1024,
        max_body: 1024,
    };

    /// Feeds `input` in pieces of `step` bytes, then EOF if the reader still wants more.
    fn read(input: &[u8], step: usize) -> Result<Response, FetchError> {
        let mut reader = ResponseReader::new(LIMITS);
        for piece in input.chunks(step.max(1)) {
            if let Progress::Done(response) = reader.feed(piece)? {
                return Ok(response);
            }
        }
        reader.eof()
    }

    /// Reads `input` whole and in every small step: the same response every time, but for
    /// whether bytes after its end came in the read that ended it (`reusable`).
    fn read_every_way(input: &[u8]) -> Result<Response, FetchError> {
        let whole = read(input, input.len());
        let beside_the_end = |r: Result<Response, FetchError>| {
            r.map(|response| Response {
                reusable: false,
                ..response
            })
        };
        for step in 1..input.len().min(40) {
            assert_eq!(
                beside_the_end(read(input, step)),
                beside_the_end(whole.clone()),
                "fed {step} bytes at a time"
            );
        }
        whole
    }

    #[test]
    fn content_length_body_completes_without_eof() {
        let input = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello";
        let mut reader = ResponseReader::new(LIMITS);
        let Progress::Done(response) = reader.feed(input).unwrap() else {
            panic!("a complete response must be done");
        };
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"hello");
        assert_eq!(read_every_way(input).unwrap(), response);
    }

    /// A robots.txt is read up to its own cap, whatever `--max-body` says, and a longer one is
    /// cut there (complete, not too large), however it is framed or coded; a page past
    /// `--max-body` is still too large.
    #[test]
    fn a_robots_txt_is_cut_at_its_cap_not_refused() {
        use std::io::Write;
        let text: Vec<u8> = b"Disallow: /p\n".repeat(MAX_ROBOTS / 13 + 100);
        let gzipped = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&text).unwrap();
            e.finish().unwrap()
        };
        let chunked = {
            let mut body = Vec::new();
            for piece in text.chunks(5000) {
                body.extend(format!("{:x}\r\n", piece.len()).into_bytes());
                body.extend(piece);
                body.extend(b"\r\n");
            }
            body.extend(b"0\r\n\r\n");
            body
        };
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
        let framings = [
            (
                format!("{head}Content-Length: {}\r\n\r\n", text.len()),
                &text,
            ),
            (format!("{head}\r\n"), &text),
            (
                format!("{head}Transfer-Encoding: chunked\r\n\r\n"),
                &chunked,
            ),
            (
                format!(
                    "{head}Content-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    gzipped.len()
                ),
                &gzipped,
            ),
        ];
        for (head, body) in framings {
            let mut input = head.clone().into_bytes();
            input.extend(body.iter());
            for step in [input.len(), 4096, 777] {
                let mut reader = ResponseReader::new(LIMITS).for_robots_txt(true);
                let done = input
                    .chunks(step)
                    .find_map(|piece| {
                        match reader
                            .feed(piece)
                            .unwrap_or_else(|e| panic!("{e}: {head:?} {step}"))
                        {
                            Progress::Done(response) => Some(response),
                            Progress::NeedMore => None,
                        }
                    })
                    .unwrap_or_else(|| panic!("complete at the cap: {head:?} {step}"));
                assert_eq!(done.body, text[..MAX_ROBOTS], "{head:?}, {step} at a time");
            }
            let mut page = ResponseReader::new(LIMITS);
            let result = input
                .chunks(4096)
                .try_for_each(|piece| page.feed(piece).map(drop));
            assert_eq!(result, Err(FetchError::TooLarge(Limit::Body)), "{head:?}");
        }
    }

    /// Whether a connection may carry the next request: only when the server keeps it and the
    /// response was framed and read exactly.
    #[test]
    fn the_keep_alive_verdict() {
        let reusable = |input: &[u8]| read_every_way(input).map(|r| r.reusable);
        let length = "Content-Length: 5\r\n\r\nhello";
        let chunked = "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        for (head, expected) in [
            ("HTTP/1.1 200 OK\r\n", true),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\n", false),
            (
                "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\n",
                false,
            ),
            ("HTTP/1.0 200 OK\r\n", false),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n", true),
        ] {
            for body in [length, chunked] {
                let input = format!("{head}{body}");
                assert_eq!(reusable(input.as_bytes()), Ok(expected), "{input:?}");
            }
        }
        // Delimited by the close; framed two ways; bytes after the end.
        assert_eq!(reusable(b"HTTP/1.1 200 OK\r\n\r\nhello"), Ok(false));
        let both = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(read(both, both.len()).map(|r| r.reusable), Ok(false));
        let extra = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloX";
        assert_eq!(read(extra, extra.len()).map(|r| r.reusable), Ok(false));
        // An interim response first, then the real one, framed: reusable.
        let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(reusable(interim), Ok(true));
        // A robots.txt cut at its cap leaves its rest unread.
        let mut long = b"HTTP/1.1 200 OK\r\nContent-Length: 600000\r\n\r\n".to_vec();
        long.resize(long.len() + 600_000, b'#');
        let mut robots = ResponseReader::new(LIMITS).for_robots_txt(true);
        let Ok(Progress::Done(cut)) = robots.feed(&long) else {
            panic!("cut at its cap");
        };
        assert!(!cut.reusable);
    }

    /// A reused connection that fails before its response begins, or whose first bytes are
    /// not a response head, was let go by the server: stale, tried again fresh.
    #[test]
    fn a_reused_connection_is_stale_only_before_its_response() {
        let reset = FetchError::Reset("closed".into());
        let fresh = ResponseReader::new(LIMITS);
        assert!(fresh.stale(true, &reset));
        assert!(
            !fresh.stale(false, &reset),
            "a new connection's failure is the fetch's"
        );
        assert!(!fresh.stale(true, &FetchError::Timeout));
        let mut garbage = ResponseReader::new(LIMITS);
        let err = garbage.feed(b"lo\r\nHTTP/1.1 200 OK\r\n\r\n").unwrap_err();
        assert!(garbage.stale(true, &err), "{err:?}");
        let mut begun = ResponseReader::new(LIMITS);
        begun
            .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab")
            .unwrap();
        assert!(!begun.stale(true, &reset));
    }

    /// A TLS stream that ends without close_notify: what only the close delimits is cut.
    #[test]
    fn an_unclean_end_truncates_only_what_the_close_delimits() {
        let mut reader = ResponseReader::new(LIMITS);
        assert!(!reader.started());
        assert!(matches!(reader.eof_unclean(), Err(FetchError::Reset(_))));
        let mut reader = ResponseReader::new(LIMITS);
        reader.feed(b"HTTP/1.1 200 OK\r\n\r\nhel").unwrap();
        assert!(reader.started());
        assert!(matches!(
            reader.eof_unclean(),
            Err(FetchError::Truncated(_))
        ));
        let mut reader = ResponseReader::new(LIMITS);
        reader
            .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
            .unwrap();
        assert!(matches!(
            reader.eof_unclean(),
            Err(FetchError::Truncated(_))
        ));
    }

    #[test]
    fn partial_is_not_an_error() {
        let mut reader = ResponseReader::new(LIMITS);
        assert_eq!(reader.feed(b"HTTP/1.0 2").unwrap(), Progress::NeedMore);
        assert_eq!(reader.feed(b"00 OK\r\n").unwrap(), Progress::NeedMore);
    }

    #[test]
    fn body_until_eof() {
        let response =
            read_every_way(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\nabc").unwrap();
        assert_eq!(response.body, b"abc");
    }

    #[test]
    fn only_html_bodies_are_kept() {
        let response =
            read_every_way(b"HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n\r\nabc").unwrap();
        assert!(response.body.is_empty());
        assert_eq!(response.body_len, 3);
    }

    #[test]
    fn chunked_body_is_decoded() {
        let input =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n\
            3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n";
        let response = read_every_way(input).unwrap();
        assert_eq!(response.body, b"abc0123456789");
    }

    #[test]
    fn bad_chunk_size_is_malformed() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            read_every_way(input),
            Err(FetchError::Malformed("invalid chunked encoding"))
        );
    }

    #[test]
    fn short_bodies_are_truncated() {
        let input = b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(
            read_every_way(input).unwrap_err().kind(),
            crate::ErrorKind::Truncated
        );
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        assert_eq!(
            read_every_way(input).unwrap_err().kind(),
            crate::ErrorKind::Truncated
        );
    }

    #[test]
    fn limits_are_enforced() {
        let big_head = format!("HTTP/1.0 200 OK\r\nX: {}\r\n\r\n", "a".repeat(2000));
        assert_eq!(
            read_every_way(big_head.as_bytes()),
            Err(FetchError::TooLarge(Limit::Head))
        );
        let many: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect();
        let many = format!("HTTP/1.0 200 OK\r\n{many}\r\n");
        assert!(read(many.as_bytes(), 4096).unwrap_err().kind() == crate::ErrorKind::TooLarge);
        let declared = b"HTTP/1.0 200 OK\r\nContent-Length: 999999\r\n\r\n";
        assert_eq!(read(declared, 100), Err(FetchError::TooLarge(Limit::Body)));
        let endless = [&b"HTTP/1.0 200 OK\r\n\r\n"[..], &[b'x'; 2000]].concat();
        assert_eq!(
            read_every_way(&endless),
            Err(FetchError::TooLarge(Limit::Body))
        );
    }

    #[test]
    fn a_reader_fed_nothing_holds_no_parser() {
        // What a connection waiting for its response keeps of the reader, in every model.
        assert!(mem::size_of::<ResponseReader>() <= 32);
        let mut reader = ResponseReader::new(Limits::default());
        assert!(reader.parser.is_none());
        assert!(matches!(reader.eof(), Err(FetchError::Reset(_))));
        assert_eq!(reader.feed(b"HTTP/1.0 200"), Ok(Progress::NeedMore));
        assert!(reader.parser.is_some());
    }

    #[test]
    fn garbage_and_silence() {
        assert_eq!(
            read_every_way(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(FetchError::Malformed("invalid response head"))
        );
        assert_eq!(read(b"", 1).unwrap_err().kind(), crate::ErrorKind::Reset);
        assert_eq!(
            read(b"HTTP/1.0 200", 1).unwrap_err().kind(),
            crate::ErrorKind::Truncated
        );
        let bad_length = b"HTTP/1.0 200 OK\r\nContent-Length: 12abc\r\n\r\n";
        assert_eq!(
            read(bad_length, 100),
            Err(FetchError::Malformed("invalid Content-Length"))
        );
    }

    const CHUNKED_HELLO: &str = "5\r\nhello\r\n0\r\n\r\n";

    fn body_of(head: &str, body: &str) -> Result<Vec<u8>, FetchError> {
        let input = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{head}\r\n{body}");
        read_every_way(input.as_bytes()).map(|response| response.body)
    }

    /// The codings of every `Transfer-Encoding` line are one list; empty elements do not
    /// count, and the last coding decides whether the body is chunked.
    #[test]
    fn transfer_encoding_is_one_list_across_lines() {
        for head in [
            "Transfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked,\r\n",
            "Transfer-Encoding: , chunked , \r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n",
            "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: identity\r\nTransfer-Encoding: CHUNKED\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
        ] {
            assert_eq!(body_of(head, CHUNKED_HELLO).unwrap(), b"hello", "{head:?}");
        }
        // Chunked, but not last: the close delimits the body, still chunked inside, which
        // a page cannot be read from (and anything else is only counted).
        let head = "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n";
        assert_eq!(
            body_of(head, CHUNKED_HELLO).unwrap_err().kind(),
            crate::ErrorKind::Encoding
        );
        let image =
            format!("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n{head}\r\n{CHUNKED_HELLO}");
        let response = read_every_way(image.as_bytes()).unwrap();
        assert_eq!(response.body_len, CHUNKED_HELLO.len() as u64);
        // Only empty lines: no coding at all, so Content-Length applies.
        let head = "Transfer-Encoding:\r\nContent-Length: 2\r\n";
        assert_eq!(body_of(head, "hello").unwrap(), b"he");
    }

    #[test]
    fn chunk_size_lines_follow_rfc_9112() {
        let chunked = "Transfer-Encoding: chunked\r\n";
        // Whitespace before an extension may be a tab (7.1.1 `BWS`).
        let body = "5\t;name=value\r\nhello\r\n0 \t; last\r\n\r\n";
        assert_eq!(body_of(chunked, body).unwrap(), b"hello");
        // Leading zeros are not digits of the size.
        let body = "0000000000000000005\r\nhello\r\n0000000000000000000\r\n\r\n";
        assert_eq!(body_of(chunked, body).unwrap(), b"hello");
        // A size beyond 64 bits is too large, and so is an endless size line.
        let body = "10000000000000000\r\nhello\r\n";
        assert_eq!(
            body_of(chunked, body),
            Err(FetchError::TooLarge(Limit::Body))
        );
        assert_eq!(
            body_of(chunked, &"0".repeat(5000)),
            Err(FetchError::TooLarge(Limit::Head))
        );
        let body = format!("5;{}", "x".repeat(5000));
        assert_eq!(
            body_of(chunked, &body),
            Err(FetchError::TooLarge(Limit::Head))
        );
    }

    #[test]
    fn content_length_lists_and_overflow() {
        // The same value repeated is that value (RFC 9110, 8.6), on one line or on several.
        for head in [
            "Content-Length: 5, 5\r\n",
            "Content-Length: 5,5,\r\n",
            "Content-Length: 5\r\nContent-Length: 5\r\n",
            "Content-Length: 0000000000000000000000005\r\n",
        ] {
            assert_eq!(body_of(head, "hello!").unwrap(), b"hello", "{head:?}");
        }
        for head in [
            "Content-Length: 5, 6\r\n",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
        ] {
            assert_eq!(
                body_of(head, "hello!"),
                Err(FetchError::Malformed("conflicting Content-Length")),
                "{head:?}"
            );
        }
        for head in ["Content-Length: 5, x\r\n", "Content-Length: ,\r\n"] {
            assert_eq!(
                body_of(head, "hello!"),
                Err(FetchError::Malformed("invalid Content-Length")),
                "{head:?}"
            );
        }
        // Too big for 64 bits: a number all the same, and far too large.
        let head = "Content-Length: 99999999999999999999999999\r\n";
        assert_eq!(
            body_of(head, "hello"),
            Err(FetchError::TooLarge(Limit::Body))
        );
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn coded_response(head: &str, body: &[u8]) -> Vec<u8> {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{head}\r\n");
        [head.as_bytes(), body].concat()
    }

    /// A page coded with gzip, as content or transfer coding, is decoded; anything else is
    /// counted as it came.
    #[test]
    fn coded_pages_are_decoded() {
        let page = b"<a href=\"/x\">x</a>";
        let coded = gzip(page);
        let chunked = format!("{:x}\r\n", coded.len()).into_bytes();
        let chunked = [&chunked[..], &coded, b"\r\n0\r\n\r\n"].concat();
        for input in [
            coded_response("Content-Encoding: gzip\r\n", &coded),
            coded_response("Content-Encoding: identity, x-gzip\r\n", &coded),
            coded_response("Transfer-Encoding: gzip, chunked\r\n", &chunked),
            coded_response(
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                &chunked,
            ),
            coded_response("Transfer-Encoding: gzip\r\n", &coded),
        ] {
            let response = read_every_way(&input).unwrap();
            assert_eq!(response.body, page);
            assert_eq!(response.body_len, page.len() as u64);
        }
        let not_a_page = [
            &b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Encoding: br\r\n\r\n"[..],
            &coded,
        ]
        .concat();
        let response = read_every_way(&not_a_page).unwrap();
        assert_eq!(response.body_len, coded.len() as u64);
        let empty = coded_response("Content-Encoding: gzip\r\nContent-Length: 0\r\n", b"");
        assert_eq!(read_every_way(&empty).unwrap().body, b"");
    }

    #[test]
    fn codings_that_cannot_be_decoded_are_encoding_errors() {
        for input in [
            coded_response("Content-Encoding: br\r\n", b"\x0b\x02\x80hello\x03"),
            coded_response("Content-Encoding: gzip\r\n", b"not gzip at all"),
            coded_response("Content-Encoding: gzip\r\n", &gzip(b"cut short")[..15]),
        ] {
            let error = read_every_way(&input).unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::Encoding, "{error}");
        }
    }

    /// A small compressed body that inflates past `--max-body` is too large, found while it
    /// is decoded.
    #[test]
    fn decoded_bodies_obey_the_body_limit() {
        let bomb = gzip(&[b' '; 100_000]);
        assert!((bomb.len() as u64) < LIMITS.max_body);
        let input = coded_response("Content-Encoding: gzip\r\n", &bomb);
        assert_eq!(read(&input, 512), Err(FetchError::TooLarge(Limit::Body)));
    }

    /// After an interim response the server has answered: a close is a truncated response,
    /// which is not tried again, rather than a reset, which is.
    #[test]
    fn a_close_after_an_interim_response_is_truncated() {
        let error = read_every_way(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap_err();
        assert_eq!(error, FetchError::Truncated("response head"));
        assert!(!error.is_retryable());
    }

    #[test]
    fn raw_bytes_of_a_location_are_percent_encoded() {
        let input = b"HTTP/1.0 302 Found\r\nLocation:  /caf\xe9/\xc3\xa9?q=\xe9 \r\n\r\n";
        let response = read_every_way(input).unwrap();
        assert_eq!(response.location.as_deref(), Some("/caf%E9/%C3%A9?q=%E9"));
    }

    #[test]
    fn xhtml_is_html() {
        let html = |content_type: &str| {
            Response {
                content_type: Some(content_type.to_owned()),
                ..Response::default()
            }
            .is_html()
        };
        for content_type in [
            "text/html",
            "text/html;charset=utf-8",
            "text/html ; charset=x",
            "TEXT/HTML; charset=x",
            "application/xhtml+xml",
        ] {
            assert!(html(content_type), "{content_type}");
        }
        for content_type in [
            "application/xml",
            "text/htmlx",
            "text/html-x; y",
            "text/plain",
        ] {
            assert!(!html(content_type), "{content_type}");
        }
    }

    #[test]
    fn interim_responses_are_skipped() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n";
        let response = read_every_way(input).unwrap();
        assert_eq!(response.status, 302);
        assert_eq!(response.location.as_deref(), Some("/x"));
    }
}
