//! The cache's connection to Redis, and which Redis *dataset* it talks to.
//!
//! A [`Link`] is one multiplexed connection, verified before use: the server's `run_id` (new
//! on every start of a server process) is read, and the dataset marker `<app>dataset` (a hash
//! `run_id, generation, born`) is adopted or replaced by the [`DATASET`] script. A marker left
//! by another `run_id` means the server restarted — empty, from an older dump, or it is a
//! replica promoted by a failover — so the script starts a new **generation**. Every cached
//! value carries the generation it was written into ([`Codec`](super::Codec)), so values that
//! came back with an older dataset are never served, and for [`CacheConfig::restart_grace`]
//! after a generation is born no reader fills the cache (the writers registered in the lost
//! dataset are unknown; every live process re-registers its writes in flight — the
//! [`InFlight`] registry — before it uses the new dataset).
//!
//! A background keeper reconnects when a link breaks and sends a heartbeat every
//! [`HEARTBEAT`], which also notices a marker that vanished under a live connection (a
//! `FLUSHALL`, an eviction).
//!
//! On a **Redis Cluster** the "run_id" is the fingerprint of the primaries
//! ([`Topology`](super::cluster::Topology): every primary's node id and `run_id`, read through
//! the connection's own routing), so a failover or any primary's restart starts a new
//! generation of the whole cluster. A cluster link is also *trusted* only while it is young:
//! every heartbeat re-reads the fingerprint, and a command may use the link only if that
//! succeeded less than half the cluster's `cluster-node-timeout` ago ([`ClusterLink`]); the
//! link is retired at the first topology error (`MOVED`, `ASK`, `CLUSTERDOWN`, `TRYAGAIN`, ...),
//! I/O error or disconnection of any node, and an answer that arrives after its link was
//! retired is discarded (see `inner.rs`). `docs/scaling-out.md` has the argument.

use super::cluster::{self, Topology};
use super::config::CacheConfig;
use super::conn::{Conn, Target};
use super::key::EntityKeys;
use super::metrics::Counters;
use super::scripts::{self, DATASET, HEARTBEAT as HEARTBEAT_SCRIPT};
use crate::redis_key::KeyText;
use redis::cluster::ClusterClientBuilder;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, RedisResult};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How often the keeper checks a live link (and the dataset marker behind it).
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(200);

/// Lifetime of the dataset marker, refreshed by every heartbeat.
const MARKER_TTL: Duration = Duration::from_secs(24 * 3600);

/// Used when a cluster does not let us read its `cluster-node-timeout` (`CONFIG` disabled).
const ASSUMED_NODE_TIMEOUT: Duration = Duration::from_millis(1000);

/// One verified connection to one Redis dataset.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) conn: Conn,
    /// The dataset generation (16 hex digits) every value written through this link carries.
    pub(crate) generation: Arc<str>,
    /// No reader fills before this instant (the restart grace of a young generation).
    fills_from: Instant,
    id: u64,
    /// Set on a cluster link.
    pub(crate) cluster: Option<Arc<ClusterLink>>,
}

impl Link {
    /// Whether readers may fill the cache (the dataset is older than the restart grace).
    pub(crate) fn fills_allowed(&self) -> bool {
        Instant::now() >= self.fills_from
    }

    /// Whether a command may use this link now: always on a single server (its connection
    /// never reconnects by itself, so it only ever reaches the verified server); on a cluster,
    /// while no node of it disconnected and its topology was verified recently.
    pub(crate) fn trusted(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.trusted())
    }
}

