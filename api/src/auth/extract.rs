//! Request extractors for the two kinds of caller: a signed-in user (bearer JWT, checked
//! against the revocation list in PostgreSQL on every request so logout is immediate on every
//! replica) and the administrator (bootstrap admin token, compared in constant time).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::header, web};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    auth::api_key,
    http::error::{ApiError, Code},
    state::AppState,
    store,
};

/// The authenticated caller. Its id is also put in the request extensions for the log line.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: i64,
    pub username: String,
    pub jti: uuid::Uuid,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

pub use crate::http::request_log::LoggedUserId;

pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state is not registered")))
}

impl AuthUser {
    /// Resolves a raw bearer token (also used by the WebSocket first-message auth).
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, ApiError> {
        let verified = state
            .tokens
            .verify(token)
            .ok_or_else(ApiError::unauthorized)?;
        if !store::tokens::is_active(&state.db, verified.jti, verified.user_id).await? {
            return Err(ApiError::unauthorized());
        }
        Ok(Self {
            id: verified.user_id,
            username: verified.username,
            jti: verified.jti,
            expires_at: verified.expires_at,
        })
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Usually the gate has authenticated the caller already.
        if let Some(user) = req.extensions().get::<AuthUser>() {
            let user = user.clone();
            return Box::pin(async move { Ok(user) });
        }
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let token = bearer(&req).ok_or_else(ApiError::unauthorized)?;
            let user = AuthUser::from_token(&state, token).await?;
            req.extensions_mut().insert(LoggedUserId(user.id));
            Ok(user)
        })
    }
}

/// The administrator, authenticated by the bootstrap admin token.
#[derive(Clone, Copy, Debug)]
pub struct AdminAuth;

impl FromRequest for AdminAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Usually the gate has authenticated the administrator already.
        if req.extensions().get::<AdminAuth>().is_some() {
            return Box::pin(async { Ok(AdminAuth) });
        }
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            AdminAuth::check(&state, bearer(&req)).await
        })
    }
}

impl AdminAuth {
    /// The administrator when `token` is the admin token; 403 `forbidden` for a valid user
    /// token (authenticated, not allowed), 401 `unauthorized` otherwise.
    pub async fn check(state: &AppState, token: Option<&str>) -> Result<Self, ApiError> {
        let token = token.ok_or_else(ApiError::unauthorized)?;
        if let Some(admin) = &state.settings.auth.admin_token {
            // Compare digests so the comparison is constant-time whatever the lengths.
            let want = Sha256::digest(admin.expose_secret().as_bytes());
            let got = Sha256::digest(token.as_bytes());
            if bool::from(want.ct_eq(&got)) {
                return Ok(AdminAuth);
            }
        }
        if AuthUser::from_token(state, token).await.is_ok() {
            return Err(ApiError::new(
                Code::Forbidden,
                "This route needs the administrator token.",
            ));
        }
        Err(ApiError::unauthorized())
    }
}

/// The client application identified by the request's `X-Api-Key`.
#[derive(Clone, Copy, Debug)]
pub struct ClientApp {
    pub id: uuid::Uuid,
}

pub fn invalid_api_key() -> ApiError {
    ApiError::new(
        Code::InvalidApiKey,
        "A valid X-Api-Key header is required (an active application's key).",
    )
}

impl FromRequest for ClientApp {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = req
            .headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("application state is not registered"))
            })?;
            let key = key.filter(|k| !k.is_empty()).ok_or_else(invalid_api_key)?;
            // The lookup is by digest, so timing reveals nothing about stored keys.
            let digest = api_key::digest(&key);
            let id = state.api_keys.resolve(&state.db, digest).await?;
            id.map(|id| Self { id }).ok_or_else(invalid_api_key)
        })
    }
}
