//! The worker's Prometheus metrics: one typed struct, registered once.

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

pub struct Metrics {
    registry: Registry,
    /// Events written to the events table (new ids only).
    pub events_stored: IntCounter,
    /// Events whose id was already stored (at-least-once redelivery, client retries).
    pub events_duplicate: IntCounter,
    /// Events and entries moved to the quarantine, by code.
    pub quarantined: IntCounterVec,
    /// Events per committed batch.
    pub batch_events: Histogram,
    /// Time from reading a batch to acknowledging it.
    pub batch_seconds: Histogram,
    /// Batch attempts that failed, by cause (`transient`: the database is away, retried in
    /// place; `entry`: one entry is at fault, retried alone and eventually quarantined).
    pub batch_failures: IntCounterVec,
    /// Entries taken over from consumers that stopped acknowledging them.
    pub reclaimed: IntCounter,
    /// Stream length, pending entries and consumer-group lag, by stream (`events`, `jobs`).
    pub stream_length: IntGaugeVec,
    pub stream_pending: IntGaugeVec,
    pub stream_lag: IntGaugeVec,
    /// Committed domain events not yet stored, and the age of the oldest.
    pub outbox_backlog: IntGauge,
    pub outbox_oldest_seconds: Gauge,
    /// Domain events re-published by the relay.
    pub outbox_relayed: IntCounter,
    pub notifications_created: IntCounter,
    /// Jobs that ended, by status (`succeeded`, `failed`), and jobs retried.
    pub jobs_finished: IntCounterVec,
    pub jobs_retried: IntCounter,
    /// Unfinished jobs by status (`queued`, `running`), sampled by maintenance.
    pub jobs: IntGaugeVec,
    pub job_seconds: Histogram,
    /// Maintenance passes that failed, by task.
    pub maintenance_failures: IntCounterVec,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = roost_common::metrics::registry()?;
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m;
                registry.register(Box::new(m.clone()))?;
                m
            }};
        }
        let metrics = Self {
            events_stored: reg!(IntCounter::new(
                "roost_ingest_events_stored_total",
                "Events stored (new ids)"
            )?),
            events_duplicate: reg!(IntCounter::new(
                "roost_ingest_events_duplicate_total",
                "Events skipped because their id was already stored"
            )?),
            quarantined: reg!(IntCounterVec::new(
                Opts::new(
                    "roost_ingest_quarantined_total",
                    "Events and entries quarantined, by code"
                ),
                &["code"]
            )?),
            batch_events: reg!(Histogram::with_opts(
                HistogramOpts::new("roost_ingest_batch_events", "Events per committed batch")
                    .buckets(vec![
                        1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0
                    ])
            )?),
            batch_seconds: reg!(Histogram::with_opts(
                HistogramOpts::new(
                    "roost_ingest_batch_duration_seconds",
                    "Time from reading a batch to acknowledging it"
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
                ])
            )?),
            batch_failures: reg!(IntCounterVec::new(
                Opts::new(
                    "roost_ingest_batch_failures_total",
                    "Failed batch attempts, by cause"
                ),
                &["cause"]
            )?),
            reclaimed: reg!(IntCounter::new(
                "roost_ingest_reclaimed_total",
                "Stream entries reclaimed from stalled consumers"
            )?),
            stream_length: reg!(IntGaugeVec::new(
                Opts::new("roost_stream_length", "Entries in the stream"),
                &["stream"]
            )?),
            stream_pending: reg!(IntGaugeVec::new(
                Opts::new(
                    "roost_stream_pending",
                    "Entries delivered to a consumer and not yet acknowledged"
                ),
                &["stream"]
            )?),
            stream_lag: reg!(IntGaugeVec::new(
                Opts::new(
                    "roost_stream_lag",
                    "Entries not yet delivered to the consumer group"
                ),
                &["stream"]
            )?),
            outbox_backlog: reg!(IntGauge::new(
                "roost_outbox_backlog",
                "Committed domain events not yet stored by the worker"
            )?),
            outbox_oldest_seconds: reg!(Gauge::new(
                "roost_outbox_oldest_seconds",
                "Age of the oldest outbox row"
            )?),
            outbox_relayed: reg!(IntCounter::new(
                "roost_outbox_relayed_total",
                "Domain events re-published by the outbox relay"
            )?),
            notifications_created: reg!(IntCounter::new(
                "roost_notifications_created_total",
                "Notifications created"
            )?),
            jobs_finished: reg!(IntCounterVec::new(
                Opts::new("roost_jobs_finished_total", "Jobs that ended, by status"),
                &["status"]
            )?),
            jobs_retried: reg!(IntCounter::new(
                "roost_jobs_retried_total",
                "Job runs that failed and were queued again"
            )?),
            jobs: reg!(IntGaugeVec::new(
                Opts::new("roost_jobs", "Unfinished jobs by status"),
                &["status"]
            )?),
            job_seconds: reg!(Histogram::with_opts(
                HistogramOpts::new("roost_job_duration_seconds", "Time to run one job")
                    .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
            )?),
            maintenance_failures: reg!(IntCounterVec::new(
                Opts::new(
                    "roost_maintenance_failures_total",
                    "Failed maintenance passes, by task"
                ),
                &["task"]
            )?),
            registry,
        };
        Ok(metrics)
    }

    pub fn render(&self) -> anyhow::Result<String> {
        roost_common::metrics::render(&self.registry)
    }
}
