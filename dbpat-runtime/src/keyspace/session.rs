//! Sessions as hashes: `session:<id>` → fields, with sliding expiry on access.
//!
//! Every successful read or write renews the TTL (default [`ttl::SESSION`], 24 hours), so an
//! active session never expires and an idle one disappears a TTL after its last use. Renewal
//! and access happen in one script, so a session that has just expired is never resurrected
//! as a partial hash by a late write.
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{KeyBuilder, SessionStore};
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Web { user_id: i64, role: String }
//! let sessions = SessionStore::new(conn, KeyBuilder::new());
//! let id = sessions.create(&Web { user_id: 7, role: "admin".into() }).await?;
//! let back: Option<Web> = sessions.load(&id).await?; // renews the 24 h TTL
//! # Ok(()) }
//! ```

use super::error::{KeyspaceError, Result};
use super::key::KeyBuilder;
use super::ttl::{self, millis};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::Script;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

/// KEYS: session. ARGV: ttl ms. HGETALL and renew when present.
static GET_ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local v = redis.call('HGETALL', KEYS[1])
if #v > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v",
    )
});

/// KEYS: session. ARGV: ttl ms, field. HGET and renew when the session exists.
static GET_FIELD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return redis.call('HGET', KEYS[1], ARGV[2])",
    )
});

/// KEYS: session. ARGV: ttl ms, field, value, field, value... Only on an existing session.
static SET_FIELDS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1",
    )
});

/// KEYS: session. ARGV: ttl ms.
static TOUCH: LazyLock<Script> =
    LazyLock::new(|| Script::new(r"return redis.call('PEXPIRE', KEYS[1], ARGV[1])"));

/// Server-side sessions stored as hashes under `<prefix>session:<id>`.
#[derive(Clone)]
pub struct SessionStore<C = ConnectionManager> {
    conn: C,
    keys: KeyBuilder,
    ttl: Duration,
}

impl<C: ConnectionLike + Clone + Send + Sync> SessionStore<C> {
    /// A store with the patterns document's 24-hour sliding TTL.
    pub fn new(conn: C, keys: KeyBuilder) -> Self {
        SessionStore {
            conn,
            keys,
            ttl: ttl::SESSION,
        }
    }

    /// Overrides the sliding TTL.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The key of session `id`.
    pub fn key(&self, id: &str) -> Result<String> {
        self.keys.entity_key("session", id)
    }

    /// Creates a session from raw fields and returns its new random id (128 bits, hex).
    /// At least one field is required: Redis has no empty hashes.
    pub async fn create_fields(&self, fields: &[(&str, &str)]) -> Result<String> {
        if fields.is_empty() {
            return Err(KeyspaceError::InvalidArgument(
                "a session needs at least one field",
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let key = self.key(&id)?;
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&key)
            .arg(fields)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(self.ttl))
            .ignore();
        let () = pipe.query_async(&mut conn).await?;
        Ok(id)
    }

    /// Creates a session from a struct: each top-level field becomes a hash field holding
    /// its JSON encoding. `value` must serialize to a non-empty JSON object.
    pub async fn create<T: Serialize>(&self, value: &T) -> Result<String> {
        let fields = to_fields(value)?;
        let refs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.create_fields(&refs).await
    }

    /// All fields of a session, renewing its TTL; `None` when it does not exist (or expired).
    pub async fn get_all(&self, id: &str) -> Result<Option<HashMap<String, String>>> {
        let mut conn = self.conn.clone();
        let v: HashMap<String, String> = GET_ALL
            .key(self.key(id)?)
            .arg(millis(self.ttl))
            .invoke_async(&mut conn)
            .await?;
        Ok((!v.is_empty()).then_some(v))
    }

    /// Loads a session written by [`SessionStore::create`] (or whose fields hold JSON).
    pub async fn load<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>> {
        let Some(fields) = self.get_all(id).await? else {
            return Ok(None);
        };
        let mut map = serde_json::Map::new();
        for (k, v) in fields {
            map.insert(k, serde_json::from_str(&v)?);
        }
        Ok(Some(serde_json::from_value(serde_json::Value::Object(
            map,
        ))?))
    }

    /// One field, renewing the TTL; `None` if the session or the field is missing.
    pub async fn get_field(&self, id: &str, field: &str) -> Result<Option<String>> {
        let mut conn = self.conn.clone();
        Ok(GET_FIELD
            .key(self.key(id)?)
            .arg(millis(self.ttl))
            .arg(field)
            .invoke_async(&mut conn)
            .await?)
    }

    /// Sets fields of an existing session and renews it. Returns `false` (and writes
    /// nothing) when the session does not exist.
    pub async fn set_fields(&self, id: &str, fields: &[(&str, &str)]) -> Result<bool> {
        if fields.is_empty() {
            return Err(KeyspaceError::InvalidArgument("no fields to set"));
        }
        let mut conn = self.conn.clone();
        let mut inv = SET_FIELDS.key(self.key(id)?);
        inv.arg(millis(self.ttl));
        for (k, v) in fields {
            inv.arg(*k).arg(*v);
        }
        let done: i64 = inv.invoke_async(&mut conn).await?;
        Ok(done == 1)
    }

    /// Renews the TTL without reading; `false` when the session does not exist.
    pub async fn touch(&self, id: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let done: i64 = TOUCH
            .key(self.key(id)?)
            .arg(millis(self.ttl))
            .invoke_async(&mut conn)
            .await?;
        Ok(done == 1)
    }

    /// Deletes a session (logout); `true` if it existed.
    pub async fn destroy(&self, id: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("DEL")
            .arg(self.key(id)?)
            .query_async(&mut conn)
            .await?;
        Ok(n == 1)
    }

    /// Remaining time to live; `None` when the session does not exist.
    pub async fn ttl(&self, id: &str) -> Result<Option<Duration>> {
        let mut conn = self.conn.clone();
        let ms: i64 = redis::cmd("PTTL")
            .arg(self.key(id)?)
            .query_async(&mut conn)
            .await?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }
}

fn to_fields<T: Serialize>(value: &T) -> Result<Vec<(String, String)>> {
    match serde_json::to_value(value)? {
        serde_json::Value::Object(map) if !map.is_empty() => map
            .into_iter()
            .map(|(k, v)| Ok((k, serde_json::to_string(&v)?)))
            .collect(),
        _ => Err(KeyspaceError::InvalidArgument(
            "a session value must serialize to a non-empty JSON object",
        )),
    }
}
