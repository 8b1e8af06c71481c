//! Periodic maintenance, a schedule only (the SQL is in `store/`, the stream plumbing in
//! `group`), safe to run on every replica at once:
//! - every tick: the outbox relay, acknowledged-only stream trimming, the job sweep and the
//!   gauges (stream length/pending/lag, outbox backlog, unfinished jobs);
//! - hourly (and at start): weekly event partitions ahead of time, retention (whole partitions
//!   and the rows of the other tables), expired token revocations, departed consumers.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use redis::aio::ConnectionManager;
use roost_common::{
    model::JobStatus,
    pipeline::{
        Keys,
        keys::{EVENTS_GROUP, JOBS_GROUP},
        outbox::Publisher,
    },
    settings::{JobSettings, PipelineSettings},
};
use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

use crate::{Stop, group, jobs::runner, metrics::Metrics, store};

const HOURLY: Duration = Duration::from_secs(3600);
/// Consumers with nothing pending and idle this long are removed from their group.
const CONSUMER_GONE: Duration = Duration::from_secs(3600);

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
        if let Err(e) = store::events::ensure_partitions(&self.db, Utc::now()).await {
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
                group::forget_departed_consumers(&mut self.redis, &stream, group, CONSUMER_GONE)
                    .await;
            if let Err(e) = forgotten {
                self.failed("consumers", &e);
            }
        }
    }

    /// Re-publishes outbox rows the API's own publish did not get stored in time.
    pub async fn relay(&mut self) -> anyhow::Result<u64> {
        let mut tx = self.db.begin().await?;
        let events = store::outbox::lock_stale(&mut tx, self.pipeline.relay_after).await?;
        if events.is_empty() {
            return Ok(0);
        }
        Publisher::new(self.redis.clone(), self.keys.clone())
            .publish_now(&events)
            .await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        store::outbox::mark_relayed(&mut tx, &ids).await?;
        tx.commit().await?;
        let n = ids.len() as u64;
        self.metrics.outbox_relayed.inc_by(n);
        tracing::info!(events = n, "outbox relay re-published domain events");
        Ok(n)
    }

    async fn stream(&mut self, stream: &str, label: &str) -> anyhow::Result<()> {
        let state = group::state(&mut self.redis, stream).await?;
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
            group::trim(&mut self.redis, stream, &min_id).await?;
        }
        Ok(())
    }

    async fn gauges(&self) -> Result<(), sqlx::Error> {
        let (backlog, oldest) = store::outbox::backlog(&self.db).await?;
        self.metrics.outbox_backlog.set(backlog);
        self.metrics.outbox_oldest_seconds.set(oldest);
        let jobs = store::jobs::unfinished(&self.db).await?;
        for status in [JobStatus::Queued, JobStatus::Running] {
            let n = jobs
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            self.metrics
                .jobs
                .with_label_values(&[status.as_str()])
                .set(n);
        }
        Ok(())
    }

    /// Drops event partitions wholly older than the retention period (and the matching ids
    /// of the key table), and deletes old quarantine rows, finished jobs and expired
    /// revocations.
    pub async fn retention(&self) -> anyhow::Result<()> {
        let days = self.pipeline.retention_days;
        let boundary = store::events::week_start(
            (Utc::now() - chrono::Duration::days(i64::from(days))).date_naive(),
        );
        store::events::drop_before(&self.db, boundary).await?;
        store::ingest_errors::delete_older_than(&self.db, days).await?;
        store::jobs::delete_finished_before(&self.db, days).await?;
        store::tokens::delete_expired(&self.db).await?;
        Ok(())
    }
}
