//! Posts, reposts, quotes, profile timelines, feeds and search.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{Errors, parse_time};
use crate::{
    auth::AuthUser,
    domain::{
        pagination::{Page, TimeCursor, limit, paginate},
        post::{PostKind, Visibility, parse_text, parse_title, parse_visibility},
    },
    error::{ApiError, ApiResult, Code, FieldError},
    state::AppState,
    store::{
        self, like_pattern,
        posts::{Created, NewPost, PostRow, Scope, SubscriptionSearch, Window},
    },
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_post)
        .service(repost)
        .service(quote)
        .service(get_post)
        .service(my_posts)
        .service(user_posts)
        .service(feed)
        .service(search_subscriptions);
}

/// A post of any kind, with what it reposts or quotes.
#[derive(Serialize, ToSchema)]
pub struct PostView {
    id: i64,
    kind: PostKind,
    author: String,
    /// `null` for reposts and quotes.
    title: Option<String>,
    /// `null` for reposts.
    text: Option<String>,
    visibility: Visibility,
    created_at: DateTime<Utc>,
    comments: i32,
    reposts: i32,
    /// The quoted post, for a quote.
    #[schema(no_recursion)]
    quoted: Option<Box<PostView>>,
    /// The reposted post, for a repost.
    #[schema(no_recursion)]
    reposted: Option<Box<PostView>>,
}

fn view(row: &PostRow, originals: &HashMap<i64, PostRow>) -> PostView {
    let kind = row.kind;
    let original = row
        .original_id
        .and_then(|id| originals.get(&id))
        .map(|o| Box::new(view(o, originals)));
    let (quoted, reposted) = match kind {
        PostKind::Quote => (original, None),
        PostKind::Repost => (None, original),
        PostKind::Post => (None, None),
    };
    PostView {
        id: row.id,
        kind,
        author: row.author.clone(),
        title: row.title.clone(),
        text: row.body.clone(),
        visibility: row.visibility,
        created_at: row.created_at,
        comments: row.comments_count,
        reposts: row.reposts_count,
        quoted,
        reposted,
    }
}

/// Loads what the rows repost or quote (two levels: a repost of a quote) and builds the views.
async fn assemble(state: &AppState, rows: &[PostRow]) -> ApiResult<HashMap<i64, PostRow>> {
    let mut originals = HashMap::new();
    let mut wanted: Vec<i64> = rows.iter().filter_map(|r| r.original_id).collect();
    if wanted.is_empty() {
        return Ok(originals);
    }
    let mut conn = state.db.acquire().await?;
    for _ in 0..2 {
        wanted.retain(|id| !originals.contains_key(id));
        if wanted.is_empty() {
            break;
        }
        let found = store::posts::by_ids(&mut conn, &wanted).await?;
        wanted = found.values().filter_map(|r| r.original_id).collect();
        originals.extend(found);
    }
    Ok(originals)
}

async fn views(state: &AppState, rows: Vec<PostRow>, limit: i64) -> ApiResult<Page<PostView>> {
    let originals = assemble(state, &rows).await?;
    Ok(paginate(
        rows,
        limit,
        |r| TimeCursor::encode_at(r.created_at, r.id),
        |r| view(&r, &originals),
    ))
}

async fn one(state: &AppState, row: PostRow) -> ApiResult<PostView> {
    let originals = assemble(state, std::slice::from_ref(&row)).await?;
    Ok(view(&row, &originals))
}

#[derive(Deserialize, ToSchema)]
pub struct CreatePost {
    /// 1–100 characters after trimming.
    #[schema(value_type = String, required = true, example = "Hello", min_length = 1, max_length = 100)]
    title: Option<String>,
    /// 0–1000 characters.
    #[schema(example = "My first post", max_length = 1000)]
    text: Option<String>,
    /// `followers` (default) or `public`.
    #[schema(value_type = Option<Visibility>)]
    visibility: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateRepost {
    /// `followers` (default) or `public`.
    #[schema(value_type = Option<Visibility>)]
    visibility: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateQuote {
    /// 1–1000 characters.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1000)]
    text: Option<String>,
    /// `followers` (default) or `public`.
    #[schema(value_type = Option<Visibility>)]
    visibility: Option<String>,
}

fn seconds_to_utc_midnight() -> u64 {
    let now = Utc::now();
    let tomorrow = (now + Duration::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc());
    tomorrow.map_or(3600, |t| {
        u64::try_from((t - now).num_seconds()).unwrap_or(1)
    })
}

async fn insert(
    state: &AppState,
    user: &AuthUser,
    new: NewPost<'_>,
    visibility: Visibility,
) -> ApiResult<HttpResponse> {
    let daily = state.settings.limits.daily_post_limit;
    let id = match store::posts::create(&state.db, &state.outbox, user.id, new, visibility, daily)
        .await?
    {
        Created::Post(id) => id,
        Created::DailyLimitReached => {
            return Err(ApiError::new(
                Code::DailyPostLimit,
                format!(
                    "You have reached today's limit of {} posts (UTC day).",
                    daily.unwrap_or_default()
                ),
            )
            .with_retry_after(seconds_to_utc_midnight()));
        }
        Created::AlreadyReposted => {
            return Err(ApiError::new(
                Code::AlreadyReposted,
                "You have already reposted this post.",
            ));
        }
    };
    let row = store::posts::visible(&state.db, user.id, id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("post {id} vanished after insert")))?;
    Ok(HttpResponse::Created().json(one(state, row).await?))
}

/// Publishes a post.
#[utoipa::path(tag = "posts", request_body = CreatePost, security(("bearer" = [])), responses(
    (status = 201, body = PostView),
    (status = 422, description = "`validation_failed`", body = crate::error::Problem),
    (status = 429, description = "`daily_post_limit`, with `Retry-After`", body = crate::error::Problem)))]
