//! `/v1/admin/event-types`: JSON Schemas for client event types.

use actix_web::{HttpResponse, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    auth::AdminAuth,
    http::{
        error::{ApiError, ApiResult, Code, FieldError},
        input::Errors,
        page::Page,
    },
    state::AppState,
    store::{self},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(put_event_type).service(list_event_types);
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
    (status = 422, description = "`invalid_schema` or `validation_failed`", body = crate::http::error::Problem)))]
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
