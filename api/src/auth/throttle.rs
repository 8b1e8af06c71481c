//! Login throttling in Redis: fixed windows counting failed logins per username and per
//! client address. Redis being down does not lock everyone out: the throttle then fails open
//! (logged and counted), because PostgreSQL still checks every password.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};

const CHECK: &str = r"
local wait = 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', key)
    if ttl > wait then wait = ttl end
  end
end
return wait
";

const RECORD: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
";

#[derive(Clone)]
pub struct LoginThrottle {
    redis: ConnectionManager,
    prefix: String,
    max_per_user: u32,
    max_per_ip: u32,
    window: Duration,
    check: Script,
    record: Script,
}

impl LoginThrottle {
    pub fn new(
        redis: ConnectionManager,
        prefix: &str,
        max_per_user: u32,
        max_per_ip: u32,
        window: Duration,
    ) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            max_per_user,
            max_per_ip,
            window,
            check: Script::new(CHECK),
            record: Script::new(RECORD),
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

    /// `Some(seconds)` to wait when either window is exhausted.
    pub async fn blocked_for(&self, account: &str, client: &str) -> Option<u64> {
        let keys = self.keys(account, client);
        let mut conn = self.redis.clone();
        let result: redis::RedisResult<i64> = self
            .check
            .key(&keys[0])
            .key(&keys[1])
            .arg(self.max_per_user)
            .arg(self.max_per_ip)
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

    pub async fn record_failure(&self, account: &str, client: &str) {
        let keys = self.keys(account, client);
        let mut conn = self.redis.clone();
        let window_ms = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        let result: redis::RedisResult<i64> = self
            .record
            .key(&keys[0])
            .key(&keys[1])
            .arg(window_ms)
            .invoke_async(&mut conn)
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %error, "cannot record a failed login");
        }
    }

    /// A successful login resets the account's count (not the address's).
    pub async fn reset_account(&self, account: &str) {
        let [key, _] = self.keys(account, "");
        let mut conn = self.redis.clone();
        let result: redis::RedisResult<i64> =
            redis::cmd("DEL").arg(key).query_async(&mut conn).await;
        if let Err(error) = result {
            tracing::warn!(error = %error, "cannot reset the login throttle");
        }
    }
}
