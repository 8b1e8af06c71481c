//! The stream entries, each with its one encoder (the `XADD` that writes it) and its one
//! decoder (what the worker reads back).
//!
//! - Events stream ([`EventBatch`]): one entry holds one accepted request's events (up to
//!   1000), so accepting a batch is one `XADD` and a batch is taken whole or not at all.
//!   Fields: `app` (application id), `received_at` (RFC 3339, microseconds, UTC) and `events`
//!   (a JSON array of [`Event`]s).
//! - Jobs stream ([`JobWakeUp`]): one field, `job` (the job id; PostgreSQL holds the job).

use chrono::{DateTime, Utc};
use redis::{Value as RedisValue, streams::StreamId};
use uuid::Uuid;

use super::{Keys, event::Event, event::format_time};

const FIELD_APP: &str = "app";
const FIELD_RECEIVED_AT: &str = "received_at";
const FIELD_EVENTS: &str = "events";
const FIELD_JOB: &str = "job";

/// An entry of the events stream: one accepted request's events.
#[derive(Clone, Debug, PartialEq)]
pub struct EventBatch {
    pub application: Uuid,
    pub received_at: DateTime<Utc>,
    pub events: Vec<Event>,
}

/// An events-stream entry that cannot be read: what could be read of it and why not.
#[derive(Clone, Debug, PartialEq)]
pub struct UnreadableEntry {
    /// The application id, when that field could be read.
    pub application: Option<Uuid>,
    /// Every problem found, e.g. "no valid receipt time".
    pub problems: Vec<String>,
}

impl std::fmt::Display for UnreadableEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable stream entry: {}", self.problems.join("; "))
    }
}

impl EventBatch {
    /// The `XADD` appending a batch; `events` are serialised here. Errors only when an
    /// event's data cannot be serialised (it was parsed from JSON, so in practice never).
    pub fn xadd(
        keys: &Keys,
        application: Uuid,
        received_at: DateTime<Utc>,
        events: &[Event],
    ) -> Result<redis::Cmd, serde_json::Error> {
        let json = serde_json::to_vec(events)?;
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&keys.events)
            .arg("*")
            .arg(FIELD_APP)
            .arg(application.to_string())
            .arg(FIELD_RECEIVED_AT)
            .arg(format_time(received_at))
            .arg(FIELD_EVENTS)
            .arg(json);
        Ok(cmd)
    }

    /// Reads an entry written by [`EventBatch::xadd`], collecting every problem when it is
    /// not one (a hand-written or truncated entry).
    pub fn decode(entry: &StreamId) -> Result<Self, UnreadableEntry> {
        let application = field_str(entry, FIELD_APP).and_then(|s| Uuid::parse_str(&s).ok());
        let received_at = field_str(entry, FIELD_RECEIVED_AT)
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc));
        let events = match entry.map.get(FIELD_EVENTS) {
            Some(RedisValue::BulkString(bytes)) => serde_json::from_slice::<Vec<Event>>(bytes)
                .map_err(|e| format!("the events field is not a valid event array: {e}")),
            _ => Err("the entry has no events field".to_owned()),
        };
        match (application, received_at, events) {
            (Some(application), Some(received_at), Ok(events)) => Ok(Self {
                application,
                received_at,
                events,
            }),
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
                Err(UnreadableEntry {
                    application,
                    problems,
                })
            }
        }
    }
}

/// An entry of the jobs stream: wakes a job runner for a job stored in PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobWakeUp {
    pub job: Uuid,
}

impl JobWakeUp {
    /// The `XADD` appending this wake-up.
    pub fn xadd(self, keys: &Keys) -> redis::Cmd {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&keys.jobs)
            .arg("*")
            .arg(FIELD_JOB)
            .arg(self.job.to_string());
        cmd
    }

    /// Reads an entry written by [`JobWakeUp::xadd`]; `None` when it holds no job id.
    pub fn decode(entry: &StreamId) -> Option<Self> {
        let job = Uuid::parse_str(&field_str(entry, FIELD_JOB)?).ok()?;
        Some(Self { job })
    }
}

fn field_str(entry: &StreamId, field: &str) -> Option<String> {
    match entry.map.get(field)? {
        RedisValue::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        RedisValue::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::pipeline::EventData;

    /// What `XREADGROUP` hands back for the arguments an `XADD` was given.
    fn as_read(cmd: &redis::Cmd) -> StreamId {
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        // XADD <stream> * field value field value ...
        let map: HashMap<String, RedisValue> = args[3..]
            .chunks(2)
            .map(|pair| {
                (
                    String::from_utf8(pair[0].clone()).unwrap(),
                    RedisValue::BulkString(pair[1].clone()),
                )
            })
            .collect();
        StreamId {
            id: "1-0".into(),
            map,
            milliseconds_elapsed_from_delivery: None,
            delivered_count: None,
        }
    }

    fn entry(fields: &[(&str, &[u8])]) -> StreamId {
        StreamId {
            id: "1-0".into(),
            map: fields
                .iter()
                .map(|(k, v)| (k.to_string(), RedisValue::BulkString(v.to_vec())))
                .collect(),
            milliseconds_elapsed_from_delivery: None,
            delivered_count: None,
        }
    }

    #[test]
    fn batches_round_trip_through_their_encoder_and_decoder() {
        let keys = Keys::new("t:");
        let app = Uuid::new_v4();
        let received_at = DateTime::parse_from_rfc3339("2026-11-23T10:00:00.000001Z")
            .unwrap()
            .with_timezone(&Utc);
        let events = vec![Event {
            id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
            category: "page interaction".into(),
            name: "pageview".into(),
            data: EventData::from_json(r#"{"n": 12345678901234567890123}"#.into()).unwrap(),
            timestamp: received_at,
        }];
        let cmd = EventBatch::xadd(&keys, app, received_at, &events).unwrap();
        let read = as_read(&cmd);
        assert_eq!(
            EventBatch::decode(&read).unwrap(),
            EventBatch {
                application: app,
                received_at,
                events
            }
        );
    }

    #[test]
    fn broken_batches_name_every_problem() {
        let e = entry(&[(FIELD_APP, b"nope"), (FIELD_EVENTS, b"{\0 not json")]);
        let err = EventBatch::decode(&e).unwrap_err();
        assert_eq!(err.application, None);
        assert_eq!(err.problems.len(), 3, "{err}");
        assert!(
            err.to_string()
                .starts_with("unreadable stream entry: no valid application id")
        );
        let app = Uuid::new_v4();
        let e = entry(&[(FIELD_APP, app.to_string().as_bytes())]);
        let err = EventBatch::decode(&e).unwrap_err();
        assert_eq!(err.application, Some(app));
        assert_eq!(
            err.problems,
            ["no valid receipt time", "the entry has no events field"]
        );
    }

    #[test]
    fn job_wake_ups_round_trip() {
        let keys = Keys::new("t:");
        let wake = JobWakeUp {
            job: Uuid::new_v4(),
        };
        assert_eq!(JobWakeUp::decode(&as_read(&wake.xadd(&keys))), Some(wake));
        assert_eq!(JobWakeUp::decode(&entry(&[(FIELD_JOB, b"x")])), None);
        assert_eq!(JobWakeUp::decode(&entry(&[])), None);
    }
}
