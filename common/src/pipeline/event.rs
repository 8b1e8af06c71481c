//! The event envelope as it travels through the stream: validated, its id assigned. The API
//! (client events) and the outbox (domain events) write it; the worker stores it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The built-in application `roost` (created by the migrations) that owns the domain events.
pub const ROOST_APPLICATION_ID: Uuid = Uuid::from_u128(1);

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
pub(crate) fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
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
