//! The cached value's envelope: a version tag, the struct-layout fingerprint, then JSON.
//!
//! `v1:<layout as 16 hex digits>:<json>` for a row, `v1:-` for a negative (missing-row) entry.
//! A value whose tag or layout differs (written by an older build whose struct had other
//! fields), or whose JSON does not decode, is [`Decoded::Corrupt`]: the cache treats it as a
//! miss and replaces it.

use serde::de::DeserializeOwned;
use serde::Serialize;

const TAG: &[u8] = b"v1:";
const NEGATIVE: &[u8] = b"v1:-";
/// `v1:` + 16 hex digits + `:`.
const HEADER_LEN: usize = 3 + 16 + 1;

/// Encodes and decodes one entity type's cached values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    layout: u64,
    header: [u8; HEADER_LEN],
}

/// What a cached value decoded to.
#[derive(Debug, PartialEq)]
pub enum Decoded<E> {
    /// A cached row.
    Value(E),
    /// A negative entry: the row does not exist.
    Negative,
    /// Undecodable (corrupt, or written with another layout): a miss.
    Corrupt,
}

impl Codec {
    /// A codec whose values carry `layout` (a hash of the entity's columns, so a changed model never decodes old entries).
    pub fn new(layout: u64) -> Self {
        let mut header = [0u8; HEADER_LEN];
        header[..3].copy_from_slice(TAG);
        header[3..19].copy_from_slice(format!("{layout:016x}").as_bytes());
        header[19] = b':';
        Codec { layout, header }
    }

    /// The layout fingerprint.
    pub fn layout(&self) -> u64 {
        self.layout
    }

    /// The bytes of a cached row.
    pub fn encode<E: Serialize>(&self, value: &E) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.header);
        serde_json::to_writer(&mut out, value)?;
        Ok(out)
    }

    /// The bytes of a negative entry.
    pub fn negative() -> &'static [u8] {
        NEGATIVE
    }

    /// Decodes cached bytes.
    pub fn decode<E: DeserializeOwned>(&self, bytes: &[u8]) -> Decoded<E> {
        if bytes == NEGATIVE {
            return Decoded::Negative;
        }
        match bytes.strip_prefix(&self.header[..]) {
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
    fn round_trip_negative_and_corrupt() {
        let c = Codec::new(0xabc);
        let bytes = c.encode(&vec![1, 2]).unwrap();
        assert!(bytes.starts_with(b"v1:0000000000000abc:"));
        assert_eq!(c.decode::<Vec<i32>>(&bytes), Decoded::Value(vec![1, 2]));
        assert_eq!(c.decode::<Vec<i32>>(Codec::negative()), Decoded::Negative);
        assert_eq!(c.decode::<Vec<i32>>(b"garbage"), Decoded::Corrupt);
        assert_eq!(c.decode::<String>(&bytes), Decoded::Corrupt);
        assert_eq!(Codec::new(1).decode::<Vec<i32>>(&bytes), Decoded::Corrupt);
    }
}
