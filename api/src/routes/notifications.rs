//! Notifications: polling (`unsent`), history, and the WebSocket stream.

use std::{sync::Arc, time::Duration};

use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    auth::AuthUser,
    domain::pagination::{Page, TimeCursor, limit, paginate},
    error::{ApiError, ApiResult, Code},
    notify::{self, NotificationItem, SocketHandle},
    state::AppState,
    store,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(unsent).service(history).service(stream);
}

/// How long a browser has to send its auth message.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Each socket re-checks its token and what is undelivered this often (and pings).
const SOCKET_CHECK: Duration = Duration::from_secs(15);

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
    (status = 401, description = "`unauthorized` (a bad Authorization header)", body = crate::error::Problem)))]
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
    actix_web::rt::spawn(run_socket(state.into_inner(), user, session, messages));
    Ok(response)
}

async fn close(session: Session, code: CloseCode, description: &str) {
    let _ = session
        .close(Some(CloseReason {
            code,
            description: Some(description.to_owned()),
        }))
        .await;
}

/// Waits for the first message `{"type": "auth", "token": "..."}`.
async fn first_message_auth(
    state: &AppState,
    messages: &mut actix_ws::AggregatedMessageStream,
) -> Option<AuthUser> {
    #[derive(Deserialize)]
    struct Auth {
        #[serde(rename = "type")]
        kind: String,
        token: String,
    }
    let first = tokio::time::timeout(AUTH_TIMEOUT, async {
        loop {
            match messages.next().await {
                Some(Ok(AggregatedMessage::Text(text))) => return Some(text),
                Some(Ok(AggregatedMessage::Ping(_) | AggregatedMessage::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()?;
    let auth: Auth = serde_json::from_str(&first).ok()?;
    if auth.kind != "auth" {
        return None;
    }
    AuthUser::from_token(state, &auth.token).await.ok()
}

async fn run_socket(
    state: Arc<AppState>,
    user: Option<AuthUser>,
    mut session: Session,
    mut messages: actix_ws::AggregatedMessageStream,
) {
    let user = match user {
        Some(user) => user,
        None => match first_message_auth(&state, &mut messages).await {
            Some(user) => user,
            None => {
                let _ = session
                    .text(json!({"type": "error", "code": "unauthorized",
                        "message": "Send {\"type\": \"auth\", \"token\": \"...\"} first, with a valid token."})
                        .to_string())
                    .await;
                close(session, CloseCode::Policy, "unauthorized").await;
                return;
            }
        },
    };
    let SocketHandle {
        id: socket,
        messages: mut inbox,
        mut closed,
    } = state.hub.register(&user);
    state.metrics.websockets.inc();
    // A logout between the token check above and the registration would have found no socket
    // to close: check once more now that revocations reach this socket.
    let revoked = !store::tokens::is_active(&state.db, user.jti, user.id)
        .await
        .unwrap_or(true);
    let ready = !revoked
        && session
            .text(json!({"type": "ready"}).to_string())
            .await
            .is_ok();
    if ready && let Err(error) = notify::catch_up(&state, user.id).await {
        tracing::warn!(%error, "delivering undelivered notifications to a new socket failed");
    }
    let mut check = tokio::time::interval(SOCKET_CHECK);
    check.tick().await; // the first tick is immediate
    let ending = loop {
        if revoked {
            break Ending::Policy(notify::TOKEN_REVOKED);
        }
        if !ready {
            break Ending::Normal("gone");
        }
        tokio::select! {
            // A revocation closes the socket before anything still queued is written.
            biased;
            _ = closed.changed() => {
                match closed.borrow().unwrap_or(notify::TOKEN_REVOKED) {
                    notify::SHUTTING_DOWN => break Ending::Away(notify::SHUTTING_DOWN),
                    reason => break Ending::Policy(reason),
                }
            }
            message = inbox.recv() => match message {
                Some(message) => {
                    if let Some(reason) = *closed.borrow() {
                        break Ending::Policy(reason);
                    }
                    if session.text(message.to_string()).await.is_err() {
                        break Ending::Normal("gone");
                    }
                }
                None => break Ending::Normal("gone"),
            },
            incoming = messages.next() => match incoming {
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    if session.pong(&bytes).await.is_err() {
                        break Ending::Normal("gone");
                    }
                }
                Some(Ok(AggregatedMessage::Close(_))) | None | Some(Err(_)) => {
                    break Ending::Normal("closed");
                }
                Some(Ok(_)) => {} // clients have nothing more to say
            },
            _ = check.tick() => {
                // The fallback when a revocation message was lost (Redis away).
                if chrono::Utc::now() >= user.expires_at {
                    break Ending::Policy(notify::TOKEN_EXPIRED);
                }
                // Fails open while PostgreSQL is unreachable: nothing can be claimed then.
                let active = store::tokens::is_active(&state.db, user.jti, user.id)
                    .await
                    .unwrap_or(true);
                if !active {
                    break Ending::Policy(notify::TOKEN_REVOKED);
                }
                if let Err(error) = notify::catch_up(&state, user.id).await {
                    tracing::warn!(%error, "checking undelivered notifications failed");
                }
                if session.ping(b"").await.is_err() {
                    break Ending::Normal("gone");
                }
            }
        }
    };
    state.hub.unregister(user.id, socket);
    state.metrics.websockets.dec();
    match ending {
        Ending::Policy(reason) => close(session, CloseCode::Policy, reason).await,
        Ending::Away(reason) => close(session, CloseCode::Away, reason).await,
        Ending::Normal(reason) => close(session, CloseCode::Normal, reason).await,
    }
}

/// Why a socket loop ended: a policy close (revoked or expired token), the server going away
/// (shutdown), or a normal one.
enum Ending {
    Policy(&'static str),
    Away(&'static str),
    Normal(&'static str),
}
