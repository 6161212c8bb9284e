//! Unique sets (`online_users`): SADD / SISMEMBER / SCARD / SREM with a TTL.
//!
//! The TTL applies to the whole set and is renewed on every add, so the set disappears once
//! nobody has been added for a TTL. The default is [`ttl::SESSION`] (24 h): presence should not
//! outlive a session. Members do not expire individually; remove them explicitly (on logout),
//! or use one set per time bucket (`online_users:<minute>`) when stale members matter.
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{KeyBuilder, UniqueSet};
//! let online = UniqueSet::new(conn, &KeyBuilder::new(), "online_users")?;
//! online.add("user-1").await?;
//! assert!(online.contains("user-1").await?);
//! # Ok(()) }
//! ```

use super::error::{KeyspaceError, Result};
use super::key::KeyBuilder;
use super::ttl::{self, millis};
use redis::aio::{ConnectionLike, ConnectionManager};
use std::collections::BTreeSet;
use std::time::Duration;

/// A set of unique members under one key, with a whole-set TTL.
#[derive(Clone)]
pub struct UniqueSet<C = ConnectionManager> {
    conn: C,
    key: String,
    ttl: Duration,
}

impl<C: ConnectionLike + Clone + Send + Sync> UniqueSet<C> {
    /// The set `<prefix><name>` with the default 24-hour TTL.
    pub fn new(conn: C, keys: &KeyBuilder, name: &str) -> Result<Self> {
        Ok(UniqueSet {
            conn,
            key: keys.name(name)?,
            ttl: ttl::SESSION,
        })
    }

    /// A set under an already built key (e.g. `keys.key("room", "7", "members")`).
    pub fn with_key(conn: C, key: String) -> Self {
        UniqueSet {
            conn,
            key,
            ttl: ttl::SESSION,
        }
    }

    /// Overrides the TTL.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The set key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Adds a member and renews the TTL; `true` if it was not yet present.
    pub async fn add(&self, member: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let (added,): (i64,) = redis::pipe()
            .atomic()
            .cmd("SADD")
            .arg(&self.key)
            .arg(member)
            .cmd("PEXPIRE")
            .arg(&self.key)
            .arg(millis(self.ttl))
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(added == 1)
    }

    /// Whether `member` is in the set.
    pub async fn contains(&self, member: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("SISMEMBER")
            .arg(&self.key)
            .arg(member)
            .query_async(&mut conn)
            .await?)
    }

    /// Number of members.
    pub async fn len(&self) -> Result<u64> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("SCARD")
            .arg(&self.key)
            .query_async(&mut conn)
            .await?)
    }

    /// Removes a member; `true` if it was present.
    pub async fn remove(&self, member: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("SREM")
            .arg(&self.key)
            .arg(member)
            .query_async(&mut conn)
            .await?;
        Ok(n == 1)
    }

    /// Up to `limit` members, read with SSCAN (never one blocking SMEMBERS on a huge set).
    pub async fn members(&self, limit: usize) -> Result<Vec<String>> {
        if limit == 0 {
            return Err(KeyspaceError::InvalidArgument("limit must be positive"));
        }
        let mut conn = self.conn.clone();
        let mut out = BTreeSet::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SSCAN")
                .arg(&self.key)
                .arg(cursor)
                .arg("COUNT")
                .arg(100)
                .query_async(&mut conn)
                .await?;
            out.extend(batch);
            if next == 0 || out.len() >= limit {
                break;
            }
            cursor = next;
        }
        Ok(out.into_iter().take(limit).collect())
    }

    /// Remaining TTL of the set; `None` when it does not exist.
    pub async fn ttl(&self) -> Result<Option<Duration>> {
        let mut conn = self.conn.clone();
        let ms: i64 = redis::cmd("PTTL")
            .arg(&self.key)
            .query_async(&mut conn)
            .await?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }
}
