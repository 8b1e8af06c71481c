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

/// A stream's length and, when it holds entries, its consumer groups (`XLEN`, then
/// `XINFO GROUPS`, which fails on a missing key): what the worker's gauges and trimming and
/// `roost-api doctor` read. A group's `lag` is `None` when Redis cannot count it.
pub async fn length_and_groups(
    conn: &mut impl redis::aio::ConnectionLike,
    stream: &str,
) -> redis::RedisResult<(u64, Vec<redis::streams::StreamInfoGroup>)> {
    let length: u64 = redis::cmd("XLEN").arg(stream).query_async(conn).await?;
    if length == 0 {
        return Ok((0, Vec::new()));
    }
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await?;
    Ok((length, groups.groups))
}
