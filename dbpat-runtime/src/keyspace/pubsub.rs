//! Real-time notifications over Pub/Sub with typed (serde JSON) messages.
//!
//! Pub/Sub is fire-and-forget: a message reaches the subscribers connected at that moment and
//! nobody else; a subscriber that is offline or slow misses it. Use it for live updates that a
//! client can also recover by re-reading state; use [`StreamQueue`](super::StreamQueue) when
//! every message must be processed.
//!
//! Channel names follow the key format, e.g. `<prefix>user:123:notifications`.
//!
//! # On Redis Cluster
//!
//! Publish with any [`KeyspaceConnection`] (a `ClusterConnection` too) and subscribe with
//! [`Channel::subscribe_cluster`], which opens a cluster connection of its own (RESP3, so the
//! nodes can push messages) and resubscribes by itself after a reconnection or a failover.
//!
//! * [`Channel::new`]: classic Pub/Sub. On a cluster every message is broadcast over the
//!   cluster bus to every node, and `PUBLISH` counts only the subscribers connected to the node
//!   that received it, so [`Channel::publish`]'s count is a lower bound there.
//! * [`Channel::sharded`]: sharded Pub/Sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7). The channel's
//!   traffic stays on the shard owning its name's slot instead of crossing the whole cluster,
//!   which is what a per-entity channel (`user:123:notifications`) wants; the count is exact.
//!   On a single node a sharded channel is plain Pub/Sub (one shard is the whole server), so
//!   publisher and subscriber must be on the same kind of deployment.
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager, client: redis::Client) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{Channel, KeyBuilder};
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct OrderShipped { order_id: i64 }
//! let ch: Channel<OrderShipped> = Channel::new(KeyBuilder::new().key("user", "123", "notifications")?);
//! let mut sub = ch.subscribe(&client).await?;
//! ch.publish(&mut conn.clone(), &OrderShipped { order_id: 9 }).await?;
//! if let Some(Ok(msg)) = sub.next().await { println!("order {}", msg.order_id); }
//! # Ok(()) }
//! ```

use super::conn::KeyspaceConnection;
use super::error::{KeyspaceError, Result};
use futures_util::StreamExt;
use redis::cluster_async::ClusterConnection;
use redis::{IntoConnectionInfo, PushKind, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// A named channel carrying messages of type `T`.
pub struct Channel<T> {
    name: String,
    sharded: bool,
    _message: PhantomData<fn() -> T>,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            name: self.name.clone(),
            sharded: self.sharded,
            _message: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Channel<T> {
    /// A classic Pub/Sub channel named `name` (build it with [`KeyBuilder`](super::KeyBuilder)).
    pub fn new(name: String) -> Self {
        Channel {
            name,
            sharded: false,
            _message: PhantomData,
        }
    }

    /// A sharded channel: `SPUBLISH`/`SSUBSCRIBE` on a Redis Cluster, so its traffic stays on
    /// the shard that owns the slot of `name`; plain Pub/Sub on a single node.
    pub fn sharded(name: String) -> Self {
        Channel {
            name,
            sharded: true,
            _message: PhantomData,
        }
    }

    /// The channel name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is a sharded channel ([`Channel::sharded`]).
    pub fn is_sharded(&self) -> bool {
        self.sharded
    }

    /// Publishes one message; returns how many subscribers received it (0 is not an error).
    /// On a cluster, a classic channel's count covers only the subscribers of the node that
    /// took the `PUBLISH`; a sharded channel's count is exact.
    pub async fn publish<C: KeyspaceConnection>(&self, conn: &mut C, message: &T) -> Result<u64> {
        let payload = serde_json::to_string(message)?;
        let command = if self.sharded && conn.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        Ok(redis::cmd(command)
            .arg(&self.name)
            .arg(payload)
            .query_async(conn)
            .await?)
    }

    /// Opens a dedicated Pub/Sub connection to a single node and subscribes; messages
    /// published after this returns are delivered.
    pub async fn subscribe(&self, client: &redis::Client) -> Result<Subscription<T>> {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&self.name).await?;
        Ok(Subscription {
            inner: Inner::Node(pubsub),
            _message: PhantomData,
        })
    }

    /// Opens a dedicated Redis Cluster connection (RESP3) from the seed `nodes` and subscribes
    /// (`SSUBSCRIBE` on the owning shard for a sharded channel, `SUBSCRIBE` otherwise);
    /// messages published after this returns are delivered. The subscription is renewed by
    /// the cluster client after a reconnection or a failover; messages published meanwhile
    /// are lost, as always with Pub/Sub.
    pub async fn subscribe_cluster<I>(&self, nodes: I) -> Result<Subscription<T>>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        let (tx, rx) = unbounded_channel();
        let client = redis::cluster::ClusterClientBuilder::new(nodes)
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(tx)
            .build()?;
        let mut conn = client.get_async_connection().await?;
        if self.sharded {
            conn.ssubscribe(&self.name).await?;
        } else {
            conn.subscribe(&self.name).await?;
        }
        Ok(Subscription {
            inner: Inner::Cluster {
                _conn: conn,
                rx,
                channel: self.name.clone().into_bytes(),
                sharded: self.sharded,
            },
            _message: PhantomData,
        })
    }
}

/// A live subscription; dropping it unsubscribes and closes its connection.
pub struct Subscription<T> {
    inner: Inner,
    _message: PhantomData<fn() -> T>,
}

enum Inner {
    /// A single node's Pub/Sub connection.
    Node(redis::aio::PubSub),
    /// A cluster connection of its own, whose pushes arrive on `rx`.
    Cluster {
        _conn: ClusterConnection,
        rx: UnboundedReceiver<redis::PushInfo>,
        channel: Vec<u8>,
        sharded: bool,
    },
}

impl<T: DeserializeOwned> Subscription<T> {
    /// The next message: `None` when the connection closed, `Some(Err(Codec))` for a payload
    /// that is not a valid `T` (the subscription keeps working after it).
    pub async fn next(&mut self) -> Option<Result<T>> {
        let payload = match &mut self.inner {
            Inner::Node(pubsub) => {
                let msg = pubsub.on_message().next().await?;
                msg.get_payload::<String>().map_err(KeyspaceError::from)
            }
            Inner::Cluster {
                rx,
                channel,
                sharded,
                ..
            } => next_push(rx, channel, *sharded).await?,
        };
        Some(payload.and_then(|text| serde_json::from_str(&text).map_err(KeyspaceError::from)))
    }
}

/// The payload of the next message push for `channel`; subscription confirmations and
/// disconnection notices (the client resubscribes by itself) are skipped.
async fn next_push(
    rx: &mut UnboundedReceiver<redis::PushInfo>,
    channel: &[u8],
    sharded: bool,
) -> Option<Result<String>> {
    let wanted = if sharded {
        PushKind::SMessage
    } else {
        PushKind::Message
    };
    loop {
        let push = rx.recv().await?;
        if push.kind != wanted {
            continue;
        }
        // A message push is [channel, payload].
        match push.data.as_slice() {
            [Value::BulkString(ch), payload] if ch.as_slice() == channel => {
                return Some(redis::from_redis_value_ref(payload).map_err(KeyspaceError::from));
            }
            [Value::BulkString(_), _] => continue,
            other => {
                return Some(Err(KeyspaceError::UnexpectedReply(format!(
                    "message push: {other:?}"
                ))))
            }
        }
    }
}
