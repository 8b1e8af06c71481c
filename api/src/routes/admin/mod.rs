//! `/v1/admin/*` (bootstrap admin token), one file per resource: client applications, event
//! types (JSON Schemas), stored events, the quarantine and the analytics reports.

pub mod analytics;
pub mod applications;
pub mod event_types;
pub mod events;
pub mod ingest_errors;

use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{domain::FieldError, http::error::ApiResult, state::AppState, store};

pub fn configure(cfg: &mut ServiceConfig) {
    applications::configure(cfg);
    event_types::configure(cfg);
    events::configure(cfg);
    ingest_errors::configure(cfg);
    analytics::configure(cfg);
}

/// Resolves an application filter by id or name; an unknown one is a validation error, not an
/// empty result that looks like "no events".
pub(super) async fn application_filter(
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
