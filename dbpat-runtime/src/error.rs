//! [`Error`]: the one error type of every dbpat data operation (queries, the cache, tiers), and
//! the classification of driver errors into variants a caller can match on.
//!
//! Database errors are classified once, here, through sqlx's `ErrorKind`
//! where it has one (unique, foreign-key, check and not-null violations) and by SQLSTATE only
//! for what it has not (serialization failure, deadlock, lock timeout, no partition for a row).
//!
//! `Error` is `Clone` (driver errors are shared behind an [`Arc`]) so that one database load
//! shared by several cached readers gives every reader the same error, variant and all.

use crate::model::TableDef;
use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use std::sync::Arc;

/// The SQLSTATE codes dbpat reads that sqlx has no [`ErrorKind`] for.
mod sqlstate {
    /// `serialization_failure`
    pub const SERIALIZATION_FAILURE: &str = "40001";
    /// `deadlock_detected`
    pub const DEADLOCK_DETECTED: &str = "40P01";
    /// `lock_not_available` (a `lock_timeout` expired, or a `NOWAIT` lock found the row held)
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    /// `check_violation`, which PostgreSQL also uses for "no partition of relation ... found
    /// for row".
    pub const CHECK_VIOLATION: &str = "23514";
}

/// Everything a dbpat data operation can fail with.
///
/// Constraint violations carry the constraint's name as the DDL renders it (for example
/// `accounts_balance_check`), so a caller can tell which rule a write broke:
///
/// ```
/// use dbpat_runtime::Error;
/// fn explain(err: &Error) -> &'static str {
///     match err {
///         Error::CheckViolation { constraint } if constraint == "accounts_balance_check" => "insufficient funds",
///         Error::UniqueViolation { .. } => "already exists",
///         Error::Conflict { .. } => "someone else changed it; reload and retry",
///         Error::NotFound { .. } => "no such row",
///         _ => "database error",
///     }
/// }
/// let missing = Error::NotFound { entity: "Account", key: "42".into() };
/// assert_eq!(explain(&missing), "no such row");
/// assert_eq!(missing.to_string(), "Account 42 not found");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The row does not exist (a `get`, `update`, `patch` or `delete` of a key with no row, or
    /// a `fetch_one` that matched nothing).
    #[error("{entity} {key} not found")]
    NotFound {
        /// The entity's Rust name.
        entity: &'static str,
        /// The key, formatted with `Debug` (empty for a query that matched no row).
        key: String,
    },
    /// A versioned update or patch found the row at another version than the caller had:
    /// someone else changed it first. Nothing was written.
    #[error("stale version: {entity} {key} is no longer at version {version}")]
    Conflict {
        /// The entity's Rust name.
        entity: &'static str,
        /// The key, formatted with `Debug`.
        key: String,
        /// The version the caller had (and expected to replace).
        version: i64,
    },
    /// A UNIQUE constraint or unique index rejected the write.
    #[error("unique constraint `{constraint}` violated")]
    UniqueViolation {
        /// Constraint (or unique index) name.
        constraint: String,
    },
    /// An upsert batch (`upsert_many(...).on(key).do_update(...)`) held two rows with the same
    /// value of the conflict key: PostgreSQL cannot update one row twice in one statement
    /// ("ON CONFLICT DO UPDATE command cannot affect row a second time", SQLSTATE 21000), so
    /// the statement failed and nothing was written. Remove the duplicates from the batch
    /// (keep the last row of each key, say) and retry.
    #[error(
        "upsert of {entity}: two rows of the batch have the same `{constraint}` key;          PostgreSQL cannot update one row twice in one statement, nothing was written          (de-duplicate the batch by that key)"
    )]
    UpsertDuplicateKey {
        /// The entity's Rust name.
        entity: &'static str,
        /// The conflict target's constraint (`users_email_key`, `users_pkey`).
        constraint: &'static str,
    },
    /// A CHECK constraint rejected the write.
    #[error("check constraint `{constraint}` violated")]
    CheckViolation {
        /// Constraint name.
        constraint: String,
    },
    /// A FOREIGN KEY constraint rejected the write (missing parent, or a RESTRICT delete).
    #[error("foreign key constraint `{constraint}` violated")]
    ForeignKeyViolation {
        /// Constraint name.
        constraint: String,
    },
    /// A NOT NULL constraint rejected the write.
    #[error("not-null constraint violated: {message}")]
    NotNullViolation {
        /// The server's message (it names the column).
        message: String,
    },
    /// A row could not be decoded into its Rust type (a column of another type, JSONB that
    /// does not fit `T`, an unknown enum value). The same variant whichever read found it.
    #[error("cannot decode a row: {0}")]
    Decode(#[source] Arc<sqlx::Error>),
    /// A value could not be encoded as a bound parameter (a JSONB value that does not
    /// serialize, a version out of the column's range). Nothing was sent.
    #[error("cannot encode a value: {0}")]
    Encode(#[source] Arc<sqlx::error::BoxDynError>),
    /// An insert into a partitioned table found no partition for the row's partition key.
    /// `[from, to)` is the missing partition (per the model's interval): create it with
    /// [`Tiers::ensure_partitions`](crate::tiers::Tiers::ensure_partitions), or archive the row.
    #[error(
        "table `{table}` has no partition for [{from}, {to}): create it with \
         `ensure_partitions` (or the row belongs in the archive)"
    )]
    MissingPartition {
        /// The partitioned table.
        table: String,
        /// First instant of the missing partition.
        from: DateTime<Utc>,
        /// First instant after it.
        to: DateTime<Utc>,
    },
    /// The operation needs a partitioned table, and the model has no `partition(...)`.
    #[error("table `{table}` is not partitioned (no `partition(...)` in its model)")]
    NotPartitioned {
        /// The table.
        table: String,
    },
    /// The operation needs the archive tier, and the model has no `archive`.
    #[error("table `{table}` has no archive (no `archive` in its model)")]
    NoArchive {
        /// The table.
        table: String,
    },
    /// The table has neither a partition key nor a `created_at` column to compare with a cutoff.
    #[error("table `{table}` has no timestamp column to archive by (partition key or created_at)")]
    NoTimestampColumn {
        /// The table.
        table: String,
    },
    /// The table (or its archive) is not in the database.
    #[error("table `{table}` does not exist in the database")]
    NoSuchTable {
        /// The missing table.
        table: String,
    },
    /// Another session holds the table's archiving lock; at most one archiver runs per table.
    #[error("table `{table}` is already being archived by another session")]
    ArchiverBusy {
        /// The table.
        table: String,
    },
    /// The query cannot run as built (for example keyset pagination without an ORDER BY),
    /// reported instead of a panic.
    #[error("invalid query: {0}")]
    InvalidQuery(&'static str),
    /// The cold tier (archive periods exported to object storage) failed: see [`ColdError`].
    #[error("cold tier: {0}")]
    Cold(#[from] ColdError),
    /// The cache could not register a write with Redis (unreachable, frozen, too slow, or the
    /// registration was refused), and the handle's
    /// write guarantee is `WriteGuarantee::Strict` (the default): the write was refused
    /// **before** anything was sent to PostgreSQL, so nothing was written. Retrying is safe.
    #[error("cache unavailable: the write of {entity} {key} was not registered with Redis ({reason}); nothing was written")]
    CacheUnavailable {
        /// The entity's Rust name.
        entity: &'static str,
        /// The key, formatted with `Debug` (empty for an insert whose key the database generates).
        key: String,
        /// What Redis answered, or that it did not.
        reason: String,
    },
    /// A hand-written cache policy whose `key_prefix` cannot be a cache key segment (empty,
    /// with `:`, `{`, `}`, `*` or a space) or is reserved for the cache's own keys (`lease`,
    /// `writers`, `subkeys`, `dataset`).
    #[error("invalid cache policy: key prefix {key_prefix:?}: {reason}")]
    InvalidPolicy {
        /// The rejected prefix.
        key_prefix: String,
        /// Why.
        reason: &'static str,
    },
    /// A cache connection cannot be built as configured (for example an empty or malformed
    /// list of Redis Cluster seed URLs, or an application prefix with `{` or `}` on a cluster,
    /// which would steal the hash tag of every key).
    #[error("invalid cache configuration: {reason}")]
    InvalidCacheConfig {
        /// Why.
        reason: String,
    },
    /// A custom [`CacheSource`](crate::cache::CacheSource) failed with an error of its own.
    #[error("cache source failed: {0}")]
    Source(#[source] Arc<dyn std::error::Error + Send + Sync + 'static>),
    /// Any other database or driver error: connection and I/O failures, pool timeouts,
    /// serialization failures (see [`Error::is_retryable`]), syntax errors.
    #[error("database error: {0}")]
    Database(#[source] Arc<sqlx::Error>),
}

/// What went wrong in the cold tier (`dbpat::tiers::cold`): the exported periods of an archive
/// on object storage. A file whose bytes differ from what its manifest recorded is
/// [`ColdError::Checksum`], never rows.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ColdError {
    /// The object store failed (unreachable, denied, missing object).
    #[error("object store {operation} of `{path}` failed: {source}")]
    Store {
        /// `put`, `get`, `delete` or `list`.
        operation: &'static str,
        /// The object's path in the store.
        path: String,
        /// The store's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// An object's bytes do not hash to the SHA-256 its manifest (or, for a manifest, the
    /// database's register of cold periods) recorded: the file was changed or corrupted.
    #[error("checksum mismatch in `{path}`: expected sha256 {expected}, found {actual}")]
    Checksum {
        /// The object's path in the store.
        path: String,
        /// The recorded SHA-256 (hex).
        expected: String,
        /// The SHA-256 of the bytes read (hex).
        actual: String,
    },
    /// An object whose checksum matched could not be read as a manifest or a Parquet file.
    #[error("cannot read `{path}`: {reason}")]
    Unreadable {
        /// The object's path in the store.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The period was exported under other columns than the model has now: restore or read it
    /// with the model it was exported with.
    #[error("table `{table}`: the period from {from} was exported with schema {exported}, the model is now {current}")]
    SchemaChanged {
        /// The table.
        table: String,
        /// The period's first instant.
        from: DateTime<Utc>,
        /// The schema fingerprint in the manifest.
        exported: String,
        /// The model's schema fingerprint.
        current: String,
    },
    /// Rows would go into an archive period that is in the cold tier: restore it first.
    #[error("table `{table}`: the archive period [{from}, {to}) is in the cold tier; restore it before moving rows into it")]
    PeriodIsCold {
        /// The table.
        table: String,
        /// The period's first instant.
        from: DateTime<Utc>,
        /// The first instant after it.
        to: DateTime<Utc>,
    },
    /// No exported period of the table starts at that instant.
    #[error("table `{table}` has no cold period starting at {from}")]
    NoColdPeriod {
        /// The table.
        table: String,
        /// The instant asked for.
        from: DateTime<Utc>,
    },
    /// The archive is not partitioned (it predates partitioned archives): run the migration
    /// that converts it (`emit-sql migrate`), then export.
    #[error("table `{table}`: the archive is not partitioned, so it has no periods to export; migrate it first")]
    UnpartitionedArchive {
        /// The table.
        table: String,
    },
}

/// `Result<T, dbpat::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// [`Error::NotFound`] for `key` of `entity`.
    pub fn not_found(entity: &'static str, key: &impl std::fmt::Debug) -> Self {
        Error::NotFound {
            entity,
            key: format!("{key:?}"),
        }
    }

    /// [`Error::Source`] from any error (for custom cache sources).
    pub fn from_source(err: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Error::Source(Arc::from(err.into()))
    }

    /// The variant's name in snake case (`not_found`, `unique_violation`, `database`, ...): a
    /// stable, low-cardinality label for logs, spans (`error.type`) and metrics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::UniqueViolation { .. } => "unique_violation",
            Error::UpsertDuplicateKey { .. } => "upsert_duplicate_key",
            Error::CheckViolation { .. } => "check_violation",
            Error::ForeignKeyViolation { .. } => "foreign_key_violation",
            Error::NotNullViolation { .. } => "not_null_violation",
            Error::Decode(_) => "decode",
            Error::Encode(_) => "encode",
            Error::MissingPartition { .. } => "missing_partition",
            Error::NotPartitioned { .. } => "not_partitioned",
            Error::NoArchive { .. } => "no_archive",
            Error::NoTimestampColumn { .. } => "no_timestamp_column",
            Error::NoSuchTable { .. } => "no_such_table",
            Error::ArchiverBusy { .. } => "archiver_busy",
            Error::InvalidQuery(_) => "invalid_query",
            Error::Cold(_) => "cold",
            Error::CacheUnavailable { .. } => "cache_unavailable",
            Error::InvalidPolicy { .. } => "invalid_policy",
            Error::InvalidCacheConfig { .. } => "invalid_cache_config",
            Error::Source(_) => "source",
            Error::Database(_) => "database",
        }
    }

    /// The database error's SQLSTATE, if this is a database error.
    pub fn sqlstate(&self) -> Option<String> {
        match self {
            Error::Database(err) => err
                .as_database_error()
                .and_then(|db| db.code())
                .map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// Whether retrying the whole operation may succeed: a serialization failure (40001), a
    /// deadlock (40P01), or a write the cache refused because Redis did not answer
    /// ([`Error::CacheUnavailable`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::CacheUnavailable { .. })
            || matches!(
                self.sqlstate().as_deref(),
                Some(sqlstate::SERIALIZATION_FAILURE | sqlstate::DEADLOCK_DETECTED)
            )
    }

    /// Whether a lock was not available (SQLSTATE 55P03): a `lock_timeout` expired, or a
    /// [`nowait`](crate::query::Locked::nowait) row lock found the row held by another
    /// transaction. Not retried by [`transaction`](crate::transaction).
    pub fn is_lock_timeout(&self) -> bool {
        self.sqlstate().as_deref() == Some(sqlstate::LOCK_NOT_AVAILABLE)
    }

    /// The constraint a write violated, for the three named-constraint variants.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Error::UniqueViolation { constraint }
            | Error::CheckViolation { constraint }
            | Error::ForeignKeyViolation { constraint } => Some(constraint),
            _ => None,
        }
    }

    /// An encoding failure while binding a value.
    pub(crate) fn encode(err: sqlx::error::BoxDynError) -> Self {
        Error::Encode(Arc::new(err))
    }

    /// Classifies the error of a statement (your own SQL too) that wrote into `table`: PostgreSQL's "no partition of
    /// relation ... found for row" becomes [`Error::MissingPartition`]; anything else is
    /// classified as usual.
    pub fn from_write(table: &TableDef, err: sqlx::Error) -> Self {
        missing_partition(table, &err).unwrap_or_else(|| err.into())
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Error::Decode(Arc::new(err))
            }
            sqlx::Error::Encode(e) => Error::Encode(Arc::new(e)),
            sqlx::Error::Database(db) => {
                let constraint = || db.constraint().unwrap_or_default().to_owned();
                match db.kind() {
                    ErrorKind::UniqueViolation => Error::UniqueViolation {
                        constraint: constraint(),
                    },
                    ErrorKind::ForeignKeyViolation => Error::ForeignKeyViolation {
                        constraint: constraint(),
                    },
                    ErrorKind::CheckViolation if db.constraint().is_some() => {
                        Error::CheckViolation {
                            constraint: constraint(),
                        }
                    }
                    ErrorKind::NotNullViolation => Error::NotNullViolation {
                        message: db.message().to_owned(),
                    },
                    _ => Error::Database(Arc::new(sqlx::Error::Database(db))),
                }
            }
            other => Error::Database(Arc::new(other)),
        }
    }
}