/// What a cluster link knows beyond its connection: the primaries it verified, and when.
pub(crate) struct ClusterLink {
    /// `(host, port)` of each primary (SCAN visits each).
    pub(crate) primaries: Vec<(String, u16)>,
    fingerprint: String,
    /// When the topology was last verified, in ms since [`EPOCH`].
    verified_ms: AtomicU64,
    /// How long a verification is trusted: half the cluster's `cluster-node-timeout`, below
    /// the time the cluster needs to promote a replica.
    trusted_for: Duration,
    /// A node connection of this link dropped (it may reconnect to a restarted server).
    dead: Arc<AtomicBool>,
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

impl ClusterLink {
    fn trusted(&self) -> bool {
        !self.dead.load(Ordering::Acquire)
            && now_ms().saturating_sub(self.verified_ms.load(Ordering::Acquire))
                < self.trusted_for.as_millis() as u64
    }

    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    fn verified_now(&self) {
        self.verified_ms.store(now_ms(), Ordering::Release);
    }
}

/// The writes in flight in this process (begun, not yet finished): re-registered in a new
/// dataset before this process uses it.
#[derive(Default)]
pub(crate) struct InFlight {
    writes: Mutex<HashMap<String, EntityKeys>>,
}

impl InFlight {
    pub(crate) fn track(&self, token: &str, keys: &EntityKeys) {
        self.lock().insert(token.to_owned(), keys.clone());
    }

    pub(crate) fn untrack(&self, token: &str) {
        self.lock().remove(token);
    }

    fn snapshot(&self) -> Vec<(String, EntityKeys)> {
        self.lock()
            .iter()
            .map(|(t, k)| (t.clone(), k.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, EntityKeys>> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The current link (if any), its keeper's wake-up, and what the keeper needs.
pub(crate) struct Links {
    target: Target,
    current: RwLock<Option<Link>>,
    broken: Notify,
    ready: Notify,
    next_id: AtomicU64,
    last_generation: Mutex<Option<Arc<str>>>,
    pub(crate) in_flight: InFlight,
    marker: String,
    channel: String,
    op_timeout: Duration,
    connect_timeout: Duration,
    write_ttl: Duration,
    restart_grace: Duration,
    counters: Arc<Counters>,
}

impl Links {
    pub(crate) fn new(
        target: Target,
        config: &CacheConfig,
        channel: String,
        counters: Arc<Counters>,
    ) -> Self {
        Links {
            target,
            current: RwLock::new(None),
            broken: Notify::new(),
            ready: Notify::new(),
            next_id: AtomicU64::new(1),
            last_generation: Mutex::new(None),
            in_flight: InFlight::default(),
            marker: marker_key(&config.app_prefix),
            channel,
            op_timeout: config.op_timeout,
            connect_timeout: config.connect_timeout,
            write_ttl: config.write_ttl,
            restart_grace: config.restart_grace,
            counters,
        }
    }

    /// The dataset marker's key (`<app>dataset`).
    pub(crate) fn marker(&self) -> &str {
        &self.marker
    }

    /// The current link, `None` while there is none (never connected, or broken and not yet
    /// re-established and verified).
    pub(crate) fn current(&self) -> Option<Link> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks `link` broken (an I/O error, a dropped or refused connection): it is no longer
    /// handed out, and the keeper reconnects and verifies a new one.
    pub(crate) fn broken(&self, link: &Link) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| c.id == link.id) {
            *current = None;
            drop(current);
            self.broken.notify_one();
        }
    }

    /// Waits until a link is up, at most `timeout`.
    pub(crate) async fn wait_ready(&self, timeout: Duration) {
        let ready = self.ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        if self.current().is_none() {
            let _ = tokio::time::timeout(timeout, ready).await;
        }
    }

    /// Retires the link `id` if it is the current one (a node of it disconnected).
    fn retire(&self, id: u64) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| c.id == id) {
            *current = None;
            drop(current);
            self.broken.notify_one();
        }
    }

    /// Whether `link` is still the current link (not retired since it was handed out).
    pub(crate) fn is_current(&self, link: &Link) -> bool {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|c| c.id == link.id)
    }

