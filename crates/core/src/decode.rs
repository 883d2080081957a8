//! Undoing the codings of a body (gzip, deflate) as it arrives, within `--max-body`.
//!
//! The crawler asks for `Accept-Encoding: identity`, but a server may compress anyway, with
//! `Content-Encoding` or a transfer coding before `chunked`. A body the crawler parses (a 2xx
//! HTML page) is decoded on the way in: each coding is a writer that decodes what it is given
//! into the next, and the last one is the [`Body`], which counts every decoded byte and
//! refuses the one past the cap. Nothing is ever inflated whole, so a small compressed body
//! that would expand to gigabytes ends as too large with a few tens of KiB of decoder state.
//! A coding the crawler cannot decode ends the fetch with [`FetchError::Encoding`].

use std::{
    fmt,
    io::{self, Write},
    mem,
};

use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

use crate::error::{FetchError, Limit};

/// The decoded body: the end of every chain of decoders.
#[derive(Debug, Default)]
pub(crate) struct Body {
    /// The bytes, if they are kept.
    pub(crate) bytes: Option<Vec<u8>>,
    /// How many bytes came, kept or not.
    pub(crate) len: u64,
    max: u64,
}

/// The most a body's buffer is given before its bytes come: a `Content-Length` is the
/// server's word, and a connection that announces a large body and sends it slowly should not
/// hold the room for all of it.
const RESERVE_AT_MOST: u64 = 64 * 1024;

impl Body {
    /// A body of at most `max` bytes, kept if `keep` (otherwise only counted), with room for
    /// the `expected` bytes (a `Content-Length`, 0 if none) up to [`RESERVE_AT_MOST`], so that
    /// a page is read into one allocation.
    pub(crate) fn new(max: u64, keep: bool, expected: u64) -> Body {
        let room = expected.min(max).min(RESERVE_AT_MOST) as usize;
        Body {
            bytes: keep.then(|| Vec::with_capacity(room)),
            len: 0,
            max,
        }
    }
}

impl Write for Body {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // What fits is kept even when the rest does not: a robots.txt is cut there.
        let room = self.max.saturating_sub(self.len);
        let fits = &data[..data.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        if let Some(bytes) = &mut self.bytes {
            bytes.extend_from_slice(fits);
        }
        self.len += data.len() as u64;
        if self.len > self.max {
            return Err(io::Error::other(OverLimit));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What [`Body`] answers past its cap, told apart from a decoder's own errors.
#[derive(Debug)]
struct OverLimit;

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("decoded body over --max-body")
    }
}

impl std::error::Error for OverLimit {}

/// A chain of decoders ending in the [`Body`]: bytes written to it come out decoded.
pub(crate) enum Decoder {
    /// `gzip` (or `x-gzip`); members may follow one another (RFC 1952).
    Gzip(Box<MultiGzDecoder<Decoder>>),
    /// `deflate` as RFC 9110 defines it: a zlib stream.
    Zlib(Box<ZlibDecoder<Decoder>>),
    /// `deflate` as some servers send it: a raw deflate stream, without the zlib wrapper.
    RawDeflate(Box<DeflateDecoder<Decoder>>),
    /// `deflate` until its first two bytes tell a zlib header from raw deflate.
    Deflate { start: Vec<u8>, next: Box<Decoder> },
    /// No coding left: the body itself.
    Body(Body),
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, next): (&str, Option<&Decoder>) = match self {
            Decoder::Gzip(d) => ("gzip", Some(d.get_ref())),
            Decoder::Zlib(d) => ("zlib", Some(d.get_ref())),
            Decoder::RawDeflate(d) => ("raw deflate", Some(d.get_ref())),
            Decoder::Deflate { next, .. } => ("deflate", Some(next)),
            Decoder::Body(body) => return body.fmt(f),
        };
        f.debug_tuple(name).field(&next).finish()
    }
}

impl Decoder {
    /// Decoders for `codings` (in the order the server applied them, so the last is undone
    /// first), ending in `body`.
    pub(crate) fn new(codings: &[String], body: Body) -> Result<Decoder, FetchError> {
        let mut decoder = Decoder::Body(body);
        for coding in codings {
            decoder = match coding.to_ascii_lowercase().as_str() {
                "identity" => decoder,
                "gzip" | "x-gzip" => Decoder::Gzip(Box::new(MultiGzDecoder::new(decoder))),
                "deflate" => Decoder::Deflate {
                    start: Vec::new(),
                    next: Box::new(decoder),
                },
                "chunked" => {
                    return Err(FetchError::Encoding(
                        "chunked is not the last transfer coding".to_owned(),
                    ));
                }
                other => {
                    return Err(FetchError::Encoding(format!("unsupported coding {other}")));
                }
            };
        }
        Ok(decoder)
    }

    /// The body at the end of the chain.
    pub(crate) fn body(&mut self) -> &mut Body {
        match self {
            Decoder::Gzip(d) => d.get_mut().body(),
            Decoder::Zlib(d) => d.get_mut().body(),
            Decoder::RawDeflate(d) => d.get_mut().body(),
            Decoder::Deflate { next, .. } => next.body(),
            Decoder::Body(body) => body,
        }
    }

    /// The coded body ended: decodes what the decoders hold back and checks every stream is
    /// complete.
    pub(crate) fn finish(&mut self) -> Result<(), FetchError> {
        // Each decoder first, then the one it writes to.
        let finished = match self {
            Decoder::Gzip(d) => d.try_finish(),
            Decoder::Zlib(d) => d.try_finish(),
            Decoder::RawDeflate(d) => d.try_finish(),
            Decoder::Deflate { start, .. } if !start.is_empty() => {
                return Err(FetchError::Encoding("deflate stream cut short".to_owned()));
            }
            Decoder::Deflate { .. } | Decoder::Body(_) => Ok(()),
        };
        finished.map_err(error)?;
        match self {
            Decoder::Gzip(d) => d.get_mut().finish(),
            Decoder::Zlib(d) => d.get_mut().finish(),
            Decoder::RawDeflate(d) => d.get_mut().finish(),
            Decoder::Deflate { next, .. } => next.finish(),
            Decoder::Body(_) => Ok(()),
        }
    }

