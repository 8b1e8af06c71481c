//! `/v1/auth`: registration, login and logout.

use actix_web::{HttpRequest, HttpResponse, post, web};
use roost_common::pipeline::message::Revocation;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::service::{
    self,
    accounts::{Accounts, LoginError, NewAccount, RegisterError, SignedIn},
};
use crate::{
    auth::AuthUser,
    domain::account::{Email, Password, Username, parse_name},
    http::{
        error::{ApiError, ApiResult, Code},
        input::Errors,
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(register).service(login).service(logout);
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3–30 characters of `[A-Za-z0-9_]`, unique case-insensitively.
    #[schema(value_type = String, required = true, example = "alice", min_length = 3, max_length = 30, pattern = "^[A-Za-z0-9_]+$")]
    username: Option<String>,
    /// 10–256 characters with a letter, a digit and a character that is neither; not the
    /// username.
    #[schema(value_type = String, required = true, example = "correct-horse-42", min_length = 10, max_length = 256)]
    password: Option<String>,
    /// Must equal `password` when given.
    #[schema(max_length = 256)]
    password_confirmation: Option<String>,
    /// Unique case-insensitively.
    #[schema(max_length = 254, format = Email)]
    email: Option<String>,
    #[schema(max_length = 100)]
    first_name: Option<String>,
    #[schema(max_length = 100)]
    last_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// A username or an e-mail address.
    #[schema(value_type = String, required = true, example = "alice", min_length = 1)]
    username: Option<String>,
    #[schema(value_type = String, required = true, example = "correct-horse-42")]
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenUser {
    id: i64,
    username: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
    user: TokenUser,
}

fn accounts(state: &AppState) -> Accounts<'_> {
    Accounts {
        db: &state.db,
        outbox: &state.outbox,
        hasher: &state.hasher,
        throttle: &state.throttle,
        tokens: &state.tokens,
    }
}

fn token_body(signed_in: SignedIn) -> TokenBody {
    TokenBody {
        access_token: signed_in.token.token,
        token_type: "Bearer",
        expires_in: signed_in.token.expires_in,
        user: TokenUser {
            id: signed_in.id,
            username: signed_in.username,
        },
    }
}

/// Creates an account and signs it in.
#[utoipa::path(tag = "accounts", request_body = RegisterRequest, responses(
    (status = 201, body = TokenBody),
    (status = 409, description = "`username_taken` or `email_taken`", body = crate::http::error::Problem),
    (status = 422, description = "`validation_failed`, `weak_password` or `password_mismatch`", body = crate::http::error::Problem),
    (status = 429, description = "`too_many_attempts` (registrations from one address), with `Retry-After`", body = crate::http::error::Problem)))]
#[post("/auth/register")]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let mut errors = Errors::default();
    let username = errors.take(
        body.username
            .as_deref()
            .ok_or_else(|| crate::http::error::FieldError::new("username", "is required"))
            .and_then(Username::parse),
    );
    if body.password.is_none() {
        errors.take::<()>(Err(crate::http::error::FieldError::new(
            "password",
            "is required",
        )));
    }
    let email = body
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .and_then(|e| errors.take(Email::parse(e)));
    let first_name = errors.take(parse_name("first_name", body.first_name.as_deref()));
    let last_name = errors.take(parse_name("last_name", body.last_name.as_deref()));
    errors.finish()?;
    let (Some(username), Some(raw_password)) = (username, body.password) else {
        return Err(ApiError::field("username", "is required"));
    };
    if body
        .password_confirmation
        .as_deref()
        .is_some_and(|c| c != raw_password)
    {
        return Err(ApiError::new(
            Code::PasswordMismatch,
            "password_confirmation does not match password.",
        )
        .with_errors(vec![crate::http::error::FieldError::new(
            "password_confirmation",
            "must equal password",
        )]));
    }
    let password = Password::parse(&raw_password, username.as_str()).map_err(|unmet| {
        ApiError::new(
            Code::WeakPassword,
            format!("The password {}.", unmet.join("; ")),
        )
        .with_errors(
            unmet
                .into_iter()
                .map(|m| crate::http::error::FieldError::new("password", m))
                .collect(),
        )
    })?;
    let client = client_address(&req, state.settings.http.trust_forwarded_for);
    let new = NewAccount {
        username,
        password,
        email,
        first_name: first_name.flatten(),
        last_name: last_name.flatten(),
    };
    let signed_in = service::accounts::register(accounts(&state), &client, new)
        .await
        .map_err(|error| {
            let detail = error.to_string();
            match error {
                RegisterError::Throttled { wait } => {
                    ApiError::new(Code::TooManyAttempts, detail).with_retry_after(wait)
                }
                RegisterError::UsernameTaken(_) => ApiError::new(Code::UsernameTaken, detail),
                RegisterError::EmailTaken => ApiError::new(Code::EmailTaken, detail),
                RegisterError::Store(e) => e.into(),
                RegisterError::Failed(e) => ApiError::internal(e),
            }
        })?;
    Ok(HttpResponse::Created().json(token_body(signed_in)))
}

