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

use crate::http::input::read_body;
use crate::{
    auth::AuthUser,
    domain::job::NewJob,
    http::error::{ApiError, ApiResult, Code, FieldError},
    service::{self, jobs::CreateError},
    state::AppState,
    store,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_job).service(get_job);
}

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
    (status = 422, description = "`validation_failed` or `url_not_allowed`", body = crate::http::error::Problem)))]
#[post("/jobs")]
pub async fn create_job(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    crate::http::input::require_json(&req)?;
    let body = read_body(&req, payload, MAX_BODY).await?;
    let job: CreateJob = crate::http::input::optional_json(&body)?
        .ok_or_else(|| ApiError::field("kind", "is required"))?;
    let new = NewJob::parse(job.kind.as_deref(), job.text, job.url, job.sort.as_deref())
        .map_err(ApiError::validation)?;
    let policy = AddressPolicy {
        allow_loopback: state.settings.jobs.fetch_allow_loopback,
        allow_private: state.settings.jobs.fetch_allow_private,
    };
    let mut redis = state.redis.clone();
    let id = service::jobs::create(&state.db, &mut redis, &state.keys, policy, user.id, &new)
        .await
        .map_err(|error| match error {
            CreateError::UrlNotAllowed(refusal) => {
                ApiError::new(Code::UrlNotAllowed, format!("{refusal}."))
                    .with_errors(vec![FieldError::new("url", refusal.to_string())])
            }
            CreateError::Store(e) => e.into(),
        })?;
    state
        .metrics
        .jobs_created
        .with_label_values(&[new.kind.as_str()])
        .inc();
    Ok(HttpResponse::Accepted().json(JobCreated {
        id,
        status: JobStatus::Queued,
    }))
}

/// A job's status and, once done, its result or error. Only its owner sees it.
#[utoipa::path(tag = "jobs", security(("bearer" = [])), responses(
    (status = 200, body = JobView),
    (status = 404, description = "`not_found` (also another user's job)", body = crate::http::error::Problem)))]
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
