//! `/v1/admin/applications`: client applications and their API keys (through
//! `service::applications`).

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    auth::AdminAuth,
    domain::application::ApplicationName,
    http::{
        error::{ApiError, ApiResult, Code},
        page::Page,
    },
    service::{
        self,
        applications::{CreateError, Revoked},
    },
    state::AppState,
    store::{self},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_application)
        .service(list_applications)
        .service(revoke_application);
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

/// Registers a client application and returns its API key (shown only this once).
#[utoipa::path(tag = "admin", request_body = CreateApplication, security(("admin" = [])), responses(
    (status = 201, body = CreatedApplication),
    (status = 401, description = "`unauthorized`", body = crate::http::error::Problem),
    (status = 403, description = "`forbidden` (a user's token)", body = crate::http::error::Problem),
    (status = 409, description = "`application_exists`", body = crate::http::error::Problem),
    (status = 422, description = "`validation_failed`", body = crate::http::error::Problem)))]
#[post("/admin/applications")]
pub async fn create_application(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    body: web::Json<CreateApplication>,
) -> ApiResult<HttpResponse> {
    let name =
        ApplicationName::parse(body.name.as_deref()).map_err(|e| ApiError::validation(vec![e]))?;
    let registered = service::applications::create(&state.db, &name)
        .await
        .map_err(|error| match error {
            CreateError::NameTaken(_) => ApiError::new(Code::ApplicationExists, error.to_string()),
            CreateError::Store(e) => e.into(),
        })?;
    let app = registered.application;
    Ok(HttpResponse::Created().json(CreatedApplication {
        id: app.id,
        name: app.name,
        api_key: registered.api_key,
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
    (status = 204), (status = 404, description = "`not_found`", body = crate::http::error::Problem)))]
#[delete("/admin/applications/{id}")]
pub async fn revoke_application(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    // This replica stops accepting the key before anything else (dropping an unknown id is
    // harmless); the others when they hear the announcement.
    state.api_keys.revoke(*id);
    let mut redis = state.redis.clone();
    match service::applications::revoke(&state.db, &mut redis, &state.keys, *id).await? {
        Revoked::NotFound => Err(ApiError::not_found()),
        Revoked::Revoked { announced } => {
            if let Err(error) = announced {
                tracing::warn!(application = %id, error = %format!("{error:#}"), "announcing a revocation to other replicas failed; they apply it within the API key cache TTL");
            }
            Ok(HttpResponse::NoContent().finish())
        }
    }
}
