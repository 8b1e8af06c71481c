//! Request bodies read by hand (routes with their own size limit): the body is decoded as its
//! `Content-Encoding` says (`identity`, `gzip`, `deflate`; client SDKs such as PostHog's,
//! Segment's and RudderStack's compress their batches) and the limit holds for the decoded
//! size as well as for the bytes on the wire, so a decompression bomb is refused with 413
//! after at most `max` bytes of output, never by growing memory.

use std::io::{self, Write};

use actix_web::{HttpMessage, HttpRequest, http::header, web};
use flate2::write::{MultiGzDecoder, ZlibDecoder};
use futures_util::StreamExt;

use crate::error::{ApiError, Code};

/// The content codings a body may have (RFC 9110 §8.4.1); anything else is 415.
pub const ACCEPTED_ENCODINGS: &str = "gzip, deflate";

/// A body's content coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    /// The zlib format (RFC 1950), as RFC 9110 §8.4.1.2 defines `deflate`.
    Deflate,
}

impl Encoding {
    /// Reads `Content-Encoding`: absent or `identity` is [`Encoding::Identity`]; one `gzip`
    /// (or `x-gzip`) or `deflate` coding is decoded; anything else (several codings, `br`,
    /// `zstd`, ...) is 415 `unsupported_media_type`, with `Accept-Encoding` naming what is
    /// taken (RFC 9110 §15.5.16).
    pub fn of(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut codings = Vec::new();
        for value in req.headers().get_all(header::CONTENT_ENCODING) {
            let Ok(value) = value.to_str() else {
                return Err(unsupported("(unreadable)"));
            };
            codings.extend(
                value
                    .split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty() && c != "identity"),
            );
        }
        match codings.as_slice() {
            [] => Ok(Self::Identity),
            [one] if one == "gzip" || one == "x-gzip" => Ok(Self::Gzip),
            [one] if one == "deflate" => Ok(Self::Deflate),
            _ => Err(unsupported(&codings.join(", "))),
        }
    }
}

fn unsupported(coding: &str) -> ApiError {
    ApiError::new(
        Code::UnsupportedMediaType,
        format!(
            "Content-Encoding `{coding}` is not supported: send the body as it is, or with one \
             of {ACCEPTED_ENCODINGS}."
        ),
    )
    .with_header("Accept-Encoding", ACCEPTED_ENCODINGS)
}

/// Checks that a body is declared JSON (`application/json` or a `+json` type), as the JSON
/// extractor of the other routes does: 415 `unsupported_media_type` otherwise.
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let json = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
    if json { Ok(()) } else { Err(not_json()) }
}

/// 415 for a body that is not declared JSON, naming the type that is taken.
pub fn not_json() -> ApiError {
    ApiError::new(
        Code::UnsupportedMediaType,
        "The request body must be JSON (Content-Type: application/json).",
    )
    .with_header("Accept", "application/json")
}

/// Collects output up to a limit; a write past it fails (which stops the decoder).
struct Limited {
    buf: Vec<u8>,
    max: usize,
    over: bool,
}

impl Write for Limited {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            self.over = true;
            return Err(io::Error::other("the decoded body is over the limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Decoder {
    Identity(Limited),
    Gzip(MultiGzDecoder<Limited>),
    Deflate(ZlibDecoder<Limited>),
}

impl Decoder {
    fn new(encoding: Encoding, max: usize, capacity: usize) -> Self {
        let sink = Limited {
            buf: Vec::with_capacity(capacity.min(max)),
            max,
            over: false,
        };
        match encoding {
            Encoding::Identity => Self::Identity(sink),
            Encoding::Gzip => Self::Gzip(MultiGzDecoder::new(sink)),
            Encoding::Deflate => Self::Deflate(ZlibDecoder::new(sink)),
        }
    }

    fn sink(&self) -> &Limited {
        match self {
            Self::Identity(s) => s,
            Self::Gzip(d) => d.get_ref(),
            Self::Deflate(d) => d.get_ref(),
        }
    }

    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self {
            Self::Identity(s) => s.write_all(chunk),
            Self::Gzip(d) => d.write_all(chunk),
            Self::Deflate(d) => d.write_all(chunk),
        }
    }

    fn finish(self) -> io::Result<Limited> {
        match self {
            Self::Identity(s) => Ok(s),
            Self::Gzip(d) => d.finish(),
            Self::Deflate(d) => d.finish(),
        }
    }
}

/// Reads and decodes a body of at most `max` bytes, on the wire and decoded. A declared
/// `Content-Length` over `max` is refused before anything is read.
///
/// Errors: 413 `payload_too_large` (over `max`), 415 `unsupported_media_type` (an unknown
/// content coding), 400 `malformed_body` (a body that does not decode, or a broken stream).
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    max: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            Code::PayloadTooLarge,
            format!(
                "The body is over {} MiB (decoded), the limit of this route.",
                max / (1024 * 1024)
            ),
        )
    };
    let encoding = Encoding::of(req)?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut decoder = Decoder::new(encoding, max, declared.unwrap_or(4096));
    let mut wire = 0usize;
    let undecodable = |e: io::Error| {
        ApiError::new(
            Code::MalformedBody,
            format!("The body cannot be decoded as {encoding:?}: {e}."),
        )
    };
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| crate::conformance::payload_error(&e))?;
        wire += chunk.len();
        if wire > max {
            return Err(too_large());
        }
        if let Err(e) = decoder.write(&chunk) {
            return Err(if decoder.sink().over {
                too_large()
            } else {
                undecodable(e)
            });
        }
    }
    match decoder.finish() {
        Ok(sink) => Ok(sink.buf),
        Err(e) => Err(undecodable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(encoding: Encoding, input: &[u8], max: usize) -> Result<Vec<u8>, bool> {
        let mut d = Decoder::new(encoding, max, 0);
        for chunk in input.chunks(1000) {
            if d.write(chunk).is_err() {
                return Err(d.sink().over);
            }
        }
        d.finish().map(|s| s.buf).map_err(|_| false)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_and_deflate_decode() {
        let body = br#"{"a": 1}"#.repeat(100);
        assert_eq!(
            decode(Encoding::Gzip, &gzip(&body), 1 << 20),
            Ok(body.clone())
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&body).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(decode(Encoding::Deflate, &z, 1 << 20), Ok(body.clone()));
        assert_eq!(decode(Encoding::Identity, &body, 1 << 20), Ok(body));
    }

    #[test]
    fn a_bomb_stops_at_the_limit_and_garbage_is_not_a_body() {
        // 64 MiB of zeros is about 64 KiB of gzip.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        assert_eq!(decode(Encoding::Gzip, &bomb, 1 << 20), Err(true));
        assert_eq!(
            decode(Encoding::Gzip, b"not gzip at all", 1 << 20),
            Err(false)
        );
        let cut = gzip(b"{\"a\": 1}");
        assert!(decode(Encoding::Gzip, &cut[..cut.len() - 4], 1 << 20).is_err());
    }
}
