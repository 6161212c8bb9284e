//! Cross-process stampede protection: the fill lease, and prompt wake-up of the readers that
//! wait for another process's lease holder.
//!
//! A reader that misses runs [`ACQUIRE`](super::scripts::ACQUIRE): it gets the value (someone
//! filled it meanwhile), the lease (`SET lease token NX PX lease_ttl`: it loads and fills), or
//! the remaining lease TTL (someone else loads). A waiter registers with [`Wake`] *before* the
//! script runs, then sleeps until a message on the handle's wake channel names its key (every
//! fill, release and write publishes the key), or until the lease's TTL passes — so a holder
//! that dies delays the others by at most the lease TTL, and a live one wakes them within a
//! round trip. No fixed sleeps: when the subscription is down the wait falls back to a short
//! exponential poll.

use redis::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const SHARDS: usize = 64;

/// Wakes in-process waiters when a key changes; fed by one pub/sub subscription per handle.
pub(crate) struct Wake {
    shards: Box<[Notify]>,
    subscribed: AtomicBool,
}

impl Wake {
    pub(crate) fn new() -> Self {
        Wake {
            shards: (0..SHARDS).map(|_| Notify::new()).collect(),
            subscribed: AtomicBool::new(false),
        }
    }

    /// The notifier of `key`'s shard (waiters of other keys in the shard wake spuriously and
    /// simply re-check).
    pub(crate) fn shard(&self, key: &str) -> &Notify {
        let h = super::codec::fnv1a(key.as_bytes(), super::codec::FNV_OFFSET);
        &self.shards[(h % SHARDS as u64) as usize]
    }

    pub(crate) fn wake_key(&self, key: &str) {
        self.shard(key).notify_waiters();
    }

    pub(crate) fn wake_all(&self) {
        for s in self.shards.iter() {
            s.notify_waiters();
        }
    }

    pub(crate) fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }

    /// How long a waiter sleeps at most before re-checking, for its `attempt`-th wait.
    pub(crate) fn max_wait(&self, lease_pttl_ms: i64, attempt: u32) -> Duration {
        let lease = Duration::from_millis(lease_pttl_ms.max(1) as u64 + 2);
        if self.is_subscribed() {
            lease
        } else {
            // Fallback poll: 2, 4, 8 ... 64 ms.
            lease.min(Duration::from_millis(2u64 << attempt.min(5)))
        }
    }
}

/// Keeps one pub/sub subscription to the wake channel alive and dispatches its messages.
/// `clients` are tried in turn (a cluster's seed nodes: a classic `PUBLISH` is broadcast to
/// every node of a cluster, so a subscription on any one of them hears every wake-up; when
/// that node dies the next seed is used).
///
/// Not sharded pub/sub: an `SPUBLISH` from a script must name a channel in the script's own
/// slot, so the wake-ups would need a channel per slot (or per key) and a subscriber holding
/// subscriptions on every shard, re-made on every resharding. What that buys — a message
/// stays inside its shard instead of crossing the cluster bus to every node — is one small
/// bus message per node per fill or write, while a lost wake-up costs nothing but latency
/// (the waiter re-checks at the lease's TTL). `docs/scaling-out.md` has the figures.
pub(crate) async fn run_subscriber(
    clients: Vec<redis::Client>,
    channel: String,
    wake: Arc<Wake>,
    connect_timeout: Duration,
    ready: Arc<Notify>,
) {
    use futures_util::StreamExt;
    let mut backoff = Duration::from_millis(50);
    let mut turn = 0usize;
    loop {
        let Some(client) = clients.get(turn % clients.len().max(1)) else {
            ready.notify_waiters();
            return;
        };
        turn += 1;
        let connected = tokio::time::timeout(connect_timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(50);
                let (_sink, mut stream) = pubsub.split();
                wake.subscribed.store(true, Ordering::Release);
                ready.notify_waiters();
                // Messages may have been lost while we were not subscribed.
                wake.wake_all();
                while let Some(msg) = stream.next().await {
                    wake.wake_key(&String::from_utf8_lossy(msg.get_payload_bytes()));
                }
                wake.subscribed.store(false, Ordering::Release);
                wake.wake_all();
                tracing::warn!(channel, "dbpat cache: wake subscription lost; reconnecting");
            }
            Ok(Err(err)) => {
                tracing::debug!(channel, %err, "dbpat cache: wake subscription failed");
                ready.notify_waiters();
            }
            Err(_) => ready.notify_waiters(),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// The answer of the acquire script for one id.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// A value is cached (filled since our GET).
    Cached(Vec<u8>),
    /// A write is in flight: read the database, do not fill.
    WritersInFlight,
    /// We hold the lease: load and fill.
    Leased,
    /// Another reader holds the lease for this many more milliseconds.
    Held { pttl_ms: i64 },
}

impl Acquire {
    pub(crate) fn parse_all(value: Value) -> Option<Vec<Acquire>> {
        match value {
            Value::Array(items) => items.into_iter().map(Acquire::parse).collect(),
            _ => None,
        }
    }

    fn parse(value: Value) -> Option<Acquire> {
        let Value::Array(items) = value else {
            return None;
        };
        let mut it = items.into_iter();
        let tag = match it.next()? {
            Value::Int(i) => i,
            _ => return None,
        };
        Some(match (tag, it.next()) {
            (0, Some(Value::BulkString(b))) => Acquire::Cached(b),
            (1, _) => Acquire::WritersInFlight,
            (2, _) => Acquire::Leased,
            (3, Some(Value::Int(pttl))) => Acquire::Held { pttl_ms: pttl },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_script_answers() {
        let v = Value::Array(vec![
            Value::Array(vec![Value::Int(0), Value::BulkString(b"x".to_vec())]),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Int(2)]),
            Value::Array(vec![Value::Int(3), Value::Int(40)]),
        ]);
        assert_eq!(
            Acquire::parse_all(v),
            Some(vec![
                Acquire::Cached(b"x".to_vec()),
                Acquire::WritersInFlight,
                Acquire::Leased,
                Acquire::Held { pttl_ms: 40 },
            ])
        );
    }

    #[test]
    fn fallback_poll_is_short_and_bounded_by_the_lease() {
        let w = Wake::new();
        assert_eq!(w.max_wait(1000, 0), Duration::from_millis(2));
        assert_eq!(w.max_wait(1000, 9), Duration::from_millis(64));
        assert_eq!(w.max_wait(1, 9), Duration::from_millis(3));
    }
}
