//! Rate limits: a fixed window and a sliding window (log), each one atomic Lua script.
//!
//! Both answer with a [`Decision`]: allowed or not, the remaining quota and, when refused,
//! how long to wait. The default window is the patterns document's [`ttl::RATE_LIMIT`]
//! (60 s). Keys are
//! `<prefix>ratelimit:<subject>:<name>`, e.g. `ratelimit:user-42:api`; they expire with the
//! window, so idle subjects cost nothing.
//!
//! * [`FixedWindow`]: one counter per window. Cheap (one small string per subject), but a
//!   client can burst up to twice the limit across a window boundary.
//! * [`SlidingWindow`]: a sorted set of the admitted requests' timestamps (taken from the Redis
//!   server clock, so client clocks do not matter). Exact over any window-long interval; costs
//!   one set entry per admitted request.
//!
//! Refused requests are not counted, so hammering a limit does not extend the lockout.
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{KeyBuilder, SlidingWindow};
//! let limiter = SlidingWindow::new(conn, KeyBuilder::new(), "api", 100)?; // 100 per 60 s
//! let d = limiter.check("user-42").await?;
//! if !d.allowed {
//!     println!("429, retry after {:?}", d.retry_after);
//! }
//! # Ok(()) }
//! ```

use super::error::{KeyspaceError, Result};
use super::key::{validate_segment, KeyBuilder};
use super::ttl::{self, millis};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// KEYS: counter. ARGV: limit, window ms. Returns {allowed, count, ttl ms}.
static FIXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local limit = tonumber(ARGV[1])
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local allowed = 0
if c < limit then
  c = redis.call('INCR', KEYS[1])
  allowed = 1
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {allowed, c, ttl}",
    )
});

/// KEYS: log. ARGV: limit, window ms, unique member. Returns {allowed, count, retry ms}.
static SLIDING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local win = tonumber(ARGV[2]) * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - win))
local n = redis.call('ZCARD', KEYS[1])
if n < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, n + 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = tonumber(oldest[2]) + win - now
if retry < 1000 then retry = 1000 end
return {0, n, math.ceil(retry / 1000)}",
    )
});

/// The answer of a rate limiter for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is admitted (and counted).
    pub allowed: bool,
    /// The configured limit per window.
    pub limit: u64,
    /// Requests still admitted in the current window after this one.
    pub remaining: u64,
    /// When refused: how long until a request can be admitted again.
    pub retry_after: Option<Duration>,
}

struct Config<C> {
    conn: C,
    keys: KeyBuilder,
    name: String,
    limit: u64,
    window: Duration,
}

impl<C: ConnectionLike + Clone + Send + Sync> Config<C> {
    fn new(conn: C, keys: KeyBuilder, name: &str, limit: u64) -> Result<Self> {
        validate_segment(name)?;
        if limit == 0 {
            return Err(KeyspaceError::InvalidArgument(
                "rate limit must be at least 1",
            ));
        }
        Ok(Config {
            conn,
            keys,
            name: name.to_owned(),
            limit,
            window: ttl::RATE_LIMIT,
        })
    }

    fn window(mut self, window: Duration) -> Result<Self> {
        if window < Duration::from_millis(1) {
            return Err(KeyspaceError::InvalidArgument(
                "rate-limit window must be at least 1 ms",
            ));
        }
        self.window = window;
        Ok(self)
    }

    fn key(&self, subject: &str) -> Result<String> {
        self.keys.join(&["ratelimit", subject, &self.name])
    }

    fn decision(&self, (allowed, count, wait_ms): (i64, i64, i64)) -> Decision {
        let count = u64::try_from(count).unwrap_or(0);
        Decision {
            allowed: allowed == 1,
            limit: self.limit,
            remaining: self.limit.saturating_sub(count),
            retry_after: (allowed != 1)
                .then(|| Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0).max(1))),
        }
    }
}

/// A fixed-window limiter: at most `limit` requests per subject per window.
pub struct FixedWindow<C = ConnectionManager>(Config<C>);

impl<C: ConnectionLike + Clone + Send + Sync> FixedWindow<C> {
    /// `limit` requests per 60-second window under the limiter `name`.
    pub fn new(conn: C, keys: KeyBuilder, name: &str, limit: u64) -> Result<Self> {
        Ok(FixedWindow(Config::new(conn, keys, name, limit)?))
    }

    /// Overrides the window (at least 1 ms; longer than [`ttl::MAX`] counts as [`ttl::MAX`]).
    pub fn with_window(self, window: Duration) -> Result<Self> {
        Ok(FixedWindow(self.0.window(window)?))
    }

    /// The key counting `subject`'s requests.
    pub fn key(&self, subject: &str) -> Result<String> {
        self.0.key(subject)
    }

    /// Admits (and counts) one request of `subject`, or refuses it.
    pub async fn check(&self, subject: &str) -> Result<Decision> {
        let mut conn = self.0.conn.clone();
        let reply = FIXED
            .key(self.0.key(subject)?)
            .arg(self.0.limit)
            .arg(millis(self.0.window))
            .invoke_async(&mut conn)
            .await?;
        Ok(self.0.decision(reply))
    }
}

/// A sliding-window (log) limiter: at most `limit` requests in any window-long interval.
pub struct SlidingWindow<C = ConnectionManager>(Config<C>);

impl<C: ConnectionLike + Clone + Send + Sync> SlidingWindow<C> {
    /// `limit` requests per sliding 60-second window under the limiter `name`.
    pub fn new(conn: C, keys: KeyBuilder, name: &str, limit: u64) -> Result<Self> {
        Ok(SlidingWindow(Config::new(conn, keys, name, limit)?))
    }

    /// Overrides the window (at least 1 ms; longer than [`ttl::MAX`] counts as [`ttl::MAX`]).
    pub fn with_window(self, window: Duration) -> Result<Self> {
        Ok(SlidingWindow(self.0.window(window)?))
    }

    /// The key holding `subject`'s request log.
    pub fn key(&self, subject: &str) -> Result<String> {
        self.0.key(subject)
    }

    /// Admits (and logs) one request of `subject`, or refuses it.
    pub async fn check(&self, subject: &str) -> Result<Decision> {
        let mut conn = self.0.conn.clone();
        let reply = SLIDING
            .key(self.0.key(subject)?)
            .arg(self.0.limit)
            .arg(millis(self.0.window))
            .arg(uuid::Uuid::new_v4().simple().to_string())
            .invoke_async(&mut conn)
            .await?;
        Ok(self.0.decision(reply))
    }
}
