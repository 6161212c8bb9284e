//! The handles: [`Cache`] (one per application and Redis server) and [`EntityCache`] (the
//! cache of one entity type, which [`Cached`] and [`SourceCache`] run their reads and writes
//! through).

use super::attributes::AttributeSweep;
use super::codec::{layout_of_columns, layout_of_type_name, Codec};
use crate::error::Error;
use super::health::Health;
use super::key::KeyBuilder;
use super::lease::{run_subscriber, Wake};
use super::metrics::{CacheMetrics, Counters};
use super::single_flight::SingleFlight;
use super::cached::Cached;
use super::source::{CacheEntity, CacheSource, CachedEntity};
use super::source_cache::SourceCache;
use super::write::EndWrite;
use crate::model::CachePolicy;
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;
use std::future::Future;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Settings of a [`Cache`] handle. `CacheConfig::new("myapp:")` gives the defaults.
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

/// One application's cache: a Redis [`ConnectionManager`], a wake-up subscription, the circuit
/// breaker and the counters. Cheap to clone; make one per process and Redis server, then one
/// handle per entity with [`Cache::entity`] (derived entities) or [`Cache::with_source`].
#[derive(Clone)]
pub struct Cache {
    pub(super) inner: Arc<CacheInner>,
}

pub(crate) struct CacheInner {
    conn: ConnectionManager,
    pub(super) config: CacheConfig,
    pub(super) counters: Counters,
    pub(super) wake: Arc<Wake>,
    pub(super) channel: String,
    pub(super) health: Health,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for CacheInner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Builds the handle. Never fails because Redis is down: the connection is lazy and
    /// reconnects by itself, and reads use the database until it is back. Waits at most
    /// `connect_timeout` for the wake-up subscription. Must run inside a tokio runtime.
    pub async fn connect(client: redis::Client, config: CacheConfig) -> Self {
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.op_timeout))
            .set_connection_timeout(Some(config.connect_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .expect("a ConnectionManagerConfig without push settings is always valid");
        let wake = Arc::new(Wake::new());
        let channel = format!("{}~dbpat-wake", config.app_prefix);
        let ready = Arc::new(Notify::new());
        let first_attempt = ready.clone();
        let first_attempt = first_attempt.notified();
        tokio::pin!(first_attempt);
        first_attempt.as_mut().enable();
        let subscriber = tokio::spawn(run_subscriber(
            client,
            channel.clone(),
            wake.clone(),
            config.connect_timeout,
            ready,
        ));
        let _ = tokio::time::timeout(config.connect_timeout * 2, first_attempt).await;
        let inner = Arc::new_cyclic(|weak: &Weak<CacheInner>| {
            let flusher = tokio::spawn(flush_deferred(weak.clone()));
            CacheInner {
                conn,
                counters: Counters::default(),
                wake,
                channel,
                health: Health::new(config.breaker_cooldown),
                tasks: vec![subscriber, flusher],
                config,
            }
        });
        Cache { inner }
    }

    /// A snapshot of the counters (all entities of this handle).
    pub fn metrics(&self) -> CacheMetrics {
        self.inner.counters.snapshot()
    }

    /// The handle's settings.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// Whether the wake-up subscription is live (waiters are woken by messages, not polling).
    pub fn is_subscribed(&self) -> bool {
        self.inner.wake.is_subscribed()
    }

    /// The cached data API of derived entity `E`, with the policy of its
    /// `#[dbpat(cache(...))]` attribute. An entity without a cache policy does not implement
    /// [`CachedEntity`], so asking for its handle does not compile.
    pub fn entity<E: CachedEntity>(&self) -> Cached<E> {
        Cached::new(self.build(E::POLICY, layout_of_columns(&E::TABLE)))
    }

    /// The closure-based cache of any serde type over a [`CacheSource`] of your own, with an
    /// explicit policy (for rows that are not one derived entity: a view, a join, a remote
    /// service).
    pub fn with_source<E, S>(&self, policy: CachePolicy, source: S) -> SourceCache<E, S>
    where
        E: CacheEntity,
        S: CacheSource<E>,
    {
        let layout = layout_of_type_name(std::any::type_name::<E>());
        SourceCache::new(self.build(policy, layout), source)
    }

    fn build<E: CacheEntity>(&self, policy: CachePolicy, layout: u64) -> EntityCache<E> {
        EntityCache {
            inner: Arc::new(EntityInner {
                cache: self.clone(),
                keys: KeyBuilder::new(&self.inner.config.app_prefix, &policy),
                codec: Codec::new(layout),
                policy,
                flights: SingleFlight::default(),
                after_load: RwLock::new(None),
            }),
        }
    }
}

