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

use super::config::CacheConfig;
use super::key::EntityKeys;
use super::metrics::Counters;
use super::scripts::{self, DATASET, HEARTBEAT as HEARTBEAT_SCRIPT};
use crate::redis_key::KeyText;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How often the keeper checks a live link (and the dataset marker behind it).
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(200);

/// Lifetime of the dataset marker, refreshed by every heartbeat.
const MARKER_TTL: Duration = Duration::from_secs(24 * 3600);

/// One verified connection to one Redis dataset.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) conn: MultiplexedConnection,
    /// The dataset generation (16 hex digits) every value written through this link carries.
    pub(crate) generation: Arc<str>,
    /// No reader fills before this instant (the restart grace of a young generation).
    fills_from: Instant,
    id: u64,
}

impl Link {
    /// Whether readers may fill the cache (the dataset is older than the restart grace).
    pub(crate) fn fills_allowed(&self) -> bool {
        Instant::now() >= self.fills_from
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
    client: redis::Client,
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
        client: redis::Client,
        config: &CacheConfig,
        channel: String,
        counters: Arc<Counters>,
    ) -> Self {
        Links {
            client,
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

    fn install(&self, link: Link) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(link);
        self.ready.notify_waiters();
    }

    /// Connects and verifies a new link: reads the server's `run_id`, adopts or starts the
    /// dataset generation, and — when the generation is not the one this process used last —
    /// re-registers this process's writes in flight in it before anyone uses it.
    async fn connect(&self) -> Result<Link, String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.op_timeout));
        let mut conn = self
            .within(
                self.connect_timeout + self.op_timeout,
                self.client
                    .get_multiplexed_async_connection_with_config(&config),
            )
            .await?;
        let info: String = self
            .within(
                self.op_timeout,
                redis::cmd("INFO").arg("server").query_async(&mut conn),
            )
            .await?;
        let run_id = info
            .lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .map(str::trim)
            .ok_or("INFO server has no run_id")?
            .to_owned();
        self.adopt(conn, &run_id).await
    }

    /// Runs the dataset script on `conn` and builds the link (re-registering writes in flight
    /// when the generation is new to this process).
    async fn adopt(&self, mut conn: MultiplexedConnection, run_id: &str) -> Result<Link, String> {
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
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
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
            Ok(Some(g)) if *g == *link.generation => Ok(()),
            Ok(_) => {
                // The marker vanished or changed under a live connection (FLUSHALL, an
                // eviction): verify again, which starts a new generation.
                tracing::warn!("dbpat cache: the Redis dataset marker changed; re-verifying");
                Err(true)
            }
            Err(e) if is_outage(&e) => Err(true),
            Err(_) => Ok(()),
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
