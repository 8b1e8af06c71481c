//! Periodic maintenance, safe to run on every replica at once:
//! - every tick: the outbox relay, acknowledged-only stream trimming, the job sweep and the
//!   gauges (stream length/pending/lag, outbox backlog, unfinished jobs);
//! - hourly (and at start): weekly event partitions ahead of time, retention (whole partitions
//!   and the rows of the other tables), expired token revocations, departed consumers.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use redis::aio::ConnectionManager;
use roost_common::{
    outbox::Publisher,
    settings::{JobSettings, PipelineSettings},
    stream::{EVENTS_GROUP, Event, EventData, JOBS_GROUP, Keys},
};
use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

use crate::{Stop, jobs::runner, metrics::Metrics, streams};

const HOURLY: Duration = Duration::from_secs(3600);
/// Consumers with nothing pending and idle this long are removed from their group.
const CONSUMER_GONE: Duration = Duration::from_secs(3600);
/// Partitions are created this many weeks ahead.
const WEEKS_AHEAD: u64 = 2;

pub struct Maintenance {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub keys: Keys,
    pub pipeline: PipelineSettings,
    pub jobs: JobSettings,
    pub metrics: Arc<Metrics>,
}

impl Maintenance {
    pub async fn run(mut self, stop: Stop) {
        let mut last_hourly: Option<Instant> = None;
        while !stop.is_set() {
            if last_hourly.is_none_or(|t| t.elapsed() >= HOURLY) {
                last_hourly = Some(Instant::now());
                self.hourly().await;
            }
            self.tick().await;
            stop.sleep(self.pipeline.maintenance_interval).await;
        }
    }

    fn failed(&self, task: &str, error: &dyn std::fmt::Display) {
        self.metrics
            .maintenance_failures
            .with_label_values(&[task])
            .inc();
        tracing::warn!(task, %error, "maintenance task failed");
    }

    /// The frequent tasks (also called directly by tests).
    pub async fn tick(&mut self) {
        if let Err(e) = self.relay().await {
            self.failed("relay", &e);
        }
        for (stream, label) in [
            (self.keys.events.clone(), "events"),
            (self.keys.jobs.clone(), "jobs"),
        ] {
            if let Err(e) = self.stream(&stream, label).await {
                self.failed("streams", &e);
            }
        }
        if let Err(e) = runner::sweep(&self.db, &mut self.redis, &self.keys, self.jobs.lease).await
        {
            self.failed("job_sweep", &e);
        }
        if let Err(e) = self.gauges().await {
            self.failed("gauges", &e);
        }
    }

    /// The hourly tasks (also called directly by tests).
    pub async fn hourly(&mut self) {
        if let Err(e) = ensure_partitions(&self.db, Utc::now()).await {
            self.failed("partitions", &e);
        }
        if let Err(e) = self.retention().await {
            self.failed("retention", &e);
        }
        for (stream, group) in [
            (self.keys.events.clone(), EVENTS_GROUP),
            (self.keys.jobs.clone(), JOBS_GROUP),
        ] {
            let forgotten =
                streams::forget_departed_consumers(&mut self.redis, &stream, group, CONSUMER_GONE)
                    .await;
            if let Err(e) = forgotten {
                self.failed("consumers", &e);
            }
        }
    }

    /// Re-publishes outbox rows the API's own publish did not get stored in time.
    pub async fn relay(&mut self) -> anyhow::Result<u64> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<(Uuid, String, String, Uuid, DateTime<Utc>)> = sqlx::query_as(
            "SELECT event_id, name, payload::text, session_id, created_at FROM outbox
             WHERE created_at < now() - make_interval(secs => $1)
               AND (relayed_at IS NULL OR relayed_at < now() - make_interval(secs => $1))
             ORDER BY created_at LIMIT 500
             FOR UPDATE SKIP LOCKED",
        )
        .bind(self.pipeline.relay_after.as_secs_f64())
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        let events = rows
            .into_iter()
            .map(|(id, name, data, session_id, timestamp)| {
                Ok(Event {
                    id,
                    session_id,
                    category: roost_common::outbox::DomainEvent::CATEGORY.to_owned(),
                    name,
                    data: EventData::from_json(data)?,
                    timestamp,
                })
            })
            .collect::<Result<Vec<Event>, serde_json::Error>>()
            .context("reading an outbox payload")?;
        Publisher::new(self.redis.clone(), self.keys.clone())
            .publish_now(&events)
            .await?;
        sqlx::query("UPDATE outbox SET relayed_at = now() WHERE event_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let n = ids.len() as u64;
        self.metrics.outbox_relayed.inc_by(n);
        tracing::info!(events = n, "outbox relay re-published domain events");
        Ok(n)
    }

