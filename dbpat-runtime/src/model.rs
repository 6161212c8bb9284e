//! The table model: a `const` description of one entity's table, emitted by `#[derive(Entity)]`.
//!
//! Everything the project renders (DDL, migrations, query SQL, cache keys) is computed from these
//! types, so all renderings agree.
//!
//! The types borrow their names, expressions and lists for a lifetime `'a`. The derive emits
//! `TableDef<'static>` constants over `'static` data, so an entity's model is a plain `const`;
//! the migrations folder's snapshot is read into the same types, borrowing from an arena that
//! lives as long as the migration run (see `migrate::snapshot`). The types serialize
//! (with serde) in the snapshot's JSON format; the cache policy is left out, as it has no DDL.
//!
//! ```
//! use dbpat_runtime::model::*;
//!
//! const ID: ColumnDef = ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt))
//!     .primary_key()
//!     .generated(Generated::Identity);
//! const EVENTS: TableDef = TableDef::new("events", "Event", &[ID], &["id"]);
//! assert_eq!(EVENTS.column("id").unwrap().sql_type.to_string(), "BIGINT");
//! ```
//!
//! A model may as well borrow data made at run time; it renders the same way:
//!
//! ```
//! use dbpat_runtime::model::*;
//!
//! let name = String::from("notes");
//! let columns = [ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt)).primary_key()];
//! let notes = TableDef::new(&name, "Note", &columns, &["id"]);
//! let sql = dbpat_runtime::ddl::render_schema(&[&notes]).unwrap();
//! assert!(sql.contains("CREATE TABLE notes ("));
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

mod serialize;

/// A PostgreSQL base (element) type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaseType {
    /// `UUID`
    Uuid,
    /// `SMALLINT`
    SmallInt,
    /// `INTEGER`
    Integer,
    /// `BIGINT`
    BigInt,
    /// `BOOLEAN`
    Boolean,
    /// `TEXT`
    Text,
    /// `NUMERIC(precision, scale)`
    Numeric {
        /// Total number of digits.
        precision: u8,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// `TIMESTAMPTZ`
    TimestampTz,
    /// `DATE`
    Date,
    /// `REAL`
    Real,
    /// `DOUBLE PRECISION`
    DoublePrecision,
    /// `JSONB`
    Jsonb,
    /// `BYTEA`
    Bytea,
}

impl BaseType {
    /// Whether values of this type are integers (usable for identity and version columns).
    pub const fn is_integer(self) -> bool {
        matches!(
            self,
            BaseType::SmallInt | BaseType::Integer | BaseType::BigInt
        )
    }

    /// Whether values of this type are text (usable in full-text indexes).
    pub const fn is_text(self) -> bool {
        matches!(self, BaseType::Text)
    }
}

impl fmt::Display for BaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaseType::Uuid => f.write_str("UUID"),
            BaseType::SmallInt => f.write_str("SMALLINT"),
            BaseType::Integer => f.write_str("INTEGER"),
            BaseType::BigInt => f.write_str("BIGINT"),
            BaseType::Boolean => f.write_str("BOOLEAN"),
            BaseType::Text => f.write_str("TEXT"),
            BaseType::Numeric { precision, scale } => write!(f, "NUMERIC({precision},{scale})"),
            BaseType::TimestampTz => f.write_str("TIMESTAMPTZ"),
            BaseType::Date => f.write_str("DATE"),
            BaseType::Real => f.write_str("REAL"),
            BaseType::DoublePrecision => f.write_str("DOUBLE PRECISION"),
            BaseType::Jsonb => f.write_str("JSONB"),
            BaseType::Bytea => f.write_str("BYTEA"),
        }
    }
}

/// A column's SQL type: a base type, or a one-dimensional array of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlType {
    /// The element type.
    pub base: BaseType,
    /// `true` for `base[]`.
    pub array: bool,
}

impl SqlType {
    /// A scalar column of `base`.
    pub const fn scalar(base: BaseType) -> Self {
        SqlType { base, array: false }
    }

    /// An array column of `base` elements.
    pub const fn array_of(base: BaseType) -> Self {
        SqlType { base, array: true }
    }

