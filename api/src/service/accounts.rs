//! Accounts (SPEC §3.1): registration, login and logout. Input is already valid (the domain's
//! `Username`, `Password`, `Email`); this is the orchestration around it: the registration
//! and login throttles, hashing on the bounded pool, the store (with its outbox events) and
//! the token.

use roost_common::pipeline::outbox::Publisher;
use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    auth::{
        password::PasswordHasher,
        throttle::LoginThrottle,
        token::{IssuedToken, TokenService},
    },
    domain::account::{Email, Password, Username},
    store::{self, users::Registered},
};

/// What the account services need.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    pub db: &'a PgPool,
    pub outbox: &'a Publisher,
    pub hasher: &'a PasswordHasher,
    pub throttle: &'a LoginThrottle,
    pub tokens: &'a TokenService,
}

/// A valid registration request.
pub struct NewAccount {
    pub username: Username,
    pub password: Password,
    pub email: Option<Email>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// A signed-in user and their new access token.
pub struct SignedIn {
    pub id: i64,
    pub username: String,
    pub token: IssuedToken,
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// `wait`: seconds until this client address may register again.
    #[error("Too many registrations from this address; try again in {wait} seconds.")]
    Throttled { wait: u64 },
    #[error("The username `{0}` is taken.")]
    UsernameTaken(String),
    #[error("That e-mail address belongs to another account.")]
    EmailTaken,
    /// PostgreSQL failed (503 when it is unreachable, see `http::error`).
    #[error("storing the account failed")]
    Store(#[from] sqlx::Error),
    /// Hashing or signing the token failed.
    #[error("registering failed")]
    Failed(#[source] anyhow::Error),
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// `wait`: seconds until the account's or the address's window allows another attempt.
    #[error("Too many failed logins; try again in {wait} seconds.")]
    Throttled { wait: u64 },
    /// The same for an unknown user and a wrong password (no user enumeration).
    #[error("The username or password is incorrect.")]
    InvalidCredentials,
    /// PostgreSQL failed (503 when it is unreachable, see `http::error`).
    #[error("reading or recording the login failed")]
    Store(#[from] sqlx::Error),
    /// Hashing or signing the token failed.
    #[error("logging in failed")]
    Failed(#[source] anyhow::Error),
}

/// Registers an account from `client` (an address, for the registration throttle) and signs
/// it in. Registering is not a login: no `user.logged_in` event.
pub async fn register(
    deps: Accounts<'_>,
    client: &str,
    new: NewAccount,
) -> Result<SignedIn, RegisterError> {
    if let Some(wait) = deps.throttle.register_attempt(client).await {
        return Err(RegisterError::Throttled { wait });
    }
    let hash = deps
        .hasher
        .hash(SecretString::from(new.password.expose().to_owned()))
        .await
        .map_err(RegisterError::Failed)?;
    let outcome = store::users::register(
        deps.db,
        deps.outbox,
        store::users::NewUser {
            username: new.username.as_str(),
            email: new.email.as_ref().map(Email::as_str),
            first_name: new.first_name.as_deref(),
            last_name: new.last_name.as_deref(),
            password_hash: &hash,
        },
    )
    .await?;
    match outcome {
        Registered::Created { id, username } => {
            sign_in(deps, id, username).map_err(RegisterError::Failed)
        }
        Registered::UsernameTaken => Err(RegisterError::UsernameTaken(
            new.username.as_str().to_owned(),
        )),
        Registered::EmailTaken => Err(RegisterError::EmailTaken),
    }
}

/// Logs in with a username or an e-mail address (`identifier`, trimmed, not empty) from
/// `client`. Throttled per account and per address (SPEC §3.1: 10 failures per account, 50
/// per address, per window); a success resets the account's count and records
/// `user.logged_in`.
pub async fn login(
    deps: Accounts<'_>,
    client: &str,
    identifier: &str,
    password: SecretString,
) -> Result<SignedIn, LoginError> {
    let credentials = if identifier.len() > 254 {
        None
    } else {
        store::users::credentials(deps.db, identifier).await?
    };
    // One count per account whichever identifier names it; unknown names count by name.
    let account = credentials.as_ref().map_or_else(
        || format!("name:{}", identifier.to_lowercase()),
        |c| format!("id:{}", c.id),
    );
    if let Some(wait) = deps.throttle.attempt(&account, client).await {
        return Err(LoginError::Throttled { wait });
    }
    let (stored, user) = match credentials {
        Some(c) => (Some(c.password_hash), Some((c.id, c.username))),
        None => (None, None),
    };
    // Verified even for an unknown user (against a dummy hash): the same time either way.
    let ok = deps
        .hasher
        .verify(password, stored)
        .await
        .map_err(LoginError::Failed)?;
    let (true, Some((id, username))) = (ok, user) else {
        return Err(LoginError::InvalidCredentials);
    };
    deps.throttle.succeeded(&account, client).await;
    store::users::record_login(deps.db, deps.outbox, id, &username).await?;
    sign_in(deps, id, username).map_err(LoginError::Failed)
}

/// Revokes one access token (its `jti`) until it expires; the caller announces it to the
/// replicas.
pub async fn logout(
    db: &PgPool,
    jti: Uuid,
    user_id: i64,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    store::tokens::revoke(db, jti, user_id, expires_at).await
}

fn sign_in(deps: Accounts<'_>, id: i64, username: String) -> anyhow::Result<SignedIn> {
    let token = deps.tokens.issue(id, &username)?;
    Ok(SignedIn {
        id,
        username,
        token,
    })
}
