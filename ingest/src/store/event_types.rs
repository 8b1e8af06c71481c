//! Registered event types (`event_types`, written by the API's admin routes): the worker
//! reads their JSON Schemas.

use serde_json::Value;
use sqlx::PgPool;

/// A digest of every registered type's version: it changes whenever a schema is registered
/// or replaced ("" when there are none).
pub async fn version(db: &PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(md5(string_agg(category || '/' || name || ':' || version, ','
                                        ORDER BY category, name)), '')
         FROM event_types",
    )
    .fetch_one(db)
    .await
}

/// Every registered type: `(category, name, schema)`.
pub async fn all(db: &PgPool) -> Result<Vec<(String, String, Value)>, sqlx::Error> {
    sqlx::query_as("SELECT category, name, schema FROM event_types")
        .fetch_all(db)
        .await
}
