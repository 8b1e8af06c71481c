//! The platform's own events (SPEC §3.5): one enum of typed payloads that the API writes (to
//! the outbox, see [`super::outbox`]) and the worker matches (`comment.created` becomes a
//! notification). Stored as events of the built-in application `roost` in category
//! [`CATEGORY`], named by [`DomainEvent::name`], with the payload as `data`. DOCS.md's table
//! of payload fields is checked against these structs by a test.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, EventData};
use crate::model::{PostKind, Visibility};

/// The category of every domain event.
pub const CATEGORY: &str = "domain";

/// `user.registered`: an account was created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: i64,
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub registered_at: DateTime<Utc>,
}

/// `user.logged_in`: a login succeeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserLoggedIn {
    pub user_id: i64,
    pub username: String,
    pub logged_in_at: DateTime<Utc>,
}

/// `post.created`: a post, repost or quote was published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostCreated {
    pub post_id: i64,
    /// The author.
    pub user_id: i64,
    pub username: String,
    pub email: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub kind: PostKind,
    /// Posts only.
    pub title: Option<String>,
    /// Posts and quotes.
    pub text: Option<String>,
    /// The re-shared post (reposts and quotes).
    pub original_id: Option<i64>,
    pub visibility: Visibility,
}

/// `comment.created`: a comment was added (the source of notifications).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommentCreated {
    pub comment_id: i64,
    pub post_id: i64,
    /// Who is notified (unless it is the commenter).
    pub post_author_id: i64,
    /// The commenter.
    pub user_id: i64,
    pub username: String,
    pub email: Option<String>,
    pub timestamp: DateTime<Utc>,
    /// Absent or null reads as empty (the notification's excerpt is then empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub text: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// `subscription.created` and `subscription.removed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionChanged {
    pub subscriber_id: i64,
    pub subscriber: String,
    pub target_id: i64,
    pub target: String,
    pub timestamp: DateTime<Utc>,
}

/// A domain event with its payload.
#[derive(Clone, Debug, PartialEq)]
pub enum DomainEvent {
    UserRegistered(UserRegistered),
    UserLoggedIn(UserLoggedIn),
    PostCreated(PostCreated),
    CommentCreated(CommentCreated),
    SubscriptionCreated(SubscriptionChanged),
    SubscriptionRemoved(SubscriptionChanged),
}

/// A `domain` event whose name is known but whose data does not fit its payload.
#[derive(Debug, thiserror::Error)]
#[error("domain event {name} has unreadable data: {source}")]
pub struct DecodeError {
    pub name: &'static str,
    #[source]
    pub source: serde_json::Error,
}

impl DomainEvent {
    /// Every name, in documentation order.
    pub const NAMES: [&'static str; 6] = [
        "user.registered",
        "user.logged_in",
        "post.created",
        "comment.created",
        "subscription.created",
        "subscription.removed",
    ];

