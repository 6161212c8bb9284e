//! The handles: [`Cache`] (one per application and Redis server) and [`EntityCache`] (one per
//! cached entity type, holding its database source).

use super::codec::{layout_of_columns, layout_of_type_name, Codec, Decoded};
use super::error::CacheError;
use super::health::{Deferred, Health};
use super::key::{EntityKeys, KeyBuilder};
use super::lease::{run_subscriber, Acquire, Wake};
use super::metrics::{CacheMetrics, Counters};
use super::scripts::{
    ACQUIRE, BEGIN_WRITE, END_WRITE, FILL, PUT_ATTRIBUTE, RELEASE, SWEEP_TRACKED,
};
use super::single_flight::{self, Entry, SingleFlight, Stamped};
use super::source::{CacheEntity, CacheSource};
use crate::model::{CachePolicy, CacheWrite};
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisResult, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How a delete finds an entity's attribute keys (`<entity>:<id>:<attribute>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttributeSweep {
    /// The keys written through [`EntityCache::put_attribute`], tracked in a per-id set: cost
    /// proportional to the id's own keys.
    #[default]
    Tracked,
    /// The tracked keys plus `SCAN MATCH <entity>:<id>:*` over the whole keyspace: also finds
    /// attribute keys written by other code, at the cost of a full SCAN per delete.
    Scan,
}

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
/// [`EntityCache`] per entity with [`Cache::entity`].
#[derive(Clone)]
pub struct Cache {
    inner: Arc<CacheInner>,
}

pub(crate) struct CacheInner {
    conn: ConnectionManager,
    config: CacheConfig,
    counters: Counters,
    wake: Arc<Wake>,
    channel: String,
    health: Health,
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

    /// The cache of a derived entity, with the policy of its `#[dbpat(cache(...))]` attribute.
    /// `None` when the entity has no cache policy.
    pub fn entity<E, S>(&self, source: S) -> Option<EntityCache<E, S>>
    where
        E: CacheEntity + crate::Entity,
        S: CacheSource<E>,
    {
        let policy = E::TABLE.cache?;
        Some(self.build(policy, layout_of_columns(&E::TABLE), source))
    }

    /// The cache of any serde type, with an explicit policy.
    pub fn entity_with_policy<E, S>(&self, policy: CachePolicy, source: S) -> EntityCache<E, S>
    where
        E: CacheEntity,
        S: CacheSource<E>,
    {
        self.build(
            policy,
            layout_of_type_name(std::any::type_name::<E>()),
            source,
        )
    }

    fn build<E: CacheEntity, S: CacheSource<E>>(
        &self,
        policy: CachePolicy,
        layout: u64,
        source: S,
    ) -> EntityCache<E, S> {
        EntityCache {
            inner: Arc::new(EntityInner {
                cache: self.clone(),
                keys: KeyBuilder::new(&self.inner.config.app_prefix, &policy),
                codec: Codec::new(layout),
                policy,
                source,
                flights: SingleFlight::default(),
                after_load: RwLock::new(None),
            }),
        }
    }
}

