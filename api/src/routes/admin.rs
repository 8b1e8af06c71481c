//! Administration (bootstrap admin token): client applications, event types (JSON Schemas),
//! stored events, the quarantine and the analytics reports.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use roost_common::pipeline::{QuarantineCode, message::Revocation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{Errors, parse_time};
use crate::{
    auth::{AdminAuth, api_key},
    domain::pagination::{EventCursor, Page, TimeCursor, limit, paginate},
    error::{ApiError, ApiResult, Code, FieldError},
    state::AppState,
    store::{
        self,
        events::{ErrorFilter, EventFilter, EventRow},
    },
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_application)
        .service(list_applications)
        .service(revoke_application)
        .service(put_event_type)
        .service(list_event_types)
        .service(list_events)
        .service(session_events)
        .service(list_ingest_errors)
        .service(logins_per_day)
        .service(top_posts)
        .service(post_extremes);
}

// ---- applications ----------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
pub struct CreateApplication {
    /// 1–100 characters (after trimming), no control characters; unique case-insensitively,
    /// never reused.
    #[schema(value_type = String, required = true, example = "web-shop", min_length = 1, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f]*$")]
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApplication {
    id: Uuid,
    name: String,
    /// Shown once: only its SHA-256 digest is stored.
    #[schema(example = "roost_3q2-7wVnY4bmcR0yB2a9XkQeJjX0m0m1cQ4n8V3hK2Y")]
    api_key: String,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationItem {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    /// Set once the key is revoked; the application's events stay stored.
    revoked_at: Option<DateTime<Utc>>,
}

/// Checks an application name, trimmed: a label (`roost_common::label`).
pub fn parse_app_name(raw: Option<&str>) -> Result<String, FieldError> {
    let name = raw.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(FieldError::new("name", "is required"));
    }
    match roost_common::label::problem(name) {
        Some(problem) => Err(FieldError::new("name", problem)),
        None => Ok(name.to_owned()),
    }
}

/// Registers a client application and returns its API key (shown only this once).
#[utoipa::path(tag = "admin", request_body = CreateApplication, security(("admin" = [])), responses(
    (status = 201, body = CreatedApplication),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem),
    (status = 403, description = "`forbidden` (a user's token)", body = crate::error::Problem),
    (status = 409, description = "`application_exists`", body = crate::error::Problem),
    (status = 422, description = "`validation_failed`", body = crate::error::Problem)))]
#[post("/admin/applications")]
pub async fn create_application(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    body: web::Json<CreateApplication>,
) -> ApiResult<HttpResponse> {
    let name = parse_app_name(body.name.as_deref()).map_err(|e| ApiError::validation(vec![e]))?;
    let (key, digest) = api_key::generate();
    let app = store::applications::create(&state.db, &name, &digest)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                Code::ApplicationExists,
                format!("An application named `{name}` exists (names are never reused)."),
            )
        })?;
    Ok(HttpResponse::Created().json(CreatedApplication {
        id: app.id,
        name: app.name,
        api_key: key,
        created_at: app.created_at,
    }))
}

/// Every client application (revoked ones included), oldest first.
#[utoipa::path(tag = "admin", security(("admin" = [])), responses(
    (status = 200, body = Page<ApplicationItem>)))]
#[get("/admin/applications")]
pub async fn list_applications(
    state: web::Data<AppState>,
    _admin: AdminAuth,
) -> ApiResult<web::Json<Page<ApplicationItem>>> {
    let items = store::applications::list(&state.db)
        .await?
        .into_iter()
        .map(|a| ApplicationItem {
            id: a.id,
            name: a.name,
            created_at: a.created_at,
            revoked_at: a.revoked_at,
        })
        .collect();
    Ok(web::Json(Page {
        items,
        next_cursor: None,
    }))
}

/// Revokes an application's key (idempotent), on every replica at once. Events already
/// accepted are still stored.
#[utoipa::path(tag = "admin", security(("admin" = [])), responses(
    (status = 204), (status = 404, description = "`not_found`", body = crate::error::Problem)))]
