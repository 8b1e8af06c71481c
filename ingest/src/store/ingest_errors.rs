//! The quarantine (`ingest_errors`): accepted events that broke a rule or could not be stored.

use chrono::{DateTime, Utc};
use roost_common::pipeline::QuarantineCode;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Something for the quarantine. `source` keeps re-processing idempotent: `event:<id>` for a
/// rejected event, `entry:<stream id>` for a poison entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ToQuarantine {
    pub source: String,
    pub application: Option<Uuid>,
    pub code: QuarantineCode,
    pub message: String,
    /// The event as JSON text (an accepted event's data keeps every digit).
    pub event: String,
    pub received_at: DateTime<Utc>,
}

/// Inserts the rows whose `source` is new; returns the codes of those (a redelivered batch
/// finds its rows there already, and they do not count again). The caller's transaction.
pub async fn insert(
    tx: &mut PgConnection,
    quarantine: &[ToQuarantine],
) -> Result<Vec<QuarantineCode>, sqlx::Error> {
    if quarantine.is_empty() {
        return Ok(Vec::new());
    }
    let codes: Vec<QuarantineCode> = sqlx::query_scalar(
        "INSERT INTO ingest_errors (source, application_id, code, message, event, received_at)
         SELECT t.source, a.id, t.code, t.message, t.event::jsonb, t.received_at
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[])
             AS t(source, application_id, code, message, event, received_at)
         LEFT JOIN applications a ON a.id = t.application_id
         ON CONFLICT (source) DO NOTHING
         RETURNING code",
    )
    .bind(
        quarantine
            .iter()
            .map(|q| q.source.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(quarantine.iter().map(|q| q.application).collect::<Vec<_>>())
    .bind(quarantine.iter().map(|q| q.code).collect::<Vec<_>>())
    .bind(
        quarantine
            .iter()
            .map(|q| q.message.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        quarantine
            .iter()
            .map(|q| q.event.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(quarantine.iter().map(|q| q.received_at).collect::<Vec<_>>())
    .fetch_all(tx)
    .await?;
    Ok(codes)
}

/// Deletes quarantine rows received more than `days` days ago.
pub async fn delete_older_than(db: &PgPool, days: u32) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query(
        "DELETE FROM ingest_errors WHERE received_at < now() - make_interval(days => $1::int)",
    )
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .execute(db)
    .await?;
    Ok(deleted.rows_affected())
}