    /// The same type with its NUMERIC precision and scale replaced (other types unchanged).
    pub const fn with_numeric(self, precision: u8, scale: u8) -> Self {
        match self.base {
            BaseType::Numeric { .. } => SqlType {
                base: BaseType::Numeric { precision, scale },
                array: self.array,
            },
            _ => self,
        }
    }

    /// Whether this is exactly the scalar `base`.
    pub const fn is_scalar(self, base: BaseType) -> bool {
        !self.array && base_eq(self.base, base)
    }
}

/// `const` equality of base types (`PartialEq` is not callable in const context).
pub const fn base_eq(a: BaseType, b: BaseType) -> bool {
    match (a, b) {
        (
            BaseType::Numeric {
                precision: p1,
                scale: s1,
            },
            BaseType::Numeric {
                precision: p2,
                scale: s2,
            },
        ) => p1 == p2 && s1 == s2,
        _ => base_tag(a) == base_tag(b),
    }
}

const fn base_tag(t: BaseType) -> u8 {
    match t {
        BaseType::Uuid => 0,
        BaseType::SmallInt => 1,
        BaseType::Integer => 2,
        BaseType::BigInt => 3,
        BaseType::Boolean => 4,
        BaseType::Text => 5,
        BaseType::Numeric { .. } => 6,
        BaseType::TimestampTz => 7,
        BaseType::Date => 8,
        BaseType::Real => 9,
        BaseType::DoublePrecision => 10,
        BaseType::Jsonb => 11,
        BaseType::Bytea => 12,
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.base)?;
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// A column default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultValue<'a> {
    /// A string literal, rendered quoted (`'active'`, `'{}'`).
    Text(&'a str),
    /// A numeric or boolean literal, rendered as written (`0`, `1.5`, `true`).
    Literal(&'a str),
    /// An SQL expression, rendered as written (`NOW()`, `gen_random_uuid()`).
    Expr(&'a str),
}

/// How a column's value is generated by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Generated {
    /// `GENERATED BY DEFAULT AS IDENTITY` (integer keys).
    Identity,
}

/// The special role of a column, which later layers (queries, cache) act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRole {
    /// An ordinary column.
    Plain,
    /// Set by the server on insert (`DEFAULT NOW()`).
    CreatedAt,
    /// Set by the server on insert and by the `updated_at` trigger on every update.
    UpdatedAt,
    /// The optimistic-locking version (`DEFAULT 1`, incremented by versioned updates).
    Version,
}

/// What happens to referencing rows when the referenced row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnDelete {
    /// `ON DELETE CASCADE`
    Cascade,
    /// `ON DELETE RESTRICT`
    Restrict,
    /// `ON DELETE SET NULL` (the column must be nullable)
    SetNull,
    /// `ON DELETE SET DEFAULT` (the column must have a default)
    SetDefault,
    /// `ON DELETE NO ACTION`
    NoAction,
}

impl OnDelete {
    /// The SQL words after `ON DELETE`.
    pub const fn sql(self) -> &'static str {
        match self {
            OnDelete::Cascade => "CASCADE",
            OnDelete::Restrict => "RESTRICT",
            OnDelete::SetNull => "SET NULL",
            OnDelete::SetDefault => "SET DEFAULT",
            OnDelete::NoAction => "NO ACTION",
        }
    }
}

