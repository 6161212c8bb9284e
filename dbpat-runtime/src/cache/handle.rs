//! The handles: [`Cache`] (one per application and Redis server) and [`EntityCache`] (the
//! cache of one entity type, which [`Cached`](super::Cached) and
//! [`SourceCache`](super::SourceCache) run their reads and writes through).

use super::codec::Codec;
use super::config::CacheConfig;
use super::health::Health;
use super::inner::{flush_deferred, CacheInner};
use super::key::KeyBuilder;
use super::lease::{run_subscriber, Wake};
use super::metrics::{CacheMetrics, Counters};
use super::single_flight::SingleFlight;
use super::source::CacheEntity;
use crate::error::Error;
use crate::model::CachePolicy;
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// One application's cache: a Redis [`ConnectionManager`], a wake-up subscription, the circuit
/// breaker and the counters. Cheap to clone; make one per process and Redis server, then one
/// handle per entity with [`Cache::entity`] (derived entities) or [`Cache::with_source`].
#[derive(Clone)]
pub struct Cache {
    pub(super) inner: Arc<CacheInner>,
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

    pub(super) fn build<E: CacheEntity>(&self, policy: CachePolicy, layout: u64) -> EntityCache<E> {
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

type LoadHook = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;
pub(super) type ReadResult<E> = Result<Option<E>, Error>;

/// The cache of one entity type: cache-aside reads with single-flight, leases and negative
/// entries; writes that keep Redis consistent with PostgreSQL; attribute keys. [`Cached`](super::Cached) and
/// [`SourceCache`](super::SourceCache) dereference to it for what is not a read or a write (keys, attributes,
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
