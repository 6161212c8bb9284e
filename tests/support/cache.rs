//! Shared fixtures of the cache tests: a hand-written sqlx source over an `items` table with a
//! `version` column (the stand-in for the query layer's `find_by_id`), and handle builders.
#![allow(dead_code)]

use dbpat::cache::redis;
use dbpat::cache::redis::aio::ConnectionLike;
use dbpat::cache::{Cache, CacheConfig, CacheEntity, CacheSource, SourceCache};
use dbpat::model::{CachePolicy, CacheWrite};
use dbpat::testing::{self, TestDatabase};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub version: i64,
}

impl CacheEntity for Item {
    type Id = i64;
    fn cache_id(&self) -> i64 {
        self.id
    }
}

/// The database side, counting its calls.
#[derive(Clone)]
pub struct PgItems {
    pub pool: PgPool,
    /// `load` calls.
    pub loads: Arc<AtomicUsize>,
    /// `load_many` calls.
    pub batch_loads: Arc<AtomicUsize>,
    /// Extra latency of every load (to widen race windows).
    pub delay: Duration,
    /// Extra random latency of every load, up to this much.
    pub random_delay: Duration,
}

impl PgItems {
    pub fn new(pool: &PgPool) -> Self {
        PgItems {
            pool: pool.clone(),
            loads: Arc::default(),
            batch_loads: Arc::default(),
            delay: Duration::ZERO,
            random_delay: Duration::ZERO,
        }
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    pub fn batch_loads(&self) -> usize {
        self.batch_loads.load(Ordering::SeqCst)
    }
}

type Row = (i64, String, i64);

fn item((id, name, version): Row) -> Item {
    Item { id, name, version }
}

impl CacheSource<Item> for PgItems {
    async fn load(&self, id: &i64) -> Result<Option<Item>, dbpat::Error> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let extra = if self.random_delay.is_zero() {
            Duration::ZERO
        } else {
            self.random_delay.mul_f64(rand::random::<f64>())
        };
        if !(self.delay + extra).is_zero() {
            tokio::time::sleep(self.delay + extra).await;
        }
        let row: Option<Row> = sqlx::query_as("SELECT id, name, version FROM items WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(item))
    }

