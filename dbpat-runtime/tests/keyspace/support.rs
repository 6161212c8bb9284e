//! Shared helpers of the keyspace integration tests (every submodule of `main.rs`).

use dbpat_runtime::keyspace::KeyBuilder;
use dbpat_runtime::testing::{redis_url, TestRedis};
use redis::aio::ConnectionManager;

/// The test's key builder: the TestRedis prefix, so cleanup removes everything written.
pub fn keys(redis: &TestRedis) -> KeyBuilder {
    KeyBuilder::with_prefix(redis.prefix()).expect("TestRedis prefix is a valid key prefix")
}

/// A client for the test Redis (for Pub/Sub and independent connections).
pub fn client() -> redis::Client {
    redis::Client::open(redis_url()).expect("valid redis url")
}

/// A fresh connection of its own (a separate TCP connection, unlike cloning a manager), so
/// concurrent clients really race on the server.
pub async fn own_connection() -> ConnectionManager {
    ConnectionManager::new(client())
        .await
        .expect("redis reachable")
}

/// PTTL of a key in milliseconds (-2 missing, -1 no expiry).
pub async fn pttl(conn: &mut ConnectionManager, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

/// Whether a key exists.
pub async fn exists(conn: &mut ConnectionManager, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}
