//! User listings, profiles and subscriptions.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    auth::AuthUser,
    domain::pagination::{NameCursor, Page, limit, paginate},
    error::{ApiError, ApiResult, Code},
    state::AppState,
    store::{self, like_pattern, subscriptions::Subscribed},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(my_subscriptions)
        .service(my_subscribers)
        .service(subscribe)
        .service(unsubscribe)
        .service(profile);
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

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
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
    (status = 200, body = Page<UserItem>), (status = 400, description = "`invalid_cursor`", body = crate::error::Problem)))]
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
    (status = 200, body = Profile), (status = 404, description = "`user_not_found`", body = crate::error::Problem)))]
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

#[derive(Serialize, ToSchema)]
pub struct RelationItem {
    username: String,
    since: DateTime<Utc>,
}

async fn relations(
    state: &AppState,
    user: &AuthUser,
    query: &PageQuery,
    following: bool,
) -> ApiResult<Page<RelationItem>> {
    let limit = limit(query.limit, 20, 100)?;
    let after = NameCursor::decode(query.cursor.as_deref())?;
    let rows = store::subscriptions::list(
        &state.db,
        user.id,
        following,
        after.as_ref().map(|c| c.0.as_str()),
        limit + 1,
    )
    .await?;
    Ok(paginate(
        rows,
        limit,
        |r| NameCursor::encode(&r.username),
        |r| RelationItem {
            username: r.username,
            since: r.since,
        },
    ))
}

/// Whom the caller subscribes to, by username.
#[utoipa::path(tag = "users", params(PageQuery), security(("bearer" = [])), responses((status = 200, body = Page<RelationItem>)))]
#[get("/me/subscriptions")]
pub async fn my_subscriptions(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RelationItem>>> {
    Ok(web::Json(relations(&state, &user, &query, true).await?))
}

/// Who subscribes to the caller, by username.
#[utoipa::path(tag = "users", params(PageQuery), security(("bearer" = [])), responses((status = 200, body = Page<RelationItem>)))]
#[get("/me/subscribers")]
pub async fn my_subscribers(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RelationItem>>> {
    Ok(web::Json(relations(&state, &user, &query, false).await?))
}

async fn target(state: &AppState, user: &AuthUser, username: &str) -> ApiResult<(i64, String)> {
    let target = store::users::find(&state.db, username)
        .await?
        .ok_or_else(|| ApiError::user_not_found(username))?;
    if target.0 == user.id {
        return Err(ApiError::new(
            Code::CannotSubscribeToSelf,
            "You cannot subscribe to yourself.",
        ));
    }
    Ok(target)
}

/// Subscribes the caller to a user (idempotent).
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 204),
    (status = 404, description = "`user_not_found`", body = crate::error::Problem),
    (status = 422, description = "`cannot_subscribe_to_self` or `subscription_limit_reached`", body = crate::error::Problem)))]
#[put("/me/subscriptions/{username}")]
pub async fn subscribe(
    state: web::Data<AppState>,
    user: AuthUser,
    username: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (target_id, target_name) = target(&state, &user, &username).await?;
    let limit = state.settings.limits.subscription_limit;
    match store::subscriptions::subscribe(
        &state.db,
        &state.outbox,
        (user.id, &user.username),
        (target_id, &target_name),
        limit,
    )
    .await?
    {
        Subscribed::Created | Subscribed::AlreadySubscribed => {
            Ok(HttpResponse::NoContent().finish())
        }
        Subscribed::LimitReached => Err(ApiError::new(
            Code::SubscriptionLimitReached,
            format!("You already subscribe to {limit} users, the most allowed."),
        )),
    }
}

/// Unsubscribes the caller from a user (idempotent).
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 204), (status = 404, description = "`user_not_found`", body = crate::error::Problem)))]
#[delete("/me/subscriptions/{username}")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    user: AuthUser,
    username: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let target = store::users::find(&state.db, &username)
        .await?
        .ok_or_else(|| ApiError::user_not_found(&username))?;
    store::subscriptions::unsubscribe(
        &state.db,
        &state.outbox,
        (user.id, &user.username),
        (target.0, &target.1),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
