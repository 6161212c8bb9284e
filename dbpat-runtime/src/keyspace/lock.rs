//! Distributed locks: `SET key token NX PX ttl`, released and extended only by their owner.
//!
//! **Efficiency only.** A Redis lock keeps two workers from usually doing the same job at the
//! same time (one cache rebuild instead of fifty). It does not make a critical section safe:
//! a holder paused longer than the TTL (GC, swap, network) keeps running after its lock has
//! expired and another worker took it, and there is no fencing token here to reject its late
//! writes. When overlap would corrupt data, use [`FencedLockManager`](super::FencedLockManager),
//! whose tokens PostgreSQL checks at write time.
//!
//! Keys are `<prefix>lock:<entity>:<id>` (`lock:user:123`, as in the patterns document); the
//! value is a random
//! 128-bit token known only to the holder, and release/extend are Lua compare-and-act scripts,
//! so a holder whose lock expired cannot delete or prolong its successor's lock. The default
//! TTL is the patterns document's [`ttl::LOCK`] (30 s).
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{KeyBuilder, LockManager};
//! use std::time::Duration;
//! let locks = LockManager::new(conn, KeyBuilder::new());
//! let guard = locks.acquire("user", "123", Duration::from_secs(2)).await?;
//! // ... rebuild the cache entry once ...
//! guard.release().await?;
//! # Ok(()) }
//! ```

use super::error::{KeyspaceError, Result};
use super::key::KeyBuilder;
use super::ttl::{self, deadline, millis};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::Script;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0",
    )
});

/// Retry pacing of [`LockManager::acquire`]: random delays between `min` and `max`.
#[derive(Debug, Clone, Copy)]
pub struct RetryDelay {
    /// Shortest pause between attempts.
    pub min: Duration,
    /// Longest pause between attempts.
    pub max: Duration,
}

impl RetryDelay {
    /// `min + (max - min) * r` for `r` in `[0, 1)`, never outside `[min, max]` and never
    /// panicking: for huge spans the product can round past `Duration::MAX`, where
    /// `Duration::mul_f64` would panic, so the checked form falls back to the whole span.
    fn pause(&self, r: f64) -> Duration {
        let span = self.max.saturating_sub(self.min);
        let jitter =
            Duration::try_from_secs_f64(span.as_secs_f64() * r).map_or(span, |j| j.min(span));
        self.min.saturating_add(jitter)
    }
}

impl Default for RetryDelay {
    fn default() -> Self {
        RetryDelay {
            min: Duration::from_millis(5),
            max: Duration::from_millis(50),
        }
    }
}

/// Creates locks under one key prefix with one TTL.
#[derive(Clone)]
pub struct LockManager<C = ConnectionManager> {
    conn: C,
    keys: KeyBuilder,
    ttl: Duration,
    retry: RetryDelay,
}

impl<C: ConnectionLike + Clone + Send + Sync> LockManager<C> {
    /// Locks with the patterns document's 30-second TTL.
    pub fn new(conn: C, keys: KeyBuilder) -> Self {
        LockManager {
            conn,
            keys,
            ttl: ttl::LOCK,
            retry: RetryDelay::default(),
        }
    }

    /// Overrides the TTL (the longest a crashed holder can block others); at most
    /// [`ttl::MAX`], longer ones are clamped.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Overrides the pause between attempts of [`LockManager::acquire`].
    pub fn with_retry(mut self, retry: RetryDelay) -> Result<Self> {
        if retry.min > retry.max {
            return Err(KeyspaceError::InvalidArgument(
                "retry.min must not exceed retry.max",
            ));
        }
        self.retry = retry;
        Ok(self)
    }

    /// The configured TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The lock key of a resource: `<prefix>lock:<entity>:<id>`.
    pub fn key(&self, entity: &str, id: &str) -> Result<String> {
        self.keys.key("lock", entity, id)
    }

    /// A random pause between two attempts, within the configured [`RetryDelay`].
    pub(crate) fn retry_pause(&self) -> Duration {
        self.retry.pause(rand::random::<f64>())
    }

