//! `/v1/users`: the user list, profiles and a user's posts.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::posts::{PostView, views};
use crate::{
    auth::AuthUser,
    domain::cursor::{NameCursor, TimeCursor},
    http::{
        error::{ApiError, ApiResult},
        page::{Page, limit, paginate},
    },
    state::AppState,
    store::{
        self, like_pattern,
        posts::{Scope, Window},
    },
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_users).service(profile).service(user_posts);
}

#[derive(Deserialize, IntoParams)]
pub struct UsersQuery {
    /// Case-insensitive substring of the username.
    q: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserItem {
    username: String,
    subscribers: i32,
}

/// Every user except the caller, by username.
#[utoipa::path(tag = "users", params(UsersQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<UserItem>), (status = 400, description = "`invalid_cursor`", body = crate::http::error::Problem)))]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<UsersQuery>,
) -> ApiResult<web::Json<Page<UserItem>>> {
    let limit = limit(query.limit, 20, 100)?;
    let after = NameCursor::decode(query.cursor.as_deref())?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.contains('\0')) {
        return Err(ApiError::field("q", "must not contain NUL characters"));
    }
    let pattern = q.map(like_pattern);
    let rows = store::users::list(
        &state.db,
        user.id,
        pattern.as_deref(),
        after.as_ref().map(|c| c.0.as_str()),
        limit + 1,
    )
    .await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |r| NameCursor::encode(&r.username),
        |r| UserItem {
            username: r.username,
            subscribers: r.subscribers_count,
        },
    )))
}

#[derive(Serialize, ToSchema)]
pub struct Profile {
    username: String,
    joined_at: DateTime<Utc>,
    subscribers: i32,
    subscriptions: i32,
    /// Every post of every kind the user has made.
    posts: i32,
    /// Whether the caller subscribes to this user.
    subscribed: bool,
}

/// A user's public profile.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 200, body = Profile), (status = 404, description = "`user_not_found`", body = crate::http::error::Problem)))]
#[get("/users/{username}")]
pub async fn profile(
    state: web::Data<AppState>,
    user: AuthUser,
    username: web::Path<String>,
) -> ApiResult<web::Json<Profile>> {
    let p = store::users::profile_by_name(&state.db, user.id, &username)
        .await?
        .ok_or_else(|| ApiError::user_not_found(&username))?;
    Ok(web::Json(Profile {
        username: p.username,
        joined_at: p.created_at,
        subscribers: p.subscribers_count,
        subscriptions: p.subscriptions_count,
        posts: p.posts_count,
        subscribed: p.subscribed,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct UserPostsQuery {
    /// 1–100, default 5.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A user's posts that the caller may see, newest first.
#[utoipa::path(tag = "posts", params(UserPostsQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<PostView>), (status = 404, description = "`user_not_found`", body = crate::http::error::Problem)))]
#[get("/users/{username}/posts")]
pub async fn user_posts(
    state: web::Data<AppState>,
    user: AuthUser,
    username: web::Path<String>,
    query: web::Query<UserPostsQuery>,
) -> ApiResult<web::Json<Page<PostView>>> {
    let limit = limit(query.limit, 5, 100)?;
    let after = TimeCursor::decode(query.cursor.as_deref())?;
    let (author, _) = store::users::find(&state.db, &username)
        .await?
        .ok_or_else(|| ApiError::user_not_found(&username))?;
    let window = Window {
        from: None,
        to: None,
        after,
        limit: limit + 1,
    };
    let rows = store::posts::list(&state.db, user.id, Scope::Author(author), &window).await?;
    Ok(web::Json(views(&state, rows, limit).await?))
}
