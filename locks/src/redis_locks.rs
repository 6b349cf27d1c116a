//! [`RedisSeatLocks`]: the seat locks on one Redis, through redis-rs's
//! reconnecting connection manager. Every call is bounded by the timeout;
//! releases run in the background so that no answer waits for them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use ticketing_commands::{Lease, LockAttempt, SeatLocks};

use crate::health::SeatLockHealth;

/// Sets every key to the token, only if none exists; returns 0, or the
/// 1-based index of the first key that exists.
const ACQUIRE: &str = r#"
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
return 0
"#;

/// Compare-and-delete: each key still holding the token is deleted, or
/// (ARGV[2] > 0) turned into a `taken` mark for ARGV[2] ms.
const RELEASE: &str = r#"
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    if tonumber(ARGV[2]) > 0 then
      redis.call('SET', key, 'taken', 'PX', ARGV[2])
    else
      redis.call('DEL', key)
    end
    n = n + 1
  end
end
return n
"#;

/// Deletes the keys that are `taken` marks (never a live lock).
const FORGET: &str = r#"
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == 'taken' then redis.call('DEL', key) end
end
return 0
"#;

/// How the locks behave.
#[derive(Debug, Clone)]
pub struct SeatLockConfig {
    /// The Redis to use, `redis://host:port/db`.
    pub url: String,
    /// The longest any call may take before the command goes on without
    /// locks.
    pub timeout: Duration,
    /// How long a lock lives if its holder never releases it (it died).
    pub lock_ttl: Duration,
}

impl SeatLockConfig {
    pub fn new(url: impl Into<String>) -> Self {
        SeatLockConfig {
            url: url.into(),
            timeout: Duration::from_millis(20),
            lock_ttl: Duration::from_secs(2),
        }
    }
}

/// The Redis adapter of [`SeatLocks`]; cheap to clone.
#[derive(Clone)]
pub struct RedisSeatLocks {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    config: SeatLockConfig,
    health: SeatLockHealth,
    acquire: Script,
    release: Script,
    forget: Script,
}

impl RedisSeatLocks {
    /// Connects lazily: a Redis that is down at start is only bypassed.
    /// Fails only on a malformed URL.
    pub fn new(config: SeatLockConfig) -> redis::RedisResult<Self> {
        let client = redis::Client::open(config.url.as_str())?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout.max(Duration::from_millis(100))))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, manager)?;
        Ok(RedisSeatLocks {
            inner: Arc::new(Inner {
                conn,
                config,
                health: SeatLockHealth::default(),
                acquire: Script::new(ACQUIRE),
                release: Script::new(RELEASE),
                forget: Script::new(FORGET),
            }),
        })
    }

    /// Whether Redis answers, for `/readyz`.
    pub fn health(&self) -> SeatLockHealth {
        self.inner.health.clone()
    }
}

/// `ticketing:seat:{<show id>}/<label>`: a show's seats in one hash slot.
fn key(seat_id: &str) -> String {
    match seat_id.split_once('/') {
        Some((show, label)) => format!("ticketing:seat:{{{show}}}/{label}"),
        None => format!("ticketing:seat:{{{seat_id}}}"),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Inner {
    /// Runs `call` within the timeout, recording whether Redis answered.
    async fn bounded<T>(&self, call: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(self.config.timeout, call).await {
            Ok(Ok(value)) => {
                self.health.answered();
                Some(value)
            }
            Ok(Err(error)) => {
                self.health.failed(&error.to_string());
                None
            }
            Err(_) => {
                self.health
                    .failed(&format!("no answer within {:?}", self.config.timeout));
                None
            }
        }
    }

    async fn acquire(&self, keys: &[String], token: &str) -> Option<usize> {
        let mut conn = self.conn.clone();
        let ttl = millis(self.config.lock_ttl);
        if let [key] = keys {
            let mut set = redis::cmd("SET");
            set.arg(key).arg(token).arg("NX").arg("PX").arg(ttl);
            let set = set.query_async::<Option<String>>(&mut conn);
            return self
                .bounded(set)
                .await
                .map(|ok| if ok.is_some() { 0 } else { 1 });
        }
        let mut invocation = self.acquire.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        invocation.arg(token).arg(ttl);
        self.bounded(invocation.invoke_async::<usize>(&mut conn))
            .await
    }

    async fn release(&self, keys: &[String], token: &str, mark: Duration) {
        let mut conn = self.conn.clone();
        let mut invocation = self.release.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        let mark = if mark.is_zero() { 0 } else { millis(mark) };
        invocation.arg(token).arg(mark);
        self.bounded(invocation.invoke_async::<i64>(&mut conn))
            .await;
    }
}

impl SeatLocks for RedisSeatLocks {
    fn acquire<'a>(
        &'a self,
        seat_ids: &'a [String],
    ) -> Pin<Box<dyn Future<Output = LockAttempt> + Send + 'a>> {
        Box::pin(async move {
            let keys: Vec<String> = seat_ids.iter().map(|id| key(id)).collect();
            let token = ulid::Ulid::new().to_string();
            let outcome = match self.inner.acquire(&keys, &token).await {
                Some(0) => LockAttempt::Acquired(Box::new(RedisLease {
                    inner: self.inner.clone(),
                    keys,
                    token,
                })),
                Some(first_taken) => LockAttempt::Contended(first_taken.saturating_sub(1)),
                None => LockAttempt::Bypassed,
            };
            let label = match &outcome {
                LockAttempt::Acquired(_) => "acquired",
                LockAttempt::Contended(_) => "contended",
                LockAttempt::Bypassed => "bypassed",
            };
            metrics::counter!("ticketing_seat_locks_total", "outcome" => label).increment(1);
            outcome
        })
    }

    fn forget(&self, seat_ids: &[String]) {
        let inner = self.inner.clone();
        let keys: Vec<String> = seat_ids.iter().map(|id| key(id)).collect();
        tokio::spawn(async move {
            let mut conn = inner.conn.clone();
            let mut invocation = inner.forget.prepare_invoke();
            for key in &keys {
                invocation.key(key);
            }
            inner
                .bounded(invocation.invoke_async::<i64>(&mut conn))
                .await;
        });
    }
}

/// Locks this process holds; freed in the background when dropped.
struct RedisLease {
    inner: Arc<Inner>,
    keys: Vec<String>,
    token: String,
}

impl RedisLease {
    fn finish(&mut self, mark: Duration) {
        let inner = self.inner.clone();
        let keys = std::mem::take(&mut self.keys);
        let token = std::mem::take(&mut self.token);
        if keys.is_empty() {
            return;
        }
        tokio::spawn(async move { inner.release(&keys, &token, mark).await });
    }
}

impl Lease for RedisLease {
    fn taken(mut self: Box<Self>, keep: Duration) {
        self.finish(keep);
    }
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        self.finish(Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shows_seats_share_a_hash_slot() {
        assert_eq!(key("s_01J/A-1"), "ticketing:seat:{s_01J}/A-1");
        assert_eq!(key("odd"), "ticketing:seat:{odd}");
    }
}
