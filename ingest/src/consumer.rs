//! The event consumer: read a batch from the stream (consumer group) → validate → write it in
//! one transaction → commit → acknowledge → announce new notifications. At-least-once with
//! idempotent writes, so the effect is exactly once.
//!
//! Failure handling:
//! - the database is away (connection errors and the like): the batch is retried in place,
//!   never acknowledged, its entries kept from being reclaimed; the stream backlog grows;
//! - one entry is at fault (a data error): the batch is split and each entry retried alone; the
//!   faulty one stays pending, is redelivered after `claim_idle`, and after `max_deliveries`
//!   goes to the quarantine as `poison_message`;
//! - a worker dies: its pending entries are reclaimed (`XAUTOCLAIM`) by the others.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use redis::{Value as RedisValue, aio::ConnectionManager, streams::StreamId};
use roost_common::{
    settings::PipelineSettings,
    stream::{Event, FIELD_APP, FIELD_EVENTS, FIELD_RECEIVED_AT, Keys, ROOST_APPLICATION_ID},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    Stop,
    metrics::Metrics,
    store::{self, NewNotification, ToQuarantine, ToStore},
    streams::{self, Group},
    validate::Validator,
};

/// A decoded stream entry.
struct Entry {
    id: String,
    body: Body,
}

enum Body {
    Batch {
        application: Uuid,
        received_at: DateTime<Utc>,
        events: Vec<Event>,
    },
    /// Cannot be processed: quarantined with what could be read of it.
    Poison {
        application: Option<Uuid>,
        message: String,
        raw: Value,
    },
}

fn field_str(entry: &StreamId, field: &str) -> Option<String> {
    match entry.map.get(field)? {
        RedisValue::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        RedisValue::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// What a poison entry looked like, for the quarantine (lossy text, NULs removed, bounded).
fn raw_entry(entry: &StreamId) -> Value {
    const MAX: usize = 64 * 1024;
    let fields: serde_json::Map<String, Value> = entry
        .map
        .iter()
        .map(|(k, v)| {
            let text = match v {
                RedisValue::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => format!("{other:?}"),
            };
            let mut text = text.replace('\0', "");
            if text.len() > MAX {
                let cut = (0..=MAX)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                text.truncate(cut);
                text.push('…');
            }
            (k.replace('\0', ""), Value::String(text))
        })
        .collect();
    json!({ "stream_entry": entry.id, "fields": fields })
}

fn decode(entry: &StreamId) -> Entry {
    let application = field_str(entry, FIELD_APP).and_then(|s| Uuid::parse_str(&s).ok());
    let received_at = field_str(entry, FIELD_RECEIVED_AT)
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc));
    let events = match entry.map.get(FIELD_EVENTS) {
        Some(RedisValue::BulkString(bytes)) => serde_json::from_slice::<Vec<Event>>(bytes)
            .map_err(|e| format!("the events field is not a valid event array: {e}")),
        _ => Err("the entry has no events field".to_owned()),
    };
    let body = match (application, received_at, events) {
        (Some(application), Some(received_at), Ok(events)) => Body::Batch {
            application,
            received_at,
            events,
        },
        (application, received_at, events) => {
            let mut problems = Vec::new();
            if application.is_none() {
                problems.push("no valid application id".to_owned());
            }
            if received_at.is_none() {
                problems.push("no valid receipt time".to_owned());
            }
            if let Err(e) = events {
                problems.push(e);
            }
            Body::Poison {
                application,
                message: format!("unreadable stream entry: {}", problems.join("; ")),
                raw: raw_entry(entry),
            }
        }
    };
    Entry {
        id: entry.id.clone(),
        body,
    }
}

/// Whether a database error is about the data (retrying the same entry cannot help) rather
/// than about the database being reachable. Only data errors can ever quarantine an entry.
fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("23") || c.starts_with("54")),
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

pub struct Consumer {
    db: PgPool,
    redis: ConnectionManager,
    client: redis::Client,
    group: Group,
    settings: PipelineSettings,
    metrics: Arc<Metrics>,
    validator: Validator,
    keys: Keys,
}

