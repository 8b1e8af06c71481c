//! API keys of client applications: 256 random bits, shown once, stored and looked up as a
//! SHA-256 digest. Resolved keys are cached per process (see [`ApiKeyCache`]).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use moka::sync::Cache;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Prefix of every key, so a leaked key is recognisable (e.g. by secret scanners).
const PREFIX: &str = "roost_";
/// Most keys each half of the cache holds (known keys, and digests known not to be keys).
const CACHE_CAPACITY: u64 = 10_000;

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

/// Digest → application id, or "no such key", for a time to live. Two size-bounded `moka`
/// caches (TinyLFU admission): active keys, and digests that are no key, so a flood of bad
/// keys costs one query per key and TTL and only ever evicts other bad keys, never the good
/// ones.
///
/// A revocation drops the cached keys at once on every replica (announced over Redis
/// pub/sub, see `live::Live::revoke`); the time to live only bounds how long a revoked key still
/// works when that announcement is lost (Redis away).
pub struct ApiKeyCache {
    known: Cache<[u8; 32], Uuid>,
    unknown: Cache<[u8; 32], ()>,
    /// Counts revocations, so a lookup that read PostgreSQL before a revocation does not
    /// cache its (by then stale) answer after it.
    revocations: AtomicU64,
}

impl ApiKeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            known: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            unknown: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(ttl)
                .build(),
            revocations: AtomicU64::new(0),
        }
    }

    /// The application whose key has this digest (`None`: no active application), from the
    /// cache or else from PostgreSQL (then cached).
    pub async fn resolve(
        &self,
        db: &sqlx::PgPool,
        digest: [u8; 32],
    ) -> Result<Option<Uuid>, sqlx::Error> {
        if let Some(cached) = self.get(&digest) {
            return Ok(cached);
        }
        let revocations = self.revocations();
        let found = crate::store::applications::by_key_digest(db, &digest).await?;
        self.put(digest, found, revocations);
        Ok(found)
    }

    /// `Some(Some(id))`: a known key; `Some(None)`: known not to exist; `None`: ask PostgreSQL.
    fn get(&self, digest: &[u8; 32]) -> Option<Option<Uuid>> {
        if let Some(id) = self.known.get(digest) {
            return Some(Some(id));
        }
        self.unknown.contains_key(digest).then_some(None)
    }

    /// The revocation count to hand back to [`ApiKeyCache::put`] (read before the lookup).
    fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }

    /// Caches a lookup's answer, unless a revocation happened since `revocations` was read.
    fn put(&self, digest: [u8; 32], id: Option<Uuid>, revocations: u64) {
        if self.revocations() != revocations {
            return;
        }
        match id {
            Some(id) => self.known.insert(digest, id),
            None => self.unknown.insert(digest, ()),
        }
    }

    /// Forgets the key of an application that was revoked: no lookup after this returns
    /// finds it.
    pub fn revoke(&self, application: Uuid) {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        if self
            .known
            .invalidate_entries_if(move |_, id| *id == application)
            .is_err()
        {
            self.known.invalidate_all();
        }
    }

    /// Forgets everything (after missing revocations while Redis was away).
    pub fn clear(&self) {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.known.invalidate_all();
        self.unknown.invalidate_all();
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
    fn a_flood_of_bad_keys_does_not_evict_good_ones() {
        let cache = ApiKeyCache::new(Duration::from_secs(60));
        cache.put([1; 32], Some(Uuid::nil()), cache.revocations());
        for i in 0..(CACHE_CAPACITY + 5_000) {
            let mut bad = [0u8; 32];
            bad[..8].copy_from_slice(&i.to_le_bytes());
            bad[31] = 2;
            cache.put(bad, None, 0);
        }
        cache.unknown.run_pending_tasks();
        assert!(cache.unknown.entry_count() <= CACHE_CAPACITY);
        assert_eq!(cache.get(&[1; 32]), Some(Some(Uuid::nil())));
        let other = Uuid::from_u128(7);
        cache.put([3; 32], Some(other), cache.revocations());
        cache.revoke(Uuid::nil());
        assert_eq!(cache.get(&[1; 32]), None);
        assert_eq!(cache.get(&[3; 32]), Some(Some(other)));
        // A lookup that started before the revocation does not cache its stale answer.
        cache.put([1; 32], Some(Uuid::nil()), 0);
        assert_eq!(cache.get(&[1; 32]), None);
        cache.put([1; 32], Some(Uuid::nil()), cache.revocations());
        assert_eq!(cache.get(&[1; 32]), Some(Some(Uuid::nil())));
    }

    #[test]
    fn the_cache_expires_entries() {
        let cache = ApiKeyCache::new(Duration::from_millis(0));
        cache.put([1; 32], Some(Uuid::nil()), cache.revocations());
        assert_eq!(cache.get(&[1; 32]), None);
        let cache = ApiKeyCache::new(Duration::from_secs(60));
        cache.put([1; 32], Some(Uuid::nil()), cache.revocations());
        cache.put([2; 32], None, cache.revocations());
        assert_eq!(cache.get(&[1; 32]), Some(Some(Uuid::nil())));
        assert_eq!(cache.get(&[2; 32]), Some(None));
        assert_eq!(cache.get(&[3; 32]), None);
    }
}
