//! The transactional outbox (`outbox`), seen from the worker: rows are deleted once their
//! event is stored, and the relay re-publishes the ones the API's own publish did not get
//! stored in time (see `roost_common::pipeline::outbox`).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use roost_common::pipeline::{Event, EventData, domain_event};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Most rows one relay pass takes.
const RELAY_BATCH: i64 = 500;

/// Deletes the rows of events now stored or quarantined. The caller's transaction.
pub async fn delete(tx: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    if !ids.is_empty() {
        sqlx::query("DELETE FROM outbox WHERE event_id = ANY($1)")
            .bind(ids)
            .execute(tx)
            .await?;
    }
    Ok(())
}

/// Locks (`FOR UPDATE SKIP LOCKED`, so replicas share the work) up to 500 rows older than
/// `after` and not relayed within `after`, oldest first, as the events they describe. The
/// caller publishes them, then [`mark_relayed`] in the same transaction.
pub async fn lock_stale(tx: &mut PgConnection, after: Duration) -> anyhow::Result<Vec<Event>> {
    let rows: Vec<(Uuid, String, String, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT event_id, name, payload::text, session_id, created_at FROM outbox
         WHERE created_at < now() - make_interval(secs => $1)
           AND (relayed_at IS NULL OR relayed_at < now() - make_interval(secs => $1))
         ORDER BY created_at LIMIT $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(after.as_secs_f64())
    .bind(RELAY_BATCH)
    .fetch_all(tx)
    .await?;
    rows.into_iter()
        .map(|(id, name, data, session_id, timestamp)| {
            Ok(Event {
                id,
                session_id,
                category: domain_event::CATEGORY.to_owned(),
                name,
                data: EventData::from_json(data)?,
                timestamp,
            })
        })
        .collect::<Result<Vec<Event>, serde_json::Error>>()
        .context("reading an outbox payload")
}

/// Records that these rows were just re-published. The caller's transaction.
pub async fn mark_relayed(tx: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET relayed_at = now() WHERE event_id = ANY($1)")
        .bind(ids)
        .execute(tx)
        .await?;
    Ok(())
}

/// The number of rows and the age of the oldest, in seconds (0 when empty).
pub async fn backlog(db: &PgPool) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
         FROM outbox",
    )
    .fetch_one(db)
    .await
}
