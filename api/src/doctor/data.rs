//! The doctor's PostgreSQL and Redis checks, through this process's settings (inside the api
//! pod they are the release's own): schema version, Redis with AOF, stream backlog and lag.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::StreamInfoConsumersReply;
use roost_common::pipeline::{
    Keys,
    keys::{EVENTS_GROUP, JOBS_GROUP},
};
use roost_common::settings::Settings;
use roost_common::{db, redis_client};
use secrecy::ExposeSecret;
use sqlx::{Connection, PgConnection};

use super::{Check, Outcome, Report, describe_url};

/// How long each data check may take before it counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// When the backlog counts as falling behind, and a consumer as gone.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Consumer-group lag (stream entries) above which the backlog is a warning.
    pub max_lag: u64,
    /// A consumer idle longer than this is not counted as consuming. A live worker re-reads at
    /// least every `ROOST_INGEST_BLOCK_MS` (a blocking read counts as activity), so a minute
    /// only passes for a dead one (Redis keeps consumers with pending entries until reclaimed).
    pub consumer_idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_lag: 10_000,
            consumer_idle: Duration::from_secs(60),
        }
    }
}

/// Runs the schema, Redis and backlog checks against the database and Redis of `settings`.
pub async fn check(settings: &Settings, limits: Limits, report: &mut Report) {
    schema(settings, report).await;
    let redis_at = describe_url(settings.redis.url.expose_secret());
    let mut conn = match redis_client::connect(&settings.redis) {
        Ok(conn) => conn,
        Err(error) => {
            report.add(Check::Redis, Outcome::Fail, format!("{error:#}"));
            return;
        }
    };
    if redis(&mut conn, &redis_at, report).await {
        let keys = Keys::new(&settings.redis.key_prefix);
        for (stream, group) in [(&keys.events, EVENTS_GROUP), (&keys.jobs, JOBS_GROUP)] {
            backlog(&mut conn, stream, group, limits, report).await;
        }
    }
}

/// Connects first (so an unreachable server or bad credentials are not mistaken for a missing
/// schema), then compares the applied schema version with this binary's.
async fn schema(settings: &Settings, report: &mut Report) {
    let at = describe_url(settings.database.url.expose_secret());
    let checked = async {
        let pool = db::pool(&settings.database).map_err(|e| format!("{e:#}"))?;
        // One direct connection first: the pool would only say it timed out.
        let reached = PgConnection::connect_with(&pool.connect_options()).await;
        let version = match reached {
            Ok(conn) => {
                let _closed = conn.close().await;
                db::check_schema(&pool).await.map_err(|e| format!("{e:#}"))
            }
            Err(error) => Err(connect_failure(&error)),
        };
        pool.close().await;
        version
    };
    match tokio::time::timeout(TIMEOUT, checked).await {
        Ok(Ok(version)) => report.add(
            Check::Schema,
            Outcome::Ok,
            format!("PostgreSQL at {at}: schema version {version}, the one this binary expects"),
        ),
        Ok(Err(error)) => report.add(
            Check::Schema,
            Outcome::Fail,
            format!("PostgreSQL at {at}: {error}"),
        ),
        Err(_) => report.add(
            Check::Schema,
            Outcome::Fail,
            format!("PostgreSQL at {at} did not answer within {TIMEOUT:?}"),
        ),
    }
}

/// Why connecting failed: the server refused (credentials, database), TLS, or no answer.
fn connect_failure(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => format!("answered but refused the connection: {db}"),
        sqlx::Error::Tls(tls) => format!("TLS failed (check PGSSLMODE and PGSSLROOTCERT): {tls}"),
        other => format!("not reachable: {other}"),
    }
}

/// PING, then AOF state from `INFO persistence`; true when Redis answered.
async fn redis(conn: &mut ConnectionManager, at: &str, report: &mut Report) -> bool {
    let ping = tokio::time::timeout(TIMEOUT, redis::cmd("PING").query_async::<String>(conn)).await;
    match ping {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            let why = match error.kind() {
                redis::ErrorKind::AuthenticationFailed => {
                    "refused the password (check ROOST_REDIS_URL)"
                }
                _ if error.is_io_error() || error.is_timeout() => "is not reachable",
                _ => "answered PING with an error",
            };
            report.add(
                Check::Redis,
                Outcome::Fail,
                format!("Redis at {at} {why}: {error}"),
            );
            return false;
        }
        Err(_) => {
            report.add(
                Check::Redis,
                Outcome::Fail,
                format!("Redis at {at} did not answer PING within {TIMEOUT:?}"),
            );
            return false;
        }
    }
    let info = tokio::time::timeout(
        TIMEOUT,
        redis::cmd("INFO")
            .arg("persistence")
            .query_async::<String>(conn),
    )
    .await;
    match info {
        Ok(Ok(info)) => {
            let (outcome, message) = aof_verdict(&info);
            report.add(Check::Redis, outcome, format!("Redis at {at}: {message}"));
        }
        Ok(Err(error)) => report.add(
            Check::Redis,
            Outcome::Warn,
            format!(
                "Redis at {at} answers, but `INFO persistence` failed ({error}): AOF not verified"
            ),
        ),
        Err(_) => report.add(
            Check::Redis,
            Outcome::Warn,
            format!("Redis at {at} answers, but `INFO persistence` took over {TIMEOUT:?}"),
        ),
    }
    true
}

