//! `/v1/notifications`: polling (`unsent`), history, and the WebSocket stream (its loop is
//! `live::socket`).

use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    auth::AuthUser,
    domain::cursor::TimeCursor,
    http::error::{ApiError, ApiResult, Code},
    http::page::{Page, limit, paginate},
    live::{NotificationItem, socket},
    state::AppState,
    store,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(unsent).service(history).service(stream);
}

/// Every notification not yet delivered, oldest first, now marked delivered: each
/// notification is delivered exactly once across all calls and sockets.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, body = Page<NotificationItem>)))]
#[get("/notifications/unsent")]
pub async fn unsent(
    state: web::Data<AppState>,
    user: AuthUser,
) -> ApiResult<web::Json<Page<NotificationItem>>> {
    let rows = store::notifications::claim_unsent(&state.db, user.id, None).await?;
    state
        .metrics
        .notifications_delivered
        .with_label_values(&["unsent"])
        .inc_by(rows.len() as u64);
    Ok(web::Json(Page {
        items: rows.into_iter().map(NotificationItem::from).collect(),
        next_cursor: None,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HistoryItem {
    #[serde(flatten)]
    item: NotificationItem,
    /// Whether it has been delivered (by `unsent` or a socket).
    delivered: bool,
}

/// Notification history, newest first, delivered or not.
#[utoipa::path(tag = "notifications", params(HistoryQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<HistoryItem>)))]
#[get("/notifications")]
pub async fn history(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<HistoryQuery>,
) -> ApiResult<web::Json<Page<HistoryItem>>> {
    let limit = limit(query.limit, 20, 100)?;
    let before = TimeCursor::decode(query.cursor.as_deref())?;
    let rows = store::notifications::history(&state.db, user.id, before, limit + 1).await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |(n, _)| TimeCursor::encode_at(n.created_at, n.id),
        |(n, delivered)| HistoryItem {
            item: n.into(),
            delivered,
        },
    )))
}

/// WebSocket of live notifications. Authenticate with the `Authorization` header, or send
/// `{"type": "auth", "token": "..."}` first (browsers). The server sends `{"type": "ready"}`,
/// then every undelivered notification, then each new one, as
/// `{"type": "notification", ...item}`.
#[utoipa::path(tag = "notifications", security(("bearer" = []), ()), responses(
    (status = 101, description = "Switching to the WebSocket protocol"),
    (status = 401, description = "`unauthorized` (a bad Authorization header)", body = crate::http::error::Problem)))]
#[get("/notifications/stream")]
pub async fn stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    // With an Authorization header, the gate has authenticated the caller already.
    let user = req.extensions().get::<AuthUser>().cloned();
    let (response, session, messages) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::new(
            Code::MalformedBody,
            format!("This route only speaks WebSocket: {e}."),
        )
    })?;
    let messages = messages
        .max_frame_size(64 * 1024)
        .aggregate_continuations()
        .max_continuation_size(64 * 1024);
    actix_web::rt::spawn(socket::run(state.into_inner(), user, session, messages));
    Ok(response)
}
