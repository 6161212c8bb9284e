//! Which partitions a table needs (from the model and a clock) and which it has (from the
//! catalog).

use crate::ddl::{ident, partition_bounds, PartitionBounds, YearMonth};
use crate::error::Error;
use crate::model::{PartitionDef, TableDef};
use chrono::{DateTime, Utc};
use sqlx::{Executor, PgConnection, Postgres};

/// The model's partitioning, or [`Error::NotPartitioned`].
pub(crate) fn partitioning<'a>(table: &TableDef<'a>) -> Result<PartitionDef<'a>, Error> {
    table.partition.ok_or_else(|| Error::NotPartitioned {
        table: table.name.to_owned(),
    })
}

/// The partitions that must exist at `now`: the current period's and `ahead` future ones.
pub(crate) fn needed_partitions(
    table: &TableDef<'_>,
    now: DateTime<Utc>,
    ahead: u32,
) -> Result<Vec<PartitionBounds>, Error> {
    let partition = partitioning(table)?;
    let step = partition.interval.months() as i64;
    let current = YearMonth::containing(now).period_start(partition.interval);
    Ok((0..=ahead as i64)
        .map(|k| partition_bounds(table.name, partition.interval, current.add_months(k * step)))
        .collect())
}

/// A partition attached to a table, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingPartition {
    /// The partition's table name.
    pub name: String,
    /// Lower bound (inclusive); `None` for `MINVALUE` or the default partition.
    pub from: Option<DateTime<Utc>>,
    /// Upper bound (exclusive); `None` for `MAXVALUE` or the default partition.
    pub to: Option<DateTime<Utc>>,
    /// The `DEFAULT` partition (holds whatever no other partition does).
    pub is_default: bool,
}

impl ExistingPartition {
    /// Whether the partition's range intersects `[from, to)` (the default partition never does:
    /// a range partition can be created beside it).
    pub fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        !self.is_default && self.from.is_none_or(|f| f < to) && self.to.is_none_or(|t| from < t)
    }

    /// Whether every row the partition can hold is older than `cutoff`.
    pub fn wholly_before(&self, cutoff: DateTime<Utc>) -> bool {
        !self.is_default && self.to.is_some_and(|t| t <= cutoff)
    }

    /// Whether the partition can hold a row older than `cutoff`.
    pub fn may_hold_before(&self, cutoff: DateTime<Utc>) -> bool {
        self.is_default || self.from.is_none_or(|f| f < cutoff)
    }
}

/// The partitions attached to `table` in the database, ordered by lower bound (`MINVALUE` and
/// the default partition first). [`Error::NoSuchTable`] if the table is missing.
///
/// Bounds are read with `pg_get_expr` and cast back to TIMESTAMPTZ in the same session, so the
/// session's time zone does not matter.
pub(crate) async fn existing_partitions<'c, E>(
    executor: E,
    table: &TableDef<'_>,
) -> Result<Vec<ExistingPartition>, Error>
where
    E: Executor<'c, Database = Postgres>,
{
    let rows: Vec<PartitionRow> = sqlx::query_as(LIST_PARTITIONS)
        .bind(ident(table.name))
        .fetch_all(executor)
        .await?;
    from_rows(table, rows)
}

/// [`existing_partitions`] on a connection (a concrete type keeps the callers' futures `Send`).
pub(crate) async fn existing_partitions_on(
    conn: &mut PgConnection,
    table: &TableDef<'_>,
) -> Result<Vec<ExistingPartition>, Error> {
    let rows: Vec<PartitionRow> = sqlx::query_as(LIST_PARTITIONS)
        .bind(ident(table.name))
        .fetch_all(conn)
        .await?;
    from_rows(table, rows)
}

/// The partitions attached to the table named `name` (the archive, whose name the model
/// derives), like [`existing_partitions_on`].
pub(crate) async fn partitions_of_on(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Vec<ExistingPartition>, Error> {
    let rows: Vec<PartitionRow> = sqlx::query_as(LIST_PARTITIONS)
        .bind(ident(name))
        .fetch_all(conn)
        .await?;
    from_rows_named(name, rows)
}

fn from_rows(
    table: &TableDef<'_>,
    rows: Vec<PartitionRow>,
) -> Result<Vec<ExistingPartition>, Error> {
    from_rows_named(table.name, rows)
}

fn from_rows_named(name: &str, rows: Vec<PartitionRow>) -> Result<Vec<ExistingPartition>, Error> {
    // The query returns one row with a NULL name when the table exists without partitions, and
    // none when it does not exist.
    if rows.is_empty() {
        return Err(Error::NoSuchTable {
            table: name.to_owned(),
        });
    }
    Ok(rows
        .into_iter()
        .filter_map(|(name, is_default, from, to)| {
            Some(ExistingPartition {
                name: name?,
                from,
                to,
                is_default: is_default.unwrap_or(false),
            })
        })
        .collect())
}

/// name, is default, lower bound, upper bound.
type PartitionRow = (
    Option<String>,
    Option<bool>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

const LIST_PARTITIONS: &str = r#"
SELECT c.relname::text,
       b.expr = 'DEFAULT',
       CASE WHEN b.m[1] LIKE '''%' THEN btrim(b.m[1], '''')::timestamptz END,
       CASE WHEN b.m[2] LIKE '''%' THEN btrim(b.m[2], '''')::timestamptz END
FROM (SELECT to_regclass($1) AS oid) AS parent
LEFT JOIN pg_inherits i ON i.inhparent = parent.oid
LEFT JOIN pg_class c ON c.oid = i.inhrelid
LEFT JOIN LATERAL (
    SELECT pg_get_expr(c.relpartbound, c.oid) AS expr,
           regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \((.*)\) TO \((.*)\)') AS m
) AS b ON true
WHERE parent.oid IS NOT NULL
ORDER BY 2 DESC NULLS FIRST, 3 NULLS FIRST, 1
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn existing_partitions_compare_with_ranges_and_cutoffs() {
        let q1 = ExistingPartition {
            name: "orders_2025_q1".into(),
            from: Some(at(2025, 1, 1)),
            to: Some(at(2025, 4, 1)),
            is_default: false,
        };
        assert!(q1.overlaps(at(2025, 3, 1), at(2025, 4, 1)));
        assert!(!q1.overlaps(at(2025, 4, 1), at(2025, 7, 1)));
        assert!(q1.wholly_before(at(2025, 4, 1)));
        assert!(!q1.wholly_before(at(2025, 3, 31)));
        assert!(q1.may_hold_before(at(2025, 1, 2)));
        assert!(!q1.may_hold_before(at(2025, 1, 1)));
        let default = ExistingPartition {
            name: "orders_default".into(),
            from: None,
            to: None,
            is_default: true,
        };
        assert!(!default.overlaps(at(2025, 1, 1), at(2026, 1, 1)));
        assert!(!default.wholly_before(at(2030, 1, 1)));
        assert!(default.may_hold_before(at(1990, 1, 1)));
    }
}
