//! PostgreSQL: the pool both binaries use, and the embedded migrations.

use anyhow::Context;
use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::settings::DatabaseSettings;

/// The migrations in `migrations/`, embedded in both binaries.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Builds the pool. Connections are opened lazily so a process can start (and report
/// not-ready) while the database is still coming up.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = settings
        .url()
        .parse()
        .context("ROOST_DATABASE_URL is not a valid PostgreSQL URL")?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        // A ping before every checkout doubles round trips; broken connections surface as
        // errors on use and are replaced by the pool.
        .test_before_acquire(false)
        .connect_lazy_with(options.application_name("roost")))
}

/// Applies every pending migration, waiting up to `wait` for the database to accept
/// connections (a database that is still starting, e.g. a new CloudNativePG cluster).
pub async fn migrate(pool: &PgPool, wait: std::time::Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match MIGRATOR.run(pool).await {
            Ok(()) => return Ok(()),
            Err(sqlx::migrate::MigrateError::Execute(error))
                if unreachable(&error) && tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(%error, "the database is not reachable yet; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(error) => return Err(error).context("applying database migrations"),
        }
    }
}

/// A connection problem (the database not up yet), as opposed to a failing migration.
fn unreachable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_)
    ) || matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("57P03"))
}

/// [`check_schema`], waiting up to `wait` for the database to come up and be migrated (a
/// worker that starts beside a first migration): the schema version, or the last error.
pub async fn wait_for_schema(pool: &PgPool, wait: std::time::Duration) -> anyhow::Result<i64> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match check_schema(pool).await {
            Ok(version) => return Ok(version),
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "waiting for the database schema"
                );
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Fails unless the database has exactly the migrations this binary was built with, so an
/// old binary never writes to a newer schema (or a new one to an un-migrated database).
pub async fn check_schema(pool: &PgPool) -> anyhow::Result<i64> {
    let expected = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .context("reading the applied schema version (run `roost-api migrate` first)")?;
    let applied = applied.unwrap_or(0);
    if applied < expected {
        anyhow::bail!(
            "database schema is at version {applied}, this binary expects {expected}: run `roost-api migrate`"
        );
    }
    if applied > expected {
        anyhow::bail!(
            "database schema is at version {applied}, newer than this binary's {expected}: run the \
             version of Roost that migrated it (migrations only go forward)"
        );
    }
    Ok(applied)
}
