//! Reading a snapshot's JSON back into the model types, allocated in the run's arena.
//!
//! The reader accepts exactly what the model types serialize to (their serde attributes and
//! the `model::serialize` module have the spellings that are not serde's defaults). Strings and lists are copied into the arena, so
//! the parsed JSON can be dropped at once; fieldless enums are read with their own serde
//! `Deserialize`. Errors name the table, column or index they are about.

use crate::model::{
    BaseType, CheckDef, ColumnDef, ColumnRole, DefaultValue, ForeignKeyDef, Generated, IndexDef,
    IndexKey, IndexKind, OnDelete, PartitionDef, PartitionInterval, SortOrder, SqlType, TableDef,
    UniqueDef,
};
use bumpalo::Bump;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

/// A snapshot file that cannot be read back into models.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schema snapshot: {0}")]
pub struct SnapshotError(pub String);

/// The format of the snapshot `root` (1 up to `format`) and its tables, allocated in `arena`.
/// The formats differ in what the DDL made of the same models, not in the file's fields.
pub(super) fn tables<'a>(
    root: &Value,
    format: u32,
    arena: &'a Bump,
) -> Result<(u32, Vec<TableDef<'a>>), SnapshotError> {
    let root = Object::new(root, "snapshot".to_owned())?;
    let found = root.u32("format")?;
    if !(1..=format).contains(&found) {
        return Err(SnapshotError(format!(
            "format {found} is not supported (expected 1 to {format})"
        )));
    }
    let reader = Reader { arena };
    let tables = root
        .array("tables")?
        .iter()
        .enumerate()
        .map(|(i, t)| reader.table(t, i))
        .collect::<Result<_, _>>()?;
    Ok((found, tables))
}

/// Parses a rendered SQL type (`BIGINT`, `NUMERIC(19,4)`, `TEXT[]`).
pub fn parse_sql_type(text: &str) -> Option<SqlType> {
    let (base, array) = match text.strip_suffix("[]") {
        Some(base) => (base, true),
        None => (text, false),
    };
    let base = match base {
        "UUID" => BaseType::Uuid,
        "SMALLINT" => BaseType::SmallInt,
        "INTEGER" => BaseType::Integer,
        "BIGINT" => BaseType::BigInt,
        "BOOLEAN" => BaseType::Boolean,
        "TEXT" => BaseType::Text,
        "TIMESTAMPTZ" => BaseType::TimestampTz,
        "DATE" => BaseType::Date,
        "REAL" => BaseType::Real,
        "DOUBLE PRECISION" => BaseType::DoublePrecision,
        "JSONB" => BaseType::Jsonb,
        "BYTEA" => BaseType::Bytea,
        other => {
            let inner = other.strip_prefix("NUMERIC(")?.strip_suffix(')')?;
            let (p, s) = inner.split_once(',')?;
            BaseType::Numeric {
                precision: p.trim().parse().ok()?,
                scale: s.trim().parse().ok()?,
            }
        }
    };
    Some(SqlType { base, array })
}

/// One JSON object of the snapshot, with where it is (for error messages).
struct Object<'v> {
    fields: &'v Map<String, Value>,
    at: String,
}

impl<'v> Object<'v> {
    fn new(value: &'v Value, at: String) -> Result<Self, SnapshotError> {
        match value {
            Value::Object(fields) => Ok(Object { fields, at }),
            _ => Err(SnapshotError(format!("{at}: expected an object"))),
        }
    }

    fn error(&self, what: impl fmt::Display) -> SnapshotError {
        SnapshotError(format!("{}: {what}", self.at))
    }

    fn not_a(&self, key: &str, expected: &str) -> SnapshotError {
        self.error(format_args!("field `{key}` is not {expected}"))
    }