/// The [`Error::MissingPartition`] that `err` reports for `table`, if it is one.
///
/// PostgreSQL reports `no partition of relation "orders" found for row` (SQLSTATE 23514, which
/// is no CHECK violation) with the key in the detail: `Partition key of the failing row
/// contains (created_at) = (2019-01-01 00:00:00+00).` The missing range is computed from the
/// model's interval.
fn missing_partition(table: &TableDef, err: &sqlx::Error) -> Option<Error> {
    let partition = table.partition?;
    let db = err.as_database_error()?;
    if db.code().as_deref() != Some(sqlstate::CHECK_VIOLATION) {
        return None;
    }
    // The relation in the message is the partitioned table (or a sub-partitioned child; dbpat
    // does not create those), so it must be this table.
    let prefix = format!("no partition of relation \"{}\" found for row", table.name);
    if !db.message().starts_with(&prefix) {
        return None;
    }
    let detail = db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?
        .detail()?;
    let value = parse_key_detail(detail, partition.column)?;
    let bounds = crate::ddl::partition_containing(table.name, partition.interval, value);
    Some(Error::MissingPartition {
        table: table.name.to_owned(),
        from: bounds.from.start()?,
        to: bounds.to.start()?,
    })
}

/// The timestamp in `Partition key of the failing row contains (col) = (VALUE).`
fn parse_key_detail(detail: &str, column: &str) -> Option<DateTime<Utc>> {
    let rest = detail.strip_prefix("Partition key of the failing row contains (")?;
    let rest = rest.strip_prefix(column).or_else(|| {
        // A quoted column name is printed quoted.
        rest.strip_prefix(&format!("\"{}\"", column.replace('"', "\"\"")))
    })?;
    let value = rest.strip_prefix(") = (")?;
    let value = value
        .strip_suffix(").")
        .unwrap_or(value)
        .trim_end_matches(')');
    parse_pg_timestamptz(value)
}

