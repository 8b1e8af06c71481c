//! The worker's SQL, one file per table (named like the API's `store/`): callers (the
//! consumer, the job runner, the maintenance schedule, tests) never write SQL themselves.
//!
//! [`write_batch`] is the one transaction per batch: new events (deduplicated by id through
//! the `event_ids` key table), quarantined events, notifications derived from
//! `comment.created`, and the deletion of the outbox rows whose events are now stored.

pub mod event_types;
pub mod events;
pub mod ingest_errors;
pub mod jobs;
pub mod notifications;
pub mod outbox;
pub mod tokens;

use roost_common::pipeline::QuarantineCode;
use sqlx::PgConnection;
use uuid::Uuid;

use self::{
    events::ToStore,
    ingest_errors::ToQuarantine,
    notifications::{Created, NewNotification},
};

/// Everything one batch writes (see `consumer::plan`).
#[derive(Debug, Default)]
pub struct Writes<'a> {
    pub events: Vec<ToStore<'a>>,
    pub quarantine: Vec<ToQuarantine>,
    pub notifications: Vec<NewNotification>,
    /// Outbox rows whose domain events this batch disposes of (stored or quarantined).
    pub outbox_ids: Vec<Uuid>,
}

/// What a committed batch did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stored: u64,
    pub duplicates: u64,
    /// The codes of the rows new to the quarantine.
    pub quarantined: Vec<QuarantineCode>,
    pub notifications: Vec<Created>,
}

/// Writes one batch in the caller's transaction (the caller commits, then acknowledges).
pub async fn write_batch(
    tx: &mut PgConnection,
    writes: &Writes<'_>,
) -> Result<Outcome, sqlx::Error> {
    let stored = events::insert(tx, &writes.events).await?;
    let quarantined = ingest_errors::insert(tx, &writes.quarantine).await?;
    let notifications = notifications::insert(tx, &writes.notifications).await?;
    outbox::delete(tx, &writes.outbox_ids).await?;
    Ok(Outcome {
        stored,
        duplicates: writes.events.len() as u64 - stored,
        quarantined,
        notifications,
    })
}