#[delete("/admin/applications/{id}")]
pub async fn revoke_application(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    if store::applications::revoke(&state.db, *id).await? {
        crate::notify::revoke(&state, Revocation::Application { id: *id }).await;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found())
    }
}

// ---- event types -----------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
pub struct PutEventType {
    /// A JSON Schema: an object, or `true`/`false` (any draft the validator knows; remote
    /// `$ref`s are not fetched).
    #[schema(schema_with = crate::openapi::json_schema, required = true)]
    schema: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeItem {
    category: String,
    name: String,
    #[schema(schema_with = crate::openapi::json_schema)]
    schema: Value,
    updated_at: DateTime<Utc>,
}

/// Registers or replaces the JSON Schema of an event type. Every event of that type accepted
/// after this call returns is validated against it by the worker (failures are quarantined as
/// `payload_invalid`).
#[utoipa::path(tag = "admin", request_body = PutEventType, security(("admin" = [])),
    params(
        ("category" = String, Path, description = "1–100 characters, no control characters", min_length = 1, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"),
        ("name" = String, Path, description = "1–100 characters, no control characters", min_length = 1, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"),
    ),
    responses(
    (status = 201, description = "Registered", body = EventTypeItem),
    (status = 200, description = "Replaced", body = EventTypeItem),
    (status = 422, description = "`invalid_schema` or `validation_failed`", body = crate::error::Problem)))]
#[put("/admin/event-types/{category}/{name}")]
pub async fn put_event_type(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    path: web::Path<(String, String)>,
    body: web::Json<PutEventType>,
) -> ApiResult<HttpResponse> {
    let (category, name) = path.into_inner();
    let mut errors = Errors::default();
    errors.take(label("category", &category));
    errors.take(label("name", &name));
    errors.finish()?;
    let schema = body.into_inner().schema.ok_or_else(|| {
        ApiError::new(Code::InvalidSchema, "`schema` is required (a JSON Schema).")
    })?;
    // PostgreSQL's `jsonb` cannot store `\u0000`, in keys or in strings.
    if crate::domain::json_escape::has_nul_escape(&schema.to_string()) {
        return Err(ApiError::new(
            Code::InvalidSchema,
            "The schema must not contain the NUL character (\\u0000).",
        ));
    }
    if let Err(e) = jsonschema::validator_for(&schema) {
        return Err(ApiError::new(
            Code::InvalidSchema,
            format!("The schema is not a valid JSON Schema: {e}"),
        ));
    }
    let created = store::events::put_schema(&state.db, &category, &name, &schema).await?;
    let item = EventTypeItem {
        category,
        name,
        schema,
        updated_at: Utc::now(),
    };
    Ok(if created {
        HttpResponse::Created().json(item)
    } else {
        HttpResponse::Ok().json(item)
    })
}

fn label(field: &str, value: &str) -> Result<(), FieldError> {
    match roost_common::label::problem(value) {
        Some(problem) => Err(FieldError::new(field, problem)),
        None => Ok(()),
    }
}

/// Every registered event type.
#[utoipa::path(tag = "admin", security(("admin" = [])), responses(
    (status = 200, body = Page<EventTypeItem>)))]
#[get("/admin/event-types")]
pub async fn list_event_types(
    state: web::Data<AppState>,
    _admin: AdminAuth,
) -> ApiResult<web::Json<Page<EventTypeItem>>> {
    let items = store::events::event_types(&state.db)
        .await?
        .into_iter()
        .map(|t| EventTypeItem {
            category: t.category,
            name: t.name,
            schema: t.schema,
            updated_at: t.updated_at,
        })
        .collect();
    Ok(web::Json(Page {
        items,
        next_cursor: None,
    }))
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

/// Resolves an application filter by id or name; an unknown one is a validation error, not an
/// empty result that looks like "no events".
async fn application_filter(
    state: &AppState,
    raw: Option<&str>,
) -> ApiResult<Result<Option<Uuid>, FieldError>> {
    let Some(name) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Ok(None));
    };
    if name.contains('\0') {
        return Ok(Err(FieldError::new("application", "no such application")));
    }
    Ok(store::applications::resolve(&state.db, name)
        .await?
        .map(Some)
        .ok_or_else(|| {
            FieldError::new(
                "application",
                format!("no application with the id or name `{name}`"),
            )
        }))
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
    (status = 422, description = "`validation_failed`", body = crate::error::Problem)))]
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
    (status = 422, description = "`validation_failed`", body = crate::error::Problem)))]
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

