//! Work queues on Redis Streams with consumer groups: at-least-once delivery.
//!
//! A message is delivered to one consumer of the group and stays in the group's pending
//! entries list (PEL) until that consumer acknowledges it. If the consumer dies first, another
//! consumer takes the message over with [`Consumer::claim_stale`] once it has been idle longer
//! than a visibility timeout (default [`DEFAULT_VISIBILITY_TIMEOUT`]). Handlers must therefore be
//! idempotent: a message can be processed more than once, never zero times.
//!
//! Keys: `<prefix>queue:{<name>}:stream` and, for messages whose payload cannot be decoded,
//! the dead-letter stream `<prefix>queue:{<name>}:dead`. The name is a hash tag, so both live
//! in one Cluster slot.
//!
//! Blocking reads hold their connection: give consumers their own connection. A blocking
//! [`Consumer::receive`] waits as long as asked, but in server-side blocks of at most
//! [`StreamQueue::max_block`] (default [`DEFAULT_MAX_BLOCK`], 250 ms), each of which must end
//! before the connection's response timeout: otherwise the client gives up while Redis may
//! already have handed a message to this consumer, and that message waits unacknowledged
//! until [`Consumer::claim_stale`] takes it over (see [`StreamQueue::with_max_block`]).
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{KeyBuilder, StreamQueue};
//! use std::time::Duration;
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Email { to: String }
//! let q: StreamQueue<Email> = StreamQueue::new(conn, &KeyBuilder::new(), "emails", "senders")?;
//! q.ensure_group().await?;
//! q.enqueue(&Email { to: "a@example.com".into() }).await?;
//! let worker = q.consumer("worker-1")?;
//! for d in worker.receive(10, Some(Duration::from_millis(200))).await? {
//!     // send d.message ...
//!     worker.ack(&d).await?;
//! }
//! # Ok(()) }
//! ```

use super::error::{KeyspaceError, Result};
use super::key::{ensure_same_slot, validate_segment, KeyBuilder};
use super::ttl::{self, millis};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// How long a delivered message may stay unacknowledged before another consumer may claim it.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest single server-side block (`XREADGROUP BLOCK`) of a [`Consumer::receive`]:
/// half the 500 ms response timeout the redis crate gives a `ConnectionManager` or
/// `MultiplexedConnection` by default, which leaves room for Redis ending a block up to one
/// server tick (100 ms) late and for the round trip. A cluster connection has no response timeout unless
/// you set one. Change it with [`StreamQueue::with_max_block`].
pub const DEFAULT_MAX_BLOCK: Duration = Duration::from_millis(250);

const PAYLOAD: &str = "payload";
/// Upper bound of XAUTOCLAIM round trips per [`Consumer::claim_stale`] call.
const MAX_CLAIM_ROUNDS: usize = 64;

/// A typed queue: messages are `T` encoded as JSON in the field `payload`.
pub struct StreamQueue<T, C = ConnectionManager> {
    conn: C,
    stream: String,
    dead: String,
    group: String,
    max_len: Option<usize>,
    max_block: Duration,
    _message: PhantomData<fn() -> T>,
}

impl<T, C: Clone> Clone for StreamQueue<T, C> {
    fn clone(&self) -> Self {
        StreamQueue {
            conn: self.conn.clone(),
            stream: self.stream.clone(),
            dead: self.dead.clone(),
            group: self.group.clone(),
            max_len: self.max_len,
            max_block: self.max_block,
            _message: PhantomData,
        }
    }
}

/// One delivered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery<T> {
    /// The stream entry id (`<ms>-<seq>`), needed to acknowledge.
    pub id: String,
    /// The decoded message.
    pub message: T,
}

