//! The schema snapshot kept next to the migrations: the models the folder describes.
//!
//! `migrations/.dbpat/schema.json` records the models the migrations folder already describes.
//! It lives in a sub-directory because sqlx's migrator reads every `<version>_<name>.sql` file
//! of the folder itself (and only files), so nothing in `.dbpat/` can be taken for a migration.
//! The JSON is the serde form of the model types (see [`crate::model`]), pretty-printed with
//! sorted keys, so its diff in a pull request is readable. The cache policy is not recorded: it
//! has no DDL.
//!
//! A snapshot is read back into the model types themselves: [`SchemaSnapshot::from_json`]
//! copies the file's strings and lists into a [`Bump`] arena that the caller owns for the
//! duration of the migration run, and the snapshot's `TableDef<'a>`s borrow from it. The
//! differ and the DDL renderers take them like the derive's `'static` models; dropping the
//! arena frees them all at once.

mod read;

pub use bumpalo::Bump;
pub use read::{parse_sql_type, SnapshotError};

use crate::model::TableDef;
use serde::Serialize;

/// Where the snapshot lives inside the migrations folder. sqlx reads only the folder's own
/// `*.sql` files, never sub-directories, so it cannot mistake the snapshot for a migration.
pub const SNAPSHOT_PATH: &str = ".dbpat/schema.json";

/// The snapshot format version written into the file.
///
/// - 1: the archive of a partitioned table was created unpartitioned.
/// - 2: it is partitioned like its table (`emit-sql migrate` from a format-1 folder converts
///   it, see [`ARCHIVES_PARTITIONED_SINCE`]).
pub const SNAPSHOT_FORMAT: u32 = 2;

/// The first format whose DDL partitions the archive of a partitioned table.
pub const ARCHIVES_PARTITIONED_SINCE: u32 = 2;

/// The models a migrations folder describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaSnapshot<'a> {
    /// [`SNAPSHOT_FORMAT`] when written; as read, the format of the file (1 up to
    /// [`SNAPSHOT_FORMAT`]).
    pub format: u32,
    /// Tables, sorted by name, without cache policies.
    pub tables: Vec<TableDef<'a>>,
}

impl<'a> SchemaSnapshot<'a> {
    /// The snapshot of `tables` (sorted by name; cache policies left out, as the file has none).
    pub fn from_tables(tables: &[&TableDef<'a>]) -> Self {
        let mut tables: Vec<TableDef<'a>> = tables
            .iter()
            .map(|t| TableDef { cache: None, ..**t })
            .collect();
        tables.sort_by(|a, b| a.name.cmp(b.name));
        tables.dedup();
        SchemaSnapshot {
            format: SNAPSHOT_FORMAT,
            tables,
        }
    }

    /// The snapshot of an empty folder.
    pub fn empty() -> Self {
        SchemaSnapshot {
            format: SNAPSHOT_FORMAT,
            tables: Vec::new(),
        }
    }

    /// Pretty JSON with sorted keys and a final newline.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).expect("snapshot serializes");
        let mut out = serde_json::to_string_pretty(&sorted(value)).expect("json");
        out.push('\n');
        out
    }

    /// Parses [`SchemaSnapshot::to_json`] output; the models' strings and lists are allocated
    /// in `arena`, so the snapshot lives as long as the arena does.
    pub fn from_json(json: &str, arena: &'a Bump) -> Result<Self, SnapshotError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| SnapshotError(e.to_string()))?;
        let (format, tables) = read::tables(&value, SNAPSHOT_FORMAT, arena)?;
        Ok(SchemaSnapshot { format, tables })
    }

