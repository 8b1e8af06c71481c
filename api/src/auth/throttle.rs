//! Login throttling in Redis: fixed windows counting failed logins per account and per client
//! address. Each attempt is counted atomically *before* its password is checked (and uncounted
//! when it succeeds), so parallel guesses cannot slip past the limit while hashes are running.
//! Redis being down does not lock everyone out: the throttle then fails open (logged), because
//! PostgreSQL still checks every password.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};

/// KEYS: account, address. ARGV: max per account, max per address, window in ms.
/// Returns the milliseconds to wait when blocked, otherwise counts the attempt and returns 0.
const ATTEMPT: &str = r"
local wait = 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = tonumber(ARGV[3]) end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[3]) end
end
return 0
";

/// KEYS: account, address. A success resets the account and takes back its address count.
const SUCCEEDED: &str = r"
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0
";

#[derive(Clone)]
pub struct LoginThrottle {
    redis: ConnectionManager,
    prefix: String,
    max_per_account: u32,
    max_per_ip: u32,
    window: Duration,
    attempt: Script,
    succeeded: Script,
}

impl LoginThrottle {
    pub fn new(
        redis: ConnectionManager,
        prefix: &str,
        max_per_account: u32,
        max_per_ip: u32,
        window: Duration,
    ) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            max_per_account,
            max_per_ip,
            window,
            attempt: Script::new(ATTEMPT),
            succeeded: Script::new(SUCCEEDED),
        }
    }

    /// `account` identifies the account tried: its id when it exists (so a username and an
    /// e-mail address share one count), the lower-cased identifier otherwise.
    fn keys(&self, account: &str, client: &str) -> [String; 2] {
        [
            format!("{}login:account:{account}", self.prefix),
            format!("{}login:ip:{client}", self.prefix),
        ]
    }

    /// Counts an attempt, or answers `Some(seconds)` to wait when either window is exhausted
    /// (the attempt is then not counted).
    pub async fn attempt(&self, account: &str, client: &str) -> Option<u64> {
        let [account_key, ip_key] = self.keys(account, client);
        let mut conn = self.redis.clone();
        let window_ms = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        let result: redis::RedisResult<i64> = self
            .attempt
            .key(account_key)
            .key(ip_key)
            .arg(self.max_per_account)
            .arg(self.max_per_ip)
            .arg(window_ms)
            .invoke_async(&mut conn)
            .await;
        match result {
            Ok(ms) if ms > 0 => Some(u64::try_from(ms).unwrap_or(1).div_ceil(1000)),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(error = %error, "login throttle unavailable; failing open");
                None
            }
        }
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
