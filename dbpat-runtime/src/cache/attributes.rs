//! Attribute keys of a row (`<entity>:<id>:<attribute>`): [`EntityCache::put_attribute`],
//! [`EntityCache::get_attribute`] and the sweep that removes them when the row is deleted
//! (on a Redis Cluster, the `SCAN` of [`AttributeSweep::Scan`] visits every primary).

use super::cluster;
use super::config::AttributeSweep;
use super::conn::Conn;
use super::handle::EntityCache;
use super::key::EntityKeys;
use super::link::Link;
use super::metrics::Counters;
use super::scripts::{PUT_ATTRIBUTE, SWEEP_TRACKED};
use super::source::CacheEntity;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::AsyncCommands;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

impl<E: CacheEntity> EntityCache<E> {
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
        let Some(link) = c.read_link() else {
            return;
        };
        let mut conn = link.conn.clone();
        let _: Option<i64> = c
            .redis(&link, "put_attribute", async {
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
        let link = c.read_link()?;
        let mut conn = link.conn.clone();
        let bytes: Vec<u8> = c
            .redis(&link, "get_attribute", conn.get::<_, Option<Vec<u8>>>(&key))
            .await??;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(_) => {
                Counters::inc(&self.counters().decode_errors);
                None
            }
        }
    }

    /// Removes the attribute keys of a deleted row (always tried, like a write).
    pub(super) async fn sweep_attributes(&self, keys: &EntityKeys) {
        let c = self.c();
        let Ok(link) = c.write_link() else {
            return;
        };
        let mut conn = link.conn.clone();
        let _: Option<i64> = c
            .redis(&link, "sweep_tracked", async {
                SWEEP_TRACKED
                    .key(&keys.subkeys)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
        if c.config.attribute_sweep == AttributeSweep::Scan {
            match (&link.conn, &link.cluster) {
                (Conn::Cluster(conn), Some(view)) => {
                    // Every primary: while a slot migrates its keys live on two of them.
                    for node in &view.primaries {
                        if !self.scan_and_unlink(&link, keys, Some((conn, node))).await {
                            return;
                        }
                    }
                }
                _ => {
                    self.scan_and_unlink(&link, keys, None).await;
                }
            }
        }
    }
}

impl<E: CacheEntity> EntityCache<E> {
    /// `SCAN MATCH <entity>:<id>:*` over one server (`node` is `None`) or one cluster node,
    /// unlinking what it finds (per slot on a cluster). `false` if Redis stopped answering.
    async fn scan_and_unlink(
        &self,
        link: &Link,
        keys: &EntityKeys,
        node: Option<(&ClusterConnection, &(String, u16))>,
    ) -> bool {
        let c = self.c();
        let pattern = &keys.attribute_pattern;
        let mut cursor: u64 = 0;
        loop {
            let mut conn = link.conn.clone();
            let page: Option<(u64, Vec<String>)> = match node {
                None => {
                    c.redis(link, "scan", async {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(1000)
                            .query_async(&mut conn)
                            .await
                    })
                    .await
                }
                Some((cluster, addr)) => {
                    let mut cluster = cluster.clone();
                    c.redis(
                        link,
                        "scan",
                        cluster::scan_node(&mut cluster, addr, cursor, pattern, 1000),
                    )
                    .await
                }
            };
            let Some((next, found)) = page else {
                return false;
            };
            // One UNLINK per page on a server; per slot on a cluster (keys of one command
            // must share a slot).
            let groups: Vec<Vec<String>> = if node.is_none() {
                vec![found]
            } else {
                let mut by_slot: HashMap<Slot, Vec<String>> = HashMap::new();
                for key in found {
                    by_slot.entry(cluster::slot_of(&key)).or_default().push(key);
                }
                by_slot.into_values().collect()
            };
            for found in groups.into_iter().filter(|g| !g.is_empty()) {
                let mut conn = link.conn.clone();
                let _: Option<i64> = c.redis(link, "unlink", conn.unlink(&found)).await;
            }
            if next == 0 {
                return true;
            }
            cursor = next;
        }
    }
}
