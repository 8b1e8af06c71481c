//! Comments on posts.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use roost_common::pipeline::{
    domain_event::{CommentCreated, DomainEvent},
    outbox::{self, Publisher},
};

use crate::domain::cursor::TimeCursor;

#[derive(FromRow)]
pub struct CommentRow {
    pub id: i64,
    pub post_id: i64,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Adds a comment (the caller has checked the post is visible), bumps the post's counter and
/// records `comment.created` (the notification source) in the same transaction.
pub async fn create(
    db: &PgPool,
    outbox: &Publisher,
    post_id: i64,
    author: i64,
    text: &str,
) -> Result<CommentRow, sqlx::Error> {
    let mut tx = db.begin().await?;
    let post_author: i64 = sqlx::query_scalar(
        "UPDATE posts SET comments_count = comments_count + 1 WHERE id = $1 RETURNING author_id",
    )
    .bind(post_id)
    .fetch_one(&mut *tx)
    .await?;
    let (id, created_at): (i64, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO comments (post_id, author_id, body) VALUES ($1, $2, $3) RETURNING id, created_at",
    )
    .bind(post_id)
    .bind(author)
    .bind(text)
    .fetch_one(&mut *tx)
    .await?;
    let (username, email): (String, Option<String>) =
        sqlx::query_as("SELECT username, email FROM users WHERE id = $1")
            .bind(author)
            .fetch_one(&mut *tx)
            .await?;
    let event = outbox::record(
        &mut tx,
        &DomainEvent::CommentCreated(CommentCreated {
            comment_id: id,
            post_id,
            post_author_id: post_author,
            user_id: author,
            username: username.clone(),
            email,
            timestamp: created_at,
            text: text.to_owned(),
        }),
    )
    .await?;
    tx.commit().await?;
    outbox.publish(event);
    Ok(CommentRow {
        id,
        post_id,
        author: username,
        body: text.to_owned(),
        created_at,
    })
}

/// A post's comments, oldest first.
pub async fn list(
    db: &PgPool,
    post_id: i64,
    after: Option<TimeCursor>,
    limit: i64,
) -> Result<Vec<CommentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.post_id, u.username AS author, c.body, c.created_at
         FROM comments c JOIN users u ON u.id = c.author_id
         WHERE c.post_id = $1 AND ($2::timestamptz IS NULL OR (c.created_at, c.id) > ($2, $3))
         ORDER BY c.created_at, c.id
         LIMIT $4",
    )
    .bind(post_id)
    .bind(after.map(|c| c.created_at))
    .bind(after.map_or(0, |c| c.id))
    .bind(limit)
    .fetch_all(db)
    .await
}
