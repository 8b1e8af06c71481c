//! Redis Streams plumbing shared by the event consumer and the job runner: consumer groups,
//! blocking reads on their own connection, acknowledgements, reclaiming entries of dead
//! consumers, and the acknowledged-only trim point.

use std::time::Duration;

use crate::Stop;
use redis::{
    AsyncConnectionConfig, Client,
    aio::{ConnectionManager, MultiplexedConnection},
    streams::{
        StreamAutoClaimReply, StreamId, StreamInfoConsumersReply, StreamPendingCountReply,
        StreamPendingReply, StreamReadReply,
    },
};

/// One consumer group on one stream, as seen by one consumer.
#[derive(Clone)]
pub struct Group {
    pub stream: String,
    pub group: &'static str,
    pub consumer: String,
}

impl Group {
    /// Creates the group (reading from the stream's beginning) if it does not exist yet.
    pub async fn ensure(&self, conn: &mut ConnectionManager) -> redis::RedisResult<()> {
        let created: redis::RedisResult<String> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(conn)
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads new entries, waiting up to `block` for some. Uses `conn`, a connection of its own
    /// whose response timeout is longer than `block`.
    pub async fn read(
        &self,
        conn: &mut MultiplexedConnection,
        count: usize,
        block: Duration,
    ) -> redis::RedisResult<Vec<StreamId>> {
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">")
            .query_async(conn)
            .await?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }

    pub async fn ack(
        &self,
        conn: &mut ConnectionManager,
        ids: &[String],
    ) -> redis::RedisResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        redis::cmd("XACK")
            .arg(&self.stream)
            .arg(self.group)
            .arg(ids)
            .query_async::<i64>(conn)
            .await?;
        Ok(())
    }

    /// Resets the idle time of entries this consumer is still working on (a database outage
    /// being waited out), so no other worker reclaims them. JUSTID: not a new delivery.
    pub async fn keep_alive(
        &self,
        conn: &mut ConnectionManager,
        ids: &[String],
    ) -> redis::RedisResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        redis::cmd("XCLAIM")
            .arg(&self.stream)
            .arg(self.group)
            .arg(&self.consumer)
            .arg(0)
            .arg(ids)
            .arg("JUSTID")
            .query_async::<redis::Value>(conn)
            .await?;
        Ok(())
    }

    /// Takes over up to `count` entries idle for at least `min_idle` (their consumer died or
    /// gave up on them), with how often each has now been delivered.
    pub async fn reclaim(
        &self,
        conn: &mut ConnectionManager,
        min_idle: Duration,
        count: usize,
    ) -> redis::RedisResult<Vec<(StreamId, usize)>> {
        // One XAUTOCLAIM call looks at no more than 10 × COUNT pending entries: follow its
        // cursor so stale entries behind many live ones are still found (bounded scan).
        let mut claimed: Vec<StreamId> = Vec::new();
        let mut start = "0-0".to_owned();
        for _ in 0..MAX_CLAIM_CALLS {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(&self.stream)
                .arg(self.group)
                .arg(&self.consumer)
                .arg(min_idle.as_millis() as u64)
                .arg(&start)
                .arg("COUNT")
                .arg(count - claimed.len())
                .query_async(conn)
                .await?;
            claimed.extend(reply.claimed);
            if reply.next_stream_id == "0-0" || claimed.len() >= count {
                break;
            }
            start = reply.next_stream_id;
        }
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        // XAUTOCLAIM returns entries in id order; one XPENDING over that range gives counts
        // (the range may also hold this consumer's own younger pending entries).
        let first = claimed.first().map(|e| e.id.clone()).unwrap_or_default();
        let last = claimed.last().map(|e| e.id.clone()).unwrap_or_default();
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(self.group)
            .arg(&first)
            .arg(&last)
            .arg(claimed.len() * 10 + 100)
            .arg(&self.consumer)
            .query_async(conn)
            .await?;
        Ok(claimed
            .into_iter()
            .map(|entry| {
                let delivered = pending
                    .ids
                    .iter()
                    .find(|p| p.id == entry.id)
                    .map_or(1, |p| p.times_delivered);
                (entry, delivered)
            })
            .collect())
    }
}

