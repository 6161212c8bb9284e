//! Sessions as hashes: `session:<id>` → fields, with sliding expiry on access.
//!
//! Every successful read or write renews the TTL (default [`ttl::SESSION`], 24 hours), so an
//! active session never expires and an idle one disappears a TTL after its last use. Renewal
//! and access happen in one script, so a session that has just expired is never resurrected
//! as a partial hash by a late write.
//!
//! # One encoding
//!
//! Every hash field holds the JSON encoding of its value, whichever method wrote it:
//! [`SessionStore::create`] stores each top-level field of a struct, and
//! [`SessionStore::create_fields`] and [`SessionStore::set_fields`] take values that implement
//! `Serialize` and encode them the same way (`("theme", "dark")` is stored as `"dark"`, with
//! the quotes). So whatever this store wrote, [`SessionStore::load`] and
//! [`SessionStore::get_field`] can read back.
//!
//! `load::<T>` passes the hash to serde as a map. Fields `T` does not have are ignored
//! without being parsed (serde's default for structs; `#[serde(deny_unknown_fields)]` makes
//! them a [`KeyspaceError::Codec`] naming the field). A field `T` has that does not hold the
//! JSON of its type, which only a writer outside this store can produce, is a
//! [`KeyspaceError::Codec`] naming the field.
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{KeyBuilder, SessionStore};
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Web { user_id: i64, role: String }
//! let sessions = SessionStore::new(conn, KeyBuilder::new());
//! let id = sessions.create(&Web { user_id: 7, role: "admin".into() }).await?;
//! sessions.set_fields(&id, &[("theme", "dark")]).await?; // stored as JSON: "dark"
//! let back: Option<Web> = sessions.load(&id).await?; // renews the 24 h TTL; `theme` ignored
//! let theme: Option<String> = sessions.get_field(&id, "theme").await?;
//! # Ok(()) }
//! ```

use super::error::{KeyspaceError, Result};
use super::key::KeyBuilder;
use super::ttl::{self, millis};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::Script;
use serde::de::value::MapDeserializer;
use serde::de::{DeserializeOwned, IntoDeserializer, Visitor};
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

    /// Creates a session from `(field, value)` pairs and returns its new random id (128 bits,
    /// hex). Each value is stored JSON-encoded, as [`SessionStore::create`] stores struct
    /// fields; for values of different types use `serde_json::Value` (`json!(14)`). At least
    /// one field is required: Redis has no empty hashes.
    pub async fn create_fields<V: Serialize>(&self, fields: &[(&str, V)]) -> Result<String> {
        self.create_encoded(&encode_pairs(fields)?).await
    }

    /// Creates a session from a struct: each top-level field becomes a hash field holding
    /// its JSON encoding. `value` must serialize to a non-empty JSON object.
    pub async fn create<T: Serialize>(&self, value: &T) -> Result<String> {
        self.create_encoded(&to_fields(value)?).await
    }

    async fn create_encoded(&self, fields: &[(String, String)]) -> Result<String> {
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

    /// All fields of a session as stored (each value is the field's JSON text), renewing its
    /// TTL; `None` when it does not exist (or expired).
    pub async fn get_all(&self, id: &str) -> Result<Option<HashMap<String, String>>> {
        let mut conn = self.conn.clone();
        let v: HashMap<String, String> = GET_ALL
            .key(self.key(id)?)
            .arg(millis(self.ttl))
            .invoke_async(&mut conn)
            .await?;
        Ok((!v.is_empty()).then_some(v))
    }

    /// Loads a session as `T`, renewing its TTL; `None` when it does not exist (or expired).
    ///
    /// The hash is read as a map of field name to JSON value. Fields `T` lacks are ignored
    /// unparsed, unless `T` is `#[serde(deny_unknown_fields)]`: then they are
    /// [`KeyspaceError::Codec`] (`unknown field ...`). A field `T` has whose text is not the
    /// JSON of its type is [`KeyspaceError::Codec`] starting `session field "<name>": `, and a
    /// field `T` requires but the hash lacks is `missing field ...`.
    pub async fn load<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>> {
        let Some(fields) = self.get_all(id).await? else {
            return Ok(None);
        };
        let map = MapDeserializer::<_, serde_json::Error>::new(
            fields
                .into_iter()
                .map(|(name, json)| (name.clone(), StoredField { name, json })),
        );
        Ok(Some(T::deserialize(map)?))
    }

    /// One field decoded from its JSON, renewing the TTL; `None` if the session or the field
    /// is missing. A stored text that is not the JSON of `V` is [`KeyspaceError::Codec`]
    /// naming the field.
    pub async fn get_field<V: DeserializeOwned>(&self, id: &str, field: &str) -> Result<Option<V>> {
        let mut conn = self.conn.clone();
        let json: Option<String> = GET_FIELD
            .key(self.key(id)?)
            .arg(millis(self.ttl))
            .arg(field)
            .invoke_async(&mut conn)
            .await?;
        json.map(|json| {
            V::deserialize(StoredField {
                name: field.to_owned(),
                json,
            })
        })
        .transpose()
        .map_err(KeyspaceError::from)
    }

    /// Sets fields of an existing session and renews it. Each value is stored JSON-encoded,
    /// like the fields [`SessionStore::create`] writes, so [`SessionStore::load`] reads them
    /// back (`&[("theme", "dark")]` stores `"dark"`; mix types with `serde_json::Value`).
    /// Returns `false` (and writes nothing) when the session does not exist.
    pub async fn set_fields<V: Serialize>(&self, id: &str, fields: &[(&str, V)]) -> Result<bool> {
        if fields.is_empty() {
            return Err(KeyspaceError::InvalidArgument("no fields to set"));
        }
        let encoded = encode_pairs(fields)?;
        let mut conn = self.conn.clone();
        let mut inv = SET_FIELDS.key(self.key(id)?);
        inv.arg(millis(self.ttl));
        for (k, v) in &encoded {
            inv.arg(k).arg(v);
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

fn encode_pairs<V: Serialize>(fields: &[(&str, V)]) -> Result<Vec<(String, String)>> {
    fields
        .iter()
        .map(|(k, v)| Ok(((*k).to_owned(), serde_json::to_string(v)?)))
        .collect()
}

/// One stored hash field on its way into a typed value: its JSON text is parsed only when
/// serde asks for the value, so a field the target type ignores is never parsed, and a parse
/// or type error names the field.
struct StoredField {
    name: String,
    json: String,
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for StoredField {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl StoredField {
    fn value(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_str(&self.json)
    }

    fn named(&self, e: serde_json::Error) -> serde_json::Error {
        serde::de::Error::custom(format_args!("session field {:?}: {e}", self.name))
    }
}

/// Forwards each `Deserializer` method to the field's parsed `serde_json::Value`, keeping the
/// type hint (`deserialize_option` and the like behave as on any JSON).
macro_rules! forward_to_json_value {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> serde_json::Result<V::Value> {
            self.value()
                .and_then(|v| v.$method($($arg,)* visitor))
                .map_err(|e| self.named(e))
        }
    )*};
}

impl<'de> serde::Deserializer<'de> for StoredField {
    type Error = serde_json::Error;

    forward_to_json_value! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }

    /// A field the target type does not have: skipped without parsing.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> serde_json::Result<V::Value> {
        visitor.visit_unit()
    }
}
