//! HTTP rules applied to every request before it is routed (RFC 9110 unless said otherwise):
//! - `HEAD` is served as `GET` without a body (§9.3.2) on every GET route that is safe (not
//!   `GET /v1/notifications/unsent`, which marks what it returns delivered: HEAD there is 405):
//!   the connection's codec remembers the request was `HEAD` and sends the headers only;
//! - a request head over `max_header_bytes` is 431 `headers_too_large` (RFC 6585 §5);
//! - on `/v1`, an `Accept` that admits no JSON is 406 `not_acceptable` (§12.5.1);
//! - a `Content-Encoding` other than gzip or deflate is 415 `unsupported_media_type` with
//!   `Accept-Encoding` (§15.5.16); gzip and deflate bodies are decoded here, in bounded
//!   pieces, for every route (see [`super::input`]);
//! - a body must arrive in full within `body_timeout` of the headers, or the request gets 408
//!   `request_timeout` and the connection is closed (§15.5.9); a WebSocket (a GET with
//!   `Upgrade: websocket`) has no deadline: its payload is the socket's frames;
//! - security headers on every answer (OWASP REST Security and Secure Headers projects):
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, framing refused
//!   (`X-Frame-Options: DENY` and the CSP `frame-ancestors 'none'`), `Cache-Control: no-store`
//!   on `/v1` (answers carry tokens or private data), and a Content-Security-Policy that lets
//!   `/docs` run its own (vendored) scripts and nothing else.

use std::{io, time::Duration};

use actix_web::{
    Error, HttpMessage,
    body::{BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::{
        Method,
        header::{self, HeaderValue},
    },
    middleware::Next,
    web,
};
use futures_util::StreamExt;

use super::{
    error::{ApiError, Code},
    fallback::RouteTable,
    input::{self as body, Encoding},
};

/// The limits [`conform`] enforces, registered as app data (`web::Data<Limits>`); without
/// them the middleware lets requests through untouched.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a body may take to arrive in full after the headers.
    pub body_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
}

/// CSP of the JSON API: nothing may be loaded or framed.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// CSP of `/docs`: Swagger UI's own scripts, styles and images, calls to this origin only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'";

/// The middleware (see the module docs).
pub async fn conform(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(&Limits {
        body_timeout,
        max_header_bytes,
    }) = req.app_data::<web::Data<Limits>>().map(|l| l.as_ref())
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // The decoded path, as the router sees it (`/v1/m%65` is `/v1/me`).
    let path = req.match_info().as_str().to_owned();
    if let Err(error) = check(&req, &path, max_header_bytes) {
        return Ok(with_security_headers(req.error_response(error), &path));
    }
    // HEAD is GET without a body, where GET is safe (not on `unsent`, which claims).
    let head_as_get = req.method() == Method::HEAD
        && req
            .app_data::<web::Data<RouteTable>>()
            .is_some_and(|routes| routes.allowed(&path).contains(&"HEAD"));
    if head_as_get {
        req.head_mut().method = Method::GET;
    }
    // A WebSocket's payload is the socket's incoming frames for as long as it is open: no
    // deadline, no content coding.
    let websocket = req.method() == Method::GET
        && req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if websocket {
        let res = next.call(req).await?.map_into_boxed_body();
        return Ok(with_security_headers(res, &path));
    }
    // `check` accepted the coding. Decoded here, once for every route; what follows sees a
    // plain body of unknown length.
    let encoding = Encoding::of(req.request()).unwrap_or(Encoding::Identity);
    if encoding != Encoding::Identity {
        req.headers_mut().remove(header::CONTENT_ENCODING);
        req.headers_mut().remove(header::CONTENT_LENGTH);
    }
    let payload = with_deadline(req.take_payload(), body_timeout);
    req.set_payload(body::decoded(payload, encoding, body::MAX_DECODED));
    let res = next.call(req).await?.map_into_boxed_body();
    Ok(with_security_headers(res, &path))
}

/// The checks that refuse a request before it is routed.
fn check(req: &ServiceRequest, path: &str, max_header_bytes: usize) -> Result<(), ApiError> {
    let head_bytes = req.uri().path_and_query().map_or(0, |p| p.as_str().len())
        + req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if head_bytes > max_header_bytes {
        return Err(ApiError::new(
            Code::HeadersTooLarge,
            format!("The request line and headers are over {max_header_bytes} bytes."),
        ));
    }
    if path.starts_with("/v1/") && !accepts_json(req.headers().get(header::ACCEPT)) {
        return Err(ApiError::new(
            Code::NotAcceptable,
            "This route answers with application/json (errors with application/problem+json); \
             the Accept header admits neither.",
        ));
    }
    Encoding::of(req.request())?;
    Ok(())
}

/// Whether an `Accept` header admits a JSON answer (absent: anything goes). Media ranges
/// with `q=0` are refusals.
pub fn accepts_json(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if accept.trim().is_empty() {
        return true;
    }
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("q")
                    && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        !refused
            && matches!(
                media.as_str(),
                "*/*" | "application/*" | "application/json" | "application/problem+json"
            )
    })
}

fn set(res: &mut ServiceResponse<BoxBody>, name: header::HeaderName, value: &'static str) {
    res.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn with_security_headers(
    mut res: ServiceResponse<BoxBody>,
    path: &str,
) -> ServiceResponse<BoxBody> {
    set(&mut res, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut res, header::REFERRER_POLICY, "no-referrer");
    set(&mut res, header::X_FRAME_OPTIONS, "DENY");
    let docs = path == "/docs" || path.starts_with("/docs/");
    set(
        &mut res,
        header::CONTENT_SECURITY_POLICY,
        if docs { DOCS_CSP } else { API_CSP },
    );
    if path.starts_with("/v1/") {
        set(&mut res, header::CACHE_CONTROL, "no-store");
    }
    res
}

/// The payload, failing with a timed-out I/O error once `deadline` has passed without the
/// body being complete (read by [`payload_error`] as 408).
fn with_deadline(payload: Payload, timeout: Duration) -> Payload {
    let deadline = tokio::time::Instant::now() + timeout;
    let stream = futures_util::stream::unfold(Some(payload), move |state| async move {
        let mut payload = state?;
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(payload))),
            Ok(None) => None,
            Err(_) => Some((
                Err(PayloadError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                ))),
                None,
            )),
        }
    });
    let stream: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<web::Bytes, PayloadError>>>,
    > = Box::pin(stream);
    Payload::from(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        let ok = |v: &str| accepts_json(Some(&HeaderValue::from_str(v).unwrap()));
        assert!(accepts_json(None));
        assert!(ok("application/json"));
        assert!(ok("text/html, application/xhtml+xml, */*;q=0.8"));
        assert!(ok("application/*"));
        assert!(ok("Application/JSON; charset=utf-8"));
        assert!(!ok("text/html"));
        assert!(!ok("application/json;q=0"));
        assert!(!ok("application/xml, text/plain"));
    }
}