/// Deletes one consumer of a group if it still has nothing pending and has been idle for more
/// than ARGV[3] ms, checked and done in one step: no entry can be delivered to it in between.
/// KEYS: stream. ARGV: group, consumer, idle ms. Returns 1 when deleted, 0 otherwise.
const FORGET_CONSUMER: &str = r"
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['name'] == ARGV[2] then
    if info['pending'] == 0 and info['idle'] > tonumber(ARGV[3]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 0
";

/// Forgets the consumers of `group` that have had nothing pending and been idle for longer
/// than `gone` (workers that are gone), so XINFO and the departed-consumer list stay short.
/// Returns how many were deleted; a stream or group that does not exist yet has none.
pub async fn forget_departed_consumers(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    gone: Duration,
) -> redis::RedisResult<usize> {
    let reply: redis::RedisResult<StreamInfoConsumersReply> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await;
    let Ok(reply) = reply else {
        return Ok(0);
    };
    let script = redis::Script::new(FORGET_CONSUMER);
    let mut forgotten = 0;
    for consumer in reply.consumers {
        if consumer.pending == 0 && consumer.idle as u128 > gone.as_millis() {
            let deleted: i64 = script
                .key(stream)
                .arg(group)
                .arg(&consumer.name)
                .arg(gone.as_millis() as u64)
                .invoke_async(conn)
                .await?;
            forgotten += deleted as usize;
        }
    }
    Ok(forgotten)
}

/// Most XAUTOCLAIM calls of one reclaim pass (each scans up to 10 × COUNT pending entries).
const MAX_CLAIM_CALLS: usize = 50;

/// Blocking reads of one consumer group on a connection of their own, recovering by itself
/// from a Redis restart (reconnect) and a deleted group (re-create).
pub struct Reader {
    pub group: Group,
    client: Client,
    block: Duration,
    conn: Option<MultiplexedConnection>,
    group_ready: bool,
}

impl Reader {
    pub fn new(group: Group, client: Client, block: Duration) -> Self {
        Self {
            group,
            client,
            block,
            conn: None,
            group_ready: false,
        }
    }

    /// New entries, at most `count`; empty when none came within the block time, or after a
    /// short pause when Redis is away.
    pub async fn next(
        &mut self,
        commands: &mut ConnectionManager,
        count: usize,
        stop: &Stop,
    ) -> Vec<StreamId> {
        if !self.group_ready {
            if let Err(error) = self.group.ensure(commands).await {
                tracing::warn!(stream = %self.group.stream, %error, "cannot reach the stream; retrying");
                stop.sleep(Duration::from_secs(1)).await;
                return Vec::new();
            }
            self.group_ready = true;
        }
        let conn = match self.conn.as_mut() {
            Some(conn) => conn,
            None => match blocking_connection(&self.client, self.block).await {
                Ok(conn) => self.conn.insert(conn),
                Err(error) => {
                    tracing::warn!(%error, "cannot connect to Redis; retrying");
                    stop.sleep(Duration::from_secs(1)).await;
                    return Vec::new();
                }
            },
        };
        match self.group.read(conn, count, self.block).await {
            Ok(entries) => entries,
            Err(error) if error.code() == Some("NOGROUP") => {
                self.group_ready = false;
                Vec::new()
            }
            Err(error) => {
                tracing::warn!(stream = %self.group.stream, %error, "reading the stream failed; reconnecting");
                self.conn = None;
                stop.sleep(Duration::from_secs(1)).await;
                Vec::new()
            }
        }
    }
}

/// A connection for blocking reads: its response timeout outlasts the BLOCK time, so a quiet
/// stream is not mistaken for a dead Redis.
pub async fn blocking_connection(
    client: &Client,
    block: Duration,
) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(block + Duration::from_secs(5)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Length, pending entries and lag of a stream, plus the id below which every group has
/// acknowledged everything (the safe `XTRIM MINID`), when the stream has groups.
pub struct StreamState {
    pub length: u64,
    pub pending: u64,
    pub lag: u64,
    pub trim_below: Option<String>,
}

/// Reads a stream's state. Redis 7.0 has no acknowledged-only trim, so the trim point is
/// computed here: for each group, its oldest pending entry, or (nothing pending) the entry
/// after the last one it was delivered; the minimum over groups.
pub async fn state(conn: &mut ConnectionManager, stream: &str) -> redis::RedisResult<StreamState> {
    let (length, groups) = roost_common::redis_client::length_and_groups(conn, stream).await?;
    if length == 0 {
        return Ok(StreamState {
            length,
            pending: 0,
            lag: 0,
            trim_below: None,
        });
    }
    let mut pending = 0;
    let mut lag = 0;
    let mut trim_below: Option<(u64, u64)> = None;
    for group in &groups {
        pending += group.pending as u64;
        lag += group.lag.unwrap_or_default() as u64;
        let keep_from = if group.pending > 0 {
            let summary: StreamPendingReply = redis::cmd("XPENDING")
                .arg(stream)
                .arg(&group.name)
                .query_async(conn)
                .await?;
            match summary {
                StreamPendingReply::Data(d) => parse_id(&d.start_id),
                _ => parse_id(&group.last_delivered_id).map(next_id),
            }
        } else {
            parse_id(&group.last_delivered_id).map(next_id)
        };
        let Some(keep_from) = keep_from else {
            // An id we cannot read: do not trim at all rather than guess.
            return Ok(StreamState {
                length,
                pending,
                lag,
                trim_below: None,
            });
        };
        trim_below = Some(trim_below.map_or(keep_from, |t| t.min(keep_from)));
    }
    Ok(StreamState {
        length,
        pending,
        lag,
        trim_below: trim_below.map(|(ms, seq)| format!("{ms}-{seq}")),
    })
}

/// Removes entries below `min_id` (all acknowledged by every group), never one at or above.
pub async fn trim(
    conn: &mut ConnectionManager,
    stream: &str,
    min_id: &str,
) -> redis::RedisResult<u64> {
    redis::cmd("XTRIM")
        .arg(stream)
        .arg("MINID")
        .arg(min_id)
        .query_async(conn)
        .await
}

fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn next_id((ms, seq): (u64, u64)) -> (u64, u64) {
    match seq.checked_add(1) {
        Some(seq) => (ms, seq),
        None => (ms + 1, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_parse_and_advance() {
        assert_eq!(parse_id("1700000000000-5"), Some((1_700_000_000_000, 5)));
        assert_eq!(parse_id("0-0"), Some((0, 0)));
        assert_eq!(parse_id("nope"), None);
        assert_eq!(next_id((5, 1)), (5, 2));
        assert_eq!(next_id((5, u64::MAX)), (6, 0));
    }
}
