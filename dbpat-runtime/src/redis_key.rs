//! The one Redis key builder of the crate, shared by the entity cache (`cache::key`) and the
//! keyspaces (`keyspace::key`).
//!
//! Every key is `<prefix><segment>:<segment>:...`: the prefix is written as given (the
//! front-ends decide whether it ends with `:`), the segments are joined with [`SEPARATOR`], and
//! any segment can be written as a Redis Cluster hash tag `{<segment>}`. This module also holds
//! the segment rules ([`validate_segment`]), `SCAN MATCH` escaping ([`glob_escape`]) and the
//! Cluster slot computation ([`hash_tag`], [`hash_slot`]).
//!
//! It depends on neither `cache` nor `keyspace`, so both can build on it without an import
//! cycle. [`KeyText`] itself never validates: the keyspace front-end validates every segment
//! first (and rejects what does not fit), the cache front-end writes entity ids and attribute
//! names percent-escaped ([`KeyText::segment_escaped`]; its entity names are checked by the
//! derive).

#![warn(missing_docs)]
// Validation, hash tags and slots serve the keyspaces; the cache alone builds keys only.
#![cfg_attr(not(feature = "keyspace"), allow(dead_code))]

use std::fmt::{self, Display, Write as _};

/// The hierarchy separator between key segments.
pub const SEPARATOR: char = ':';

/// Longest accepted segment, in bytes.
pub const MAX_SEGMENT_LEN: usize = 256;

/// A key segment that [`validate_segment`] rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid key part {part:?}: {reason}")]
pub struct InvalidSegment {
    /// The rejected text (its first 80 characters).
    pub part: String,
    /// Why it was rejected.
    pub reason: &'static str,
}

/// Checks one key segment: non-empty, at most [`MAX_SEGMENT_LEN`] bytes, and free of `:` (the
/// hierarchy separator), `{` `}` (hash tags), the glob characters `* ? [ ] \` (so patterns stay
/// unambiguous), whitespace and control characters.
pub fn validate_segment(part: &str) -> Result<&str, InvalidSegment> {
    let reject = |reason| {
        Err(InvalidSegment {
            part: part.chars().take(80).collect(),
            reason,
        })
    };
    if part.is_empty() {
        return reject("empty");
    }
    if part.len() > MAX_SEGMENT_LEN {
        return reject("longer than 256 bytes");
    }
    for c in part.chars() {
        match c {
            SEPARATOR => return reject("contains ':' (the hierarchy separator)"),
            '{' | '}' => return reject("contains '{' or '}' (reserved for hash tags)"),
            '*' | '?' | '[' | ']' | '\\' => return reject("contains a glob character"),
            c if c.is_whitespace() || c.is_control() => {
                return reject("contains whitespace or a control character")
            }
            _ => {}
        }
    }
    Ok(part)
}

/// A key being written: a verbatim prefix, then segments joined with [`SEPARATOR`].
///
/// ```text
/// KeyText::new("app:").segment("user").tagged("123").segment("profile")  =>  app:user:{123}:profile
/// KeyText::new("").segment("lease").segment("user").segment(42)         =>  lease:user:42
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyText {
    text: String,
    /// Whether a segment follows the prefix already (so the next one needs a separator).
    has_segment: bool,
}

impl KeyText {
    /// A key starting with `prefix`, written as given (no separator is added after it).
    pub fn new(prefix: &str) -> Self {
        KeyText {
            text: prefix.to_owned(),
            has_segment: false,
        }
    }

    /// Continues an existing key: the next segment is appended after a separator
    /// (`user:{123}:views` + `pending` = `user:{123}:views:pending`).
    pub fn extending(key: &str) -> Self {
        KeyText {
            text: key.to_owned(),
            has_segment: !key.is_empty(),
        }
    }

    fn separate(&mut self) {
        if self.has_segment {
            self.text.push(SEPARATOR);
        }
        self.has_segment = true;
    }

    /// Appends `:<segment>` (no separator right after the prefix).
    pub fn segment(mut self, segment: impl Display) -> Self {
        self.separate();
        push_display(&mut self.text, segment);
        self
    }

    /// Appends `:{<segment>}`: a Cluster hash tag, so every key with the same tag lands in the
    /// same slot.
    pub fn tagged(mut self, segment: impl Display) -> Self {
        self.separate();
        self.text.push('{');
        push_display(&mut self.text, segment);
        self.text.push('}');
        self
    }

