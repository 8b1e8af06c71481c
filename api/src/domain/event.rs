//! Analytics event envelopes (`POST /v1/events`): the synchronous checks. A batch is one event
//! object or an array of 1 to [`MAX_BATCH`]; each envelope is checked on its own, so one bad
//! envelope is listed by index and the rest of the batch is still accepted. Payload rules run
//! later, in the worker.
//!
//! Event `data` is never parsed into numbers here: it stays the JSON text the client sent (see
//! [`EventData`]), so it is stored and returned without rounding.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use roost_common::pipeline::{Event, EventData};
use serde_json::{Value, value::RawValue};
use uuid::Uuid;

use super::json_escape;

/// Most events in one request.
pub const MAX_BATCH: usize = 1000;
/// Largest request body, after decoding any `Content-Encoding`.
pub const MAX_BODY: usize = 1024 * 1024;

/// Why a whole request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchError {
    Malformed(String),
    TooMany(usize),
}

fn malformed(e: &serde_json::Error) -> BatchError {
    BatchError::Malformed(format!("The request body is not valid JSON: {e}."))
}

/// Splits a body into its envelopes (still unchecked JSON text). Lone UTF-16 surrogate escapes
/// are first replaced with U+FFFD in place (see [`json_escape::replace_lone_surrogates`]), so
/// a cut emoji in one event does not refuse the whole batch.
pub fn split_batch(body: &mut [u8]) -> Result<Vec<&RawValue>, BatchError> {
    json_escape::replace_lone_surrogates(body);
    let body: &[u8] = body;
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
            match items.len() {
                0 => Err(BatchError::Malformed(
                    "The array of events is empty; send 1 to 1000 events.".into(),
                )),
                n if n > MAX_BATCH => Err(BatchError::TooMany(n)),
                _ => Ok(items),
            }
        }
        Some(b'{') => Ok(vec![
            serde_json::from_slice::<&RawValue>(body).map_err(|e| malformed(&e))?,
        ]),
        _ => {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|e| malformed(&e))?;
            Err(BatchError::Malformed(
                "The request body must be one event object or an array of events.".into(),
            ))
        }
    }
}

/// A field's value, `None` when absent or `null`.
fn field(fields: &BTreeMap<String, &RawValue>, name: &str) -> Option<Value> {
    fields
        .get(name)
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        .filter(|v| !v.is_null())
}

/// Checks one envelope; the message lists every problem found.
pub fn parse_envelope(raw: &RawValue) -> Result<Event, String> {
    let Ok(mut fields) = serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get()) else {
        return Err("an event must be a JSON object".into());
    };
    let mut problems = Vec::new();
    let id = match field(&fields, "id") {
        None => Some(Uuid::new_v4()),
        Some(v) => uuid_field("id", v, &mut problems),
    };
    let session_id = match field(&fields, "session_id") {
        None => {
            problems.push("session_id: is required".to_owned());
            None
        }
        Some(v) => uuid_field("session_id", v, &mut problems),
    };
    let category = label("category", field(&fields, "category"), &mut problems);
    let name = label("name", field(&fields, "name"), &mut problems);
    let data = match fields.get("data").map(|raw| raw.get()) {
        None | Some("null") => {
            problems.push("data: is required (a JSON object)".to_owned());
            None
        }
        Some(text) if !text.starts_with('{') => {
            problems.push("data: must be a JSON object".to_owned());
            None
        }
        Some(text) if json_escape::has_nul_escape(text) => {
            problems.push("data: must not contain the NUL character (\\u0000)".to_owned());
            None
        }
        Some(text) if json_escape::has_unstorable_number(text) => {
            problems.push(
                "data: a number is beyond what can be stored (at most 131072 digits before \
                 the decimal point and 16383 after)"
                    .to_owned(),
            );
            None
        }
        Some(text) => match EventData::from_json(text.to_owned()) {
            Ok(data) => Some(data),
            Err(e) => {
                problems.push(format!("data: {e}"));
                None
            }
        },
    };
    let timestamp = match field(&fields, "timestamp") {
        None => {
            problems.push("timestamp: is required".to_owned());
            None
        }
        Some(Value::String(s)) => parse_timestamp(&s).or_else(|| {
            problems.push(
                "timestamp: must be RFC 3339 (2026-01-31T12:00:00Z) or \
                 YYYY-MM-DD HH:MM:SS[.ffffff] in UTC"
                    .to_owned(),
            );
            None
        }),
        Some(_) => {
            problems.push("timestamp: must be a string".to_owned());
            None
        }
    };
    for known in ["id", "session_id", "category", "name", "data", "timestamp"] {
        fields.remove(known);
    }
    for key in fields.keys() {
        problems.push(format!("{}: is not an event field", truncate(key, 40)));
    }
    match (id, session_id, category, name, data, timestamp) {
        (Some(id), Some(session_id), Some(category), Some(name), Some(data), Some(timestamp))
            if problems.is_empty() =>
        {
            Ok(Event {
                id,
                session_id,
                category,
                name,
                data,
                timestamp,
            })
        }
        _ => Err(problems.join("; ")),
    }
}

fn uuid_field(field: &str, value: Value, problems: &mut Vec<String>) -> Option<Uuid> {
    match value {
        Value::String(s) => Uuid::parse_str(&s).ok().or_else(|| {
            problems.push(format!("{field}: must be a UUID"));
            None
        }),
        _ => {
            problems.push(format!("{field}: must be a UUID string"));
            None
        }
    }
}

