//! Event ingest (SPEC §3.5, §4): an accepted batch is one entry of the events stream, so it is
//! taken whole or not at all; 202 means Redis has it under its fsync policy.

use chrono::{DateTime, Utc};
use roost_common::pipeline::{Event, EventBatch, Keys};
use uuid::Uuid;

/// Appends one accepted batch to the events stream as a single entry, so a batch is taken
/// whole or not at all. `Ok` means Redis has it (under its fsync policy).
pub async fn accept(
    redis: &mut impl redis::aio::ConnectionLike,
    keys: &Keys,
    application: Uuid,
    received_at: DateTime<Utc>,
    events: &[Event],
) -> anyhow::Result<()> {
    EventBatch::xadd(keys, application, received_at, events)?
        .query_async::<String>(redis)
        .await?;
    Ok(())
}
