//! [`PrivateCluster`]: a Redis Cluster of one test (6 nodes: 3 primaries, 3 replicas, started by
//! `scripts/redis-cluster` in a temporary directory on free ports), whose primaries the test may
//! `kill -9`. The drop guard stops every node (`scripts/redis-cluster stop`). Never the shared
//! cluster of `scripts/services`.

use dbpat::cache::redis;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis-cluster");

/// A private Redis Cluster (see the module docs).
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    base: u16,
    urls: Vec<String>,
}

impl PrivateCluster {
    /// Starts the 6 nodes and waits until the cluster is healthy (about 2.5 s).
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dbpat-private-cluster-")
            .tempdir()
            .expect("a temporary directory for the private cluster");
        let base = free_base();
        let out = Command::new(SCRIPT)
            .arg("start")
            .arg(dir.path().join("nodes"))
            .arg(base.to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
        assert!(
            out.status.success(),
            "{SCRIPT} start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let urls = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let cluster = PrivateCluster { dir, base, urls };
        cluster.wait_replicas_synced();
        cluster
    }

    /// Blocks until every replica's link to its primary is up (a replica that never synced
    /// cannot be promoted).
    fn wait_replicas_synced(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            let up = (self.base..self.base + 6)
                .filter_map(|port| {
                    let out = Command::new("redis-cli")
                        .args(["-p", &port.to_string(), "info", "replication"])
                        .output()
                        .ok()?;
                    Some(String::from_utf8_lossy(&out.stdout).into_owned())
                })
                .filter(|info| info.contains("master_link_status:up"))
                .count();
            if up == 3 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the private cluster's replicas did not sync within 15 s");
    }

    /// The seed URLs (every node).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    fn node_dir(&self, port: u16) -> PathBuf {
        self.dir.path().join("nodes").join(port.to_string())
    }

    /// The ports of the nodes that answer and say `role:master`.
    pub async fn primaries(&self) -> Vec<u16> {
        let mut out = Vec::new();
        for port in self.base..self.base + 6 {
            if let Some(info) = info(port, "replication").await {
                if info.contains("role:master") {
                    out.push(port);
                }
            }
        }
        out
    }

    /// The port of the primary that serves `key` now.
    pub async fn owner_of(&self, key: &str) -> u16 {
        for port in self.primaries().await {
            let Some(mut conn) = connect(port).await else {
                continue;
            };
            let got: redis::RedisResult<redis::Value> =
                redis::cmd("EXISTS").arg(key).query_async(&mut conn).await;
            if got.is_ok() {
                return port;
            }
        }
        panic!("no primary of the private cluster serves {key}");
    }

    /// `kill -9` of the node on `port`.
    pub fn kill9(&self, port: u16) {
        let pid = std::fs::read_to_string(self.node_dir(port).join("redis.pid"))
            .expect("the node's pid file");
        let status = Command::new("kill")
            .arg("-9")
            .arg(pid.trim())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -9 {pid} failed");
    }

    /// Waits until a node other than `dead` says the cluster is ok again with `dead`'s slots
    /// served by another primary; how long that took (at most `limit`).
    pub async fn wait_failover(&self, dead: u16, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < limit {
            let mut ok = false;
            for port in (self.base..self.base + 6).filter(|&p| p != dead) {
                if let Some(info) = cluster_info(port).await {
                    ok = info.contains("cluster_state:ok");
                    break;
                }
            }
            if ok && self.primaries().await.len() == 3 {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT)
            .arg("stop")
            .arg(self.dir.path().join("nodes"))
            .output();
    }
}

async fn connect(port: u16) -> Option<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_response_timeout(Some(Duration::from_millis(500)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .ok()
}

async fn info(port: u16, section: &str) -> Option<String> {
    let mut conn = connect(port).await?;
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await
        .ok()
}

async fn cluster_info(port: u16) -> Option<String> {
    let mut conn = connect(port).await?;
    redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut conn)
        .await
        .ok()
}

/// A base port whose 6 client ports and 6 bus ports (+10000) are free now.
fn free_base() -> u16 {
    for _ in 0..100 {
        let base = 20_000 + (rand::random::<u16>() % 9_000);
        let free = (base..base + 6)
            .flat_map(|p| [p, p + 10_000])
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no 6 free consecutive ports (and bus ports) for a private Redis Cluster");
}
