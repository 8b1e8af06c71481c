//! Per-request telemetry: the request id (`x-request-id`), the request span (joined to an
//! incoming W3C `traceparent`), one JSON log line per request, and the HTTP metrics.

use std::time::Instant;

use actix_web::{
    Error, HttpMessage,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
    http::header::{HeaderMap, HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use opentelemetry::{global, propagation::Extractor};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{
    error::{ApiError, Code},
    request_id::{self, REQUEST_ID_HEADER},
};
use crate::metrics::Metrics;

/// The user id the request logger reports: authentication inserts it into the request's
/// extensions once it knows the caller.
#[derive(Clone, Copy, Debug)]
pub struct LoggedUserId(pub i64);

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Errors raised by actix itself (body limits, malformed payloads, ...) become problem
/// details too, so every error a client sees has the same shape and a `code`.
fn as_problem(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let foreign = match res.response().error() {
        Some(error) if error.as_error::<ApiError>().is_none() => Some(error),
        _ => None,
    };
    let Some(foreign) = foreign else { return res };
    if let Some(payload) = foreign.as_error::<actix_web::error::PayloadError>() {
        let error = super::input::payload_error(payload);
        return res.into_response(actix_web::HttpResponse::from_error(error));
    }
    let message = foreign.to_string();
    if foreign.as_error::<actix_cors::CorsError>().is_some() {
        let error = ApiError::new(
            Code::Forbidden,
            format!("Cross-origin request refused: {message}."),
        );
        return res.into_response(actix_web::HttpResponse::from_error(error));
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(Code::PayloadTooLarge, "The request body is too large.")
        }
        StatusCode::NOT_FOUND => ApiError::not_found(),
        StatusCode::UNAUTHORIZED => ApiError::unauthorized(),
        s if s.is_client_error() => ApiError::new(
            Code::MalformedBody,
            format!("The request cannot be read: {message}."),
        ),
        _ => ApiError::internal(anyhow::anyhow!("{message}")),
    };
    res.into_response(actix_web::HttpResponse::from_error(error))
}

/// The middleware: wraps every request (including unknown routes and extractor errors).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let request_id = request_id::of(&req);
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
    let span = tracing::info_span!(
        "http_request",
        otel.name = tracing::field::Empty,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
    );
    let _ = span.set_parent(parent);
    let trace_id = span.in_scope(roost_common::telemetry::current_trace_id);
    span.record("trace_id", trace_id.as_str());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();

    let result = request_id::REQUEST_ID
        .scope(request_id.clone(), next.call(req))
        .instrument(span.clone())
        .await;
    let mut res = request_id::REQUEST_ID.sync_scope(request_id.clone(), || {
        result.map(|res| as_problem(res.map_into_boxed_body()))
    })?;

    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    span.record("otel.name", format!("{method} {route}").as_str());
    let status = res.status().as_u16();
    let latency = started.elapsed();
    let user_id = res
        .request()
        .extensions()
        .get::<LoggedUserId>()
        .map(|u| u.0);
    let (code, cause) = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .map_or((None, None), |e| (Some(e.code.as_str()), e.cause_chain()));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    if let Some(metrics) = metrics {
        metrics
            .http_requests
            .with_label_values(&[method.as_str(), route.as_str(), &status.to_string()])
            .inc();
        metrics
            .http_duration
            .with_label_values(&[method.as_str(), route.as_str()])
            .observe(latency.as_secs_f64());
    }
    let latency_ms = latency.as_secs_f64() * 1000.0;
    // A 5xx without an error is an answer, not a failure: readiness saying "not ready" (no
    // PostgreSQL, or draining on shutdown) must not trip alerts on ERROR lines.
    let failed = res.response().error().is_some();
    span.in_scope(|| {
        if status >= 500 && !failed {
            tracing::warn!(
                target: "http",
                request_id, trace_id, method, route, path, status, latency_ms,
                "not ready"
            );
        } else if status >= 500 {
            tracing::error!(
                target: "http",
                request_id, trace_id, method, route, path, status, latency_ms, user_id,
                code, error = cause.as_deref(),
                "request failed"
            );
        } else if status >= 400 {
            tracing::info!(
                target: "http",
                request_id, trace_id, method, route, path, status, latency_ms, user_id, code,
                "request rejected"
            );
        } else {
            tracing::info!(
                target: "http",
                request_id, trace_id, method, route, path, status, latency_ms, user_id,
                "request"
            );
        }
    });
    Ok(res)
}