/// Judges `INFO persistence` output: AOF must be on (SPEC §4: every accepted event survives a
/// Redis restart) and its last write must have succeeded.
pub fn aof_verdict(info: &str) -> (Outcome, String) {
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
    };
    match (field("aof_enabled"), field("aof_last_write_status")) {
        (Some("1"), Some("ok") | None) => (Outcome::Ok, "answers, AOF persistence on".to_owned()),
        (Some("1"), Some(status)) => (
            Outcome::Fail,
            format!(
                "AOF is on but its last write failed ({status}): Redis refuses writes until the \
                 disk problem is fixed (see its log)"
            ),
        ),
        (Some(_), _) => (
            Outcome::Fail,
            "AOF persistence is off: accepted events would be lost if Redis restarts (set \
             `appendonly yes`; the chart's Redis has it on)"
                .to_owned(),
        ),
        (None, _) => (
            Outcome::Warn,
            "answers, but `INFO persistence` has no aof_enabled field: AOF not verified".to_owned(),
        ),
    }
}

/// One stream's backlog: its group exists, someone consumes it, and the lag stays under the
/// limit.
async fn backlog(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    limits: Limits,
    report: &mut Report,
) {
    let read = tokio::time::timeout(TIMEOUT, async {
        let (length, groups) = redis_client::length_and_groups(conn, stream).await?;
        if length == 0 {
            return redis::RedisResult::Ok((length, None));
        }
        let Some(info) = groups.into_iter().find(|g| g.name == group) else {
            return Ok((length, Some((None, Vec::new()))));
        };
        let consumers: StreamInfoConsumersReply = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(stream)
            .arg(group)
            .query_async(conn)
            .await?;
        Ok((length, Some((Some(info), consumers.consumers))))
    })
    .await;
    let (length, groups) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(error)) => {
            report.add(
                Check::Backlog,
                Outcome::Fail,
                format!("reading stream {stream}: {error}"),
            );
            return;
        }
        Err(_) => {
            report.add(
                Check::Backlog,
                Outcome::Fail,
                format!("reading stream {stream} took over {TIMEOUT:?}"),
            );
            return;
        }
    };
    let Some((info, consumers)) = groups else {
        report.add(
            Check::Backlog,
            Outcome::Ok,
            format!("stream {stream} is empty"),
        );
        return;
    };
    let Some(info) = info else {
        report.add(
            Check::Backlog,
            Outcome::Fail,
            format!(
                "stream {stream} holds {length} entries but has no consumer group `{group}`: \
                 the worker (roost-ingest) has never started against this Redis"
            ),
        );
        return;
    };
    // Redis cannot always count the lag (after deletions inside the unread range): then the
    // stream length is its upper bound.
    let lag = info.lag.map_or(length, |l| l as u64);
    let pending = info.pending as u64;
    let idle_limit = limits.consumer_idle.as_millis();
    let active = consumers
        .iter()
        .filter(|c| (c.idle as u128) < idle_limit)
        .count();
    let summary = format!(
        "stream {stream}: {length} entries, lag {lag}{}, {pending} pending, {active} active \
         consumer(s)",
        if info.lag.is_none() { " (at most)" } else { "" },
    );
    if active == 0 && lag + pending > 0 {
        report.add(
            Check::Backlog,
            Outcome::Fail,
            format!(
                "{summary}: no worker has read it for {:?} ({} consumer(s) known, all idle): is \
                 roost-ingest running?",
                limits.consumer_idle,
                consumers.len()
            ),
        );
    } else if lag > limits.max_lag {
        report.add(
            Check::Backlog,
            Outcome::Warn,
            format!(
                "{summary}: the lag is above {}, the workers are falling behind (add ingest \
                 replicas, or let KEDA scale them)",
                limits.max_lag
            ),
        );
    } else {
        report.add(Check::Backlog, Outcome::Ok, summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aof_verdicts() {
        let on = "# Persistence\r\nloading:0\r\naof_enabled:1\r\naof_last_write_status:ok\r\n";
        assert_eq!(aof_verdict(on).0, Outcome::Ok);
        let off = "# Persistence\r\naof_enabled:0\r\naof_last_write_status:ok\r\n";
        let (outcome, message) = aof_verdict(off);
        assert_eq!(outcome, Outcome::Fail);
        assert!(message.contains("appendonly yes"), "{message}");
        let broken = "aof_enabled:1\r\naof_last_write_status:err\r\n";
        assert_eq!(aof_verdict(broken).0, Outcome::Fail);
        assert_eq!(aof_verdict("loading:0\r\n").0, Outcome::Warn);
    }
}
