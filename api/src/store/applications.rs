//! Client applications and their API keys (stored as SHA-256 digests only).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::unique_violation;

#[derive(FromRow)]
pub struct Application {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates an application; `None` when the name is taken (names are never reused).
pub async fn create(
    db: &PgPool,
    name: &str,
    key_digest: &[u8],
) -> Result<Option<Application>, sqlx::Error> {
    let created = sqlx::query_as(
        "INSERT INTO applications (name, key_digest) VALUES ($1, $2)
         RETURNING id, name, created_at, revoked_at",
    )
    .bind(name)
    .bind(key_digest)
    .fetch_one(db)
    .await;
    match created {
        Ok(app) => Ok(Some(app)),
        Err(e) if unique_violation(&e).as_deref() == Some("applications_name_key") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every client application (not the built-in `roost`), oldest first.
pub async fn list(db: &PgPool) -> Result<Vec<Application>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, created_at, revoked_at FROM applications
         WHERE key_digest IS NOT NULL ORDER BY created_at, id",
    )
    .fetch_all(db)
    .await
}

/// Revokes a client application's key; `false` when there is no such application.
/// Revoking twice is harmless.
pub async fn revoke(db: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<Uuid> = sqlx::query_scalar(
        "UPDATE applications SET revoked_at = coalesce(revoked_at, now())
         WHERE id = $1 AND key_digest IS NOT NULL RETURNING id",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// The active application holding the key with this digest.
pub async fn by_key_digest(db: &PgPool, digest: &[u8]) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM applications WHERE key_digest = $1 AND revoked_at IS NULL")
        .bind(digest)
        .fetch_optional(db)
        .await
}

/// The application a filter names: by its id (as `POST /v1/admin/applications` returns it) or
/// by its name (case-insensitive). An id wins over a name that happens to look like one.
pub async fn resolve(db: &PgPool, id_or_name: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let as_id = Uuid::parse_str(id_or_name).ok();
    sqlx::query_scalar(
        "SELECT id FROM applications
         WHERE id = $1 OR lower(name) = lower($2)
         ORDER BY id = $1 DESC NULLS LAST
         LIMIT 1",
    )
    .bind(as_id)
    .bind(id_or_name)
    .fetch_optional(db)
    .await
}