impl CacheInner {
    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Runs one Redis operation: skipped while the breaker is open; an error or timeout is
    /// logged, counted and trips the breaker. `None` means "no answer from Redis".
    async fn redis<T>(
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

    fn jittered_ms(&self, secs: u64) -> u64 {
        let base = secs.saturating_mul(1000).max(1);
        let spread = (base as f64 * self.config.ttl_jitter.max(0.0)) as u64;
        base + rand::random_range(0..=spread)
    }

    /// Runs the end-of-write script; `None` if Redis did not answer.
    async fn end_write(&self, keys: &EntityKeys, token: &str, end: &EndWrite) -> Option<bool> {
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
            .redis("end_write", async {
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

enum EndWrite {
    Invalidate,
    Store {
        bytes: Vec<u8>,
        ttl_ms: u64,
        negative: bool,
        solo: bool,
    },
}

/// What the read's first GET found.
#[derive(Debug, Clone, Copy)]
enum First {
    /// Nothing cached.
    Missed,
    /// An undecodable value (to be replaced).
    Corrupt,
    /// Redis unavailable, or an invalidation of this row is owed: use the database only.
    NoCache,
}

type LoadHook = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;
type ReadResult<E> = Result<Option<E>, CacheError>;

/// The cached data API of one entity type: cache-aside reads with single-flight, leases and
/// negative entries; writes that keep Redis consistent with PostgreSQL. Cheap to clone.
pub struct EntityCache<E: CacheEntity, S> {
    inner: Arc<EntityInner<E, S>>,
}

impl<E: CacheEntity, S> Clone for EntityCache<E, S> {
    fn clone(&self) -> Self {
        EntityCache {
            inner: self.inner.clone(),
        }
    }
}

struct EntityInner<E: CacheEntity, S> {
    cache: Cache,
    keys: KeyBuilder,
    codec: Codec,
    policy: CachePolicy,
    source: S,
    flights: SingleFlight<ReadResult<E>>,
    after_load: RwLock<Option<LoadHook>>,
}

impl<E: CacheEntity, S: CacheSource<E>> EntityCache<E, S> {
    fn c(&self) -> &CacheInner {
        &self.inner.cache.inner
    }

    fn counters(&self) -> &Counters {
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

    /// The database source.
    pub fn source(&self) -> &S {
        &self.inner.source
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

    // ----- reads -----------------------------------------------------------------------------

    /// Cache-aside read: the cached row, else one database load shared by every concurrent
    /// reader of `id` (in this process and, through the lease, in all others), filled back
    /// only if no write intervened. `Ok(None)`: no such row (cached as a negative entry).
    /// Redis problems never surface here; database errors do.
    pub async fn get(&self, id: &E::Id) -> Result<Option<E>, CacheError> {
        let c = self.c();
        let value_key = self.inner.keys.entity(id);
        // The hit path: one GET, no single-flight bookkeeping.
        let first = if c.health.is_deferred(&value_key) {
            First::NoCache
        } else {
            let mut conn = c.conn();
            match c
                .redis("get", conn.get::<_, Option<Vec<u8>>>(&value_key))
                .await
            {
                Some(Some(bytes)) => match self.decode(&bytes) {
                    Some(v) => return Ok(v),
                    None => First::Corrupt,
                },
                Some(None) => First::Missed,
                None => First::NoCache,
            }
        };
        Counters::inc(&self.counters().misses);
        loop {
            match self.inner.flights.enter(&value_key) {
                Entry::Leader(leader) => {
                    let keys = self.inner.keys.keys(id);
                    let stamped = Arc::new(self.fetch(id, &keys, first).await);
                    let result = stamped.value.clone();
                    leader.finish(stamped);
                    return result;
                }
                Entry::Joiner { slot, joined_at } => {
                    Counters::inc(&self.counters().single_flight_joins);
                    if let Some(r) = single_flight::wait(slot, joined_at).await {
                        return r.value.clone();
                    }
                }
            }
        }
    }

    fn decode(&self, bytes: &[u8]) -> Option<Option<E>> {
        match self.inner.codec.decode(bytes) {
            Decoded::Value(v) => {
                Counters::inc(&self.counters().hits);
                Some(Some(v))
            }
            Decoded::Negative => {
                Counters::inc(&self.counters().negative_hits);
                Some(None)
            }
            Decoded::Corrupt => {
                Counters::inc(&self.counters().decode_errors);
                None
            }
        }
    }

    /// The miss path of one flight leader: lease, load and fill, or wait for another holder.
    async fn fetch(&self, id: &E::Id, keys: &EntityKeys, first: First) -> Stamped<ReadResult<E>> {
        let c = self.c();
        let flights = &self.inner.flights;
        let mut force = match first {
            First::NoCache => return self.load_direct(id).await,
            First::Corrupt => true,
            First::Missed => false,
        };
        // The caller's GET just missed: go straight to the lease script (which also returns a
        // value filled in the meantime).
        let mut skip_get = true;
        let mut waits = 0u32;
        let give_up = Instant::now() + c.config.max_wait;
        loop {
            if !force && !skip_get {
                let t = flights.tick();
                let mut conn = c.conn();
                let got: Option<Option<Vec<u8>>> = c.redis("get", conn.get(&keys.value)).await;
                match got {
                    None => return self.load_direct(id).await,
                    Some(Some(bytes)) => match self.decode(&bytes) {
                        Some(v) => return stamped(Ok(v), t),
                        None => force = true,
                    },
                    Some(None) => {}
                }
            }
            skip_get = false;
            // Register for the wake-up before asking, so a fill that lands right after the
            // answer still wakes us.
            let notified = c.wake.shard(&keys.value).notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let token = new_token();
            let t = flights.tick();
            let mut conn = c.conn();
            let answer = c
                .redis("acquire", async {
                    ACQUIRE
                        .key(&keys.value)
                        .key(&keys.lease)
                        .key(&keys.writers)
                        .arg(&token)
                        .arg(c.config.lease_ttl.as_millis() as u64)
                        .arg(if force { "1" } else { "0" })
                        .invoke_async::<Value>(&mut conn)
                        .await
                })
                .await
                .and_then(Acquire::parse_all)
                .and_then(|mut v| v.pop());
            match answer {
                None => return self.load_direct(id).await,
                Some(Acquire::Cached(bytes)) => match self.decode(&bytes) {
                    Some(v) => return stamped(Ok(v), t),
                    None => force = true,
                },
                Some(Acquire::WritersInFlight) => {
                    Counters::inc(&self.counters().write_bypasses);
                    return self.load_direct(id).await;
                }
                Some(Acquire::Leased) => return self.load_and_fill(id, keys, &token).await,
                Some(Acquire::Held { pttl_ms }) => {
                    let now = Instant::now();
                    if now >= give_up {
                        return self.load_direct(id).await;
                    }
                    Counters::inc(&self.counters().stampede_waits);
                    let wait = c.wake.max_wait(pttl_ms, waits).min(give_up - now);
                    waits += 1;
                    let _ = tokio::time::timeout(wait, notified).await;
                    force = false;
                }
            }
        }
    }

    /// Reads the database without touching the cache.
    async fn load_direct(&self, id: &E::Id) -> Stamped<ReadResult<E>> {
        let t = self.inner.flights.tick();
        Counters::inc(&self.counters().db_loads);
        let r = self.inner.source.load(id).await;
        stamped(r.map_err(CacheError::source), t)
    }

    async fn load_and_fill(
        &self,
        id: &E::Id,
        keys: &EntityKeys,
        token: &str,
    ) -> Stamped<ReadResult<E>> {
        let c = self.c();
        let t_load = self.inner.flights.tick();
        Counters::inc(&self.counters().db_loads);
        let row = match self.inner.source.load(id).await {
            Ok(row) => row,
            Err(e) => {
                self.release(keys, token).await;
                return stamped(Err(CacheError::source(e)), t_load);
            }
        };
        let hook = self
            .inner
            .after_load
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(hook) = hook {
            hook(keys.value.clone()).await;
        }
        let Some((bytes, ttl_ms)) = self.entry_bytes(row.as_ref()) else {
            self.release(keys, token).await;
            return stamped(Ok(row), t_load);
        };
        let t_fill = self.inner.flights.tick();
        let mut conn = c.conn();
        let filled: Option<Vec<i64>> = c
            .redis("fill", async {
                FILL.key(&keys.value)
                    .key(&keys.lease)
                    .arg(token)
                    .arg(&c.channel)
                    .arg(bytes)
                    .arg(ttl_ms)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
        match filled.as_deref() {
            Some([1]) => {
                Counters::inc(&self.counters().fills);
                stamped(Ok(row), t_fill)
            }
            Some(_) => {
                Counters::inc(&self.counters().fills_rejected);
                stamped(Ok(row), t_load)
            }
            None => stamped(Ok(row), t_load),
        }
    }

    /// The bytes and TTL of a row (or of a negative entry); `None` if the row does not encode.
    fn entry_bytes(&self, row: Option<&E>) -> Option<(Vec<u8>, u64)> {
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

    async fn release(&self, keys: &EntityKeys, token: &str) {
        let c = self.c();
        let mut conn = c.conn();
        let _: Option<i64> = c
            .redis("release", async {
                RELEASE
                    .key(&keys.value)
                    .key(&keys.lease)
                    .arg(token)
                    .arg(&c.channel)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
    }

    /// Reads many ids: one `MGET`, then one `load_many` for all the misses. Misses whose lease
    /// this call obtains are filled (lease-guarded); the others are read from the database
    /// without waiting. The result is in the order of `ids`.
    pub async fn get_many(&self, ids: &[E::Id]) -> Result<Vec<Option<E>>, CacheError> {
        let c = self.c();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut uniq: Vec<(E::Id, EntityKeys)> = Vec::new();
        let positions: Vec<usize> = ids
            .iter()
            .map(|id| {
                let keys = self.inner.keys.keys(id);
                *index.entry(keys.value.clone()).or_insert_with(|| {
                    uniq.push((id.clone(), keys));
                    uniq.len() - 1
                })
            })
            .collect();
        let n = uniq.len();
        let mut found: Vec<Option<Option<E>>> = vec![None; n];
        let mut force = vec![false; n];
        let mut redis_ok = false;
        if n > 0 {
            let mut conn = c.conn();
            let values: Vec<&str> = uniq.iter().map(|(_, k)| k.value.as_str()).collect();
            let got: Option<Vec<Option<Vec<u8>>>> = c
                .redis("mget", async {
                    redis::cmd("MGET").arg(&values).query_async(&mut conn).await
                })
                .await;
            if let Some(got) = got {
                redis_ok = true;
                for (i, bytes) in got.into_iter().enumerate().take(n) {
                    match bytes.map(|b| self.decode(&b)) {
                        Some(Some(v)) => found[i] = Some(v),
                        Some(None) => force[i] = true,
                        None => {}
                    }
                }
            }
        }
        let misses: Vec<usize> = (0..n)
            .filter(|&i| found[i].is_none() && !c.health.is_deferred(&uniq[i].1.value))
            .collect();
        for _ in 0..(0..n).filter(|&i| found[i].is_none()).count() {
            Counters::inc(&self.counters().misses);
        }
        let token = new_token();
        let mut leased: Vec<usize> = Vec::new();
        if redis_ok && !misses.is_empty() {
            let mut conn = c.conn();
            let answers = c
                .redis("acquire_many", async {
                    let mut inv = ACQUIRE.prepare_invoke();
                    inv.arg(&token).arg(c.config.lease_ttl.as_millis() as u64);
                    for &i in &misses {
                        let k = &uniq[i].1;
                        inv.key(&k.value).key(&k.lease).key(&k.writers);
                        inv.arg(if force[i] { "1" } else { "0" });
                    }
                    inv.invoke_async::<Value>(&mut conn).await
                })
                .await
                .and_then(Acquire::parse_all);
            for (&i, answer) in misses.iter().zip(answers.into_iter().flatten()) {
                match answer {
                    Acquire::Cached(bytes) => found[i] = self.decode(&bytes),
                    Acquire::Leased => leased.push(i),
                    Acquire::WritersInFlight => Counters::inc(&self.counters().write_bypasses),
                    Acquire::Held { .. } => {}
                }
            }
        }
        let to_load: Vec<usize> = (0..n).filter(|&i| found[i].is_none()).collect();
        if !to_load.is_empty() {
            Counters::inc(&self.counters().db_loads);
            let load_ids: Vec<E::Id> = to_load.iter().map(|&i| uniq[i].0.clone()).collect();
            let rows = match self.inner.source.load_many(&load_ids).await {
                Ok(rows) => rows,
                Err(e) => {
                    for &i in &leased {
                        self.release(&uniq[i].1, &token).await;
                    }
                    return Err(CacheError::source(e));
                }
            };
            for &i in &to_load {
                found[i] = Some(None);
            }
            for row in rows {
                if let Some(&i) = index.get(&self.inner.keys.entity(&row.cache_id())) {
                    found[i] = Some(Some(row));
                }
            }
            self.fill_many(&uniq, &found, &leased, &token).await;
        }
        Ok(positions
            .into_iter()
            .map(|i| found[i].clone().flatten())
            .collect())
    }

    async fn fill_many(
        &self,
        uniq: &[(E::Id, EntityKeys)],
        found: &[Option<Option<E>>],
        leased: &[usize],
        token: &str,
    ) {
        if leased.is_empty() {
            return;
        }
        let c = self.c();
        let mut conn = c.conn();
        let filled: Option<Vec<i64>> = c
            .redis("fill_many", async {
                let mut inv = FILL.prepare_invoke();
                inv.arg(token).arg(&c.channel);
                for &i in leased {
                    let k = &uniq[i].1;
                    let row = found[i].as_ref().and_then(|r| r.as_ref());
                    // An unencodable row keeps its lease until the TTL; nothing is stored.
                    let (bytes, ttl) = self.entry_bytes(row).unwrap_or_default();
                    inv.key(&k.value).key(&k.lease).arg(bytes).arg(ttl.max(1));
                }
                inv.invoke_async(&mut conn).await
            })
            .await;
        for ok in filled.into_iter().flatten() {
            if ok == 1 {
                Counters::inc(&self.counters().fills);
            } else {
                Counters::inc(&self.counters().fills_rejected);
            }
        }
    }

    // ----- writes ----------------------------------------------------------------------------

    /// Announces a write of `id` before the database write begins. From now until the intent
    /// is finished, no reader stores a value for `id` and readers that miss go to the
    /// database. Finish it after the transaction **commits** ([`WriteIntent::committed`],
    /// [`WriteIntent::deleted`]) or fails ([`WriteIntent::abort`]). A dropped intent
    /// invalidates in the background.
    ///
    /// Use this when the write runs in a transaction the caller commits; otherwise the
    /// closure-taking methods ([`update`](Self::update), [`delete`](Self::delete)...) do it all.
    pub async fn begin_write(&self, id: &E::Id) -> WriteIntent<E, S> {
        let c = self.c();
        let keys = self.inner.keys.keys(id);
        let token = new_token();
        let mut conn = c.conn();
        let others: Option<i64> = c
            .redis("begin_write", async {
                BEGIN_WRITE
                    .key(&keys.value)
                    .key(&keys.lease)
                    .key(&keys.writers)
                    .arg(&token)
                    .arg(c.config.write_ttl.as_millis() as u64)
                    .arg(&c.channel)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
        if others.is_none() {
            // Redis did not hear about this write: this process reads the row from the
            // database until the invalidation reaches Redis.
            Counters::inc(&self.counters().invalidations_deferred);
            c.health.defer(Deferred {
                keys: keys.clone(),
                token: token.clone(),
                in_flight: true,
            });
        }
        WriteIntent {
            cache: Some(self.clone()),
            keys,
            token,
            solo: others == Some(0),
        }
    }

    /// Update through the cache: `write` performs the database update **and commits**, and
    /// returns the committed row. The cache is made consistent per the policy (the new row
    /// stored, or the entry invalidated). An error from `write` is returned unchanged (the
    /// entry is invalidated).
    pub async fn update<F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
    {
        let intent = self.begin_write(id).await;
        match write().await {
            Ok(row) => {
                intent.committed(&row).await;
                Ok(row)
            }
            Err(e) => {
                intent.abort().await;
                Err(e)
            }
        }
    }

    /// A partial update; same contract as [`update`](Self::update).
    pub async fn patch<F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
    {
        self.update(id, write).await
    }

    /// An optimistic-locking update (`... WHERE version = $n`); same contract as
    /// [`update`](Self::update). A conflict error from `write` invalidates the entry (another
    /// writer changed the row) and is returned unchanged.
    pub async fn update_versioned<F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
    {
        self.update(id, write).await
    }

    /// Insert of a row whose id the application supplies: clears a negative entry for it, and
    /// with write-through stores the new row. Same contract as [`update`](Self::update).
    pub async fn insert_with_id<F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
    {
        self.update(id, write).await
    }

    /// Insert of a row whose id the database generates: after `write` commits, any negative
    /// entry or lease for the new id is deleted (the row is not stored: a later read fills it).
    pub async fn insert<F, Fut, Er>(&self, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
    {
        let row = write().await?;
        self.invalidate(&row.cache_id()).await;
        Ok(row)
    }

    /// Delete through the cache: `write` deletes the row **and commits**. Afterwards the entry
    /// is invalidated (or, with write-through, replaced by a negative entry) and the id's
    /// attribute keys are removed.
    pub async fn delete<T, F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<T, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Er>>,
    {
        let intent = self.begin_write(id).await;
        match write().await {
            Ok(t) => {
                intent.deleted().await;
                Ok(t)
            }
            Err(e) => {
                intent.abort().await;
                Err(e)
            }
        }
    }

    /// Deletes the cached entry and lease of `id` (for writes made outside this API).
    pub async fn invalidate(&self, id: &E::Id) {
        let keys = self.inner.keys.keys(id);
        let token = new_token();
        if self
            .c()
            .end_write(&keys, &token, &EndWrite::Invalidate)
            .await
            .is_none()
        {
            Counters::inc(&self.counters().invalidations_deferred);
            self.c().health.defer(Deferred {
                keys,
                token,
                in_flight: false,
            });
        }
    }

    async fn finish_write(&self, keys: &EntityKeys, token: &str, end: EndWrite) {
        let c = self.c();
        match c.end_write(keys, token, &end).await {
            Some(_) => c.health.settle(&keys.value, token),
            None => {
                Counters::inc(&self.counters().invalidations_deferred);
                c.health.defer(Deferred {
                    keys: keys.clone(),
                    token: token.to_owned(),
                    in_flight: false,
                });
            }
        }
    }

    async fn sweep_attributes(&self, keys: &EntityKeys) {
        let c = self.c();
        let mut conn = c.conn();
        let _: Option<i64> = c
            .redis("sweep_tracked", async {
                SWEEP_TRACKED
                    .key(&keys.subkeys)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
        if c.config.attribute_sweep == AttributeSweep::Scan {
            let pattern = &keys.attribute_pattern;
            let mut cursor: u64 = 0;
            loop {
                let mut conn = c.conn();
                let page: Option<(u64, Vec<String>)> = c
                    .redis("scan", async {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(1000)
                            .query_async(&mut conn)
                            .await
                    })
                    .await;
                let Some((next, found)) = page else { return };
                if !found.is_empty() {
                    let mut conn = c.conn();
                    let _: Option<i64> = c.redis("unlink", conn.unlink(&found)).await;
                }
                if next == 0 {
                    return;
                }
                cursor = next;
            }
        }
    }

    // ----- attributes ------------------------------------------------------------------------

    /// Stores an attribute of `id` (`<entity>:<id>:<attribute>`, JSON) for `ttl` (with jitter),
    /// tracked so that deleting the row removes it. Redis errors are logged and counted.
    pub async fn put_attribute<T: Serialize>(
        &self,
        id: &E::Id,
        attribute: &str,
        value: &T,
        ttl: Duration,
    ) {
        let c = self.c();
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let key = self.inner.keys.attribute(id, attribute);
        let keys = self.inner.keys.keys(id);
        let ttl_ms = c.jittered_ms(ttl.as_secs().max(1));
        let mut conn = c.conn();
        let _: Option<i64> = c
            .redis("put_attribute", async {
                PUT_ATTRIBUTE
                    .key(&key)
                    .key(&keys.subkeys)
                    .arg(bytes)
                    .arg(ttl_ms)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
    }

    /// Reads an attribute of `id`; `None` if absent, undecodable or Redis is unavailable.
    pub async fn get_attribute<T: DeserializeOwned>(
        &self,
        id: &E::Id,
        attribute: &str,
    ) -> Option<T> {
        let c = self.c();
        let key = self.inner.keys.attribute(id, attribute);
        let mut conn = c.conn();
        let bytes: Vec<u8> = c
            .redis("get_attribute", conn.get::<_, Option<Vec<u8>>>(&key))
            .await??;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(_) => {
                Counters::inc(&self.counters().decode_errors);
                None
            }
        }
    }
}

/// A write announced with [`EntityCache::begin_write`]; finish it after the commit.
#[must_use = "finish the intent after the commit (committed / deleted / abort)"]
pub struct WriteIntent<E: CacheEntity, S: CacheSource<E>> {
    cache: Option<EntityCache<E, S>>,
    keys: EntityKeys,
    token: String,
    solo: bool,
}

impl<E: CacheEntity, S: CacheSource<E>> WriteIntent<E, S> {
    /// The write committed and `row` is the committed row: store it (write-through, when no
    /// other writer overlapped) or invalidate.
    pub async fn committed(mut self, row: &E) {
        let Some(cache) = self.cache.take() else {
            return;
        };
        let end = match cache.inner.policy.write {
            CacheWrite::WriteThrough => match cache.entry_bytes(Some(row)) {
                Some((bytes, ttl_ms)) => EndWrite::Store {
                    bytes,
                    ttl_ms,
                    negative: false,
                    solo: self.solo,
                },
                None => EndWrite::Invalidate,
            },
            CacheWrite::Invalidate => EndWrite::Invalidate,
        };
        cache.finish_write(&self.keys, &self.token, end).await;
    }

    /// The row was deleted and the delete committed: invalidate (write-through: store a
    /// negative entry) and remove the id's attribute keys.
    pub async fn deleted(mut self) {
        let Some(cache) = self.cache.take() else {
            return;
        };
        let end = match cache.inner.policy.write {
            CacheWrite::WriteThrough => EndWrite::Store {
                bytes: Codec::negative().to_vec(),
                ttl_ms: cache.c().jittered_ms(cache.inner.policy.negative_ttl_secs),
                negative: true,
                solo: self.solo,
            },
            CacheWrite::Invalidate => EndWrite::Invalidate,
        };
        cache.finish_write(&self.keys, &self.token, end).await;
        cache.sweep_attributes(&self.keys).await;
    }

    /// The write failed or rolled back: invalidate.
    pub async fn abort(mut self) {
        if let Some(cache) = self.cache.take() {
            cache
                .finish_write(&self.keys, &self.token, EndWrite::Invalidate)
                .await;
        }
    }
}

impl<E: CacheEntity, S: CacheSource<E>> Drop for WriteIntent<E, S> {
    fn drop(&mut self) {
        let Some(cache) = self.cache.take() else {
            return;
        };
        let keys = self.keys.clone();
        let token = std::mem::take(&mut self.token);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    cache
                        .finish_write(&keys, &token, EndWrite::Invalidate)
                        .await;
                });
            }
            Err(_) => cache.c().health.defer(Deferred {
                keys,
                token,
                in_flight: false,
            }),
        }
    }
}

fn stamped<V>(value: V, fresh_as_of: u64) -> Stamped<V> {
    Stamped { value, fresh_as_of }
}

fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
