//! Counters on strings (`INCR`/`INCRBY`), with an optional flush of deltas into PostgreSQL.
//!
//! Keys follow `<entity>:{<id>}:<attribute>` (e.g. `article:{456}:views`, the patterns
//! document's `views:article:456` in the common key format). The id is a hash tag so a counter's value,
//! pending-delta and in-flight keys share one Cluster slot and one script can touch them all.
//!
//! # Flushing without losing increments
//!
//! A counter built with [`Counter::with_pending`] also adds every increment to a *pending* key
//! (`article:{456}:views:pending`) in the same script. [`CounterFlusher::flush`] then, per id:
//!
//! 1. moves the pending delta atomically (Lua) into an *in-flight* hash
//!    (`...:views:inflight` = `{flush_id, delta}`), unless a previous flush left one there, in
//!    which case that one is retried first with its original `flush_id`;
//! 2. in one PostgreSQL transaction, records `flush_id` in the ledger table
//!    `dbpat_counter_flushes` and runs `UPDATE <table> SET <col> = <col> + $1 WHERE <id> = $2`;
//!    a `flush_id` already in the ledger means the update was applied before (the process
//!    died after COMMIT), so it is not applied twice;
//! 3. only after COMMIT deletes the in-flight hash (if it still carries that `flush_id`).
//!
//! Any failure leaves the delta in Redis to be retried by the next flush; increments that
//! arrive meanwhile accumulate in a fresh pending key. Pending keys never expire.
//!
//! On a Redis Cluster the flusher finds dirty ids by SCANning every primary, and each id's
//! scripts run on the primary owning its `{<id>}` slot. Replication is asynchronous: build the
//! flusher [`CounterFlusher::with_replicas`] so a failover cannot bring back a delta that was
//! already written to PostgreSQL.
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager, pool: sqlx::PgPool) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{Counter, CounterFlusher, FlushTarget, IdType, KeyBuilder};
//! let views = Counter::new(conn, KeyBuilder::with_prefix("app")?, "article", "views")?.with_pending();
//! views.incr("456").await?;
//! CounterFlusher::ensure_ledger(&pool).await?;
//! let target = FlushTarget::new("articles", "view_count", "id", IdType::BigInt)?;
//! let report = CounterFlusher::new(views, pool, target).flush().await?;
//! assert!(report.failed.is_empty());
//! # Ok(()) }
//! ```

use super::conn::KeyspaceConnection;
use super::error::{KeyspaceError, Result};
use super::ident::Ident;
use super::key::{
    companion_key, ensure_same_slot, scan_keys, validate_segment, KeyBuilder, ScanOptions,
};
use super::ttl::millis;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::Script;
use sqlx::PgPool;
use std::sync::LazyLock;
use std::time::Duration;

static INCR_PLAIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v",
    )
});

/// KEYS: value, pending. ARGV: delta, ttl ms. Both increments or neither: when the pending
/// INCRBY is refused (it would overflow i64, or the key is not an integer), the value key is
/// put back as it was, so the value and the unflushed delta never disagree.
static INCR_PENDING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local before = redis.call('GET', KEYS[1])
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local p = redis.pcall('INCRBY', KEYS[2], ARGV[1])
if type(p) == 'table' and p.err then
  if before then redis.call('SET', KEYS[1], before, 'KEEPTTL') else redis.call('DEL', KEYS[1]) end
  return p
end
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v",
    )
});

/// KEYS: pending, inflight. ARGV: fresh flush id. Returns {flush_id, delta} or nil. A retried
/// in-flight hash is written again (same values), so a following `WAIT` covers it too.
static MOVE_TO_INFLIGHT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local cur = redis.call('HMGET', KEYS[2], 'flush_id', 'delta')
if cur[1] then
  redis.call('HSET', KEYS[2], 'flush_id', cur[1])
  return cur
end
local d = redis.call('GET', KEYS[1])
if not d then return false end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'flush_id', ARGV[1], 'delta', d)
return {ARGV[1], d}",
    )
});

