//! Revoked access tokens.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub async fn revoke(
    db: &PgPool,
    jti: Uuid,
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(user_id)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a verified token still stands: not revoked, and its user exists. One round trip.
pub async fn is_active(db: &PgPool, jti: Uuid, user_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $2)
            AND NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)",
    )
    .bind(jti)
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// Which of these tokens are revoked.
pub async fn revoked_among(db: &PgPool, jtis: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT jti FROM revoked_tokens WHERE jti = ANY($1)")
        .bind(jtis)
        .fetch_all(db)
        .await
}
