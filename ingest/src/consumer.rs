//! The event consumer: read a batch from the stream (consumer group) → validate → write it in
//! one transaction → commit → acknowledge → announce new notifications. At-least-once with
//! idempotent writes, so the effect is exactly once.
//!
//! Failure handling:
//! - the database is away (connection errors and the like): the batch is retried in place,
//!   never acknowledged, its entries kept from being reclaimed; the stream backlog grows;
//! - one entry is at fault (a data error): the batch is split and each entry retried alone; the
//!   faulty one stays pending and is redelivered after `claim_idle`; once it has been delivered
//!   more than `max_deliveries` times and fails again, it is split into its events, and only
//!   the events that fail on their own go to the quarantine as `poison_message`;
//! - a worker dies: its pending entries are reclaimed (`XAUTOCLAIM`) by the others. A delivery
//!   count alone never quarantines anything: restarts during a database outage are harmless.
//! - a batch that keeps failing for another reason (a statement timeout, say) is halved after a
//!   few attempts, so one oversized batch cannot stall a worker.

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
    Handles, Stop,
    metrics::Metrics,
    store::{self, NewNotification, ToQuarantine, ToStore},
    streams::{Group, Reader},
    validate::Validator,
};

/// A decoded stream entry.
struct Entry {
    id: String,
    /// How often the group has delivered it (1 on a first read).
    deliveries: usize,
    body: Body,
}

/// Most events written in one transaction; larger reads are committed in chunks.
const MAX_BATCH_EVENTS: usize = 10_000;
/// Transient failures of one batch before it is halved.
const HALVE_AFTER: u32 = 3;