/// KEYS: inflight. ARGV: flush id. Deletes the in-flight hash only if it is still ours.
static DELETE_INFLIGHT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('HGET', KEYS[1], 'flush_id') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// A family of counters `<prefix><entity>:{<id>}:<attribute>`, e.g. article views.
#[derive(Clone)]
pub struct Counter<C = ConnectionManager> {
    conn: C,
    keys: KeyBuilder,
    entity: String,
    attribute: String,
    ttl: Option<Duration>,
    pending: bool,
}

impl<C: ConnectionLike + Clone + Send + Sync> Counter<C> {
    /// A counter family without TTL and without pending-delta tracking.
    ///
    /// Counters have no TTL by default: the patterns document's TTLs are for caches,
    /// sessions, rate limits and locks, and an expiring counter would silently lose
    /// increments.
    pub fn new(conn: C, keys: KeyBuilder, entity: &str, attribute: &str) -> Result<Self> {
        validate_segment(entity)?;
        validate_segment(attribute)?;
        Ok(Counter {
            conn,
            keys,
            entity: entity.to_owned(),
            attribute: attribute.to_owned(),
            ttl: None,
            pending: false,
        })
    }

    /// Expire the value key `ttl` after its last increment (the pending delta never expires).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Also record every increment as a pending delta, for [`CounterFlusher`].
    pub fn with_pending(mut self) -> Self {
        self.pending = true;
        self
    }

    /// The value key of `id`.
    pub fn key(&self, id: &str) -> Result<String> {
        self.keys.tagged_key(&self.entity, id, &self.attribute)
    }

    fn pending_key(&self, id: &str) -> Result<String> {
        companion_key(&self.key(id)?, "pending")
    }

    fn inflight_key(&self, id: &str) -> Result<String> {
        companion_key(&self.key(id)?, "inflight")
    }

    /// Adds 1 and returns the new value.
    pub async fn incr(&self, id: &str) -> Result<i64> {
        self.incr_by(id, 1).await
    }

    /// Adds `delta` (may be negative) and returns the new value. An increment that would
    /// leave the range of `i64` is refused by Redis ([`KeyspaceError::Redis`]) and changes
    /// nothing.
    pub async fn incr_by(&self, id: &str, delta: i64) -> Result<i64> {
        let key = self.key(id)?;
        let ttl_ms = self.ttl.map(millis).unwrap_or(0);
        let mut conn = self.conn.clone();
        let v = if self.pending {
            let pending = companion_key(&key, "pending")?;
            ensure_same_slot(&[&key, &pending])?;
            INCR_PENDING
                .key(&key)
                .key(pending)
                .arg(delta)
                .arg(ttl_ms)
                .invoke_async(&mut conn)
                .await?
        } else {
            INCR_PLAIN
                .key(&key)
                .arg(delta)
                .arg(ttl_ms)
                .invoke_async(&mut conn)
                .await?
        };
        Ok(v)
    }

    /// The current value (0 when the key does not exist).
    pub async fn get(&self, id: &str) -> Result<i64> {
        let mut conn = self.conn.clone();
        let v: Option<i64> = redis::cmd("GET")
            .arg(self.key(id)?)
            .query_async(&mut conn)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// The delta Redis holds for PostgreSQL: pending plus in-flight
    /// ([`KeyspaceError::Overflow`] if that sum leaves the range of `i64`).
    ///
    /// This is the delta not yet written to PostgreSQL except in one window: from the COMMIT
    /// of a flush of `id` until that flush deletes its in-flight hash, the in-flight delta is
    /// in PostgreSQL *and* counted here. The window is normally one Redis round trip, but a
    /// flusher that dies (or loses Redis) right after COMMIT leaves it open until the next
    /// flush of `id` finds the flush id in the ledger and drops the hash
    /// ([`FlushReport::already_applied`]); until then the PostgreSQL column plus this figure
    /// over-counts by that delta. For an exact figure use [`CounterFlusher::unflushed`],
    /// which checks the in-flight flush id against the ledger, or run
    /// [`CounterFlusher::flush`] first.
    pub async fn unflushed(&self, id: &str) -> Result<i64> {
        let (pending, _, inflight) = self.unflushed_parts(id).await?;
        add_deltas(pending, inflight)
    }

    /// The pending delta, the in-flight flush id and the in-flight delta of `id` (0 when
    /// missing), read in one transaction.
    async fn unflushed_parts(&self, id: &str) -> Result<(i64, Option<String>, i64)> {
        let (pending_key, inflight_key) = (self.pending_key(id)?, self.inflight_key(id)?);
        ensure_same_slot(&[&pending_key, &inflight_key])?;
        let mut conn = self.conn.clone();
        let (pending, (flush_id, inflight)): (Option<i64>, (Option<String>, Option<i64>)) =
            redis::pipe()
                .atomic()
                .cmd("GET")
                .arg(pending_key)
                .cmd("HMGET")
                .arg(inflight_key)
                .arg("flush_id")
                .arg("delta")
                .query_async(&mut conn)
                .await?;
        Ok((pending.unwrap_or(0), flush_id, inflight.unwrap_or(0)))
    }
}

fn add_deltas(pending: i64, inflight: i64) -> Result<i64> {
    pending.checked_add(inflight).ok_or(KeyspaceError::Overflow(
        "pending plus in-flight counter delta",
    ))
}

/// How the id column of the flush target is typed; the Redis id is parsed and bound as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    /// `BIGINT` (or `INT`) ids.
    BigInt,
    /// `UUID` ids.
    Uuid,
    /// `TEXT` ids.
    Text,
}

