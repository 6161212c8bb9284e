//! [`Error`]: the one error type of dbpat, with PostgreSQL error codes mapped to variants a
//! caller can match on.

/// The SQLSTATE codes dbpat maps to variants or retries on.
pub mod sqlstate {
    /// `unique_violation`
    pub const UNIQUE_VIOLATION: &str = "23505";
    /// `check_violation`
    pub const CHECK_VIOLATION: &str = "23514";
    /// `foreign_key_violation`
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    /// `serialization_failure`
    pub const SERIALIZATION_FAILURE: &str = "40001";
    /// `deadlock_detected`
    pub const DEADLOCK_DETECTED: &str = "40P01";
}

/// Everything a dbpat call can fail with.
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
///         Error::NotFound => "no such row",
///         _ => "database error",
///     }
/// }
/// assert_eq!(explain(&Error::NotFound), "no such row");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The row does not exist (or a query that needs one row found none).
    #[error("row not found")]
    NotFound,
    /// A versioned update or patch found the row at another version than the caller had:
    /// someone else changed it first. Nothing was written.
    #[error("stale version: {entity} {id} is no longer at version {version}")]
    Conflict {
        /// The entity's Rust name.
        entity: &'static str,
        /// The primary key, formatted with `Debug`.
        id: String,
        /// The version the caller had (and expected to replace).
        version: i64,
    },
    /// A UNIQUE constraint or unique index rejected the write.
    #[error("unique constraint `{constraint}` violated")]
    UniqueViolation {
        /// Constraint (or unique index) name.
        constraint: String,
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
    /// A row could not be decoded into its Rust type.
    #[error("cannot decode a row: {0}")]
    Decode(#[source] sqlx::Error),
    /// A cached read failed in a way the caller must see. Redis trouble never shows up here
    /// (reads degrade to the database); this carries a failure of the database load that
    /// several cached readers shared. The variants above come back as themselves instead.
    #[cfg(feature = "cache")]
    #[error("cache error: {0}")]
    Cache(#[source] crate::cache::CacheError),
    /// An insert into a partitioned table found no partition for the row's partition key.
    /// `[from, to)` is the missing partition (per the model's interval): create it with
    /// `dbpat::tiers::ensure_partitions`, or archive the row.
    #[error("table `{table}` has no partition for [{from}, {to})")]
    MissingPartition {
        /// The partitioned table.
        table: String,
        /// First instant of the missing partition.
        from: chrono::DateTime<chrono::Utc>,
        /// First instant after it.
        to: chrono::DateTime<chrono::Utc>,
    },
    /// Partition maintenance, archiving or a history read failed for a reason of its own
    /// (no archive, not partitioned, another archiver running, ...).
    #[error(transparent)]
    Tier(crate::tiers::TierError),
    /// The query cannot run as built (a programming error, reported instead of a panic).
    #[error("invalid query: {0}")]
    InvalidQuery(&'static str),
    /// Any other database or driver error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl Error {
    /// The SQLSTATE of a database error, if this is one.
    pub fn sqlstate(&self) -> Option<String> {
        match self {
            Error::Database(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// Whether retrying the whole transaction may succeed: a serialization failure (40001) or a
    /// deadlock (40P01).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.sqlstate().as_deref(),
            Some(sqlstate::SERIALIZATION_FAILURE | sqlstate::DEADLOCK_DETECTED)
        )
    }

    /// The constraint a write violated, for the three constraint variants.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Error::UniqueViolation { constraint }
            | Error::CheckViolation { constraint }
            | Error::ForeignKeyViolation { constraint } => Some(constraint),
            _ => None,
        }
    }

    /// An encoding failure while binding a value (reported by sqlx as `Encode`).
    pub(crate) fn encode(err: sqlx::error::BoxDynError) -> Self {
        Error::Database(sqlx::Error::Encode(err))
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => Error::Decode(err),
            sqlx::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or_default().to_owned();
                match db.code().as_deref() {
                    Some(sqlstate::UNIQUE_VIOLATION) => Error::UniqueViolation { constraint },
                    Some(sqlstate::CHECK_VIOLATION) => Error::CheckViolation { constraint },
                    Some(sqlstate::FOREIGN_KEY_VIOLATION) => {
                        Error::ForeignKeyViolation { constraint }
                    }
                    _ => Error::Database(sqlx::Error::Database(db)),
                }
            }
            other => Error::Database(other),
        }
    }
}

impl From<crate::tiers::TierError> for Error {
    fn from(err: crate::tiers::TierError) -> Self {
        use crate::tiers::TierError;
        match err {
            TierError::MissingPartition { table, from, to } => {
                Error::MissingPartition { table, from, to }
            }
            TierError::Database(db) => Error::from(db),
            other => Error::Tier(other),
        }
    }
}

#[cfg(feature = "cache")]
impl From<crate::cache::CacheError> for Error {
    /// A shared load's failure comes back as the `dbpat::Error` it was, when it was one of the
    /// variants a caller matches on; anything else stays wrapped.
    fn from(err: crate::cache::CacheError) -> Self {
        let crate::cache::CacheError::Source(source) = &err;
        match source.downcast_ref::<Error>() {
            Some(Error::NotFound) => Error::NotFound,
            Some(Error::Conflict {
                entity,
                id,
                version,
            }) => Error::Conflict {
                entity,
                id: id.clone(),
                version: *version,
            },
            Some(Error::UniqueViolation { constraint }) => Error::UniqueViolation {
                constraint: constraint.clone(),
            },
            Some(Error::CheckViolation { constraint }) => Error::CheckViolation {
                constraint: constraint.clone(),
            },
            Some(Error::ForeignKeyViolation { constraint }) => Error::ForeignKeyViolation {
                constraint: constraint.clone(),
            },
            Some(Error::MissingPartition { table, from, to }) => Error::MissingPartition {
                table: table.clone(),
                from: *from,
                to: *to,
            },
            _ => Error::Cache(err),
        }
    }
}

/// Maps an insert's error: on a partitioned table, "no partition of relation ... found for
/// row" (SQLSTATE 23514, which is no CHECK violation) becomes [`Error::MissingPartition`].
pub(crate) fn insert_error(table: &crate::model::TableDef, err: sqlx::Error) -> Error {
    match crate::tiers::missing_partition(table, &err) {
        Some(missing) => missing.into(),
        None => err.into(),
    }
}

/// `Result<T, dbpat::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
