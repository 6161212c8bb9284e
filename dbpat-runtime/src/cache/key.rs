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
//!
//! The text is written by the crate's one key builder (`redis_key::KeyText`), which the
//! keyspaces' validated `keyspace::KeyBuilder` uses too. Ids are rendered with their
//! `Display` as they are (the entity name is one key segment, checked by the derive).

use crate::model::CachePolicy;
use crate::redis_key::KeyText;
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
    /// Keys for `policy`, all starting with `app_prefix` (may be empty; usually ends with `:`,
    /// and is written as given: `"app"` yields `appuser:123`).
    pub fn new(app_prefix: &str, policy: &CachePolicy) -> Self {
        KeyBuilder {
            app: app_prefix.to_owned(),
            entity: policy.key_prefix,
            hash_tag: policy.hash_tag,
        }
    }

    /// `<app>[<role>:]<entity>:<id>`, the id as a hash tag when the policy asks for one.
    fn text(&self, role: Option<&str>, id: &dyn Display) -> KeyText {
        let key = KeyText::new(&self.app);
        let key = match role {
            Some(role) => key.segment(role),
            None => key,
        };
        key.segment(self.entity)
            .segment_tagged_if(self.hash_tag, id)
    }

    /// `<app><entity>:<id>` (or `<app><entity>:{<id>}`).
    pub fn entity(&self, id: &dyn Display) -> String {
        self.text(None, id).finish()
    }

    /// `<app><entity>:<id>:<attribute>`.
    pub fn attribute(&self, id: &dyn Display, attribute: &str) -> String {
        self.text(None, id).segment(attribute).finish()
    }

    /// All keys of one id.
    pub fn keys(&self, id: &dyn Display) -> EntityKeys {
        let value = self.entity(id);
        EntityKeys {
            attribute_pattern: attribute_pattern_of(&value),
            value,
            lease: self.text(Some("lease"), id).finish(),
            writers: self.text(Some("writers"), id).finish(),
            subkeys: self.text(Some("subkeys"), id).finish(),
        }
    }

    /// The SCAN pattern of an id's attribute keys (`<app><entity>:<id>:*`, glob-escaped).
    #[cfg(test)]
    pub fn attribute_pattern(&self, id: &dyn Display) -> String {
        attribute_pattern_of(&self.entity(id))
    }
}

/// `<value key>:*`, the value key glob-escaped so only its own attribute keys match.
fn attribute_pattern_of(value: &str) -> String {
    KeyText::extending(&glob_escape(value))
        .segment("*")
        .finish()
}

/// Escapes the glob metacharacters of Redis `MATCH` patterns (shared with the keyspaces).
pub use crate::redis_key::glob_escape;

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
    fn key_format_of_the_patterns_document() {
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

    /// Pins every key byte for byte, with and without hash tag: the cache's Lua scripts,
    /// its tests and data already in Redis depend on these exact names.
    #[test]
    fn every_key_is_pinned() {
        let plain = KeyBuilder::new("shop:", &POLICY);
        assert_eq!(
            plain.keys(&42),
            EntityKeys {
                value: "shop:user:42".into(),
                lease: "shop:lease:user:42".into(),
                writers: "shop:writers:user:42".into(),
                subkeys: "shop:subkeys:user:42".into(),
                attribute_pattern: "shop:user:42:*".into(),
            }
        );
        let tagged = KeyBuilder::new(
            "shop:",
            &CachePolicy {
                hash_tag: true,
                ..POLICY
            },
        );
        assert_eq!(
            tagged.keys(&42),
            EntityKeys {
                value: "shop:user:{42}".into(),
                lease: "shop:lease:user:{42}".into(),
                writers: "shop:writers:user:{42}".into(),
                subkeys: "shop:subkeys:user:{42}".into(),
                attribute_pattern: "shop:user:{42}:*".into(),
            }
        );
        assert_eq!(tagged.attribute(&42, "profile"), "shop:user:{42}:profile");
        assert_eq!(
            plain.attribute_pattern(&42),
            plain.keys(&42).attribute_pattern
        );
        assert_eq!(plain.entity(&42), plain.keys(&42).value);
    }

    #[test]
    fn prefix_and_ids_are_written_as_given() {
        // The application prefix is verbatim: no separator is added after it.
        let bare = KeyBuilder::new("app", &POLICY);
        assert_eq!(bare.entity(&1), "appuser:1");
        assert_eq!(bare.keys(&1).lease, "applease:user:1");
        // Ids are their Display, unescaped; only the SCAN pattern escapes glob characters
        // (of the prefix and the id alike).
        let k = KeyBuilder::new("a*:", &POLICY);
        let id = "x:y?[z]";
        assert_eq!(k.entity(&id), "a*:user:x:y?[z]");
        assert_eq!(k.attribute(&id, "p"), "a*:user:x:y?[z]:p");
        assert_eq!(k.attribute_pattern(&id), "a\\*:user:x:y\\?\\[z\\]:*");
        let uuid = uuid::Uuid::nil();
        assert_eq!(
            KeyBuilder::new("", &POLICY).entity(&uuid),
            "user:00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn hash_tag_puts_every_key_of_an_id_in_one_slot() {
        use crate::redis_key::{hash_slot, hash_tag};
        let k = KeyBuilder::new(
            "app:",
            &CachePolicy {
                hash_tag: true,
                ..POLICY
            },
        );
        let keys = k.keys(&123);
        let slot = hash_slot("123");
        for key in [
            &keys.value,
            &keys.lease,
            &keys.writers,
            &keys.subkeys,
            &k.attribute(&123, "profile"),
        ] {
            assert_eq!(hash_tag(key), Some("123"), "{key}");
            assert_eq!(hash_slot(key), slot, "{key}");
        }
        // Without the tag the keys hash as whole strings (so they may land anywhere).
        let plain = KeyBuilder::new("app:", &POLICY).keys(&123);
        assert_eq!(hash_tag(&plain.value), None);
        assert_eq!(hash_slot(&plain.value), hash_slot("app:user:123"));
    }

    /// The formats as plain format strings (the cache's rendering before it moved onto the
    /// shared key builder), compared over prefixes, ids and tag settings.
    #[test]
    fn same_bytes_as_the_format_strings() {
        fn reference(app: &str, entity: &str, tag: bool, id: &str) -> (EntityKeys, String) {
            let id = if tag {
                format!("{{{id}}}")
            } else {
                id.to_owned()
            };
            let value = format!("{app}{entity}:{id}");
            let keys = EntityKeys {
                attribute_pattern: format!("{}:*", glob_escape(&value)),
                lease: format!("{app}lease:{entity}:{id}"),
                writers: format!("{app}writers:{entity}:{id}"),
                subkeys: format!("{app}subkeys:{entity}:{id}"),
                value: value.clone(),
            };
            (keys, format!("{value}:attr"))
        }
        for app in ["", "app:", "app", "a:b:", "x*["] {
            for tag in [false, true] {
                for id in ["1", "abc", "a:b", "{x}", "", "ü ñ", "*"] {
                    let k = KeyBuilder::new(
                        app,
                        &CachePolicy {
                            hash_tag: tag,
                            ..POLICY
                        },
                    );
                    let (keys, attribute) = reference(app, "user", tag, id);
                    assert_eq!(k.keys(&id), keys, "{app:?} {tag} {id:?}");
                    assert_eq!(k.entity(&id), keys.value);
                    assert_eq!(k.attribute(&id, "attr"), attribute);
                    assert_eq!(k.attribute_pattern(&id), keys.attribute_pattern);
                }
            }
        }
    }
}
