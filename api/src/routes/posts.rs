//! `/v1/posts`: publishing posts, reposts and quotes (through `service::posts`) and reading
//! one post. The post view shared by every list of posts lives here.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    auth::AuthUser,
    domain::{
        cursor::TimeCursor,
        post::{PostKind, Visibility, parse_text, parse_title, parse_visibility},
    },
    http::{
        error::{ApiError, ApiResult, Code},
        input::Errors,
        page::{Page, paginate},
    },
    service::{self, posts::PublishError},
    state::AppState,
    store::{self, posts::PostRow},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_post)
        .service(repost)
        .service(quote)
        .service(get_post);
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

pub(crate) async fn views(
    state: &AppState,
    rows: Vec<PostRow>,
    limit: i64,
) -> ApiResult<Page<PostView>> {
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

/// The problem a refused publication is.
fn problem(error: PublishError) -> ApiError {
    let detail = error.to_string();
    match error {
        PublishError::PostNotFound => ApiError::post_not_found(),
        PublishError::CannotRepost => ApiError::new(Code::CannotRepost, detail),
        PublishError::CannotQuote => ApiError::new(Code::CannotQuote, detail),
        PublishError::AlreadyReposted => ApiError::new(Code::AlreadyReposted, detail),
        PublishError::DailyLimit { retry_after, .. } => {
            ApiError::new(Code::DailyPostLimit, detail).with_retry_after(retry_after)
        }
        PublishError::Store(e) => e.into(),
    }
}

fn publishing(state: &AppState) -> service::posts::Publishing<'_> {
    service::posts::Publishing {
        db: &state.db,
        outbox: &state.outbox,
        daily_limit: state.settings.limits.daily_post_limit,
    }
}

/// 201 with the post just published.
async fn created(state: &AppState, user: &AuthUser, id: i64) -> ApiResult<HttpResponse> {
    let row = store::posts::visible(&state.db, user.id, id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("post {id} vanished after insert")))?;
    Ok(HttpResponse::Created().json(one(state, row).await?))
}

/// Publishes a post.
#[utoipa::path(tag = "posts", request_body = CreatePost, security(("bearer" = [])), responses(
    (status = 201, body = PostView),
    (status = 422, description = "`validation_failed`", body = crate::http::error::Problem),
    (status = 429, description = "`daily_post_limit`, with `Retry-After`", body = crate::http::error::Problem)))]
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
    let id = service::posts::post(publishing(&state), user.id, &title, &text, visibility)
        .await
        .map_err(problem)?;
    created(&state, &user, id).await
}

/// Reposts a post or a quote (each user reposts a post at most once).
#[utoipa::path(tag = "posts", request_body(content = Option<CreateRepost>), security(("bearer" = [])), responses(
    (status = 201, body = PostView),
    (status = 404, description = "`post_not_found`", body = crate::http::error::Problem),
    (status = 409, description = "`already_reposted`", body = crate::http::error::Problem),
    (status = 422, description = "`cannot_repost`", body = crate::http::error::Problem),
    (status = 429, description = "`daily_post_limit` (reposts count), with `Retry-After`", body = crate::http::error::Problem)))]
#[post("/posts/{id}/repost")]
pub async fn repost(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: Option<CreateRepost> = crate::http::input::optional_json(&body)?;
    let visibility = parse_visibility(body.as_ref().and_then(|b| b.visibility.as_deref()))
        .map_err(|e| ApiError::validation(vec![e]))?;
    let id = service::posts::repost(publishing(&state), user.id, *id, visibility)
        .await
        .map_err(problem)?;
    created(&state, &user, id).await
}

/// Quotes a post (quoting a repost quotes its original).
#[utoipa::path(tag = "posts", request_body = CreateQuote, security(("bearer" = [])), responses(
    (status = 201, body = PostView),
    (status = 404, description = "`post_not_found`", body = crate::http::error::Problem),
    (status = 422, description = "`cannot_quote` or `validation_failed`", body = crate::http::error::Problem),
    (status = 429, description = "`daily_post_limit` (quotes count), with `Retry-After`", body = crate::http::error::Problem)))]
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
    let id = service::posts::quote(publishing(&state), user.id, *id, &text, visibility)
        .await
        .map_err(problem)?;
    created(&state, &user, id).await
}

/// One post.
#[utoipa::path(tag = "posts", security(("bearer" = [])), responses(
    (status = 200, body = PostView), (status = 404, description = "`post_not_found`", body = crate::http::error::Problem)))]
#[get("/posts/{id}")]
pub async fn get_post(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> ApiResult<web::Json<PostView>> {
    let row = store::posts::visible(&state.db, user.id, *id)
        .await?
        .ok_or_else(ApiError::post_not_found)?;
    Ok(web::Json(one(&state, row).await?))
}
