//! The one configuration loader, and the catalogue of settings it derives from.
//!
//! Every setting is written once, as a field in the [`settings!`] table below: its
//! environment variable, its codec (how the text is parsed and written back, which fixes its
//! unit), its default and its meaning (the field's doc comment). From that one row come the
//! struct field, the loader ([`Settings::from_env`]), the rendering back to variables for
//! spawned binaries ([`Settings::to_env`]) and the catalogue row ([`Settings::catalogue`],
//! [`catalogue::markdown_table`]) that README.md's configuration table is checked against.
//!
//! A value comes from the `ROOST_*` variable, or from the file that `<VARIABLE>_FILE` names
//! (Kubernetes secrets mounted as files); a blank value counts as unset. Secrets are wrapped in
//! [`SecretString`] so they never reach a log line by accident.
//!
//! Why a declarative macro and not a library such as `envconfig` (PostHog's choice): envconfig
//! takes a default as a string literal and a variable per field, and nothing else. Roost's
//! rules need more: `<VARIABLE>_FILE` indirection, a fallback variable (`DATABASE_URL`),
//! defaults computed at start-up (the number of cores), blank-as-unset except for the origin
//! lists (where empty means "none"), limits raised to at least 1, and `0` meaning "off". Nor
//! can envconfig write settings back to variables or list its fields with their descriptions
//! for the README. The macro below is small, and each rule lives in one [`codec`].

pub mod catalogue;
mod codec;

use std::{borrow::Cow, net::SocketAddr, str::FromStr, time::Duration};

use anyhow::anyhow;
use secrecy::{ExposeSecret, SecretString};

use self::{
    catalogue::{Default, Setting},
    codec::{
        Address, AtLeastOne, Bytes, Codec, Count, Days, Fallback, Flag, Format, List, Maybe,
        Millis, Seconds, Secret, SecretUrl, SigningKey, Source, Text, Url, ZeroIsOff,
    },
};

/// `Some(x)` for one argument, `None` for none.
macro_rules! optional {
    () => {
        None
    };
    ($value:expr) => {
        Some($value)
    };
}

/// The fallback of a row: its default, or [`Fallback::Required`] when it has none.
macro_rules! fallback {
    () => {
        Fallback::Required
    };
    ($value:expr) => {
        Fallback::Value($value)
    };
}

