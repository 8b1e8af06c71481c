//! Live notifications across API replicas. Each replica keeps its own open sockets in a
//! [`Hub`] ([`hub`]), and listens on one Redis pub/sub channel:
//! - the worker announces `created {user_id, id}`; a replica with a socket of that user claims
//!   the notification (atomically: only one replica wins), writes it to its sockets of the
//!   user, and publishes `deliver {user_id, origin, item}`;
//! - every other replica writes a `deliver`ed item to its own sockets of that user.
//!
//! So a notification is claimed once and written to every open socket of its user, whichever
//! replicas hold them. Announcements lost while Redis is away are caught up by each socket's
//! periodic check of undelivered notifications.
//!
//! Revocations travel on a second channel: a logout closes every socket of that token on every
//! replica at once, and nothing is claimed for a socket whose token PostgreSQL says is revoked
//! (checked right before each claim), so a notification is never marked delivered to a dead
//! session.

//!
//! [`Live`] holds its own handles (PostgreSQL, Redis, key names, metrics, the API key cache),
//! not the application state; [`fanout`] delivers, [`socket`] is one WebSocket's loop.

pub mod fanout;
pub mod hub;
pub mod socket;

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use roost_common::pipeline::{
    Keys,
    message::{NotificationMessage, Revocation},
};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

pub use self::hub::{Hub, SocketHandle};
use crate::{
    auth::api_key::ApiKeyCache,
    metrics::Metrics,
    store::{self, notifications::NotificationRow},
};

/// Live notifications and revocations of one replica.
pub struct Live {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub keys: Keys,
    pub metrics: Arc<Metrics>,
    /// This replica's sockets.
    pub hub: Hub,
    /// Dropped entries on an application's revocation.
    pub api_keys: Arc<ApiKeyCache>,
}

/// Close reasons sent to clients.
pub const TOKEN_REVOKED: &str = "token revoked";
pub const TOKEN_EXPIRED: &str = "token expired";
/// The replica is stopping: reconnect (to another replica).
pub const SHUTTING_DOWN: &str = "server shutting down";

/// A notification as clients receive it (`unsent`, history and the socket).
#[derive(Serialize, utoipa::ToSchema, Clone, Debug)]
pub struct NotificationItem {
    pub id: i64,
    #[schema(example = "comment")]
    pub kind: String,
    /// Who commented.
    pub actor: String,
    pub post_id: i64,
    pub comment_id: i64,
    /// The first 100 characters of the comment.
    pub excerpt: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<NotificationRow> for NotificationItem {
    fn from(r: NotificationRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            actor: r.actor,
            post_id: r.post_id,
            comment_id: r.comment_id,
            excerpt: r.excerpt,
            created_at: r.created_at,
        }
    }
}

/// The socket message for one notification: `{"type": "notification", ...item}`.
pub fn socket_message(item: &NotificationItem) -> Option<Arc<str>> {
    let mut value = serde_json::to_value(item).ok()?;
    if let Value::Object(map) = &mut value {
        map.insert("type".into(), Value::String("notification".into()));
    }
    Some(Arc::from(value.to_string()))
}

impl Live {
    async fn on_message(self: Arc<Self>, payload: String) {
        match serde_json::from_str::<NotificationMessage>(&payload) {
            Ok(NotificationMessage::Created { user_id, id }) => {
                match self.has_live_sockets(user_id).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(error) => {
                        tracing::warn!(%error, "checking sockets' tokens failed; the socket's next check retries");
                        return;
                    }
                }
                match store::notifications::claim_one(&self.db, user_id, id).await {
                    Ok(Some(row)) => self.deliver(user_id, vec![row]).await,
                    Ok(None) => {} // another replica (or an `unsent` call) has it
                    Err(error) => {
                        tracing::warn!(%error, "claiming a notification failed; the socket's next check retries")
                    }
                }
            }
            Ok(NotificationMessage::Deliver {
                user_id,
                origin,
                item,
            }) => {
                if origin == self.hub.origin {
                    return;
                }
                // Claimed elsewhere: this replica's sockets of the user still get it only if their
                // tokens stand (revocations missed while Redis was away are caught here).
                match self.has_live_sockets(user_id).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(error) => {
                        // It is claimed already: better late on the socket's next check than
                        // written to a session that may have been revoked.
                        tracing::warn!(%error, "checking sockets' tokens failed; a fanned-out notification is not written");
                        return;
                    }
                }
                let mut value = item;
                if let Value::Object(map) = &mut value {
                    map.insert("type".into(), Value::String("notification".into()));
                }
                self.hub.send_local(user_id, &Arc::from(value.to_string()));
            }
            Err(error) => tracing::warn!(%error, "an unreadable notification message"),
        }
    }

    /// Tells every replica (this one included, directly, in case Redis is away) of a revocation.
    /// A lost message leaves the fallbacks: a socket's periodic token check and the API key
    /// cache's time to live.
    pub async fn revoke(&self, revocation: Revocation) {
        self.apply_revocation(&revocation);
        let mut redis = self.redis.clone();
        if let Err(error) = revocation.publish(&mut redis, &self.keys).await {
            tracing::warn!(%error, ?revocation, "announcing a revocation to other replicas failed; they apply it at their next check");
        }
    }

    fn apply_revocation(&self, revocation: &Revocation) {
        match revocation {
            Revocation::Token { jti } => {
                self.hub.revoke_token(*jti, TOKEN_REVOKED);
            }
            Revocation::Application { id } => self.api_keys.revoke(*id),
        }
    }

    /// Listens on the notifications and revocations channels for the life of the process,
    /// reconnecting as needed.
    pub async fn listen(self: Arc<Self>, client: redis::Client) {
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    let subscribed = async {
                        pubsub.subscribe(&self.keys.notifications).await?;
                        pubsub.subscribe(&self.keys.revocations).await
                    };
                    if let Err(error) = subscribed.await {
                        tracing::warn!(%error, "subscribing to notifications and revocations failed");
                    } else {
                        tracing::debug!("listening for notifications and revocations");
                        // Revocations sent while this replica was not listening are lost: forget
                        // every cached API key rather than wait for the time to live, and check
                        // every open socket's token.
                        self.api_keys.clear();
                        if let Err(error) = self.close_revoked_sockets().await {
                            tracing::warn!(%error, "re-checking open sockets' tokens failed; their periodic check will");
                        }
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            let Ok(payload) = message.get_payload::<String>() else {
                                continue;
                            };
                            if message.get_channel_name() == self.keys.revocations {
                                // In order, before any later delivery is handled.
                                match serde_json::from_str::<Revocation>(&payload) {
                                    Ok(revocation) => self.apply_revocation(&revocation),
                                    Err(error) => {
                                        tracing::warn!(%error, "an unreadable revocation message")
                                    }
                                }
                            } else {
                                tokio::spawn(self.clone().on_message(payload));
                            }
                        }
                        tracing::warn!("the notifications subscription ended; reconnecting");
                    }
                }
                Err(error) => tracing::debug!(%error, "cannot subscribe to notifications yet"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
