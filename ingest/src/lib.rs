//! The Roost ingest worker: everything but the thin `main`. [`Worker::start`] runs, side by
//! side, the event consumer, the job runner, the maintenance loop and the metrics listener;
//! tests start it in-process.

pub mod consumer;
pub mod group;
pub mod jobs;
pub mod maintenance;
pub mod metrics;
pub mod notify;
pub mod server;
pub mod store;
pub mod validate;

use std::{net::TcpListener, sync::Arc, time::Duration};

use anyhow::Context;
use roost_common::{Settings, netpolicy::AddressPolicy, pipeline::Keys, redis_client};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::{sync::watch, task::JoinHandle};
use tracing::Instrument;

use crate::{
    consumer::Consumer,
    jobs::{
        fetch::{FetchPolicy, Fetcher},
        runner::JobRunner,
    },
    maintenance::Maintenance,
    metrics::Metrics,
};

/// The stop flag every loop watches.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps for `duration`, or less when stopping.
    pub async fn sleep(&self, duration: Duration) {
        let mut rx = self.0.clone();
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = rx.wait_for(|stopped| *stopped) => {}
        }
    }
}

/// What every loop of a worker shares: the database, the command connection to Redis, the
/// client that opens blocking-read connections, the key names, this worker's consumer name and
/// the metrics.
#[derive(Clone)]
pub struct Handles {
    pub db: PgPool,
    pub redis: redis::aio::ConnectionManager,
    pub client: redis::Client,
    pub keys: Keys,
    pub consumer: String,
    pub metrics: Arc<Metrics>,
}

/// A running worker.
pub struct Worker {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    server: actix_web::dev::ServerHandle,
    metrics_port: u16,
    pub metrics: Arc<Metrics>,
}

/// This worker's name in the consumer groups: the configured one, or host, pid and a random
/// suffix (unique even for several workers in one process).
fn consumer_name(settings: &Settings) -> String {
    if let Some(name) = &settings.pipeline.consumer_name {
        return name.clone();
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

impl Worker {
    /// Prepares the event partitions, then starts every loop.
    pub async fn start(settings: Settings, db: PgPool) -> anyhow::Result<Self> {
        let redis = redis_client::connect(&settings.redis)?;
        let client = redis::Client::open(settings.redis.url.expose_secret())
            .context("ROOST_REDIS_URL is not a valid Redis URL")?;
        let keys = Keys::new(&settings.redis.key_prefix);
        let metrics = Arc::new(Metrics::new()?);
        // Without this week's partition events still land (in the default partition); the
        // maintenance loop keeps retrying, so a failure here must not stop the worker.
        if let Err(error) = store::events::ensure_partitions(&db, chrono::Utc::now()).await {
            tracing::error!(error = %format!("{error:#}"), "preparing event partitions failed");
        }
        let name = consumer_name(&settings);
        let fetcher = Fetcher::new(FetchPolicy {
            addresses: AddressPolicy {
                allow_loopback: settings.jobs.fetch_allow_loopback,
                allow_private: settings.jobs.fetch_allow_private,
            },
            timeout: settings.jobs.fetch_timeout,
            max_bytes: settings.jobs.fetch_max_bytes,
            max_redirects: settings.jobs.fetch_max_redirects,
        })?;

        let listener = TcpListener::bind(settings.ingest_metrics_addr)
            .with_context(|| format!("binding {}", settings.ingest_metrics_addr))?;
        let metrics_port = listener.local_addr()?.port();
        let server = server::build(listener, metrics.clone(), db.clone())?;
        let server_handle = server.handle();

        let (stop_tx, stop_rx) = watch::channel(false);
        let stop = Stop(stop_rx);
        let handles = Handles {
            db: db.clone(),
            redis: redis.clone(),
            client,
            keys: keys.clone(),
            consumer: name.clone(),
            metrics: metrics.clone(),
        };
        // Several consumers per process, each its own member of the group (`<name>-<n>`), so
        // one reads and writes while another waits for its commit.
        let consumers: Vec<(String, Consumer)> = (1..=settings.pipeline.consumers)
            .map(|n| {
                let member = format!("{name}-{n}");
                let handles = Handles {
                    consumer: member.clone(),
                    ..handles.clone()
                };
                (member, Consumer::new(handles, settings.pipeline.clone()))
            })
            .collect();
        let runner = JobRunner::new(
            handles,
            settings.jobs.clone(),
            settings.pipeline.block,
            fetcher,
        );
        let maintenance = Maintenance {
            db,
            redis,
            keys,
            pipeline: settings.pipeline.clone(),
            jobs: settings.jobs.clone(),
            metrics: metrics.clone(),
        };
        let mut tasks: Vec<JoinHandle<()>> = consumers
            .into_iter()
            .map(|(member, consumer)| {
                // Every log line of a consumer names it.
                let span = tracing::info_span!("consumer", consumer = %member);
                tokio::spawn(consumer.run(stop.clone()).instrument(span))
            })
            .collect();
        tasks.extend([
            tokio::spawn(runner.run(stop.clone())),
            tokio::spawn(maintenance.run(stop.clone())),
            tokio::spawn(async move {
                if let Err(error) = server.await {
                    tracing::warn!(%error, "the metrics listener stopped with an error");
                }
            }),
        ]);
        tracing::info!(consumer = %name, consumers = settings.pipeline.consumers, metrics_port, "roost-ingest started");
        Ok(Self {
            stop: stop_tx,
            tasks,
            server: server_handle,
            metrics_port,
            metrics,
        })
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// Stops taking work, finishes and acknowledges in-flight batches and jobs, then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.server.stop(true).await;
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "a worker task ended abnormally");
            }
        }
    }
}