/// Defines settings structs from rows of the form
///
/// ```text
/// /// Meaning (one paragraph of Markdown: the README's "meaning" cell).
/// field: Type as Codec = "VARIABLE" [or "ALIAS"] [, default EXPR] [, shown "TEXT"]
///     [, remark "TEXT"];
/// ```
///
/// A row without `default` is required. `shown` replaces the default's rendered value in the
/// catalogue (computed defaults such as "number of cores"); `remark` follows it (`(off)`).
/// A struct may start with `nested { field: Group, … }`: groups loaded, rendered and listed
/// before its own rows.
macro_rules! settings {
    ($(
        $(#[doc = $sdoc:literal])*
        pub struct $name:ident {
            $(nested { $($group:ident: $group_type:ident),* $(,)? })?
            $(
                $(#[doc = $doc:literal])+
                $field:ident: $type:ty as $codec:ty = $var:literal $(or $alias:literal)?
                    $(, default $default:expr)? $(, shown $shown:literal)?
                    $(, remark $remark:literal)?;
            )*
        }
    )*) => {$(
        $(#[doc = $sdoc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            $($(
                #[doc = concat!("The [`", stringify!($group_type), "`] group.")]
                pub $group: $group_type,
            )*)?
            $(
                $(#[doc = $doc])*
                #[doc = ""]
                #[doc = concat!("Variable `", $var, "`.")]
                pub $field: $type,
            )*
        }

        impl $name {
            fn load<F: Fn(&str) -> Option<String>>(src: &Source<F>) -> anyhow::Result<Self> {
                Ok(Self {
                    $($( $group: $group_type::load(src)?, )*)?
                    $(
                        $field: src.read::<$codec>(
                            $var,
                            optional!($($alias)?),
                            fallback!($($default)?),
                        )?,
                    )*
                })
            }

            fn render_into(&self, out: &mut Vec<(&'static str, String)>) {
                $($( self.$group.render_into(out); )*)?
                $(
                    if let Some(text) = <$codec as Codec>::render(&self.$field) {
                        out.push(($var, text));
                    }
                )*
            }

            fn rows_into(out: &mut Vec<Setting>) {
                $($( $group_type::rows_into(out); )*)?
                $(
                    out.push(Setting {
                        name: $var,
                        alias: optional!($($alias)?),
                        unit: <$codec as Codec>::UNIT,
                        default: default_cell::<$codec>(
                            fallback!($($default)?),
                            optional!($($shown)?),
                            optional!($($remark)?),
                        ),
                        description: concat!($($doc),*).trim_ascii(),
                    });
                )*
            }
        }
    )*};
}

/// The catalogue's default of a row (see [`settings!`]).
fn default_cell<C: Codec>(
    fallback: Fallback<C::Value>,
    shown: Option<&'static str>,
    remark: Option<&'static str>,
) -> Default {
    match (shown, fallback) {
        (Some(text), _) => Default::Described(text),
        (None, Fallback::Value(value)) => match C::render(&value) {
            Some(text) => Default::Value(Cow::Owned(text), remark),
            None => Default::Described("unset"),
        },
        (None, Fallback::Required) => Default::Described("— (required)"),
    }
}

/// The number of cores this process may use (at least 1).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

settings! {
    /// Typed settings for both binaries. Built once at start-up by [`Settings::from_env`];
    /// in tests, from [`Settings::for_tests`] and then changed field by field.
    pub struct Settings {
        nested {
            database: DatabaseSettings,
            redis: RedisSettings,
            http: HttpSettings,
            auth: AuthSettings,
            limits: LimitSettings,
            telemetry: TelemetrySettings,
            pipeline: PipelineSettings,
            jobs: JobSettings,
        }
        /// worker `/metrics` listener
        ingest_metrics_addr: SocketAddr as Address = "ROOST_INGEST_METRICS_ADDR",
            default local(9465);
    }

    /// PostgreSQL.
    pub struct DatabaseSettings {
        /// PostgreSQL URL
        url: SecretString as SecretUrl = "ROOST_DATABASE_URL" or "DATABASE_URL";
        /// pool size per process
        max_connections: u32 as Count<u32> = "ROOST_DATABASE_MAX_CONNECTIONS", default 20;
        /// wait for a pooled connection before answering 503
        acquire_timeout: Duration as Millis = "ROOST_DATABASE_ACQUIRE_TIMEOUT_MS",
            default Duration::from_millis(3000);
        /// at start, how long `migrate`, `serve` and the worker wait for PostgreSQL to accept
        /// connections and carry their schema
        startup_wait: Duration as Seconds = "ROOST_DATABASE_STARTUP_WAIT_SECONDS",
            default Duration::ZERO, remark "(`300` in the chart)";
    }

    /// Redis.
    pub struct RedisSettings {
        /// Redis URL (`redis://:password@host:port/db`)
        url: SecretString as SecretUrl = "ROOST_REDIS_URL",
            default "redis://127.0.0.1:6379/0".into();
        /// prefix of every Redis key (several deployments or test runs can share one Redis)
        key_prefix: String as Text = "ROOST_REDIS_KEY_PREFIX", default "roost:".into();
        /// Redis command timeout
        response_timeout: Duration as Millis = "ROOST_REDIS_RESPONSE_TIMEOUT_MS",
            default Duration::from_millis(500);
    }

    /// The HTTP server.
    pub struct HttpSettings {
        /// public API listener
        addr: SocketAddr as Address = "ROOST_HTTP_ADDR", default local(8080);
        /// API `/metrics` listener (never on the public port)
        metrics_addr: SocketAddr as Address = "ROOST_METRICS_ADDR", default local(9464);
        /// actix worker threads
        workers: usize as AtLeastOne<Count<usize>> = "ROOST_HTTP_WORKERS", default cores(),
            shown "number of cores";
        /// take the client address from `X-Forwarded-For` (only behind a trusted ingress;
        /// used by login and registration throttling)
        trust_forwarded_for: bool as Flag = "ROOST_TRUST_FORWARDED_FOR", default false;
        /// a request body must arrive in full within this time after its headers (else 408,
        /// connection closed)
        body_timeout: Duration as Seconds = "ROOST_HTTP_BODY_TIMEOUT_SECONDS",
            default Duration::from_secs(15);
        /// largest request line plus headers (else 431)
        max_header_bytes: usize as Bytes<usize> = "ROOST_HTTP_MAX_HEADER_BYTES",
            default 16 * 1024;
        /// after SIGTERM the API answers `/readyz` with 503 `draining` and keeps serving this
        /// long, then stops taking connections and finishes what is in flight (at most 25 s)
        shutdown_delay: Duration as Seconds = "ROOST_SHUTDOWN_DELAY_SECONDS",
            default Duration::from_secs(5), remark "(`0` under `make run`)";
        /// origins browsers may call the other `/v1` routes from (`*` for any)
        cors_origins: Vec<String> as List = "ROOST_CORS_ALLOWED_ORIGINS", default Vec::new(),
            remark "(no CORS)";
        /// origins browsers may send `POST /v1/events` from (comma-separated
        /// `scheme://host[:port]`, or `*`; empty: none): the API key, not a cookie,
        /// authenticates those requests
        ingest_cors_origins: Vec<String> as List = "ROOST_INGEST_CORS_ALLOWED_ORIGINS",
            default vec!["*".to_owned()];
    }

    /// Authentication: tokens, the admin token, password hashing, throttling.
    pub struct AuthSettings {
        /// HMAC-SHA256 key for access tokens, at least 32 characters
        jwt_secret: Option<SecretString> as Maybe<SigningKey> = "ROOST_JWT_SECRET",
            default None, shown "— (required by the API)";
        /// issuer (`iss`) of the access tokens, checked on every token
        jwt_issuer: String as Text = "ROOST_JWT_ISSUER", default "roost".into();
        /// audience (`aud`) of the access tokens, checked on every token
        jwt_audience: String as Text = "ROOST_JWT_AUDIENCE", default "roost-api".into();
        /// access token lifetime
        token_ttl: Duration as Seconds = "ROOST_TOKEN_TTL_SECONDS",
            default Duration::from_secs(3600);
        /// bootstrap administrator bearer token
        admin_token: Option<SecretString> as Maybe<Secret> = "ROOST_ADMIN_TOKEN",
            default None, shown "unset (admin routes refuse everyone)";
        /// threads that may hash passwords at once (argon2id, 19 MiB, t=2, p=1)
        hash_workers: usize as AtLeastOne<Count<usize>> = "ROOST_HASH_WORKERS",
            default cores().saturating_sub(1).max(1), shown "cores − 1, at least 1";
        /// failed logins per username per window before 429
        login_max_failures_per_user: u32 as Count<u32> = "ROOST_LOGIN_MAX_FAILURES_PER_USER",
            default 10;
        /// failed logins per client address per window before 429
        login_max_failures_per_ip: u32 as Count<u32> = "ROOST_LOGIN_MAX_FAILURES_PER_IP",
            default 50;
        /// login throttling window
        login_window: Duration as Seconds = "ROOST_LOGIN_WINDOW_SECONDS",
            default Duration::from_secs(900);
        /// registrations per client address per window before 429 (each costs an argon2id
        /// hash)
        register_max_per_ip: u32 as Count<u32> = "ROOST_REGISTER_MAX_PER_IP", default 20;
        /// registration throttling window
        register_window: Duration as Seconds = "ROOST_REGISTER_WINDOW_SECONDS",
            default Duration::from_secs(600);
    }

    /// Per-user limits.
    pub struct LimitSettings {
        /// posts (reposts and quotes included) per user per UTC day; `5` gives the classic
        /// Posterr rule
        daily_post_limit: Option<u32> as ZeroIsOff = "ROOST_DAILY_POST_LIMIT", default None,
            remark "(off)";
        /// subscriptions per user
        subscription_limit: u32 as Count<u32> = "ROOST_SUBSCRIPTION_LIMIT", default 100;
    }

    /// Logs and traces.
    pub struct TelemetrySettings {
        /// `json` (one object per line, for Loki) or `pretty`
        log_format: LogFormat as Format = "ROOST_LOG_FORMAT", default LogFormat::Json;
        /// OTLP/HTTP endpoint for traces; trace ids are logged either way
        otlp_endpoint: Option<String> as Maybe<Url> = "OTEL_EXPORTER_OTLP_ENDPOINT",
            default None, shown "unset (no export)";
    }

    /// The event pipeline: stream consumption, retries, retention, outbox relay.
    pub struct PipelineSettings {
        /// this worker's name in the Redis consumer groups (give each replica its own)
        consumer_name: Option<String> as Maybe<Text> = "ROOST_CONSUMER_NAME", default None,
            shown "host name, pid, random suffix";
        /// event consumers per worker process (group members `<name>-1`, `-2`, …), each
        /// reading and committing its own batches
        consumers: usize as AtLeastOne<Count<usize>> = "ROOST_INGEST_CONSUMERS", default 2;
        /// most stream entries (accepted requests) per read
        batch_entries: usize as AtLeastOne<Count<usize>> = "ROOST_INGEST_BATCH_ENTRIES",
            default 1000;
        /// bytes of entries a read aims at: fewer entries per read when they are large
        batch_bytes: usize as AtLeastOne<Bytes<usize>> = "ROOST_INGEST_BATCH_BYTES",
            default 16 * 1024 * 1024;
        /// how long one blocking stream read waits
        block: Duration as Millis = "ROOST_INGEST_BLOCK_MS", default Duration::from_millis(1000);
        /// a pending entry idle this long is reclaimed from its (presumed dead) worker
        claim_idle: Duration as Seconds = "ROOST_INGEST_CLAIM_IDLE_SECONDS",
            default Duration::from_secs(30);
        /// deliveries before an entry that keeps failing is quarantined as `poison_message`
        max_deliveries: u64 as AtLeastOne<Count<u64>> = "ROOST_INGEST_MAX_DELIVERIES",
            default 5;
        /// events, quarantine rows and finished jobs are kept this long (by receipt time)
        retention_days: u32 as AtLeastOne<Days<u32>> = "ROOST_EVENT_RETENTION_DAYS",
            default 90;
        /// the relay re-publishes outbox rows not stored after this long
        relay_after: Duration as Seconds = "ROOST_OUTBOX_RELAY_AFTER_SECONDS",
            default Duration::from_secs(10);
        /// worker maintenance period (relay, trimming, job sweep, gauges)
        maintenance_interval: Duration as Seconds = "ROOST_MAINTENANCE_INTERVAL_SECONDS",
            default Duration::from_secs(5);
        /// how long an API process caches a resolved API key; revocations reach every replica
        /// at once over Redis pub/sub, this only bounds a revoked key's life when that
        /// announcement is lost (Redis away)
        api_key_cache_ttl: Duration as Seconds = "ROOST_API_KEY_CACHE_SECONDS",
            default Duration::from_secs(10);
    }

    /// Jobs and the URL fetcher behind them.
    pub struct JobSettings {
        /// jobs one worker runs at once
        concurrency: usize as AtLeastOne<Count<usize>> = "ROOST_JOB_CONCURRENCY", default 2;
        /// runs before a failing (or repeatedly interrupted) job ends `failed`
        max_attempts: u32 as AtLeastOne<Count<u32>> = "ROOST_JOB_MAX_ATTEMPTS", default 3;
        /// a running job not finished within its lease is re-run elsewhere
        lease: Duration as Seconds = "ROOST_JOB_LEASE_SECONDS", default Duration::from_secs(60);
        /// time limit of a job's whole URL fetch
        fetch_timeout: Duration as Seconds = "ROOST_FETCH_TIMEOUT_SECONDS",
            default Duration::from_secs(10);
        /// most bytes of body a job's URL fetch reads
        fetch_max_bytes: usize as Bytes<usize> = "ROOST_FETCH_MAX_BYTES",
            default 5 * 1024 * 1024;
        /// most redirects a job's URL fetch follows
        fetch_max_redirects: usize as Count<usize> = "ROOST_FETCH_MAX_REDIRECTS", default 5;
        /// let jobs fetch loopback addresses (tests and local development only, never in
        /// production)
        fetch_allow_loopback: bool as Flag = "ROOST_FETCH_ALLOW_LOOPBACK", default false;
        /// let jobs fetch private, link-local and other non-global addresses (never in
        /// production)
        fetch_allow_private: bool as Flag = "ROOST_FETCH_ALLOW_PRIVATE", default false;
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (for Loki).
    Json,
    /// Human-readable lines.
    Pretty,
}

impl LogFormat {
    /// The variable's spelling: `json` or `pretty`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Pretty => "pretty",
        }
    }
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

impl Settings {
    /// Loads settings from the process environment. Errors name the variable at fault (unset
    /// when required, unparsable, or a `_FILE` that cannot be read).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Loads settings from any variable lookup (`name → value`), as [`Settings::from_env`]
    /// does from the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Self::load(&Source(lookup))
    }

    /// The variables that give exactly these settings to a process (a spawned binary), in
    /// catalogue order: `(name, value)`. Optional settings that are off are left out, so a
    /// caller should also remove [`Settings::catalogue`]'s names it inherited. Durations are
    /// written in the variable's unit, truncated (a 1.5 s timeout in a `_SECONDS` variable
    /// becomes `1`). The values include secrets in clear: never log them.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        self.render_into(&mut out);
        out
    }

    /// The catalogue rows of every variable the loader reads, in the order of the fields.
    pub fn catalogue() -> Vec<Setting> {
        let mut rows = Vec::new();
        Self::rows_into(&mut rows);
        rows
    }

    /// Settings for tests: every default, then
    /// - the database URL from `ROOST_DATABASE_URL` or `DATABASE_URL` when set (a placeholder
    ///   otherwise: in-process apps take their pool from the test), Redis from
    ///   `ROOST_REDIS_URL` when set;
    /// - a Redis key prefix of its own (`test:<uuid>:`), so tests sharing a Redis never meet;
    /// - every listener on `127.0.0.1:0` (a free port each);
    /// - a fixed JWT secret, two HTTP and two hashing threads.
    ///
    /// Change the fields a test needs (`settings.limits.daily_post_limit = Some(5)`).
    /// Only with the `test-support` feature (roost-testkit turns it on).
    #[cfg(any(test, feature = "test-support"))]
    #[allow(clippy::expect_used)]
    pub fn for_tests() -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let database = env("ROOST_DATABASE_URL")
            .or_else(|| env("DATABASE_URL"))
            .unwrap_or_else(|| "postgres://unset@127.0.0.1:5432/unset".to_owned());
        let redis = env("ROOST_REDIS_URL");
        let mut settings = Self::from_lookup(|name| match name {
            "ROOST_DATABASE_URL" => Some(database.clone()),
            "ROOST_REDIS_URL" => redis.clone(),
            _ => None,
        })
        // Only the defaults and two URLs (text, parsed as is): a failure is a catalogue bug,
        // which this module's tests catch.
        .expect("the catalogue's defaults load");
        settings.redis.key_prefix = format!("test:{}:", uuid::Uuid::new_v4());
        settings.http.addr = local(0);
        settings.http.metrics_addr = local(0);
        settings.ingest_metrics_addr = local(0);
        settings.auth.jwt_secret = Some("test-secret-0123456789abcdef0123456789".into());
        settings.http.workers = 2;
        settings.auth.hash_workers = 2;
        settings
    }
}

impl DatabaseSettings {
    /// The PostgreSQL URL, in clear (it holds the password).
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }
}

#[cfg(test)]
mod tests;
