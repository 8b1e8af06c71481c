//! The worker's writes for one batch, in one transaction: new events (deduplicated by id
//! through the `event_ids` key table), quarantined events, notifications derived from
//! `comment.created`, and the deletion of the outbox rows whose events are now stored.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use roost_common::{outbox::DomainEvent, stream::Event};
use sqlx::PgConnection;
use uuid::Uuid;

/// An event ready to store (borrowed from its decoded entry).
pub struct ToStore<'a> {
    pub application: Uuid,
    pub received_at: DateTime<Utc>,
    pub event: &'a Event,
}

/// Something for the quarantine. `source` keeps re-processing idempotent: `event:<id>` for a
/// rejected event, `entry:<stream id>` for a poison entry.
pub struct ToQuarantine {
    pub source: String,
    pub application: Option<Uuid>,
    pub code: &'static str,
    pub message: String,
    /// The event as JSON text (an accepted event's data keeps every digit).
    pub event: String,
    pub received_at: DateTime<Utc>,
}

/// A notification to create (from a `comment.created` domain event).
pub struct NewNotification {
    pub user_id: i64,
    pub actor_id: i64,
    pub post_id: i64,
    pub comment_id: i64,
    pub excerpt: String,
}

/// A created notification, to announce to the API replicas after the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub id: i64,
    pub user_id: i64,
}

#[derive(Default)]
pub struct Outcome {
    pub stored: u64,
    pub duplicates: u64,
    pub quarantined: Vec<&'static str>,
    pub notifications: Vec<Created>,
}

/// Longest notification excerpt, in characters.
const EXCERPT_CHARS: usize = 100;

/// The notification a `comment.created` event of the `roost` application asks for, if any
/// (none for a comment on one's own post).
pub fn notification_for(event: &Event) -> Option<NewNotification> {
    if event.category != DomainEvent::CATEGORY || event.name != DomainEvent::CommentCreated.name() {
        return None;
    }
    let d = event.data.value().ok()?;
    let user_id = d.get("post_author_id")?.as_i64()?;
    let actor_id = d.get("user_id")?.as_i64()?;
    if user_id == actor_id {
        return None;
    }
    let text = d
        .get("text")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    Some(NewNotification {
        user_id,
        actor_id,
        post_id: d.get("post_id")?.as_i64()?,
        comment_id: d.get("comment_id")?.as_i64()?,
        excerpt: text.chars().take(EXCERPT_CHARS).collect(),
    })
}

