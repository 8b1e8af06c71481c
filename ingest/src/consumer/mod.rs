//! The event consumer: read a batch from the stream (consumer group) → validate → write it in
//! one transaction → commit → acknowledge → announce new notifications. At-least-once with
//! idempotent writes, so the effect is exactly once.
//!
//! Failure handling:
//! - the database is away (connection errors and the like): the batch is retried in place,
//!   never acknowledged, its entries kept from being reclaimed; the stream backlog grows;
//! - one entry is at fault (a data error): the batch is split and each entry retried alone; the
//!   faulty one stays pending and is redelivered after `claim_idle`; once it has been delivered
//!   more than `max_deliveries` times and fails again, it is split into its events, and only
//!   the events that fail on their own go to the quarantine as `poison_message`;
//! - a worker dies: its pending entries are reclaimed (`XAUTOCLAIM`) by the others. A delivery
//!   count alone never quarantines anything: restarts during a database outage are harmless.
//! - a batch that keeps failing for another reason (a statement timeout, say) is halved after a
//!   few attempts, so one oversized batch cannot stall a worker.

mod plan;
mod read_size;

use std::{sync::Arc, time::Duration};

use redis::aio::ConnectionManager;
use roost_common::{
    pipeline::{Keys, keys::EVENTS_GROUP},
    settings::PipelineSettings,
};
use sqlx::PgPool;
use tokio::time::Instant;

pub use self::plan::{Body, Entry, plan};
use self::read_size::ReadSize;
use crate::{
    Handles, Stop,
    group::{Group, Reader},
    metrics::Metrics,
    store,
    validate::Validator,
};

/// Most events written in one transaction; larger reads are committed in chunks.
const MAX_BATCH_EVENTS: usize = 10_000;
/// Transient failures of one batch before it is halved.
const HALVE_AFTER: u32 = 3;

/// Whether a database error is about the data (retrying the same entry cannot help) rather
/// than about the database being reachable. Only data errors can ever quarantine an entry.
fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("23") || c.starts_with("54")),
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

pub struct Consumer {
    db: PgPool,
    redis: ConnectionManager,
    client: redis::Client,
    group: Group,
    settings: PipelineSettings,
    metrics: Arc<Metrics>,
    validator: Validator,
    keys: Keys,
}

impl Consumer {
    pub fn new(handles: Handles, settings: PipelineSettings) -> Self {
        let Handles {
            db,
            redis,
            client,
            keys,
            consumer,
            metrics,
        } = handles;
        Self {
            db,
            redis,
            client,
            group: Group {
                stream: keys.events.clone(),
                group: EVENTS_GROUP,
                consumer,
            },
            settings,
            metrics,
            validator: Validator::new(),
            keys,
        }
    }

