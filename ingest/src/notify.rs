//! Announces new notifications to the API replicas over Redis pub/sub. A lost announcement
//! only delays delivery: the notification is in PostgreSQL, and sockets re-check what is
//! undelivered periodically and on connect.

use redis::aio::ConnectionManager;
use roost_common::stream::Keys;

use crate::store::Created;

pub async fn announce(conn: &mut ConnectionManager, keys: &Keys, created: &[Created]) {
    for n in created {
        let message = roost_common::stream::NotificationMessage::Created {
            user_id: n.user_id,
            id: n.id,
        };
        let payload = match serde_json::to_string(&message) {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(%error, "encoding a notification announcement failed");
                continue;
            }
        };
        let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&keys.notifications)
            .arg(payload)
            .query_async(conn)
            .await;
        if let Err(error) = published {
            tracing::warn!(%error, "announcing a notification failed; sockets will find it on their next check");
            return;
        }
    }
}
