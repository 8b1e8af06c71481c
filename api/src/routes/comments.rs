//! Comments on posts.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    auth::AuthUser,
    domain::{cursor::TimeCursor, post::parse_text},
    http::error::{ApiError, ApiResult},
    http::page::{Page, limit, paginate},
    state::AppState,
    store::{self, comments::CommentRow},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_comment).service(list_comments);
}

#[derive(Deserialize, ToSchema)]
pub struct CreateComment {
    /// 1–1000 characters.
    #[schema(value_type = String, required = true, example = "Nice post!", min_length = 1, max_length = 1000)]
    text: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CommentView {
    id: i64,
    post_id: i64,
    author: String,
    text: String,
    created_at: DateTime<Utc>,
}

impl From<CommentRow> for CommentView {
    fn from(r: CommentRow) -> Self {
        Self {
            id: r.id,
            post_id: r.post_id,
            author: r.author,
            text: r.body,
            created_at: r.created_at,
        }
    }
}

async fn ensure_visible(state: &AppState, user: &AuthUser, post_id: i64) -> ApiResult<()> {
    store::posts::visible(&state.db, user.id, post_id)
        .await?
        .map(|_| ())
        .ok_or_else(ApiError::post_not_found)
}

/// Comments on a post the caller may see.
#[utoipa::path(tag = "comments", request_body = CreateComment, security(("bearer" = [])), responses(
    (status = 201, body = CommentView),
    (status = 404, description = "`post_not_found`", body = crate::http::error::Problem),
    (status = 422, description = "`validation_failed`", body = crate::http::error::Problem)))]
#[post("/posts/{id}/comments")]
pub async fn create_comment(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<CreateComment>,
) -> ApiResult<HttpResponse> {
    let text = parse_text("text", body.text.as_deref(), true)
        .map_err(|e| ApiError::validation(vec![e]))?;
    ensure_visible(&state, &user, *id).await?;
    let row = store::comments::create(&state.db, &state.outbox, *id, user.id, &text).await?;
    Ok(HttpResponse::Created().json(CommentView::from(row)))
}

#[derive(Deserialize, IntoParams)]
pub struct CommentsQuery {
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A post's comments, oldest first.
#[utoipa::path(tag = "comments", params(CommentsQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<CommentView>),
    (status = 404, description = "`post_not_found`", body = crate::http::error::Problem)))]
#[get("/posts/{id}/comments")]
pub async fn list_comments(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    query: web::Query<CommentsQuery>,
) -> ApiResult<web::Json<Page<CommentView>>> {
    let limit = limit(query.limit, 20, 100)?;
    let after = TimeCursor::decode(query.cursor.as_deref())?;
    ensure_visible(&state, &user, *id).await?;
    let rows = store::comments::list(&state.db, *id, after, limit + 1).await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |r| TimeCursor::encode_at(r.created_at, r.id),
        CommentView::from,
    )))
}