    /// The stored event's `name`.
    pub fn name(&self) -> &'static str {
        let index = match self {
            Self::UserRegistered(_) => 0,
            Self::UserLoggedIn(_) => 1,
            Self::PostCreated(_) => 2,
            Self::CommentCreated(_) => 3,
            Self::SubscriptionCreated(_) => 4,
            Self::SubscriptionRemoved(_) => 5,
        };
        Self::NAMES[index]
    }

    /// The acting user: their id becomes the event's session (see
    /// [`super::event::user_session`]).
    pub fn actor(&self) -> i64 {
        match self {
            Self::UserRegistered(p) => p.user_id,
            Self::UserLoggedIn(p) => p.user_id,
            Self::PostCreated(p) => p.user_id,
            Self::CommentCreated(p) => p.user_id,
            Self::SubscriptionCreated(p) | Self::SubscriptionRemoved(p) => p.subscriber_id,
        }
    }

    /// The payload as an event's `data`.
    pub fn data(&self) -> Result<EventData, serde_json::Error> {
        match self {
            Self::UserRegistered(p) => EventData::from_serialize(p),
            Self::UserLoggedIn(p) => EventData::from_serialize(p),
            Self::PostCreated(p) => EventData::from_serialize(p),
            Self::CommentCreated(p) => EventData::from_serialize(p),
            Self::SubscriptionCreated(p) | Self::SubscriptionRemoved(p) => {
                EventData::from_serialize(p)
            }
        }
    }

    /// The domain event a stored or streamed event is: `Ok(None)` for any event that is not
    /// in category [`CATEGORY`] with one of [`Self::NAMES`] (a client application may use
    /// other names in that category), an error when the name is known but the data does not
    /// fit its payload.
    pub fn decode(event: &Event) -> Result<Option<Self>, DecodeError> {
        if event.category != CATEGORY {
            return Ok(None);
        }
        let Some(name) = Self::NAMES.iter().find(|n| **n == event.name) else {
            return Ok(None);
        };
        let data = event.data.as_json();
        let wrap = |source| DecodeError { name, source };
        let decoded = match *name {
            "user.registered" => Self::UserRegistered(serde_json::from_str(data).map_err(wrap)?),
            "user.logged_in" => Self::UserLoggedIn(serde_json::from_str(data).map_err(wrap)?),
            "post.created" => Self::PostCreated(serde_json::from_str(data).map_err(wrap)?),
            "comment.created" => Self::CommentCreated(serde_json::from_str(data).map_err(wrap)?),
            "subscription.created" => {
                Self::SubscriptionCreated(serde_json::from_str(data).map_err(wrap)?)
            }
            _ => Self::SubscriptionRemoved(serde_json::from_str(data).map_err(wrap)?),
        };
        Ok(Some(decoded))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use uuid::Uuid;

    use super::*;

    fn examples() -> Vec<DomainEvent> {
        let now = Utc::now();
        let changed = SubscriptionChanged {
            subscriber_id: 1,
            subscriber: "ann".into(),
            target_id: 2,
            target: "bob".into(),
            timestamp: now,
        };
        vec![
            DomainEvent::UserRegistered(UserRegistered {
                user_id: 1,
                username: "ann".into(),
                email: Some("ann@example.com".into()),
                first_name: None,
                last_name: None,
                registered_at: now,
            }),
            DomainEvent::UserLoggedIn(UserLoggedIn {
                user_id: 1,
                username: "ann".into(),
                logged_in_at: now,
            }),
            DomainEvent::PostCreated(PostCreated {
                post_id: 3,
                user_id: 1,
                username: "ann".into(),
                email: None,
                timestamp: now,
                kind: PostKind::Quote,
                title: None,
                text: Some("yes".into()),
                original_id: Some(2),
                visibility: Visibility::Public,
            }),
            DomainEvent::CommentCreated(CommentCreated {
                comment_id: 4,
                post_id: 3,
                post_author_id: 2,
                user_id: 1,
                username: "ann".into(),
                email: None,
                timestamp: now,
                text: "hi".into(),
            }),
            DomainEvent::SubscriptionCreated(changed.clone()),
            DomainEvent::SubscriptionRemoved(changed),
        ]
    }

    fn as_event(domain: &DomainEvent) -> Event {
        Event {
            id: Uuid::new_v4(),
            session_id: Uuid::nil(),
            category: CATEGORY.into(),
            name: domain.name().into(),
            data: domain.data().unwrap(),
            timestamp: Utc::now(),
        }
    }

    #[test]
    fn every_event_decodes_back_to_itself() {
        let examples = examples();
        let names: Vec<&str> = examples.iter().map(DomainEvent::name).collect();
        assert_eq!(names, DomainEvent::NAMES);
        for domain in examples {
            let back = DomainEvent::decode(&as_event(&domain)).unwrap();
            assert_eq!(back, Some(domain));
        }
    }

    #[test]
    fn other_events_are_not_domain_events_and_bad_payloads_are_errors() {
        let mut event = as_event(&examples()[3]);
        event.category = "page interaction".into();
        assert_eq!(DomainEvent::decode(&event).unwrap(), None);
        event.category = CATEGORY.into();
        event.name = "cart.filled".into();
        assert_eq!(DomainEvent::decode(&event).unwrap(), None);
        event.name = "comment.created".into();
        event.data = EventData::from_json(r#"{"comment_id": "x"}"#.into()).unwrap();
        let error = DomainEvent::decode(&event).unwrap_err();
        assert_eq!(error.name, "comment.created");
        // A comment's text may be absent or null (an older writer): it reads as empty.
        let mut data: serde_json::Value =
            serde_json::from_str(examples()[3].data().unwrap().as_json()).unwrap();
        data["text"] = serde_json::Value::Null;
        event.data = EventData::from_serialize(&data).unwrap();
        let Some(DomainEvent::CommentCreated(comment)) = DomainEvent::decode(&event).unwrap()
        else {
            panic!("expected a comment")
        };
        assert_eq!(comment.text, "");
        data.as_object_mut().unwrap().remove("text");
        event.data = EventData::from_serialize(&data).unwrap();
        assert!(DomainEvent::decode(&event).unwrap().is_some());
    }

    /// DOCS.md's "| name | `data` |" table lists exactly each payload's fields, in order.
    #[test]
    fn docs_list_every_payload_field() {
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../DOCS.md")).unwrap();
        let table: Vec<(BTreeSet<String>, Vec<String>)> = docs
            .lines()
            .skip_while(|l| !l.starts_with("| name | `data` |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|row| {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                let split = |cell: &str| -> Vec<String> {
                    cell.split(',')
                        .map(|s| s.trim().trim_matches('`').to_owned())
                        .collect()
                };
                (split(cells[1]).into_iter().collect(), split(cells[2]))
            })
            .collect();
        let mut documented = BTreeSet::new();
        for domain in examples() {
            let (_, fields) = table
                .iter()
                .find(|(names, _)| names.contains(domain.name()))
                .unwrap_or_else(|| panic!("DOCS.md does not list {}", domain.name()));
            let data: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(domain.data().unwrap().as_json()).unwrap();
            let keys: Vec<&String> = data.keys().collect();
            let mut docs_sorted: Vec<&String> = fields.iter().collect();
            docs_sorted.sort();
            let mut keys_sorted = keys.clone();
            keys_sorted.sort();
            assert_eq!(docs_sorted, keys_sorted, "fields of {}", domain.name());
            documented.insert(domain.name());
        }
        let listed: BTreeSet<&str> = table
            .iter()
            .flat_map(|(names, _)| names.iter().map(String::as_str))
            .collect();
        assert_eq!(
            listed, documented,
            "DOCS.md lists exactly the domain events"
        );
    }
}
