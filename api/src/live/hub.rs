//! This replica's open notification sockets, by user: registration, local writes and
//! closing (a revoked or expired token, shutdown).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::TOKEN_EXPIRED;
use crate::auth::AuthUser;

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
    pub(super) fn live_tokens(&self, user_id: i64) -> Vec<Uuid> {
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
    pub(super) fn all_tokens(&self) -> Vec<Uuid> {
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
    pub(super) fn send_local(&self, user_id: i64, message: &Arc<str>) -> usize {
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
