//! Jobs as their owner sees them. The worker runs them (see `roost-ingest`).

use chrono::{DateTime, Utc};
use roost_common::model::{JobKind, JobStatus, WordSort};
use serde_json::Value;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

pub struct NewJob<'a> {
    pub user_id: i64,
    pub kind: JobKind,
    pub text: Option<&'a str>,
    pub url: Option<&'a str>,
    pub sort: WordSort,
}

#[derive(FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub kind: JobKind,
    pub status: JobStatus,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Stores a queued job.
pub async fn create(db: &PgPool, job: NewJob<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO jobs (user_id, kind, input_text, input_url, sort)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(job.user_id)
    .bind(job.kind)
    .bind(job.text)
    .bind(job.url)
    .bind(job.sort)
    .fetch_one(db)
    .await
}

/// One job, if it belongs to `user_id`.
pub async fn get(db: &PgPool, user_id: i64, id: Uuid) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, status, result, error, created_at, finished_at
         FROM jobs WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}
