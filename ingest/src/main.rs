//! `roost-ingest`: the pipeline worker. Until the pipeline lands it connects to PostgreSQL
//! and Redis, checks the schema version, and waits for SIGTERM.

use anyhow::Context;
use roost_common::{Settings, db, redis_client, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env().context("loading settings")?;
    let _telemetry = telemetry::init("roost-ingest", &settings.telemetry)?;
    let pool = db::pool(&settings.database)?;
    let version = db::check_schema(&pool).await?;
    let mut redis = redis_client::connect(&settings.redis)?;
    if let Err(error) = redis::cmd("PING").query_async::<String>(&mut redis).await {
        tracing::warn!(%error, "Redis is not reachable yet; will keep retrying");
    }
    tracing::info!(schema = version, "roost-ingest started; waiting for work");
    shutdown::signal().await;
    tracing::info!("roost-ingest stopping");
    pool.close().await;
    Ok(())
}
