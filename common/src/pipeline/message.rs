//! The pub/sub messages between the processes: notification announcements and fan-out, and
//! revocations. JSON objects tagged by `type`; each message type publishes itself on its one
//! channel of [`Keys`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Keys;

/// Messages on the notifications channel ([`Keys::notifications`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotificationMessage {
    /// The worker created notification `id` for `user_id`: a replica with a socket of that
    /// user claims it.
    Created { user_id: i64, id: i64 },
    /// A replica claimed a notification: every replica writes `item` to its sockets of
    /// `user_id` (except `origin`, which already did).
    Deliver {
        user_id: i64,
        origin: Uuid,
        item: serde_json::Value,
    },
}

/// Messages on the revocations channel ([`Keys::revocations`]). PostgreSQL records every
/// revocation first; these only make every replica act on it at once instead of at its next
/// check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Revocation {
    /// An access token was logged out: close every socket opened with it.
    Token { jti: Uuid },
    /// A client application's key was revoked: drop it from every API key cache.
    Application { id: Uuid },
}

impl NotificationMessage {
    /// `PUBLISH`es the message; the number of replicas that heard it.
    pub async fn publish(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        keys: &Keys,
    ) -> anyhow::Result<i64> {
        publish(conn, &keys.notifications, self).await
    }
}

impl Revocation {
    /// Announces the revocation to every API replica (`PUBLISH`; the number of replicas that
    /// heard it).
    pub async fn publish(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        keys: &Keys,
    ) -> anyhow::Result<i64> {
        publish(conn, &keys.revocations, self).await
    }
}

async fn publish(
    conn: &mut impl redis::aio::ConnectionLike,
    channel: &str,
    message: &impl Serialize,
) -> anyhow::Result<i64> {
    let payload = serde_json::to_string(message)?;
    let heard = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(conn)
        .await?;
    Ok(heard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json() {
        let created = NotificationMessage::Created { user_id: 7, id: 9 };
        let text = serde_json::to_string(&created).unwrap();
        assert_eq!(text, r#"{"type":"created","user_id":7,"id":9}"#);
        assert_eq!(
            serde_json::from_str::<NotificationMessage>(&text).unwrap(),
            created
        );
        let jti = Uuid::new_v4();
        let text = serde_json::to_string(&Revocation::Token { jti }).unwrap();
        assert_eq!(text, format!(r#"{{"type":"token","jti":"{jti}"}}"#));
    }
}