    /// One attempt: the guard if the lock was free, `None` if someone holds it.
    pub async fn try_acquire(&self, entity: &str, id: &str) -> Result<Option<LockGuard<C>>> {
        let key = self.key(entity, id)?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut conn = self.conn.clone();
        let started = Instant::now();
        let ok: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(millis(self.ttl))
            .query_async(&mut conn)
            .await?;
        Ok(ok.map(|_| LockGuard {
            conn,
            key,
            token,
            valid_until: deadline(started, self.ttl),
        }))
    }

    /// Tries until the lock is acquired or `wait` has passed ([`KeyspaceError::LockTimeout`]).
    pub async fn acquire(&self, entity: &str, id: &str, wait: Duration) -> Result<LockGuard<C>> {
        self.retry_until(entity, id, wait, || self.try_acquire(entity, id))
            .await
    }

    /// Calls `attempt` until it yields a guard, pausing [`RetryDelay`] between tries, or fails
    /// with [`KeyspaceError::LockTimeout`] naming the lock's key once `wait` has passed.
    pub(crate) async fn retry_until<G, F, Fut>(
        &self,
        entity: &str,
        id: &str,
        wait: Duration,
        mut attempt: F,
    ) -> Result<G>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<G>>>,
    {
        let started = Instant::now();
        loop {
            if let Some(g) = attempt().await? {
                return Ok(g);
            }
            let waited = started.elapsed();
            if waited >= wait {
                return Err(KeyspaceError::LockTimeout {
                    key: self.key(entity, id)?,
                    waited,
                });
            }
            tokio::time::sleep(self.retry_pause().min(wait - waited)).await;
        }
    }
}

/// A held lock. Release it explicitly; dropping it leaves the key to expire with its TTL.
pub struct LockGuard<C = ConnectionManager> {
    conn: C,
    key: String,
    token: String,
    valid_until: Instant,
}

impl<C: ConnectionLike + Clone + Send + Sync> LockGuard<C> {
    /// The lock key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// This holder's random token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Time left before the lock expires, as seen from this process (measured from before the
    /// acquiring command was sent, so it never overestimates).
    pub fn remaining(&self) -> Duration {
        self.valid_until.saturating_duration_since(Instant::now())
    }

    /// Resets the TTL to `ttl` if this holder still owns the lock; `false` if it was lost.
    pub async fn extend(&mut self, ttl: Duration) -> Result<bool> {
        let started = Instant::now();
        let mut conn = self.conn.clone();
        let n: i64 = EXTEND
            .key(&self.key)
            .arg(&self.token)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await?;
        if n == 1 {
            self.valid_until = deadline(started, ttl);
        }
        Ok(n == 1)
    }

    /// Whether the key still holds this holder's token.
    pub async fn is_held(&self) -> Result<bool> {
        let mut conn = self.conn.clone();
        let v: Option<String> = redis::cmd("GET")
            .arg(&self.key)
            .query_async(&mut conn)
            .await?;
        Ok(v.as_deref() == Some(self.token.as_str()))
    }

    /// Releases the lock if this holder still owns it; `false` if it had expired (and maybe
    /// been taken by someone else, whose lock is left untouched).
    pub async fn release(self) -> Result<bool> {
        let mut conn = self.conn.clone();
        let n: i64 = RELEASE
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(&mut conn)
            .await?;
        if n == 0 {
            tracing::warn!(key = %self.key, "lock was lost before release");
        }
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_pauses_stay_within_bounds_even_for_extreme_delays() {
        let d = RetryDelay::default();
        assert_eq!(d.pause(0.0), d.min);
        assert!(d.pause(0.999_999) <= d.max);
        let huge = RetryDelay {
            min: Duration::ZERO,
            max: Duration::MAX,
        };
        assert_eq!(huge.pause(0.0), Duration::ZERO);
        let almost_one = 1.0 - f64::EPSILON / 2.0;
        assert!(huge.pause(almost_one) <= Duration::MAX);
        // `max - min` rounds up to 2^64 s as an f64, so `min + (max - min) * r` computed with
        // `mul_f64` and `+` overflowed (a panic) for r close to 1.
        let offset = RetryDelay {
            min: Duration::from_secs(5000),
            max: Duration::MAX,
        };
        let p = offset.pause(almost_one);
        assert!(p >= offset.min && p <= offset.max);
        let top = RetryDelay {
            min: Duration::MAX,
            max: Duration::MAX,
        };
        assert_eq!(top.pause(0.5), Duration::MAX);
    }
}
