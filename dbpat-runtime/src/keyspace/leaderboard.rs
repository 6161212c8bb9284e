//! Leaderboards on sorted sets: `leaderboard:<name>:scores` → {member: score}.
//!
//! Ranks are 1-based, highest score first. Equal scores are ordered by member, descending
//! (Redis' `ZREVRANK` order), so ranks are total and deterministic.
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{KeyBuilder, Leaderboard};
//! let board = Leaderboard::new(conn, &KeyBuilder::new(), "weekly")?;
//! board.incr("alice", 30.0).await?;
//! let top10 = board.top(10).await?;
//! let around_me = board.around("alice", 2).await?; // 2 above, me, 2 below
//! # Ok(()) }
//! ```

use super::error::{KeyspaceError, Result};
use super::key::KeyBuilder;
use super::ttl::millis;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// KEYS: board. ARGV: member, radius. Returns {start, [member, score, ...]} or nil.
static AROUND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local r = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not r then return false end
local n = tonumber(ARGV[2])
local s = r - n
if s < 0 then s = 0 end
return {s, redis.call('ZREVRANGE', KEYS[1], s, r + n, 'WITHSCORES')}",
    )
});

/// The largest index ZREVRANGE accepts.
const MAX_INDEX: u64 = i64::MAX as u64;
/// A radius that covers any sorted set (they hold at most 2^32 - 1 members).
const MAX_RADIUS: u64 = u32::MAX as u64;

/// One row of a leaderboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 1-based rank, highest score first.
    pub rank: u64,
    /// The member (e.g. a user id).
    pub member: String,
    /// Its score.
    pub score: f64,
}

/// A leaderboard on one sorted set.
#[derive(Clone)]
pub struct Leaderboard<C = ConnectionManager> {
    conn: C,
    key: String,
    ttl: Option<Duration>,
}

impl<C: ConnectionLike + Clone + Send + Sync> Leaderboard<C> {
    /// The leaderboard `<prefix>leaderboard:<name>:scores`, without TTL (boards are data, not
    /// cache; set one with [`Leaderboard::with_ttl`] for periodic boards such as "this week").
    pub fn new(conn: C, keys: &KeyBuilder, name: &str) -> Result<Self> {
        Ok(Leaderboard {
            conn,
            key: keys.key("leaderboard", name, "scores")?,
            ttl: None,
        })
    }

    /// Expire the whole board `ttl` after its last write.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The sorted-set key.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn check_score(score: f64) -> Result<()> {
        if score.is_finite() {
            Ok(())
        } else {
            Err(KeyspaceError::InvalidArgument("scores must be finite"))
        }
    }

    /// Adds `PEXPIRE` to a write pipeline when the board has a TTL.
    fn with_expiry(&self, pipe: &mut redis::Pipeline) {
        if let Some(ttl) = self.ttl {
            pipe.cmd("PEXPIRE").arg(&self.key).arg(millis(ttl)).ignore();
        }
    }

    /// Sets a member's score (insert or overwrite).
    pub async fn set_score(&self, member: &str, score: f64) -> Result<()> {
        Self::check_score(score)?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZADD")
            .arg(&self.key)
            .arg(score)
            .arg(member)
            .ignore();
        self.with_expiry(&mut pipe);
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Adds `by` to a member's score (starting from 0) and returns the new score.
    pub async fn incr(&self, member: &str, by: f64) -> Result<f64> {
        Self::check_score(by)?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZINCRBY")
            .arg(&self.key)
            .arg(by)
            .arg(member);
        self.with_expiry(&mut pipe);
        let (score,): (f64,) = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(score)
    }

    /// A member's score, if it is on the board.
    pub async fn score(&self, member: &str) -> Result<Option<f64>> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZSCORE")
            .arg(&self.key)
            .arg(member)
            .query_async(&mut conn)
            .await?)
    }

    /// A member's 1-based rank, highest first, if it is on the board.
    pub async fn rank(&self, member: &str) -> Result<Option<u64>> {
        let mut conn = self.conn.clone();
        let r: Option<u64> = redis::cmd("ZREVRANK")
            .arg(&self.key)
            .arg(member)
            .query_async(&mut conn)
            .await?;
        Ok(r.map(|r| r + 1))
    }

    /// The `n` best entries (empty for `n == 0`; any `n` beyond the board's size is the
    /// whole board).
    pub async fn top(&self, n: u64) -> Result<Vec<Entry>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        // ZREVRANGE takes a signed 64-bit index: clamp instead of letting Redis refuse it.
        let last = (n - 1).min(MAX_INDEX);
        let mut conn = self.conn.clone();
        let rows: Vec<(String, f64)> = redis::cmd("ZREVRANGE")
            .arg(&self.key)
            .arg(0)
            .arg(last)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        Ok(entries(0, rows))
    }

    /// The member's entry with up to `radius` entries above and below it, read atomically;
    /// empty when the member is not on the board.
    pub async fn around(&self, member: &str, radius: u64) -> Result<Vec<Entry>> {
        // A sorted set holds fewer than 2^32 members, so a larger radius means "everything";
        // clamping keeps the script's arithmetic in the integers Lua prints exactly.
        let radius = radius.min(MAX_RADIUS);
        let mut conn = self.conn.clone();
        let reply: Option<(u64, Vec<(String, f64)>)> = AROUND
            .key(&self.key)
            .arg(member)
            .arg(radius)
            .invoke_async(&mut conn)
            .await?;
        Ok(reply
            .map(|(start, rows)| entries(start, rows))
            .unwrap_or_default())
    }

    /// Removes a member; `true` if it was on the board.
    pub async fn remove(&self, member: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("ZREM")
            .arg(&self.key)
            .arg(member)
            .query_async(&mut conn)
            .await?;
        Ok(n == 1)
    }

    /// Number of members.
    pub async fn len(&self) -> Result<u64> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZCARD")
            .arg(&self.key)
            .query_async(&mut conn)
            .await?)
    }
}

fn entries(start: u64, rows: Vec<(String, f64)>) -> Vec<Entry> {
    rows.into_iter()
        .zip(start + 1..)
        .map(|((member, score), rank)| Entry {
            rank,
            member,
            score,
        })
        .collect()
}