impl<T, C> StreamQueue<T, C>
where
    T: Serialize + DeserializeOwned,
    C: ConnectionLike + Clone + Send + Sync,
{
    /// The queue `name` read by the consumer group `group`.
    pub fn new(conn: C, keys: &KeyBuilder, name: &str, group: &str) -> Result<Self> {
        validate_segment(group)?;
        Ok(StreamQueue {
            conn,
            stream: keys.tagged_key("queue", name, "stream")?,
            dead: keys.tagged_key("queue", name, "dead")?,
            group: group.to_owned(),
            max_len: None,
            max_block: DEFAULT_MAX_BLOCK,
            _message: PhantomData,
        })
    }

    /// Caps the stream at about `n` entries (`XADD MAXLEN ~ n`). Trimming removes the oldest
    /// entries even if unacknowledged, so choose `n` well above the expected backlog.
    pub fn with_max_len(mut self, n: usize) -> Self {
        self.max_len = Some(n);
        self
    }

    /// Sets the longest single server-side block of [`Consumer::receive`] (default
    /// [`DEFAULT_MAX_BLOCK`]). A longer `receive` is split into several blocks of at most
    /// this, so it can wait as long as asked on a connection with a short response timeout.
    ///
    /// Keep it below the response timeout of the queue's connection by at least one server
    /// tick (Redis ends a block up to `1/hz` late: 100 ms at the default `hz` 10) plus a round
    /// trip. When the client times out first, Redis may already have handed a message to the
    /// consumer, `receive` returns the timeout error ([`KeyspaceError::Redis`]), and the
    /// message stays pending, unacknowledged, until [`Consumer::claim_stale`] takes it over
    /// after its visibility timeout. Raise it only together with the response timeout (or on
    /// a connection without one) to save round trips of idle consumers. A zero `max` is
    /// [`KeyspaceError::InvalidArgument`].
    pub fn with_max_block(mut self, max: Duration) -> Result<Self> {
        if max.is_zero() {
            return Err(KeyspaceError::InvalidArgument(
                "a queue's max block must be positive",
            ));
        }
        self.max_block = max;
        Ok(self)
    }

    /// The longest single server-side block of [`Consumer::receive`].
    pub fn max_block(&self) -> Duration {
        self.max_block
    }

    /// The stream key.
    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    /// The dead-letter stream key.
    pub fn dead_letter_key(&self) -> &str {
        &self.dead
    }

    /// Creates the stream and the consumer group (reading from the beginning) if missing.
    pub async fn ensure_group(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let r: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match r {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => Ok(other?),
        }
    }

    /// Appends a message and returns its id.
    pub async fn enqueue(&self, message: &T) -> Result<String> {
        let payload = serde_json::to_string(message)?;
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.stream);
        if let Some(n) = self.max_len {
            cmd.arg("MAXLEN").arg("~").arg(n);
        }
        cmd.arg("*").arg(PAYLOAD).arg(payload);
        let mut conn = self.conn.clone();
        Ok(cmd.query_async(&mut conn).await?)
    }

    /// A consumer of the group; names must be unique among live consumers.
    pub fn consumer(&self, name: &str) -> Result<Consumer<T, C>> {
        validate_segment(name)?;
        Ok(Consumer {
            queue: self.clone(),
            name: name.to_owned(),
        })
    }

    /// Number of delivered but unacknowledged messages in the group.
    pub async fn pending_count(&self) -> Result<u64> {
        let mut conn = self.conn.clone();
        let reply: redis::Value = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(&self.group)
            .query_async(&mut conn)
            .await?;
        match reply {
            // The summary's first element is the number of pending messages.
            redis::Value::Array(items) => match items.first() {
                Some(count) => Ok(redis::from_redis_value_ref(count)?),
                None => Err(KeyspaceError::UnexpectedReply(
                    "XPENDING: empty summary".to_owned(),
                )),
            },
            other => Err(KeyspaceError::UnexpectedReply(format!(
                "XPENDING: {other:?}"
            ))),
        }
    }

    /// Times the message `id` has been delivered (0 when it is not pending).
    pub async fn delivery_count(&self, id: &str) -> Result<u64> {
        let mut conn = self.conn.clone();
        let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(id)
            .arg(id)
            .arg(1)
            .query_async(&mut conn)
            .await?;
        Ok(rows.first().map(|r| r.3).unwrap_or(0))
    }

    /// Decodes entries; undecodable ones go to the dead-letter stream and are acknowledged.
    async fn decode(&self, entries: Vec<StreamId>) -> Result<Vec<Delivery<T>>> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let raw: Option<String> = entry.get(PAYLOAD);
            let decoded = raw
                .as_deref()
                .map(serde_json::from_str::<T>)
                .transpose()
                .map_err(|e| e.to_string())
                .and_then(|m| m.ok_or_else(|| "no payload field".to_owned()));
            match decoded {
                Ok(message) => out.push(Delivery {
                    id: entry.id,
                    message,
                }),
                Err(reason) => {
                    tracing::warn!(stream = %self.stream, id = %entry.id, %reason, "dead-lettering undecodable message");
                    ensure_same_slot(&[&self.stream, &self.dead])?;
                    let mut conn = self.conn.clone();
                    let () = redis::pipe()
                        .atomic()
                        .cmd("XADD")
                        .arg(&self.dead)
                        .arg("*")
                        .arg(PAYLOAD)
                        .arg(raw.unwrap_or_default())
                        .arg("source_id")
                        .arg(&entry.id)
                        .arg("error")
                        .arg(reason)
                        .ignore()
                        .cmd("XACK")
                        .arg(&self.stream)
                        .arg(&self.group)
                        .arg(&entry.id)
                        .ignore()
                        .query_async(&mut conn)
                        .await?;
                }
            }
        }
        Ok(out)
    }
}

