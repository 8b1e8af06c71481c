//! Client applications (SPEC §3.5): registering one (its API key is generated here, shown
//! once, stored as a SHA-256 digest) and revoking one (recorded in PostgreSQL, then announced
//! to every API replica). The admin routes and the `roost-api` CLI both call these.

use roost_common::pipeline::{Keys, message::Revocation};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    auth::api_key,
    domain::application::ApplicationName,
    store::{self, applications::Application},
};

/// A registered application with its API key (the only time the key exists in clear).
pub struct Registered {
    pub application: Application,
    pub api_key: String,
}

/// Why an application was not registered.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("An application named `{0}` exists (names are never reused).")]
    NameTaken(String),
    #[error("storing the application failed")]
    Store(#[from] sqlx::Error),
}

/// Registers an application named `name`.
pub async fn create(db: &PgPool, name: &ApplicationName) -> Result<Registered, CreateError> {
    let (api_key, digest) = api_key::generate();
    let application = store::applications::create(db, name.as_str(), &digest)
        .await?
        .ok_or_else(|| CreateError::NameTaken(name.as_str().to_owned()))?;
    Ok(Registered {
        application,
        api_key,
    })
}

/// What revoking an application did.
#[derive(Debug)]
pub enum Revoked {
    /// No application has that id.
    NotFound,
    /// Revoked (or already revoked), then announced: to how many replicas, or why not (then
    /// replicas stop accepting the key within their cache's TTL,
    /// `ROOST_API_KEY_CACHE_SECONDS`).
    Revoked { announced: anyhow::Result<i64> },
}

/// Revokes application `id` and announces it on the revocations channel.
pub async fn revoke(
    db: &PgPool,
    redis: &mut impl redis::aio::ConnectionLike,
    keys: &Keys,
    id: Uuid,
) -> Result<Revoked, sqlx::Error> {
    if !store::applications::revoke(db, id).await? {
        return Ok(Revoked::NotFound);
    }
    let announced = Revocation::Application { id }.publish(redis, keys).await;
    Ok(Revoked::Revoked { announced })
}
