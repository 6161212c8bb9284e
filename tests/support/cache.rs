//! Shared fixtures of the cache tests: a hand-written sqlx source over an `items` table with a
//! `version` column (the stand-in for the query layer's `find_by_id`), and handle builders.
#![allow(dead_code)]

use dbpat::cache::redis;
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

pub async fn raw_get(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

pub async fn raw_pttl(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
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
