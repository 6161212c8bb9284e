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
    /// After a Redis error, skip Redis for this long.
    pub breaker_cooldown: Duration,
    /// The longest a reader waits for other readers' leases in total before reading the
    /// database itself.
    pub max_wait: Duration,
    /// How a delete finds attribute keys.
    pub attribute_sweep: AttributeSweep,
}

impl CacheConfig {
    /// Defaults: 250 ms op timeout, 5 s leases, 30 s writer registration, 10 % jitter,
    /// 500 ms breaker cool-down.
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
