//! Notifications: claiming (marking delivered) atomically, so each is delivered exactly once
//! across any number of concurrent `unsent` calls and sockets, and the history.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use crate::domain::cursor::TimeCursor;

#[derive(FromRow, Clone, Debug)]
pub struct NotificationRow {
    pub id: i64,
    pub kind: String,
    pub actor: String,
    pub post_id: i64,
    pub comment_id: i64,
    pub excerpt: String,
    pub created_at: DateTime<Utc>,
}

/// Claims the user's undelivered notifications (at most `limit` when given), oldest first. Rows another
/// caller is claiming at the same moment are skipped (they are that caller's), never
/// returned twice.
pub async fn claim_unsent(
    db: &PgPool,
    user_id: i64,
    limit: Option<i64>,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    sqlx::query_as(
        "WITH claimed AS (
             UPDATE notifications SET delivered_at = now()
             WHERE id IN (SELECT id FROM notifications
                          WHERE user_id = $1 AND delivered_at IS NULL
                          ORDER BY created_at, id LIMIT $2
                          FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, actor_id, post_id, comment_id, excerpt, created_at
         )
         SELECT c.id, c.kind, u.username AS actor, c.post_id, c.comment_id, c.excerpt, c.created_at
         FROM claimed c JOIN users u ON u.id = c.actor_id
         ORDER BY c.created_at, c.id",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Claims one notification of the user if it is still undelivered.
pub async fn claim_one(
    db: &PgPool,
    user_id: i64,
    id: i64,
) -> Result<Option<NotificationRow>, sqlx::Error> {
    sqlx::query_as(
        "WITH claimed AS (
             UPDATE notifications SET delivered_at = now()
             WHERE id = $2 AND user_id = $1 AND delivered_at IS NULL
             RETURNING id, kind, actor_id, post_id, comment_id, excerpt, created_at
         )
         SELECT c.id, c.kind, u.username AS actor, c.post_id, c.comment_id, c.excerpt, c.created_at
         FROM claimed c JOIN users u ON u.id = c.actor_id",
    )
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The user's notifications, delivered or not, newest first.
pub async fn history(
    db: &PgPool,
    user_id: i64,
    before: Option<TimeCursor>,
    limit: i64,
) -> Result<Vec<(NotificationRow, bool)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        n: NotificationRow,
        delivered: bool,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT n.id, n.kind, u.username AS actor, n.post_id, n.comment_id, n.excerpt,
                n.created_at, n.delivered_at IS NOT NULL AS delivered
         FROM notifications n JOIN users u ON u.id = n.actor_id
         WHERE n.user_id = $1
           AND ($2::timestamptz IS NULL OR (n.created_at, n.id) < ($2, $3))
         ORDER BY n.created_at DESC, n.id DESC
         LIMIT $4",
    )
    .bind(user_id)
    .bind(before.map(|c| c.created_at))
    .bind(before.map_or(0, |c| c.id))
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.n, r.delivered)).collect())
}
