//! Posts, reposts and quotes: creation (with counters, the daily limit and the outbox event),
//! visibility, feeds and search. Every query that returns posts to a viewer binds the viewer
//! as `$1` and filters with [`VISIBLE`].

use std::{collections::HashMap, sync::LazyLock};

use sqlx::AssertSqlSafe;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use roost_common::pipeline::{
    domain_event::{DomainEvent, PostCreated},
    outbox::{self, Publisher},
};

use super::unique_violation;
use crate::domain::{
    cursor::TimeCursor,
    post::{PostKind, Visibility},
};

/// `alias` is visible to viewer `$1`: their own, public, or followers-only by someone they follow.
fn can_see(alias: &str) -> String {
    format!(
        "({alias}.author_id = $1 OR {alias}.visibility = 'public' OR EXISTS (
            SELECT 1 FROM subscriptions vs WHERE vs.subscriber_id = $1 AND vs.target_id = {alias}.author_id))"
    )
}

/// The originals of `p` (up to two levels: a repost of a quote of a post) are visible.
static ORIGINALS_VISIBLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "(p.original_id IS NULL OR EXISTS (
            SELECT 1 FROM posts o WHERE o.id = p.original_id AND {o} AND (
                o.original_id IS NULL OR EXISTS (
                    SELECT 1 FROM posts oo WHERE oo.id = o.original_id AND {oo}))))",
        o = can_see("o"),
        oo = can_see("oo"),
    )
});

/// Post `p` is visible to viewer `$1`: itself and every post it reposts or quotes.
static VISIBLE: LazyLock<String> =
    LazyLock::new(|| format!("({} AND {})", can_see("p"), *ORIGINALS_VISIBLE));

const COLUMNS: &str = "p.id, p.kind, u.username AS author, p.title, p.body, p.visibility,
    p.created_at, p.comments_count, p.reposts_count, p.original_id";

#[derive(Clone, Debug, FromRow)]
pub struct PostRow {
    pub id: i64,
    pub kind: PostKind,
    pub author: String,
    pub title: Option<String>,
    pub body: Option<String>,
    pub visibility: Visibility,
    pub created_at: DateTime<Utc>,
    pub comments_count: i32,
    pub reposts_count: i32,
    pub original_id: Option<i64>,
}

/// What to create.
pub enum NewPost<'a> {
    Post { title: &'a str, text: &'a str },
    Repost { original_id: i64 },
    Quote { original_id: i64, text: &'a str },
}

pub enum Created {
    Post(i64),
    DailyLimitReached,
    AlreadyReposted,
}

/// Inserts a post of any kind with its counters and `post.created` event in one transaction.
/// The author's row lock serialises their concurrent posts, so the daily limit count is exact.
pub async fn create(
    db: &PgPool,
    outbox: &Publisher,
    author: i64,
    new: NewPost<'_>,
    visibility: Visibility,
    daily_limit: Option<u32>,
) -> Result<Created, sqlx::Error> {
    let mut tx = db.begin().await?;
    let (username, email): (String, Option<String>) = sqlx::query_as(
        "UPDATE users SET posts_count = posts_count + 1 WHERE id = $1 RETURNING username, email",
    )
    .bind(author)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(limit) = daily_limit {
        let today: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM posts WHERE author_id = $1
               AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        )
        .bind(author)
        .fetch_one(&mut *tx)
        .await?;
        if today >= i64::from(limit) {
            return Ok(Created::DailyLimitReached);
        }
    }
    let (kind, title, text, original) = match new {
        NewPost::Post { title, text } => (PostKind::Post, Some(title), Some(text), None),
        NewPost::Repost { original_id } => (PostKind::Repost, None, None, Some(original_id)),
        NewPost::Quote { original_id, text } => {
            (PostKind::Quote, None, Some(text), Some(original_id))
        }
    };
    let inserted: Result<(i64, DateTime<Utc>), sqlx::Error> = sqlx::query_as(
        "INSERT INTO posts (author_id, kind, title, body, visibility, original_id)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at",
    )
    .bind(author)
    .bind(kind)
    .bind(title)
    .bind(text)
    .bind(visibility)
    .bind(original)
    .fetch_one(&mut *tx)
    .await;
    let (id, created_at) = match inserted {
        Ok(row) => row,
        Err(e) if unique_violation(&e).as_deref() == Some("posts_one_repost_per_user") => {
            return Ok(Created::AlreadyReposted);
        }
        Err(e) => return Err(e),
    };
    if kind == PostKind::Repost {
        sqlx::query("UPDATE posts SET reposts_count = reposts_count + 1 WHERE id = $1")
            .bind(original)
            .execute(&mut *tx)
            .await?;
    }
    let event = outbox::record(
        &mut tx,
        &DomainEvent::PostCreated(PostCreated {
            post_id: id,
            user_id: author,
            username,
            email,
            timestamp: created_at,
            kind,
            title: title.map(str::to_owned),
            text: text.map(str::to_owned),
            original_id: original,
            visibility,
        }),
    )
    .await?;
    tx.commit().await?;
    outbox.publish(event);
    Ok(Created::Post(id))
}

