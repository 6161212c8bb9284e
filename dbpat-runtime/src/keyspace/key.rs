//! Key naming: `<prefix><entity>:<id>:<attribute>`, Cluster hash tags, and SCAN-based listing.
//!
//! Every key the keyspace blocks write is built here, so the whole application follows one
//! format (`user:123:profile`, `session:abc123`, `lock:user:42`) under one optional prefix
//! (`myapp:`), and every key can be listed with `SCAN ... MATCH`, never `KEYS`.
//!
//! ```
//! use dbpat_runtime::keyspace::KeyBuilder;
//! let keys = KeyBuilder::with_prefix("myapp").unwrap();
//! assert_eq!(keys.key("user", "123", "profile").unwrap(), "myapp:user:123:profile");
//! assert_eq!(keys.tagged_key("user", "123", "profile").unwrap(), "myapp:user:{123}:profile");
//! assert_eq!(keys.pattern("user", None, Some("profile")).unwrap(), "myapp:user:*:profile");
//! assert!(keys.key("user", "12:3", "profile").is_err()); // ':' would break the hierarchy
//! ```

use super::conn::{KeyspaceConnection, Primary};
use super::error::{KeyspaceError, Result};
use crate::redis_key::KeyText;
use std::collections::BTreeSet;

pub use crate::redis_key::{glob_escape, hash_slot, hash_tag, MAX_SEGMENT_LEN};

/// Builds keys of the form `<prefix><entity>:<id>:<attribute>`.
///
/// Segments (entity, id, attribute, name) must be non-empty, at most [`MAX_SEGMENT_LEN`] bytes,
/// and free of `:` (the hierarchy separator), `{` `}` (hash tags), the glob characters
/// `* ? [ ] \` (so patterns stay unambiguous), whitespace and control characters. Bad input is
/// a [`KeyspaceError::InvalidKeyPart`], never a panic and never a silently different key.
///
/// The text itself is written by the crate's one key builder (`redis_key::KeyText`), which
/// the entity cache's keys (`cache::KeyBuilder`) use too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyBuilder {
    prefix: String,
}

/// Checks one key segment; see [`KeyBuilder`] for the rules.
pub fn validate_segment(part: &str) -> Result<&str> {
    Ok(crate::redis_key::validate_segment(part)?)
}

impl KeyBuilder {
    /// A builder without prefix.
    pub fn new() -> Self {
        KeyBuilder::default()
    }

    /// A builder whose keys all start with `prefix:`. The prefix may itself be hierarchical
    /// (`"myapp:v2"`); a trailing `:` is optional. Each part follows the segment rules.
    pub fn with_prefix(prefix: &str) -> Result<Self> {
        let trimmed = prefix.strip_suffix(':').unwrap_or(prefix);
        if trimmed.is_empty() {
            return Ok(KeyBuilder::new());
        }
        for part in trimmed.split(':') {
            validate_segment(part)?;
        }
        Ok(KeyBuilder {
            prefix: format!("{trimmed}:"),
        })
    }

    /// The prefix, ending with `:` (or empty).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix><entity>:<id>:<attribute>`, e.g. `user:123:profile`.
    pub fn key(&self, entity: &str, id: &str, attribute: &str) -> Result<String> {
        self.join(&[entity, id, attribute])
    }

    /// `<prefix><entity>:<id>`, e.g. `session:abc123`.
    pub fn entity_key(&self, entity: &str, id: &str) -> Result<String> {
        self.join(&[entity, id])
    }

    /// `<prefix><entity>:{<id>}:<attribute>`: the id is a Cluster hash tag, so every key of one
    /// id (`user:{123}:profile`, `user:{123}:settings`) lands in the same slot and can be used
    /// together in one script or transaction.
    pub fn tagged_key(&self, entity: &str, id: &str, attribute: &str) -> Result<String> {
        Ok(KeyText::new(&self.prefix)
            .segment(validate_segment(entity)?)
            .tagged(validate_segment(id)?)
            .segment(validate_segment(attribute)?)
            .finish())
    }

    /// `<prefix><name>`, for singleton keys such as `online_users`.
    pub fn name(&self, name: &str) -> Result<String> {
        self.join(&[name])
    }

    /// `<prefix>` followed by the segments joined with `:`.
    pub fn join(&self, segments: &[&str]) -> Result<String> {
        if segments.is_empty() {
            return Err(KeyspaceError::InvalidArgument(
                "a key needs at least one segment",
            ));
        }
        let mut out = KeyText::new(&self.prefix);
        for s in segments {
            out = out.segment(validate_segment(s)?);
        }
        Ok(out.finish())
    }

