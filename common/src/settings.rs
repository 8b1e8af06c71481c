//! The one configuration loader. Every setting has a documented default (see README) and is
//! overridden by a `ROOST_*` environment variable, or by the file that `<VARIABLE>_FILE` names
//! (Kubernetes secrets mounted as files); secrets are wrapped in [`SecretString`] so they never
//! reach a log line by accident.

use std::{net::SocketAddr, str::FromStr, time::Duration};

use anyhow::{Context, anyhow};
use secrecy::{ExposeSecret, SecretString};

/// Typed settings for both binaries. Built once at start-up by [`Settings::from_env`].
#[derive(Clone, Debug)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub telemetry: TelemetrySettings,
    pub pipeline: PipelineSettings,
    pub jobs: JobSettings,
    /// Address of the ingest worker's `/metrics` listener.
    pub ingest_metrics_addr: SocketAddr,
}

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// At start, how long `migrate`, `serve` and the worker wait for the database to accept
    /// connections and to have this build's schema before giving up (a cluster still
    /// bootstrapping, migrations running beside).
    pub startup_wait: Duration,
}

#[derive(Clone, Debug)]
pub struct RedisSettings {
    pub url: SecretString,
    /// Prefix of every key Roost writes, so several deployments (or test runs) share one Redis.
    pub key_prefix: String,
    pub response_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    /// Number of actix worker threads (default: number of cores).
    pub workers: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted ingress).
    pub trust_forwarded_for: bool,
    /// A request body must arrive in full within this time after its headers (slow or
    /// never-ending bodies get 408 and the connection is closed).
    pub body_timeout: Duration,
    /// Largest request head (request line and headers together) in bytes; larger is 431.
    pub max_header_bytes: usize,
    /// After SIGTERM, how long the API keeps serving with readiness at 503 before it stops
    /// taking connections (the time a load balancer needs to notice).
    pub shutdown_delay: Duration,
    /// Origins that browsers may call the API from (CORS), `*` for any; empty (the default)
    /// sends no CORS headers. `POST /v1/events` has its own list.
    pub cors_origins: Vec<String>,
    /// Origins that browsers may send events from (`POST /v1/events`); `*` (the default)
    /// allows any page: the API key, not a cookie, authenticates those requests.
    pub ingest_cors_origins: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// HMAC key for access tokens (at least 32 bytes); required by the API only.
    pub jwt_secret: Option<SecretString>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub token_ttl: Duration,
    /// Bootstrap admin token; `None` disables the admin routes.
    pub admin_token: Option<SecretString>,
    /// Threads hashing passwords (default: cores − 1, at least 1).
    pub hash_workers: usize,
    pub login_max_failures_per_user: u32,
    pub login_max_failures_per_ip: u32,
    pub login_window: Duration,
    /// Registrations one client address may make per `register_window` (each costs an
    /// argon2 hash).
    pub register_max_per_ip: u32,
    pub register_window: Duration,
}

#[derive(Clone, Debug)]
pub struct LimitSettings {
    /// Per-user daily post limit (posts, reposts and quotes, UTC day); `None` = off.
    pub daily_post_limit: Option<u32>,
    pub subscription_limit: u32,
}

/// The event pipeline: stream consumption, retries, retention, outbox relay.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    /// Name of this worker in the consumer groups (default: host name and process id).
    pub consumer_name: Option<String>,
    /// Event consumers per worker process, each reading and committing its own batches (one
    /// waits on PostgreSQL's commit while another reads and writes).
    pub consumers: usize,
    /// Most stream entries read per batch (each entry holds one accepted request's events).
    pub batch_entries: usize,
    /// Bytes of entries one read aims at: a consumer reading large entries reads fewer of
    /// them. The size is learnt from the previous read, so the first read after a switch from
    /// small to 1 MiB entries can still hold `batch_entries` of them.
    pub batch_bytes: usize,
    /// How long one blocking stream read waits for new entries.
    pub block: Duration,
    /// A pending entry idle this long is presumed abandoned by a dead worker and reclaimed.
    pub claim_idle: Duration,
    /// Deliveries after which an entry that keeps failing goes to the quarantine.
    pub max_deliveries: u64,
    /// Stored events (and ingest errors) are kept this many days after receipt.
    pub retention_days: u32,
    /// The relay re-publishes outbox rows not yet stored after this long.
    pub relay_after: Duration,
    /// Period of the maintenance loop (partitions, retention, trimming, relay, gauges).
    pub maintenance_interval: Duration,
    /// How long a resolved API key stays cached in an API process (revocation delay).
    pub api_key_cache_ttl: Duration,
}

