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
//!
//! Revocations travel on a second channel: a logout closes every socket of that token on every
//! replica at once, and nothing is claimed for a socket whose token PostgreSQL says is revoked
//! (checked right before each claim), so a notification is never marked delivered to a dead
//! session.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use roost_common::pipeline::message::{NotificationMessage, Revocation};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::{
    auth::AuthUser,
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

/// A socket's loop's side of the hub: the messages to write, and the close signal. The close
/// signal is apart from the messages, so a revocation is seen before anything still queued.
pub struct SocketHandle {
    pub id: u64,
    pub messages: mpsc::UnboundedReceiver<Arc<str>>,
    /// `Some(reason)` once the socket must close (its token was revoked or has expired).
    pub closed: watch::Receiver<Option<&'static str>>,
}

/// One open socket: the token it authenticated with, its loop's inbox and close signal.
struct Socket {
    jti: Uuid,
    expires_at: DateTime<Utc>,
    tx: mpsc::UnboundedSender<Arc<str>>,
    close: watch::Sender<Option<&'static str>>,
}

type Sockets = HashMap<i64, HashMap<u64, Socket>>;

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

    /// Adds a socket of `user` (authenticated with the token `user.jti`).
    pub fn register(&self, user: &AuthUser) -> SocketHandle {
        let (tx, messages) = mpsc::unbounded_channel();
        let (close, closed) = watch::channel(None);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.entry(user.id).or_default().insert(
                id,
                Socket {
                    jti: user.jti,
                    expires_at: user.expires_at,
                    tx,
                    close,
                },
            );
        }
        SocketHandle {
            id,
            messages,
            closed,
        }
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

    /// Closes (and forgets) every socket opened with the token `jti`, at once; returns how
    /// many there were. Nothing is written to them after this returns.
    pub fn revoke_token(&self, jti: Uuid, reason: &'static str) -> usize {
        let Ok(mut sockets) = self.sockets.lock() else {
            return 0;
        };
        let mut closed = 0;
        sockets.retain(|_, mine| {
            mine.retain(|_, socket| {
                let keep = socket.jti != jti;
                if !keep {
                    socket.close.send_replace(Some(reason));
                    closed += 1;
                }
                keep
            });
            !mine.is_empty()
        });
        closed
    }

    /// The tokens of the user's open sockets, with expired ones closed first.
    fn live_tokens(&self, user_id: i64) -> Vec<Uuid> {
        let Ok(mut sockets) = self.sockets.lock() else {
            return Vec::new();
        };
        let Some(mine) = sockets.get_mut(&user_id) else {
            return Vec::new();
        };
        let now = Utc::now();
        mine.retain(|_, socket| {
            let live = socket.expires_at > now;
            if !live {
                socket.close.send_replace(Some(TOKEN_EXPIRED));
            }
            live
        });
        let tokens = mine.values().map(|s| s.jti).collect();
        if mine.is_empty() {
            sockets.remove(&user_id);
        }
        tokens
    }

    /// Closes every socket here (the replica is stopping); the clients reconnect elsewhere.
    pub fn close_all(&self, reason: &'static str) {
        if let Ok(mut sockets) = self.sockets.lock() {
            for socket in sockets.values().flat_map(HashMap::values) {
                socket.close.send_replace(Some(reason));
            }
            sockets.clear();
        }
    }

    /// The tokens of every open socket here.
    fn all_tokens(&self) -> Vec<Uuid> {
        self.sockets.lock().map_or_else(
            |_| Vec::new(),
            |sockets| {
                sockets
                    .values()
                    .flat_map(|mine| mine.values().map(|s| s.jti))
                    .collect()
            },
        )
    }

    /// Writes to every local socket of the user; the number of sockets reached.
    fn send_local(&self, user_id: i64, message: &Arc<str>) -> usize {
        let Ok(sockets) = self.sockets.lock() else {
            return 0;
        };
        sockets.get(&user_id).map_or(0, |mine| {
            mine.values()
                .filter(|s| s.tx.send(message.clone()).is_ok())
                .count()
        })
    }
}

/// Close reasons sent to clients.
pub const TOKEN_REVOKED: &str = "token revoked";
pub const TOKEN_EXPIRED: &str = "token expired";
/// The replica is stopping: reconnect (to another replica).
pub const SHUTTING_DOWN: &str = "server shutting down";

