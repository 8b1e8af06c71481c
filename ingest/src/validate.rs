//! Payload rules, run by the worker on every event before it is stored: the built-in types'
//! rules, admin-registered JSON Schemas, and the future-timestamp check. An event that breaks
//! a rule is quarantined with the reason, never dropped.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use roost_common::pipeline::{Event, QuarantineCode};
use serde_json::Value;
use sqlx::PgPool;

use crate::store;

/// How far after its receipt an event's timestamp may be.
pub const MAX_FUTURE: Duration = Duration::minutes(5);

/// Why an event goes to the quarantine instead of the events table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    PayloadInvalid(String),
    FutureTimestamp(String),
}

impl Rejection {
    pub fn code(&self) -> QuarantineCode {
        match self {
            Self::PayloadInvalid(_) => QuarantineCode::PayloadInvalid,
            Self::FutureTimestamp(_) => QuarantineCode::FutureTimestamp,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::PayloadInvalid(m) | Self::FutureTimestamp(m) => m,
        }
    }
}

/// A field a built-in rule requires, and the JSON type it must have.
#[derive(Clone, Copy)]
enum Kind {
    String,
    Object,
}

/// A built-in event type: category, name and the `data` fields it requires.
type BuiltIn = (&'static str, &'static str, &'static [(&'static str, Kind)]);

/// The built-in event types.
const BUILT_IN: &[BuiltIn] = &[
    (
        "page interaction",
        "pageview",
        &[("host", Kind::String), ("path", Kind::String)],
    ),
    (
        "page interaction",
        "cta click",
        &[
            ("host", Kind::String),
            ("path", Kind::String),
            ("element", Kind::String),
        ],
    ),
    (
        "form interaction",
        "submit",
        &[
            ("host", Kind::String),
            ("path", Kind::String),
            ("form", Kind::Object),
        ],
    ),
];

fn built_in_fields(event: &Event) -> Option<&'static [(&'static str, Kind)]> {
    BUILT_IN
        .iter()
        .find(|(c, n, _)| *c == event.category && *n == event.name)
        .map(|(_, _, fields)| *fields)
}

fn built_in_rule(
    event: &Event,
    fields: &[(&'static str, Kind)],
    data: &Value,
) -> Result<(), String> {
    let problems: Vec<String> = fields
        .iter()
        .filter_map(|(field, kind)| {
            let ok = matches!(
                (data.get(field), kind),
                (Some(Value::String(_)), Kind::String) | (Some(Value::Object(_)), Kind::Object)
            );
            let what = match kind {
                Kind::String => "a string",
                Kind::Object => "an object",
            };
            (!ok).then(|| format!("data.{field} must be {what}"))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}/{}: {}",
            event.category,
            event.name,
            problems.join("; ")
        ))
    }
}

/// The registered schemas, compiled, with the version they were loaded at.
pub struct Validator {
    /// A digest of every (type, version) pair: any registration or replacement changes it,
    /// even one that commits after a later version did.
    version: Option<String>,
    schemas: HashMap<(String, String), jsonschema::Validator>,
}

impl Default for Validator {
    fn default() -> Self {
        Self::new()
    }
}

impl Validator {
    pub fn new() -> Self {
        Self {
            version: None,
            schemas: HashMap::new(),
        }
    }

    /// Reloads the schemas when they changed. Called before each batch is validated: every
    /// event in the batch was accepted before the batch was read, so a schema registered
    /// before an event was accepted is always the one it meets.
    pub async fn refresh(&mut self, db: &PgPool) -> Result<(), sqlx::Error> {
        let version = store::event_types::version(db).await?;
        if self.version.as_deref() == Some(version.as_str()) {
            return Ok(());
        }
        let rows = store::event_types::all(db).await?;
        let mut schemas = HashMap::with_capacity(rows.len());
        for (category, name, schema) in rows {
            match jsonschema::validator_for(&schema) {
                Ok(v) => {
                    schemas.insert((category, name), v);
                }
                // The API compiles a schema before storing it, so this is a validator upgrade
                // that no longer accepts it: say so loudly, keep ingesting.
                Err(error) => {
                    tracing::error!(%category, %name, %error, "a registered schema does not compile")
                }
            }
        }
        self.schemas = schemas;
        self.version = Some(version);
        Ok(())
    }

