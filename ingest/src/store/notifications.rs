//! Notifications, created from `comment.created` domain events.

use roost_common::pipeline::domain_event::CommentCreated;
use sqlx::PgConnection;

/// Longest notification excerpt, in characters (SPEC §3.4: the first 100 characters).
const EXCERPT_CHARS: usize = 100;

/// A notification to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub user_id: i64,
    pub actor_id: i64,
    pub post_id: i64,
    pub comment_id: i64,
    pub excerpt: String,
}

impl NewNotification {
    /// The notification a comment asks for: its post's author hears of it, unless they wrote
    /// the comment themselves.
    pub fn for_comment(comment: &CommentCreated) -> Option<Self> {
        (comment.post_author_id != comment.user_id).then(|| Self {
            user_id: comment.post_author_id,
            actor_id: comment.user_id,
            post_id: comment.post_id,
            comment_id: comment.comment_id,
            excerpt: comment.text.chars().take(EXCERPT_CHARS).collect(),
        })
    }
}

/// A created notification, to announce to the API replicas after the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub id: i64,
    pub user_id: i64,
}

/// Inserts the notifications not created yet (one per comment); returns the new ones. The
/// caller's transaction.
pub async fn insert(
    tx: &mut PgConnection,
    notifications: &[NewNotification],
) -> Result<Vec<Created>, sqlx::Error> {
    if notifications.is_empty() {
        return Ok(Vec::new());
    }
    let created: Vec<(i64, i64)> = sqlx::query_as(
        // A notification is dated by its comment, not by when a consumer got to it: with
        // several consumers, comments can be processed out of order.
        "INSERT INTO notifications (user_id, actor_id, post_id, comment_id, excerpt,
                                    created_at)
         SELECT t.user_id, t.actor_id, t.post_id, t.comment_id, t.excerpt, c.created_at
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
             AS t(user_id, actor_id, post_id, comment_id, excerpt)
         JOIN comments c ON c.id = t.comment_id
         ORDER BY c.created_at, c.id
         ON CONFLICT (comment_id) DO NOTHING
         RETURNING id, user_id",
    )
    .bind(notifications.iter().map(|n| n.user_id).collect::<Vec<_>>())
    .bind(notifications.iter().map(|n| n.actor_id).collect::<Vec<_>>())
    .bind(notifications.iter().map(|n| n.post_id).collect::<Vec<_>>())
    .bind(
        notifications
            .iter()
            .map(|n| n.comment_id)
            .collect::<Vec<_>>(),
    )
    .bind(
        notifications
            .iter()
            .map(|n| n.excerpt.as_str())
            .collect::<Vec<_>>(),
    )
    .fetch_all(tx)
    .await?;
    Ok(created
        .into_iter()
        .map(|(id, user_id)| Created { id, user_id })
        .collect())
}
