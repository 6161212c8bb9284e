//! [`Conn`]: the connection a [`Link`](super::link::Link) talks through — one multiplexed
//! connection to a single server, or an async Redis Cluster connection — behind one
//! [`ConnectionLike`], so the scripts and the reads have one code path; and [`Target`], what the
//! keeper connects to.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ConnectionInfo, Pipeline, RedisFuture, Value};

/// One verified link's connection.
#[derive(Clone)]
pub(crate) enum Conn {
    /// A single Redis server.
    Single(MultiplexedConnection),
    /// A Redis Cluster (commands routed by the slot of their first key).
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// What the cache connects to.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // built once per Cache; boxing buys nothing
pub(crate) enum Target {
    /// One server.
    Single(redis::Client),
    /// A Redis Cluster, found from these seed nodes (any reachable one is enough).
    Cluster(Vec<ConnectionInfo>),
}

impl Target {
    /// Whether this is a cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster(_))
    }

    /// The plain clients the wake-up subscriber tries in turn: the server, or every seed node
    /// (a classic `PUBLISH` reaches every node of a cluster, so any one of them will do).
    pub(crate) fn subscriber_clients(&self) -> Vec<redis::Client> {
        match self {
            Target::Single(c) => vec![c.clone()],
            Target::Cluster(seeds) => seeds
                .iter()
                .filter_map(|info| redis::Client::open(info.clone()).ok())
                .collect(),
        }
    }
}
