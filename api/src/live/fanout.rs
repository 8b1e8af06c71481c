//! Delivering claimed notifications: to this replica's sockets and, over the notifications
//! channel, to the other replicas'; and the token checks that come first, so nothing is
//! claimed for a socket whose token PostgreSQL says is revoked.

use std::time::Duration;

use roost_common::pipeline::message::NotificationMessage;

use super::{Live, NotificationItem, TOKEN_REVOKED, socket_message};
use crate::store::{self, notifications::NotificationRow};

impl Live {
    /// Whether the user has a socket here whose token still stands. Checked against PostgreSQL
    /// (the source of truth) right before anything is claimed for those sockets, so a revocation
    /// whose pub/sub message was lost or is still on its way is never delivered to: sockets of
    /// revoked tokens are closed here and then.
    pub(super) async fn has_live_sockets(&self, user_id: i64) -> Result<bool, sqlx::Error> {
        let tokens = self.hub.live_tokens(user_id);
        if tokens.is_empty() {
            return Ok(false);
        }
        let revoked = store::tokens::revoked_among(&self.db, &tokens).await?;
        for jti in &revoked {
            self.hub.revoke_token(*jti, TOKEN_REVOKED);
        }
        Ok(tokens.iter().any(|t| !revoked.contains(t)))
    }

    /// Writes claimed notifications to every open socket of the user, here and on the other
    /// replicas.
    pub async fn deliver(&self, user_id: i64, rows: Vec<NotificationRow>) {
        let mut redis = self.redis.clone();
        for row in rows {
            let item = NotificationItem::from(row);
            let Some(message) = socket_message(&item) else {
                continue;
            };
            self.hub.send_local(user_id, &message);
            self.metrics
                .notifications_delivered
                .with_label_values(&["websocket"])
                .inc();
            let fanout = NotificationMessage::Deliver {
                user_id,
                origin: self.hub.origin,
                item: serde_json::to_value(&item).unwrap_or_default(),
            };
            // Claimed already: other replicas' sockets only get it through this message, so ride
            // out a brief Redis hiccup (the connection reconnects by itself).
            for attempt in 1..=3 {
                match fanout.publish(&mut redis, &self.keys).await {
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
    pub async fn catch_up(&self, user_id: i64) -> Result<(), sqlx::Error> {
        loop {
            if !self.has_live_sockets(user_id).await? {
                return Ok(());
            }
            let rows = store::notifications::claim_unsent(&self.db, user_id, Some(500)).await?;
            let done = rows.len() < 500;
            self.deliver(user_id, rows).await;
            if done {
                return Ok(());
            }
        }
    }

    /// Closes every local socket whose token PostgreSQL says is revoked.
    pub(super) async fn close_revoked_sockets(&self) -> Result<(), sqlx::Error> {
        let tokens = self.hub.all_tokens();
        if tokens.is_empty() {
            return Ok(());
        }
        for jti in store::tokens::revoked_among(&self.db, &tokens).await? {
            self.hub.revoke_token(jti, TOKEN_REVOKED);
        }
        Ok(())
    }
}
