// The hidden setup (`# ` lines) of the examples in docs/*.md and README.md, which
// src/docs.rs turns into doctests (`cargo test -p dbpat --doc`): the shop's models
// (examples/shop/models.rs), a fresh database holding their schema, a cache under a key
// prefix of its own, and row builders.
#![allow(dead_code, unused_imports)]

#[path = "../../examples/shop/models.rs"]
pub mod models;
#[path = "../../examples/shop/transfer.rs"]
pub mod transfer;

pub use chrono::{DateTime, Duration, TimeZone, Utc};
pub use dbpat::prelude::*;
pub use dbpat::{DbEnum, Entity, Error, Json};
pub use dbpat_runtime::testing::{TestDatabase, TestRedis};
pub use models::*;
pub use rust_decimal::Decimal;
pub use serde_json::json;
pub use uuid::Uuid;

/// A fresh database with the shop's schema, and this quarter's orders partition.
pub async fn database() -> TestDatabase {
    with_schema(TestDatabase::new().await).await
}

/// `db` with the shop's schema, and this quarter's orders partition.
pub async fn with_schema(db: TestDatabase) -> TestDatabase {
    let ddl = dbpat::ddl::render_schema(&[
        &User::TABLE,
        &Product::TABLE,
        &Order::TABLE,
        &Account::TABLE,
    ])
    .expect("the shop's schema renders");
    sqlx::raw_sql(&ddl)
        .execute(db.pool())
        .await
        .expect("the shop's schema applies");
    dbpat::tiers::Tiers::of::<Order>()
        .ensure_partitions(db.pool(), 1)
        .await
        .expect("this quarter's partition");
    db
}

/// A cache on the test Redis under a key prefix of this example's own (removed when the
/// returned `TestRedis` drops), with no restart grace: a fresh prefix is a dataset born now.
#[cfg(feature = "cache")]
pub async fn cache() -> (dbpat::cache::Cache, TestRedis) {
    let redis = TestRedis::new().await;
    let mut config = dbpat::cache::CacheConfig::new(redis.prefix());
    config.restart_grace = std::time::Duration::ZERO;
    let client = dbpat::redis::Client::open(dbpat_runtime::testing::redis_url()).unwrap();
    (dbpat::cache::Cache::connect(client, config).await, redis)
}

pub fn user(email: &str) -> User {
    User {
        id: Uuid::nil(),
        email: email.to_owned(),
        name: email.split('@').next().unwrap_or(email).to_owned(),
        status: UserStatus::Active,
        metadata: Json(UserMetadata::default()),
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

pub fn product(name: &str, category: &str, cents: i64, attributes: serde_json::Value) -> Product {
    Product {
        id: Uuid::nil(),
        name: name.to_owned(),
        description: format!("{name}, a fine {category} product"),
        price: Decimal::new(cents, 2),
        category: category.to_owned(),
        attributes,
        stock: 10,
        version: 0,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

pub fn order(user_id: Uuid, status: OrderStatus, cents: i64) -> Order {
    Order {
        id: Uuid::nil(),
        user_id,
        status,
        total: Decimal::new(cents, 2),
        created_at: DateTime::UNIX_EPOCH,
    }
}

pub fn account(user_id: Uuid, balance: i64) -> Account {
    Account {
        id: Uuid::nil(),
        user_id,
        balance: Decimal::new(balance, 0),
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

/// A user with `n` orders (seeds for the relation examples).
pub async fn seed_users(pool: &sqlx::PgPool, users: usize, orders: usize) -> Vec<User> {
    let mut out = Vec::new();
    for i in 0..users {
        let u = User::insert(pool, &user(&format!("user{i}@example.com")))
            .await
            .unwrap();
        for j in 0..orders {
            let status = [OrderStatus::Paid, OrderStatus::Pending][j % 2];
            Order::insert(pool, &order(u.id, status, 1000 + 100 * j as i64))
                .await
                .unwrap();
        }
        out.push(u);
    }
    out
}

/// A URL that `scripts/services` wrote into `target/dbpat-services/<name>`.
fn service_file(name: &str) -> String {
    let path = format!("{}/target/dbpat-services/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}: run scripts/services"))
}

/// The seed URLs of the shared test Redis Cluster (`scripts/services`: 127.0.0.1:7101..7106).
pub fn cluster_seeds() -> Vec<String> {
    let text = std::env::var("DBPAT_TEST_REDIS_CLUSTER_URLS")
        .unwrap_or_else(|_| service_file("redis-cluster.url"));
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Removes every key under `prefix` from every primary of the test cluster.
#[cfg(feature = "keyspace")]
pub async fn clean_cluster(seeds: &[String], prefix: &str) {
    use dbpat::keyspace::{scan_keys, ScanOptions};
    let client = dbpat::redis::cluster::ClusterClient::new(seeds.to_vec()).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let pattern = format!("{prefix}*");
    for key in scan_keys(&mut conn, &pattern, ScanOptions::default()).await.unwrap() {
        let _: i64 = dbpat::redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
    }
}

/// A fresh database with the shop's schema on the private primary of `scripts/services`
/// (127.0.0.1:5441), and its URLs on the primary and on the streaming replica (:5442), once the
/// replica has replayed the schema.
pub async fn replicated_database() -> (TestDatabase, String, String) {
    let (primary, replica) = (service_file("pg-primary.url"), service_file("pg-replica.url"));
    let db = with_schema(TestDatabase::on_server(primary.trim(), 5).await).await;
    let on = |server: &str| format!("{}/{}", server.trim().rsplit_once('/').unwrap().0, db.name());
    let (primary_url, replica_url) = (on(&primary), on(&replica));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&replica_url).await {
            let n: Result<i64, _> =
                sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'users'")
                    .fetch_one(&mut conn)
                    .await;
            if n.ok() == Some(1) {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the replica did not replay the schema in 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    (db, primary_url, replica_url)
}
