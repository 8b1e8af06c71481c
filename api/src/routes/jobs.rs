//! Jobs (web–queue–worker): the API stores and enqueues; the worker runs.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use roost_common::{
    model::{JobKind, JobStatus, WordSort},
    netpolicy::AddressPolicy,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::read_body;
use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult, Code, FieldError},
    queue,
    state::AppState,
    store::{self, jobs::NewJob},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_job).service(get_job);
}

/// Longest `text`, in bytes (UTF-8).
const MAX_TEXT: usize = 10 * 1024 * 1024;
/// Largest body: a 10 MiB text plus JSON escaping headroom.
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    #[schema(value_type = JobKind, required = true)]
    kind: Option<String>,
    /// The text to count (at most 10 MiB); or give `url`.
    text: Option<String>,
    /// An http(s) URL to fetch and count (HTML is reduced to its visible text).
    url: Option<String>,
    /// `frequency` (default: most frequent first, ties alphabetically) or `alphabetical`.
    #[schema(value_type = Option<WordSort>)]
    sort: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct JobCreated {
    id: Uuid,
    status: JobStatus,
}

#[derive(Serialize, ToSchema)]
pub struct JobView {
    id: Uuid,
    kind: JobKind,
    status: JobStatus,
    /// `{"total_words", "unique_words", "words": [[word, count], ...]}` once succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
    /// Why the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
}

/// Queues a job. `word_count` counts the words of `text`, or of the page at `url`.
#[utoipa::path(tag = "jobs", request_body = CreateJob, security(("bearer" = [])), responses(
    (status = 202, body = JobCreated),
    (status = 422, description = "`validation_failed` or `url_not_allowed`", body = crate::error::Problem)))]
#[post("/jobs")]
pub async fn create_job(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    super::body::require_json(&req)?;
    let body = read_body(&req, payload, MAX_BODY).await?;
    let job: CreateJob =
        super::optional_json(&body)?.ok_or_else(|| ApiError::field("kind", "is required"))?;
    let mut errors = Vec::new();
    let kind = match job.kind.as_deref().map(JobKind::parse) {
        Some(Some(kind)) => Some(kind),
        Some(None) => {
            errors.push(FieldError::new("kind", "must be `word_count`"));
            None
        }
        None => {
            errors.push(FieldError::new("kind", "is required"));
            None
        }
    };
    let sort = match job.sort.as_deref() {
        None => WordSort::default(),
        Some(text) => WordSort::parse(text).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "sort",
                "must be `frequency` or `alphabetical`",
            ));
            WordSort::default()
        }),
    };
    match (&job.text, &job.url) {
        (Some(_), Some(_)) | (None, None) => {
            errors.push(FieldError::new(
                "text",
                "give exactly one of `text` and `url`",
            ));
        }
        (Some(text), None) if text.len() > MAX_TEXT => {
            errors.push(FieldError::new("text", "must be at most 10 MiB"));
        }
        (Some(text), None) if text.contains('\0') => {
            errors.push(FieldError::new("text", "must not contain NUL characters"));
        }
        _ => {}
    }
    let (Some(kind), true) = (kind, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    if let Some(url) = &job.url {
        let policy = AddressPolicy {
            allow_loopback: state.settings.jobs.fetch_allow_loopback,
            allow_private: state.settings.jobs.fetch_allow_private,
        };
        if url.len() > 2048 {
            return Err(ApiError::field("url", "must be at most 2048 characters"));
        }
        if let Err(refusal) = policy.check_url(url) {
            return Err(ApiError::new(Code::UrlNotAllowed, format!("{refusal}."))
                .with_errors(vec![FieldError::new("url", refusal.to_string())]));
        }
    }
    let id = store::jobs::create(
        &state.db,
        NewJob {
            user_id: user.id,
            kind,
            text: job.text.as_deref(),
            url: job.url.as_deref(),
            sort,
        },
    )
    .await?;
    state
        .metrics
        .jobs_created
        .with_label_values(&[kind.as_str()])
        .inc();
    if let Err(error) = queue::enqueue_job(&state, id).await {
        // The job is safe in PostgreSQL; the worker's sweep picks it up.
        tracing::warn!(job = %id, error = %format!("{error:#}"), "waking a job runner failed");
    }
    Ok(HttpResponse::Accepted().json(JobCreated {
        id,
        status: JobStatus::Queued,
    }))
}

/// A job's status and, once done, its result or error. Only its owner sees it.
#[utoipa::path(tag = "jobs", security(("bearer" = [])), responses(
    (status = 200, body = JobView),
    (status = 404, description = "`not_found` (also another user's job)", body = crate::error::Problem)))]
#[get("/jobs/{id}")]
pub async fn get_job(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<JobView>> {
    let job = store::jobs::get(&state.db, user.id, *id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let failed = job.status == JobStatus::Failed;
    Ok(web::Json(JobView {
        id: job.id,
        kind: job.kind,
        status: job.status,
        result: job.result,
        error: job.error.filter(|_| failed),
        created_at: job.created_at,
        finished_at: job.finished_at,
    }))
}