/// A named member of a consumer group.
pub struct Consumer<T, C = ConnectionManager> {
    queue: StreamQueue<T, C>,
    name: String,
}

impl<T, C> Consumer<T, C>
where
    T: Serialize + DeserializeOwned,
    C: ConnectionLike + Clone + Send + Sync,
{
    /// This consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Up to `count` new messages, waiting up to `block` for the first one (`None`: do not
    /// wait). Received messages are pending until [`Consumer::ack`].
    ///
    /// `block` may be longer than the connection's response timeout: the wait is split into
    /// server-side blocks of at most [`StreamQueue::max_block`], and `receive` returns as soon
    /// as one of them yields messages, or an empty `Vec` once `block` has passed. Each of
    /// those blocks must end before the response timeout; if one does not (a `max_block`
    /// above the timeout, or a server or network stalled longer than the timeout), the
    /// timeout comes back as [`KeyspaceError::Redis`] while Redis may already have handed a
    /// message to this consumer: it is then pending here, unacknowledged, until
    /// [`Consumer::claim_stale`] takes it over after its visibility timeout.
    pub async fn receive(&self, count: usize, block: Option<Duration>) -> Result<Vec<Delivery<T>>> {
        if count == 0 {
            return Err(KeyspaceError::InvalidArgument(
                "receive count must be positive",
            ));
        }
        let Some(block) = block else {
            return self.read_new(count, None).await;
        };
        let deadline = ttl::deadline(Instant::now(), block);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(self.queue.max_block);
            let got = self.read_new(count, Some(slice)).await?;
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
        }
    }

    /// One `XREADGROUP ... >`, blocking at most `block` on the server.
    async fn read_new(&self, count: usize, block: Option<Duration>) -> Result<Vec<Delivery<T>>> {
        let q = &self.queue;
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(&q.group).arg(&self.name);
        cmd.arg("COUNT").arg(count);
        if let Some(b) = block {
            cmd.arg("BLOCK").arg(millis(b));
        }
        cmd.arg("STREAMS").arg(&q.stream).arg(">");
        let mut conn = q.conn.clone();
        let reply: Option<StreamReadReply> = cmd.query_async(&mut conn).await?;
        let entries = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .collect();
        q.decode(entries).await
    }

    /// Takes over up to `count` messages that other (presumably dead) consumers received but
    /// have not acknowledged for at least `min_idle`, and returns them (XAUTOCLAIM).
    pub async fn claim_stale(&self, min_idle: Duration, count: usize) -> Result<Vec<Delivery<T>>> {
        if count == 0 {
            return Err(KeyspaceError::InvalidArgument(
                "claim count must be positive",
            ));
        }
        let q = &self.queue;
        let mut conn = q.conn.clone();
        let mut start = "0-0".to_owned();
        let mut claimed = Vec::new();
        for _ in 0..MAX_CLAIM_ROUNDS {
            let wanted = count.saturating_sub(claimed.len());
            if wanted == 0 {
                break;
            }
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(&q.stream)
                .arg(&q.group)
                .arg(&self.name)
                .arg(millis(min_idle))
                .arg(&start)
                .arg("COUNT")
                .arg(wanted)
                .query_async(&mut conn)
                .await?;
            claimed.extend(reply.claimed);
            if reply.next_stream_id == "0-0" || claimed.len() >= count {
                break;
            }
            start = reply.next_stream_id;
        }
        if !claimed.is_empty() {
            tracing::info!(stream = %q.stream, consumer = %self.name, n = claimed.len(), "claimed stale messages");
        }
        q.decode(claimed).await
    }

    /// Acknowledges a delivery; `false` if it was not pending (already acknowledged).
    pub async fn ack(&self, delivery: &Delivery<T>) -> Result<bool> {
        let q = &self.queue;
        let mut conn = q.conn.clone();
        let n: i64 = redis::cmd("XACK")
            .arg(&q.stream)
            .arg(&q.group)
            .arg(&delivery.id)
            .query_async(&mut conn)
            .await?;
        Ok(n == 1)
    }
}
