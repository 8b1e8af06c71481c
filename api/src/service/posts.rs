//! Publishing (SPEC §3.3): posts, reposts and quotes. The rules that need the database live
//! here, once: the target must be visible to the author; a repost cannot be reposted; quoting
//! a repost quotes its original; a quote cannot be quoted; each user reposts a post at most
//! once; the optional daily limit (UTC day) counts every kind. Content rules are the domain's
//! (`domain::post`).

use chrono::{Duration, Utc};
use roost_common::pipeline::outbox::Publisher;
use sqlx::PgPool;

use crate::{
    domain::post::{PostKind, Visibility},
    store::{
        self,
        posts::{Created, NewPost, PostRow},
    },
};

/// What publishing needs.
#[derive(Clone, Copy)]
pub struct Publishing<'a> {
    pub db: &'a PgPool,
    pub outbox: &'a Publisher,
    /// Posts per author per UTC day (`ROOST_DAILY_POST_LIMIT`); `None` for no limit.
    pub daily_limit: Option<u32>,
}

/// Why a post was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The target does not exist or the author may not see it.
    #[error("The post does not exist or is not visible to you.")]
    PostNotFound,
    #[error("A repost cannot be reposted; repost the original instead.")]
    CannotRepost,
    #[error("A quote cannot be quoted.")]
    CannotQuote,
    #[error("You have already reposted this post.")]
    AlreadyReposted,
    /// `retry_after`: seconds until the next UTC midnight.
    #[error("You have reached today's limit of {limit} posts (UTC day).")]
    DailyLimit { limit: u32, retry_after: u64 },
    #[error("storing the post failed")]
    Store(#[from] sqlx::Error),
}

/// Publishes a post (title and text already valid); its id.
pub async fn post(
    deps: Publishing<'_>,
    author: i64,
    title: &str,
    text: &str,
    visibility: Visibility,
) -> Result<i64, PublishError> {
    create(deps, author, NewPost::Post { title, text }, visibility).await
}

/// Reposts post `target`; the new post's id.
pub async fn repost(
    deps: Publishing<'_>,
    author: i64,
    target: i64,
    visibility: Visibility,
) -> Result<i64, PublishError> {
    let target = visible(deps, author, target).await?;
    if target.kind == PostKind::Repost {
        return Err(PublishError::CannotRepost);
    }
    let new = NewPost::Repost {
        original_id: target.id,
    };
    create(deps, author, new, visibility).await
}

/// Quotes post `target` (its original when it is a repost) with `text` (already valid); the
/// new post's id.
pub async fn quote(
    deps: Publishing<'_>,
    author: i64,
    target: i64,
    text: &str,
    visibility: Visibility,
) -> Result<i64, PublishError> {
    let mut target = visible(deps, author, target).await?;
    if target.kind == PostKind::Repost {
        let original = target.original_id.unwrap_or(target.id);
        target = visible(deps, author, original).await?;
    }
    if target.kind == PostKind::Quote {
        return Err(PublishError::CannotQuote);
    }
    let new = NewPost::Quote {
        original_id: target.id,
        text,
    };
    create(deps, author, new, visibility).await
}

async fn visible(deps: Publishing<'_>, viewer: i64, id: i64) -> Result<PostRow, PublishError> {
    store::posts::visible(deps.db, viewer, id)
        .await?
        .ok_or(PublishError::PostNotFound)
}

async fn create(
    deps: Publishing<'_>,
    author: i64,
    new: NewPost<'_>,
    visibility: Visibility,
) -> Result<i64, PublishError> {
    let created = store::posts::create(
        deps.db,
        deps.outbox,
        author,
        new,
        visibility,
        deps.daily_limit,
    )
    .await?;
    match created {
        Created::Post(id) => Ok(id),
        Created::DailyLimitReached => Err(PublishError::DailyLimit {
            limit: deps.daily_limit.unwrap_or_default(),
            retry_after: seconds_to_utc_midnight(),
        }),
        Created::AlreadyReposted => Err(PublishError::AlreadyReposted),
    }
}

/// Seconds until the next UTC midnight, when the daily limit resets (at least 1).
fn seconds_to_utc_midnight() -> u64 {
    let now = Utc::now();
    let tomorrow = (now + Duration::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc());
    tomorrow.map_or(3600, |t| {
        u64::try_from((t - now).num_seconds()).unwrap_or(1).max(1)
    })
}
