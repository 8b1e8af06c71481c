//! The transactional outbox: domain events are written in the same transaction as the change
//! they describe and published to the event stream right after the commit. The row stays until
//! the worker has stored the event (it deletes the row in the same transaction), so when the
//! publish did not happen (a crash between commit and publish, Redis away) the worker's relay
//! publishes it again; storage is idempotent by event id, so a second copy is harmless.

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Keys,
    domain_event::{self, DomainEvent},
    entry::EventBatch,
    event::{self, Event, ROOST_APPLICATION_ID},
};

/// A domain event written to the outbox, to be published once its transaction has committed.
#[must_use = "publish the event after the commit"]
pub struct Recorded(Event);

/// Appends a domain event to the outbox inside the caller's transaction. Its session is its
/// actor's ([`DomainEvent::actor`]), its timestamp the transaction's `now()`.
pub async fn record(
    conn: &mut PgConnection,
    domain: &DomainEvent,
) -> Result<Recorded, sqlx::Error> {
    let id = Uuid::new_v4();
    let session_id = event::user_session(domain.actor());
    let data = domain
        .data()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let timestamp: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO outbox (event_id, name, payload, session_id) VALUES ($1, $2, $3::jsonb, $4)
         RETURNING created_at",
    )
    .bind(id)
    .bind(domain.name())
    .bind(data.as_json())
    .bind(session_id)
    .fetch_one(conn)
    .await?;
    Ok(Recorded(Event {
        id,
        session_id,
        category: domain_event::CATEGORY.to_owned(),
        name: domain.name().to_owned(),
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
        let mut conn = self.redis.clone();
        EventBatch::xadd(&self.keys, ROOST_APPLICATION_ID, Utc::now(), events)?
            .query_async::<String>(&mut conn)
            .await?;
        Ok(())
    }
}
