//! Every Redis name Roost uses, under the configured prefix (`ROOST_REDIS_KEY_PREFIX`): the
//! two streams, their consumer groups, the pub/sub channels and the throttle counters. Nothing
//! else in the code base spells a Redis key.

/// Consumer group of the ingest workers on the events stream.
pub const EVENTS_GROUP: &str = "ingest";
/// Consumer group of the job runners on the jobs stream.
pub const JOBS_GROUP: &str = "jobs";

/// Every Redis key and channel name, prefixed.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
    /// Stream of accepted event batches ([`crate::pipeline::EventBatch`] entries).
    pub events: String,
    /// Stream of job wake-ups ([`crate::pipeline::JobWakeUp`] entries).
    pub jobs: String,
    /// Pub/sub channel fanning notifications out to every API replica
    /// ([`crate::pipeline::message::NotificationMessage`]).
    pub notifications: String,
    /// Pub/sub channel telling every API replica of a revoked token or API key
    /// ([`crate::pipeline::message::Revocation`]).
    pub revocations: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            events: format!("{prefix}events"),
            jobs: format!("{prefix}jobs"),
            notifications: format!("{prefix}notifications"),
            revocations: format!("{prefix}revocations"),
        }
    }

    /// Counter of registrations from one client address (a string key with a TTL).
    pub fn register_throttle(&self, client: &str) -> String {
        format!("{}register:ip:{client}", self.prefix)
    }

    /// Counter of failed logins for one account (lower-cased username or e-mail address).
    pub fn login_throttle_account(&self, account: &str) -> String {
        format!("{}login:account:{account}", self.prefix)
    }

    /// Counter of failed logins from one client address.
    pub fn login_throttle_client(&self, client: &str) -> String {
        format!("{}login:ip:{client}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_carries_the_prefix() {
        let keys = Keys::new("roost:");
        assert_eq!(keys.events, "roost:events");
        assert_eq!(keys.jobs, "roost:jobs");
        assert_eq!(keys.notifications, "roost:notifications");
        assert_eq!(keys.revocations, "roost:revocations");
        assert_eq!(
            keys.register_throttle("10.0.0.1"),
            "roost:register:ip:10.0.0.1"
        );
        assert_eq!(
            keys.login_throttle_account("ann"),
            "roost:login:account:ann"
        );
        assert_eq!(keys.login_throttle_client("::1"), "roost:login:ip:::1");
    }
}
