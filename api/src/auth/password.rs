//! argon2id password hashing on a fixed pool of `hash_workers` long-lived threads (a `rayon`
//! pool), so a login storm uses at most that many cores and never stalls the async runtime.
//!
//! Long-lived threads also bound memory: each hash needs 19 MiB, and glibc's malloc keeps such a
//! block in the arena of the thread that freed it. On short-lived blocking threads (tokio's
//! `spawn_blocking`) every new thread took a new arena and resident memory grew about 4× under
//! hashing (200 → 820 MiB) and stayed; on `hash_workers` fixed threads it stays within about
//! `hash_workers` × 2 × 19 MiB of the idle size.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow};
use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

/// OWASP's argon2id recommendation: 19 MiB of memory, 2 iterations, 1 lane.
pub fn owasp_params() -> Params {
    Params::DEFAULT
}

#[derive(Clone)]
pub struct PasswordHasher {
    pool: Arc<rayon::ThreadPool>,
    params: Params,
    /// A real hash of a random password: verifying against it makes an unknown user cost the
    /// same time as a known one, so login timing reveals nothing.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(workers: usize, params: Params) -> anyhow::Result<Self> {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy = uuid::Uuid::new_v4().to_string();
        let dummy_hash = argon
            .hash_password(dummy.as_bytes())
            .map_err(|e| anyhow!("hashing the dummy password: {e}"))?
            .to_string();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers.max(1))
            .thread_name(|i| format!("argon2-{i}"))
            // A panicking hash fails its request (the caller sees the dropped channel) instead
            // of aborting the process, rayon's default.
            .panic_handler(|_| tracing::error!("a password hashing job panicked"))
            .build()
            .context("starting the password hashing threads")?;
        Ok(Self {
            pool: Arc::new(pool),
            params,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        let params = self.params.clone();
        self.run(move || {
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(password.expose_secret().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow!("hashing a password: {e}"))
        })
        .await
    }

    /// Checks a password against a stored hash; with no stored hash (unknown user) it checks
    /// against the dummy hash and answers `false`, taking the same time.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> anyhow::Result<bool> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let ok = self
            .run(move || {
                // Parameters come from the stored PHC string, so old hashes keep verifying.
                let argon = Argon2::default();
                Ok(argon
                    .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && ok)
    }

    /// The pool's raw verification rate: verifies one hash with every worker busy for
    /// `duration` and returns (verifications, seconds). Capacity planning for logins
    /// (`roost-api hash-rate`); the login benchmark compares its logins/s against this.
    pub async fn verify_rate(&self, duration: Duration) -> anyhow::Result<(u64, f64)> {
        let hash: Arc<str> = self.hash(SecretString::from("rate-probe")).await?.into();
        let started = Instant::now();
        let loops = (0..self.pool.current_num_threads()).map(|_| {
            let hasher = self.clone();
            let hash = hash.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while started.elapsed() < duration {
                    let stored = Some(hash.to_string());
                    hasher
                        .verify(SecretString::from("rate-probe"), stored)
                        .await?;
                    done += 1;
                }
                anyhow::Ok(done)
            })
        });
        let mut total = 0;
        for done in futures_util::future::join_all(loops).await {
            total += done.context("a verification loop panicked")??;
        }
        Ok((total, started.elapsed().as_secs_f64()))
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = oneshot::channel();
        self.pool.spawn(move || {
            // A caller that has gone (a client that hung up while queued) costs no hash.
            if done.is_closed() {
                return;
            }
            let _ = done.send(work());
        });
        result.await.context("the password hashing task panicked")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(1, Params::new(1024, 1, 1, None).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn verify_rate_counts_verifications() {
        let (done, seconds) = fast().verify_rate(Duration::from_millis(50)).await.unwrap();
        assert!(done > 0);
        assert!(seconds >= 0.05);
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = fast();
        let hash = h
            .hash(SecretString::from("correct-horse-42"))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            h.verify("correct-horse-42".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!h.verify("wrong-horse-42".into(), Some(hash)).await.unwrap());
        assert!(!h.verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn owasp_parameters() {
        let p = owasp_params();
        assert_eq!((p.m_cost(), p.t_cost(), p.p_cost()), (19 * 1024, 2, 1));
    }
}
