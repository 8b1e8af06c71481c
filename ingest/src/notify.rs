//! Announces new notifications to the API replicas over Redis pub/sub. A lost announcement
//! only delays delivery: the notification is in PostgreSQL, and sockets re-check what is
//! undelivered periodically and on connect.

use redis::aio::ConnectionManager;
use roost_common::pipeline::{Keys, message::NotificationMessage};

use crate::store::notifications::Created;

pub async fn announce(conn: &mut ConnectionManager, keys: &Keys, created: &[Created]) {
    for n in created {
        let message = NotificationMessage::Created {
            user_id: n.user_id,
            id: n.id,
        };
        if let Err(error) = message.publish(conn, keys).await {
            tracing::warn!(%error, "announcing a notification failed; sockets will find it on their next check");
            return;
        }
    }
}