    /// [`KeyText::tagged`] when `tag`, else [`KeyText::segment`].
    pub fn segment_tagged_if(self, tag: bool, segment: impl Display) -> Self {
        if tag {
            self.tagged(segment)
        } else {
            self.segment(segment)
        }
    }

    /// The finished key.
    pub fn finish(self) -> String {
        self.text
    }
}

impl Display for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

// Escaped segments serve the entity cache (the keyspaces reject what would need escaping).
#[cfg_attr(not(feature = "cache"), allow(dead_code))]
impl KeyText {
    /// Appends `:<segment>` with the segment's `Display` text percent-escaped, so any text is
    /// exactly one segment: `%` is written `%25`, and `:` `{` `}` `*` `?` `[` `]` `\` `^`,
    /// space and every ASCII control character `%XX` (two upper-case hex digits); everything
    /// else (letters, digits, `-`, `_`, `.`, non-ASCII UTF-8, ...) is kept as is, so numbers and
    /// UUIDs are unchanged (`123` stays `123`, `a:b*` becomes `a%3Ab%2A`).
    ///
    /// The escaping is injective (two different texts never escape to the same one, as `%`
    /// itself is escaped), and its result contains neither the separator, nor braces, nor a
    /// glob character: a key made of escaped segments splits back into them, a hash tag
    /// `{<escaped>}` is well formed, and a `SCAN MATCH` pattern `<key>:*` (its prefix
    /// glob-escaped) matches only keys that continue that exact key. The entity cache writes its
    /// ids and attribute names this way; the keyspaces reject such segments instead
    /// ([`validate_segment`]).
    pub fn segment_escaped(mut self, segment: impl Display) -> Self {
        self.separate();
        push_escaped(&mut self.text, segment);
        self
    }

    /// Appends `:{<segment>}`, the segment percent-escaped as by [`KeyText::segment_escaped`]:
    /// the tag is exactly the segment, as the escaped text has no `}`.
    pub fn tagged_escaped(mut self, segment: impl Display) -> Self {
        self.separate();
        self.text.push('{');
        push_escaped(&mut self.text, segment);
        self.text.push('}');
        self
    }
}

fn push_display(out: &mut String, value: impl Display) {
    // Invariant: `fmt::Write for String` never fails; only a `Display` impl that returns
    // `Err` on its own could, and the std docs call that a bug of that impl.
    write!(out, "{value}").expect("a Display implementation returned an error");
}

/// Whether [`KeyText::segment_escaped`] writes `c` as `%XX`.
#[cfg_attr(not(feature = "cache"), allow(dead_code))]
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '%' | SEPARATOR | '{' | '}' | '*' | '?' | '[' | ']' | '\\' | '^' | ' '
    ) || c.is_ascii_control()
}

/// A `fmt::Write` that percent-escapes what it is given into a `String`.
#[cfg_attr(not(feature = "cache"), allow(dead_code))]
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if needs_escape(c) {
                // Every escaped character is ASCII: one byte, two hex digits.
                write!(self.0, "%{:02X}", c as u32)?;
            } else {
                self.0.push(c);
            }
        }
        Ok(())
    }
}

#[cfg_attr(not(feature = "cache"), allow(dead_code))]
fn push_escaped(out: &mut String, value: impl Display) {
    // As in `push_display`: only a failing `Display` impl can make this fail.
    write!(Escaping(out), "{value}").expect("a Display implementation returned an error");
}

/// Escapes the glob metacharacters of `SCAN MATCH` (`* ? [ ] \`) so `text` matches literally.
pub fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The hash tag of a key (the text between the first `{` and the next `}`), if non-empty.
pub fn hash_tag(key: &str) -> Option<&str> {
    let (_, after_open) = key.split_once('{')?;
    let (tag, _) = after_open.split_once('}')?;
    (!tag.is_empty()).then_some(tag)
}

