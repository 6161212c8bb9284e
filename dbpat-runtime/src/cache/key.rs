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
//! keyspaces' validated `keyspace::KeyBuilder` uses too. `<id>` (the id's `Display`) and
//! `<attribute>` are percent-escaped (`KeyText::segment_escaped`): `%` `:` `{` `}` `*` `?` `[`
//! `]` `\` `^`, space and ASCII control characters become `%XX`, the rest is kept, so numeric
//! and UUID ids are written as they are (`user:123`) and the id `a:b` is `user:a%3Ab`. Hence no
//! two (entity, id, attribute) share a key, a hash tag is exactly the id, and the `SCAN`
//! pattern of an id's attributes matches no other id's keys. `<entity>` is one key segment,
//! neither empty nor one of [`RESERVED_KEY_PREFIXES`] (the derive checks it at compile time,
//! [`KeyBuilder::new`] at run time), so the value and attribute keys never meet the role keys.

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

/// The first segments of the cache's role keys (`lease:<entity>:<id>`, ...), plus `dataset`
/// (reserved for a role to come): an entity with one of them as its key prefix would share
/// keys with them (entity `lease`, id `user`, attribute `x` is the lease of `user` `x`).
/// `dbpat-derive` (`valid.rs`) rejects the same names at compile time.
pub const RESERVED_KEY_PREFIXES: &[&str] = &["lease", "writers", "subkeys", "dataset"];

/// Why `prefix` cannot be a `CachePolicy::key_prefix`, if it cannot: the rules of the derive
/// (`dbpat-derive`, `valid.rs`), for policies written by hand.
pub fn key_prefix_error(prefix: &str) -> Option<&'static str> {
    if prefix.is_empty() || prefix.contains([':', '{', '}', ' ', '*']) {
        Some("a cache key prefix is one key segment: not empty, no `:`, `{`, `}`, `*` or spaces")
    } else if RESERVED_KEY_PREFIXES.contains(&prefix) {
        Some("`lease`, `writers`, `subkeys` and `dataset` are reserved for the cache's own keys")
    } else {
        None
    }
}

impl KeyBuilder {
    /// Keys for `policy`, all starting with `app_prefix` (may be empty; usually ends with `:`,
    /// and is written as given: `"app"` yields `appuser:123`).
    ///
    /// # Panics
    ///
    /// If `policy.key_prefix` is not one key segment or is one of [`RESERVED_KEY_PREFIXES`]
    /// (see [`key_prefix_error`]): its keys could be another entity's or a role key. A derived
    /// policy never is (the derive rejects it), and `Cache::with_source` checks a hand-written
    /// one first (returning `Error::InvalidPolicy`), so this is an internal guard.
    pub fn new(app_prefix: &str, policy: &CachePolicy) -> Self {
        if let Some(reason) = key_prefix_error(policy.key_prefix) {
            panic!(
                "invalid CachePolicy::key_prefix {:?}: {reason}",
                policy.key_prefix
            );
        }
        KeyBuilder {
            app: app_prefix.to_owned(),
            entity: policy.key_prefix,
            hash_tag: policy.hash_tag,
        }
    }

    /// `<app>[<role>:]<entity>:<id>`, the id escaped, as a hash tag when the policy asks for
    /// one.
    fn text(&self, role: Option<&str>, id: &dyn Display) -> KeyText {
        let key = KeyText::new(&self.app);
        let key = match role {
            Some(role) => key.segment(role),
            None => key,
        };
        let key = key.segment(self.entity);
        if self.hash_tag {
            key.tagged_escaped(id)
        } else {
            key.segment_escaped(id)
        }
    }

    /// `<app><entity>:<id>` (or `<app><entity>:{<id>}`), the id escaped.
    pub fn entity(&self, id: &dyn Display) -> String {
        self.text(None, id).finish()
    }

