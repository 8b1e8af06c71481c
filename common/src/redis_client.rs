//! Redis: one auto-reconnecting multiplexed connection per process for ordinary commands.

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::settings::RedisSettings;

/// Creates the process-wide command connection. It connects on first use and reconnects by
/// itself after a Redis restart, so a process starts (and serves what does not need Redis)
/// while Redis is away; commands then fail fast (the response timeout) and callers degrade.
pub fn connect(settings: &RedisSettings) -> anyhow::Result<ConnectionManager> {
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
    ConnectionManager::new_lazy_with_config(client, config)
        .context("configuring the Redis connection")
}
