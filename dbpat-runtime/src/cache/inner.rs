//! [`CacheInner`]: what every handle of one [`Cache`](super::Cache) shares — the Redis
//! connection, the wake-up channel, the circuit breaker and the counters — and the two
//! operations below every read and write: one guarded Redis call, and the end-of-write script.

use super::config::CacheConfig;
use super::health::Health;
use super::key::EntityKeys;
use super::lease::Wake;
use super::metrics::Counters;
use super::scripts::END_WRITE;
use redis::aio::ConnectionManager;
use redis::RedisResult;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::task::JoinHandle;

pub(crate) struct CacheInner {
    pub(super) conn: ConnectionManager,
    pub(super) config: CacheConfig,
    pub(super) counters: Counters,
    pub(super) wake: Arc<Wake>,
    pub(super) channel: String,
    pub(super) health: Health,
    pub(super) tasks: Vec<JoinHandle<()>>,
}

impl Drop for CacheInner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl CacheInner {
    pub(super) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Runs one Redis operation of a read: skipped while the breaker is open. A failure is
    /// logged and counted; only an outage (I/O error, dropped or refused connection, timeout)
    /// trips the breaker — a reply error such as `WRONGTYPE` or a script error is about one key
    /// and says nothing about the server. `None` means "no answer from Redis".
    pub(super) async fn redis<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = RedisResult<T>>,
    ) -> Option<T> {
        if self.health.is_open() {
            Counters::inc(&self.counters.redis_skipped);
            return None;
        }
        self.attempt(what, op).await
    }

    /// Runs one Redis operation of a write (registration, end of write): always tried, whatever
    /// the breaker says about reads, so a write is never silently left unregistered. A failure
    /// is handled as in [`CacheInner::redis`].
    pub(super) async fn redis_write<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = RedisResult<T>>,
    ) -> Option<T> {
        self.attempt(what, op).await
    }

    async fn attempt<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = RedisResult<T>>,
    ) -> Option<T> {
        let (err, outage) = match tokio::time::timeout(self.config.op_timeout, op).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => {
                let outage = e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout();
                (e.to_string(), outage)
            }
            Err(_) => (
                format!("timed out after {:?}", self.config.op_timeout),
                true,
            ),
        };
        Counters::inc(&self.counters.redis_errors);
        if outage {
            self.health.trip();
        }
        tracing::warn!(
            op = what,
            error = %err,
            outage,
            "dbpat cache: Redis failed; serving from the database"
        );
        None
    }

    pub(super) fn jittered_ms(&self, secs: u64) -> u64 {
        let base = secs.saturating_mul(1000).max(1);
        let spread = (base as f64 * self.config.ttl_jitter.max(0.0)) as u64;
        base + rand::random_range(0..=spread)
    }
}

/// Retries the invalidations owed to Redis, every 100 ms, until they succeed.
pub(super) async fn flush_deferred(cache: Weak<CacheInner>) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        for d in cache.health.due() {
            if cache.health.is_open() {
                break;
            }
            if cache
                .end_write(&d.keys, &d.token, &EndWrite::Invalidate)
                .await
                .is_some()
            {
                cache.health.settle(&d.keys.value, &d.token);
            }
        }
    }
}

pub(super) enum EndWrite {
    Invalidate,
    Store {
        bytes: Vec<u8>,
        ttl_ms: u64,
        negative: bool,
        solo: bool,
    },
}

impl CacheInner {
    /// Runs the end-of-write script; `None` if Redis did not answer.
    pub(super) async fn end_write(
        &self,
        keys: &EntityKeys,
        token: &str,
        end: &EndWrite,
    ) -> Option<bool> {
        let (mode, value, ttl_ms, solo): (&str, &[u8], u64, bool) = match end {
            EndWrite::Invalidate => ("inv", b"", 1, false),
            EndWrite::Store {
                bytes,
                ttl_ms,
                negative,
                solo,
            } => (if *negative { "neg" } else { "set" }, bytes, *ttl_ms, *solo),
        };
        let mut conn = self.conn();
        let stored: i64 = self
            .redis_write("end_write", async {
                END_WRITE
                    .key(&keys.value)
                    .key(&keys.lease)
                    .key(&keys.writers)
                    .arg(token)
                    .arg(mode)
                    .arg(value)
                    .arg(ttl_ms)
                    .arg(if solo { "1" } else { "0" })
                    .arg(&self.channel)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if stored == 1 {
            Counters::inc(&self.counters.write_throughs);
        } else {
            Counters::inc(&self.counters.invalidations);
        }
        Some(stored == 1)
    }
}
