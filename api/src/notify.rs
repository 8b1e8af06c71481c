//! Live notifications across API replicas. Each replica keeps its own open sockets in a
//! [`Hub`] and listens on one Redis pub/sub channel:
//! - the worker announces `created {user_id, id}`; a replica with a socket of that user claims
//!   the notification (atomically: only one replica wins), writes it to its sockets of the
//!   user, and publishes `deliver {user_id, origin, item}`;
//! - every other replica writes a `deliver`ed item to its own sockets of that user.
//!
//! So a notification is claimed once and written to every open socket of its user, whichever
//! replicas hold them. Announcements lost while Redis is away are caught up by each socket's
//! periodic check of undelivered notifications.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt;
use roost_common::stream::NotificationMessage;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{
    state::AppState,
    store::{self, notifications::NotificationRow},
};

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

type Sockets = HashMap<i64, HashMap<u64, mpsc::UnboundedSender<Arc<str>>>>;

/// This replica's open notification sockets, by user.
pub struct Hub {
    /// Identifies this replica in `deliver` messages.
    pub origin: Uuid,
    next: AtomicU64,
    sockets: Mutex<Sockets>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self {
            origin: Uuid::new_v4(),
            next: AtomicU64::new(0),
            sockets: Mutex::new(HashMap::new()),
        }
    }

    pub fn register(&self, user_id: i64) -> (u64, mpsc::UnboundedReceiver<Arc<str>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.entry(user_id).or_default().insert(id, tx);
        }
        (id, rx)
    }

    pub fn unregister(&self, user_id: i64, socket: u64) {
        if let Ok(mut sockets) = self.sockets.lock()
            && let Some(mine) = sockets.get_mut(&user_id)
        {
            mine.remove(&socket);
            if mine.is_empty() {
                sockets.remove(&user_id);
            }
        }
    }

    fn has_sockets(&self, user_id: i64) -> bool {
        self.sockets
            .lock()
            .is_ok_and(|s| s.get(&user_id).is_some_and(|m| !m.is_empty()))
    }

    /// Writes to every local socket of the user; the number of sockets reached.
    fn send_local(&self, user_id: i64, message: &Arc<str>) -> usize {
        let Ok(sockets) = self.sockets.lock() else {
            return 0;
        };
        sockets.get(&user_id).map_or(0, |mine| {
            mine.values()
                .filter(|tx| tx.send(message.clone()).is_ok())
                .count()
        })
    }
}

/// Writes claimed notifications to every open socket of the user, here and on the other
/// replicas.
pub async fn deliver(state: &AppState, user_id: i64, rows: Vec<NotificationRow>) {
    let mut redis = state.redis.clone();
    for row in rows {
        let item = NotificationItem::from(row);
        let Some(message) = socket_message(&item) else {
            continue;
        };
        state.hub.send_local(user_id, &message);
        state
            .metrics
            .notifications_delivered
            .with_label_values(&["websocket"])
            .inc();
        let fanout = NotificationMessage::Deliver {
            user_id,
            origin: state.hub.origin,
            item: serde_json::to_value(&item).unwrap_or_default(),
        };
        if let Ok(payload) = serde_json::to_string(&fanout) {
            // Claimed already: other replicas' sockets only get it through this message, so
            // ride out a brief Redis hiccup (the connection reconnects by itself).
            for attempt in 1..=3 {
                let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(&state.keys.notifications)
                    .arg(&payload)
                    .query_async(&mut redis)
                    .await;
                match published {
                    Ok(_) => break,
                    Err(error) if attempt == 3 => {
                        tracing::warn!(%error, "fanning a notification out to other replicas failed");
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100 * attempt)).await,
                }
            }
        }
    }
}

/// Claims and delivers everything undelivered for a user with open sockets.
pub async fn catch_up(state: &AppState, user_id: i64) -> Result<(), sqlx::Error> {
    loop {
        let rows = store::notifications::claim_unsent(&state.db, user_id, Some(500)).await?;
        let done = rows.len() < 500;
        deliver(state, user_id, rows).await;
        if done {
            return Ok(());
        }
    }
}

async fn on_message(state: Arc<AppState>, payload: String) {
    match serde_json::from_str::<NotificationMessage>(&payload) {
        Ok(NotificationMessage::Created { user_id, id }) => {
            if !state.hub.has_sockets(user_id) {
                return;
            }
            match store::notifications::claim_one(&state.db, user_id, id).await {
                Ok(Some(row)) => deliver(&state, user_id, vec![row]).await,
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
            if origin == state.hub.origin {
                return;
            }
            let mut value = item;
            if let Value::Object(map) = &mut value {
                map.insert("type".into(), Value::String("notification".into()));
            }
            state.hub.send_local(user_id, &Arc::from(value.to_string()));
        }
        Err(error) => tracing::warn!(%error, "an unreadable notification message"),
    }
}

/// Listens on the notifications channel for the life of the process, reconnecting as needed.
pub async fn listen(state: Arc<AppState>, client: redis::Client) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(error) = pubsub.subscribe(&state.keys.notifications).await {
                    tracing::warn!(%error, "subscribing to notifications failed");
                } else {
                    tracing::debug!("listening for notifications");
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(payload) = message.get_payload::<String>() else {
                            continue;
                        };
                        tokio::spawn(on_message(state.clone(), payload));
                    }
                    tracing::warn!("the notifications subscription ended; reconnecting");
                }
            }
            Err(error) => tracing::debug!(%error, "cannot subscribe to notifications yet"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
