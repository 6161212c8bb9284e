//! [`KeyspaceConnection`]: the connections the keyspace blocks run on, a single node or a
//! Redis Cluster.
//!
//! Most commands need nothing more than [`ConnectionLike`]: on a cluster connection
//! (`redis::cluster_async::ClusterConnection`) the client routes each command by its key's slot,
//! and every multi-key script or transaction of the blocks keeps its keys in one slot (see
//! [`ensure_same_slot`](super::key::ensure_same_slot)). Two things differ on a cluster and need
//! to know the deployment:
//!
//! * `SCAN` covers one node, so [`scan_keys`](super::scan_keys) runs it on every primary
//!   ([`KeyspaceConnection::primaries`], [`KeyspaceConnection::query_on`]);
//! * a sharded [`Channel`](super::Channel) publishes with `SPUBLISH` on a cluster
//!   ([`KeyspaceConnection::is_cluster`]).
//!
//! The trait is implemented for `ConnectionManager`, `MultiplexedConnection` and
//! `ClusterConnection`.

use super::error::{KeyspaceError, Result};
use crate::redis_key::hash_slot;
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, RedisResult, Value};
use std::future::Future;

/// A primary of a Redis Cluster and the slot ranges it serves (inclusive bounds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primary {
    /// The node's host as the cluster announces it (`CLUSTER SLOTS`).
    pub host: String,
    /// The node's port.
    pub port: u16,
    /// The slot ranges `start..=end` this primary owns.
    pub slots: Vec<(u16, u16)>,
}

impl Primary {
    /// Whether `slot` (see [`hash_slot`](super::hash_slot)) is served by this primary.
    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A Redis connection the keyspace blocks accept: a single node or a Redis Cluster.
pub trait KeyspaceConnection: ConnectionLike + Clone + Send + Sync + 'static {
    /// Whether this connection talks to a Redis Cluster.
    fn is_cluster(&self) -> bool;

    /// The cluster's primaries (sorted by address); empty on a single node.
    fn primaries(&mut self) -> impl Future<Output = Result<Vec<Primary>>> + Send;

    /// Runs `cmd` on `node` (a primary from [`KeyspaceConnection::primaries`]), or on the
    /// connected server when `node` is `None` (the only choice on a single node).
    fn query_on<'a>(
        &'a mut self,
        node: Option<&'a Primary>,
        cmd: &'a Cmd,
    ) -> impl Future<Output = RedisResult<Value>> + Send + 'a;

    /// Runs the keyless `cmd` on the primary that owns `key`'s slot (the connected server on a
    /// single node): for commands such as `WAIT` that concern the writes just made there.
    fn query_at_key<'a>(
        &'a mut self,
        key: &'a str,
        cmd: &'a Cmd,
    ) -> impl Future<Output = RedisResult<Value>> + Send + 'a;
}

macro_rules! single_node {
    ($ty:ty) => {
        impl KeyspaceConnection for $ty {
            fn is_cluster(&self) -> bool {
                false
            }

            async fn primaries(&mut self) -> Result<Vec<Primary>> {
                Ok(Vec::new())
            }

            fn query_on<'a>(
                &'a mut self,
                _node: Option<&'a Primary>,
                cmd: &'a Cmd,
            ) -> impl Future<Output = RedisResult<Value>> + Send + 'a {
                cmd.query_async(self)
            }

            fn query_at_key<'a>(
                &'a mut self,
                _key: &'a str,
                cmd: &'a Cmd,
            ) -> impl Future<Output = RedisResult<Value>> + Send + 'a {
                cmd.query_async(self)
            }
        }
    };
}

single_node!(ConnectionManager);
single_node!(MultiplexedConnection);

impl KeyspaceConnection for ClusterConnection {
    fn is_cluster(&self) -> bool {
        true
    }

    async fn primaries(&mut self) -> Result<Vec<Primary>> {
        let reply = self
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        parse_cluster_slots(reply)
    }

    async fn query_on<'a>(
        &'a mut self,
        node: Option<&'a Primary>,
        cmd: &'a Cmd,
    ) -> RedisResult<Value> {
        match node {
            Some(p) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: p.host.clone(),
                    port: p.port,
                });
                self.route_command(cmd.clone(), routing).await
            }
            // The client's own routing: by the command's key, or any node.
            None => cmd.query_async(self).await,
        }
    }

    fn query_at_key<'a>(
        &'a mut self,
        key: &'a str,
        cmd: &'a Cmd,
    ) -> impl Future<Output = RedisResult<Value>> + Send + 'a {
        let route = Route::new(hash_slot(key), SlotAddr::Master);
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
        self.route_command(cmd.clone(), routing)
    }
}

/// The primaries of a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...], replicas...], ...]`.
pub(crate) fn parse_cluster_slots(reply: Value) -> Result<Vec<Primary>> {
    let bad = |what: &str| KeyspaceError::UnexpectedReply(format!("CLUSTER SLOTS: {what}"));
    let Value::Array(ranges) = reply else {
        return Err(bad("not an array"));
    };
    let mut primaries: Vec<Primary> = Vec::new();
    for range in ranges {
        let Value::Array(items) = range else {
            return Err(bad("a range is not an array"));
        };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(node))) =
            (items.first(), items.get(1), items.get(2))
        else {
            return Err(bad("a range lacks start, end or primary"));
        };
        let slot = |n: i64| u16::try_from(n).map_err(|_| bad("slot out of range"));
        let (start, end) = (slot(*start)?, slot(*end)?);
        let host: String = match node.first() {
            Some(v) => redis::from_redis_value_ref(v)?,
            None => return Err(bad("a primary without host")),
        };
        let port = match node.get(1) {
            Some(Value::Int(p)) => u16::try_from(*p).map_err(|_| bad("port out of range"))?,
            _ => return Err(bad("a primary without port")),
        };
        match primaries
            .iter_mut()
            .find(|p| p.host == host && p.port == port)
        {
            Some(p) => p.slots.push((start, end)),
            None => primaries.push(Primary {
                host,
                port,
                slots: vec![(start, end)],
            }),
        }
    }
    primaries.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
    Ok(primaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    #[test]
    fn cluster_slots_reply_gives_one_primary_per_node() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("10.0.0.1", 7001),
                node("10.0.0.4", 7004),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                node("10.0.0.2", 7002),
            ]),
            Value::Array(vec![
                Value::Int(10923),
                Value::Int(16000),
                node("10.0.0.1", 7001),
            ]),
            Value::Array(vec![
                Value::Int(16001),
                Value::Int(16383),
                node("10.0.0.3", 7003),
            ]),
        ]);
        let p = parse_cluster_slots(reply).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].address(), "10.0.0.1:7001");
        assert_eq!(p[0].slots, vec![(0, 5460), (10923, 16000)]);
        assert!(p[0].owns(12000) && !p[0].owns(6000));
        assert!(p[1].owns(6000));
        assert!(parse_cluster_slots(Value::Nil).is_err());
        assert!(
            parse_cluster_slots(Value::Array(vec![Value::Array(vec![Value::Int(0)])])).is_err()
        );
        let bad_slot = Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(70000),
            node("h", 1),
        ])]);
        assert!(parse_cluster_slots(bad_slot).is_err());
    }
}