/// One post if the viewer may see it.
pub async fn visible(db: &PgPool, viewer: i64, id: i64) -> Result<Option<PostRow>, sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS} FROM posts p JOIN users u ON u.id = p.author_id
             WHERE p.id = $2 AND {}",
            *VISIBLE
        )
    });
    sqlx::query_as(AssertSqlSafe(SQL.as_str()))
        .bind(viewer)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Posts by id, without a visibility check (for originals of posts already checked).
pub async fn by_ids(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, PostRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS} FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = ANY($1)"
        )
    });
    let rows: Vec<PostRow> = sqlx::query_as(AssertSqlSafe(SQL.as_str()))
        .bind(ids)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

/// Which posts a listing walks.
pub enum Scope {
    /// One author's posts (a profile page).
    Author(i64),
    /// The viewer and everyone they follow.
    Following,
    /// Everything the viewer may see.
    All,
}

pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<TimeCursor>,
    pub limit: i64,
}

fn list_sql(scope_sql: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM posts p JOIN users u ON u.id = p.author_id
         WHERE {scope_sql}
           AND ($2::timestamptz IS NULL OR p.created_at >= $2)
           AND ($3::timestamptz IS NULL OR p.created_at < $3)
           AND ($4::timestamptz IS NULL OR (p.created_at, p.id) < ($4, $5))
           AND {}
         ORDER BY p.created_at DESC, p.id DESC
         LIMIT $6",
        *VISIBLE
    )
}

/// Posts of every kind, newest first, visible to the viewer.
pub async fn list(
    db: &PgPool,
    viewer: i64,
    scope: Scope,
    w: &Window,
) -> Result<Vec<PostRow>, sqlx::Error> {
    static AUTHOR: LazyLock<String> = LazyLock::new(|| list_sql("p.author_id = $7"));
    static FOLLOWING: LazyLock<String> = LazyLock::new(|| {
        list_sql(
            "p.author_id = ANY(ARRAY(SELECT target_id FROM subscriptions WHERE subscriber_id = $1) || $1::bigint)",
        )
    });
    static ALL: LazyLock<String> = LazyLock::new(|| list_sql("TRUE"));
    let (sql, author) = match scope {
        Scope::Author(id) => (&*AUTHOR, Some(id)),
        Scope::Following => (&*FOLLOWING, None),
        Scope::All => (&*ALL, None),
    };
    sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(viewer)
        .bind(w.from)
        .bind(w.to)
        .bind(w.after.map(|c| c.created_at))
        .bind(w.after.map_or(0, |c| c.id))
        .bind(w.limit)
        .bind(author)
        .fetch_all(db)
        .await
}

#[derive(FromRow)]
pub struct OwnPost {
    pub id: i64,
    pub title: Option<String>,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The viewer's own titled posts, newest first, optionally filtered by a title pattern.
pub async fn search_own(
    db: &PgPool,
    viewer: i64,
    title: Option<&str>,
    after: Option<TimeCursor>,
    limit: i64,
) -> Result<Vec<OwnPost>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, title, body, created_at FROM posts
         WHERE author_id = $1 AND kind = 'post'
           AND ($2::text IS NULL OR title ILIKE $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC
         LIMIT $5",
    )
    .bind(viewer)
    .bind(title)
    .bind(after.map(|c| c.created_at))
    .bind(after.map_or(0, |c| c.id))
    .bind(limit)
    .fetch_all(db)
    .await
}

#[derive(FromRow)]
pub struct FoundPost {
    pub id: i64,
    pub username: String,
    pub title: Option<String>,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub struct SubscriptionSearch<'a> {
    /// Restrict to these authors (already known to exist); `None` = every subscription.
    pub authors: Option<&'a [i64]>,
    pub title: Option<&'a str>,
    pub text: Option<&'a str>,
    pub after: Option<TimeCursor>,
    pub limit: i64,
}

/// Posts and quotes (never reposts) of the viewer's subscriptions, newest first.
pub async fn search_subscriptions(
    db: &PgPool,
    viewer: i64,
    q: &SubscriptionSearch<'_>,
) -> Result<Vec<FoundPost>, sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT p.id, u.username, p.title, p.body, p.created_at
         FROM posts p JOIN users u ON u.id = p.author_id
         WHERE p.author_id = ANY(ARRAY(
                 SELECT target_id FROM subscriptions
                 WHERE subscriber_id = $1 AND ($2::bigint[] IS NULL OR target_id = ANY($2))))
           AND p.kind IN ('post', 'quote')
           AND ($3::text IS NULL OR p.title ILIKE $3)
           AND ($4::text IS NULL OR p.body ILIKE $4)
           AND ($5::timestamptz IS NULL OR (p.created_at, p.id) < ($5, $6))
           AND {}
         ORDER BY p.created_at DESC, p.id DESC
         LIMIT $7",
            *ORIGINALS_VISIBLE
        )
    });
    sqlx::query_as(AssertSqlSafe(SQL.as_str()))
        .bind(viewer)
        .bind(q.authors)
        .bind(q.title)
        .bind(q.text)
        .bind(q.after.map(|c| c.created_at))
        .bind(q.after.map_or(0, |c| c.id))
        .bind(q.limit)
        .fetch_all(db)
        .await
}