    async fn stream(&mut self, stream: &str, label: &str) -> anyhow::Result<()> {
        let state = streams::state(&mut self.redis, stream).await?;
        let m = &self.metrics;
        m.stream_length
            .with_label_values(&[label])
            .set(i64::try_from(state.length).unwrap_or(i64::MAX));
        m.stream_pending
            .with_label_values(&[label])
            .set(i64::try_from(state.pending).unwrap_or(i64::MAX));
        m.stream_lag
            .with_label_values(&[label])
            .set(i64::try_from(state.lag).unwrap_or(i64::MAX));
        if let Some(min_id) = state.trim_below {
            streams::trim(&mut self.redis, stream, &min_id).await?;
        }
        Ok(())
    }

    async fn gauges(&self) -> Result<(), sqlx::Error> {
        let (backlog, oldest): (i64, f64) = sqlx::query_as(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
             FROM outbox",
        )
        .fetch_one(&self.db)
        .await?;
        self.metrics.outbox_backlog.set(backlog);
        self.metrics.outbox_oldest_seconds.set(oldest);
        let jobs: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, count(*) FROM jobs WHERE status IN ('queued', 'running')
             GROUP BY status",
        )
        .fetch_all(&self.db)
        .await?;
        for status in ["queued", "running"] {
            let n = jobs
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            self.metrics.jobs.with_label_values(&[status]).set(n);
        }
        Ok(())
    }

    /// Drops event partitions wholly older than the retention period (and the matching ids
    /// of the key table), and deletes old quarantine rows, finished jobs and expired
    /// revocations.
    pub async fn retention(&self) -> anyhow::Result<()> {
        let boundary = week_start(
            (Utc::now() - chrono::Duration::days(i64::from(self.pipeline.retention_days)))
                .date_naive(),
        );
        let boundary_at = boundary.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        for (name, start) in partitions(&self.db).await? {
            if start + Days::new(7) <= boundary {
                // The partition name comes from our own naming scheme, checked by `partitions`.
                let mut tx = self.db.begin().await?;
                sqlx::query("SET LOCAL lock_timeout = '5s'")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tracing::info!(partition = %name, "dropped an event partition past retention");
            }
        }
        loop {
            let deleted = sqlx::query(
                "DELETE FROM event_ids WHERE id IN
                     (SELECT id FROM event_ids WHERE received_at < $1 LIMIT 10000)",
            )
            .bind(boundary_at)
            .execute(&self.db)
            .await?
            .rows_affected();
            if deleted < 10000 {
                break;
            }
        }
        sqlx::query("DELETE FROM events_default WHERE received_at < $1")
            .bind(boundary_at)
            .execute(&self.db)
            .await?;
        let days = f64::from(self.pipeline.retention_days);
        sqlx::query(
            "DELETE FROM ingest_errors WHERE received_at < now() - make_interval(days => $1::int)",
        )
        .bind(days as i32)
        .execute(&self.db)
        .await?;
        sqlx::query("DELETE FROM jobs WHERE finished_at < now() - make_interval(days => $1::int)")
            .bind(days as i32)
            .execute(&self.db)
            .await?;
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < now()")
            .execute(&self.db)
            .await?;
        Ok(())
    }
}

/// The Monday starting the week of `day`.
fn week_start(day: NaiveDate) -> NaiveDate {
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
pub async fn ensure_partitions(db: &PgPool, now: DateTime<Utc>) -> anyhow::Result<()> {
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
    failed.map_or(Ok(()), |e| Err(e.into()))
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
