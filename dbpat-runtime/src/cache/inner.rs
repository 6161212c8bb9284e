//! [`CacheInner`]: what every handle of one [`Cache`](super::Cache) shares — the verified
//! Redis link, the wake-up channel, the circuit breaker and the counters — and the operations
//! below every read and write: one guarded Redis call, and the end-of-write script.

use super::cluster::is_topology_error;
use super::codec::Codec;
use super::config::CacheConfig;
use super::health::Health;
use super::key::EntityKeys;
use super::lease::Wake;
use super::link::{is_outage, Link, Links};
use super::metrics::Counters;
use super::scripts::END_WRITE;
use super::spans;
use redis::RedisResult;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::Instrument;

pub(crate) struct CacheInner {
    pub(super) links: Arc<Links>,
    pub(super) config: CacheConfig,
    pub(super) counters: Arc<Counters>,
    pub(super) wake: Arc<Wake>,
    pub(super) channel: String,
    pub(super) health: Health,
    pub(super) tasks: Vec<JoinHandle<()>>,
    /// The database watches ([`Cache::watch_database`](super::Cache::watch_database)).
    pub(super) watchers: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for CacheInner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self
            .watchers
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            t.abort();
        }
    }
}

/// A Redis command that got no answer: why, and whether it may still run on the server (it
/// timed out after it was sent).
#[derive(Debug, Clone)]
pub(super) struct Unanswered {
    pub(super) reason: String,
    pub(super) may_run_later: bool,
}

impl Unanswered {
    fn no_link() -> Self {
        Unanswered {
            reason: "no verified connection to Redis".into(),
            may_run_later: false,
        }
    }
}

impl CacheInner {
    /// The link a read uses: `None` while the breaker is open (after an outage) or no link is
    /// up — the read then uses the database only.
    pub(super) fn read_link(&self) -> Option<Link> {
        let link = if self.health.is_open() {
            None
        } else {
            self.links.current()
        };
        if link.is_none() {
            Counters::inc(&self.counters.redis_skipped);
        }
        link
    }

    /// The link a write's registration uses: whatever the breaker says about reads, a write
    /// always tries Redis, so it is never silently left unregistered.
    pub(super) fn write_link(&self) -> Result<Link, Unanswered> {
        self.links.current().ok_or_else(Unanswered::no_link)
    }

    /// Runs one Redis operation of a read on `link`. `None` means "no answer from Redis".
    pub(super) async fn redis<T>(
        &self,
        link: &Link,
        what: &'static str,
        op: impl Future<Output = RedisResult<T>>,
    ) -> Option<T> {
        self.attempt(link, what, op).await.ok()
    }

    /// Runs one Redis operation on `link`. A failure is logged and counted; only an outage (I/O
    /// error, dropped or refused connection, timeout) trips the breaker, and an I/O-level one
    /// also retires the link — a reply error such as `WRONGTYPE` or a script error is about
    /// one key and says nothing about the server.
    pub(super) async fn attempt<T>(
        &self,
        link: &Link,
        what: &'static str,
        op: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, Unanswered> {
        if !link.trusted() {
            // A cluster link whose topology was not verified recently, or one of whose nodes
            // disconnected: it may reach a node this process has not verified.
            Counters::inc(&self.counters.redis_skipped);
            return Err(Unanswered {
                reason: "the Redis Cluster topology is not verified".into(),
                may_run_later: false,
            });
        }
        let span = spans::redis(what);
        let answer = tokio::time::timeout(self.config.op_timeout, op)
            .instrument(span.clone())
            .await;
        let (reason, outage, may_run_later) = match answer {
            Ok(Ok(v)) if link.cluster.is_none() || self.links.is_current(link) => return Ok(v),
            Ok(Ok(_)) => {
                // The link was retired while the command ran (a node disconnected, a
                // topology error): the answer may come from a node nobody verified.
                Counters::inc(&self.counters.redis_skipped);
                return Err(Unanswered {
                    reason: "the Redis Cluster link was retired while the command ran".into(),
                    may_run_later: true,
                });
            }
            Ok(Err(e)) => {
                let topology = link.cluster.is_some() && is_topology_error(&e);
                let outage = is_outage(&e) || topology;
                if (outage && !e.is_timeout()) || topology {
                    self.links.broken(link);
                }
                (e.to_string(), outage, e.is_timeout())
            }
            Err(_) => (
                format!("timed out after {:?}", self.config.op_timeout),
                true,
                true,
            ),
        };
        span.record("error.type", if outage { "outage" } else { "reply" });
        Counters::inc(&self.counters.redis_errors);
        if outage {
            self.health.trip();
        }
        tracing::warn!(
            op = what,
            error = %reason,
            outage,
            "dbpat cache: Redis failed; serving from the database"
        );
        Err(Unanswered {
            reason,
            may_run_later,
        })
    }

    pub(super) fn jittered_ms(&self, secs: u64) -> u64 {
        let base = secs.saturating_mul(1000).max(1);
        let spread = (base as f64 * self.config.ttl_jitter.max(0.0)) as u64;
        base + rand::random_range(0..=spread)
    }
}

/// How many owed invalidations are retried at once (they are pipelined on one connection).
const RETRY_CONCURRENCY: usize = 256;

/// Retries the invalidations owed to Redis, every 100 ms, until they succeed — all that are
/// due at once (pipelined), so a backlog left by an outage clears in about one round trip
/// once Redis answers again, not one round trip per write.
pub(super) async fn flush_deferred(cache: Weak<CacheInner>) {
    use futures_util::StreamExt;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        let due = cache.health.due();
        if due.is_empty() {
            continue;
        }
        let cache = &cache;
        let settled: Vec<_> = futures_util::stream::iter(due)
            .map(|d| async move {
                let ok = cache
                    .end_write(&d.keys, &d.token, &EndWrite::Invalidate)
                    .await
                    .is_ok();
                (d, ok)
            })
            .buffer_unordered(RETRY_CONCURRENCY)
            .collect()
            .await;
        for (d, ok) in settled {
            if ok {
                cache.health.settle(&d.keys.value, &d.token);
            }
        }
    }
}

/// How a write ends in Redis.
pub(super) enum EndWrite {
    /// Delete the cached entry.
    Invalidate,
    /// Store `body` (a row's, or a negative entry's, [`Codec`] body) when no other writer
    /// overlapped this one, else delete.
    Store {
        body: Vec<u8>,
        ttl_ms: u64,
        negative: bool,
        solo: bool,
    },
}

impl CacheInner {
    /// Runs the end-of-write script; `Ok(true)` if it stored the row.
    pub(super) async fn end_write(
        &self,
        keys: &EntityKeys,
        token: &str,
        end: &EndWrite,
    ) -> Result<bool, Unanswered> {
        let link = self.write_link()?;
        let (mode, value, ttl_ms, solo): (&str, Vec<u8>, u64, bool) = match end {
            EndWrite::Invalidate => ("inv", Vec::new(), 1, false),
            EndWrite::Store {
                body,
                ttl_ms,
                negative,
                solo,
            } => (
                if *negative { "neg" } else { "set" },
                Codec::envelope(&link.generation, body),
                *ttl_ms,
                *solo,
            ),
        };
        let mut conn = link.conn.clone();
        let stored: i64 = self
            .attempt(&link, "end_write", async {
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
        Ok(stored == 1)
    }
}