fn label(field: &str, value: Option<Value>, problems: &mut Vec<String>) -> Option<String> {
    let problem = match value {
        None | Some(Value::Null) => "is required",
        Some(Value::String(s)) => match roost_common::label::problem(&s) {
            Some(problem) => problem,
            None => return Some(s),
        },
        Some(_) => "must be a string",
    };
    problems.push(format!("{field}: {problem}"));
    None
}

/// RFC 3339, or `YYYY-MM-DD HH:MM:SS[.ffffff]` taken as UTC. Years 1 to 9999.
pub fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })?;
    let year = chrono::Datelike::year(&parsed);
    (1..=9999).contains(&year).then_some(parsed)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<Event, String> {
        let raw: Box<RawValue> = serde_json::from_str(&value.to_string()).unwrap();
        parse_envelope(&raw)
    }

    fn split(body: &[u8]) -> Result<usize, BatchError> {
        split_batch(&mut body.to_vec()).map(|items| items.len())
    }

    fn valid() -> Value {
        json!({
            "session_id": "2f1e4c52-8a57-4a43-9a6b-6f1f6f9b9c10",
            "category": "page interaction",
            "name": "pageview",
            "data": {"host": "example.com", "path": "/"},
            "timestamp": "2026-11-23T10:00:00Z",
        })
    }

    #[test]
    fn batches_are_one_object_or_a_non_empty_array() {
        assert_eq!(split(br#"{"a":1}"#), Ok(1));
        assert_eq!(split(br#" [{}, 1]"#), Ok(2));
        assert!(matches!(split(b"[]"), Err(BatchError::Malformed(_))));
        assert!(matches!(split(b"nope"), Err(BatchError::Malformed(_))));
        assert!(matches!(split(b"42"), Err(BatchError::Malformed(_))));
        assert!(matches!(split(b"{\"a\": 1"), Err(BatchError::Malformed(_))));
        let many = format!("[{}]", vec!["{}"; 1001].join(","));
        assert_eq!(split(many.as_bytes()), Err(BatchError::TooMany(1001)));
    }

    #[test]
    fn a_valid_envelope_gets_an_id_when_it_has_none() {
        let event = parse(valid()).unwrap();
        assert_eq!(event.category, "page interaction");
        assert_eq!(event.timestamp.to_rfc3339(), "2026-11-23T10:00:00+00:00");
        let mut with_id = valid();
        with_id["id"] = json!("0b0f5a4e-3f53-4a54-8f8e-2d8f6a1c7b11");
        assert_eq!(
            parse(with_id).unwrap().id.to_string(),
            "0b0f5a4e-3f53-4a54-8f8e-2d8f6a1c7b11"
        );
    }

    #[test]
    fn every_problem_is_named() {
        let err =
            parse(json!({"id": 5, "category": "", "name": 3, "data": [], "extra": 1})).unwrap_err();
        for part in [
            "id: must be a UUID string",
            "session_id: is required",
            "category: must not be empty",
            "name: must be a string",
            "data: must be a JSON object",
            "timestamp: is required",
            "extra: is not an event field",
        ] {
            assert!(err.contains(part), "{err} lacks {part}");
        }
        assert!(parse(json!([1])).is_err());
    }

    #[test]
    fn nul_characters_are_refused_anywhere_in_data() {
        let mut v = valid();
        v["data"] = json!({"a": {"b": ["x\u{0}y"]}});
        assert!(parse(v).unwrap_err().contains("NUL"));
        let mut v = valid();
        v["data"] = json!({"k\u{0}": 1});
        assert!(parse(v).unwrap_err().contains("NUL"));
    }

    #[test]
    fn timestamps_in_both_formats() {
        let t = parse_timestamp("2026-01-02 03:04:05.123456").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05.123456+00:00");
        assert!(parse_timestamp("2026-01-02 03:04:05").is_some());
        assert!(parse_timestamp("2026-01-02T03:04:05+02:00").is_some());
        assert!(parse_timestamp("2026-01-02").is_none());
        assert!(parse_timestamp("yesterday").is_none());
        assert!(parse_timestamp("2026-13-02 03:04:05").is_none());
    }

    #[test]
    fn labels_are_bounded() {
        let mut v = valid();
        v["name"] = json!("x".repeat(101));
        assert!(parse(v).unwrap_err().contains("at most 100"));
        let mut v = valid();
        v["category"] = json!("a\nb");
        assert!(parse(v).unwrap_err().contains("control"));
    }
}

#[cfg(test)]
mod fidelity {
    use super::*;

    #[test]
    fn data_keeps_every_digit_and_lone_surrogates_become_replacement_characters() {
        let mut body = br#"[{"session_id": "2f1e4c52-8a57-4a43-9a6b-6f1f6f9b9c10",
            "category": "c", "name": "n", "timestamp": "2026-11-23T10:00:00Z",
            "data": {"big": 12345678901234567890123, "fine": 0.1234567890123456789,
                     "cut": "ab\ud83d", "emoji": "\ud83d\ude00"}}]"#
            .to_vec();
        let items = split_batch(&mut body).unwrap();
        let event = parse_envelope(items[0]).unwrap();
        let data = event.data.as_json();
        assert!(data.contains("12345678901234567890123,"), "{data}");
        assert!(data.contains("0.1234567890123456789,"), "{data}");
        let value = event.data.value().unwrap();
        assert_eq!(value["cut"], "ab\u{fffd}");
        assert_eq!(value["emoji"], "\u{1f600}");
    }
}