    /// Whether this handle talks to a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        self.target.is_cluster()
    }

    fn install(&self, link: Link) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(link);
        self.ready.notify_waiters();
    }

    /// Connects and verifies a new link: reads the server's `run_id` (on a cluster: the
    /// primaries' fingerprint), adopts or starts the dataset generation, and — when the
    /// generation is not the one this process used last — re-registers this process's writes
    /// in flight in it before anyone uses it.
    async fn connect(self: &Arc<Self>) -> Result<Link, String> {
        let client = match &self.target {
            Target::Single(client) => client,
            Target::Cluster(seeds) => return self.connect_cluster(seeds).await,
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.op_timeout));
        let mut conn = self
            .within(
                self.connect_timeout + self.op_timeout,
                client.get_multiplexed_async_connection_with_config(&config),
            )
            .await?;
        let info: String = self
            .within(
                self.op_timeout,
                redis::cmd("INFO").arg("server").query_async(&mut conn),
            )
            .await?;
        let run_id = cluster::info_field(&info, "run_id")
            .ok_or("INFO server has no run_id")?
            .to_owned();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.adopt(Conn::Single(conn), &run_id, id, None).await
    }

    /// [`connect`](Self::connect) on a cluster: a cluster connection that never retries or
    /// follows a redirect by itself (`retries(0)`: a topology change surfaces as an error and
    /// retires the link), whose node disconnections retire it at once (RESP3 push), verified
    /// by the primaries' fingerprint.
    async fn connect_cluster(
        self: &Arc<Self>,
        seeds: &[redis::ConnectionInfo],
    ) -> Result<Link, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let dead = Arc::new(AtomicBool::new(false));
        let on_push = {
            let links: Weak<Links> = Arc::downgrade(self);
            let dead = dead.clone();
            move |push: PushInfo| -> Result<(), std::convert::Infallible> {
                if push.kind == PushKind::Disconnection {
                    dead.store(true, Ordering::Release);
                    if let Some(links) = links.upgrade() {
                        links.retire(id);
                    }
                }
                Ok(())
            }
        };
        let client = ClusterClientBuilder::new(seeds.to_vec())
            .retries(0)
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.op_timeout)
            .use_protocol(ProtocolVersion::RESP3)
            .push_sender(on_push)
            .build()
            .map_err(|e| e.to_string())?;
        let mut conn = self
            .within(
                self.connect_timeout + self.op_timeout,
                client.get_async_connection(),
            )
            .await?;
        let topology: Topology = self
            .within(self.op_timeout * 2, cluster::topology(&mut conn))
            .await?;
        let node_timeout =
            tokio::time::timeout(self.op_timeout, cluster::node_timeout_ms(&mut conn))
                .await
                .ok()
                .flatten()
                .map(Duration::from_millis)
                .unwrap_or(ASSUMED_NODE_TIMEOUT);
        let view = Arc::new(ClusterLink {
            primaries: topology.primaries.clone(),
            fingerprint: topology.fingerprint.clone(),
            verified_ms: AtomicU64::new(now_ms()),
            trusted_for: node_timeout / 2,
            dead,
        });
        let run_id = format!(
            "cluster:{:016x}",
            super::codec::fnv1a(topology.fingerprint.as_bytes(), super::codec::FNV_OFFSET)
        );
        self.adopt(Conn::Cluster(conn), &run_id, id, Some(view))
            .await
    }

    /// Runs the dataset script on `conn` and builds the link (re-registering writes in flight
    /// when the generation is new to this process).
    async fn adopt(
        &self,
        mut conn: Conn,
        run_id: &str,
        id: u64,
        cluster: Option<Arc<ClusterLink>>,
    ) -> Result<Link, String> {
        let candidate = format!("{:016x}", rand::random::<u64>());
        let (generation, born_ms, now_ms): (String, i64, i64) = self
            .within(
                self.op_timeout,
                DATASET
                    .key(&self.marker)
                    .arg(run_id)
                    .arg(&candidate)
                    .arg(MARKER_TTL.as_millis() as u64)
                    .invoke_async(&mut conn),
            )
            .await?;
        let generation: Arc<str> = Arc::from(generation);
        let is_new = {
            let last = self
                .last_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            last.as_deref() != Some(&*generation)
        };
        if is_new {
            for (token, keys) in self.in_flight.snapshot() {
                let _: i64 = self
                    .within(
                        self.op_timeout,
                        scripts::begin_write(
                            &keys,
                            &token,
                            self.write_ttl.as_millis() as u64,
                            &self.channel,
                        )
                        .invoke_async(&mut conn),
                    )
                    .await?;
            }
            let previous = self
                .last_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .replace(generation.clone());
            if previous.is_some() {
                Counters::inc(&self.counters.dataset_changes);
                tracing::warn!(
                    run_id,
                    generation = &*generation,
                    "dbpat cache: Redis holds another dataset than before (restart, restore \
                     or failover); values cached before are ignored"
                );
            }
        }
        let young_ms = (born_ms + self.restart_grace.as_millis() as i64 - now_ms).max(0);
        Ok(Link {
            conn,
            generation,
            fills_from: Instant::now() + Duration::from_millis(young_ms as u64),
            id,
            cluster,
        })
    }

    /// Checks a live link: the marker still names its generation. `Err(true)`: the link is
    /// broken; `Err(false)`: no answer in time (a frozen or slow server), keep it.
    async fn heartbeat(&self, link: &Link) -> Result<(), bool> {
        let mut conn = link.conn.clone();
        let answer: RedisResult<Option<String>> = match tokio::time::timeout(
            self.op_timeout,
            HEARTBEAT_SCRIPT
                .key(&self.marker)
                .arg(MARKER_TTL.as_millis() as u64)
                .invoke_async(&mut conn),
        )
        .await
        {
            Ok(answer) => answer,
            Err(_) => return Err(false),
        };
        match answer {
            Ok(Some(g)) if *g == *link.generation => match &link.cluster {
                None => Ok(()),
                Some(view) => self.reverify(link, view).await,
            },
            Ok(_) => {
                // The marker vanished or changed under a live connection (FLUSHALL, an
                // eviction): verify again, which starts a new generation.
                tracing::warn!("dbpat cache: the Redis dataset marker changed; re-verifying");
                Err(true)
            }
            Err(e)
                if is_outage(&e) || (link.cluster.is_some() && cluster::is_topology_error(&e)) =>
            {
                Err(true)
            }
            Err(_) => Ok(()),
        }
    }

    /// A cluster link's heartbeat: the primaries are still the ones it verified (else the
    /// link is broken: a failover or a restart happened, and a new generation must start).
    async fn reverify(&self, link: &Link, view: &ClusterLink) -> Result<(), bool> {
        let Conn::Cluster(conn) = &link.conn else {
            return Ok(());
        };
        if view.is_dead() {
            return Err(true);
        }
        let mut conn = conn.clone();
        match tokio::time::timeout(self.op_timeout, cluster::topology(&mut conn)).await {
            Err(_) => Err(false),
            Ok(Ok(t)) if t.fingerprint == view.fingerprint => {
                view.verified_now();
                Ok(())
            }
            Ok(Ok(_)) => {
                tracing::warn!("dbpat cache: the Redis Cluster's primaries changed; re-verifying");
                Err(true)
            }
            Ok(Err(err)) => {
                tracing::warn!(%err, "dbpat cache: Redis Cluster topology not verified");
                Err(true)
            }
        }
    }

    async fn within<T, F>(&self, limit: Duration, fut: F) -> Result<T, String>
    where
        F: std::future::Future<Output = RedisResult<T>>,
    {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("timed out after {limit:?}")),
        }
    }
}

