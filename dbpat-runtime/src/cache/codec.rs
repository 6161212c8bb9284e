//! The cached value's envelope: a version tag, the Redis dataset's generation, the
//! struct-layout fingerprint, then JSON.
//!
//! `v2:<generation>:<layout as 16 hex digits>:<json>` for a row, `v2:<generation>:-` for a
//! negative (missing-row) entry. The generation names the Redis dataset the value was written
//! into (see the cache's module docs): a value of another generation came back with a restore
//! or a failover from before writes it never saw, and is [`Decoded::OtherGeneration`]. A value
//! whose tag or layout differs (written by an older build whose struct had other fields), or
//! whose JSON does not decode, is [`Decoded::Corrupt`]. The cache treats both as a miss and
//! replaces them.

use serde::de::DeserializeOwned;
use serde::Serialize;

const TAG: &[u8] = b"v2:";
const NEGATIVE: &[u8] = b"-";

/// Encodes and decodes one entity type's cached values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    layout: u64,
    /// `<layout as 16 hex digits>:`.
    layout_text: [u8; 17],
}

/// What a cached value decoded to.
#[derive(Debug, PartialEq)]
pub enum Decoded<E> {
    /// A cached row.
    Value(E),
    /// A negative entry: the row does not exist.
    Negative,
    /// Written into another Redis dataset (before a restart, restore or failover): a miss.
    OtherGeneration,
    /// Undecodable (corrupt, or written with another layout): a miss.
    Corrupt,
}

impl Codec {
    /// A codec whose values carry `layout` (a hash of the entity's columns, so a changed model never decodes old entries).
    pub fn new(layout: u64) -> Self {
        let mut layout_text = [0u8; 17];
        layout_text[..16].copy_from_slice(format!("{layout:016x}").as_bytes());
        layout_text[16] = b':';
        Codec {
            layout,
            layout_text,
        }
    }

    /// The layout fingerprint.
    pub fn layout(&self) -> u64 {
        self.layout
    }

    /// `v2:<generation>:<body>`: a value's bytes in the dataset `generation`.
    pub(crate) fn envelope(generation: &str, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(TAG.len() + generation.len() + 1 + body.len());
        out.extend_from_slice(TAG);
        out.extend_from_slice(generation.as_bytes());
        out.push(b':');
        out.extend_from_slice(body);
        out
    }

    /// The generation-independent part of a row's bytes: `<layout>:<json>`.
    pub(crate) fn body<E: Serialize>(&self, value: &E) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.layout_text);
        serde_json::to_writer(&mut out, value)?;
        Ok(out)
    }

    /// The generation-independent part of a negative entry.
    pub(crate) fn negative_body() -> &'static [u8] {
        NEGATIVE
    }

    /// The bytes of a cached row, for the dataset `generation`.
    pub fn encode<E: Serialize>(
        &self,
        generation: &str,
        value: &E,
    ) -> Result<Vec<u8>, serde_json::Error> {
        Ok(Self::envelope(generation, &self.body(value)?))
    }

    /// The bytes of a negative entry, for the dataset `generation`.
    pub fn negative(generation: &str) -> Vec<u8> {
        Self::envelope(generation, NEGATIVE)
    }

    /// Decodes cached bytes read from the dataset `generation`.
    pub fn decode<E: DeserializeOwned>(&self, generation: &str, bytes: &[u8]) -> Decoded<E> {
        let Some(rest) = bytes.strip_prefix(TAG) else {
            return Decoded::Corrupt;
        };
        let Some(rest) = rest
            .strip_prefix(generation.as_bytes())
            .and_then(|r| r.strip_prefix(b":"))
        else {
            return Decoded::OtherGeneration;
        };
        if rest == NEGATIVE {
            return Decoded::Negative;
        }
        match rest.strip_prefix(&self.layout_text[..]) {
            Some(json) => match serde_json::from_slice(json) {
                Ok(v) => Decoded::Value(v),
                Err(_) => Decoded::Corrupt,
            },
            None => Decoded::Corrupt,
        }
    }
}

/// FNV-1a, stable across builds and Rust versions (unlike `DefaultHasher`).
pub fn fnv1a(bytes: &[u8], mut hash: u64) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The FNV-1a offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The layout fingerprint of a table: column names, SQL types and nullability, in order.
pub fn layout_of_columns(table: &crate::model::TableDef) -> u64 {
    let mut h = fnv1a(table.entity.as_bytes(), FNV_OFFSET);
    for c in table.columns {
        h = fnv1a(c.field.as_bytes(), h);
        h = fnv1a(c.sql_type.to_string().as_bytes(), h);
        h = fnv1a(if c.nullable { b"?" } else { b"!" }, h);
    }
    h
}

/// The layout fingerprint of a type known only by name (entities built without a `TableDef`).
pub fn layout_of_type_name(name: &str) -> u64 {
    fnv1a(name.as_bytes(), FNV_OFFSET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_negative_corrupt_and_other_generation() {
        let c = Codec::new(0xabc);
        let g = "00000000000000g1";
        let bytes = c.encode(g, &vec![1, 2]).unwrap();
        assert_eq!(
            &bytes[..],
            &b"v2:00000000000000g1:0000000000000abc:[1,2]"[..]
        );
        assert_eq!(c.decode::<Vec<i32>>(g, &bytes), Decoded::Value(vec![1, 2]));
        assert_eq!(
            c.decode::<Vec<i32>>(g, &Codec::negative(g)),
            Decoded::Negative
        );
        assert_eq!(c.decode::<Vec<i32>>(g, b"garbage"), Decoded::Corrupt);
        assert_eq!(c.decode::<String>(g, &bytes), Decoded::Corrupt);
        assert_eq!(
            Codec::new(1).decode::<Vec<i32>>(g, &bytes),
            Decoded::Corrupt
        );
        // The same bytes read from another dataset: neither the row nor the negative entry.
        let other = "00000000000000g2";
        assert_eq!(
            c.decode::<Vec<i32>>(other, &bytes),
            Decoded::OtherGeneration
        );
        assert_eq!(
            c.decode::<Vec<i32>>(other, &Codec::negative(g)),
            Decoded::OtherGeneration
        );
        // A generation that is a prefix of another does not match it.
        assert_eq!(
            c.decode::<Vec<i32>>("00000000000000g", &bytes),
            Decoded::OtherGeneration
        );
    }
}
