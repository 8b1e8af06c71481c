//! API keys of client applications: 256 random bits, shown once, stored and looked up as a
//! SHA-256 digest. Resolved keys are cached per process for a short, configurable time (the
//! delay before a revocation takes effect everywhere).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    error::{ApiError, Code},
    state::AppState,
    store,
};

/// Prefix of every key, so a leaked key is recognisable (e.g. by secret scanners).
const PREFIX: &str = "roost_";
/// Cached keys per process; the cache is emptied when it would grow past this.
const CACHE_CAPACITY: usize = 10_000;

/// A new random key and its digest.
pub fn generate() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let digest = digest(&key);
    (key, digest)
}

pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Digest → application id (or "no such key"), for the cache's time to live. Misses are
/// cached too, so a flood of bad keys costs one query per key and TTL, not one per request;
/// the cache is emptied when it would grow past [`CACHE_CAPACITY`].
pub struct ApiKeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

/// A lookup's answer (the application, or none) and when it was made.
type Cached = (Option<Uuid>, Instant);

impl ApiKeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(Some(id))`: a known key; `Some(None)`: known not to exist; `None`: ask PostgreSQL.
    fn get(&self, digest: &[u8; 32]) -> Option<Option<Uuid>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(digest)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(id, _)| *id)
    }

    fn put(&self, digest: [u8; 32], id: Option<Uuid>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(digest, (id, Instant::now()));
        }
    }
}

/// The client application identified by the request's `X-Api-Key`.
#[derive(Clone, Copy, Debug)]
pub struct ClientApp {
    pub id: Uuid,
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
            let digest = digest(&key);
            let id = match state.api_keys.get(&digest) {
                Some(cached) => cached,
                None => {
                    let found = store::applications::by_key_digest(&state.db, &digest).await?;
                    state.api_keys.put(digest, found);
                    found
                }
            };
            id.map(|id| Self { id }).ok_or_else(invalid_api_key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_digested() {
        let (a, da) = generate();
        let (b, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        // 32 bytes = 43 base64url characters: 256 bits.
        assert_eq!(a.len(), PREFIX.len() + 43);
        assert_eq!(digest(&a), da);
    }

    #[test]
    fn the_cache_expires_entries() {
        let cache = ApiKeyCache::new(Duration::from_millis(0));
        cache.put([1; 32], Some(Uuid::nil()));
        assert_eq!(cache.get(&[1; 32]), None);
        let cache = ApiKeyCache::new(Duration::from_secs(60));
        cache.put([1; 32], Some(Uuid::nil()));
        cache.put([2; 32], None);
        assert_eq!(cache.get(&[1; 32]), Some(Some(Uuid::nil())));
        assert_eq!(cache.get(&[2; 32]), Some(None));
        assert_eq!(cache.get(&[3; 32]), None);
    }
}
