//! Jobs (SPEC §3.6, web–queue–worker): a job is stored in PostgreSQL first, then a runner is
//! woken through the jobs stream. A URL the fetch policy refuses outright (not http(s), or a
//! literal refused address) is refused here; a host name that resolves to a refused address
//! fails the job in the worker.

use roost_common::{
    netpolicy::{AddressPolicy, Refusal},
    pipeline::{JobWakeUp, Keys},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    domain::job::{NewJob, Source},
    store,
};

/// Why a job was not queued.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}.")]
    UrlNotAllowed(Refusal),
    #[error("storing the job failed")]
    Store(#[from] sqlx::Error),
}

/// Stores `job` for `user_id` (queued) and wakes a runner; its id. A failed wake-up is only
/// logged: the worker's sweep re-enqueues queued jobs nobody picked up.
pub async fn create(
    db: &PgPool,
    redis: &mut impl redis::aio::ConnectionLike,
    keys: &Keys,
    policy: AddressPolicy,
    user_id: i64,
    job: &NewJob,
) -> Result<Uuid, CreateError> {
    let (text, url) = match &job.source {
        Source::Text(text) => (Some(text.as_str()), None),
        Source::Url(url) => {
            policy.check_url(url).map_err(CreateError::UrlNotAllowed)?;
            (None, Some(url.as_str()))
        }
    };
    let id = store::jobs::create(
        db,
        store::jobs::NewJob {
            user_id,
            kind: job.kind,
            text,
            url,
            sort: job.sort,
        },
    )
    .await?;
    let wake = JobWakeUp { job: id }.xadd(keys);
    if let Err(error) = wake.query_async::<String>(redis).await {
        tracing::warn!(job = %id, %error, "waking a job runner failed; the sweep will");
    }
    Ok(id)
}