/// Whether the user has a socket here whose token still stands. Checked against PostgreSQL
/// (the source of truth) right before anything is claimed for those sockets, so a revocation
/// whose pub/sub message was lost or is still on its way is never delivered to: sockets of
/// revoked tokens are closed here and then.
async fn has_live_sockets(state: &AppState, user_id: i64) -> Result<bool, sqlx::Error> {
    let tokens = state.hub.live_tokens(user_id);
    if tokens.is_empty() {
        return Ok(false);
    }
    let revoked = store::tokens::revoked_among(&state.db, &tokens).await?;
    for jti in &revoked {
        state.hub.revoke_token(*jti, TOKEN_REVOKED);
    }
    Ok(tokens.iter().any(|t| !revoked.contains(t)))
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
        // Claimed already: other replicas' sockets only get it through this message, so ride
        // out a brief Redis hiccup (the connection reconnects by itself).
        for attempt in 1..=3 {
            match fanout.publish(&mut redis, &state.keys).await {
                Ok(_) => break,
                Err(error) if attempt == 3 => {
                    tracing::warn!(%error, "fanning a notification out to other replicas failed");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100 * attempt)).await,
            }
        }
    }
}

/// Claims and delivers everything undelivered for a user with open sockets (none when no
/// socket's token still stands).
pub async fn catch_up(state: &AppState, user_id: i64) -> Result<(), sqlx::Error> {
    loop {
        if !has_live_sockets(state, user_id).await? {
            return Ok(());
        }
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
            match has_live_sockets(&state, user_id).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(%error, "checking sockets' tokens failed; the socket's next check retries");
                    return;
                }
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
            // Claimed elsewhere: this replica's sockets of the user still get it only if their
            // tokens stand (revocations missed while Redis was away are caught here).
            match has_live_sockets(&state, user_id).await {
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
            state.hub.send_local(user_id, &Arc::from(value.to_string()));
        }
        Err(error) => tracing::warn!(%error, "an unreadable notification message"),
    }
}

/// Closes every local socket whose token PostgreSQL says is revoked.
async fn close_revoked_sockets(state: &AppState) -> Result<(), sqlx::Error> {
    let tokens = state.hub.all_tokens();
    if tokens.is_empty() {
        return Ok(());
    }
    for jti in store::tokens::revoked_among(&state.db, &tokens).await? {
        state.hub.revoke_token(jti, TOKEN_REVOKED);
    }
    Ok(())
}

/// Tells every replica (this one included, directly, in case Redis is away) of a revocation.
/// A lost message leaves the fallbacks: a socket's periodic token check and the API key
/// cache's time to live.
pub async fn revoke(state: &AppState, revocation: Revocation) {
    apply_revocation(state, &revocation);
    let mut redis = state.redis.clone();
    if let Err(error) = revocation.publish(&mut redis, &state.keys).await {
        tracing::warn!(%error, ?revocation, "announcing a revocation to other replicas failed; they apply it at their next check");
    }
}

fn apply_revocation(state: &AppState, revocation: &Revocation) {
    match revocation {
        Revocation::Token { jti } => {
            state.hub.revoke_token(*jti, TOKEN_REVOKED);
        }
        Revocation::Application { id } => state.api_keys.revoke(*id),
    }
}

/// Listens on the notifications and revocations channels for the life of the process,
/// reconnecting as needed.
pub async fn listen(state: Arc<AppState>, client: redis::Client) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                let subscribed = async {
                    pubsub.subscribe(&state.keys.notifications).await?;
                    pubsub.subscribe(&state.keys.revocations).await
                };
                if let Err(error) = subscribed.await {
                    tracing::warn!(%error, "subscribing to notifications and revocations failed");
                } else {
                    tracing::debug!("listening for notifications and revocations");
                    // Revocations sent while this replica was not listening are lost: forget
                    // every cached API key rather than wait for the time to live, and check
                    // every open socket's token.
                    state.api_keys.clear();
                    if let Err(error) = close_revoked_sockets(&state).await {
                        tracing::warn!(%error, "re-checking open sockets' tokens failed; their periodic check will");
                    }
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(payload) = message.get_payload::<String>() else {
                            continue;
                        };
                        if message.get_channel_name() == state.keys.revocations {
                            // In order, before any later delivery is handled.
                            match serde_json::from_str::<Revocation>(&payload) {
                                Ok(revocation) => apply_revocation(&state, &revocation),
                                Err(error) => {
                                    tracing::warn!(%error, "an unreadable revocation message")
                                }
                            }
                        } else {
                            tokio::spawn(on_message(state.clone(), payload));
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