    /// Consumes until `stop` is set; an in-flight batch is finished and acknowledged first.
    pub async fn run(mut self, stop: Stop) {
        let mut reader = Reader::new(self.group.clone(), self.client.clone(), self.settings.block);
        let claim_every = (self.settings.claim_idle / 2).max(Duration::from_secs(1));
        let mut last_claim: Option<Instant> = None;
        let mut size = ReadSize::new(&self.settings);
        while !stop.is_set() {
            if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                last_claim = Some(Instant::now());
                self.reclaim(size.count(), &stop).await;
            }
            let entries = reader.next(&mut self.redis, size.count(), &stop).await;
            size.observe(&entries);
            if !entries.is_empty() {
                let entries = entries.iter().map(|e| Entry::decode(e, 1)).collect();
                self.process(entries, &stop).await;
            }
        }
        tracing::info!("event consumer stopped");
    }

    /// Takes over entries other consumers (or this one, for an entry at fault) left pending.
    async fn reclaim(&mut self, count: usize, stop: &Stop) {
        let claimed = match self
            .group
            .reclaim(&mut self.redis, self.settings.claim_idle, count)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                // No group yet (a fresh Redis) means nothing to reclaim.
                if error.code() != Some("NOGROUP") {
                    tracing::warn!(%error, "reclaiming pending entries failed");
                }
                return;
            }
        };
        if claimed.is_empty() {
            return;
        }
        self.metrics.reclaimed.inc_by(claimed.len() as u64);
        tracing::info!(entries = claimed.len(), "reclaimed pending entries");
        let (fresh, repeated): (Vec<Entry>, Vec<Entry>) = claimed
            .iter()
            .map(|(entry, delivered)| Entry::decode(entry, *delivered))
            .partition(|e| e.deliveries <= self.settings.max_deliveries as usize);
        self.process(fresh, stop).await;
        // Entries that failed before are tried one at a time, so one cannot hold others back.
        for entry in repeated {
            self.process(vec![entry], stop).await;
        }
    }

    /// Stores a batch, retrying in place while the database is away, splitting it when one
    /// entry is at fault, and halving it when it keeps failing.
    async fn process(&mut self, entries: Vec<Entry>, stop: &Stop) {
        if entries.is_empty() {
            return;
        }
        let total: usize = entries.iter().map(Entry::events).sum();
        if total > MAX_BATCH_EVENTS && entries.len() > 1 {
            let mut chunks: Vec<Vec<Entry>> = vec![Vec::new()];
            let mut size = 0;
            for entry in entries {
                if size + entry.events() > MAX_BATCH_EVENTS
                    && chunks.last().is_some_and(|c| !c.is_empty())
                {
                    chunks.push(Vec::new());
                    size = 0;
                }
                size += entry.events();
                if let Some(chunk) = chunks.last_mut() {
                    chunk.push(entry);
                }
            }
            for i in 0..chunks.len() {
                if i > 0 {
                    // The chunks still waiting were read with the first: refresh their idle
                    // time so another consumer does not reclaim them meanwhile.
                    let waiting: Vec<String> =
                        chunks[i..].iter().flatten().map(|e| e.id.clone()).collect();
                    if let Err(error) = self.group.keep_alive(&mut self.redis, &waiting).await {
                        tracing::warn!(%error, "keeping waiting entries claimed failed");
                    }
                }
                let chunk = std::mem::take(&mut chunks[i]);
                Box::pin(self.process(chunk, stop)).await;
            }
            return;
        }
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut last_keep_alive = Instant::now();
        let mut failures = 0;
        loop {
            match self.commit(&entries).await {
                Ok(outcome) => {
                    self.finish(&entries, outcome, started).await;
                    return;
                }
                Err(error) if is_data_error(&error) => {
                    self.metrics
                        .batch_failures
                        .with_label_values(&["entry"])
                        .inc();
                    if entries.len() > 1 {
                        tracing::warn!(error = %error, entries = entries.len(), "a batch failed on its data; retrying its entries one by one");
                        for entry in entries {
                            Box::pin(self.process(vec![entry], stop)).await;
                        }
                        return;
                    }
                    let Some(entry) = entries.into_iter().next() else {
                        return;
                    };
                    if entry.deliveries > self.settings.max_deliveries as usize {
                        self.quarantine_failing_events(entry, &error.to_string(), stop)
                            .await;
                    } else {
                        tracing::error!(entry = %entry.id, deliveries = entry.deliveries, error = %error, "an entry cannot be stored; it stays pending and will be retried");
                    }
                    return;
                }
                Err(error) => {
                    failures += 1;
                    self.metrics
                        .batch_failures
                        .with_label_values(&["transient"])
                        .inc();
                    tracing::warn!(error = %error, entries = entries.len(), retry_in_ms = delay.as_millis() as u64, "storing a batch failed; retrying");
                    if stop.is_set() {
                        // Left pending: another worker (or this one after a restart) takes it.
                        return;
                    }
                    if failures >= HALVE_AFTER && entries.len() > 1 {
                        let mut first = entries;
                        let second = first.split_off(first.len() / 2);
                        Box::pin(self.process(first, stop)).await;
                        Box::pin(self.process(second, stop)).await;
                        return;
                    }
                    if last_keep_alive.elapsed() >= self.settings.claim_idle / 3 {
                        last_keep_alive = Instant::now();
                        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
                        if let Err(error) = self.group.keep_alive(&mut self.redis, &ids).await {
                            tracing::warn!(%error, "could not keep pending entries claimed");
                        }
                    }
                    stop.sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// An entry that failed on its data more than `max_deliveries` times: each event is tried
    /// on its own; the ones that still fail are quarantined (`poison_message`) with the error,
    /// the others stored. Then the entry is acknowledged.
    async fn quarantine_failing_events(&mut self, entry: Entry, error: &str, stop: &Stop) {
        let Body::Batch(batch) = &entry.body else {
            return; // a poison body is a plain insert; it cannot fail on its data
        };
        tracing::warn!(entry = %entry.id, deliveries = entry.deliveries, %error, "an entry keeps failing; storing its events one by one");
        let mut quarantine = Vec::new();
        for event in &batch.events {
            let single = entry.single(batch, event.clone());
            loop {
                match self.commit(std::slice::from_ref(&single)).await {
                    Ok(outcome) => {
                        self.record(&outcome, Instant::now()).await;
                        break;
                    }
                    Err(e) if is_data_error(&e) => {
                        quarantine.push(entry.poisoned(batch.application, event, &e.to_string()));
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "storing an event failed; retrying");
                        if stop.is_set() {
                            return; // still pending: retried from the start later
                        }
                        stop.sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        // The quarantine rows themselves cannot fail on their data (NULs are stripped).
        if quarantine.is_empty() {
            if let Err(e) = self
                .group
                .ack(&mut self.redis, std::slice::from_ref(&entry.id))
                .await
            {
                tracing::warn!(error = %e, "acknowledging an entry failed");
            }
        } else {
            Box::pin(self.process(quarantine, stop)).await;
        }
    }

    /// Validates (with the current schemas), plans and writes `entries` in one transaction.
    async fn commit(&mut self, entries: &[Entry]) -> Result<store::Outcome, sqlx::Error> {
        self.validator.refresh(&self.db).await?;
        let writes = plan(entries, &self.validator);
        let mut tx = self.db.begin().await?;
        // A batch that cannot finish in time fails (and is halved) instead of stalling.
        sqlx::query("SET LOCAL statement_timeout = '60s'")
            .execute(&mut *tx)
            .await?;
        let outcome = store::write_batch(&mut tx, &writes).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn finish(&mut self, entries: &[Entry], outcome: store::Outcome, started: Instant) {
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        if let Err(error) = self.group.ack(&mut self.redis, &ids).await {
            // Stored but not acknowledged: redelivered later and deduplicated by id.
            tracing::warn!(%error, "acknowledging a stored batch failed");
        }
        self.record(&outcome, started).await;
    }

    /// Counts a committed batch and announces its new notifications.
    async fn record(&mut self, outcome: &store::Outcome, started: Instant) {
        let m = &self.metrics;
        m.events_stored.inc_by(outcome.stored);
        m.events_duplicate.inc_by(outcome.duplicates);
        for code in &outcome.quarantined {
            m.quarantined.with_label_values(&[code.as_str()]).inc();
        }
        m.batch_events.observe(
            (outcome.stored + outcome.duplicates + outcome.quarantined.len() as u64) as f64,
        );
        m.batch_seconds.observe(started.elapsed().as_secs_f64());
        m.notifications_created
            .inc_by(outcome.notifications.len() as u64);
        if !outcome.notifications.is_empty() {
            crate::notify::announce(&mut self.redis, &self.keys, &outcome.notifications).await;
        }
    }
}