impl CacheInner {
    pub(super) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Runs one Redis operation: skipped while the breaker is open; an error or timeout is
    /// logged, counted and trips the breaker. `None` means "no answer from Redis".
    pub(super) async fn redis<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = RedisResult<T>>,
    ) -> Option<T> {
        if self.health.is_open() {
            Counters::inc(&self.counters.redis_skipped);
            return None;
        }
        let err = match tokio::time::timeout(self.config.op_timeout, op).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("timed out after {:?}", self.config.op_timeout),
        };
        Counters::inc(&self.counters.redis_errors);
        self.health.trip();
        tracing::warn!(
            op = what,
            error = %err,
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
async fn flush_deferred(cache: Weak<CacheInner>) {
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

type LoadHook = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;
pub(super) type ReadResult<E> = Result<Option<E>, Error>;

/// The cache of one entity type: cache-aside reads with single-flight, leases and negative
/// entries; writes that keep Redis consistent with PostgreSQL; attribute keys. [`Cached`] and
/// [`SourceCache`] dereference to it for what is not a read or a write (keys, attributes,
/// [`invalidate`](Self::invalidate), [`begin_write`](Self::begin_write), metrics). Cheap to
/// clone.
pub struct EntityCache<E: CacheEntity> {
    pub(super) inner: Arc<EntityInner<E>>,
}

impl<E: CacheEntity> Clone for EntityCache<E> {
    fn clone(&self) -> Self {
        EntityCache {
            inner: self.inner.clone(),
        }
    }
}

pub(super) struct EntityInner<E: CacheEntity> {
    pub(super) cache: Cache,
    pub(super) keys: KeyBuilder,
    pub(super) codec: Codec,
    pub(super) policy: CachePolicy,
    pub(super) flights: SingleFlight<ReadResult<E>>,
    pub(super) after_load: RwLock<Option<LoadHook>>,
}

impl<E: CacheEntity> EntityCache<E> {
    pub(super) fn c(&self) -> &CacheInner {
        &self.inner.cache.inner
    }

    pub(super) fn counters(&self) -> &Counters {
        &self.c().counters
    }

    /// The entity's policy.
    pub fn policy(&self) -> &CachePolicy {
        &self.inner.policy
    }

    /// The Redis key of the row `id` (`<app><entity>:<id>`).
    pub fn key(&self, id: &E::Id) -> String {
        self.inner.keys.entity(id)
    }

    /// The Redis key of an attribute (`<app><entity>:<id>:<attribute>`).
    pub fn attribute_key(&self, id: &E::Id, attribute: &str) -> String {
        self.inner.keys.attribute(id, attribute)
    }

    /// The envelope codec of this entity's cached values.
    pub fn codec(&self) -> &Codec {
        &self.inner.codec
    }

    /// The counters of the underlying [`Cache`] handle.
    pub fn metrics(&self) -> CacheMetrics {
        self.inner.cache.metrics()
    }

    /// The underlying [`Cache`] handle.
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    /// Test hook: runs after a lease holder's database load and before its fill (to pause a
    /// reader inside the stale-set race window). Not a stable API.
    #[doc(hidden)]
    pub fn set_after_load_hook(&self, hook: Option<LoadHook>) {
        *self
            .inner
            .after_load
            .write()
            .unwrap_or_else(|e| e.into_inner()) = hook;
    }

    /// The bytes and TTL of a row (or of a negative entry); `None` if the row does not encode.
    pub(super) fn entry_bytes(&self, row: Option<&E>) -> Option<(Vec<u8>, u64)> {
        let c = self.c();
        match row {
            Some(row) => match self.inner.codec.encode(row) {
                Ok(bytes) => Some((bytes, c.jittered_ms(self.inner.policy.ttl_secs))),
                Err(err) => {
                    tracing::warn!(%err, "dbpat cache: row does not encode; not cached");
                    None
                }
            },
            None => Some((
                Codec::negative().to_vec(),
                c.jittered_ms(self.inner.policy.negative_ttl_secs),
            )),
        }
    }
}

pub(super) fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
