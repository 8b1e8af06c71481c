//! `/v1/admin/ingest-errors`: the quarantine.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use roost_common::pipeline::QuarantineCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::application_filter;
use crate::{
    auth::AdminAuth,
    domain::cursor::TimeCursor,
    http::{
        error::{ApiResult, FieldError},
        input::{Errors, parse_time},
        page::{Page, limit, paginate},
    },
    state::AppState,
    store::{self, events::ErrorFilter},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_ingest_errors);
}

// ---- the quarantine --------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct IngestErrorItem {
    id: i64,
    /// The application's name; `null` when a poison message named none.
    application: Option<String>,
    code: QuarantineCode,
    message: String,
    /// The event as accepted (for a poison message: what could be read of the entry).
    #[schema(value_type = Object)]
    event: Box<RawValue>,
    received_at: DateTime<Utc>,
}

#[derive(Deserialize, IntoParams)]
pub struct ErrorsQuery {
    /// An application: its id (as created) or its name (case-insensitive).
    application: Option<String>,
    /// `payload_invalid`, `future_timestamp` or `poison_message`.
    #[param(value_type = Option<QuarantineCode>)]
    code: Option<String>,
    /// Inclusive lower bound on `received_at`.
    from: Option<String>,
    /// Exclusive upper bound on `received_at`.
    to: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Quarantined events, newest first.
#[utoipa::path(tag = "admin", params(ErrorsQuery), security(("admin" = [])), responses(
    (status = 200, body = Page<IngestErrorItem>),
    (status = 422, description = "`validation_failed`", body = crate::http::error::Problem)))]
#[get("/admin/ingest-errors")]
pub async fn list_ingest_errors(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    query: web::Query<ErrorsQuery>,
) -> ApiResult<web::Json<Page<IngestErrorItem>>> {
    let limit = limit(query.limit, 20, 100)?;
    let after = TimeCursor::decode(query.cursor.as_deref())?;
    let mut errors = Errors::default();
    let application = errors
        .take(application_filter(&state, query.application.as_deref()).await?)
        .flatten();
    let code = match query.code.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => errors.take(QuarantineCode::parse(raw).ok_or_else(|| {
            FieldError::new(
                "code",
                "must be payload_invalid, future_timestamp or poison_message",
            )
        })),
    };
    let from = errors
        .take(parse_time("from", query.from.as_deref()))
        .flatten();
    let to = errors.take(parse_time("to", query.to.as_deref())).flatten();
    errors.finish()?;
    let filter = ErrorFilter {
        application,
        code,
        from,
        to,
        after,
    };
    let rows = store::events::errors(&state.db, &filter, limit + 1).await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |r| TimeCursor::encode_at(r.received_at, r.id),
        |r| IngestErrorItem {
            id: r.id,
            application: r.application,
            code: r.code,
            message: r.message,
            event: r.event.0,
            received_at: r.received_at,
        },
    )))
}
