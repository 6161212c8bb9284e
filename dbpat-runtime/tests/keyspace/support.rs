//! Shared helpers of the keyspace integration tests (every submodule of `main.rs`).
//!
//! Most tests run twice through [`on_each_deployment!`]: once on the single Redis node
//! (`ConnectionManager`) and once on the shared Redis Cluster (`ClusterConnection`), each run
//! with its own key prefix ([`Backend`]), whose keys are removed afterwards by SCANning every
//! primary. The cluster's seed URLs come from `DBPAT_TEST_REDIS_CLUSTER_URLS` (comma or
//! whitespace separated) or from `target/dbpat-services/redis-cluster.url`, which
//! `scripts/services` writes; an unreachable cluster fails the test, it never skips.

use dbpat_runtime::keyspace::{
    scan_keys, Channel, KeyBuilder, KeyspaceConnection, Primary, ScanOptions, Subscription,
};
use dbpat_runtime::testing::redis_url;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

/// Runs the generic test body `name(backend)` as two tests, `name::single_node` and
/// `name::cluster`, with the given test attribute (`#[tokio::test]`, ...).
macro_rules! on_each_deployment {
    ($(#[$attr:meta])* fn $name:ident) => {
        mod $name {
            $(#[$attr])*
            async fn single_node() {
                super::$name(crate::support::single_node().await).await
            }
            $(#[$attr])*
            async fn cluster() {
                super::$name(crate::support::cluster().await).await
            }
        }
    };
}

const CLUSTER_HINT: &str = "run `scripts/services` from the repository root (it starts the \
shared 6-node Redis Cluster on 127.0.0.1:7101..7106 and writes its seed URLs to \
target/dbpat-services/redis-cluster.url), or set DBPAT_TEST_REDIS_CLUSTER_URLS";

/// Where a [`Backend`] connects.
#[derive(Debug, Clone)]
pub enum Target {
    /// One Redis server.
    Node(String),
    /// A Redis Cluster's seed URLs.
    Cluster(Vec<String>),
}

/// The seed URLs of the shared test cluster.
pub fn cluster_urls() -> Vec<String> {
    let text = match std::env::var("DBPAT_TEST_REDIS_CLUSTER_URLS") {
        Ok(v) => v,
        Err(_) => {
            let file = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/dbpat-services/redis-cluster.url"
            );
            std::fs::read_to_string(file).unwrap_or_else(|e| {
                panic!("no Redis Cluster URLs: cannot read {file}: {e}\nTo fix: {CLUSTER_HINT}")
            })
        }
    };
    let urls: Vec<String> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(
        !urls.is_empty(),
        "no Redis Cluster URLs given\nTo fix: {CLUSTER_HINT}"
    );
    urls
}

/// A connection type the tests run on: it can open a fresh connection to its [`Target`].
pub trait TestConn: KeyspaceConnection {
    /// A new, independent connection (its own TCP connections).
    fn open(target: &Target) -> impl Future<Output = Self> + Send;
}

impl TestConn for ConnectionManager {
    async fn open(target: &Target) -> Self {
        let Target::Node(url) = target else {
            panic!("a ConnectionManager needs a single-node target")
        };
        let client = redis::Client::open(url.as_str()).expect("valid redis url");
        ConnectionManager::new(client).await.unwrap_or_else(|e| {
            panic!("Redis is not reachable at {url}: {e}\nTo fix: run `scripts/services`")
        })
    }
}

impl TestConn for ClusterConnection {
    async fn open(target: &Target) -> Self {
        let Target::Cluster(urls) = target else {
            panic!("a ClusterConnection needs a cluster target")
        };
        let client = redis::cluster::ClusterClient::builder(urls.clone())
            .connection_timeout(Duration::from_secs(2))
            .build()
            .expect("valid cluster urls");
        client.get_async_connection().await.unwrap_or_else(|e| {
            panic!("Redis Cluster is not reachable at {urls:?}: {e}\nTo fix: {CLUSTER_HINT}")
        })
    }
}

/// One test's Redis: a connection (single node or cluster) and a key prefix of its own,
/// whose keys are deleted when the backend is dropped.
pub struct Backend<C> {
    target: Target,
    prefix: String,
    conn: C,
}

/// A backend on the single test Redis node.
pub async fn single_node() -> Backend<ConnectionManager> {
    Backend::open(Target::Node(redis_url())).await
}

/// A backend on the shared test Redis Cluster.
pub async fn cluster() -> Backend<ClusterConnection> {
    Backend::open(Target::Cluster(cluster_urls())).await
}

impl<C: TestConn> Backend<C> {
    async fn open(target: Target) -> Self {
        let conn = C::open(&target).await;
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Backend {
            target,
            prefix: format!("dbpat-test:{}:", &suffix[..16]),
            conn,
        }
    }

    /// The prefix every key of this test starts with (ends with `:`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The shared connection (cheap to clone).
    pub fn connection(&self) -> C {
        self.conn.clone()
    }

    /// A connection of its own, so concurrent clients really race on the server.
    pub async fn own_connection(&self) -> C {
        C::open(&self.target).await
    }

    /// Another backend on the same deployment, with a prefix of its own.
    pub async fn another(&self) -> Self {
        Self::open(self.target.clone()).await
    }

    /// Whether this backend is the cluster.
    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// `"single node"` or `"cluster"`, to label the figures a test prints.
    pub fn deployment(&self) -> &'static str {
        if self.is_cluster() {
            "cluster"
        } else {
            "single node"
        }
    }

    /// Subscribes to `channel` with a connection of its own.
    pub async fn subscribe<T: Serialize + DeserializeOwned>(
        &self,
        channel: &Channel<T>,
    ) -> Subscription<T> {
        match &self.target {
            Target::Node(url) => channel
                .subscribe(&redis::Client::open(url.as_str()).expect("valid redis url"))
                .await
                .expect("subscribed"),
            Target::Cluster(urls) => channel
                .subscribe_cluster(urls.clone())
                .await
                .expect("subscribed on the cluster"),
        }
    }

    /// The cluster's primaries (empty on a single node).
    pub async fn primaries(&self) -> Vec<Primary> {
        self.connection().primaries().await.expect("CLUSTER SLOTS")
    }
}

/// Deletes every key under `prefix`, on every primary of a cluster (SCAN + DEL per key, never
/// KEYS or FLUSH*).
async fn delete_prefix<C: KeyspaceConnection>(mut conn: C, prefix: &str) {
    let pattern = format!("{}*", dbpat_runtime::keyspace::key::glob_escape(prefix));
    let options = ScanOptions {
        count: 500,
        limit: 10_000,
    };
    for _ in 0..100 {
        let Ok(keys) = scan_keys(&mut conn, &pattern, options).await else {
            return;
        };
        if keys.is_empty() {
            return;
        }
        for key in keys {
            let _: Result<i64, _> = redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
        }
    }
}

impl<C> Drop for Backend<C> {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let target = self.target.clone();
        // Drop runs inside a runtime: clean up on a private thread with its own runtime.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(async move {
                    match &target {
                        Target::Node(_) => {
                            delete_prefix(ConnectionManager::open(&target).await, &prefix).await
                        }
                        Target::Cluster(_) => {
                            delete_prefix(ClusterConnection::open(&target).await, &prefix).await
                        }
                    }
                });
        })
        .join();
    }
}

/// The test's key builder: its prefix, so cleanup removes everything written.
pub fn keys<C: TestConn>(redis: &Backend<C>) -> KeyBuilder {
    KeyBuilder::with_prefix(redis.prefix()).expect("test prefix is a valid key prefix")
}

/// PTTL of a key in milliseconds (-2 missing, -1 no expiry).
pub async fn pttl<C: ConnectionLike + Send>(conn: &mut C, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

/// Whether a key exists.
pub async fn exists<C: ConnectionLike + Send>(conn: &mut C, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}