    /// A `SCAN MATCH` pattern `<prefix><entity>:<id or *>:<attribute or *>`.
    ///
    /// `pattern("user", None, Some("profile"))` is `user:*:profile` (every profile);
    /// `pattern("user", Some("123"), None)` is `user:123:*` (every attribute of user 123).
    pub fn pattern(
        &self,
        entity: &str,
        id: Option<&str>,
        attribute: Option<&str>,
    ) -> Result<String> {
        self.glob(entity, id, attribute, false)
    }

    /// Like [`KeyBuilder::pattern`] for keys built with [`KeyBuilder::tagged_key`]:
    /// `user:{*}:profile`.
    pub fn tagged_pattern(
        &self,
        entity: &str,
        id: Option<&str>,
        attribute: Option<&str>,
    ) -> Result<String> {
        self.glob(entity, id, attribute, true)
    }

    /// `<prefix><entity>:<id or *>:<attribute or *>`, the id in `{...}` when `tagged`.
    fn glob(
        &self,
        entity: &str,
        id: Option<&str>,
        attribute: Option<&str>,
        tagged: bool,
    ) -> Result<String> {
        let entity = validate_segment(entity)?;
        let id = id.map(validate_segment).transpose()?.unwrap_or("*");
        let attribute = attribute.map(validate_segment).transpose()?.unwrap_or("*");
        // Validated segments hold no glob characters; only the prefix may need escaping.
        Ok(KeyText::new(&glob_escape(&self.prefix))
            .segment(entity)
            .segment_tagged_if(tagged, id)
            .segment(attribute)
            .finish())
    }

    /// A pattern matching every key under this builder's prefix (`myapp:*`).
    pub fn pattern_all(&self) -> String {
        format!("{}*", glob_escape(&self.prefix))
    }
}

/// A key in the same Cluster slot as `key`, named `<key>:<suffix>`.
///
/// If `key` already has a hash tag (`user:{123}:views`), appending keeps the tag; otherwise the
/// key cannot be co-located without renaming it, and [`KeyspaceError::InvalidArgument`] is returned.
pub fn companion_key(key: &str, suffix: &str) -> Result<String> {
    validate_segment(suffix)?;
    if hash_tag(key).is_none() {
        return Err(KeyspaceError::InvalidArgument(
            "companion keys need a key with a hash tag (KeyBuilder::tagged_key)",
        ));
    }
    Ok(KeyText::extending(key).segment(suffix).finish())
}

/// Options of [`scan_keys`].
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// The `COUNT` hint per SCAN call (default 100, as in the patterns document).
    pub count: usize,
    /// Stop after this many distinct keys (default 10,000), so a listing is always bounded.
    pub limit: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            count: 100,
            limit: 10_000,
        }
    }
}

/// Checks that `keys` all hash to one Redis Cluster slot, as a multi-key script or
/// transaction needs on a cluster; [`KeyspaceError::CrossSlot`] otherwise. The blocks call it
/// before every multi-key operation, on every deployment.
pub fn ensure_same_slot(keys: &[&str]) -> Result<()> {
    let slots: Vec<u16> = keys.iter().map(|k| hash_slot(k)).collect();
    if slots.windows(2).all(|w| w[0] == w[1]) {
        return Ok(());
    }
    Err(KeyspaceError::CrossSlot {
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        slots,
    })
}

/// Lists the keys matching a glob `pattern` with `SCAN cursor MATCH pattern COUNT n` (never
/// `KEYS`), deduplicated and sorted. Stops when every cursor returned to 0 or `limit` keys
/// were found.
///
/// On a Redis Cluster connection, SCAN runs on every primary in turn (SCAN covers one node),
/// so the listing covers the whole keyspace. A failover or resharding during the listing can
/// make it miss keys that moved; a periodic sweep (the counter flusher) finds them next time.
pub async fn scan_keys<C>(conn: &mut C, pattern: &str, options: ScanOptions) -> Result<Vec<String>>
where
    C: KeyspaceConnection,
{
    if options.count == 0 {
        return Err(KeyspaceError::InvalidArgument(
            "scan count must be positive",
        ));
    }
    let mut found = BTreeSet::new();
    if conn.is_cluster() {
        let primaries = conn.primaries().await?;
        if primaries.is_empty() {
            return Err(KeyspaceError::UnexpectedReply(
                "CLUSTER SLOTS: no primary serves any slot".to_owned(),
            ));
        }
        for primary in &primaries {
            scan_node(conn, Some(primary), pattern, options, &mut found).await?;
            if found.len() >= options.limit {
                break;
            }
        }
    } else {
        scan_node(conn, None, pattern, options, &mut found).await?;
    }
    Ok(found.into_iter().collect())
}

