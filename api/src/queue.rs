//! What the API writes to Redis for the worker: accepted event batches and job wake-ups.

use chrono::{DateTime, Utc};
use roost_common::pipeline::{Event, EventBatch, JobWakeUp};
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
    let mut conn = state.redis.clone();
    EventBatch::xadd(&state.keys, application, received_at, events)?
        .query_async::<String>(&mut conn)
        .await?;
    Ok(())
}

/// Wakes a job runner for a job already stored in PostgreSQL. A lost wake-up only delays the
/// job: the worker's sweep re-enqueues queued jobs nobody picked up.
pub async fn enqueue_job(state: &AppState, job: Uuid) -> anyhow::Result<()> {
    let mut conn = state.redis.clone();
    JobWakeUp { job }
        .xadd(&state.keys)
        .query_async::<String>(&mut conn)
        .await?;
    Ok(())
}
