//! Throttling in Redis with fixed windows: failed logins per account and per client address,
//! and registrations per client address (each costs an argon2 hash). Each attempt is counted
//! atomically *before* its password is hashed (a login's is uncounted when it succeeds), so
//! parallel requests cannot slip past the limit while hashes are running. Redis being down
//! does not lock everyone out: the throttle then fails open (logged), because PostgreSQL still
//! checks every password and the hashing pool is bounded anyway.

use roost_common::pipeline::Keys;
use std::time::Duration;

use redis::{Script, aio::ConnectionManager};

/// KEYS: the counters. ARGV: the maximum of each counter, then the window in ms.
/// Returns the milliseconds to wait when any counter is full, otherwise counts the attempt on
/// every counter and returns 0.
const ATTEMPT: &str = r"
local window = tonumber(ARGV[#KEYS + 1])
local wait = 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = window end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, window) end
end
return 0
";

/// KEYS: account, address. A success resets the account and takes back its address count.
const SUCCEEDED: &str = r"
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0
";

/// The limits, from the settings (`ROOST_LOGIN_*`, `ROOST_REGISTER_*`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub login_per_account: u32,
    pub login_per_ip: u32,
    pub login_window: Duration,
    pub register_per_ip: u32,
    pub register_window: Duration,
}

#[derive(Clone)]
pub struct LoginThrottle {
    redis: ConnectionManager,
    keys: Keys,
    limits: Limits,
    attempt: Script,
    succeeded: Script,
}

fn millis(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
}

impl LoginThrottle {
    pub fn new(redis: ConnectionManager, keys: Keys, limits: Limits) -> Self {
        Self {
            redis,
            keys,
            limits,
            attempt: Script::new(ATTEMPT),
            succeeded: Script::new(SUCCEEDED),
        }
    }

    /// Counts a registration from `client` (before its password is hashed), or answers
    /// `Some(seconds)` to wait when the address has used up its window.
    pub async fn register_attempt(&self, client: &str) -> Option<u64> {
        let mut conn = self.redis.clone();
        let result: redis::RedisResult<i64> = self
            .attempt
            .key(self.keys.register_throttle(client))
            .arg(self.limits.register_per_ip)
            .arg(millis(self.limits.register_window))
            .invoke_async(&mut conn)
            .await;
        wait_from(result, "registration")
    }

    /// `account` identifies the account tried: its id when it exists (so a username and an
    /// e-mail address share one count), the lower-cased identifier otherwise.
    fn keys(&self, account: &str, client: &str) -> [String; 2] {
        [
            self.keys.login_throttle_account(account),
            self.keys.login_throttle_client(client),
        ]
    }

    /// Counts an attempt, or answers `Some(seconds)` to wait when either window is exhausted
    /// (the attempt is then not counted).
    pub async fn attempt(&self, account: &str, client: &str) -> Option<u64> {
        let [account_key, ip_key] = self.keys(account, client);
        let mut conn = self.redis.clone();
        let result: redis::RedisResult<i64> = self
            .attempt
            .key(account_key)
            .key(ip_key)
            .arg(self.limits.login_per_account)
            .arg(self.limits.login_per_ip)
            .arg(millis(self.limits.login_window))
            .invoke_async(&mut conn)
            .await;
        wait_from(result, "login")
    }

    /// A successful login: resets the account's count and uncounts the attempt for the address.
    pub async fn succeeded(&self, account: &str, client: &str) {
        let [account_key, ip_key] = self.keys(account, client);
        let mut conn = self.redis.clone();
        let result: redis::RedisResult<i64> = self
            .succeeded
            .key(account_key)
            .key(ip_key)
            .invoke_async(&mut conn)
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %error, "cannot reset the login throttle");
        }
    }
}

/// Seconds to wait from the script's answer; `None` (fail open) when Redis cannot answer.
fn wait_from(result: redis::RedisResult<i64>, what: &str) -> Option<u64> {
    match result {
        Ok(ms) if ms > 0 => Some(u64::try_from(ms).unwrap_or(1).div_ceil(1000)),
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(error = %error, "{what} throttle unavailable; failing open");
            None
        }
    }
}
