//! `/v1/me`: the caller's own profile, subscriptions and subscribers.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    auth::AuthUser,
    domain::cursor::NameCursor,
    http::{
        error::{ApiError, ApiResult, Code},
        page::{Page, limit, paginate},
    },
    state::AppState,
    store::{self, subscriptions::Subscribed},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(me)
        .service(my_subscriptions)
        .service(my_subscribers)
        .service(subscribe)
        .service(unsubscribe);
}

#[derive(Serialize, ToSchema)]
pub struct MeProfile {
    username: String,
    joined_at: DateTime<Utc>,
    subscribers: i32,
    subscriptions: i32,
    posts: i32,
    /// Always false: you cannot subscribe to yourself.
    subscribed: bool,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// The caller's own profile, with private fields.
#[utoipa::path(tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, body = MeProfile), (status = 401, body = crate::http::error::Problem)))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<MeProfile>> {
    let p = store::users::profile_by_id(&state.db, user.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(web::Json(MeProfile {
        username: p.username,
        joined_at: p.created_at,
        subscribers: p.subscribers_count,
        subscriptions: p.subscriptions_count,
        posts: p.posts_count,
        subscribed: false,
        email: p.email,
        first_name: p.first_name,
        last_name: p.last_name,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
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
    (status = 404, description = "`user_not_found`", body = crate::http::error::Problem),
    (status = 422, description = "`cannot_subscribe_to_self` or `subscription_limit_reached`", body = crate::http::error::Problem)))]
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
    (status = 204), (status = 404, description = "`user_not_found`", body = crate::http::error::Problem)))]
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
