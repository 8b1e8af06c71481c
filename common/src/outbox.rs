//! The transactional outbox: domain events are written in the same transaction as the change
//! they describe and published to the event stream right after the commit. The row stays until
//! the worker has stored the event (it deletes the row in the same transaction), so when the
//! publish did not happen (a crash between commit and publish, Redis away) the worker's relay
//! publishes it again; storage is idempotent by event id, so a second copy is harmless.

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::stream::{self, Event, Keys, ROOST_APPLICATION_ID};

/// Names of the domain events (the `name` of the stored event; the category is `domain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    UserRegistered,
    UserLoggedIn,
    PostCreated,
    CommentCreated,
    SubscriptionCreated,
    SubscriptionRemoved,
}

impl DomainEvent {
    pub const CATEGORY: &'static str = "domain";

    pub fn name(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::UserLoggedIn => "user.logged_in",
            Self::PostCreated => "post.created",
            Self::CommentCreated => "comment.created",
            Self::SubscriptionCreated => "subscription.created",
            Self::SubscriptionRemoved => "subscription.removed",
        }
    }
}

/// A domain event written to the outbox, to be published once its transaction has committed.
#[must_use = "publish the event after the commit"]
pub struct Recorded(Event);

/// Appends a domain event by `user_id` to the outbox inside the caller's transaction.
pub async fn record(
    conn: &mut PgConnection,
    event: DomainEvent,
    user_id: i64,
    payload: &impl Serialize,
) -> Result<Recorded, sqlx::Error> {
    let id = Uuid::new_v4();
    let session_id = stream::user_session(user_id);
    let data =
        stream::EventData::from_serialize(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let timestamp: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO outbox (event_id, name, payload, session_id) VALUES ($1, $2, $3::jsonb, $4)
         RETURNING created_at",
    )
    .bind(id)
    .bind(event.name())
    .bind(data.as_json())
    .bind(session_id)
    .fetch_one(conn)
    .await?;
    Ok(Recorded(Event {
        id,
        session_id,
        category: DomainEvent::CATEGORY.to_owned(),
        name: event.name().to_owned(),
        data,
        timestamp,
    }))
}

/// Publishes committed outbox events to the stream.
#[derive(Clone)]
pub struct Publisher {
    redis: ConnectionManager,
    keys: Keys,
}

impl Publisher {
    pub fn new(redis: ConnectionManager, keys: Keys) -> Self {
        Self { redis, keys }
    }

    /// Publishes in the background, so the caller's response never waits on Redis. A failed
    /// publish is only logged: the row is still in the outbox and the relay will publish it.
    pub fn publish(&self, recorded: Recorded) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(error) = this.publish_now(&[recorded.0]).await {
                tracing::warn!(%error, "publishing a domain event failed; the outbox relay will retry");
            }
        });
    }

    /// Publishes events (of the `roost` application) and waits for Redis' answer.
    pub async fn publish_now(&self, events: &[Event]) -> anyhow::Result<()> {
        let json = serde_json::to_vec(events)?;
        let mut conn = self.redis.clone();
        stream::xadd(&self.keys, ROOST_APPLICATION_ID, Utc::now(), &json)
            .query_async::<String>(&mut conn)
            .await?;
        Ok(())
    }
}
