//! Redis key names, rendered from a [`CachePolicy`] plus an application prefix.
//!
//! | key | holds |
//! |---|---|
//! | `<app><entity>:<id>` | the cached row (or a negative entry) |
//! | `<app><entity>:<id>:<attribute>` | an application attribute (`user:123:profile`) |
//! | `<app>lease:<entity>:<id>` | the fill lease of one reader (stampede lock + stale-set guard) |
//! | `<app>writers:<entity>:<id>` | the writers in flight on the row (a hash, token -> deadline) |
//! | `<app>subkeys:<entity>:<id>` | the attribute keys written through the cache (a set) |
//!
//! With `hash_tag` the id is written `{<id>}` in every one of them, so all of an entity's keys
//! hash to the same Redis Cluster slot and the multi-key Lua scripts stay legal.

use crate::model::CachePolicy;
use std::fmt::Display;

/// Renders the key names of one cached entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBuilder {
    app: String,
    entity: &'static str,
    hash_tag: bool,
}

/// Every key of one entity id, rendered once per operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityKeys {
    /// `<app><entity>:<id>`: the cached row.
    pub value: String,
    /// `<app>lease:<entity>:<id>`: the reader's fill lease.
    pub lease: String,
    /// `<app>writers:<entity>:<id>`: writers in flight.
    pub writers: String,
    /// `<app>subkeys:<entity>:<id>`: tracked attribute keys.
    pub subkeys: String,
    /// `<app><entity>:<id>:*`, glob-escaped: the SCAN pattern of the attribute keys.
    pub attribute_pattern: String,
}

impl KeyBuilder {
    /// Keys for `policy`, all starting with `app_prefix` (may be empty; usually ends with `:`).
    pub fn new(app_prefix: &str, policy: &CachePolicy) -> Self {
        KeyBuilder {
            app: app_prefix.to_owned(),
            entity: policy.key_prefix,
            hash_tag: policy.hash_tag,
        }
    }

    fn id_part(&self, id: &dyn Display) -> String {
        if self.hash_tag {
            format!("{{{id}}}")
        } else {
            id.to_string()
        }
    }

    /// `<app><entity>:<id>` (or `<app><entity>:{<id>}`).
    pub fn entity(&self, id: &dyn Display) -> String {
        format!("{}{}:{}", self.app, self.entity, self.id_part(id))
    }

    /// `<app><entity>:<id>:<attribute>`.
    pub fn attribute(&self, id: &dyn Display, attribute: &str) -> String {
        format!("{}:{attribute}", self.entity(id))
    }

    /// All keys of one id.
    pub fn keys(&self, id: &dyn Display) -> EntityKeys {
        let id = self.id_part(id);
        let (app, entity) = (&self.app, self.entity);
        let value = format!("{app}{entity}:{id}");
        EntityKeys {
            attribute_pattern: format!("{}:*", glob_escape(&value)),
            value,
            lease: format!("{app}lease:{entity}:{id}"),
            writers: format!("{app}writers:{entity}:{id}"),
            subkeys: format!("{app}subkeys:{entity}:{id}"),
        }
    }

    /// The SCAN pattern of an id's attribute keys (`<app><entity>:<id>:*`, glob-escaped).
    pub fn attribute_pattern(&self, id: &dyn Display) -> String {
        format!("{}:*", glob_escape(&self.entity(id)))
    }
}

/// Escapes the glob metacharacters of Redis `MATCH` patterns (shared with the keyspaces).
pub use crate::keyspace::key::glob_escape;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CacheWrite;

    const POLICY: CachePolicy = CachePolicy {
        key_prefix: "user",
        ttl_secs: 900,
        negative_ttl_secs: 60,
        write: CacheWrite::Invalidate,
        hash_tag: false,
    };

    #[test]
    fn seed_key_format() {
        let k = KeyBuilder::new("", &POLICY);
        assert_eq!(k.entity(&123), "user:123");
        assert_eq!(k.attribute(&123, "profile"), "user:123:profile");
        let keys = k.keys(&123);
        assert_eq!(keys.lease, "lease:user:123");
        assert_eq!(keys.writers, "writers:user:123");
        assert_eq!(keys.subkeys, "subkeys:user:123");
    }

    #[test]
    fn app_prefix_and_hash_tag() {
        let k = KeyBuilder::new(
            "app:",
            &CachePolicy {
                hash_tag: true,
                ..POLICY
            },
        );
        assert_eq!(k.entity(&123), "app:user:{123}");
        assert_eq!(k.attribute(&123, "profile"), "app:user:{123}:profile");
        assert_eq!(k.keys(&123).lease, "app:lease:user:{123}");
        assert_eq!(k.attribute_pattern(&"a*b"), "app:user:{a\\*b}:*");
    }
}
