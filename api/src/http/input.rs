//! Request input. Bodies: every body is decoded as its `Content-Encoding` says (`identity`, `gzip`,
//! `deflate`; client SDKs such as PostHog's, Segment's and RudderStack's compress their
//! batches) by the conformance middleware, before any route reads it, in small pieces: each
//! route's limit then holds for the decoded size, and a decompression bomb is refused with 413
//! after at most that many bytes of output (plus one piece), never by growing memory. Routes
//! with their own limit read their body with [`read_body`].

use std::io::{self, Write};

use actix_web::{HttpMessage, HttpRequest, dev::Payload, error::PayloadError, http::header, web};
use flate2::write::{MultiGzDecoder, ZlibDecoder};
use futures_util::StreamExt;

use actix_web::error::JsonPayloadError;
use chrono::{DateTime, Utc};

use super::error::{ApiError, Code, FieldError};

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

/// Decoded output is handed on after at most this much compressed input, so one poll never
/// inflates more than about 1000 × this (deflate's ratio is at most 1032:1).
const PIECE: usize = 4096;
/// The most any body may decode to: the largest route limit (`POST /v1/jobs`). Each route's
/// own, smaller limit stops reading (and so decoding) earlier.
pub const MAX_DECODED: usize = 16 * 1024 * 1024;

enum Decoder {
    Gzip(MultiGzDecoder<Vec<u8>>),
    Deflate(ZlibDecoder<Vec<u8>>),
}

impl Decoder {
    fn new(encoding: Encoding) -> Option<Self> {
        match encoding {
            Encoding::Identity => None,
            Encoding::Gzip => Some(Self::Gzip(MultiGzDecoder::new(Vec::new()))),
            Encoding::Deflate => Some(Self::Deflate(ZlibDecoder::new(Vec::new()))),
        }
    }

    /// Decodes `input`, returning what it decoded to.
    fn feed(&mut self, input: &[u8]) -> io::Result<Vec<u8>> {
        match self {
            Self::Gzip(d) => {
                d.write_all(input)?;
                Ok(std::mem::take(d.get_mut()))
            }
            Self::Deflate(d) => {
                d.write_all(input)?;
                Ok(std::mem::take(d.get_mut()))
            }
        }
    }

    /// Ends the stream: the rest of the output; an error when it was cut short.
    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Self::Gzip(d) => d.finish(),
            Self::Deflate(d) => d.finish(),
        }
    }
}

/// The request payload decoded as `encoding` says, in pieces: at most `max` bytes of output
/// in all (then [`PayloadError::Overflow`], read as 413), and a stream that does not decode
/// is [`PayloadError::EncodingCorrupted`] (400). Identity payloads are returned as they are.
pub fn decoded(payload: Payload, encoding: Encoding, max: usize) -> Payload {
    let Some(decoder) = Decoder::new(encoding) else {
        return payload;
    };
    struct State {
        payload: Payload,
        decoder: Option<Decoder>,
        pending: web::Bytes,
        total: usize,
    }
    let state = State {
        payload,
        decoder: Some(decoder),
        pending: web::Bytes::new(),
        total: 0,
    };
    let stream = futures_util::stream::unfold(Some(state), move |state| async move {
        let mut state = state?;
        loop {
            let decoder = state.decoder.as_mut()?;
            if state.pending.is_empty() {
                match state.payload.next().await {
                    Some(Ok(chunk)) => state.pending = chunk,
                    Some(Err(e)) => return Some((Err(e), None)),
                    None => {
                        let rest = state.decoder.take().map(Decoder::finish);
                        return match rest {
                            Some(Ok(rest)) if state.total + rest.len() > max => {
                                Some((Err(PayloadError::Overflow), None))
                            }
                            Some(Ok(rest)) if !rest.is_empty() => {
                                Some((Ok(web::Bytes::from(rest)), Some(state)))
                            }
                            Some(Err(_)) => Some((Err(PayloadError::EncodingCorrupted), None)),
                            _ => None,
                        };
                    }
                }
            }
            let piece = state.pending.split_to(PIECE.min(state.pending.len()));
            match decoder.feed(&piece) {
                Ok(out) if state.total + out.len() > max => {
                    return Some((Err(PayloadError::Overflow), None));
                }
                Ok(out) if out.is_empty() => continue,
                Ok(out) => {
                    state.total += out.len();
                    return Some((Ok(web::Bytes::from(out)), Some(state)));
                }
                Err(_) => return Some((Err(PayloadError::EncodingCorrupted), None)),
            }
        }
    });
    let stream: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<web::Bytes, PayloadError>>>,
    > = Box::pin(stream);
    Payload::from(stream)
}

/// Reads a body of at most `max` bytes (decoded: the conformance middleware decodes every
/// body before it is routed). A declared `Content-Length` over `max` is refused before
/// anything is read.
///
/// Errors: 413 `payload_too_large` (over `max`), 400 `malformed_body` (a body that does not
/// decode, or a broken stream), 408 `request_timeout` (it did not arrive in time).
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
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(4096).min(max));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| payload_error(&e))?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Largest JSON body accepted by the social routes.
pub const JSON_LIMIT: usize = 64 * 1024;

