//! The serde spellings of the model types that differ from what `#[derive(Serialize)]` writes.
//!
//! They keep the migrations folder's snapshot (`.dbpat/schema.json`) in the format it has
//! always had: SQL types and `ON DELETE` actions as their SQL text, B-tree keys as
//! `[column, descending]` pairs and index kinds as one-key objects (and, in `model.rs`, a
//! column's generation as the flag `identity`). The snapshot reader (`migrate::snapshot`) reads
//! exactly these spellings back.

use super::{IndexKey, IndexKind, OnDelete, SortOrder, SqlType};
use serde::ser::{SerializeStructVariant, SerializeTuple};
use serde::{Serialize, Serializer};

/// As rendered in DDL: `NUMERIC(19,4)`, `TEXT[]`.
impl Serialize for SqlType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The SQL words after `ON DELETE`: `CASCADE`, `SET NULL`.
impl Serialize for OnDelete {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.sql())
    }
}

/// `[column, descending]`.
impl Serialize for IndexKey<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut pair = serializer.serialize_tuple(2)?;
        pair.serialize_element(self.column)?;
        pair.serialize_element(&(self.order == SortOrder::Desc))?;
        pair.end()
    }
}

impl Serialize for IndexKind<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const NAME: &str = "IndexKind";
        match self {
            IndexKind::BTree(keys) => {
                let mut v = serializer.serialize_struct_variant(NAME, 0, "btree", 1)?;
                v.serialize_field("keys", keys)?;
                v.end()
            }
            IndexKind::Gin { column, opclass } => {
                let mut v = serializer.serialize_struct_variant(NAME, 1, "gin", 2)?;
                v.serialize_field("column", column)?;
                v.serialize_field("opclass", opclass)?;
                v.end()
            }
            IndexKind::Expression(expr) => {
                let mut v = serializer.serialize_struct_variant(NAME, 2, "expression", 1)?;
                v.serialize_field("expr", expr)?;
                v.end()
            }
            IndexKind::FullText { language, columns } => {
                let mut v = serializer.serialize_struct_variant(NAME, 3, "full_text", 2)?;
                v.serialize_field("language", language)?;
                v.serialize_field("columns", columns)?;
                v.end()
            }
        }
    }
}
