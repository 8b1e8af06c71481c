//! The pure half of the consumer: what a stream entry is ([`Entry::decode`]) and what a batch
//! of entries writes ([`plan`]): stored events, quarantined ones, notifications, outbox rows
//! disposed of. No database and no Redis here, so every rule is unit-tested.

use chrono::{DateTime, Utc};
use redis::{Value as RedisValue, streams::StreamId};
use roost_common::pipeline::{
    DomainEvent, Event, EventBatch, QuarantineCode, ROOST_APPLICATION_ID, domain_event::DecodeError,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    store::{Writes, events::ToStore, ingest_errors::ToQuarantine, notifications::NewNotification},
    validate::Validator,
};

/// A decoded stream entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: String,
    /// How often the group has delivered it (1 on a first read).
    pub deliveries: usize,
    pub body: Body,
}

#[derive(Clone, Debug)]
pub enum Body {
    Batch(EventBatch),
    /// Cannot be processed: quarantined with what could be read of it.
    Poison {
        application: Option<Uuid>,
        /// The one event at fault, when the entry could be read.
        event: Option<Uuid>,
        message: String,
        raw: Value,
    },
}

impl Entry {
    /// Decodes an events-stream entry; one that is not an [`EventBatch`] becomes poison
    /// carrying what could be read of it.
    pub fn decode(entry: &StreamId, deliveries: usize) -> Self {
        let body = match EventBatch::decode(entry) {
            Ok(batch) => Body::Batch(batch),
            Err(unreadable) => Body::Poison {
                application: unreadable.application,
                event: None,
                message: unreadable.to_string(),
                raw: raw_entry(entry),
            },
        };
        Self {
            id: entry.id.clone(),
            deliveries,
            body,
        }
    }

    /// How many events it holds (a poison entry counts as one).
    pub fn events(&self) -> usize {
        match &self.body {
            Body::Batch(batch) => batch.events.len(),
            Body::Poison { .. } => 1,
        }
    }

    /// The entry reduced to one of its events.
    pub fn single(&self, batch: &EventBatch, event: Event) -> Self {
        Self {
            id: self.id.clone(),
            deliveries: self.deliveries,
            body: Body::Batch(EventBatch {
                application: batch.application,
                received_at: batch.received_at,
                events: vec![event],
            }),
        }
    }

    /// The quarantine entry for one of its events that could not be stored even alone.
    pub fn poisoned(&self, application: Uuid, event: &Event, error: &str) -> Self {
        Self {
            id: self.id.clone(),
            deliveries: self.deliveries,
            body: Body::Poison {
                application: Some(application),
                event: Some(event.id),
                message: format!(
                    "could not be stored after {} deliveries: {error}",
                    self.deliveries
                ),
                raw: without_nul(
                    serde_json::to_value(event).unwrap_or_else(|_| json!({"id": event.id})),
                ),
            },
        }
    }
}

/// What `entries` write: client events are checked by `validator` (a broken rule goes to the
/// quarantine with its code), domain events of the `roost` application are stored as they
/// are, their outbox rows deleted, and `comment.created` asks for a notification; a poison
/// entry is quarantined as `poison_message`.
pub fn plan<'a>(entries: &'a [Entry], validator: &Validator) -> Writes<'a> {
    let mut writes = Writes::default();
    for entry in entries {
        match &entry.body {
            Body::Batch(batch) => plan_batch(batch, validator, &mut writes),
            Body::Poison {
                application,
                event,
                message,
                raw,
            } => {
                // A domain event is disposed of either way: its outbox row goes too.
                if let (Some(ROOST_APPLICATION_ID), Some(id)) = (application, event) {
                    writes.outbox_ids.push(*id);
                }
                writes.quarantine.push(ToQuarantine {
                    source: event
                        .map_or_else(|| format!("entry:{}", entry.id), |id| format!("event:{id}")),
                    application: *application,
                    code: QuarantineCode::PoisonMessage,
                    message: message.clone(),
                    event: raw.to_string(),
                    received_at: entry_time(&entry.id).unwrap_or_else(Utc::now),
                });
            }
        }
    }
    writes
}