/// JSON bodies: size limit, and errors as problem details (400 for broken JSON, 413 for too
/// large, 422 for well-formed JSON of the wrong shape).
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| json_error(&err).into())
}

fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(Code::PayloadTooLarge, "The request body is too large.")
        }
        JsonPayloadError::ContentType => not_json(),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            Code::ValidationFailed,
            format!("Invalid request body: {e}."),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::new(
            Code::MalformedBody,
            format!("The request body is not valid JSON: {e}."),
        ),
        JsonPayloadError::Payload(e) => payload_error(e),
        other => ApiError::new(
            Code::MalformedBody,
            format!("Cannot read the request body: {other}."),
        ),
    }
}

/// A body that may be absent (empty): `None`, or the parsed JSON with the usual errors.
pub fn optional_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| json_error(&JsonPayloadError::Deserialize(e)))
}

/// Query strings: errors as 422 `validation_failed`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::new(
            Code::ValidationFailed,
            format!("Invalid query parameters: {err}."),
        )
        .into()
    })
}

/// Path parameters: a malformed id is a resource that does not exist (a post on post routes).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, req| {
        let on_post = req
            .match_pattern()
            .is_some_and(|p| p.starts_with("/v1/posts/{id}"));
        if on_post {
            ApiError::post_not_found().into()
        } else {
            ApiError::not_found().into()
        }
    })
}

/// Any other body (non-JSON routes): the same size limit.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(JSON_LIMIT)
}

/// Parses an optional RFC 3339 time filter. A `+` decoded to a space by form encoding is
/// accepted as the `+` the client meant.
pub fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&raw.replace(' ', "+"))
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z"))
}

/// Collects field errors; `Err` with all of them when any.
#[derive(Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// connection is then closed), 400 `malformed_body` otherwise.
pub fn payload_error(error: &PayloadError) -> ApiError {
    match error {
        PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => ApiError::new(
            Code::RequestTimeout,
            "The request body did not arrive in time; the connection is closed.",
        ),
        PayloadError::Overflow => {
            ApiError::new(Code::PayloadTooLarge, "The request body is too large.")
        }
        PayloadError::EncodingCorrupted => ApiError::new(
            Code::MalformedBody,
            "The body does not decode as its Content-Encoding says.",
        ),
        other => ApiError::new(
            Code::MalformedBody,
            format!("Cannot read the request body: {other}."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Decodes `input` (sent in chunks of 64 KiB) with `max`; the output, or the error, and
    /// the largest piece handed on.
    fn decode(encoding: Encoding, input: &[u8], max: usize) -> (Result<Vec<u8>, String>, usize) {
        let chunks: Vec<Result<web::Bytes, PayloadError>> = input
            .chunks(64 * 1024)
            .map(|c| Ok(web::Bytes::copy_from_slice(c)))
            .collect();
        let stream: std::pin::Pin<
            Box<dyn futures_util::Stream<Item = Result<web::Bytes, PayloadError>>>,
        > = Box::pin(futures_util::stream::iter(chunks));
        let mut out = decoded(Payload::from(stream), encoding, max);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let mut all = Vec::new();
                let mut largest = 0;
                while let Some(piece) = out.next().await {
                    match piece {
                        Ok(piece) => {
                            largest = largest.max(piece.len());
                            all.extend_from_slice(&piece);
                        }
                        Err(e) => return (Err(e.to_string()), largest),
                    }
                }
                (Ok(all), largest)
            })
    }

    #[test]
    fn gzip_and_deflate_decode() {
        let body = br#"{"a": 1}"#.repeat(100);
        assert_eq!(
            decode(Encoding::Gzip, &gzip(&body), 1 << 20).0,
            Ok(body.clone())
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&body).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(decode(Encoding::Deflate, &z, 1 << 20).0, Ok(body.clone()));
        assert_eq!(decode(Encoding::Identity, &body, 1 << 20).0, Ok(body));
    }

    #[test]
    fn a_bomb_stops_at_the_limit_in_small_pieces_and_garbage_is_not_a_body() {
        // 256 MiB of zeros is about 256 KiB of gzip.
        let bomb = gzip(&vec![0u8; 256 << 20]);
        assert!(bomb.len() < 1 << 20);
        let (result, largest) = decode(Encoding::Gzip, &bomb, 16 << 20);
        assert_eq!(result, Err(PayloadError::Overflow.to_string()));
        assert!(largest <= 8 << 20, "{largest} bytes decoded in one piece");
        let (result, _) = decode(Encoding::Gzip, b"not gzip at all", 1 << 20);
        assert_eq!(result, Err(PayloadError::EncodingCorrupted.to_string()));
        let cut = gzip(b"{\"a\": 1}");
        let (result, _) = decode(Encoding::Gzip, &cut[..cut.len() - 4], 1 << 20);
        assert!(result.is_err());
    }

    #[test]
    fn time_filters() {
        assert!(parse_time("from", None).unwrap().is_none());
        let t = parse_time("from", Some("2026-01-02T03:04:05 00:00"))
            .unwrap()
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05+00:00");
        assert!(parse_time("from", Some("yesterday")).is_err());
    }
}