    /// A field that may be absent or `null`.
    fn optional(&self, key: &str) -> Option<&'v Value> {
        self.fields.get(key).filter(|v| !v.is_null())
    }

    fn required(&self, key: &str) -> Result<&'v Value, SnapshotError> {
        self.optional(key)
            .ok_or_else(|| self.error(format_args!("missing field `{key}`")))
    }

    fn str(&self, key: &str) -> Result<&'v str, SnapshotError> {
        self.required(key)?
            .as_str()
            .ok_or_else(|| self.not_a(key, "a string"))
    }

    fn optional_str(&self, key: &str) -> Result<Option<&'v str>, SnapshotError> {
        self.optional(key)
            .map(|v| v.as_str().ok_or_else(|| self.not_a(key, "a string")))
            .transpose()
    }

    fn bool(&self, key: &str) -> Result<bool, SnapshotError> {
        self.required(key)?
            .as_bool()
            .ok_or_else(|| self.not_a(key, "a boolean"))
    }

    fn u32(&self, key: &str) -> Result<u32, SnapshotError> {
        self.required(key)?
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| self.not_a(key, "a small unsigned number"))
    }

    fn array(&self, key: &str) -> Result<&'v [Value], SnapshotError> {
        self.required(key)?
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| self.not_a(key, "a list"))
    }

    /// A fieldless enum, spelled as its serde form.
    fn variant<T: Deserialize<'v>>(&self, key: &str) -> Result<T, SnapshotError> {
        T::deserialize(self.required(key)?).map_err(|e| self.error(e))
    }

    /// The single `{"<name>": value}` entry of the field `key` (how enums with data are written).
    fn tagged(&self, key: &str) -> Result<(&'v str, &'v Value), SnapshotError> {
        let value = self.required(key)?;
        match value
            .as_object()
            .map(|m| m.iter().collect::<Vec<_>>())
            .as_deref()
        {
            Some([(tag, inner)]) => Ok((tag.as_str(), inner)),
            _ => Err(self.not_a(key, "an object with one key")),
        }
    }
}

/// Copies strings and lists out of the JSON into the arena.
struct Reader<'a> {
    arena: &'a Bump,
}

