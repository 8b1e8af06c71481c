//! `/v1/admin/analytics/*`: the three reports (SQL in `analytics/v1/`).

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    auth::AdminAuth,
    http::error::{ApiError, ApiResult},
    state::AppState,
    store::{self},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(logins_per_day)
        .service(top_posts)
        .service(post_extremes);
}

// ---- analytics -------------------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
pub struct DaysQuery {
    /// Number of UTC days ending today (included), 1–366.
    #[param(minimum = 1, maximum = 366)]
    days: Option<i64>,
}

fn days(raw: Option<i64>, default: i32) -> ApiResult<i32> {
    match raw {
        None => Ok(default),
        Some(n @ 1..=366) => Ok(i32::try_from(n).unwrap_or(default)),
        Some(_) => Err(ApiError::field("days", "must be between 1 and 366")),
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginDay {
    #[schema(example = "2026-11-23")]
    day: String,
    users: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Items<T> {
    items: Vec<T>,
}

/// Distinct users who logged in on each UTC day (oldest day first). SQL:
/// `analytics/v1/logins_per_day.sql`.
#[utoipa::path(tag = "analytics", params(DaysQuery), security(("admin" = [])), responses(
    (status = 200, body = Items<LoginDay>)))]
#[get("/admin/analytics/logins-per-day")]
pub async fn logins_per_day(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    query: web::Query<DaysQuery>,
) -> ApiResult<web::Json<Items<LoginDay>>> {
    let days = days(query.days, 30)?;
    let rows = store::analytics::logins_per_day(&state.db, days).await?;
    Ok(web::Json(Items {
        items: rows
            .into_iter()
            .map(|(day, users)| LoginDay { day, users })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TopPostsDay {
    day: String,
    /// Up to 10 `{"post_id", "comments"}`, most comments first.
    #[schema(value_type = Vec<PostComments>)]
    posts: Value,
}

#[derive(Serialize, ToSchema)]
pub struct PostComments {
    post_id: i64,
    comments: i64,
}

/// For each UTC day, the 10 posts with most comments made that day. SQL:
/// `analytics/v1/top_posts.sql`.
#[utoipa::path(tag = "analytics", params(DaysQuery), security(("admin" = [])), responses(
    (status = 200, body = Items<TopPostsDay>)))]
#[get("/admin/analytics/top-posts")]
pub async fn top_posts(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    query: web::Query<DaysQuery>,
) -> ApiResult<web::Json<Items<TopPostsDay>>> {
    let days = days(query.days, 10)?;
    let rows = store::analytics::top_posts(&state.db, days).await?;
    Ok(web::Json(Items {
        items: rows
            .into_iter()
            .map(|(day, posts)| TopPostsDay { day, posts })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PostExtremes {
    top: Option<PostComments>,
    worst: Option<PostComments>,
}

/// A user's all-time most and least commented post or quote (ties: the older post). SQL:
/// `analytics/v1/post_extremes.sql`.
#[utoipa::path(tag = "analytics", security(("admin" = [])), responses(
    (status = 200, body = PostExtremes),
    (status = 404, description = "`user_not_found`", body = crate::http::error::Problem)))]
#[get("/admin/analytics/users/{username}/post-extremes")]
pub async fn post_extremes(
    state: web::Data<AppState>,
    _admin: AdminAuth,
    username: web::Path<String>,
) -> ApiResult<web::Json<PostExtremes>> {
    let (user_id, _) = store::users::find(&state.db, &username)
        .await?
        .ok_or_else(|| ApiError::user_not_found(&username))?;
    let mut out = PostExtremes {
        top: None,
        worst: None,
    };
    for (which, post_id, comments) in store::analytics::post_extremes(&state.db, user_id).await? {
        let item = Some(PostComments { post_id, comments });
        if which == "top" {
            out.top = item;
        } else {
            out.worst = item;
        }
    }
    Ok(web::Json(out))
}