/// SCANs one node until its cursor returns to 0 or `found` holds `limit` keys.
async fn scan_node<C: KeyspaceConnection>(
    conn: &mut C,
    node: Option<&Primary>,
    pattern: &str,
    options: ScanOptions,
    found: &mut BTreeSet<String>,
) -> Result<()> {
    let mut cursor: u64 = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(options.count);
        let reply = conn.query_on(node, &cmd).await?;
        let (next, keys): (u64, Vec<String>) = redis::from_redis_value(reply)?;
        for k in keys {
            if found.len() >= options.limit {
                break;
            }
            found.insert(k);
        }
        if next == 0 || found.len() >= options.limit {
            return Ok(());
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_prefix() {
        let k = KeyBuilder::new();
        assert_eq!(k.key("user", "123", "profile").unwrap(), "user:123:profile");
        assert_eq!(k.entity_key("session", "abc123").unwrap(), "session:abc123");
        assert_eq!(k.name("online_users").unwrap(), "online_users");
        let p = KeyBuilder::with_prefix("app:v2:").unwrap();
        assert_eq!(p.prefix(), "app:v2:");
        assert_eq!(
            p.key("order", "456", "items").unwrap(),
            "app:v2:order:456:items"
        );
        assert_eq!(KeyBuilder::with_prefix("").unwrap().prefix(), "");
    }

    #[test]
    fn rejects_bad_segments() {
        let k = KeyBuilder::new();
        for bad in ["", "a:b", "{x}", "a*", "a b", "a\nb", "a?", "[a]", "a\\b"] {
            assert!(
                matches!(
                    k.key("user", bad, "p"),
                    Err(KeyspaceError::InvalidKeyPart { .. })
                ),
                "{bad:?} should be rejected"
            );
        }
        assert!(k.key("user", &"x".repeat(257), "p").is_err());
        assert!(k.key("user", &"x".repeat(256), "p").is_ok());
        assert!(KeyBuilder::with_prefix("a::b").is_err());
        assert!(KeyBuilder::with_prefix("a b").is_err());
        assert!(k.join(&[]).is_err());
    }

    #[test]
    fn patterns() {
        let k = KeyBuilder::with_prefix("app").unwrap();
        assert_eq!(
            k.pattern("user", None, Some("profile")).unwrap(),
            "app:user:*:profile"
        );
        assert_eq!(
            k.pattern("user", Some("123"), None).unwrap(),
            "app:user:123:*"
        );
        assert_eq!(
            k.tagged_pattern("user", None, Some("views")).unwrap(),
            "app:user:{*}:views"
        );
        assert_eq!(k.pattern_all(), "app:*");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn hash_tags_and_slots() {
        // Reference values from the Redis Cluster specification / CLUSTER KEYSLOT.
        assert_eq!(hash_slot("123456789"), 0x31C3 & 0x3FFF);
        assert_eq!(hash_slot("somekey"), 11058);
        assert_eq!(hash_slot("foo{hash_tag}"), 2515);
        let k = KeyBuilder::with_prefix("app").unwrap();
        let a = k.tagged_key("user", "123", "profile").unwrap();
        let b = k.tagged_key("user", "123", "settings").unwrap();
        assert_eq!(hash_tag(&a), Some("123"));
        assert_eq!(hash_slot(&a), hash_slot(&b));
        assert_eq!(hash_slot(&a), hash_slot("123"));
        let c = companion_key(&a, "pending").unwrap();
        assert_eq!(c, "app:user:{123}:profile:pending");
        assert_eq!(hash_slot(&c), hash_slot(&a));
        assert!(companion_key("user:123:profile", "pending").is_err());
        assert_eq!(hash_tag("a{}b{c}"), None);
    }

    #[test]
    fn same_slot_check() {
        let k = KeyBuilder::with_prefix("app").unwrap();
        let a = k.tagged_key("user", "123", "views").unwrap();
        let pending = companion_key(&a, "pending").unwrap();
        assert!(ensure_same_slot(&[&a, &pending]).is_ok());
        assert!(ensure_same_slot(&[]).is_ok());
        let plain = k.key("user", "123", "views").unwrap();
        let other = k.key("user", "124", "views").unwrap();
        assert_ne!(hash_slot(&plain), hash_slot(&other));
        match ensure_same_slot(&[&plain, &other]) {
            Err(KeyspaceError::CrossSlot { keys, slots }) => {
                assert_eq!(keys, vec![plain.clone(), other.clone()]);
                assert_eq!(slots, vec![hash_slot(&plain), hash_slot(&other)]);
            }
            other => panic!("expected CrossSlot, got {other:?}"),
        }
    }
}
