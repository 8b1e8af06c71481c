//! The pipeline's shared vocabulary: Redis key names, the event envelope and the stream entry
//! format. The API and the outbox write entries; the ingest worker reads them.
//!
//! One stream entry holds one accepted request's events (up to 1000), so accepting a batch is
//! one `XADD`: fields `app` (application id), `received_at` (RFC 3339, microseconds) and
//! `events` (a JSON array of [`Event`]s).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The built-in application `roost` (created by the migrations) that owns the domain events.
pub const ROOST_APPLICATION_ID: Uuid = Uuid::from_u128(1);

/// Consumer group of the ingest workers on the events stream.
pub const EVENTS_GROUP: &str = "ingest";
/// Consumer group of the job runners on the jobs stream.
pub const JOBS_GROUP: &str = "jobs";

pub const FIELD_APP: &str = "app";
pub const FIELD_RECEIVED_AT: &str = "received_at";
pub const FIELD_EVENTS: &str = "events";
/// The jobs stream's one field: the job id (PostgreSQL holds the job itself).
pub const FIELD_JOB: &str = "job";

/// Every Redis key Roost uses, under the configured prefix.
#[derive(Clone, Debug)]
pub struct Keys {
    pub events: String,
    pub jobs: String,
    /// Pub/sub channel fanning notifications out to every API replica.
    pub notifications: String,
    /// Pub/sub channel telling every API replica of a revoked token or API key.
    pub revocations: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            events: format!("{prefix}events"),
            jobs: format!("{prefix}jobs"),
            notifications: format!("{prefix}notifications"),
            revocations: format!("{prefix}revocations"),
        }
    }
}

/// Messages on the notifications pub/sub channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotificationMessage {
    /// The worker created notification `id` for `user_id`: a replica with a socket of that
    /// user claims it.
    Created { user_id: i64, id: i64 },
    /// A replica claimed a notification: every replica writes `item` to its sockets of
    /// `user_id` (except `origin`, which already did).
    Deliver {
        user_id: i64,
        origin: Uuid,
        item: serde_json::Value,
    },
}

/// Messages on the revocations pub/sub channel. PostgreSQL records every revocation first;
/// these only make every replica act on it at once instead of at its next check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Revocation {
    /// An access token was logged out: close every socket opened with it.
    Token { jti: Uuid },
    /// A client application's key was revoked: drop it from every API key cache.
    Application { id: Uuid },
}

impl Revocation {
    /// Announces the revocation to every API replica (`PUBLISH`; the number of replicas that
    /// heard it).
    pub async fn publish(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        keys: &Keys,
    ) -> anyhow::Result<i64> {
        let payload = serde_json::to_string(self)?;
        let heard = redis::cmd("PUBLISH")
            .arg(&keys.revocations)
            .arg(payload)
            .query_async(conn)
            .await?;
        Ok(heard)
    }
}

/// One event as it travels through the stream (validated envelope, id assigned).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub session_id: Uuid,
    pub category: String,
    pub name: String,
    pub data: EventData,
    pub timestamp: DateTime<Utc>,
}

/// An event's `data`: a JSON object kept as the text the client sent, from the request body to
/// PostgreSQL's `jsonb`, so numbers keep every digit (`12345678901234567890123` and
/// `0.1234567890123456789` are not rounded through `f64`). [`EventData::value`] parses it for
/// the checks that need fields.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventData(Box<serde_json::value::RawValue>);

impl EventData {
    /// Wraps JSON text (checked to be JSON, not to be an object).
    pub fn from_json(text: String) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(text).map(Self)
    }

    /// Serialises a value (domain events' payloads).
    pub fn from_serialize(value: &impl Serialize) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    /// The JSON text, as received.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    /// The data parsed for inspection (numbers beyond `f64` are rounded: never store this).
    pub fn value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

impl From<Box<serde_json::value::RawValue>> for EventData {
    fn from(raw: Box<serde_json::value::RawValue>) -> Self {
        Self(raw)
    }
}

impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

/// The session of a domain event: the acting user's id in the low bits of a UUID, so all of one
/// user's domain events can be read as a session (`…-0000000000000042` is user 42).
pub fn user_session(user_id: i64) -> Uuid {
    Uuid::from_u64_pair(0, u64::try_from(user_id).unwrap_or_default())
}

/// Formats a receipt time the way entries carry it.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The `XADD` for one accepted batch. `events_json` is the serialised array of [`Event`]s.
pub fn xadd(
    keys: &Keys,
    application: Uuid,
    received_at: DateTime<Utc>,
    events_json: &[u8],
) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(&keys.events)
        .arg("*")
        .arg(FIELD_APP)
        .arg(application.to_string())
        .arg(FIELD_RECEIVED_AT)
        .arg(format_time(received_at))
        .arg(FIELD_EVENTS)
        .arg(events_json);
    cmd
}

/// A stream's length and, when it holds entries, its consumer groups (`XLEN`, then
/// `XINFO GROUPS`, which fails on a missing key): what the worker's gauges and trimming and
/// `roost-api doctor` read. A group's `lag` is `None` when Redis cannot count it.
pub async fn length_and_groups(
    conn: &mut impl redis::aio::ConnectionLike,
    stream: &str,
) -> redis::RedisResult<(u64, Vec<redis::streams::StreamInfoGroup>)> {
    let length: u64 = redis::cmd("XLEN").arg(stream).query_async(conn).await?;
    if length == 0 {
        return Ok((0, Vec::new()));
    }
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await?;
    Ok((length, groups.groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_sessions_are_readable_and_distinct() {
        assert_eq!(
            user_session(42).to_string(),
            "00000000-0000-0000-0000-00000000002a"
        );
        assert_ne!(user_session(1), user_session(2));
    }

    #[test]
    fn events_round_trip_through_json() {
        let event = Event {
            id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
            category: "page interaction".into(),
            name: "pageview".into(),
            data: EventData::from_json(r#"{"host": "a", "n": 12345678901234567890123.5}"#.into())
                .unwrap(),
            timestamp: Utc::now(),
        };
        let json = serde_json::to_vec(&[&event]).unwrap();
        let back: Vec<Event> = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            back[0].data.as_json(),
            r#"{"host": "a", "n": 12345678901234567890123.5}"#
        );
        assert_eq!(back, vec![event]);
    }
}