impl Consumer {
    pub fn new(
        db: PgPool,
        redis: ConnectionManager,
        client: redis::Client,
        keys: Keys,
        consumer: String,
        settings: PipelineSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            redis,
            client,
            group: Group {
                stream: keys.events.clone(),
                group: roost_common::stream::EVENTS_GROUP,
                consumer,
            },
            settings,
            metrics,
            validator: Validator::new(),
            keys,
        }
    }

    /// Consumes until `stop` is set; an in-flight batch is finished and acknowledged first.
    pub async fn run(mut self, stop: Stop) {
        let mut reader = None;
        let mut group_ready = false;
        let claim_every = (self.settings.claim_idle / 2).max(Duration::from_secs(1));
        let mut last_claim: Option<Instant> = None;
        while !stop.is_set() {
            if !group_ready {
                match self.group.ensure(&mut self.redis).await {
                    Ok(()) => group_ready = true,
                    Err(error) => {
                        tracing::warn!(%error, "cannot reach the events stream; retrying");
                        stop.sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                last_claim = Some(Instant::now());
                self.reclaim(&stop).await;
            }
            let conn = match reader.as_mut() {
                Some(conn) => conn,
                None => match streams::blocking_connection(&self.client, self.settings.block).await
                {
                    Ok(conn) => reader.insert(conn),
                    Err(error) => {
                        tracing::warn!(%error, "cannot connect to Redis; retrying");
                        stop.sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            match self
                .group
                .read(conn, self.settings.batch_entries, self.settings.block)
                .await
            {
                Ok(entries) if entries.is_empty() => {}
                Ok(entries) => {
                    let entries = entries.iter().map(decode).collect();
                    self.process(entries, &stop).await;
                }
                Err(error) => {
                    if error.code() == Some("NOGROUP") {
                        group_ready = false;
                    } else {
                        tracing::warn!(%error, "reading the events stream failed; reconnecting");
                        reader = None;
                        stop.sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        tracing::info!("event consumer stopped");
    }

    /// Takes over entries other consumers (or this one, for an entry at fault) left pending.
    async fn reclaim(&mut self, stop: &Stop) {
        let claimed = match self
            .group
            .reclaim(
                &mut self.redis,
                self.settings.claim_idle,
                self.settings.batch_entries,
            )
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "reclaiming pending entries failed");
                return;
            }
        };
        if claimed.is_empty() {
            return;
        }
        self.metrics.reclaimed.inc_by(claimed.len() as u64);
        tracing::info!(entries = claimed.len(), "reclaimed pending entries");
        let max = self.settings.max_deliveries as usize;
        let entries = claimed
            .iter()
            .map(|(entry, delivered)| {
                let mut decoded = decode(entry);
                if *delivered > max {
                    decoded.body = Body::Poison {
                        application: match decoded.body {
                            Body::Batch { application, .. } => Some(application),
                            Body::Poison { application, .. } => application,
                        },
                        message: format!(
                            "delivered {delivered} times without being stored (limit {max}); \
                             see the worker's error log for the cause"
                        ),
                        raw: raw_entry(entry),
                    };
                }
                decoded
            })
            .collect();
        self.process(entries, stop).await;
    }

    /// Stores a batch, retrying in place while the database is away and splitting it when one
    /// entry is at fault.
    async fn process(&mut self, entries: Vec<Entry>, stop: &Stop) {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut last_keep_alive = Instant::now();
        loop {
            match self.commit(&entries).await {
                Ok(outcome) => {
                    self.finish(&entries, outcome, started).await;
                    return;
                }
                Err(error) if is_data_error(&error) => {
                    self.metrics
                        .batch_failures
                        .with_label_values(&["entry"])
                        .inc();
                    if entries.len() == 1 {
                        let id = entries.first().map(|e| e.id.as_str()).unwrap_or_default();
                        tracing::error!(entry = id, error = %error, "an entry cannot be stored; it stays pending and will be retried, then quarantined");
                        return;
                    }
                    tracing::warn!(error = %error, entries = entries.len(), "a batch failed on its data; retrying its entries one by one");
                    for entry in entries {
                        Box::pin(self.process(vec![entry], stop)).await;
                    }
                    return;
                }
                Err(error) => {
                    self.metrics
                        .batch_failures
                        .with_label_values(&["transient"])
                        .inc();
                    tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "storing a batch failed; retrying");
                    if stop.is_set() {
                        // Left pending: another worker (or this one after a restart) takes it.
                        return;
                    }
                    if last_keep_alive.elapsed() >= self.settings.claim_idle / 3 {
                        last_keep_alive = Instant::now();
                        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
                        if let Err(error) = self.group.keep_alive(&mut self.redis, &ids).await {
                            tracing::warn!(%error, "could not keep pending entries claimed");
                        }
                    }
                    stop.sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn commit(&mut self, entries: &[Entry]) -> Result<store::Outcome, sqlx::Error> {
        self.validator.refresh(&self.db).await?;
        let mut to_store = Vec::new();
        let mut quarantine = Vec::new();
        let mut notifications: Vec<NewNotification> = Vec::new();
        let mut outbox_ids = Vec::new();
        for entry in entries {
            match &entry.body {
                Body::Batch {
                    application,
                    received_at,
                    events,
                } => {
                    for event in events {
                        match self.validator.check(event, *received_at) {
                            Ok(()) => {
                                if *application == ROOST_APPLICATION_ID {
                                    outbox_ids.push(event.id);
                                    notifications.extend(store::notification_for(event));
                                }
                                to_store.push(ToStore {
                                    application: *application,
                                    received_at: *received_at,
                                    event: event.clone(),
                                });
                            }
                            Err(rejection) => quarantine.push(ToQuarantine {
                                source: format!("event:{}", event.id),
                                application: Some(*application),
                                code: rejection.code(),
                                message: rejection.message().to_owned(),
                                event: serde_json::to_value(event)
                                    .unwrap_or_else(|_| json!({"id": event.id})),
                                received_at: *received_at,
                            }),
                        }
                    }
                }
                Body::Poison {
                    application,
                    message,
                    raw,
                } => quarantine.push(ToQuarantine {
                    source: format!("entry:{}", entry.id),
                    application: *application,
                    code: "poison_message",
                    message: message.clone(),
                    event: raw.clone(),
                    received_at: entry_time(&entry.id).unwrap_or_else(Utc::now),
                }),
            }
        }
        let mut tx = self.db.begin().await?;
        let outcome =
            store::write_batch(&mut tx, &to_store, &quarantine, &notifications, &outbox_ids)
                .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn finish(&mut self, entries: &[Entry], outcome: store::Outcome, started: Instant) {
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        if let Err(error) = self.group.ack(&mut self.redis, &ids).await {
            // Stored but not acknowledged: redelivered later and deduplicated by id.
            tracing::warn!(%error, "acknowledging a stored batch failed");
        }
        let m = &self.metrics;
        m.events_stored.inc_by(outcome.stored);
        m.events_duplicate.inc_by(outcome.duplicates);
        for code in &outcome.quarantined {
            m.quarantined.with_label_values(&[code]).inc();
        }
        m.batch_events.observe(
            (outcome.stored + outcome.duplicates + outcome.quarantined.len() as u64) as f64,
        );
        m.batch_seconds.observe(started.elapsed().as_secs_f64());
        m.notifications_created
            .inc_by(outcome.notifications.len() as u64);
        if !outcome.notifications.is_empty() {
            crate::notify::announce(&mut self.redis, &self.keys, &outcome.notifications).await;
        }
    }
}

/// The time a stream entry was added (its id's millisecond part).
fn entry_time(id: &str) -> Option<DateTime<Utc>> {
    let ms: i64 = id.split_once('-')?.0.parse().ok()?;
    DateTime::from_timestamp_millis(ms)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn entry(fields: &[(&str, &[u8])]) -> StreamId {
        StreamId {
            id: "1700000000000-0".into(),
            map: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), RedisValue::BulkString(v.to_vec())))
                .collect::<HashMap<_, _>>(),
            milliseconds_elapsed_from_delivery: None,
            delivered_count: None,
        }
    }

    #[test]
    fn well_formed_entries_decode() {
        let app = Uuid::new_v4();
        let e = entry(&[
            (FIELD_APP, app.to_string().as_bytes()),
            (FIELD_RECEIVED_AT, b"2026-11-23T10:00:00.000001Z"),
            (FIELD_EVENTS, b"[]"),
        ]);
        let Body::Batch { application, .. } = decode(&e).body else {
            panic!("expected a batch")
        };
        assert_eq!(application, app);
    }

    #[test]
    fn broken_entries_are_poison_with_their_content() {
        let e = entry(&[(FIELD_APP, b"nope"), (FIELD_EVENTS, b"{\0 not json")]);
        let Body::Poison { message, raw, .. } = decode(&e).body else {
            panic!("expected poison")
        };
        assert!(message.contains("no valid application id"), "{message}");
        assert!(message.contains("no valid receipt time"), "{message}");
        assert!(message.contains("not a valid event array"), "{message}");
        assert_eq!(raw["fields"]["events"], "{ not json");
        assert_eq!(
            entry_time(&e.id).unwrap().timestamp_millis(),
            1_700_000_000_000
        );
    }
}