/// The Redis Cluster slot of a key (CRC16/XMODEM of the hash tag or the whole key, mod 16384).
pub fn hash_slot(key: &str) -> u16 {
    let bytes = hash_tag(key).unwrap_or(key).as_bytes();
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_joins_after_a_verbatim_prefix() {
        assert_eq!(
            KeyText::new("").segment("user").segment(123).finish(),
            "user:123"
        );
        assert_eq!(
            KeyText::new("app:")
                .segment("user")
                .tagged(123)
                .segment("profile")
                .finish(),
            "app:user:{123}:profile"
        );
        // The prefix is not completed with a separator: the front-ends own that choice.
        assert_eq!(KeyText::new("app").segment("user").finish(), "appuser");
        assert_eq!(KeyText::new("p:").finish(), "p:");
        assert_eq!(
            KeyText::extending("user:{1}:views")
                .segment("pending")
                .finish(),
            "user:{1}:views:pending"
        );
        assert_eq!(KeyText::extending("").segment("a").finish(), "a");
        let k = KeyText::new("").segment_tagged_if(true, "a*b");
        assert_eq!(k.to_string(), "{a*b}");
        assert_eq!(KeyText::new("").segment_tagged_if(false, "x").finish(), "x");
    }

    #[test]
    fn segment_rules() {
        for ok in ["user", "123", "a-b_c.d", "é", &"x".repeat(MAX_SEGMENT_LEN)] {
            assert_eq!(validate_segment(ok), Ok(ok));
        }
        for bad in [
            "", "a:b", "{x}", "a*", "a b", "a\nb", "a?", "[a]", "a\\b", "\u{7f}",
        ] {
            assert!(validate_segment(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = "y".repeat(MAX_SEGMENT_LEN + 1);
        let err = validate_segment(&long).unwrap_err();
        assert_eq!(err.part.len(), 80, "the reported part is cut");
        assert_eq!(err.reason, "longer than 256 bytes");
    }

    #[test]
    fn hash_tags_and_slots() {
        assert_eq!(hash_tag("user:{123}:profile"), Some("123"));
        assert_eq!(hash_tag("a{}b{c}"), None, "an empty first tag means no tag");
        assert_eq!(hash_tag("a}b{c}"), Some("c"));
        assert_eq!(hash_tag("{"), None);
        assert_eq!(hash_tag("no tag"), None);
        // Reference values from the Redis Cluster specification / CLUSTER KEYSLOT.
        assert_eq!(hash_slot("123456789"), 0x31C3 & 0x3FFF);
        assert_eq!(hash_slot("somekey"), 11058);
        assert_eq!(hash_slot("foo{hash_tag}"), 2515);
    }

    fn escape_segment(value: impl Display) -> String {
        KeyText::new("").segment_escaped(value).finish()
    }

    #[test]
    fn segment_escaping() {
        // Unchanged: what numbers, UUIDs and plain names are made of.
        for plain in [
            "123",
            "-5",
            "a-b_c.d",
            "üñ",
            "00000000-0000-0000-0000-000000000000",
        ] {
            assert_eq!(escape_segment(plain), plain);
        }
        assert_eq!(escape_segment(42), "42");
        assert_eq!(escape_segment(""), "");
        assert_eq!(
            escape_segment("%:{}*?[]\\^ "),
            "%25%3A%7B%7D%2A%3F%5B%5D%5C%5E%20"
        );
        assert_eq!(escape_segment("a\nb\u{0}\u{1f}\u{7f}"), "a%0Ab%00%1F%7F");
        assert_eq!(
            escape_segment("%3A"),
            "%253A",
            "an escape sequence is escaped again"
        );
        assert_eq!(escape_segment("é\u{a0}"), "é\u{a0}", "non-ASCII is kept");
        // The escaped text is one segment, a well-formed tag and a literal glob.
        let nasty = "a:{b}*?[c]\\^ %";
        let escaped = escape_segment(nasty);
        assert!(validate_segment(&escaped).is_ok(), "{escaped}");
        assert_eq!(glob_escape(&escaped), escaped);
        assert_eq!(
            KeyText::new("")
                .segment("user")
                .tagged_escaped(nasty)
                .finish(),
            format!("user:{{{escaped}}}")
        );
        assert_eq!(
            hash_tag(&KeyText::new("").tagged_escaped("a}b").finish()),
            Some("a%7Db")
        );
        assert_eq!(
            KeyText::new("p:")
                .segment_escaped("a:b")
                .segment_escaped(7)
                .finish(),
            "p:a%3Ab:7"
        );
    }

    #[test]
    fn glob_escaping() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(glob_escape("plain:key"), "plain:key");
    }
}
