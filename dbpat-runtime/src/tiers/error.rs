//! [`TierError`], and the mapping of PostgreSQL's "no partition found for row" to a typed error.

use super::periods::partition_containing;
use crate::model::TableDef;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgDatabaseError;

/// What can go wrong in partition maintenance, archiving and history reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TierError {
    /// A row's partition key falls in a period that has no partition: the insert was refused.
    /// `[from, to)` is the partition that would hold it (per the model's interval).
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
    /// The operation needs the cold tier, and the model has no `archive`.
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
    Busy {
        /// The table.
        table: String,
    },
    /// Any other database error.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// SQLSTATE `check_violation`, which PostgreSQL also uses for "no partition found for row".
const CHECK_VIOLATION: &str = "23514";

/// Maps the error of an insert into `table` to [`TierError::MissingPartition`] when PostgreSQL
/// refused the row because no partition holds its key; any other error is
/// [`TierError::Database`].
///
/// PostgreSQL reports `no partition of relation "orders" found for row` (SQLSTATE 23514) with
/// the key in the detail: `Partition key of the failing row contains (created_at) =
/// (2019-01-01 00:00:00+00).` The missing range is computed from the model's interval.
pub fn map_insert_error(table: &TableDef, err: sqlx::Error) -> TierError {
    match missing_partition(table, &err) {
        Some(missing) => missing,
        None => TierError::Database(err),
    }
}

/// The [`TierError::MissingPartition`] that `err` reports for `table`, if it is one.
pub fn missing_partition(table: &TableDef, err: &sqlx::Error) -> Option<TierError> {
    let partition = table.partition?;
    let db = err.as_database_error()?;
    if db.code().as_deref() != Some(CHECK_VIOLATION) {
        return None;
    }
    // The relation in the message is the partitioned table (or a sub-partitioned child; dbpat
    // does not create those), so it must be this table.
    let prefix = format!("no partition of relation \"{}\" found for row", table.name);
    if !db.message().starts_with(&prefix) {
        return None;
    }
    let detail = db.try_downcast_ref::<PgDatabaseError>()?.detail()?;
    let value = parse_key_detail(detail, partition.column)?;
    let bounds = partition_containing(table.name, partition.interval, value);
    Some(TierError::MissingPartition {
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
}
