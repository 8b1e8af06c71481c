//! Stored analytics events, the quarantine and the registered event types (admin queries).
//! Filters are added to the SQL only when given, so each query can use the index of its most
//! selective filter; every listing ends in the order of those indexes.

use chrono::{DateTime, Utc};
use roost_common::pipeline::QuarantineCode;
use serde_json::{Value, value::RawValue};
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, types::Json};
use uuid::Uuid;

use crate::domain::cursor::{EventCursor, TimeCursor};

#[derive(Default)]
pub struct EventFilter {
    pub application: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<EventCursor>,
}

/// A `jsonb` value read as the text PostgreSQL renders: numbers keep every digit.
pub type JsonText = Json<Box<RawValue>>;

#[derive(FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub application: String,
    pub session_id: Uuid,
    pub category: String,
    pub name: String,
    pub data: JsonText,
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// Events matching the filter, ordered by (`timestamp`, `id`).
pub async fn list(db: &PgPool, f: &EventFilter, limit: i64) -> Result<Vec<EventRow>, sqlx::Error> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT e.id, a.name AS application, e.session_id, e.category, e.name, e.data,
                e.\"timestamp\", e.received_at
         FROM events e JOIN applications a ON a.id = e.application_id WHERE TRUE",
    );
    if let Some(v) = f.application {
        q.push(" AND e.application_id = ").push_bind(v);
    }
    if let Some(v) = f.session_id {
        q.push(" AND e.session_id = ").push_bind(v);
    }
    if let Some(v) = &f.category {
        q.push(" AND e.category = ").push_bind(v.clone());
    }
    if let Some(v) = &f.name {
        q.push(" AND e.name = ").push_bind(v.clone());
    }
    if let Some(v) = f.from {
        q.push(" AND e.\"timestamp\" >= ").push_bind(v);
    }
    if let Some(v) = f.to {
        q.push(" AND e.\"timestamp\" < ").push_bind(v);
    }
    if let Some(c) = f.after {
        q.push(" AND (e.\"timestamp\", e.id) > (")
            .push_bind(c.at)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    q.push(" ORDER BY e.\"timestamp\", e.id LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(db).await
}

#[derive(Default)]
pub struct ErrorFilter {
    pub application: Option<Uuid>,
    pub code: Option<QuarantineCode>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<TimeCursor>,
}

#[derive(FromRow)]
pub struct IngestErrorRow {
    pub id: i64,
    pub application: Option<String>,
    pub code: QuarantineCode,
    pub message: String,
    pub event: JsonText,
    pub received_at: DateTime<Utc>,
}

/// Quarantined events matching the filter, newest first by (`received_at`, `id`).
pub async fn errors(
    db: &PgPool,
    f: &ErrorFilter,
    limit: i64,
) -> Result<Vec<IngestErrorRow>, sqlx::Error> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT ie.id, a.name AS application, ie.code, ie.message, ie.event, ie.received_at
         FROM ingest_errors ie LEFT JOIN applications a ON a.id = ie.application_id WHERE TRUE",
    );
    if let Some(v) = f.application {
        q.push(" AND ie.application_id = ").push_bind(v);
    }
    if let Some(v) = f.code {
        q.push(" AND ie.code = ").push_bind(v);
    }
    if let Some(v) = f.from {
        q.push(" AND ie.received_at >= ").push_bind(v);
    }
    if let Some(v) = f.to {
        q.push(" AND ie.received_at < ").push_bind(v);
    }
    if let Some(c) = f.after {
        q.push(" AND (ie.received_at, ie.id) < (")
            .push_bind(c.created_at)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    q.push(" ORDER BY ie.received_at DESC, ie.id DESC LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(db).await
}

#[derive(FromRow)]
pub struct EventTypeRow {
    pub category: String,
    pub name: String,
    pub schema: Value,
    pub updated_at: DateTime<Utc>,
}

/// Registers or replaces the schema of (category, name); `true` when it was new.
pub async fn put_schema(
    db: &PgPool,
    category: &str,
    name: &str,
    schema: &Value,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO event_types (category, name, schema) VALUES ($1, $2, $3)
         ON CONFLICT (category, name) DO UPDATE
             SET schema = EXCLUDED.schema,
                 version = nextval('event_types_version_seq'),
                 updated_at = now()
         RETURNING (xmax = 0)",
    )
    .bind(category)
    .bind(name)
    .bind(schema)
    .fetch_one(db)
    .await
}

/// Every registered event type, by category and name.
pub async fn event_types(db: &PgPool) -> Result<Vec<EventTypeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT category, name, schema, updated_at FROM event_types ORDER BY category, name",
    )
    .fetch_all(db)
    .await
}