    /// Checks one event received at `received_at`.
    pub fn check(&self, event: &Event, received_at: DateTime<Utc>) -> Result<(), Rejection> {
        if event.timestamp > received_at + MAX_FUTURE {
            return Err(Rejection::FutureTimestamp(format!(
                "timestamp {} is more than 5 minutes after receipt ({})",
                event.timestamp.to_rfc3339(),
                received_at.to_rfc3339()
            )));
        }
        let built_in = built_in_fields(event);
        let key = (event.category.clone(), event.name.clone());
        let schema = self.schemas.get(&key);
        if built_in.is_none() && schema.is_none() {
            return Ok(());
        }
        // Parsed only for the types that have a rule (rounding numbers is harmless here: the
        // stored data is the text as received).
        let data = event
            .data
            .value()
            .map_err(|e| Rejection::PayloadInvalid(format!("data: not readable JSON: {e}")))?;
        if let Some(fields) = built_in {
            built_in_rule(event, fields, &data).map_err(Rejection::PayloadInvalid)?;
        }
        if let Some(schema) = schema {
            let errors: Vec<String> = schema
                .iter_errors(&data)
                .take(10)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    if path.is_empty() {
                        format!("data: {e}")
                    } else {
                        format!("data{path}: {e}")
                    }
                })
                .collect();
            if !errors.is_empty() {
                return Err(Rejection::PayloadInvalid(format!(
                    "{}/{} does not match its schema: {}",
                    event.category,
                    event.name,
                    errors.join("; ")
                )));
            }
        }
        Ok(())
    }

    #[cfg(test)]
    fn with_schema(mut self, category: &str, name: &str, schema: &Value) -> Self {
        self.schemas.insert(
            (category.into(), name.into()),
            jsonschema::validator_for(schema).unwrap(),
        );
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    fn event(category: &str, name: &str, data: Value) -> Event {
        Event {
            id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
            category: category.into(),
            name: name.into(),
            data: roost_common::pipeline::EventData::from_serialize(&data).unwrap(),
            timestamp: Utc::now(),
        }
    }

    #[test]
    fn built_in_types_need_their_fields() {
        let v = Validator::new();
        let now = Utc::now();
        let ok = event(
            "page interaction",
            "pageview",
            json!({"host": "h", "path": "/"}),
        );
        assert_eq!(v.check(&ok, now), Ok(()));
        let bad = event(
            "page interaction",
            "cta click",
            json!({"host": 1, "path": "/"}),
        );
        let Err(Rejection::PayloadInvalid(msg)) = v.check(&bad, now) else {
            panic!("expected payload_invalid")
        };
        assert!(msg.contains("data.host must be a string"), "{msg}");
        assert!(msg.contains("data.element must be a string"), "{msg}");
        let form = event(
            "form interaction",
            "submit",
            json!({"host": "h", "path": "/", "form": "x"}),
        );
        assert!(
            v.check(&form, now)
                .unwrap_err()
                .message()
                .contains("data.form must be an object")
        );
        // Unknown types are accepted as they are.
        assert_eq!(v.check(&event("x", "y", json!({})), now), Ok(()));
    }

    #[test]
    fn timestamps_more_than_five_minutes_ahead_are_quarantined() {
        let v = Validator::new();
        let received = Utc::now();
        let mut e = event("x", "y", json!({}));
        e.timestamp = received + Duration::minutes(5);
        assert_eq!(v.check(&e, received), Ok(()));
        e.timestamp = received + Duration::minutes(5) + Duration::seconds(1);
        assert_eq!(
            v.check(&e, received).unwrap_err().code(),
            QuarantineCode::FutureTimestamp
        );
        e.timestamp = received - Duration::days(3650);
        assert_eq!(v.check(&e, received), Ok(()));
    }

    #[test]
    fn registered_schemas_apply() {
        let v = Validator::new().with_schema(
            "shop",
            "order",
            &json!({"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}),
        );
        let now = Utc::now();
        assert_eq!(
            v.check(&event("shop", "order", json!({"total": 3})), now),
            Ok(())
        );
        let err = v
            .check(&event("shop", "order", json!({"total": "3"})), now)
            .unwrap_err();
        assert_eq!(err.code(), QuarantineCode::PayloadInvalid);
        assert!(err.message().contains("/total"), "{}", err.message());
    }
}