/// Whether an error says the server is unreachable (as opposed to a reply error about one
/// key or one script).
pub(crate) fn is_outage(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

/// `<app>dataset`: the dataset marker.
fn marker_key(app_prefix: &str) -> String {
    KeyText::new(app_prefix).segment("dataset").finish()
}

/// Keeps a verified link up: reconnects after a break (20 ms .. 200 ms apart), and checks a
/// live link every [`HEARTBEAT`].
pub(crate) async fn keep_link(links: Arc<Links>) {
    let mut backoff = Duration::from_millis(20);
    loop {
        match links.current() {
            None => match links.connect().await {
                // A node of it disconnected while it was being verified: start over.
                Ok(link) if link.cluster.as_ref().is_some_and(|c| c.is_dead()) => {
                    tokio::time::sleep(backoff).await;
                }
                Ok(link) => {
                    backoff = Duration::from_millis(20);
                    links.install(link);
                }
                Err(err) => {
                    tracing::debug!(%err, "dbpat cache: Redis connection not verified yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
            },
            Some(link) => {
                tokio::select! {
                    _ = links.broken.notified() => {}
                    _ = tokio::time::sleep(HEARTBEAT) => {
                        if let Err(true) = links.heartbeat(&link).await {
                            links.broken(&link);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_key_follows_the_app_prefix() {
        assert_eq!(marker_key("app:"), "app:dataset");
        assert_eq!(marker_key(""), "dataset");
    }
}