    /// The tables, as the differ and the DDL renderers take them.
    pub fn to_tables(&self) -> Vec<&TableDef<'a>> {
        self.tables.iter().collect()
    }
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    #[test]
    fn sql_types_round_trip() {
        for t in [
            SqlType::scalar(BaseType::Numeric {
                precision: 19,
                scale: 4,
            }),
            SqlType::array_of(BaseType::Text),
            SqlType::scalar(BaseType::DoublePrecision),
            SqlType::scalar(BaseType::TimestampTz),
        ] {
            assert_eq!(parse_sql_type(&t.to_string()), Some(t));
        }
    }

    const USERS: TableDef = TableDef::new(
        "users",
        "User",
        &[ColumnDef::new("id", "id", SqlType::scalar(BaseType::Uuid))
            .primary_key()
            .default(DefaultValue::Expr("gen_random_uuid()"))],
        &["id"],
    );
    const COLS: &[ColumnDef] = &[
        ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt))
            .primary_key()
            .generated(Generated::Identity),
        ColumnDef::new("status", "status", SqlType::scalar(BaseType::Text))
            .default(DefaultValue::Text("a \"quoted\" \\ value"))
            .enum_values(Some(&["a", "b", "a \"quoted\" \\ value"])),
        ColumnDef::new("at", "at", SqlType::scalar(BaseType::TimestampTz))
            .primary_key()
            .default(DefaultValue::Expr("NOW()"))
            .role(ColumnRole::CreatedAt),
        ColumnDef::new("changed", "changed", SqlType::scalar(BaseType::TimestampTz))
            .role(ColumnRole::UpdatedAt),
        ColumnDef::new("v", "version", SqlType::scalar(BaseType::Integer))
            .default(DefaultValue::Literal("1"))
            .role(ColumnRole::Version),
        ColumnDef::new("owner", "owner", SqlType::scalar(BaseType::Uuid))
            .nullable(true)
            .references(ForeignKeyDef {
                name: "t_owner_fkey",
                table: "users",
                column: "id",
                on_delete: OnDelete::SetNull,
            }),
        ColumnDef::new("tags", "tags", SqlType::array_of(BaseType::Text)),
        ColumnDef::new(
            "total",
            "total",
            SqlType::scalar(BaseType::Numeric {
                precision: 19,
                scale: 4,
            }),
        ),
        ColumnDef::new("doc", "doc", SqlType::scalar(BaseType::Jsonb)),
    ];
    const IDX: &[IndexDef] = &[
        IndexDef {
            name: "t_status_idx",
            kind: IndexKind::BTree(&[
                IndexKey {
                    column: "status",
                    order: SortOrder::Desc,
                },
                IndexKey {
                    column: "id",
                    order: SortOrder::Asc,
                },
            ]),
            unique: false,
            predicate: Some("status = 'a'"),
        },
        IndexDef {
            name: "t_doc_idx",
            kind: IndexKind::Gin {
                column: "doc",
                opclass: Some("jsonb_path_ops"),
            },
            unique: false,
            predicate: None,
        },
        IndexDef {
            name: "t_lower_idx",
            kind: IndexKind::Expression("(lower(status))"),
            unique: true,
            predicate: None,
        },
        IndexDef {
            name: "t_search_idx",
            kind: IndexKind::FullText {
                language: "english",
                columns: &["status"],
            },
            unique: false,
            predicate: None,
        },
    ];
    const T: TableDef = TableDef {
        uniques: &[UniqueDef {
            name: "t_status_key",
            columns: &["status", "at"],
        }],
        checks: &[CheckDef {
            name: "t_total_check",
            expr: "total >= 0",
        }],
        indexes: IDX,
        partition: Some(PartitionDef {
            column: "at",
            interval: PartitionInterval::Quarter,
            first: (2025, 1),
            count: 2,
        }),
        archive: true,
        cache: Some(CachePolicy {
            key_prefix: "t",
            ttl_secs: 60,
            negative_ttl_secs: 5,
            write: CacheWrite::Invalidate,
            hash_tag: false,
        }),
        extensions: &["pgcrypto"],
        ..TableDef::new("t", "T", COLS, &["id", "at"])
    };

    #[test]
    fn snapshot_round_trips_through_json_into_the_arena() {
        let snap = SchemaSnapshot::from_tables(&[&T, &USERS, &T]);
        assert_eq!(snap.tables.len(), 2, "sorted and deduplicated");
        let json = snap.to_json();
        let arena = Bump::new();
        let back = SchemaSnapshot::from_json(&json, &arena).unwrap();
        assert_eq!(back, snap);
        assert_eq!(back.to_json(), json);
        assert_eq!(*back.to_tables()[0], TableDef { cache: None, ..T });
        assert_eq!(*back.to_tables()[1], USERS);
        // The models read back render the same DDL as the originals.
        assert_eq!(
            crate::ddl::render_schema(&back.to_tables()).unwrap(),
            crate::ddl::render_schema(&[&USERS, &T]).unwrap()
        );
        // keys are sorted
        let archive = json.find("\"archive\"").unwrap();
        let columns = json.find("\"columns\"").unwrap();
        assert!(archive < columns);
    }

    #[test]
    fn bad_snapshots_say_what_is_wrong() {
        let arena = Bump::new();
        let json = SchemaSnapshot::from_tables(&[&T]).to_json();
        let cases = [
            (
                json.replace("\"format\": 2", "\"format\": 3"),
                "format 3 is not supported (expected 1 to 2)",
            ),
            (
                json.replace("\"TIMESTAMPTZ\"", "\"TIMESTAMP\""),
                "column t.at: unknown SQL type \"TIMESTAMP\"",
            ),
            (
                json.replace("\"SET NULL\"", "\"SET NOTHING\""),
                "column t.owner: unknown ON DELETE \"SET NOTHING\"",
            ),
            (
                json.replace("\"quarter\"", "\"week\""),
                "table t, partition: unknown variant `week`, expected `month` or `quarter`",
            ),
            (
                json.replace("\"entity\": \"T\",", ""),
                "table t: missing field `entity`",
            ),
            (
                json.replace("\"full_text\"", "\"hash\""),
                "index t.t_search_idx: unknown index kind `hash`",
            ),
        ];
        for (bad, message) in cases {
            assert_ne!(bad, json, "{message}");
            let err = SchemaSnapshot::from_json(&bad, &arena).unwrap_err();
            assert_eq!(err.0, message);
        }
    }
}
