//! Jobs (`jobs`), seen from the runner: claims under a lease, lease renewal, the three ways a
//! run ends, the sweep of lost wake-ups, and retention. Every update of a run names its
//! attempt, so a run whose lease expired (and was re-run elsewhere) cannot overwrite the newer
//! run's outcome.

use std::time::Duration;

use roost_common::model::{JobStatus, WordSort};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// A job claimed for one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub id: Uuid,
    /// 1 on the first run.
    pub attempt: i32,
    pub text: Option<String>,
    pub url: Option<String>,
    pub sort: WordSort,
}

/// Claims a job for one run: queued, or running under an expired lease (its runner died).
/// `None` when it is finished or running elsewhere under a live lease.
pub async fn claim(db: &PgPool, id: Uuid, lease: Duration) -> Result<Option<Claimed>, sqlx::Error> {
    let row: Option<(i32, Option<String>, Option<String>, WordSort)> = sqlx::query_as(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1,
                         started_at = coalesce(started_at, now()),
                         lease_until = now() + make_interval(secs => $2)
         WHERE id = $1
           AND (status = 'queued' OR (status = 'running' AND lease_until < now()))
         RETURNING attempts, input_text, input_url, sort",
    )
    .bind(id)
    .bind(lease.as_secs_f64())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(attempt, text, url, sort)| Claimed {
        id,
        attempt,
        text,
        url,
        sort,
    }))
}

/// Extends a running attempt's lease to `lease` from now.
pub async fn renew(db: &PgPool, job: &Claimed, lease: Duration) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE jobs SET lease_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND attempts = $2 AND status = 'running'",
    )
    .bind(job.id)
    .bind(job.attempt)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?;
    Ok(())
}

/// Ends the attempt `succeeded` with its result; `false` when the attempt no longer owns the
/// job.
pub async fn succeed(db: &PgPool, job: &Claimed, result: &Value) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'succeeded', result = $3, error = NULL,
                         finished_at = now(), lease_until = NULL
         WHERE id = $1 AND attempts = $2 AND status = 'running'",
    )
    .bind(job.id)
    .bind(job.attempt)
    .bind(result)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Puts the job back in the queue after a retryable failure, unclaimable for `hold` (the
/// backoff plus one lease, so the sweep does not wake it early); `false` when the attempt no
/// longer owns the job.
pub async fn requeue(
    db: &PgPool,
    job: &Claimed,
    error: &str,
    hold: Duration,
) -> Result<bool, sqlx::Error> {
    let requeued = sqlx::query(
        "UPDATE jobs SET status = 'queued', error = $3,
                         lease_until = now() + make_interval(secs => $4)
         WHERE id = $1 AND attempts = $2 AND status = 'running'",
    )
    .bind(job.id)
    .bind(job.attempt)
    .bind(error)
    .bind(hold.as_secs_f64())
    .execute(db)
    .await?;
    Ok(requeued.rows_affected() > 0)
}

/// Ends the attempt `failed` with `reason`; `false` when the attempt no longer owns the job.
pub async fn fail(db: &PgPool, job: &Claimed, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'failed', error = $3, finished_at = now(), lease_until = NULL
         WHERE id = $1 AND attempts = $2 AND status = 'running'",
    )
    .bind(job.id)
    .bind(job.attempt)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks queued again (held for one `lease`) up to 100 jobs whose wake-up was lost: queued
/// for longer than a lease, or running with a lease that expired more than a lease ago (their
/// stream entry is gone). Returns their ids, for the caller to wake them.
pub async fn take_lost(db: &PgPool, lease: Duration) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE jobs SET status = 'queued', lease_until = now() + make_interval(secs => $1)
         WHERE id IN (
             SELECT id FROM jobs
             WHERE (status = 'queued'
                    AND coalesce(lease_until, created_at + make_interval(secs => $1)) < now())
                OR (status = 'running' AND lease_until < now() - make_interval(secs => $1))
             ORDER BY created_at LIMIT 100
             FOR UPDATE SKIP LOCKED)
         RETURNING id",
    )
    .bind(lease.as_secs_f64())
    .fetch_all(db)
    .await
}

/// How many jobs are queued and how many running.
pub async fn unfinished(db: &PgPool) -> Result<Vec<(JobStatus, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, count(*) FROM jobs WHERE status IN ('queued', 'running')
         GROUP BY status",
    )
    .fetch_all(db)
    .await
}

/// Deletes jobs finished more than `days` days ago.
pub async fn delete_finished_before(db: &PgPool, days: u32) -> Result<u64, sqlx::Error> {
    let deleted =
        sqlx::query("DELETE FROM jobs WHERE finished_at < now() - make_interval(days => $1::int)")
            .bind(i32::try_from(days).unwrap_or(i32::MAX))
            .execute(db)
            .await?;
    Ok(deleted.rows_affected())
}
