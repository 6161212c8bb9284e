//! Real-time notifications over Pub/Sub with typed (serde JSON) messages.
//!
//! Pub/Sub is fire-and-forget: a message reaches the subscribers connected at that moment and
//! nobody else; a subscriber that is offline or slow misses it. Use it for live updates that a
//! client can also recover by re-reading state; use [`StreamQueue`](super::StreamQueue) when
//! every message must be processed.
//!
//! Channel names follow the key format, e.g. `<prefix>user:123:notifications`.
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

use super::error::{KeyspaceError, Result};
use futures_util::StreamExt;
use redis::aio::ConnectionLike;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;

/// A named channel carrying messages of type `T`.
pub struct Channel<T> {
    name: String,
    _message: PhantomData<fn() -> T>,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            name: self.name.clone(),
            _message: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Channel<T> {
    /// A channel named `name` (build it with [`KeyBuilder`](super::KeyBuilder)).
    pub fn new(name: String) -> Self {
        Channel {
            name,
            _message: PhantomData,
        }
    }

    /// The channel name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Publishes one message; returns how many subscribers received it (0 is not an error).
    pub async fn publish<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        message: &T,
    ) -> Result<u64> {
        let payload = serde_json::to_string(message)?;
        Ok(redis::cmd("PUBLISH")
            .arg(&self.name)
            .arg(payload)
            .query_async(conn)
            .await?)
    }

    /// Opens a dedicated Pub/Sub connection and subscribes; messages published after this
    /// returns are delivered.
    pub async fn subscribe(&self, client: &redis::Client) -> Result<Subscription<T>> {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&self.name).await?;
        Ok(Subscription {
            pubsub,
            _message: PhantomData,
        })
    }
}

/// A live subscription; dropping it unsubscribes and closes its connection.
pub struct Subscription<T> {
    pubsub: redis::aio::PubSub,
    _message: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Subscription<T> {
    /// The next message: `None` when the connection closed, `Some(Err(Codec))` for a payload
    /// that is not a valid `T` (the subscription keeps working after it).
    pub async fn next(&mut self) -> Option<Result<T>> {
        let msg = self.pubsub.on_message().next().await?;
        Some(match msg.get_payload::<String>() {
            Ok(text) => serde_json::from_str(&text).map_err(KeyspaceError::from),
            Err(e) => Err(KeyspaceError::from(e)),
        })
    }
}
