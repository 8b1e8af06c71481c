//! What the API writes to Redis for the worker: accepted event batches and job wake-ups.

use chrono::{DateTime, Utc};
use roost_common::stream::{self, Event, FIELD_JOB};
use uuid::Uuid;

use crate::state::AppState;

/// Appends one accepted batch to the events stream as a single entry, so a batch is taken
/// whole or not at all. `Ok` means Redis has it (under its fsync policy).
pub async fn enqueue_events(
    state: &AppState,
    application: Uuid,
    received_at: DateTime<Utc>,
    events: &[Event],
) -> anyhow::Result<()> {
    let json = serde_json::to_vec(events)?;
    let mut conn = state.redis.clone();
    stream::xadd(&state.keys, application, received_at, &json)
        .query_async::<String>(&mut conn)
        .await?;
    Ok(())
}

/// Wakes a job runner for a job already stored in PostgreSQL. A lost wake-up only delays the
/// job: the worker's sweep re-enqueues queued jobs nobody picked up.
pub async fn enqueue_job(state: &AppState, job: Uuid) -> anyhow::Result<()> {
    let mut conn = state.redis.clone();
    redis::cmd("XADD")
        .arg(&state.keys.jobs)
        .arg("*")
        .arg(FIELD_JOB)
        .arg(job.to_string())
        .query_async::<String>(&mut conn)
        .await?;
    Ok(())
}