    /// Writes all of `data`, decoded, to the body.
    pub(crate) fn write_body(&mut self, data: &[u8]) -> Result<(), FetchError> {
        self.write_all(data).map_err(error)
    }

    /// Picks the decoder of a `deflate` stream once its first two bytes are in `start`.
    fn sniff_deflate(&mut self) -> io::Result<()> {
        let Decoder::Deflate { start, next } = self else {
            return Ok(());
        };
        let start = mem::take(start);
        let next = mem::replace(next.as_mut(), Decoder::Body(Body::default()));
        // A zlib header: compression method 8 in the low nibble, a window of at most 32 KiB,
        // and a check value that makes the two bytes a multiple of 31 (RFC 1950, 2.2).
        let zlib = start[0] & 0x0f == 8
            && start[0] >> 4 <= 7
            && u16::from_be_bytes([start[0], start[1]]) % 31 == 0;
        *self = if zlib {
            Decoder::Zlib(Box::new(ZlibDecoder::new(next)))
        } else {
            Decoder::RawDeflate(Box::new(DeflateDecoder::new(next)))
        };
        self.write_all(&start)
    }
}

impl Write for Decoder {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(d) => d.write(data),
            Decoder::Zlib(d) => d.write(data),
            Decoder::RawDeflate(d) => d.write(data),
            Decoder::Deflate { start, .. } => {
                let n = data.len().min(2 - start.len());
                start.extend_from_slice(&data[..n]);
                if start.len() == 2 {
                    self.sniff_deflate()?;
                }
                Ok(n)
            }
            Decoder::Body(body) => body.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The fetch error of a failed write or finish: the body's cap, or undecodable data.
fn error(err: io::Error) -> FetchError {
    if err.get_ref().is_some_and(|inner| inner.is::<OverLimit>()) {
        FetchError::TooLarge(Limit::Body)
    } else {
        FetchError::Encoding(format!("undecodable body: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use flate2::{
        Compression,
        write::{DeflateEncoder, GzEncoder, ZlibEncoder},
    };

    use super::*;

    fn coded(codings: &[&str], text: &[u8]) -> Vec<u8> {
        let mut data = text.to_vec();
        for coding in codings {
            data = match *coding {
                "gzip" => {
                    let mut e = GzEncoder::new(Vec::new(), Compression::default());
                    e.write_all(&data).unwrap();
                    e.finish().unwrap()
                }
                "deflate" => {
                    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
                    e.write_all(&data).unwrap();
                    e.finish().unwrap()
                }
                "raw" => {
                    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
                    e.write_all(&data).unwrap();
                    e.finish().unwrap()
                }
                _ => unreachable!(),
            };
        }
        data
    }

    /// Decodes `data` written in pieces of `step` bytes.
    fn decode(codings: &[&str], data: &[u8], step: usize, max: u64) -> Result<Vec<u8>, FetchError> {
        let codings: Vec<String> = codings
            .iter()
            .map(|c| if *c == "raw" { "deflate" } else { c }.to_owned())
            .collect();
        let mut decoder = Decoder::new(&codings, Body::new(max, true, 0))?;
        for piece in data.chunks(step) {
            decoder.write_body(piece)?;
        }
        decoder.finish()?;
        Ok(decoder.body().bytes.take().unwrap_or_default())
    }

    #[test]
    fn gzip_deflate_and_chains_decode_in_any_pieces() {
        let text = b"<a href=\"/x\">x</a>".repeat(100);
        for codings in [
            &["gzip"][..],
            &["deflate"],
            &["raw"],
            &["gzip", "deflate"],
            &["deflate", "gzip"],
        ] {
            let data = coded(codings, &text);
            for step in [1, 2, 3, 7, 4096] {
                assert_eq!(
                    decode(codings, &data, step, 1 << 20).unwrap(),
                    text,
                    "{codings:?} by {step}"
                );
            }
        }
        // Two gzip members are one body.
        let two = [coded(&["gzip"], b"one "), coded(&["gzip"], b"two")].concat();
        assert_eq!(decode(&["gzip"], &two, 5, 100).unwrap(), b"one two");
    }

    #[test]
    fn the_cap_applies_to_decoded_bytes() {
        let zeros = vec![0; 1 << 20];
        let data = coded(&["gzip"], &zeros);
        assert!(data.len() < 10_000);
        assert_eq!(
            decode(&["gzip"], &data, 4096, 100_000),
            Err(FetchError::TooLarge(Limit::Body))
        );
    }

    #[test]
    fn unknown_codings_and_corrupt_data_are_encoding_errors() {
        for coding in ["br", "zstd", "compress", "chunked"] {
            let err = Decoder::new(&[coding.to_owned()], Body::default()).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Encoding, "{coding}");
        }
        let mut gzip = coded(&["gzip"], b"hello hello hello");
        let last = gzip.len() - 5;
        gzip[last] ^= 0xff; // the length in the trailer
        let cut = coded(&["gzip"], b"hello")[..12].to_vec();
        let garbage = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff".to_vec();
        for data in [gzip, cut, garbage] {
            let err = decode(&["gzip"], &data, 3, 1000).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Encoding, "{err}");
        }
        let err = decode(&["deflate"], b"x", 1, 1000).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Encoding, "{err}");
    }
}