impl Entry {
    fn events(&self) -> usize {
        match &self.body {
            Body::Batch { events, .. } => events.len(),
            Body::Poison { .. } => 1,
        }
    }
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
        /// The one event at fault, when the entry could be read.
        event: Option<Uuid>,
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

/// The value with NUL characters removed from every string and key (`jsonb` refuses them), so
/// a quarantine row can always be written.
fn without_nul(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace('\0', "")),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace('\0', ""), without_nul(v)))
                .collect(),
        ),
        other => other,
    }
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
                event: None,
                message: format!("unreadable stream entry: {}", problems.join("; ")),
                raw: raw_entry(entry),
            }
        }
    };
    Entry {
        id: entry.id.clone(),
        deliveries: 1,
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

/// How many entries the next read asks for: about `batch_bytes` worth at the recent entry size,
/// at most `batch_entries`. The size estimate follows a larger read at once and decays by
/// half per read towards smaller ones, so a consumer of 1 MiB entries reads a handful at a time.
struct ReadSize {
    max_entries: usize,
    budget: usize,
    entry_bytes: usize,
}

impl ReadSize {
    fn new(settings: &PipelineSettings) -> Self {
        Self {
            max_entries: settings.batch_entries,
            budget: settings.batch_bytes,
            // Until the first read: assume sizeable entries.
            entry_bytes: 64 * 1024,
        }
    }

    fn count(&self) -> usize {
        (self.budget / self.entry_bytes.max(1)).clamp(1, self.max_entries)
    }

    fn observe(&mut self, entries: &[StreamId]) {
        if entries.is_empty() {
            return;
        }
        let bytes: usize = entries
            .iter()
            .flat_map(|e| e.map.values())
            .map(|v| match v {
                RedisValue::BulkString(b) => b.len(),
                _ => 0,
            })
            .sum();
        self.entry_bytes = (bytes / entries.len()).max(self.entry_bytes / 2).max(1);
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
    pub fn new(handles: Handles, settings: PipelineSettings) -> Self {
        let Handles {
            db,
            redis,
            client,
            keys,
            consumer,
            metrics,
        } = handles;
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
        let mut reader = Reader::new(self.group.clone(), self.client.clone(), self.settings.block);
        let claim_every = (self.settings.claim_idle / 2).max(Duration::from_secs(1));
        let mut last_claim: Option<Instant> = None;
        let mut size = ReadSize::new(&self.settings);
        while !stop.is_set() {
            if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                last_claim = Some(Instant::now());
                self.reclaim(size.count(), &stop).await;
            }
            let entries = reader.next(&mut self.redis, size.count(), &stop).await;
            size.observe(&entries);
            if !entries.is_empty() {
                let entries = entries.iter().map(decode).collect();
                self.process(entries, &stop).await;
            }
        }
        tracing::info!("event consumer stopped");
    }

    /// Takes over entries other consumers (or this one, for an entry at fault) left pending.
    async fn reclaim(&mut self, count: usize, stop: &Stop) {
        let claimed = match self
            .group
            .reclaim(&mut self.redis, self.settings.claim_idle, count)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                // No group yet (a fresh Redis) means nothing to reclaim.
                if error.code() != Some("NOGROUP") {
                    tracing::warn!(%error, "reclaiming pending entries failed");
                }
                return;
            }
        };
        if claimed.is_empty() {
            return;
        }
        self.metrics.reclaimed.inc_by(claimed.len() as u64);
        tracing::info!(entries = claimed.len(), "reclaimed pending entries");
        let (fresh, repeated): (Vec<Entry>, Vec<Entry>) = claimed
            .iter()
            .map(|(entry, delivered)| Entry {
                deliveries: *delivered,
                ..decode(entry)
            })
            .partition(|e| e.deliveries <= self.settings.max_deliveries as usize);
        self.process(fresh, stop).await;
        // Entries that failed before are tried one at a time, so one cannot hold others back.
        for entry in repeated {
            self.process(vec![entry], stop).await;
        }
    }

    /// Stores a batch, retrying in place while the database is away, splitting it when one
    /// entry is at fault, and halving it when it keeps failing.
    async fn process(&mut self, entries: Vec<Entry>, stop: &Stop) {
        if entries.is_empty() {
            return;
        }
        let total: usize = entries.iter().map(Entry::events).sum();
        if total > MAX_BATCH_EVENTS && entries.len() > 1 {
            let mut chunks: Vec<Vec<Entry>> = vec![Vec::new()];
            let mut size = 0;
            for entry in entries {
                if size + entry.events() > MAX_BATCH_EVENTS
                    && chunks.last().is_some_and(|c| !c.is_empty())
                {
                    chunks.push(Vec::new());
                    size = 0;
                }
                size += entry.events();
                if let Some(chunk) = chunks.last_mut() {
                    chunk.push(entry);
                }
            }
            for i in 0..chunks.len() {
                if i > 0 {
                    // The chunks still waiting were read with the first: refresh their idle
                    // time so another consumer does not reclaim them meanwhile.
                    let waiting: Vec<String> =
                        chunks[i..].iter().flatten().map(|e| e.id.clone()).collect();
                    if let Err(error) = self.group.keep_alive(&mut self.redis, &waiting).await {
                        tracing::warn!(%error, "keeping waiting entries claimed failed");
                    }
                }
                let chunk = std::mem::take(&mut chunks[i]);
                Box::pin(self.process(chunk, stop)).await;
            }
            return;
        }
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut last_keep_alive = Instant::now();
        let mut failures = 0;
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
                    if entries.len() > 1 {
                        tracing::warn!(error = %error, entries = entries.len(), "a batch failed on its data; retrying its entries one by one");
                        for entry in entries {
                            Box::pin(self.process(vec![entry], stop)).await;
                        }
                        return;
                    }
                    let Some(entry) = entries.into_iter().next() else {
                        return;
                    };
                    if entry.deliveries > self.settings.max_deliveries as usize {
                        self.quarantine_failing_events(entry, &error.to_string(), stop)
                            .await;
                    } else {
                        tracing::error!(entry = %entry.id, deliveries = entry.deliveries, error = %error, "an entry cannot be stored; it stays pending and will be retried");
                    }
                    return;
                }
                Err(error) => {
                    failures += 1;
                    self.metrics
                        .batch_failures
                        .with_label_values(&["transient"])
                        .inc();
                    tracing::warn!(error = %error, entries = entries.len(), retry_in_ms = delay.as_millis() as u64, "storing a batch failed; retrying");
                    if stop.is_set() {
                        // Left pending: another worker (or this one after a restart) takes it.
                        return;
                    }
                    if failures >= HALVE_AFTER && entries.len() > 1 {
                        let mut first = entries;
                        let second = first.split_off(first.len() / 2);
                        Box::pin(self.process(first, stop)).await;
                        Box::pin(self.process(second, stop)).await;
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

    /// An entry that failed on its data more than `max_deliveries` times: each event is tried
    /// on its own; the ones that still fail are quarantined (`poison_message`) with the error,
    /// the others stored. Then the entry is acknowledged.
    async fn quarantine_failing_events(&mut self, entry: Entry, error: &str, stop: &Stop) {
        let Body::Batch {
            application,
            received_at,
            events,
        } = entry.body
        else {
            return; // a poison body is a plain insert; it cannot fail on its data
        };
        tracing::warn!(entry = %entry.id, deliveries = entry.deliveries, %error, "an entry keeps failing; storing its events one by one");
        let mut poisoned = Vec::new();
        for event in events {
            let single = Entry {
                id: entry.id.clone(),
                deliveries: entry.deliveries,
                body: Body::Batch {
                    application,
                    received_at,
                    events: vec![event.clone()],
                },
            };
            loop {
                match self.commit(std::slice::from_ref(&single)).await {
                    Ok(outcome) => {
                        self.record(&outcome, Instant::now()).await;
                        break;
                    }
                    Err(e) if is_data_error(&e) => {
                        poisoned.push((event, e.to_string()));
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "storing an event failed; retrying");
                        if stop.is_set() {
                            return; // still pending: retried from the start later
                        }
                        stop.sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        let quarantine: Vec<Entry> = poisoned
            .into_iter()
            .map(|(event, message)| Entry {
                id: entry.id.clone(),
                deliveries: entry.deliveries,
                body: Body::Poison {
                    application: Some(application),
                    event: Some(event.id),
                    message: format!(
                        "could not be stored after {} deliveries: {message}",
                        entry.deliveries
                    ),
                    raw: without_nul(
                        serde_json::to_value(&event).unwrap_or_else(|_| json!({"id": event.id})),
                    ),
                },
            })
            .collect();
        // The quarantine rows themselves cannot fail on their data (NULs are stripped).
        if quarantine.is_empty() {
            if let Err(e) = self
                .group
                .ack(&mut self.redis, std::slice::from_ref(&entry.id))
                .await
            {
                tracing::warn!(error = %e, "acknowledging an entry failed");
            }
        } else {
            Box::pin(self.process(quarantine, stop)).await;
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
                    let domain = *application == ROOST_APPLICATION_ID;
                    for event in events {
                        // Domain events are the platform's own: no payload rules, and their
                        // time comes from PostgreSQL's clock, not the API host's.
                        let checked = if domain {
                            Ok(())
                        } else {
                            self.validator.check(event, *received_at)
                        };
                        match checked {
                            Ok(()) => {
                                if domain {
                                    outbox_ids.push(event.id);
                                    notifications.extend(store::notification_for(event));
                                }
                                to_store.push(ToStore {
                                    application: *application,
                                    received_at: *received_at,
                                    event,
                                });
                            }
                            Err(rejection) => quarantine.push(ToQuarantine {
                                source: format!("event:{}", event.id),
                                application: Some(*application),
                                code: rejection.code(),
                                message: rejection.message().to_owned(),
                                event: serde_json::to_string(event)
                                    .unwrap_or_else(|_| json!({"id": event.id}).to_string()),
                                received_at: *received_at,
                            }),
                        }
                    }
                }
                Body::Poison {
                    application,
                    event,
                    message,
                    raw,
                } => {
                    // A domain event is disposed of either way: its outbox row goes too.
                    if let (Some(ROOST_APPLICATION_ID), Some(id)) = (application, event) {
                        outbox_ids.push(*id);
                    }
                    quarantine.push(ToQuarantine {
                        source: event.map_or_else(
                            || format!("entry:{}", entry.id),
                            |id| format!("event:{id}"),
                        ),
                        application: *application,
                        code: "poison_message",
                        message: message.clone(),
                        event: raw.to_string(),
                        received_at: entry_time(&entry.id).unwrap_or_else(Utc::now),
                    })
                }
            }
        }
        let mut tx = self.db.begin().await?;
        // A batch that cannot finish in time fails (and is halved) instead of stalling.
        sqlx::query("SET LOCAL statement_timeout = '60s'")
            .execute(&mut *tx)
            .await?;
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
        self.record(&outcome, started).await;
    }

    /// Counts a committed batch and announces its new notifications.
    async fn record(&mut self, outcome: &store::Outcome, started: Instant) {
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
    fn read_size_follows_entry_size_within_bounds() {
        let mut size = ReadSize {
            max_entries: 1000,
            budget: 1 << 20,
            entry_bytes: 64 * 1024,
        };
        assert_eq!(size.count(), 16);
        // Small entries: the estimate halves per read, then the count is capped.
        let small = vec![entry(&[(FIELD_EVENTS, &[b'x'; 100])]); 10];
        for _ in 0..20 {
            size.observe(&small);
        }
        assert_eq!(size.entry_bytes, 100);
        assert_eq!(size.count(), 1000);
        // One read of large entries takes the estimate up at once.
        size.observe(&[entry(&[(FIELD_EVENTS, &vec![b'x'; 512 * 1024])])]);
        assert_eq!(size.count(), 2);
        size.observe(&[]);
        assert_eq!(size.count(), 2);
    }

    #[test]
    fn nul_characters_are_removed_everywhere() {
        let v = json!({"a\u{0}": ["x\u{0}y", {"k": "\u{0}"}], "n": 1});
        assert_eq!(without_nul(v), json!({"a": ["xy", {"k": ""}], "n": 1}));
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
