//! `roost-ingest`: the pipeline worker. Runs until SIGTERM, then finishes in-flight work.

use anyhow::Context;
use roost_common::{Settings, db, shutdown, telemetry};
use roost_ingest::Worker;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env().context("loading settings")?;
    let _telemetry = telemetry::init("roost-ingest", &settings.telemetry)?;
    let pool = db::pool(&settings.database)?;
    let version = db::wait_for_schema(&pool, settings.database.startup_wait).await?;
    tracing::info!(schema = version, "schema is current");
    let stop = shutdown::listen();
    let worker = Worker::start(settings, pool.clone()).await?;
    stop.await;
    tracing::info!("roost-ingest stopping");
    worker.shutdown().await;
    pool.close().await;
    tracing::info!("roost-ingest stopped");
    Ok(())
}
