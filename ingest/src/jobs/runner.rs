//! The job runner. PostgreSQL holds each job; the jobs stream only says "job X is waiting".
//! A run claims the job with a lease (so a crashed run is re-run once the lease expires),
//! counts attempts, retries what may succeed later, and ends `failed` with a reason otherwise.

use std::{sync::Arc, time::Duration};

use redis::{aio::ConnectionManager, streams::StreamId};
use roost_common::{
    pipeline::{JobWakeUp, Keys, keys::JOBS_GROUP},
    settings::JobSettings,
};
use serde_json::Value;
use sqlx::PgPool;
use tokio::{sync::Semaphore, time::Instant};
use uuid::Uuid;

use super::{
    fetch::{FetchError, Fetcher},
    wordcount::{self, WordCount},
};
use crate::{
    Handles, Stop,
    group::{Group, Reader},
    metrics::Metrics,
    store::{self, jobs::Claimed},
};

/// Why a run did not produce a result.
struct RunError {
    message: String,
    retryable: bool,
}

impl From<FetchError> for RunError {
    fn from(e: FetchError) -> Self {
        Self {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

#[derive(Clone)]
pub struct JobRunner {
    db: PgPool,
    redis: ConnectionManager,
    client: redis::Client,
    keys: Keys,
    group: Group,
    settings: JobSettings,
    block: Duration,
    fetcher: Fetcher,
    metrics: Arc<Metrics>,
}

impl JobRunner {
    pub fn new(handles: Handles, settings: JobSettings, block: Duration, fetcher: Fetcher) -> Self {
        let Handles {
            db,
            redis,
            client,
            keys,
            consumer,
            metrics,
        } = handles;
        Self {
            group: Group {
                stream: keys.jobs.clone(),
                group: JOBS_GROUP,
                consumer,
            },
            db,
            redis,
            client,
            keys,
            settings,
            block,
            fetcher,
            metrics,
        }
    }

    /// Runs jobs until `stop`; then waits for the running ones (they are short: every fetch
    /// is time-capped) so their results are recorded and their entries acknowledged.
    pub async fn run(mut self, stop: Stop) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut reader = Reader::new(self.group.clone(), self.client.clone(), self.block);
        let mut last_claim: Option<Instant> = None;
        let claim_every = (self.settings.lease / 2).max(Duration::from_secs(1));
        while !stop.is_set() {
            let free = permits.available_permits();
            if free == 0 {
                stop.sleep(Duration::from_millis(50)).await;
                continue;
            }
            let mut entries = Vec::new();
            if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                last_claim = Some(Instant::now());
                match self
                    .group
                    .reclaim(&mut self.redis, self.settings.lease, free)
                    .await
                {
                    Ok(claimed) => {
                        self.metrics.reclaimed.inc_by(claimed.len() as u64);
                        entries.extend(claimed.into_iter().map(|(e, _)| e));
                    }
                    Err(error) => tracing::debug!(%error, "reclaiming jobs failed"),
                }
            }
            if entries.is_empty() {
                entries = reader.next(&mut self.redis, free, &stop).await;
            }
            for entry in entries {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let runner = self.clone();
                tokio::spawn(async move {
                    runner.handle(entry).await;
                    drop(permit);
                });
            }
        }
        // Wait for the running jobs, within the usual termination grace period: a job cut
        // short here is re-run by another worker once its lease expires.
        let all = u32::try_from(self.settings.concurrency).unwrap_or(u32::MAX);
        let grace = self.settings.lease.min(Duration::from_secs(20));
        let _ = tokio::time::timeout(grace, permits.acquire_many(all)).await;
        tracing::info!("job runner stopped");
    }

    async fn handle(mut self, entry: StreamId) {
        match JobWakeUp::decode(&entry).map(|w| w.job) {
            Some(id) => {
                if let Err(error) = self.execute(id).await {
                    // The database is away: leave the entry pending; it is reclaimed later.
                    tracing::warn!(job = %id, %error, "a job could not be recorded; it will be retried");
                    return;
                }
            }
            None => {
                tracing::warn!(entry = %entry.id, "a jobs stream entry without a job id; dropped")
            }
        }
        if let Err(error) = self
            .group
            .ack(&mut self.redis, std::slice::from_ref(&entry.id))
            .await
        {
            tracing::warn!(%error, "acknowledging a job entry failed");
        }
    }

    /// Claims and runs one job. `Err` only when the database could not record the outcome.
    pub async fn execute(&mut self, id: Uuid) -> Result<(), sqlx::Error> {
        let Some(job) = store::jobs::claim(&self.db, id, self.settings.lease).await? else {
            return Ok(()); // finished, or running elsewhere under a live lease
        };
        let max = i32::try_from(self.settings.max_attempts).unwrap_or(i32::MAX);
        if job.attempt > max {
            let reason = format!(
                "gave up after {max} attempts: every run was interrupted before it finished"
            );
            self.fail(&job, &reason).await?;
            return Ok(());
        }
        let started = Instant::now();
        let outcome = {
            // Renew the lease while the run goes on, so a slow but live run is not re-run.
            let work = self.work(&job);
            tokio::pin!(work);
            let mut renew =
                tokio::time::interval((self.settings.lease / 3).max(Duration::from_secs(1)));
            renew.tick().await;
            loop {
                tokio::select! {
                    outcome = &mut work => break outcome,
                    _ = renew.tick() => {
                        let renewed = store::jobs::renew(&self.db, &job, self.settings.lease).await;
                        if let Err(error) = renewed {
                            tracing::warn!(job = %job.id, %error, "renewing a job's lease failed");
                        }
                    }
                }
            }
        };
        self.metrics
            .job_seconds
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(result) => {
                let result = serde_json::to_value(&result).unwrap_or(Value::Null);
                if store::jobs::succeed(&self.db, &job, &result).await? {
                    self.metrics
                        .jobs_finished
                        .with_label_values(&["succeeded"])
                        .inc();
                }
            }
            Err(e) if e.retryable && job.attempt < max => {
                // Back off before waking a runner again; the sweep covers a lost wake-up, but
                // not before the backoff and one more lease have passed.
                let delay = Duration::from_secs(1 << job.attempt.clamp(0, 5));
                let hold = delay + self.settings.lease;
                if store::jobs::requeue(&self.db, &job, &e.message, hold).await? {
                    self.metrics.jobs_retried.inc();
                    let mut redis = self.redis.clone();
                    let keys = self.keys.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = JobWakeUp { job: id }
                            .xadd(&keys)
                            .query_async::<String>(&mut redis)
                            .await;
                    });
                }
            }
            Err(e) => {
                let reason = if e.retryable {
                    format!("gave up after {} attempts: {}", job.attempt, e.message)
                } else {
                    e.message
                };
                self.fail(&job, &reason).await?;
            }
        }
        Ok(())
    }

    async fn fail(&self, job: &Claimed, reason: &str) -> Result<(), sqlx::Error> {
        if store::jobs::fail(&self.db, job, reason).await? {
            self.metrics
                .jobs_finished
                .with_label_values(&["failed"])
                .inc();
        }
        Ok(())
    }

    async fn work(&self, job: &Claimed) -> Result<WordCount, RunError> {
        let sort = job.sort;
        let text = match (&job.text, &job.url) {
            (Some(text), _) => text.clone(),
            (None, Some(url)) => {
                let fetched = self.fetcher.fetch(url).await?;
                if wordcount::is_html(fetched.content_type.as_deref(), &fetched.text) {
                    blocking(move || wordcount::visible_text(&fetched.text)).await?
                } else {
                    fetched.text
                }
            }
            (None, None) => {
                return Err(RunError {
                    message: "the job has neither a text nor a URL".into(),
                    retryable: false,
                });
            }
        };
        blocking(move || wordcount::count_words(&text, sort)).await
    }
}

/// Runs CPU-heavy work (10 MiB of text) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| RunError {
        message: "the job's computation failed".into(),
        retryable: false,
    })
}

/// Re-enqueues jobs whose wake-up was lost: queued for longer than a lease, or running with a
/// lease that expired more than a lease ago (their stream entry is gone).
pub async fn sweep(
    db: &PgPool,
    redis: &mut ConnectionManager,
    keys: &Keys,
    lease: Duration,
) -> anyhow::Result<usize> {
    let ids = store::jobs::take_lost(db, lease).await?;
    for id in &ids {
        JobWakeUp { job: *id }
            .xadd(keys)
            .query_async::<String>(redis)
            .await?;
    }
    if !ids.is_empty() {
        tracing::info!(jobs = ids.len(), "re-enqueued jobs whose wake-up was lost");
    }
    Ok(ids.len())
}