/// A foreign key from one column to another entity's primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ForeignKeyDef<'a> {
    /// Constraint name, e.g. `orders_user_id_fkey`.
    pub name: &'a str,
    /// The referenced table.
    pub table: &'a str,
    /// The referenced column.
    pub column: &'a str,
    /// The mandatory `ON DELETE` action.
    pub on_delete: OnDelete,
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ColumnDef<'a> {
    /// SQL column name.
    pub name: &'a str,
    /// Rust field name.
    pub field: &'a str,
    /// SQL type.
    pub sql_type: SqlType,
    /// `true` for `Option<T>` fields.
    pub nullable: bool,
    /// Server-side default.
    pub default: Option<DefaultValue<'a>>,
    /// Server-generated value (identity); written as the flag `identity`.
    #[serde(rename = "identity", serialize_with = "identity_flag")]
    pub generated: Option<Generated>,
    /// Part of the primary key.
    pub primary_key: bool,
    /// Special role (timestamps, version).
    pub role: ColumnRole,
    /// Allowed values of a `DbEnum` column, rendered as `CHECK (col IN (...))`.
    pub enum_values: Option<&'a [&'a str]>,
    /// Foreign key to another entity.
    pub references: Option<ForeignKeyDef<'a>>,
    /// Migration hint (`#[dbpat(renamed_from = "...")]`): the column's previous name, so a
    /// migration renames it instead of dropping and adding it. Not part of the schema: the
    /// DDL ignores it and the migrations snapshot does not store it.
    #[serde(skip)]
    pub renamed_from: Option<&'a str>,
    /// Migration hint of an enum column (`#[dbpat(was = "...")]` on the `DbEnum`'s variants):
    /// `(old value, value it becomes)` for values removed from the enum, so a migration moves
    /// their rows before the new CHECK. Not part of the schema (not in the snapshot).
    #[serde(skip)]
    pub enum_was: &'a [(&'a str, &'a str)],
}

/// A column's `generated` as the serialized flag `identity` (identity is the only generation).
fn identity_flag<S: serde::Serializer>(
    generated: &Option<Generated>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_bool(matches!(generated, Some(Generated::Identity)))
}

impl<'a> ColumnDef<'a> {
    /// A NOT NULL column without default or constraints.
    pub const fn new(name: &'a str, field: &'a str, sql_type: SqlType) -> Self {
        ColumnDef {
            name,
            field,
            sql_type,
            nullable: false,
            default: None,
            generated: None,
            primary_key: false,
            role: ColumnRole::Plain,
            enum_values: None,
            references: None,
            renamed_from: None,
            enum_was: &[],
        }
    }

    /// Marks the column nullable.
    pub const fn nullable(mut self, nullable: bool) -> Self {
        self.nullable = nullable;
        self
    }

    /// Sets the default.
    pub const fn default(mut self, default: DefaultValue<'a>) -> Self {
        self.default = Some(default);
        self
    }

    /// Marks the column server-generated.
    pub const fn generated(mut self, generated: Generated) -> Self {
        self.generated = Some(generated);
        self
    }

    /// Marks the column part of the primary key.
    pub const fn primary_key(mut self) -> Self {
        self.primary_key = true;
        self
    }

    /// Sets the role.
    pub const fn role(mut self, role: ColumnRole) -> Self {
        self.role = role;
        self
    }

    /// Sets the allowed enum values.
    pub const fn enum_values(mut self, values: Option<&'a [&'a str]>) -> Self {
        self.enum_values = values;
        self
    }

    /// Sets the foreign key.
    pub const fn references(mut self, fk: ForeignKeyDef<'a>) -> Self {
        self.references = Some(fk);
        self
    }

    /// Sets the migration hint: the column was called `old` before.
    pub const fn renamed_from(mut self, old: &'a str) -> Self {
        self.renamed_from = Some(old);
        self
    }

    /// Sets the migration hint of an enum column: `(old value, new value)` pairs.
    pub const fn enum_was(mut self, was: &'a [(&'a str, &'a str)]) -> Self {
        self.enum_was = was;
        self
    }
}

/// A UNIQUE constraint over one or more columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct UniqueDef<'a> {
    /// Constraint name, e.g. `users_email_key`.
    pub name: &'a str,
    /// Columns, in order.
    pub columns: &'a [&'a str],
}

/// A CHECK constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct CheckDef<'a> {
    /// Constraint name, e.g. `accounts_balance_check`.
    pub name: &'a str,
    /// The boolean SQL expression.
    pub expr: &'a str,
}

/// Sort direction of an index key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// Ascending (the default; rendered without a keyword).
    Asc,
    /// `DESC`
    Desc,
}

/// One key of a B-tree index; written as `[column, descending]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexKey<'a> {
    /// Column name.
    pub column: &'a str,
    /// Direction.
    pub order: SortOrder,
}

