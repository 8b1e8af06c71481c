//! Token revocations (`revoked_tokens`, written by the API at logout): the worker only
//! deletes the ones whose token has expired anyway.

use sqlx::PgPool;

/// Deletes revocations of tokens past their expiry; returns how many.
pub async fn delete_expired(db: &PgPool) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < now()")
        .execute(db)
        .await?;
    Ok(deleted.rows_affected())
}
