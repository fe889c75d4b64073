//! The Redis backend: the same GCRA and quota arithmetic as `gcra.rs`, run by one Lua
//! script per decision so several gateway instances share each key atomically. Scripts go
//! by `EVALSHA` and are loaded again on `NOSCRIPT` (after a Redis restart or `SCRIPT
//! FLUSH`). The script reads Redis's own clock (`TIME`), so instances with skewed clocks
//! still agree. Keys are `prefix:route:key` (quotas add `:quota:<window>`), each with an
//! expiry, so idle keys leave Redis on their own.
//!
//! The client is redis-rs's `ConnectionManager`: one multiplexed connection, reconnected
//! in the background after a failure. Every call is bounded by a deadline, so an
//! unreachable Redis costs a request at most that long.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use super::gcra::{Decision, Gcra, Quota};

/// GCRA in Lua, a line-for-line transcription of [`Gcra::decide`] (microseconds).
/// Returns `{1, ahead}` when admitted, `{0, ahead, retry}` when refused.
const GCRA_LUA: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, tat - now, allow_at - now}
end
local ahead = new_tat - now
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.max(1, math.ceil(ahead / 1000)))
return {1, ahead}
";

/// Quota counting in Lua: refuses without counting once `limit` is reached; the counter
/// expires at the end of its window (plus a margin for clock skew between instances).
/// Returns `{allowed, used}`.
const QUOTA_LUA: &str = r"
local limit = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= limit then return {0, used} end
used = redis.call('INCR', KEYS[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return {1, used}
";

/// Kept past a quota window's end so an instance whose clock lags a little still finds it.
const QUOTA_EXPIRY_MARGIN_MS: i64 = 60_000;

/// Why Redis gave no decision.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    #[error("invalid Redis URL: {0}")]
    Url(#[source] redis::RedisError),
    #[error("Redis command failed: {0}")]
    Command(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected Redis script reply")]
    Reply,
}

/// Connection settings, compiled from `[redis]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    pub url: String,
    pub prefix: String,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

/// Shared rate and quota state in Redis. Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    deadline: Duration,
    gcra: Script,
    quota: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    /// Connects lazily: the first decision opens the connection, so a gateway starts (and
    /// fails open or closed as configured) while Redis is still down. Must be called
    /// inside a Tokio runtime.
    pub fn new(settings: &RedisSettings) -> Result<Self, RedisStoreError> {
        let client = Client::open(settings.url.as_str()).map_err(RedisStoreError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(settings.connect_timeout);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisStore {
            conn,
            prefix: settings.prefix.clone(),
            deadline: settings.connect_timeout + settings.response_timeout,
            gcra: Script::new(GCRA_LUA),
            quota: Script::new(QUOTA_LUA),
        })
    }

    /// The Redis key for `scoped` (`route:key`).
    pub fn key(&self, scoped: &str) -> String {
        format!("{}:{scoped}", self.prefix)
    }

    async fn run(
        &self,
        script: &Script,
        key: String,
        args: &[i64],
    ) -> Result<Vec<i64>, RedisStoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = script.key(key);
        for a in args {
            invocation.arg(*a);
        }
        match tokio::time::timeout(
            self.deadline,
            invocation.invoke_async::<Vec<i64>>(&mut conn),
        )
        .await
        {
            Ok(reply) => Ok(reply?),
            Err(_) => Err(RedisStoreError::Timeout(self.deadline)),
        }
    }

    pub async fn check_rate(&self, scoped: &str, rule: &Gcra) -> Result<Decision, RedisStoreError> {
        let args = [to_i64(rule.interval_us), to_i64(rule.tolerance_us), 1];
        let reply = self.run(&self.gcra, self.key(scoped), &args).await?;
        let num = |i: usize| {
            reply
                .get(i)
                .and_then(|v| u64::try_from(*v).ok())
                .ok_or(RedisStoreError::Reply)
        };
        match num(0)? {
            1 => Ok(rule.admitted(num(1)?)),
            _ => Ok(rule.denied(num(1)?, num(2)?)),
        }
    }

    pub async fn check_quota(
        &self,
        scoped: &str,
        quota: &Quota,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Decision, RedisStoreError> {
        let window = quota.period.window(now);
        let until_end = (window.ends_at - now).to_std().unwrap_or_default();
        let key = format!("{}:quota:{}", self.key(scoped), window.label);
        let expire_at = window.ends_at.timestamp_millis() + QUOTA_EXPIRY_MARGIN_MS;
        let reply = self
            .run(&self.quota, key, &[to_i64(quota.limit), expire_at])
            .await?;
        let (Some(&allowed), Some(&used)) = (reply.first(), reply.get(1)) else {
            return Err(RedisStoreError::Reply);
        };
        Ok(quota.decision(allowed == 1, u64::try_from(used).unwrap_or(0), until_end))
    }
}

/// Lua numbers are doubles: arguments beyond 2^53 lose precision, so they are capped
/// there (a rate interval of 285 years is as good as infinite).
fn to_i64(v: u64) -> i64 {
    const MAX_EXACT: u64 = 1 << 53;
    i64::try_from(v.min(MAX_EXACT)).unwrap_or(i64::MAX)
}
