//! The `events` table and its `event_ids` key table: idempotent batch inserts, the weekly
//! partitions (created ahead of time, attached without blocking inserts) and retention by
//! whole partitions.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use roost_common::pipeline::Event;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Partitions are created this many weeks ahead.
pub const WEEKS_AHEAD: u64 = 2;

/// An event ready to store (borrowed from its decoded entry).
#[derive(Clone, Copy, Debug)]
pub struct ToStore<'a> {
    pub application: Uuid,
    pub received_at: DateTime<Utc>,
    pub event: &'a Event,
}

/// Inserts the events whose id is new (through `event_ids`, which holds every stored id
/// whatever its partition); returns how many were new. The caller's transaction.
pub async fn insert(tx: &mut PgConnection, events: &[ToStore<'_>]) -> Result<u64, sqlx::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    // One row per id: a batch may carry the same id twice (a client retry).
    let mut seen = HashSet::with_capacity(events.len());
    let unique: Vec<&ToStore<'_>> = events.iter().filter(|e| seen.insert(e.event.id)).collect();
    let stored = sqlx::query(
        "WITH input AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                                  $6::text[], $7::timestamptz[], $8::timestamptz[])
                 AS t(id, application_id, session_id, category, name, data, ts, received_at)
         ), fresh AS (
             -- In id order, so consumers committing overlapping batches (a client's
             -- retry) wait on each other instead of deadlocking.
             INSERT INTO event_ids (id, received_at)
             SELECT id, received_at FROM input ORDER BY id
             ON CONFLICT (id) DO NOTHING
             RETURNING id
         )
         INSERT INTO events (id, application_id, session_id, category, name, data,
                             \"timestamp\", received_at)
         SELECT i.id, i.application_id, i.session_id, i.category, i.name, i.data::jsonb, i.ts,
                i.received_at
         FROM input i JOIN fresh f USING (id)",
    )
    .bind(unique.iter().map(|e| e.event.id).collect::<Vec<_>>())
    .bind(unique.iter().map(|e| e.application).collect::<Vec<_>>())
    .bind(
        unique
            .iter()
            .map(|e| e.event.session_id)
            .collect::<Vec<_>>(),
    )
    .bind(
        unique
            .iter()
            .map(|e| e.event.category.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        unique
            .iter()
            .map(|e| e.event.name.as_str())
            .collect::<Vec<_>>(),
    )
    // As text, cast by PostgreSQL: `jsonb` keeps every digit the client sent.
    .bind(
        unique
            .iter()
            .map(|e| e.event.data.as_json())
            .collect::<Vec<_>>(),
    )
    .bind(unique.iter().map(|e| e.event.timestamp).collect::<Vec<_>>())
    .bind(unique.iter().map(|e| e.received_at).collect::<Vec<_>>())
    .execute(tx)
    .await?
    .rows_affected();
    Ok(stored)
}

/// The Monday starting the week of `day`.
pub fn week_start(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.weekday().num_days_from_monday()))
}

fn partition_name(start: NaiveDate) -> String {
    format!("events_p{}", start.format("%Y%m%d"))
}

/// The weekly partitions that exist, with their first day.
async fn partitions(db: &PgPool) -> Result<Vec<(String, NaiveDate)>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass",
    )
    .fetch_all(db)
    .await?;
    Ok(names
        .into_iter()
        .filter_map(|name| {
            let day = NaiveDate::parse_from_str(name.strip_prefix("events_p")?, "%Y%m%d").ok()?;
            Some((name, day))
        })
        .collect())
}

/// Creates the partitions of this week and the next [`WEEKS_AHEAD`] weeks if missing, one
/// week per transaction. Each is built beside the table and then attached, moving in any rows
/// the default partition caught for that week (which would otherwise block the range for
/// ever). DDL waits at most a few seconds for its locks, so it never queues the worker's
/// inserts behind a long query; a week that could not be created is retried next time.
pub async fn ensure_partitions(db: &PgPool, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let existing = partitions(db).await?;
    let first = week_start(now.date_naive());
    let missing: Vec<NaiveDate> = (0..=WEEKS_AHEAD)
        .map(|w| first + Days::new(7 * w))
        .filter(|start| !existing.iter().any(|(_, s)| s == start))
        .collect();
    let mut failed = None;
    for start in missing {
        if let Err(e) = create_partition(db, start).await {
            tracing::warn!(partition = %partition_name(start), error = %e, "creating an event partition failed; will retry");
            failed = Some(e);
        }
    }
    failed.map_or(Ok(()), Err)
}

async fn create_partition(db: &PgPool, start: NaiveDate) -> Result<(), sqlx::Error> {
    let name = partition_name(start);
    let from = start.format("%Y-%m-%d 00:00:00+00").to_string();
    let to = (start + Days::new(7))
        .format("%Y-%m-%d 00:00:00+00")
        .to_string();
    let mut tx = db.begin().await?;
    sqlx::query("SET LOCAL lock_timeout = '5s'")
        .execute(&mut *tx)
        .await?;
    // Replicas take turns; one that finds the partition made by another stops there.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('roost:event-partitions'))")
        .execute(&mut *tx)
        .await?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&name)
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        return Ok(());
    }
    // The names and bounds come from our own date formatting, never from input.
    for sql in [
        format!("CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
        format!(
            "WITH moved AS (DELETE FROM events_default
                            WHERE received_at >= '{from}' AND received_at < '{to}' RETURNING *)
             INSERT INTO {name} SELECT * FROM moved"
        ),
        format!(
            "ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ('{from}') TO ('{to}')"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(partition = %name, "created an event partition");
    Ok(())
}

/// Drops the partitions wholly before `boundary` (a Monday) and forgets their ids in the key
/// table; deletes what the default partition caught before it. Returns the dropped names.
pub async fn drop_before(db: &PgPool, boundary: NaiveDate) -> Result<Vec<String>, sqlx::Error> {
    let boundary_at = boundary.and_time(chrono::NaiveTime::MIN).and_utc();
    let mut dropped = Vec::new();
    for (name, start) in partitions(db).await? {
        if start + Days::new(7) <= boundary {
            // The partition name comes from our own naming scheme, checked by `partitions`.
            let mut tx = db.begin().await?;
            sqlx::query("SET LOCAL lock_timeout = '5s'")
                .execute(&mut *tx)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(partition = %name, "dropped an event partition past retention");
            dropped.push(name);
        }
    }
    loop {
        let deleted = sqlx::query(
            "DELETE FROM event_ids WHERE id IN
                 (SELECT id FROM event_ids WHERE received_at < $1 LIMIT 10000)",
        )
        .bind(boundary_at)
        .execute(db)
        .await?
        .rows_affected();
        if deleted < 10000 {
            break;
        }
    }
    sqlx::query("DELETE FROM events_default WHERE received_at < $1")
        .bind(boundary_at)
        .execute(db)
        .await?;
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        let sunday = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(week_start(sunday), monday);
        assert_eq!(week_start(monday), monday);
        assert_eq!(partition_name(monday), "events_p20261123");
    }
}
