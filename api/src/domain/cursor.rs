//! Opaque keyset-pagination cursors (SPEC §3: "a cursor that does not decode is 400
//! `invalid_cursor`"): base64url of `<tag>:<position>`, one tag per ordering, so a cursor of
//! one list is refused by another.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};

/// A cursor this API did not issue (or issued for another list); the HTTP layer answers 400
/// `invalid_cursor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("The cursor is not one this API issued; start again without it.")]
pub struct InvalidCursor;

/// Decodes `<tag>:<microseconds>:<id>` (base64url): the time, range-checked, and the raw id.
fn decode_time_and_id(raw: &str, tag: &str) -> Result<(DateTime<Utc>, String), InvalidCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
    let mut parts = text.split(':');
    let (Some(found), Some(micros), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(InvalidCursor);
    };
    if found != tag {
        return Err(InvalidCursor);
    }
    let micros: i64 = micros.parse().map_err(|_| InvalidCursor)?;
    // Years 1..=9999: inside what PostgreSQL's timestamptz can compare against.
    if !(-62_135_596_800_000_000..=253_402_300_799_000_000).contains(&micros) {
        return Err(InvalidCursor);
    }
    let at = DateTime::from_timestamp_micros(micros).ok_or(InvalidCursor)?;
    Ok((at, id.to_owned()))
}

/// Position after an item ordered by (`created_at`, `id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeCursor {
    pub created_at: DateTime<Utc>,
    pub id: i64,
}

impl TimeCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "t:{}:{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    /// The cursor after the item created at `created_at` with id `id`.
    pub fn encode_at(created_at: DateTime<Utc>, id: i64) -> String {
        Self { created_at, id }.encode()
    }

    pub fn decode(raw: Option<&str>) -> Result<Option<Self>, InvalidCursor> {
        let Some(raw) = raw else { return Ok(None) };
        let (created_at, id) = decode_time_and_id(raw, "t")?;
        let id: i64 = id.parse().map_err(|_| InvalidCursor)?;
        Ok(Some(Self { created_at, id }))
    }
}

/// Position after an event ordered by (`timestamp`, `id`) (event ids are UUIDs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventCursor {
    pub at: DateTime<Utc>,
    pub id: uuid::Uuid,
}

impl EventCursor {
    pub fn encode_at(at: DateTime<Utc>, id: uuid::Uuid) -> String {
        URL_SAFE_NO_PAD.encode(format!("e:{}:{}", at.timestamp_micros(), id.simple()))
    }

    pub fn decode(raw: Option<&str>) -> Result<Option<Self>, InvalidCursor> {
        let Some(raw) = raw else { return Ok(None) };
        let (at, id) = decode_time_and_id(raw, "e")?;
        let id = uuid::Uuid::parse_str(&id).map_err(|_| InvalidCursor)?;
        Ok(Some(Self { at, id }))
    }
}

/// Position after a username in case-insensitive username order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameCursor(pub String);

impl NameCursor {
    pub fn encode(username: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("u:{}", username.to_lowercase()))
    }

    pub fn decode(raw: Option<&str>) -> Result<Option<Self>, InvalidCursor> {
        let Some(raw) = raw else { return Ok(None) };
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
        let name = text
            .strip_prefix("u:")
            .filter(|n| !n.contains('\0'))
            .ok_or(InvalidCursor)?;
        Ok(Some(Self(name.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_cursor_round_trips_and_rejects_garbage() {
        let c = TimeCursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: 42,
        };
        assert_eq!(TimeCursor::decode(Some(&c.encode())).unwrap(), Some(c));
        assert_eq!(TimeCursor::decode(None).unwrap(), None);
        for bad in [
            &URL_SAFE_NO_PAD.encode("t:-7000000000000000000:1"),
            &URL_SAFE_NO_PAD.encode("t:9000000000000000000:1"),
            "",
            "!!!",
            "dDox",
            &URL_SAFE_NO_PAD.encode("t:1:2:3"),
            &NameCursor::encode("bob"),
        ] {
            assert_eq!(TimeCursor::decode(Some(bad)), Err(InvalidCursor), "{bad}");
        }
    }

    #[test]
    fn event_cursor_round_trips_and_rejects_other_cursors() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = uuid::Uuid::new_v4();
        let raw = EventCursor::encode_at(at, id);
        assert_eq!(
            EventCursor::decode(Some(&raw)).unwrap(),
            Some(EventCursor { at, id })
        );
        assert!(EventCursor::decode(Some(&TimeCursor::encode_at(at, 1))).is_err());
        assert!(EventCursor::decode(Some(&URL_SAFE_NO_PAD.encode("e:1:nope"))).is_err());
    }

    #[test]
    fn name_cursor_round_trips() {
        let raw = NameCursor::encode("Bob_1");
        assert_eq!(
            NameCursor::decode(Some(&raw)).unwrap(),
            Some(NameCursor("bob_1".into()))
        );
        assert!(NameCursor::decode(Some("%%")).is_err());
    }
}
