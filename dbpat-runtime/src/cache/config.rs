//! [`CacheConfig`]: the settings of a [`Cache`](super::Cache) handle.

use std::time::Duration;

/// Settings of a [`Cache`](super::Cache) handle. `CacheConfig::new("myapp:")` gives the defaults.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Prepended to every key (e.g. `myapp:`; may be empty).
    pub app_prefix: String,
    /// A Redis command slower than this counts as a failure and the read goes to the database.
    pub op_timeout: Duration,
    /// Timeout of one connection attempt.
    pub connect_timeout: Duration,
    /// Lifetime of a reader's fill lease: the longest the other readers wait for a holder that
    /// died. Must exceed a normal database load.
    pub lease_ttl: Duration,
    /// How long a writer stays registered if it never finishes. Must exceed the longest write
    /// transaction (beyond it, the no-stale-read guarantee lapses for that write).
    pub write_ttl: Duration,
    /// Extra random TTL, as a fraction of the TTL (0.1: up to +10 %), so a batch of keys does
    /// not expire in the same second.
    pub ttl_jitter: f64,
    /// After a Redis outage (I/O error, refused or dropped connection, timeout), skip Redis for
    /// reads for this long. Writes always try.
    pub breaker_cooldown: Duration,
    /// The longest a reader waits for other readers' leases in total before reading the
    /// database itself.
    pub max_wait: Duration,
    /// How a delete finds attribute keys.
    pub attribute_sweep: AttributeSweep,
    /// What a write does when Redis does not confirm its registration.
    pub write_guarantee: WriteGuarantee,
    /// After Redis lost its data (restarted empty, restored from an older dump, flushed, a
    /// failover), no reader fills the cache for this long, while every live process
    /// re-registers its writes in flight in the new dataset (each does as soon as it reaches
    /// it). Must exceed the time a process needs to notice (its heartbeat, 200 ms, plus a
    /// reconnect); a write in flight whose process cannot reach Redis for longer is covered
    /// only when this is at least [`write_ttl`](Self::write_ttl).
    pub restart_grace: Duration,
}

impl CacheConfig {
    /// Defaults: 250 ms op timeout, 5 s leases, 30 s writer registration, 10 % jitter,
    /// 500 ms breaker cool-down, [`WriteGuarantee::Strict`], 5 s restart grace.
    pub fn new(app_prefix: impl Into<String>) -> Self {
        CacheConfig {
            app_prefix: app_prefix.into(),
            op_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_millis(250),
            lease_ttl: Duration::from_secs(5),
            write_ttl: Duration::from_secs(30),
            ttl_jitter: 0.1,
            breaker_cooldown: Duration::from_millis(500),
            max_wait: Duration::from_secs(10),
            attribute_sweep: AttributeSweep::Tracked,
            write_guarantee: WriteGuarantee::Strict,
            restart_grace: Duration::from_secs(5),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig::new("")
    }
}

/// How a delete finds an entity's attribute keys (`<entity>:<id>:<attribute>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttributeSweep {
    /// The keys written through [`EntityCache::put_attribute`](super::EntityCache::put_attribute), tracked in a per-id set: cost
    /// proportional to the id's own keys.
    #[default]
    Tracked,
    /// The tracked keys plus `SCAN MATCH <entity>:<id>:*` over the whole keyspace: also finds
    /// attribute keys written by other code, at the cost of a full SCAN per delete.
    Scan,
}

/// What a write through the cache does when Redis does not confirm its registration (Redis
/// down, frozen, slower than [`CacheConfig::op_timeout`], or it refused the script).
///
/// Every write registers in Redis **before** its database write, so that no other process
/// can fill the cache with the old row while the write is in flight. When that registration
/// is not confirmed there are two honest answers:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteGuarantee {
    /// The write fails with [`Error::CacheUnavailable`](crate::Error::CacheUnavailable)
    /// before anything is sent to PostgreSQL: nothing is written, and no process ever reads a
    /// row older than a committed write. Writes are unavailable while Redis is; reads never
    /// are (they use the database). The default: the cache's promise is the reason to use it.
    #[default]
    Strict,
    /// The write proceeds. This process reads the row from the database until its
    /// invalidation reaches Redis (retried every 100 ms); other processes may read the
    /// previous row until then: once Redis answers again, for at most one retry interval plus
    /// one command, or, if this process exits before Redis answers, until the entry's TTL.
    Available,
}
