//! The handles: [`Cache`] (one per application and Redis server) and [`EntityCache`] (the
//! cache of one entity type, which [`Cached`](super::Cached) and
//! [`SourceCache`](super::SourceCache) run their reads and writes through).

use super::codec::{Codec, Decoded};
use super::config::CacheConfig;
use super::conn::Target;
use super::health::Health;
use super::inner::{flush_deferred, CacheInner};
use super::key::KeyBuilder;
use super::lease::{run_subscriber, Wake};
use super::link::{keep_link, Links};
use super::metrics::{CacheMetrics, Counters};
use super::single_flight::SingleFlight;
use super::source::CacheEntity;
use crate::error::Error;
use crate::model::CachePolicy;
use futures_util::future::BoxFuture;
use std::sync::{Arc, RwLock, Weak};
use tokio::sync::Notify;

/// One application's cache: a verified Redis connection (kept up by a background task, which
/// also notices when Redis holds another dataset), a wake-up subscription, the circuit
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
    /// Builds the handle. Never fails because Redis is down: the connection is kept up in
    /// the background, and reads use the database until it is back (writes follow the
    /// [`WriteGuarantee`](super::WriteGuarantee)). Waits at most `connect_timeout` for the
    /// wake-up subscription and for the first verified connection. Must run inside a tokio
    /// runtime.
    pub async fn connect(client: redis::Client, config: CacheConfig) -> Self {
        Self::start(Target::Single(client), config).await
    }

    /// [`connect`](Self::connect) to a **Redis Cluster**, found from `seeds` (the URLs of any
    /// of its nodes; one reachable seed is enough, several survive a seed's death). The same
    /// handle, guarantee and API as on a single server:
    ///
    /// - every entity's keys are hash-tagged (`user:{123}`, whatever the policy's `hash_tag`
    ///   says), so the keys each script touches share one slot;
    /// - `find_many` groups its ids by slot and runs the groups concurrently; the `SCAN` of
    ///   [`AttributeSweep::Scan`](super::AttributeSweep::Scan) visits every primary;
    /// - the dataset generation covers every primary: a failover or any primary's restart
    ///   starts a new generation of the whole cluster (values cached before are ignored, no
    ///   fills for [`CacheConfig::restart_grace`], writes in flight re-registered);
    /// - wake-ups use classic pub/sub (`PUBLISH` from the scripts reaches every node; the
    ///   subscriber listens on any one seed).
    ///
    /// `docs/scaling-out.md` has the configuration, the assumptions and the figures.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCacheConfig`] if `seeds` is empty or a seed is not a Redis URL, or if
    /// [`CacheConfig::app_prefix`] contains `{` or `}` (it would be every key's hash tag and
    /// put the whole cache in one slot). Never because the cluster is down: as with
    /// [`connect`](Self::connect), the connection is kept up in the background.
    pub async fn connect_cluster<I, T>(seeds: I, config: CacheConfig) -> Result<Self, Error>
    where
        I: IntoIterator<Item = T>,
        T: redis::IntoConnectionInfo,
    {
        let seeds = seeds
            .into_iter()
            .map(|s| s.into_connection_info())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidCacheConfig {
                reason: format!("a Redis Cluster seed is not a Redis URL: {e}"),
            })?;
        if seeds.is_empty() {
            return Err(Error::InvalidCacheConfig {
                reason: "no Redis Cluster seed URL".into(),
            });
        }
        if config.app_prefix.contains(['{', '}']) {
            return Err(Error::InvalidCacheConfig {
                reason: format!(
                    "the app prefix {:?} contains `{{` or `}}`: on a Redis Cluster it would be \
                     the hash tag of every key",
                    config.app_prefix
                ),
            });
        }
        Ok(Self::start(Target::Cluster(seeds), config).await)
    }

    async fn start(target: Target, config: CacheConfig) -> Self {
        let wake = Arc::new(Wake::new());
        let channel = format!("{}~dbpat-wake", config.app_prefix);
        let counters = Arc::new(Counters::default());
        let subscriber_clients = target.subscriber_clients();
        let links = Arc::new(Links::new(
            target,
            &config,
            channel.clone(),
            counters.clone(),
        ));
        let keeper = tokio::spawn(keep_link(links.clone()));
        let ready = Arc::new(Notify::new());
        let first_attempt = ready.clone();
        let first_attempt = first_attempt.notified();
        tokio::pin!(first_attempt);
        first_attempt.as_mut().enable();
        let subscriber = tokio::spawn(run_subscriber(
            subscriber_clients,
            channel.clone(),
            wake.clone(),
            config.connect_timeout,
            ready,
        ));
        let _ = tokio::join!(
            tokio::time::timeout(config.connect_timeout * 2, first_attempt),
            links.wait_ready(config.connect_timeout * 2)
        );
        let inner = Arc::new_cyclic(|weak: &Weak<CacheInner>| {
            let flusher = tokio::spawn(flush_deferred(weak.clone()));
            CacheInner {
                links,
                counters,
                wake,
                channel,
                health: Health::new(config.breaker_cooldown),
                tasks: vec![keeper, subscriber, flusher],
                watchers: Default::default(),
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

    /// The generation of the Redis dataset this handle talks to (16 hex digits; every cached
    /// value carries it), `None` while no verified connection is up. It changes when Redis
    /// restarts, is restored, fails over or is flushed.
    pub fn generation(&self) -> Option<String> {
        self.inner.links.current().map(|l| l.generation.to_string())
    }

    /// Whether the wake-up subscription is live (waiters are woken by messages, not polling).
    pub fn is_subscribed(&self) -> bool {
        self.inner.wake.is_subscribed()
    }

    /// Whether this handle talks to a Redis Cluster ([`connect_cluster`](Self::connect_cluster)).
    pub fn is_cluster(&self) -> bool {
        self.inner.links.is_cluster()
    }

    pub(super) fn build<E: CacheEntity>(&self, policy: CachePolicy, layout: u64) -> EntityCache<E> {
        // On a cluster every script must stay in one slot: the keys of an id share its tag.
        let policy = CachePolicy {
            hash_tag: policy.hash_tag || self.is_cluster(),
            ..policy
        };
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

    /// Decodes a value read from Redis (for example with `GET` of [`key`](Self::key)) as
    /// this handle would: against the current dataset generation.
    pub fn decode_value(&self, bytes: &[u8]) -> Decoded<E> {
        match self.inner.cache.generation() {
            Some(generation) => self.inner.codec.decode(&generation, bytes),
            None => Decoded::OtherGeneration,
        }
    }

    /// The generation-independent bytes and the TTL of a row (or of a negative entry); `None`
    /// if the row does not encode.
    pub(super) fn entry_body(&self, row: Option<&E>) -> Option<(Vec<u8>, u64)> {
        let c = self.c();
        match row {
            Some(row) => match self.inner.codec.body(row) {
                Ok(bytes) => Some((bytes, c.jittered_ms(self.inner.policy.ttl_secs))),
                Err(err) => {
                    tracing::warn!(%err, "dbpat cache: row does not encode; not cached");
                    None
                }
            },
            None => Some((
                Codec::negative_body().to_vec(),
                c.jittered_ms(self.inner.policy.negative_ttl_secs),
            )),
        }
    }
}

pub(super) fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