impl<'a> Reader<'a> {
    fn str(&self, s: &str) -> &'a str {
        self.arena.alloc_str(s)
    }

    fn list<T: Copy>(
        &self,
        items: &[Value],
        read: impl FnMut(&Value) -> Result<T, SnapshotError>,
    ) -> Result<&'a [T], SnapshotError> {
        let items = items.iter().map(read).collect::<Result<Vec<T>, _>>()?;
        Ok(self.arena.alloc_slice_copy(&items))
    }

    fn names(&self, object: &Object, key: &str) -> Result<&'a [&'a str], SnapshotError> {
        self.list(object.array(key)?, |v| {
            v.as_str()
                .map(|s| self.str(s))
                .ok_or_else(|| object.not_a(key, "a list of strings"))
        })
    }

    fn table(&self, value: &Value, position: usize) -> Result<TableDef<'a>, SnapshotError> {
        let name = Object::new(value, format!("table #{}", position + 1))?.str("name")?;
        let t = Object::new(value, format!("table {name}"))?;
        let partition = match t.optional("partition") {
            None => None,
            Some(p) => Some(self.partition(&Object::new(p, format!("table {name}, partition"))?)?),
        };
        Ok(TableDef {
            name: self.str(name),
            entity: self.str(t.str("entity")?),
            columns: self.list(t.array("columns")?, |c| self.column(c, name))?,
            primary_key: self.names(&t, "primary_key")?,
            uniques: self.list(t.array("uniques")?, |u| self.unique(u, name))?,
            checks: self.list(t.array("checks")?, |c| self.check(c, name))?,
            indexes: self.list(t.array("indexes")?, |i| self.index(i, name))?,
            partition,
            archive: t.bool("archive")?,
            cache: None,
            extensions: self.names(&t, "extensions")?,
            renamed_from: None,
        })
    }

    fn column(&self, value: &Value, table: &str) -> Result<ColumnDef<'a>, SnapshotError> {
        let name = Object::new(value, format!("table {table}, a column"))?.str("name")?;
        let c = Object::new(value, format!("column {table}.{name}"))?;
        let sql_type = c.str("sql_type")?;
        let default = match c.optional("default") {
            None => None,
            Some(_) => Some(match c.tagged("default")? {
                ("text", Value::String(s)) => DefaultValue::Text(self.str(s)),
                ("literal", Value::String(s)) => DefaultValue::Literal(self.str(s)),
                ("expr", Value::String(s)) => DefaultValue::Expr(self.str(s)),
                (kind, _) => return Err(c.error(format_args!("unknown default `{kind}`"))),
            }),
        };
        let enum_values = match c.optional("enum_values") {
            None => None,
            Some(_) => Some(self.names(&c, "enum_values")?),
        };
        let references = match c.optional("references") {
            None => None,
            Some(fk) => Some(self.foreign_key(&Object::new(fk, c.at.clone())?)?),
        };
        Ok(ColumnDef {
            name: self.str(name),
            field: self.str(c.str("field")?),
            sql_type: parse_sql_type(sql_type)
                .ok_or_else(|| c.error(format_args!("unknown SQL type {sql_type:?}")))?,
            nullable: c.bool("nullable")?,
            default,
            generated: c.bool("identity")?.then_some(Generated::Identity),
            primary_key: c.bool("primary_key")?,
            role: c.variant::<ColumnRole>("role")?,
            enum_values,
            references,
            renamed_from: None,
            enum_was: &[],
        })
    }

    fn foreign_key(&self, fk: &Object) -> Result<ForeignKeyDef<'a>, SnapshotError> {
        const ACTIONS: [OnDelete; 5] = [
            OnDelete::Cascade,
            OnDelete::Restrict,
            OnDelete::SetNull,
            OnDelete::SetDefault,
            OnDelete::NoAction,
        ];
        let action = fk.str("on_delete")?;
        Ok(ForeignKeyDef {
            name: self.str(fk.str("name")?),
            table: self.str(fk.str("table")?),
            column: self.str(fk.str("column")?),
            on_delete: ACTIONS
                .into_iter()
                .find(|a| a.sql() == action)
                .ok_or_else(|| fk.error(format_args!("unknown ON DELETE {action:?}")))?,
        })
    }

    fn unique(&self, value: &Value, table: &str) -> Result<UniqueDef<'a>, SnapshotError> {
        let u = Object::new(value, format!("table {table}, a unique constraint"))?;
        Ok(UniqueDef {
            name: self.str(u.str("name")?),
            columns: self.names(&u, "columns")?,
        })
    }

    fn check(&self, value: &Value, table: &str) -> Result<CheckDef<'a>, SnapshotError> {
        let c = Object::new(value, format!("table {table}, a check constraint"))?;
        Ok(CheckDef {
            name: self.str(c.str("name")?),
            expr: self.str(c.str("expr")?),
        })
    }

    fn index(&self, value: &Value, table: &str) -> Result<IndexDef<'a>, SnapshotError> {
        let name = Object::new(value, format!("table {table}, an index"))?.str("name")?;
        let i = Object::new(value, format!("index {table}.{name}"))?;
        let (kind, inner) = i.tagged("kind")?;
        let k = Object::new(inner, i.at.clone())?;
        let kind = match kind {
            "btree" => IndexKind::BTree(self.list(k.array("keys")?, |key| {
                match key.as_array().map(Vec::as_slice) {
                    Some([Value::String(column), Value::Bool(desc)]) => Ok(IndexKey {
                        column: self.str(column),
                        order: if *desc {
                            SortOrder::Desc
                        } else {
                            SortOrder::Asc
                        },
                    }),
                    _ => Err(k.not_a("keys", "a list of [column, descending] pairs")),
                }
            })?),
            "gin" => IndexKind::Gin {
                column: self.str(k.str("column")?),
                opclass: k.optional_str("opclass")?.map(|s| self.str(s)),
            },
            "expression" => IndexKind::Expression(self.str(k.str("expr")?)),
            "full_text" => IndexKind::FullText {
                language: self.str(k.str("language")?),
                columns: self.names(&k, "columns")?,
            },
            other => return Err(i.error(format_args!("unknown index kind `{other}`"))),
        };
        Ok(IndexDef {
            name: self.str(name),
            kind,
            unique: i.bool("unique")?,
            predicate: i.optional_str("predicate")?.map(|s| self.str(s)),
        })
    }

    fn partition(&self, p: &Object) -> Result<PartitionDef<'a>, SnapshotError> {
        let first = match p.required("first")?.as_array().map(Vec::as_slice) {
            Some([year, month]) => year
                .as_i64()
                .and_then(|y| i32::try_from(y).ok())
                .zip(month.as_u64().and_then(|m| u32::try_from(m).ok())),
            _ => None,
        };
        Ok(PartitionDef {
            column: self.str(p.str("column")?),
            interval: p.variant::<PartitionInterval>("interval")?,
            first: first.ok_or_else(|| p.not_a("first", "a [year, month] pair"))?,
            count: p.u32("count")?,
        })
    }
}
