//! `GET /v1/feed`: the posts of the caller's subscriptions (or every visible post), newest
//! first.

use actix_web::{get, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::posts::{PostView, views};
use crate::{
    auth::AuthUser,
    domain::cursor::TimeCursor,
    http::{
        error::{ApiError, ApiResult, FieldError},
        input::{Errors, parse_time},
        page::{Page, limit},
    },
    state::AppState,
    store::{
        self,
        posts::{Scope, Window},
    },
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(feed);
}

/// Which posts a feed holds.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeedScope {
    /// The caller's own posts and those of everyone they subscribe to (the default).
    Following,
    /// That plus every post the caller may see.
    All,
}

impl FeedScope {
    /// The scope a query names (`following` when absent); `None` for an unknown one.
    fn parse(raw: Option<&str>) -> Option<Self> {
        match raw {
            None | Some("following") => Some(Self::Following),
            Some("all") => Some(Self::All),
            Some(_) => None,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct FeedQuery {
    /// `following` (default) or `all`.
    #[param(value_type = Option<FeedScope>, inline)]
    scope: Option<String>,
    /// Inclusive lower bound on `created_at` (RFC 3339).
    from: Option<String>,
    /// Exclusive upper bound on `created_at` (RFC 3339).
    to: Option<String>,
    /// 1–100, default 10.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The caller's feed: posts of every kind, newest first.
#[utoipa::path(tag = "posts", params(FeedQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<PostView>), (status = 422, description = "`validation_failed`", body = crate::http::error::Problem)))]
#[get("/feed")]
pub async fn feed(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<FeedQuery>,
) -> ApiResult<web::Json<Page<PostView>>> {
    let mut errors = Errors::default();
    let scope = errors.take(match FeedScope::parse(query.scope.as_deref()) {
        Some(FeedScope::Following) => Ok(Scope::Following),
        Some(FeedScope::All) => Ok(Scope::All),
        None => Err(FieldError::new("scope", "must be `following` or `all`")),
    });
    let from = errors.take(parse_time("from", query.from.as_deref()));
    let to = errors.take(parse_time("to", query.to.as_deref()));
    let limit = errors.take(
        limit(query.limit, 10, 100)
            .map_err(|_| FieldError::new("limit", "must be between 1 and 100")),
    );
    errors.finish()?;
    let (Some(scope), Some(from), Some(to), Some(limit)) = (scope, from, to, limit) else {
        return Err(ApiError::field("scope", "is invalid"));
    };
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::field("to", "must be later than `from`"));
    }
    let after = TimeCursor::decode(query.cursor.as_deref())?;
    let window = Window {
        from,
        to,
        after,
        limit: limit + 1,
    };
    let rows = store::posts::list(&state.db, user.id, scope, &window).await?;
    Ok(web::Json(views(&state, rows, limit).await?))
}
