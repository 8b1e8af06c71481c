//! The transactional outbox: domain events are written in the same transaction as the change
//! they describe, and relayed to the event stream afterwards (so a crash between commit and
//! publish loses nothing).

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// The built-in application under which the platform's own domain events are stored.
pub const ROOST_APPLICATION: &str = "roost";

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

/// Appends a domain event to the outbox inside the caller's transaction.
pub async fn record(
    conn: &mut PgConnection,
    event: DomainEvent,
    payload: &impl Serialize,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    let payload = serde_json::to_value(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO outbox (event_id, name, payload) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(event.name())
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(id)
}