/// The client address for throttling. Behind a trusted ingress, the address that ingress
/// appended (the rightmost `X-Forwarded-For` entry; anything left of it is client-supplied).
/// An IPv6 client counts by its /64 network: one host usually holds a whole /64 (RFC 6177), so
/// counting single addresses would be trivial to get around.
fn client_address(req: &HttpRequest, trust_forwarded_for: bool) -> String {
    let forwarded = trust_forwarded_for
        .then(|| {
            req.headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        })
        .flatten();
    match forwarded.or_else(|| req.peer_addr().map(|a| a.ip())) {
        Some(std::net::IpAddr::V6(ip)) if ip.to_ipv4_mapped().is_none() => {
            let network = u128::from(ip) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
        Some(std::net::IpAddr::V6(ip)) => ip.to_canonical().to_string(),
        Some(ip) => ip.to_string(),
        None => "unknown".to_owned(),
    }
}

/// Signs in with a username (or e-mail address) and password.
#[utoipa::path(tag = "accounts", request_body = LoginRequest, responses(
    (status = 200, body = TokenBody),
    (status = 401, description = "`invalid_credentials`", body = crate::http::error::Problem),
    (status = 429, description = "`too_many_attempts`, with `Retry-After`", body = crate::http::error::Problem)))]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> ApiResult<web::Json<TokenBody>> {
    let body = body.into_inner();
    let mut errors = Errors::default();
    let identifier = errors.take(
        body.username
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| crate::http::error::FieldError::new("username", "is required")),
    );
    let password = errors.take(
        body.password
            .ok_or_else(|| crate::http::error::FieldError::new("password", "is required")),
    );
    errors.finish()?;
    let (Some(identifier), Some(password)) = (identifier, password) else {
        return Err(ApiError::field("username", "is required"));
    };
    let client = client_address(&req, state.settings.http.trust_forwarded_for);
    let password = SecretString::from(password);
    let outcome = service::accounts::login(accounts(&state), &client, &identifier, password).await;
    let (label, result) = match outcome {
        Ok(signed_in) => ("success", Ok(web::Json(token_body(signed_in)))),
        Err(error) => {
            let detail = error.to_string();
            match error {
                LoginError::Throttled { wait } => (
                    "throttled",
                    Err(ApiError::new(Code::TooManyAttempts, detail).with_retry_after(wait)),
                ),
                LoginError::InvalidCredentials => (
                    "invalid",
                    Err(ApiError::new(Code::InvalidCredentials, detail)),
                ),
                LoginError::Store(e) => ("error", Err(e.into())),
                LoginError::Failed(e) => ("error", Err(ApiError::internal(e))),
            }
        }
    };
    state.metrics.logins.with_label_values(&[label]).inc();
    result
}

/// Revokes the presented token (only that one), on every replica, at once: requests with it
/// are refused, and notification sockets opened with it are closed.
#[utoipa::path(tag = "accounts", security(("bearer" = [])), responses(
    (status = 204), (status = 401, body = crate::http::error::Problem)))]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    service::accounts::logout(&state.db, user.jti, user.id, user.expires_at).await?;
    state.live.revoke(Revocation::Token { jti: user.jti }).await;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::client_address;

    #[test]
    fn forwarded_for_is_read_from_the_right_only_when_trusted() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.1.1.1, 203.0.113.7"))
            .to_http_request();
        assert_eq!(client_address(&req, true), "203.0.113.7");
        assert_eq!(client_address(&req, false), "10.0.0.1");
        let junk = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "not-an-ip"))
            .to_http_request();
        assert_eq!(client_address(&junk, true), "10.0.0.1");
        let v6 = TestRequest::default()
            .peer_addr("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(client_address(&v6, false), "2001:db8:1:2::/64");
        let mapped = TestRequest::default()
            .peer_addr("[::ffff:10.0.0.9]:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(client_address(&mapped, false), "10.0.0.9");
    }
}
