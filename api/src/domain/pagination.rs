//! Keyset pagination: limits and opaque cursors.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Code};

/// A page of items and the cursor of the next page (`null` on the last page).
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Validates `limit`: 1..=max, `default` when absent.
pub fn limit(raw: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match raw {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field(
            "limit",
            format!("must be between 1 and {max}"),
        )),
    }
}

fn invalid_cursor() -> ApiError {
    ApiError::new(
        Code::InvalidCursor,
        "The cursor is not one this API issued; start again without it.",
    )
}

/// Decodes `<tag>:<microseconds>:<id>` (base64url): the time, range-checked, and the raw id.
fn decode_time_and_id(raw: &str, tag: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid_cursor())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid_cursor())?;
    let mut parts = text.split(':');
    let (Some(found), Some(micros), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid_cursor());
    };
    if found != tag {
        return Err(invalid_cursor());
    }
    let micros: i64 = micros.parse().map_err(|_| invalid_cursor())?;
    // Years 1..=9999: inside what PostgreSQL's timestamptz can compare against.
    if !(-62_135_596_800_000_000..=253_402_300_799_000_000).contains(&micros) {
        return Err(invalid_cursor());
    }
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid_cursor)?;
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

    pub fn decode(raw: Option<&str>) -> Result<Option<Self>, ApiError> {
        let Some(raw) = raw else { return Ok(None) };
        let (created_at, id) = decode_time_and_id(raw, "t")?;
        let id: i64 = id.parse().map_err(|_| invalid_cursor())?;
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

    pub fn decode(raw: Option<&str>) -> Result<Option<Self>, ApiError> {
        let Some(raw) = raw else { return Ok(None) };
        let (at, id) = decode_time_and_id(raw, "e")?;
        let id = uuid::Uuid::parse_str(&id).map_err(|_| invalid_cursor())?;
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

    pub fn decode(raw: Option<&str>) -> Result<Option<Self>, ApiError> {
        let Some(raw) = raw else { return Ok(None) };
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid_cursor())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid_cursor())?;
        let name = text
            .strip_prefix("u:")
            .filter(|n| !n.contains('\0'))
            .ok_or_else(invalid_cursor)?;
        Ok(Some(Self(name.to_owned())))
    }
}

/// Turns `limit + 1` fetched rows into a page: the extra row only says there is more.
pub fn paginate<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    cursor_of: impl Fn(&R) -> String,
    item: impl FnMut(R) -> T,
) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(&cursor_of)
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(item).collect(),
        next_cursor,
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
            let err = TimeCursor::decode(Some(bad)).unwrap_err();
            assert_eq!(err.code, Code::InvalidCursor, "{bad}");
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

    #[test]
    fn limits() {
        assert_eq!(limit(None, 20, 100).unwrap(), 20);
        assert_eq!(limit(Some(100), 20, 100).unwrap(), 100);
        assert!(limit(Some(0), 20, 100).is_err());
        assert!(limit(Some(101), 20, 100).is_err());
    }

    #[test]
    fn paginate_uses_the_extra_row_only_as_a_signal() {
        let page = paginate(vec![1, 2, 3], 2, |r| r.to_string(), |r| r * 10);
        assert_eq!(page.items, vec![10, 20]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let page = paginate(vec![1, 2], 2, |r| r.to_string(), |r| r);
        assert_eq!(page.next_cursor, None);
    }
}
