//! One notification WebSocket's loop (SPEC §3.4): authentication (the `Authorization`
//! header, or a first `{"type": "auth", "token"}` message), `ready`, the catch-up of everything
//! undelivered, then each new notification; closed with 1008 when the token is revoked or
//! expires, 1001 when the replica stops. The HTTP edge of `live`: it takes the application
//! state (the token service checks the first message).

use std::{sync::Arc, time::Duration};

use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::{SHUTTING_DOWN, SocketHandle, TOKEN_EXPIRED, TOKEN_REVOKED};
use crate::{auth::AuthUser, state::AppState, store};

/// How long a browser has to send its auth message.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Each socket re-checks its token and what is undelivered this often (and pings).
const SOCKET_CHECK: Duration = Duration::from_secs(15);

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

/// Runs one socket until it closes (see the module docs).
pub async fn run(
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
    } = state.live.hub.register(&user);
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
    if ready && let Err(error) = state.live.catch_up(user.id).await {
        tracing::warn!(%error, "delivering undelivered notifications to a new socket failed");
    }
    let mut check = tokio::time::interval(SOCKET_CHECK);
    check.tick().await; // the first tick is immediate
    let ending = loop {
        if revoked {
            break Ending::Policy(TOKEN_REVOKED);
        }
        if !ready {
            break Ending::Normal("gone");
        }
        tokio::select! {
            // A revocation closes the socket before anything still queued is written.
            biased;
            _ = closed.changed() => {
                match closed.borrow().unwrap_or(TOKEN_REVOKED) {
                    SHUTTING_DOWN => break Ending::Away(SHUTTING_DOWN),
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
                    break Ending::Policy(TOKEN_EXPIRED);
                }
                // Fails open while PostgreSQL is unreachable: nothing can be claimed then.
                let active = store::tokens::is_active(&state.db, user.jti, user.id)
                    .await
                    .unwrap_or(true);
                if !active {
                    break Ending::Policy(TOKEN_REVOKED);
                }
                if let Err(error) = state.live.catch_up(user.id).await {
                    tracing::warn!(%error, "checking undelivered notifications failed");
                }
                if session.ping(b"").await.is_err() {
                    break Ending::Normal("gone");
                }
            }
        }
    };
    state.live.hub.unregister(user.id, socket);
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