fn plan_batch<'a>(batch: &'a EventBatch, validator: &Validator, writes: &mut Writes<'a>) {
    let domain = batch.application == ROOST_APPLICATION_ID;
    for event in &batch.events {
        // Domain events are the platform's own: no payload rules, and their time comes from
        // PostgreSQL's clock, not the API host's.
        let checked = if domain {
            Ok(())
        } else {
            validator.check(event, batch.received_at)
        };
        match checked {
            Ok(()) => {
                if domain {
                    writes.outbox_ids.push(event.id);
                    writes.notifications.extend(notification_for(event));
                }
                writes.events.push(ToStore {
                    application: batch.application,
                    received_at: batch.received_at,
                    event,
                });
            }
            Err(rejection) => writes.quarantine.push(ToQuarantine {
                source: format!("event:{}", event.id),
                application: Some(batch.application),
                code: rejection.code(),
                message: rejection.message().to_owned(),
                event: serde_json::to_string(event)
                    .unwrap_or_else(|_| json!({"id": event.id}).to_string()),
                received_at: batch.received_at,
            }),
        }
    }
}

/// The notification a domain event asks for, if any. A `comment.created` whose payload does
/// not decode (an API of another version) is stored but notifies nobody, loudly.
fn notification_for(event: &Event) -> Option<NewNotification> {
    // Only comments notify: the other domain events are not parsed at all.
    if event.name != "comment.created" {
        return None;
    }
    match DomainEvent::decode(event) {
        Ok(Some(DomainEvent::CommentCreated(comment))) => NewNotification::for_comment(&comment),
        Ok(_) => None,
        Err(DecodeError { name, source }) => {
            tracing::error!(event = %event.id, name, error = %source, "a domain event's payload does not decode; it is stored but notifies nobody");
            None
        }
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

/// The time a stream entry was added (its id's millisecond part).
fn entry_time(id: &str) -> Option<DateTime<Utc>> {
    let ms: i64 = id.split_once('-')?.0.parse().ok()?;
    DateTime::from_timestamp_millis(ms)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::Duration;
    use roost_common::pipeline::{
        EventData, Keys,
        domain_event::{self, CommentCreated},
    };

    use super::*;

    fn stream_entry(fields: &[(&str, &[u8])]) -> StreamId {
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

    fn event(category: &str, name: &str, data: &str, timestamp: DateTime<Utc>) -> Event {
        Event {
            id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
            category: category.into(),
            name: name.into(),
            data: EventData::from_json(data.into()).unwrap(),
            timestamp,
        }
    }

    fn batch_entry(application: Uuid, received_at: DateTime<Utc>, events: Vec<Event>) -> Entry {
        Entry {
            id: "1700000000000-0".into(),
            deliveries: 1,
            body: Body::Batch(EventBatch {
                application,
                received_at,
                events,
            }),
        }
    }

    fn comment(author: i64, commenter: i64, text: &str) -> Event {
        let domain = DomainEvent::CommentCreated(CommentCreated {
            comment_id: 9,
            post_id: 5,
            post_author_id: author,
            user_id: commenter,
            username: "ann".into(),
            email: None,
            timestamp: Utc::now(),
            text: text.into(),
        });
        Event {
            id: Uuid::new_v4(),
            session_id: Uuid::nil(),
            category: domain_event::CATEGORY.into(),
            name: domain.name().into(),
            data: domain.data().unwrap(),
            timestamp: Utc::now(),
        }
    }

    #[test]
    fn client_events_are_stored_or_quarantined_with_their_rule() {
        let now = Utc::now();
        let app = Uuid::new_v4();
        let good = event(
            "page interaction",
            "pageview",
            r#"{"host": "a", "path": "/"}"#,
            now,
        );
        let broken = event("page interaction", "pageview", r#"{"host": 1}"#, now);
        let future = event("x", "y", "{}", now + Duration::minutes(6));
        let entries = [batch_entry(
            app,
            now,
            vec![good.clone(), broken.clone(), future.clone()],
        )];
        let writes = plan(&entries, &Validator::new());
        assert_eq!(writes.events.len(), 1);
        assert_eq!(writes.events[0].event.id, good.id);
        let codes: Vec<_> = writes.quarantine.iter().map(|q| q.code).collect();
        assert_eq!(
            codes,
            [
                QuarantineCode::PayloadInvalid,
                QuarantineCode::FutureTimestamp
            ]
        );
        assert_eq!(writes.quarantine[0].source, format!("event:{}", broken.id));
        assert_eq!(writes.quarantine[1].application, Some(app));
        assert!(writes.notifications.is_empty() && writes.outbox_ids.is_empty());
    }

    #[test]
    fn domain_events_skip_the_rules_and_comments_notify_the_post_author() {
        let long = "é".repeat(150);
        let theirs = comment(1, 2, &long);
        let own = comment(2, 2, "mine");
        let mut odd = comment(1, 2, "x");
        odd.data = EventData::from_json(r#"{"comment_id": "not a number"}"#.into()).unwrap();
        // Far in the future: domain events are not checked.
        let later = event(
            domain_event::CATEGORY,
            "user.logged_in",
            "{}",
            Utc::now() + Duration::days(1),
        );
        let entries = [batch_entry(
            ROOST_APPLICATION_ID,
            Utc::now(),
            vec![theirs.clone(), own.clone(), odd.clone(), later.clone()],
        )];
        let writes = plan(&entries, &Validator::new());
        assert_eq!(writes.events.len(), 4);
        assert!(writes.quarantine.is_empty());
        assert_eq!(writes.outbox_ids, [theirs.id, own.id, odd.id, later.id]);
        assert_eq!(
            writes.notifications,
            [NewNotification {
                user_id: 1,
                actor_id: 2,
                post_id: 5,
                comment_id: 9,
                excerpt: "é".repeat(100),
            }]
        );
    }

    #[test]
    fn poison_entries_are_quarantined_and_dispose_of_their_outbox_row() {
        let e = stream_entry(&[("app", b"nope"), ("events", b"{\0 not json")]);
        let entry = Entry::decode(&e, 1);
        let Body::Poison { message, raw, .. } = &entry.body else {
            panic!("expected poison")
        };
        assert!(message.contains("no valid application id"), "{message}");
        assert!(message.contains("no valid receipt time"), "{message}");
        assert!(message.contains("not a valid event array"), "{message}");
        assert_eq!(raw["fields"]["events"], "{ not json");
        let writes = plan(std::slice::from_ref(&entry), &Validator::new());
        assert_eq!(writes.quarantine.len(), 1);
        let q = &writes.quarantine[0];
        assert_eq!(q.code, QuarantineCode::PoisonMessage);
        assert_eq!(q.source, "entry:1700000000000-0");
        assert_eq!(q.received_at.timestamp_millis(), 1_700_000_000_000);
        assert!(writes.outbox_ids.is_empty());

        let domain = comment(1, 2, "a\0b");
        let poisoned = entry.poisoned(ROOST_APPLICATION_ID, &domain, "boom");
        let writes = plan(std::slice::from_ref(&poisoned), &Validator::new());
        assert_eq!(writes.outbox_ids, [domain.id]);
        assert_eq!(writes.quarantine[0].source, format!("event:{}", domain.id));
        assert!(!writes.quarantine[0].event.contains("\\u0000"));
        assert!(
            writes.quarantine[0]
                .message
                .starts_with("could not be stored after 1 deliveries: boom")
        );
    }

    #[test]
    fn entries_written_by_the_api_decode_as_batches() {
        let app = Uuid::new_v4();
        let now = Utc::now();
        let cmd = EventBatch::xadd(&Keys::new("t:"), app, now, &[]).unwrap();
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => b.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        let fields: Vec<(&str, &[u8])> = args[3..]
            .chunks(2)
            .map(|p| (std::str::from_utf8(&p[0]).unwrap(), p[1].as_slice()))
            .collect();
        let entry = Entry::decode(&stream_entry(&fields), 3);
        assert_eq!(entry.deliveries, 3);
        let Body::Batch(batch) = entry.body else {
            panic!("expected a batch")
        };
        assert_eq!(batch.application, app);
    }

    #[test]
    fn nul_characters_are_removed_everywhere() {
        let v = json!({"a\u{0}": ["x\u{0}y", {"k": "\u{0}"}], "n": 1});
        assert_eq!(without_nul(v), json!({"a": ["xy", {"k": ""}], "n": 1}));
    }
}