    /// `<app><entity>:<id>:<attribute>`, the id and the attribute escaped.
    pub fn attribute(&self, id: &dyn Display, attribute: &str) -> String {
        self.text(None, id).segment_escaped(attribute).finish()
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
        assert_eq!(k.attribute_pattern(&"a*b"), "app:user:{a%2Ab}:*");
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
    fn prefix_as_given_ids_and_attributes_escaped() {
        // The application prefix is verbatim: no separator is added after it.
        let bare = KeyBuilder::new("app", &POLICY);
        assert_eq!(bare.entity(&1), "appuser:1");
        assert_eq!(bare.keys(&1).lease, "applease:user:1");
        // Ids and attributes are percent-escaped, so each is one segment without glob
        // characters; the SCAN pattern glob-escapes the prefix (written as given).
        let k = KeyBuilder::new("a*:", &POLICY);
        let id = "x:y?[z]";
        assert_eq!(k.entity(&id), "a*:user:x%3Ay%3F%5Bz%5D");
        assert_eq!(k.attribute(&id, "p"), "a*:user:x%3Ay%3F%5Bz%5D:p");
        assert_eq!(k.attribute(&id, "p:q*"), "a*:user:x%3Ay%3F%5Bz%5D:p%3Aq%2A");
        assert_eq!(k.attribute_pattern(&id), "a\\*:user:x%3Ay%3F%5Bz%5D:*");
        assert_eq!(k.keys(&id).lease, "a*:lease:user:x%3Ay%3F%5Bz%5D");
        assert_eq!(k.entity(&"100%"), "a*:user:100%25");
        assert_eq!(k.entity(&"a b\t\\^{}"), "a*:user:a%20b%09%5C%5E%7B%7D");
        // Numeric and UUID ids (and plain attribute names) are unchanged.
        let k = KeyBuilder::new("", &POLICY);
        assert_eq!(k.entity(&-7i64), "user:-7");
        assert_eq!(k.attribute(&7, "profile_v2.json"), "user:7:profile_v2.json");
        let uuid = uuid::Uuid::nil();
        assert_eq!(k.entity(&uuid), "user:00000000-0000-0000-0000-000000000000");
        let uuid = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(k.entity(&uuid), "user:01234567-89ab-cdef-0123-456789abcdef");
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
    /// shared key builder), compared over prefixes, ids (given with their escaped form) and tag
    /// settings.
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
        let ids = [
            ("1", "1"),
            ("abc", "abc"),
            ("a:b", "a%3Ab"),
            ("{x}", "%7Bx%7D"),
            ("", ""),
            ("ü ñ", "ü%20ñ"),
            ("*", "%2A"),
            ("%3A", "%253A"),
        ];
        for app in ["", "app:", "app", "a:b:", "x*["] {
            for tag in [false, true] {
                for (id, escaped) in ids {
                    let k = KeyBuilder::new(
                        app,
                        &CachePolicy {
                            hash_tag: tag,
                            ..POLICY
                        },
                    );
                    let (keys, attribute) = reference(app, "user", tag, escaped);
                    assert_eq!(k.keys(&id), keys, "{app:?} {tag} {id:?}");
                    assert_eq!(k.entity(&id), keys.value);
                    assert_eq!(k.attribute(&id, "attr"), attribute);
                    assert_eq!(k.attribute_pattern(&id), keys.attribute_pattern);
                }
            }
        }
    }

    /// Redis `MATCH` semantics (`stringmatchlen` in `util.c`): `*`, `?`, `[...]` with `^`
    /// and ranges, `\` escaping the next byte (also inside a class).
    fn redis_glob(pattern: &[u8], text: &[u8]) -> bool {
        match pattern {
            [] => text.is_empty(),
            [b'*', rest @ ..] => (0..=text.len()).any(|i| redis_glob(rest, &text[i..])),
            [b'?', rest @ ..] => !text.is_empty() && redis_glob(rest, &text[1..]),
            [b'[', class @ ..] => {
                let Some((&c, text_rest)) = text.split_first() else {
                    return false;
                };
                let (negate, mut p) = match class {
                    [b'^', p @ ..] => (true, p),
                    p => (false, p),
                };
                let mut hit = false;
                loop {
                    match p {
                        [] => break,
                        [b']', rest @ ..] => {
                            p = rest;
                            break;
                        }
                        [b'\\', e, rest @ ..] => {
                            hit |= *e == c;
                            p = rest;
                        }
                        [lo, b'-', hi, rest @ ..] if *hi != b']' => {
                            let (lo, hi) = if lo <= hi { (*lo, *hi) } else { (*hi, *lo) };
                            hit |= (lo..=hi).contains(&c);
                            p = rest;
                        }
                        [x, rest @ ..] => {
                            hit |= *x == c;
                            p = rest;
                        }
                    }
                }
                hit != negate && redis_glob(p, text_rest)
            }
            [b'\\', e, rest @ ..] => text.first() == Some(e) && redis_glob(rest, &text[1..]),
            [x, rest @ ..] => text.first() == Some(x) && redis_glob(rest, &text[1..]),
        }
    }

    #[test]
    fn the_glob_matcher_follows_redis() {
        let m = |p: &str, t: &str| redis_glob(p.as_bytes(), t.as_bytes());
        assert!(m("user:*", "user:1:x"));
        assert!(m("user:a:*", "user:a:b:c"), "`*` crosses `:`");
        assert!(m("a?c", "abc") && !m("a?c", "ac"));
        assert!(m("[a-c]x", "bx") && !m("[^a-c]x", "bx") && m("[^a-c]x", "dx"));
        assert!(m("a\\*", "a*") && !m("a\\*", "ab"));
        assert!(m("[\\]]", "]") && m("\\[x\\]", "[x]"));
        assert!(!m("user:1", "user:12"));
    }

    /// Ids and attributes made of separators, braces, glob characters, escapes and nothing:
    /// every key of every (id, attribute) is distinct from every other, and the SCAN pattern of
    /// an id matches its own attribute keys and none of any other key.
    #[test]
    fn nasty_ids_never_share_a_key_or_a_sweep() {
        let ids = [
            "a", "a:b", "a:*", "a:b:c", "*", "?", "[x]", "{x}", "}{", "\\", "a b", "%", "%3A", "",
            "a:", ":a", "b", "b:c", "a\nb", "^",
        ];
        let attributes = ["p", "b", "b:c", "c", "*", "", ":", "%3A", "x y"];
        for app in ["", "app:", "a*[:"] {
            for tag in [false, true] {
                let k = KeyBuilder::new(
                    app,
                    &CachePolicy {
                        hash_tag: tag,
                        ..POLICY
                    },
                );
                // key -> (the id, which of its keys)
                let mut owner = std::collections::HashMap::new();
                let mut claim = |key: String, id: &'static str, what: String| {
                    if let Some(first) = owner.insert(key.clone(), (id, what.clone())) {
                        panic!(
                            "{app:?} tag {tag}: {key:?} is the {} of {:?} and the {what} of {id:?}",
                            first.1, first.0
                        );
                    }
                };
                for id in ids {
                    let keys = k.keys(&id);
                    claim(keys.value, id, "row".into());
                    claim(keys.lease, id, "lease".into());
                    claim(keys.writers, id, "writers".into());
                    claim(keys.subkeys, id, "subkeys".into());
                    for attribute in attributes {
                        claim(
                            k.attribute(&id, attribute),
                            id,
                            format!("attribute {attribute:?}"),
                        );
                    }
                }
                for id in ids {
                    let pattern = k.keys(&id).attribute_pattern;
                    if tag {
                        let key = k.attribute(&id, "p");
                        let tag_text = crate::redis_key::hash_tag(&key);
                        assert!(
                            tag_text.is_none_or(|t| !t.contains(['{', '}', ':'])),
                            "{key}"
                        );
                    }
                    for (key, (of, what)) in &owner {
                        let own_attribute = *of == id && what.starts_with("attribute ");
                        assert_eq!(
                            redis_glob(pattern.as_bytes(), key.as_bytes()),
                            own_attribute,
                            "{app:?} tag {tag}: the sweep of {id:?} ({pattern:?}) vs {key:?}, the {what} of {of:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn reserved_and_malformed_key_prefixes_are_refused() {
        for bad in [
            "lease", "writers", "subkeys", "dataset", "", "a:b", "{x}", "a}", "a*", "a b",
        ] {
            assert!(key_prefix_error(bad).is_some(), "{bad:?}");
        }
        for ok in ["user", "leases", "lease_entry", "Lease", "data-set", "item"] {
            assert_eq!(key_prefix_error(ok), None, "{ok:?}");
        }
    }

    #[test]
    #[should_panic(expected = "invalid CachePolicy::key_prefix \"lease\": `lease`, `writers`")]
    fn a_hand_written_reserved_key_prefix_panics() {
        KeyBuilder::new(
            "app:",
            &CachePolicy {
                key_prefix: "lease",
                ..POLICY
            },
        );
    }
}
