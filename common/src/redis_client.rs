//! Redis: one auto-reconnecting multiplexed connection per process for ordinary commands.

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::settings::RedisSettings;

/// Opens the process-wide command connection. It reconnects by itself after a Redis restart;
/// commands fail fast (the response timeout) while Redis is away, so callers can degrade.
pub async fn connect(settings: &RedisSettings) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(settings.url.expose_secret())
        .context("ROOST_REDIS_URL is not a valid Redis URL")?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(settings.response_timeout))
        .set_connection_timeout(Some(
            settings
                .response_timeout
                .max(std::time::Duration::from_secs(1)),
        ))
        .set_number_of_retries(2);
    ConnectionManager::new_with_config(client, config)
        .await
        .context("connecting to Redis")
}