/// A TIMESTAMPTZ as PostgreSQL prints it with `DateStyle = ISO` (sqlx's session default):
/// `2019-01-01 00:00:00+00`, `2019-01-01 00:00:00.123456+05:30`.
fn parse_pg_timestamptz(value: &str) -> Option<DateTime<Utc>> {
    ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(value, f).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn key_details_parse_in_any_offset() {
        let d =
            "Partition key of the failing row contains (created_at) = (2019-01-01 00:00:00+00).";
        assert_eq!(
            parse_key_detail(d, "created_at"),
            Some(Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0).unwrap())
        );
        let d = "Partition key of the failing row contains (at) = (2019-01-01 05:30:00.25+05:30).";
        assert_eq!(
            parse_key_detail(d, "at").map(|t| t.to_rfc3339()),
            Some("2019-01-01T00:00:00.250+00:00".to_owned())
        );
        assert_eq!(parse_key_detail(d, "other"), None);
    }

    #[test]
    fn errors_clone_with_their_variant() {
        let e = Error::from(sqlx::Error::RowNotFound);
        assert!(matches!(e.clone(), Error::Database(_)));
        let d = Error::from(sqlx::Error::Decode("bad".into()));
        assert!(matches!(d.clone(), Error::Decode(_)));
        assert!(!d.is_retryable());
    }
}