/// What an index is built on.
///
/// Written as `{"btree": {"keys": ...}}`, `{"gin": {"column", "opclass"}}`,
/// `{"expression": {"expr"}}` or `{"full_text": {"language", "columns"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexKind<'a> {
    /// A B-tree over columns.
    BTree(&'a [IndexKey<'a>]),
    /// A GIN index over one column with an operator class (`jsonb_path_ops` for JSONB).
    Gin {
        /// The indexed column.
        column: &'a str,
        /// Operator class, if any.
        opclass: Option<&'a str>,
    },
    /// A B-tree over an SQL expression.
    Expression(&'a str),
    /// A GIN index over `to_tsvector(language, col1 || ' ' || col2 ...)`.
    FullText {
        /// Text search configuration, e.g. `english`.
        language: &'a str,
        /// The text columns, concatenated with a space.
        columns: &'a [&'a str],
    },
}

/// An index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct IndexDef<'a> {
    /// Index name.
    pub name: &'a str,
    /// What is indexed.
    pub kind: IndexKind<'a>,
    /// `CREATE UNIQUE INDEX`.
    pub unique: bool,
    /// Partial-index predicate (`WHERE ...`).
    pub predicate: Option<&'a str>,
}

/// The period of a range-partitioned table's partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionInterval {
    /// One partition per calendar month, named `<table>_YYYY_MM`.
    Month,
    /// One partition per calendar quarter, named `<table>_YYYY_qN`.
    Quarter,
}

impl PartitionInterval {
    /// Months per partition.
    pub const fn months(self) -> u32 {
        match self {
            PartitionInterval::Month => 1,
            PartitionInterval::Quarter => 3,
        }
    }
}

/// Range partitioning on a TIMESTAMPTZ column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PartitionDef<'a> {
    /// The partition key column.
    pub column: &'a str,
    /// Partition period.
    pub interval: PartitionInterval,
    /// The first partition created by the DDL: (year, month), month 1-based and period-aligned.
    pub first: (i32, u32),
    /// How many partitions the DDL creates from `first` on.
    pub count: u32,
}

/// How cached writes keep Redis correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheWrite {
    /// Writes delete the cached entry (cache-aside, the default).
    Invalidate,
    /// Writes store the new row in the cache.
    WriteThrough,
}

/// The entity's Redis cache policy.
///
/// It is no part of the schema (it has no DDL and is not in the migrations folder's snapshot),
/// so it keeps `'static` data, as the cache layer holds it: a model read from a snapshot has
/// no cache policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CachePolicy {
    /// Key prefix, the `<entity>` of `<entity>:<id>`: one key segment (not empty, no `:`, `{`,
    /// `}`, `*` or spaces), and not `lease`, `writers`, `subkeys` or `dataset` (the cache's own
    /// keys start with those). The derive checks it; `Cache::with_source` returns `Error::InvalidPolicy` otherwise.
    pub key_prefix: &'static str,
    /// TTL of cached rows, in seconds (mandatory).
    pub ttl_secs: u64,
    /// TTL of negative (missing-row) entries, in seconds.
    pub negative_ttl_secs: u64,
    /// Write strategy.
    pub write: CacheWrite,
    /// Put the id in a Redis Cluster hash tag (`user:{123}`).
    pub hash_tag: bool,
}

