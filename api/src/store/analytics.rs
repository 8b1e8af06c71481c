//! The analytics reports. Their SQL lives in versioned files under `analytics/` (documented in
//! DOCS.md) and is compiled into the binary.

use serde_json::Value;
use sqlx::PgPool;

const LOGINS_PER_DAY: &str = include_str!("../../../analytics/v1/logins_per_day.sql");
const TOP_POSTS: &str = include_str!("../../../analytics/v1/top_posts.sql");
const POST_EXTREMES: &str = include_str!("../../../analytics/v1/post_extremes.sql");

/// (day `YYYY-MM-DD`, distinct users who logged in), oldest day first.
pub async fn logins_per_day(db: &PgPool, days: i32) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(LOGINS_PER_DAY)
        .bind(days)
        .fetch_all(db)
        .await
}

/// (day, JSON array of `{"post_id", "comments"}`), oldest day first.
pub async fn top_posts(db: &PgPool, days: i32) -> Result<Vec<(String, Value)>, sqlx::Error> {
    sqlx::query_as(TOP_POSTS).bind(days).fetch_all(db).await
}

/// (`top` | `worst`, post id, comments); empty when the user has no post or quote.
pub async fn post_extremes(
    db: &PgPool,
    user_id: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(POST_EXTREMES)
        .bind(user_id)
        .fetch_all(db)
        .await
}
