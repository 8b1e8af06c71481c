//! Search (SPEC §3.3): `GET /v1/me/posts` (the caller's own posts by title) and
//! `GET /v1/subscriptions/posts` (the posts of the caller's subscriptions by title, text,
//! author and time). Never reposts; scoped by author, so fast at any total size.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    auth::AuthUser,
    domain::cursor::TimeCursor,
    http::{
        error::{ApiError, ApiResult, Code, FieldError},
        page::{Page, limit, paginate},
    },
    state::AppState,
    store::{self, like_pattern, posts::SubscriptionSearch},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(my_posts).service(search_subscriptions);
}

#[derive(Deserialize, IntoParams)]
pub struct MyPostsQuery {
    /// Case-insensitive substring of the title.
    title: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OwnPostItem {
    id: i64,
    title: Option<String>,
    text: Option<String>,
    created_at: DateTime<Utc>,
}

/// A search term as an escaped LIKE pattern; NUL (which no stored text can hold) is refused.
fn term(field: &str, raw: Option<&str>) -> ApiResult<Option<String>> {
    match raw.filter(|t| !t.is_empty()) {
        Some(t) if t.contains('\0') => {
            Err(ApiError::field(field, "must not contain NUL characters"))
        }
        other => Ok(other.map(like_pattern)),
    }
}

/// The caller's own titled posts, newest first, optionally searched by title.
#[utoipa::path(tag = "search", params(MyPostsQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<OwnPostItem>)))]
#[get("/me/posts")]
pub async fn my_posts(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<MyPostsQuery>,
) -> ApiResult<web::Json<Page<OwnPostItem>>> {
    let limit = limit(query.limit, 20, 100)?;
    let after = TimeCursor::decode(query.cursor.as_deref())?;
    let title = term("title", query.title.as_deref())?;
    let rows =
        store::posts::search_own(&state.db, user.id, title.as_deref(), after, limit + 1).await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |r| TimeCursor::encode_at(r.created_at, r.id),
        |r| OwnPostItem {
            id: r.id,
            title: r.title,
            text: r.body,
            created_at: r.created_at,
        },
    )))
}

#[derive(Deserialize, IntoParams)]
pub struct SubscriptionSearchQuery {
    /// Comma-separated usernames (at most 10), each of which must exist.
    usernames: Option<String>,
    /// Case-insensitive substring of the title.
    title: Option<String>,
    /// Case-insensitive substring of the text.
    text: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FoundPostItem {
    id: i64,
    username: String,
    title: Option<String>,
    text: Option<String>,
    created_at: DateTime<Utc>,
}

const MAX_SEARCH_USERNAMES: usize = 10;

/// Posts and quotes of the caller's subscriptions, newest first, filtered.
#[utoipa::path(tag = "search", params(SubscriptionSearchQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<FoundPostItem>),
    (status = 422, description = "`too_many_usernames`, `unknown_usernames` or `validation_failed`", body = crate::http::error::Problem)))]
#[get("/subscriptions/posts")]
pub async fn search_subscriptions(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<SubscriptionSearchQuery>,
) -> ApiResult<web::Json<Page<FoundPostItem>>> {
    let names: Option<Vec<&str>> = query.usernames.as_deref().map(|raw| {
        raw.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect()
    });
    if let Some(names) = &names
        && names.len() > MAX_SEARCH_USERNAMES
    {
        return Err(ApiError::new(
            Code::TooManyUsernames,
            format!(
                "At most {MAX_SEARCH_USERNAMES} usernames may be given (got {}).",
                names.len()
            ),
        ));
    }
    let limit = limit(query.limit, 20, 100)?;
    let after = TimeCursor::decode(query.cursor.as_deref())?;
    let authors = match &names {
        Some(names) if !names.is_empty() => Some(resolve_usernames(&state, names).await?),
        _ => None,
    };
    let title = term("title", query.title.as_deref())?;
    let text = term("text", query.text.as_deref())?;
    let search = SubscriptionSearch {
        authors: authors.as_deref(),
        title: title.as_deref(),
        text: text.as_deref(),
        after,
        limit: limit + 1,
    };
    let rows = store::posts::search_subscriptions(&state.db, user.id, &search).await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |r| TimeCursor::encode_at(r.created_at, r.id),
        |r| FoundPostItem {
            id: r.id,
            username: r.username,
            title: r.title,
            text: r.body,
            created_at: r.created_at,
        },
    )))
}

/// Resolves usernames to ids in one query; every unknown one is named in the error.
async fn resolve_usernames(state: &AppState, names: &[&str]) -> ApiResult<Vec<i64>> {
    let owned: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let found: std::collections::HashMap<String, i64> = store::users::find_many(&state.db, &owned)
        .await?
        .into_iter()
        .map(|(id, name)| (name, id))
        .collect();
    let unknown: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !found.contains_key(&n.to_lowercase()))
        .collect();
    if unknown.is_empty() {
        return Ok(found.into_values().collect());
    }
    Err(ApiError::new(
        Code::UnknownUsernames,
        format!("Unknown usernames: {}.", unknown.join(", ")),
    )
    .with_errors(
        unknown
            .iter()
            .map(|n| FieldError::new("usernames", format!("no user named `{n}`")))
            .collect(),
    ))
}