/// Where deltas go: `UPDATE <table> SET <column> = <column> + $1 WHERE <id_column> = $2`.
#[derive(Debug, Clone)]
pub struct FlushTarget {
    sql: String,
    id_type: IdType,
}

impl FlushTarget {
    /// Validates the three identifiers (`[a-z_][a-z0-9_]*`) and renders the statement once.
    pub fn new(table: &str, column: &str, id_column: &str, id_type: IdType) -> Result<Self> {
        let (t, c, i) = (
            Ident::new(table)?,
            Ident::new(column)?,
            Ident::new(id_column)?,
        );
        let (t, c, i) = (t.quoted(), c.quoted(), i.quoted());
        Ok(FlushTarget {
            sql: format!("UPDATE {t} SET {c} = {c} + $1 WHERE {i} = $2"),
            id_type,
        })
    }

    /// The rendered UPDATE statement.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

/// What one [`CounterFlusher::flush`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlushReport {
    /// Ids whose delta was written to PostgreSQL.
    pub flushed: usize,
    /// Sum of the deltas written (saturating at the bounds of `i64`).
    pub total_delta: i64,
    /// In-flight deltas found already applied (a previous flush committed but did not clean
    /// up); they were dropped from Redis, not applied again.
    pub already_applied: usize,
    /// Ids whose flush failed, with the reason; their delta stays in Redis for the next flush.
    pub failed: Vec<(String, String)>,
}

/// Moves the pending deltas of a [`Counter`] into a PostgreSQL column.
pub struct CounterFlusher<C = ConnectionManager> {
    counter: Counter<C>,
    pool: PgPool,
    target: FlushTarget,
    scan: ScanOptions,
    replicas: Option<(u64, Duration)>,
}

/// The ledger of applied flushes, created by [`CounterFlusher::ensure_ledger`].
pub const LEDGER_TABLE: &str = "dbpat_counter_flushes";

/// Ledger management; independent of the Redis connection type.
impl CounterFlusher<ConnectionManager> {
    /// Creates the ledger table `dbpat_counter_flushes` if it does not exist.
    pub async fn ensure_ledger(pool: &PgPool) -> Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS dbpat_counter_flushes (
                flush_id UUID PRIMARY KEY,
                flushed_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
            )",
        )
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Deletes ledger rows older than `age`. Keep `age` well above the longest time an
    /// in-flight delta may wait for a retry (a day is a safe default).
    pub async fn prune_ledger(pool: &PgPool, age: Duration) -> Result<u64> {
        let secs = age.as_secs_f64();
        let r = sqlx::query(
            "DELETE FROM dbpat_counter_flushes WHERE flushed_at < NOW() - make_interval(secs => $1)",
        )
        .bind(secs)
        .execute(pool)
        .await?;
        Ok(r.rows_affected())
    }
}