#[post("/posts")]
pub async fn create_post(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreatePost>,
) -> ApiResult<HttpResponse> {
    let mut errors = Errors::default();
    let title = errors.take(parse_title(body.title.as_deref()));
    let text = errors.take(parse_text("text", body.text.as_deref(), false));
    let visibility = errors.take(parse_visibility(body.visibility.as_deref()));
    errors.finish()?;
    let (Some(title), Some(text), Some(visibility)) = (title, text, visibility) else {
        return Err(ApiError::field("title", "is required"));
    };
    insert(
        &state,
        &user,
        NewPost::Post {
            title: &title,
            text: &text,
        },
        visibility,
    )
    .await
}

async fn visible_target(state: &AppState, user: &AuthUser, id: i64) -> ApiResult<PostRow> {
    store::posts::visible(&state.db, user.id, id)
        .await?
        .ok_or_else(ApiError::post_not_found)
}

/// Reposts a post or a quote (each user reposts a post at most once).
#[utoipa::path(tag = "posts", request_body(content = Option<CreateRepost>), security(("bearer" = [])), responses(
    (status = 201, body = PostView),
    (status = 404, description = "`post_not_found`", body = crate::error::Problem),
    (status = 409, description = "`already_reposted`", body = crate::error::Problem),
    (status = 422, description = "`cannot_repost`", body = crate::error::Problem),
    (status = 429, description = "`daily_post_limit` (reposts count), with `Retry-After`", body = crate::error::Problem)))]
#[post("/posts/{id}/repost")]
pub async fn repost(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: Option<CreateRepost> = super::optional_json(&body)?;
    let visibility = parse_visibility(body.as_ref().and_then(|b| b.visibility.as_deref()))
        .map_err(|e| ApiError::validation(vec![e]))?;
    let target = visible_target(&state, &user, *id).await?;
    if target.kind == PostKind::Repost {
        return Err(ApiError::new(
            Code::CannotRepost,
            "A repost cannot be reposted; repost the original instead.",
        ));
    }
    insert(
        &state,
        &user,
        NewPost::Repost {
            original_id: target.id,
        },
        visibility,
    )
    .await
}

/// Quotes a post (quoting a repost quotes its original).
#[utoipa::path(tag = "posts", request_body = CreateQuote, security(("bearer" = [])), responses(
    (status = 201, body = PostView),
    (status = 404, description = "`post_not_found`", body = crate::error::Problem),
    (status = 422, description = "`cannot_quote` or `validation_failed`", body = crate::error::Problem),
    (status = 429, description = "`daily_post_limit` (quotes count), with `Retry-After`", body = crate::error::Problem)))]
#[post("/posts/{id}/quote")]
pub async fn quote(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<CreateQuote>,
) -> ApiResult<HttpResponse> {
    let mut errors = Errors::default();
    let text = errors.take(parse_text("text", body.text.as_deref(), true));
    let visibility = errors.take(parse_visibility(body.visibility.as_deref()));
    errors.finish()?;
    let (Some(text), Some(visibility)) = (text, visibility) else {
        return Err(ApiError::field("text", "is required"));
    };
    let mut target = visible_target(&state, &user, *id).await?;
    if target.kind == PostKind::Repost {
        let original = target.original_id.unwrap_or(target.id);
        target = visible_target(&state, &user, original).await?;
    }
    if target.kind == PostKind::Quote {
        return Err(ApiError::new(
            Code::CannotQuote,
            "A quote cannot be quoted.",
        ));
    }
    insert(
        &state,
        &user,
        NewPost::Quote {
            original_id: target.id,
            text: &text,
        },
        visibility,
    )
    .await
}

/// One post.
#[utoipa::path(tag = "posts", security(("bearer" = [])), responses(
    (status = 200, body = PostView), (status = 404, description = "`post_not_found`", body = crate::error::Problem)))]
#[get("/posts/{id}")]
pub async fn get_post(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> ApiResult<web::Json<PostView>> {
    let row = visible_target(&state, &user, *id).await?;
    Ok(web::Json(one(&state, row).await?))
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
pub struct UserPostsQuery {
    /// 1–100, default 5.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A user's posts that the caller may see, newest first.
#[utoipa::path(tag = "posts", params(UserPostsQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<PostView>), (status = 404, description = "`user_not_found`", body = crate::error::Problem)))]
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
    (status = 200, body = Page<PostView>), (status = 422, description = "`validation_failed`", body = crate::error::Problem)))]
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
    (status = 422, description = "`too_many_usernames`, `unknown_usernames` or `validation_failed`", body = crate::error::Problem)))]
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
