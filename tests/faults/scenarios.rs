//! The faults of issue 11 and when each is injected into the private Redis, relative to the
//! workers' common start (about 1.5 s of warm-up, the fault, then at least 2.5 s after it).

use crate::support::redis_cluster::PrivateCluster;
use crate::support::redis_server::PrivateRedis;
use crate::worker::now_us;
use dbpat::cache::redis;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every writer iteration also reads a key that holds a hash (`WRONGTYPE`), all run long.
    ReplyError,
    /// `DEBUG SLEEP 0.4` three times (past the 250 ms op timeout), 0.3 s apart.
    SlowReply,
    /// `SIGSTOP` for 4 s, then `SIGCONT`.
    Frozen,
    /// `kill -9`, then restarted empty on the same port 0.5 s later.
    RestartedEmpty,
    /// `SAVE` during the warm-up, 1.2 s more of writes, `kill -9`, restarted from that dump.
    RestartedFromOlderDump,
    /// A private Redis Cluster: `kill -9` of the primary that serves hot row 1; its replica
    /// takes over (`cluster-node-timeout` 1 s). Strict mode only.
    ClusterFailover,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::ReplyError,
        Fault::SlowReply,
        Fault::Frozen,
        Fault::RestartedEmpty,
        Fault::RestartedFromOlderDump,
        Fault::ClusterFailover,
    ];

    /// Whether the run uses a private Redis Cluster instead of a private server.
    pub fn on_cluster(self) -> bool {
        self == Fault::ClusterFailover
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::ReplyError => "reply-error",
            Fault::SlowReply => "slow-reply",
            Fault::Frozen => "frozen",
            Fault::RestartedEmpty => "restart-empty",
            Fault::RestartedFromOlderDump => "restart-old-dump",
            Fault::ClusterFailover => "cluster-failover",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Fault::ReplyError => "WRONGTYPE read in every writer iteration (always on)",
            Fault::SlowReply => "DEBUG SLEEP 0.4 x3, 0.3 s apart (op timeout 250 ms)",
            Fault::Frozen => "SIGSTOP 4 s, then SIGCONT",
            Fault::RestartedEmpty => "kill -9, restarted empty 0.5 s later",
            Fault::RestartedFromOlderDump => {
                "SAVE at 0.7 s, writes go on, kill -9 at 1.9 s, restarted from that dump"
            }
            Fault::ClusterFailover => {
                "Redis Cluster: kill -9 of hot row 1's primary at 1.5 s, its replica takes over"
            }
        }
    }

    /// How long the workers run.
    pub fn duration(self) -> Duration {
        Duration::from_millis(match self {
            Fault::ReplyError => 5_000,
            Fault::SlowReply => 6_000,
            Fault::Frozen => 8_000,
            Fault::RestartedEmpty => 6_000,
            Fault::RestartedFromOlderDump => 6_000,
            Fault::ClusterFailover => 7_000,
        })
    }
}

/// When the fault was on, µs since the epoch: from its injection until the server was back
/// to normal (thawed, restarted and answering, the last sleep answered).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: u64,
    pub end: u64,
}

async fn at(t0: u64, ms: u64) {
    let t = t0 + ms * 1000;
    tokio::time::sleep(Duration::from_micros(t.saturating_sub(now_us()))).await;
}

/// Makes `key` a hash, so every GET of it is a `WRONGTYPE` reply error.
pub async fn set_hash(server: &PrivateRedis, key: &str) {
    let mut conn = server.connection().await;
    let _: i64 = redis::cmd("HSET")
        .arg(key)
        .arg("not")
        .arg("a cached row")
        .query_async(&mut conn)
        .await
        .expect("HSET of the probe key");
}

/// Injects `fault` on the schedule, starting from the workers' start time `t0`; returns when
/// the fault is over.
pub async fn inject(fault: Fault, server: &mut PrivateRedis, t0: u64, probe_key: &str) -> Window {
    match fault {
        Fault::ClusterFailover => unreachable!("a cluster fault runs on a PrivateCluster"),
        Fault::ReplyError => Window {
            start: t0,
            end: t0 + fault.duration().as_micros() as u64,
        },
        Fault::SlowReply => {
            at(t0, 1_500).await;
            let start = now_us();
            for i in 0..3 {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                server.debug_sleep(Duration::from_millis(400)).await;
            }
            Window {
                start,
                end: now_us(),
            }
        }
        Fault::Frozen => {
            at(t0, 1_500).await;
            let start = now_us();
            server.freeze();
            at(t0, 5_500).await;
            server.thaw();
            Window {
                start,
                end: now_us(),
            }
        }
        Fault::RestartedEmpty => {
            at(t0, 1_500).await;
            let start = now_us();
            server.kill9();
            at(t0, 2_000).await;
            server.restart_empty().await;
            // The reply error stays on: the probe key is a hash again.
            set_hash(server, probe_key).await;
            Window {
                start,
                end: now_us(),
            }
        }
        Fault::RestartedFromOlderDump => {
            at(t0, 700).await;
            server.save_dump().await; // the dump also has the probe hash
            at(t0, 1_900).await;
            let start = now_us();
            server.kill9();
            server.restart_from_saved_dump().await;
            Window {
                start,
                end: now_us(),
            }
        }
    }
}

/// Makes `key` a hash on the cluster of `urls` (see [`set_hash`]).
pub async fn set_hash_on_cluster(urls: &[String], key: &str) {
    let mut conn = redis::cluster::ClusterClient::new(urls.to_vec())
        .expect("cluster URLs")
        .get_async_connection()
        .await
        .expect("a connection to the private cluster");
    let _: i64 = redis::cmd("HSET")
        .arg(key)
        .arg("not")
        .arg("a cached row")
        .query_async(&mut conn)
        .await
        .expect("HSET of the probe key");
}

/// [`Fault::ClusterFailover`]: at 1.5 s, `kill -9` of the primary serving `victim_key`;
/// the window ends when the cluster is whole again (a replica promoted). Returns the window
/// and the killed port.
pub async fn fail_over(cluster: &PrivateCluster, t0: u64, victim_key: &str) -> (Window, u16) {
    at(t0, 1_500).await;
    let victim = cluster.owner_of(victim_key).await;
    let start = now_us();
    cluster.kill9(victim);
    let took = cluster
        .wait_failover(victim, Duration::from_secs(10))
        .await
        .expect("the private cluster did not fail over within 10 s");
    println!(
        "faults: cluster-failover: killed the primary on port {victim}; the cluster was whole \
         again {} ms later",
        took.as_millis()
    );
    (
        Window {
            start,
            end: now_us(),
        },
        victim,
    )
}