    async fn load_many(&self, ids: &[i64]) -> Result<Vec<Item>, dbpat::Error> {
        self.batch_loads.fetch_add(1, Ordering::SeqCst);
        let rows: Vec<Row> =
            sqlx::query_as("SELECT id, name, version FROM items WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(item).collect())
    }
}

pub const POLICY: CachePolicy = CachePolicy {
    key_prefix: "item",
    ttl_secs: 900,
    negative_ttl_secs: 60,
    write: CacheWrite::Invalidate,
    hash_tag: false,
};

pub const WRITE_THROUGH: CachePolicy = CachePolicy {
    write: CacheWrite::WriteThrough,
    ..POLICY
};

/// A fresh database with `items` rows `1..=rows` (`name = 'item-<id>'`, version 1).
pub async fn database(rows: i64) -> TestDatabase {
    let db = TestDatabase::new().await;
    sqlx::raw_sql(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         version BIGINT NOT NULL DEFAULT 1)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO items (id, name) SELECT g, 'item-' || g FROM generate_series(1, $1) g",
    )
    .bind(rows)
    .execute(db.pool())
    .await
    .unwrap();
    db
}

/// Test defaults: generous timeouts (a loaded CI machine must not trip the breaker), and no
/// restart grace (each test's key prefix is a dataset born at its start; the grace after a
/// Redis restart is proven by the `faults` test).
pub fn config(prefix: &str) -> CacheConfig {
    let mut c = CacheConfig::new(prefix);
    c.restart_grace = Duration::ZERO;
    c.op_timeout = Duration::from_secs(2);
    c.connect_timeout = Duration::from_secs(2);
    c
}

/// A `Cache` handle with its own Redis connections.
pub async fn handle_at(url: &str, config: CacheConfig) -> Cache {
    Cache::connect(redis::Client::open(url).unwrap(), config).await
}

pub async fn handle(prefix: &str) -> Cache {
    handle_at(&testing::redis_url(), config(prefix)).await
}

pub async fn items(prefix: &str, pool: &PgPool, policy: CachePolicy) -> SourceCache<Item, PgItems> {
    handle(prefix)
        .await
        .with_source(policy, PgItems::new(pool))
        .unwrap()
}

/// `UPDATE items SET name = $2, version = version + 1 ... RETURNING` (autocommit).
pub async fn update_name(pool: &PgPool, id: i64, name: &str) -> Result<Item, dbpat::Error> {
    let row: Row = sqlx::query_as(
        "UPDATE items SET name = $2, version = version + 1 WHERE id = $1 \
         RETURNING id, name, version",
    )
    .bind(id)
    .bind(name)
    .fetch_one(pool)
    .await?;
    Ok(item(row))
}

/// Raw access to the test Redis.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

pub async fn raw_get(conn: &mut impl ConnectionLike, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

pub async fn raw_pttl(conn: &mut impl ConnectionLike, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

/// Where a test's cache runs: the shared single Redis, or the shared Redis Cluster that
/// `scripts/services` starts (seed URLs in `target/dbpat-services/redis-cluster.url`, or
/// `DBPAT_TEST_REDIS_CLUSTER_URLS`, comma- or space-separated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Single,
    Cluster,
}

impl On {
    /// The id as written in a key: `1`, or `{1}` on a cluster (every key is hash-tagged).
    pub fn id(self, id: impl std::fmt::Display) -> String {
        match self {
            On::Single => id.to_string(),
            On::Cluster => format!("{{{id}}}"),
        }
    }
}

/// Runs a test body once on the single Redis and once on the Redis Cluster, as the tests
/// `<name>::single` and `<name>::cluster`: `on_both!(#[tokio::test] name(on) { ... });`.
#[allow(unused_macros)]
macro_rules! on_both {
    ($(#[$attr:meta])* $name:ident($on:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($on: crate::support::cache::On) $body
            $(#[$attr])*
            async fn single() {
                run(crate::support::cache::On::Single).await
            }
            $(#[$attr])*
            async fn cluster() {
                run(crate::support::cache::On::Cluster).await
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both;

const CLUSTER_HINT: &str = "run `scripts/services` from the repository root (it starts the \
                            local Redis Cluster on 7101..7106 and writes its seed URLs to \
                            target/dbpat-services/redis-cluster.url)";

/// The seed URLs of the shared Redis Cluster.
pub fn cluster_urls() -> Vec<String> {
    let text = match std::env::var("DBPAT_TEST_REDIS_CLUSTER_URLS") {
        Ok(v) => v,
        Err(_) => {
            let file = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/dbpat-services/redis-cluster.url"
            );
            std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("no Redis Cluster URLs in {file} ({e}): {CLUSTER_HINT}"))
        }
    };
    let urls: Vec<String> = text
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect();
    assert!(!urls.is_empty(), "no Redis Cluster URLs: {CLUSTER_HINT}");
    urls
}

/// A `Cache` handle with its own connections, on `on`. Panics (with what to run) if the
/// server or cluster is not reachable: these tests never skip.
pub async fn handle_on(on: On, config: CacheConfig) -> Cache {
    match on {
        On::Single => handle_at(&testing::redis_url(), config).await,
        On::Cluster => cluster_handle(&cluster_urls(), config).await,
    }
}

/// A handle on the cluster of `urls`, verified.
pub async fn cluster_handle(urls: &[String], config: CacheConfig) -> Cache {
    let cache = Cache::connect_cluster(urls.iter().map(String::as_str), config)
        .await
        .unwrap();
    assert!(cache.is_cluster());
    for _ in 0..100 {
        if cache.generation().is_some() {
            return cache;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Redis Cluster at {urls:?} is not reachable: {CLUSTER_HINT}");
}

pub async fn items_on(
    on: On,
    prefix: &str,
    pool: &PgPool,
    policy: CachePolicy,
) -> SourceCache<Item, PgItems> {
    handle_on(on, config(prefix))
        .await
        .with_source(policy, PgItems::new(pool))
        .unwrap()
}

/// Raw access to the single server or the cluster (commands routed by key).
#[derive(Clone)]
pub enum RawConn {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for RawConn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            RawConn::Single(c) => c.req_packed_command(cmd),
            RawConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            RawConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RawConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

pub async fn raw_on(on: On) -> RawConn {
    match on {
        On::Single => RawConn::Single(raw(&testing::redis_url()).await),
        On::Cluster => RawConn::Cluster(raw_cluster(&cluster_urls()).await),
    }
}

pub async fn raw_cluster(urls: &[String]) -> redis::cluster_async::ClusterConnection {
    redis::cluster::ClusterClient::new(urls.to_vec())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!("the Redis Cluster at {urls:?} is not reachable ({e}): {CLUSTER_HINT}")
        })
}

/// The URLs of the nodes that are primaries now (of the single server: itself).
pub async fn primaries(on: On) -> Vec<String> {
    match on {
        On::Single => vec![testing::redis_url()],
        On::Cluster => primaries_of(&cluster_urls()).await,
    }
}

pub async fn primaries_of(urls: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for url in urls {
        let Ok(client) = redis::Client::open(url.as_str()) else {
            continue;
        };
        let Ok(Ok(mut conn)) = tokio::time::timeout(
            Duration::from_secs(1),
            client.get_multiplexed_async_connection(),
        )
        .await
        else {
            continue;
        };
        let info: redis::RedisResult<String> = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await;
        if info.is_ok_and(|i| i.contains("role:master")) {
            out.push(url.clone());
        }
    }
    out
}

/// Every key under `prefix`, from every primary (SCAN, never KEYS).
pub async fn keys_under(on: On, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for url in primaries(on).await {
        let mut conn = raw(&url).await;
        let mut cursor: u64 = 0;
        loop {
            let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.extend(page);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    keys
}

/// A key prefix of one test on `on`; its keys are removed afterwards (on every primary).
pub struct TestKeys {
    pub on: On,
    prefix: String,
}

impl TestKeys {
    pub async fn new(on: On) -> Self {
        let prefix = format!("dbpat-test:{}:", uuid::Uuid::new_v4().simple());
        if on == On::Cluster {
            assert!(
                !primaries(on).await.is_empty(),
                "no Redis Cluster primary: {CLUSTER_HINT}"
            );
        }
        TestKeys { on, prefix }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub async fn cleanup(&self) {
        delete_under(self.on, &self.prefix).await;
    }
}

async fn delete_under(on: On, prefix: &str) {
    let keys = keys_under(on, prefix).await;
    let mut conn = raw_on(on).await;
    for key in keys {
        let _: redis::RedisResult<i64> =
            redis::cmd("UNLINK").arg(&key).query_async(&mut conn).await;
    }
}

impl Drop for TestKeys {
    fn drop(&mut self) {
        let (on, prefix) = (self.on, self.prefix.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(delete_under(on, &prefix));
        })
        .join();
    }
}

/// A row keyed by free text (a `TEXT` primary key), to check that ids with `:`, braces and glob
/// characters get keys of their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub id: String,
    pub name: String,
}

impl CacheEntity for Named {
    type Id = String;
    fn cache_id(&self) -> String {
        self.id.clone()
    }
}

/// The database side of [`Named`]: the `named_items` table, counting its `load` calls.
#[derive(Clone)]
pub struct PgNamed {
    pub pool: PgPool,
    pub loads: Arc<AtomicUsize>,
}

impl PgNamed {
    pub fn new(pool: &PgPool) -> Self {
        PgNamed {
            pool: pool.clone(),
            loads: Arc::default(),
        }
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

impl CacheSource<Named> for PgNamed {
    async fn load(&self, id: &String) -> Result<Option<Named>, dbpat::Error> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, name FROM named_items WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(id, name)| Named { id, name }))
    }

    async fn load_many(&self, ids: &[String]) -> Result<Vec<Named>, dbpat::Error> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, name FROM named_items WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| Named { id, name })
            .collect())
    }
}

/// A fresh database with an empty `named_items (id TEXT PRIMARY KEY, name TEXT)` table.
pub async fn named_database() -> TestDatabase {
    let db = TestDatabase::new().await;
    sqlx::raw_sql("CREATE TABLE named_items (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
    db
}
