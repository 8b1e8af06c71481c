//! The API's Prometheus metrics: one typed struct, registered once, served on the separate
//! metrics listener.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

pub struct Metrics {
    registry: Registry,
    /// Requests by method, route pattern and status.
    pub http_requests: IntCounterVec,
    /// Latency by method and route pattern.
    pub http_duration: HistogramVec,
    /// Login attempts by outcome (`success`, `invalid`, `throttled`, `error`: hashing or the
    /// database failed).
    pub logins: IntCounterVec,
    pub db_pool_size: IntGauge,
    pub db_pool_idle: IntGauge,
    /// Analytics events accepted (written to the stream), duplicates included.
    pub events_accepted: IntCounter,
    /// Events refused by `POST /v1/events`, by cause (`invalid_event`, `malformed_body`,
    /// `payload_too_large`, `invalid_api_key`, `unavailable`). Whole-request refusals count the
    /// request's events when known, else one.
    pub events_rejected: IntCounterVec,
    /// Notifications written to clients, by channel (`unsent`, `websocket`).
    pub notifications_delivered: IntCounterVec,
    /// Open notification WebSockets.
    pub websockets: IntGauge,
    /// Jobs created, by kind.
    pub jobs_created: IntCounterVec,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = roost_common::metrics::registry()?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route pattern",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
            ]),
            &["method", "route"],
        )?;
        let logins = IntCounterVec::new(
            Opts::new("roost_logins_total", "Login attempts by outcome"),
            &["outcome"],
        )?;
        let db_pool_size = IntGauge::new("roost_db_pool_connections", "Open database connections")?;
        let db_pool_idle = IntGauge::new(
            "roost_db_pool_idle_connections",
            "Idle database connections",
        )?;
        let events_accepted = IntCounter::new(
            "roost_events_accepted_total",
            "Analytics events accepted into the stream (duplicates included)",
        )?;
        let events_rejected = IntCounterVec::new(
            Opts::new(
                "roost_events_rejected_total",
                "Analytics events refused at the API, by cause",
            ),
            &["cause"],
        )?;
        let notifications_delivered = IntCounterVec::new(
            Opts::new(
                "roost_notifications_delivered_total",
                "Notifications delivered to clients, by channel",
            ),
            &["channel"],
        )?;
        let websockets = IntGauge::new(
            "roost_notification_sockets",
            "Open notification WebSockets on this replica",
        )?;
        let jobs_created = IntCounterVec::new(
            Opts::new("roost_jobs_created_total", "Jobs created, by kind"),
            &["kind"],
        )?;
        registry.register(Box::new(events_accepted.clone()))?;
        registry.register(Box::new(events_rejected.clone()))?;
        registry.register(Box::new(notifications_delivered.clone()))?;
        registry.register(Box::new(websockets.clone()))?;
        registry.register(Box::new(jobs_created.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(db_pool_size.clone()))?;
        registry.register(Box::new(db_pool_idle.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            logins,
            db_pool_size,
            db_pool_idle,
            events_accepted,
            events_rejected,
            notifications_delivered,
            websockets,
            jobs_created,
        })
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> anyhow::Result<String> {
        roost_common::metrics::render(&self.registry)
    }
}