/// The complete model of one entity's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TableDef<'a> {
    /// Table name.
    pub name: &'a str,
    /// Rust type name of the entity.
    pub entity: &'a str,
    /// Columns in declaration order.
    pub columns: &'a [ColumnDef<'a>],
    /// Primary-key columns, in order.
    pub primary_key: &'a [&'a str],
    /// UNIQUE constraints (single- and multi-column).
    pub uniques: &'a [UniqueDef<'a>],
    /// CHECK constraints written by the model (enum checks come from the columns).
    pub checks: &'a [CheckDef<'a>],
    /// Indexes.
    pub indexes: &'a [IndexDef<'a>],
    /// Range partitioning, if any.
    pub partition: Option<PartitionDef<'a>>,
    /// Whether a `<table>_archive` cold-tier table exists.
    pub archive: bool,
    /// Redis cache policy, if the entity is cached (not serialized: it has no DDL).
    #[serde(skip)]
    pub cache: Option<CachePolicy>,
    /// Extensions the table's SQL needs (e.g. `uuid-ossp`).
    pub extensions: &'a [&'a str],
    /// Migration hint (`#[dbpat(renamed_from = "...")]` on the struct): the table's previous
    /// name, so a migration renames it (with its archive, partitions, trigger, indexes and
    /// constraints named after it) instead of dropping and creating it. Not part of the
    /// schema: the DDL ignores it and the migrations snapshot does not store it.
    #[serde(skip)]
    pub renamed_from: Option<&'a str>,
}

impl<'a> TableDef<'a> {
    /// A table with columns and a primary key and nothing else.
    pub const fn new(
        name: &'a str,
        entity: &'a str,
        columns: &'a [ColumnDef<'a>],
        primary_key: &'a [&'a str],
    ) -> Self {
        TableDef {
            name,
            entity,
            columns,
            primary_key,
            uniques: &[],
            checks: &[],
            indexes: &[],
            partition: None,
            archive: false,
            cache: None,
            extensions: &[],
            renamed_from: None,
        }
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&'a ColumnDef<'a>> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column with `role`, if any.
    pub fn column_with_role(&self, role: ColumnRole) -> Option<&'a ColumnDef<'a>> {
        self.columns.iter().find(|c| c.role == role)
    }

    /// The optimistic-locking version column, if any.
    pub fn version_column(&self) -> Option<&'a ColumnDef<'a>> {
        self.column_with_role(ColumnRole::Version)
    }

    /// The `updated_at` column, if any.
    pub fn updated_at_column(&self) -> Option<&'a ColumnDef<'a>> {
        self.column_with_role(ColumnRole::UpdatedAt)
    }

    /// The name of the archive table (`<table>_archive`), if the table has one.
    pub fn archive_table_name(&self) -> Option<String> {
        self.archive.then(|| format!("{}_archive", self.name))
    }

    /// Tables this one references through foreign keys (excluding itself).
    pub fn referenced_tables(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.columns
            .iter()
            .filter_map(|c| c.references.map(|fk| fk.table))
            .filter(move |t| *t != self.name)
    }
}

/// Whether `values` contains `value` (usable in `const` assertions emitted by the derive).
pub const fn contains_str(values: &[&str], value: &str) -> bool {
    let mut i = 0;
    while i < values.len() {
        if str_eq(values[i], value) {
            return true;
        }
        i += 1;
    }
    false
}

/// `const` string equality.
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The server default of a generated primary key: `gen_random_uuid()` for UUID keys.
pub const fn key_default(sql_type: SqlType) -> Option<DefaultValue<'static>> {
    if sql_type.is_scalar(BaseType::Uuid) {
        Some(DefaultValue::Expr("gen_random_uuid()"))
    } else {
        None
    }
}

/// The generation of a generated primary key: identity for BIGINT keys.
pub const fn key_generated(sql_type: SqlType) -> Option<Generated> {
    if sql_type.is_scalar(BaseType::BigInt) {
        Some(Generated::Identity)
    } else {
        None
    }
}

/// The operator class a GIN index uses by default: `jsonb_path_ops` on JSONB (smaller and
/// faster for `@>` containment), the default class on arrays, none otherwise.
pub const fn gin_default_opclass(sql_type: SqlType) -> Option<&'static str> {
    if sql_type.is_scalar(BaseType::Jsonb) {
        Some("jsonb_path_ops")
    } else {
        None
    }
}

/// Whether a text default is allowed: any text for plain columns, a listed value for enums.
pub const fn enum_allows(values: Option<&[&str]>, default: &str) -> bool {
    match values {
        Some(values) => contains_str(values, default),
        None => true,
    }
}

/// Whether two column types are the same (for foreign keys).
pub const fn same_type(a: SqlType, b: SqlType) -> bool {
    a.array == b.array && base_eq(a.base, b.base)
}
