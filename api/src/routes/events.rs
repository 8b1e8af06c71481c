//! The analytics ingest endpoint for client applications.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::input::read_body;

use crate::{
    auth::extract::ClientApp,
    domain::event::{self, BatchError, MAX_BATCH, MAX_BODY},
    http::error::{ApiError, ApiResult, Code},
    service,
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ingest);
}

#[derive(Serialize, ToSchema)]
pub struct Rejected {
    /// Position of the event in the request (0 for a single object).
    index: usize,
    #[schema(example = "invalid_event")]
    code: &'static str,
    #[schema(example = "session_id: is required")]
    message: String,
}

#[derive(Serialize, ToSchema)]
pub struct IngestResponse {
    /// Valid envelopes taken (duplicates of stored ids included).
    accepted: usize,
    rejected: Vec<Rejected>,
}

fn too_large(detail: &str) -> ApiError {
    ApiError::new(Code::PayloadTooLarge, detail)
}

/// Accepts analytics events: one event object or an array of 1 to 1000 (body ≤ 1 MiB, also
/// after decoding a `Content-Encoding` of `gzip` or `deflate`).
///
/// Event `data` is stored as sent (numbers keep every digit); a lone UTF-16 surrogate escape
/// (a cut emoji) is replaced with U+FFFD instead of refusing the batch.
///
/// 202 means every accepted event is in the Redis stream (under its fsync policy) and will be
/// stored exactly once by id. Invalid envelopes are listed in `rejected` by index; the others
/// are accepted. Payload rules run in the worker and quarantine, never drop.
#[utoipa::path(tag = "events", request_body(content = serde_json::Value, description = "An event or an array of events"),
    security(("api_key" = [])),
    responses(
    (status = 202, body = IngestResponse),
    (status = 400, description = "`malformed_body`", body = crate::http::error::Problem),
    (status = 401, description = "`invalid_api_key`", body = crate::http::error::Problem),
    (status = 413, description = "`payload_too_large` (over 1 MiB on the wire or decoded, or over 1000 events)", body = crate::http::error::Problem),
    (status = 415, description = "`unsupported_media_type`: a `Content-Encoding` other than gzip or deflate", body = crate::http::error::Problem),
    (status = 503, description = "`unavailable` (with Retry-After): nothing was accepted", body = crate::http::error::Problem)))]
#[post("/events")]
pub async fn ingest(
    state: web::Data<AppState>,
    req: HttpRequest,
    app: Result<ClientApp, ApiError>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let rejected_metric = |cause: &str, n: usize| {
        state
            .metrics
            .events_rejected
            .with_label_values(&[cause])
            .inc_by(n as u64);
    };
    let app = app.inspect_err(|e| {
        if e.code == Code::InvalidApiKey {
            rejected_metric("invalid_api_key", 1);
        }
    })?;
    let mut body = read_body(&req, payload, MAX_BODY)
        .await
        .inspect_err(|e| rejected_metric(e.code.as_str(), 1))?;
    let values = event::split_batch(&mut body).map_err(|e| match e {
        BatchError::Malformed(detail) => {
            rejected_metric("malformed_body", 1);
            ApiError::new(Code::MalformedBody, detail)
        }
        BatchError::TooMany(n) => {
            rejected_metric("payload_too_large", n);
            too_large(&format!(
                "{n} events in one request; send at most {MAX_BATCH}."
            ))
        }
    })?;
    let received_at = Utc::now();
    let mut events = Vec::with_capacity(values.len());
    let mut rejected = Vec::new();
    for (index, raw) in values.into_iter().enumerate() {
        match event::parse_envelope(raw) {
            Ok(event) => events.push(event),
            Err(message) => rejected.push(Rejected {
                index,
                code: "invalid_event",
                message,
            }),
        }
    }
    rejected_metric("invalid_event", rejected.len());
    if !events.is_empty() {
        let mut redis = state.redis.clone();
        let accepted =
            service::events::accept(&mut redis, &state.keys, app.id, received_at, &events).await;
        if let Err(error) = accepted {
            rejected_metric("unavailable", events.len());
            let mut e = ApiError::unavailable(
                "The event buffer is unavailable; nothing from this request was accepted. Retry \
                 after the delay (with the same event ids, so a retry cannot duplicate).",
                2,
            );
            e.source = Some(error.context("appending events to the stream"));
            return Err(e);
        }
        state.metrics.events_accepted.inc_by(events.len() as u64);
    }
    Ok(HttpResponse::Accepted().json(IngestResponse {
        accepted: events.len(),
        rejected,
    }))
}
