//! `/v1/admin/events` and `/v1/admin/sessions/{session_id}/events`: stored events.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::application_filter;
use crate::{
    auth::AdminAuth,
    domain::cursor::EventCursor,
    http::{
        error::{ApiResult, FieldError},
        input::{Errors, parse_time},
        page::{Page, limit, paginate},
    },
    state::AppState,
    store::{
        self,
        events::{EventFilter, EventRow},
    },
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_events).service(session_events);
}

// ---- events ----------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct EventItem {
    id: Uuid,
    /// The application's name (`roost` for the platform's own domain events).
    application: String,
    session_id: Uuid,
    category: String,
    name: String,
    /// As sent: numbers keep every digit.
    #[schema(value_type = Object)]
    data: Box<RawValue>,
    timestamp: DateTime<Utc>,
    received_at: DateTime<Utc>,
}

impl From<EventRow> for EventItem {
    fn from(r: EventRow) -> Self {
        Self {
            id: r.id,
            application: r.application,
            session_id: r.session_id,
            category: r.category,
            name: r.name,
            data: r.data.0,
            timestamp: r.timestamp,
            received_at: r.received_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct EventsQuery {
    /// An application: its id (as created) or its name (case-insensitive).
    application: Option<String>,
    session_id: Option<String>,
    category: Option<String>,
    name: Option<String>,
    /// Inclusive lower bound on `timestamp` (RFC 3339).
    from: Option<String>,
    /// Exclusive upper bound on `timestamp` (RFC 3339).
    to: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

fn text_filter(field: &str, raw: Option<&str>) -> Result<Option<String>, FieldError> {
    match raw.filter(|s| !s.is_empty()) {
        Some(s) if s.contains('\0') => Err(FieldError::new(field, "must not contain NUL")),
        other => Ok(other.map(str::to_owned)),
    }
}

fn events_page(rows: Vec<EventRow>, limit: i64) -> Page<EventItem> {
    paginate(
        rows,
        limit,
        |r| EventCursor::encode_at(r.timestamp, r.id),
        EventItem::from,
    )
}

/// Stored events, filtered, ordered by (`timestamp`, `id`).
#[utoipa::path(tag = "admin", params(EventsQuery), security(("admin" = [])), responses(
    (status = 200, body = Page<EventItem>),
    (status = 422, description = "`validation_failed`", body = crate::http::error::Problem)))]
#[get("/admin/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    query: web::Query<EventsQuery>,
) -> ApiResult<web::Json<Page<EventItem>>> {
    let limit = limit(query.limit, 20, 100)?;
    let after = EventCursor::decode(query.cursor.as_deref())?;
    let mut errors = Errors::default();
    let application = errors
        .take(application_filter(&state, query.application.as_deref()).await?)
        .flatten();
    let session_id = match query.session_id.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => errors.take(
            Uuid::parse_str(raw.trim())
                .map_err(|_| FieldError::new("session_id", "must be a UUID")),
        ),
    };
    let category = errors
        .take(text_filter("category", query.category.as_deref()))
        .flatten();
    let name = errors
        .take(text_filter("name", query.name.as_deref()))
        .flatten();
    let from = errors
        .take(parse_time("from", query.from.as_deref()))
        .flatten();
    let to = errors.take(parse_time("to", query.to.as_deref())).flatten();
    errors.finish()?;
    let filter = EventFilter {
        application,
        session_id,
        category,
        name,
        from,
        to,
        after,
    };
    let rows = store::events::list(&state.db, &filter, limit + 1).await?;
    Ok(web::Json(events_page(rows, limit)))
}

#[derive(Deserialize, IntoParams)]
pub struct SessionQuery {
    /// 1–1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// One session's events, ordered by (`timestamp`, `id`), whatever order they arrived in.
#[utoipa::path(tag = "admin", params(SessionQuery), security(("admin" = [])), responses(
    (status = 200, body = Page<EventItem>)))]
#[get("/admin/sessions/{session_id}/events")]
pub async fn session_events(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    session_id: web::Path<Uuid>,
    query: web::Query<SessionQuery>,
) -> ApiResult<web::Json<Page<EventItem>>> {
    let limit = limit(query.limit, 100, 1000)?;
    let filter = EventFilter {
        session_id: Some(*session_id),
        after: EventCursor::decode(query.cursor.as_deref())?,
        ..EventFilter::default()
    };
    let rows = store::events::list(&state.db, &filter, limit + 1).await?;
    Ok(web::Json(events_page(rows, limit)))
}