/// Jobs and the URL fetcher behind them.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// Jobs one worker runs at the same time.
    pub concurrency: usize,
    /// Runs (including ones cut short by a worker crash) before a job ends `failed`.
    pub max_attempts: u32,
    /// A running job not finished within this lease is presumed lost and re-run.
    pub lease: Duration,
    pub fetch_timeout: Duration,
    pub fetch_max_bytes: usize,
    pub fetch_max_redirects: usize,
    /// Allow fetching from loopback addresses (tests and local development only).
    pub fetch_allow_loopback: bool,
    /// Allow fetching from private, link-local and other non-global addresses.
    pub fetch_allow_private: bool,
}

#[derive(Clone, Debug)]
pub struct TelemetrySettings {
    /// `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// OTLP/HTTP endpoint for traces; traces are not exported when unset.
    pub otlp_endpoint: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl FromStr for LogFormat {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(anyhow!("expected `json` or `pretty`, got `{other}`")),
        }
    }
}

/// Reads settings from a lookup function (the process environment in production, a map in tests).
struct Source<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Source<F> {
    /// A setting's value: `KEY` itself, or else the contents of the file `KEY_FILE` names
    /// (a Kubernetes secret mounted as a file; surrounding whitespace and the final newline
    /// trimmed). An unreadable file is an error, not a missing setting.
    fn raw(&self, key: &str) -> anyhow::Result<Option<String>> {
        if let Some(value) = (self.0)(key).filter(|v| !v.trim().is_empty()) {
            return Ok(Some(value));
        }
        let Some(path) = (self.0)(&format!("{key}_FILE")).filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let value = std::fs::read_to_string(path.trim())
            .with_context(|| format!("reading {key}_FILE ({path})"))?;
        Ok(Some(value.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    fn parse<T>(&self, key: &str, default: T) -> anyhow::Result<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.raw(key)? {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| anyhow!("invalid value for {key}: {e}")),
        }
    }

    fn secs(&self, key: &str, default: u64) -> anyhow::Result<Duration> {
        Ok(Duration::from_secs(self.parse(key, default)?))
    }

    /// A comma-separated list (items trimmed, empty ones dropped).
    fn list(&self, key: &str, default: &[&str]) -> Vec<String> {
        match (self.0)(key) {
            None => default.iter().map(|s| (*s).to_owned()).collect(),
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    fn millis(&self, key: &str, default: u64) -> anyhow::Result<Duration> {
        Ok(Duration::from_millis(self.parse(key, default)?))
    }
}

impl Settings {
    /// Loads settings from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Loads settings from any key lookup (used by tests to build isolated configurations).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let src = Source(lookup);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let database_url = match src.raw("ROOST_DATABASE_URL")? {
            Some(url) => Some(url),
            None => src.raw("DATABASE_URL")?,
        }
        .context("the environment variable ROOST_DATABASE_URL (or DATABASE_URL) must be set")?;
        let jwt_secret = src.raw("ROOST_JWT_SECRET")?;
        if jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            anyhow::bail!("ROOST_JWT_SECRET must be at least 32 characters long");
        }
        let daily_post_limit: u32 = src.parse("ROOST_DAILY_POST_LIMIT", 0)?;
        Ok(Self {
            database: DatabaseSettings {
                url: database_url.into(),
                max_connections: src.parse("ROOST_DATABASE_MAX_CONNECTIONS", 20)?,
                acquire_timeout: src.millis("ROOST_DATABASE_ACQUIRE_TIMEOUT_MS", 3000)?,
                startup_wait: src.secs("ROOST_DATABASE_STARTUP_WAIT_SECONDS", 0)?,
            },
            redis: RedisSettings {
                url: src
                    .raw("ROOST_REDIS_URL")?
                    .unwrap_or_else(|| "redis://127.0.0.1:6379/0".into())
                    .into(),
                key_prefix: src
                    .raw("ROOST_REDIS_KEY_PREFIX")?
                    .unwrap_or_else(|| "roost:".into()),
                response_timeout: src.millis("ROOST_REDIS_RESPONSE_TIMEOUT_MS", 500)?,
            },
            http: HttpSettings {
                addr: src.parse("ROOST_HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
                metrics_addr: src.parse(
                    "ROOST_METRICS_ADDR",
                    SocketAddr::from(([127, 0, 0, 1], 9464)),
                )?,
                workers: src.parse("ROOST_HTTP_WORKERS", cores)?.max(1),
                trust_forwarded_for: src.parse("ROOST_TRUST_FORWARDED_FOR", false)?,
                body_timeout: src.secs("ROOST_HTTP_BODY_TIMEOUT_SECONDS", 15)?,
                max_header_bytes: src.parse("ROOST_HTTP_MAX_HEADER_BYTES", 16 * 1024usize)?,
                shutdown_delay: src.secs("ROOST_SHUTDOWN_DELAY_SECONDS", 5)?,
                cors_origins: src.list("ROOST_CORS_ALLOWED_ORIGINS", &[]),
                ingest_cors_origins: src.list("ROOST_INGEST_CORS_ALLOWED_ORIGINS", &["*"]),
            },
            auth: AuthSettings {
                jwt_secret: jwt_secret.map(SecretString::from),
                jwt_issuer: src
                    .raw("ROOST_JWT_ISSUER")?
                    .unwrap_or_else(|| "roost".into()),
                jwt_audience: src
                    .raw("ROOST_JWT_AUDIENCE")?
                    .unwrap_or_else(|| "roost-api".into()),
                token_ttl: src.secs("ROOST_TOKEN_TTL_SECONDS", 3600)?,
                admin_token: src.raw("ROOST_ADMIN_TOKEN")?.map(SecretString::from),
                hash_workers: src
                    .parse("ROOST_HASH_WORKERS", cores.saturating_sub(1))?
                    .max(1),
                login_max_failures_per_user: src.parse("ROOST_LOGIN_MAX_FAILURES_PER_USER", 10)?,
                login_max_failures_per_ip: src.parse("ROOST_LOGIN_MAX_FAILURES_PER_IP", 50)?,
                login_window: src.secs("ROOST_LOGIN_WINDOW_SECONDS", 900)?,
                register_max_per_ip: src.parse("ROOST_REGISTER_MAX_PER_IP", 20)?,
                register_window: src.secs("ROOST_REGISTER_WINDOW_SECONDS", 600)?,
            },
            limits: LimitSettings {
                daily_post_limit: (daily_post_limit > 0).then_some(daily_post_limit),
                subscription_limit: src.parse("ROOST_SUBSCRIPTION_LIMIT", 100)?,
            },
            pipeline: PipelineSettings {
                consumer_name: src.raw("ROOST_CONSUMER_NAME")?,
                consumers: src.parse("ROOST_INGEST_CONSUMERS", 2usize)?.max(1),
                batch_entries: src.parse("ROOST_INGEST_BATCH_ENTRIES", 1000usize)?.max(1),
                batch_bytes: src
                    .parse("ROOST_INGEST_BATCH_BYTES", 16 * 1024 * 1024usize)?
                    .max(1),
                block: src.millis("ROOST_INGEST_BLOCK_MS", 1000)?,
                claim_idle: src.secs("ROOST_INGEST_CLAIM_IDLE_SECONDS", 30)?,
                max_deliveries: src.parse("ROOST_INGEST_MAX_DELIVERIES", 5u64)?.max(1),
                retention_days: src.parse("ROOST_EVENT_RETENTION_DAYS", 90u32)?.max(1),
                relay_after: src.secs("ROOST_OUTBOX_RELAY_AFTER_SECONDS", 10)?,
                maintenance_interval: src.secs("ROOST_MAINTENANCE_INTERVAL_SECONDS", 5)?,
                api_key_cache_ttl: src.secs("ROOST_API_KEY_CACHE_SECONDS", 10)?,
            },
            jobs: JobSettings {
                concurrency: src.parse("ROOST_JOB_CONCURRENCY", 2usize)?.max(1),
                max_attempts: src.parse("ROOST_JOB_MAX_ATTEMPTS", 3u32)?.max(1),
                lease: src.secs("ROOST_JOB_LEASE_SECONDS", 60)?,
                fetch_timeout: src.secs("ROOST_FETCH_TIMEOUT_SECONDS", 10)?,
                fetch_max_bytes: src.parse("ROOST_FETCH_MAX_BYTES", 5 * 1024 * 1024usize)?,
                fetch_max_redirects: src.parse("ROOST_FETCH_MAX_REDIRECTS", 5usize)?,
                fetch_allow_loopback: src.parse("ROOST_FETCH_ALLOW_LOOPBACK", false)?,
                fetch_allow_private: src.parse("ROOST_FETCH_ALLOW_PRIVATE", false)?,
            },
            telemetry: TelemetrySettings {
                log_format: src.parse("ROOST_LOG_FORMAT", LogFormat::Json)?,
                otlp_endpoint: src.raw("OTEL_EXPORTER_OTLP_ENDPOINT")?,
            },
            ingest_metrics_addr: src.parse(
                "ROOST_INGEST_METRICS_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 9465)),
            )?,
        })
    }
}

impl DatabaseSettings {
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        ("ROOST_DATABASE_URL", "postgres://u:p@127.0.0.1/db"),
        ("ROOST_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    ];

    #[test]
    fn defaults_apply() {
        let s = load(&BASE).unwrap();
        assert_eq!(s.http.addr.port(), 8080);
        assert_eq!(s.limits.daily_post_limit, None);
        assert_eq!(s.limits.subscription_limit, 100);
        assert_eq!(s.auth.login_window, Duration::from_secs(900));
        assert!(s.auth.hash_workers >= 1);
        assert!(s.auth.admin_token.is_none());
    }

    #[test]
    fn overrides_and_errors_name_the_variable() {
        let mut pairs = BASE.to_vec();
        pairs.push(("ROOST_DAILY_POST_LIMIT", "5"));
        assert_eq!(load(&pairs).unwrap().limits.daily_post_limit, Some(5));
        pairs.push(("ROOST_HTTP_ADDR", "not-an-addr"));
        let err = load(&pairs).unwrap_err().to_string();
        assert!(err.contains("ROOST_HTTP_ADDR"), "{err}");
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(load(&BASE[..1]).unwrap().auth.jwt_secret.is_none());
        let err = load(&[BASE[0], ("ROOST_JWT_SECRET", "short")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("32"), "{err}");
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = std::env::temp_dir().join(format!("roost-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("jwt");
        std::fs::write(&secret, "from-a-file-0123456789abcdef0123456789\n").unwrap();
        let url = dir.join("url");
        std::fs::write(&url, "postgres://u:p@db:5432/roost\n").unwrap();
        let s = load(&[
            ("ROOST_DATABASE_URL_FILE", url.to_str().unwrap()),
            ("ROOST_JWT_SECRET_FILE", secret.to_str().unwrap()),
        ])
        .unwrap();
        assert_eq!(s.database.url(), "postgres://u:p@db:5432/roost");
        assert_eq!(
            s.auth.jwt_secret.unwrap().expose_secret(),
            "from-a-file-0123456789abcdef0123456789"
        );
        // The variable itself wins over its file; a missing file is an error naming both.
        let s = load(&[BASE[0], ("ROOST_DATABASE_URL_FILE", "/nonexistent")]).unwrap();
        assert_eq!(s.database.url(), "postgres://u:p@127.0.0.1/db");
        let err = load(&[("ROOST_ADMIN_TOKEN_FILE", "/nonexistent/admin"), BASE[0]])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ROOST_ADMIN_TOKEN_FILE") && err.contains("/nonexistent/admin"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = load(&BASE).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
        assert!(!dbg.contains("u:p@"), "{dbg}");
    }
}