impl<C: KeyspaceConnection> CounterFlusher<C> {
    /// A flusher for `counter`, which should have been built [`Counter::with_pending`].
    pub fn new(counter: Counter<C>, pool: PgPool, target: FlushTarget) -> Self {
        CounterFlusher {
            counter,
            pool,
            target,
            scan: ScanOptions::default(),
            replicas: None,
        }
    }

    /// Requires every move of a delta into its in-flight hash to reach `replicas` replicas
    /// (`WAIT replicas timeout` on the counter's primary) before the delta is written to
    /// PostgreSQL. Otherwise that id's flush fails with [`KeyspaceError::NotReplicated`] and
    /// is retried next time.
    ///
    /// Without it, a primary that dies after a flush but before replicating the move lets the
    /// promoted replica bring back the delta as still pending, and the next flush applies it a
    /// second time under a new flush id. With it, the replica holds the in-flight hash and its
    /// flush id, and the ledger recognises the retry. Use it on a Redis Cluster or any
    /// replicated deployment. A server without replicas refuses every flush.
    pub fn with_replicas(mut self, replicas: u64, timeout: Duration) -> Self {
        self.replicas = Some((replicas, timeout));
        self
    }

    /// Ids with a pending or in-flight delta, found with SCAN (on every primary of a cluster).
    pub async fn dirty_ids(&self) -> Result<Vec<String>> {
        let c = &self.counter;
        let base = c.keys.tagged_pattern(&c.entity, None, Some(&c.attribute))?;
        let head = format!("{}{}:{{", c.keys.prefix(), c.entity);
        let mut conn = c.conn.clone();
        let mut ids = std::collections::BTreeSet::new();
        for suffix in ["pending", "inflight"] {
            let tail = format!("}}:{}:{suffix}", c.attribute);
            for key in scan_keys(&mut conn, &format!("{base}:{suffix}"), self.scan).await? {
                let id = key.strip_prefix(&head).and_then(|r| r.strip_suffix(&tail));
                if let Some(id) = id.filter(|id| validate_segment(id).is_ok()) {
                    ids.insert(id.to_owned());
                }
            }
        }
        Ok(ids.into_iter().collect())
    }