// ---- analytics -------------------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
pub struct DaysQuery {
    /// Number of UTC days ending today (included), 1–366.
    #[param(minimum = 1, maximum = 366)]
    days: Option<i64>,
}

fn days(raw: Option<i64>, default: i32) -> ApiResult<i32> {
    match raw {
        None => Ok(default),
        Some(n @ 1..=366) => Ok(i32::try_from(n).unwrap_or(default)),
        Some(_) => Err(ApiError::field("days", "must be between 1 and 366")),
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginDay {
    #[schema(example = "2026-11-23")]
    day: String,
    users: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Items<T> {
    items: Vec<T>,
}

/// Distinct users who logged in on each UTC day (oldest day first). SQL:
/// `analytics/v1/logins_per_day.sql`.
#[utoipa::path(tag = "analytics", params(DaysQuery), security(("admin" = [])), responses(
    (status = 200, body = Items<LoginDay>)))]
#[get("/admin/analytics/logins-per-day")]
pub async fn logins_per_day(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    query: web::Query<DaysQuery>,
) -> ApiResult<web::Json<Items<LoginDay>>> {
    let days = days(query.days, 30)?;
    let rows = store::analytics::logins_per_day(&state.db, days).await?;
    Ok(web::Json(Items {
        items: rows
            .into_iter()
            .map(|(day, users)| LoginDay { day, users })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TopPostsDay {
    day: String,
    /// Up to 10 `{"post_id", "comments"}`, most comments first.
    #[schema(value_type = Vec<PostComments>)]
    posts: Value,
}

#[derive(Serialize, ToSchema)]
pub struct PostComments {
    post_id: i64,
    comments: i64,
}

/// For each UTC day, the 10 posts with most comments made that day. SQL:
/// `analytics/v1/top_posts.sql`.
#[utoipa::path(tag = "analytics", params(DaysQuery), security(("admin" = [])), responses(
    (status = 200, body = Items<TopPostsDay>)))]
#[get("/admin/analytics/top-posts")]
pub async fn top_posts(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    query: web::Query<DaysQuery>,
) -> ApiResult<web::Json<Items<TopPostsDay>>> {
    let days = days(query.days, 10)?;
    let rows = store::analytics::top_posts(&state.db, days).await?;
    Ok(web::Json(Items {
        items: rows
            .into_iter()
            .map(|(day, posts)| TopPostsDay { day, posts })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PostExtremes {
    top: Option<PostComments>,
    worst: Option<PostComments>,
}

/// A user's all-time most and least commented post or quote (ties: the older post). SQL:
/// `analytics/v1/post_extremes.sql`.
#[utoipa::path(tag = "analytics", security(("admin" = [])), responses(
    (status = 200, body = PostExtremes),
    (status = 404, description = "`user_not_found`", body = crate::error::Problem)))]
#[get("/admin/analytics/users/{username}/post-extremes")]
pub async fn post_extremes(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    username: web::Path<String>,
) -> ApiResult<web::Json<PostExtremes>> {
    let (user_id, _) = store::users::find(&state.db, &username)
        .await?
        .ok_or_else(|| ApiError::user_not_found(&username))?;
    let mut out = PostExtremes {
        top: None,
        worst: None,
    };
    for (which, post_id, comments) in store::analytics::post_extremes(&state.db, user_id).await? {
        let item = Some(PostComments { post_id, comments });
        if which == "top" {
            out.top = item;
        } else {
            out.worst = item;
        }
    }
    Ok(web::Json(out))
}