/// Writes one batch. The caller commits (then acknowledges the entries).
pub async fn write_batch(
    tx: &mut PgConnection,
    events: &[ToStore<'_>],
    quarantine: &[ToQuarantine],
    notifications: &[NewNotification],
    outbox_ids: &[Uuid],
) -> Result<Outcome, sqlx::Error> {
    let mut outcome = Outcome::default();
    if !events.is_empty() {
        // One row per id: a batch may carry the same id twice (a client retry).
        let mut seen = HashSet::with_capacity(events.len());
        let unique: Vec<&ToStore<'_>> = events.iter().filter(|e| seen.insert(e.event.id)).collect();
        let stored = sqlx::query(
            "WITH input AS (
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                                      $6::text[], $7::timestamptz[], $8::timestamptz[])
                     AS t(id, application_id, session_id, category, name, data, ts, received_at)
             ), fresh AS (
                 -- In id order, so consumers committing overlapping batches (a client's
                 -- retry) wait on each other instead of deadlocking.
                 INSERT INTO event_ids (id, received_at)
                 SELECT id, received_at FROM input ORDER BY id
                 ON CONFLICT (id) DO NOTHING
                 RETURNING id
             )
             INSERT INTO events (id, application_id, session_id, category, name, data,
                                 \"timestamp\", received_at)
             SELECT i.id, i.application_id, i.session_id, i.category, i.name, i.data::jsonb, i.ts,
                    i.received_at
             FROM input i JOIN fresh f USING (id)",
        )
        .bind(unique.iter().map(|e| e.event.id).collect::<Vec<_>>())
        .bind(unique.iter().map(|e| e.application).collect::<Vec<_>>())
        .bind(
            unique
                .iter()
                .map(|e| e.event.session_id)
                .collect::<Vec<_>>(),
        )
        .bind(
            unique
                .iter()
                .map(|e| e.event.category.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            unique
                .iter()
                .map(|e| e.event.name.as_str())
                .collect::<Vec<_>>(),
        )
        // As text, cast by PostgreSQL: `jsonb` keeps every digit the client sent.
        .bind(
            unique
                .iter()
                .map(|e| e.event.data.as_json())
                .collect::<Vec<_>>(),
        )
        .bind(unique.iter().map(|e| e.event.timestamp).collect::<Vec<_>>())
        .bind(unique.iter().map(|e| e.received_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        outcome.stored = stored;
        outcome.duplicates = events.len() as u64 - stored;
    }
    if !quarantine.is_empty() {
        let codes: Vec<String> = sqlx::query_scalar(
            "INSERT INTO ingest_errors (source, application_id, code, message, event, received_at)
             SELECT t.source, a.id, t.code, t.message, t.event::jsonb, t.received_at
             FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                         $6::timestamptz[])
                 AS t(source, application_id, code, message, event, received_at)
             LEFT JOIN applications a ON a.id = t.application_id
             ON CONFLICT (source) DO NOTHING
             RETURNING code",
        )
        .bind(
            quarantine
                .iter()
                .map(|q| q.source.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(quarantine.iter().map(|q| q.application).collect::<Vec<_>>())
        .bind(quarantine.iter().map(|q| q.code).collect::<Vec<_>>())
        .bind(
            quarantine
                .iter()
                .map(|q| q.message.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            quarantine
                .iter()
                .map(|q| q.event.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(quarantine.iter().map(|q| q.received_at).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        // Only rows new to the quarantine count (a redelivered batch finds them there).
        outcome.quarantined = codes.iter().map(|c| code_str(c)).collect();
    }
    if !notifications.is_empty() {
        let created: Vec<(i64, i64)> = sqlx::query_as(
            // A notification is dated by its comment, not by when a consumer got to it: with
            // several consumers, comments can be processed out of order.
            "INSERT INTO notifications (user_id, actor_id, post_id, comment_id, excerpt,
                                        created_at)
             SELECT t.user_id, t.actor_id, t.post_id, t.comment_id, t.excerpt, c.created_at
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
                 AS t(user_id, actor_id, post_id, comment_id, excerpt)
             JOIN comments c ON c.id = t.comment_id
             ORDER BY c.created_at, c.id
             ON CONFLICT (comment_id) DO NOTHING
             RETURNING id, user_id",
        )
        .bind(notifications.iter().map(|n| n.user_id).collect::<Vec<_>>())
        .bind(notifications.iter().map(|n| n.actor_id).collect::<Vec<_>>())
        .bind(notifications.iter().map(|n| n.post_id).collect::<Vec<_>>())
        .bind(
            notifications
                .iter()
                .map(|n| n.comment_id)
                .collect::<Vec<_>>(),
        )
        .bind(
            notifications
                .iter()
                .map(|n| n.excerpt.as_str())
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *tx)
        .await?;
        outcome.notifications = created
            .into_iter()
            .map(|(id, user_id)| Created { id, user_id })
            .collect();
    }
    if !outbox_ids.is_empty() {
        sqlx::query("DELETE FROM outbox WHERE event_id = ANY($1)")
            .bind(outbox_ids)
            .execute(&mut *tx)
            .await?;
    }
    Ok(outcome)
}

fn code_str(code: &str) -> &'static str {
    match code {
        "payload_invalid" => "payload_invalid",
        "future_timestamp" => "future_timestamp",
        _ => "poison_message",
    }
}