    /// The delta of `id` not yet written to PostgreSQL, exactly: pending plus in-flight, minus
    /// an in-flight delta whose flush id the ledger already holds (a flush that committed and
    /// has not cleaned up yet, or died before it could). Unlike [`Counter::unflushed`] it
    /// never counts a delta PostgreSQL has, at the cost of one ledger query when a flush is
    /// in flight. Increments and flushes that run meanwhile can each be seen or not.
    pub async fn unflushed(&self, id: &str) -> Result<i64> {
        let (pending, flush_id, inflight) = self.counter.unflushed_parts(id).await?;
        let Some(flush_id) = flush_id else {
            return add_deltas(pending, inflight);
        };
        let flush_uuid = uuid::Uuid::parse_str(&flush_id)
            .map_err(|_| KeyspaceError::UnexpectedReply(format!("flush id {flush_id:?}")))?;
        let applied: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM dbpat_counter_flushes WHERE flush_id = $1)",
        )
        .bind(flush_uuid)
        .fetch_one(&self.pool)
        .await?;
        add_deltas(pending, if applied { 0 } else { inflight })
    }

    /// Flushes every dirty id once. Per-id failures are reported, not returned as `Err`; an
    /// `Err` means Redis could not even be scanned.
    pub async fn flush(&self) -> Result<FlushReport> {
        let mut report = FlushReport::default();
        for id in self.dirty_ids().await? {
            match self.flush_id(&id).await {
                Ok(Flushed::Applied(d)) => {
                    report.flushed += 1;
                    report.total_delta = report.total_delta.saturating_add(d);
                }
                Ok(Flushed::AlreadyApplied) => report.already_applied += 1,
                Ok(Flushed::Nothing) => {}
                Err(e) => {
                    tracing::warn!(id = %id, error = %e, "counter flush failed; delta kept for retry");
                    report.failed.push((id, e.to_string()));
                }
            }
        }
        tracing::debug!(?report, "counter flush");
        Ok(report)
    }

    async fn flush_id(&self, id: &str) -> Result<Flushed> {
        let pending = self.counter.pending_key(id)?;
        let inflight = self.counter.inflight_key(id)?;
        ensure_same_slot(&[&pending, &inflight])?;
        let mut conn = self.counter.conn.clone();
        let fresh = uuid::Uuid::new_v4().to_string();
        let moved: Option<(Option<String>, Option<i64>)> = MOVE_TO_INFLIGHT
            .key(&pending)
            .key(&inflight)
            .arg(&fresh)
            .invoke_async(&mut conn)
            .await?;
        let (flush_id, delta) = match moved {
            None => return Ok(Flushed::Nothing),
            Some((Some(f), Some(d))) => (f, d),
            Some(other) => {
                return Err(KeyspaceError::UnexpectedReply(format!(
                    "in-flight counter hash {inflight}: {other:?}"
                )))
            }
        };
        let flush_uuid = uuid::Uuid::parse_str(&flush_id)
            .map_err(|_| KeyspaceError::UnexpectedReply(format!("flush id {flush_id:?}")))?;
        if let Some((wanted, timeout)) = self.replicas {
            let mut wait = redis::cmd("WAIT");
            wait.arg(wanted).arg(millis(timeout));
            let acked: u64 = redis::from_redis_value(conn.query_at_key(&inflight, &wait).await?)?;
            if acked < wanted {
                return Err(KeyspaceError::NotReplicated {
                    key: inflight,
                    acked,
                    wanted,
                });
            }
        }
        let outcome = if delta == 0 {
            Flushed::Nothing
        } else {
            self.apply(id, flush_uuid, delta).await?
        };
        let _: i64 = DELETE_INFLIGHT
            .key(&inflight)
            .arg(&flush_id)
            .invoke_async(&mut conn)
            .await?;
        Ok(outcome)
    }

    async fn apply(&self, id: &str, flush_id: uuid::Uuid, delta: i64) -> Result<Flushed> {
        let mut tx = self.pool.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO dbpat_counter_flushes (flush_id) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(flush_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            tx.rollback().await?;
            return Ok(Flushed::AlreadyApplied);
        }
        let q = sqlx::query(self.target.sql()).bind(delta);
        let q = match self.target.id_type {
            IdType::BigInt => q.bind(
                id.parse::<i64>()
                    .map_err(|_| KeyspaceError::InvalidArgument("counter id is not a BIGINT"))?,
            ),
            IdType::Uuid => q.bind(
                uuid::Uuid::parse_str(id)
                    .map_err(|_| KeyspaceError::InvalidArgument("counter id is not a UUID"))?,
            ),
            IdType::Text => q.bind(id.to_owned()),
        };
        let updated = q.execute(&mut *tx).await?.rows_affected();
        if updated != 1 {
            tx.rollback().await?;
            return Err(KeyspaceError::FlushTargetRows {
                id: id.to_owned(),
                updated,
            });
        }
        tx.commit().await?;
        Ok(Flushed::Applied(delta))
    }

    /// Runs [`CounterFlusher::flush`] every `period` (at least 1 ms: a zero period is taken as
    /// 1 ms) until the returned handle is aborted. Errors are logged at WARN and retried on
    /// the next tick. Must be called inside a Tokio runtime.
    pub fn spawn_periodic(self, period: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // `interval` panics on a zero period.
            let mut tick = tokio::time::interval(period.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.flush().await {
                    tracing::warn!(error = %e, "periodic counter flush failed");
                }
            }
        })
    }
}

enum Flushed {
    Applied(i64),
    AlreadyApplied,
    Nothing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_target_quotes_and_validates() {
        let t = FlushTarget::new("order", "view_count", "id", IdType::BigInt).unwrap();
        assert_eq!(
            t.sql(),
            "UPDATE \"order\" SET \"view_count\" = \"view_count\" + $1 WHERE \"id\" = $2"
        );
        assert!(FlushTarget::new("a; DROP TABLE x", "c", "id", IdType::Text).is_err());
        assert!(FlushTarget::new("t", "C", "id", IdType::Text).is_err());
    }
}
