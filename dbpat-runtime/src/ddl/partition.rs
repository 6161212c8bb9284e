//! Range partitions of a partitioned table and its `<table>_archive` cold-tier table.

use super::sql_text::{ident, literal};
use crate::model::{PartitionDef, PartitionInterval, TableDef};
use chrono::{DateTime, Datelike, TimeZone, Utc};

/// A calendar month, `month` 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    /// Year.
    pub year: i32,
    /// Month, 1..=12.
    pub month: u32,
}

impl YearMonth {
    /// `months` later (or earlier, when negative).
    pub fn add_months(self, months: i64) -> Self {
        let index = self.year as i64 * 12 + (self.month as i64 - 1) + months;
        YearMonth {
            year: index.div_euclid(12) as i32,
            month: index.rem_euclid(12) as u32 + 1,
        }
    }

    /// The first month of the period containing this month.
    pub fn period_start(self, interval: PartitionInterval) -> Self {
        let step = interval.months();
        YearMonth {
            year: self.year,
            month: (self.month - 1) / step * step + 1,
        }
    }

    /// `YYYY-MM-01 00:00:00+00`, the UTC instant the month starts.
    pub fn start_timestamp(self) -> String {
        format!("{:04}-{:02}-01 00:00:00+00", self.year, self.month)
    }

    /// The UTC calendar month containing the instant `at`.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use dbpat_runtime::ddl::YearMonth;
    /// let at = Utc.with_ymd_and_hms(2025, 3, 31, 23, 59, 59).unwrap();
    /// assert_eq!(YearMonth::containing(at), YearMonth { year: 2025, month: 3 });
    /// ```
    pub fn containing(at: DateTime<Utc>) -> Self {
        YearMonth {
            year: at.year(),
            month: at.month(),
        }
    }

    /// The UTC instant the month starts, `YYYY-MM-01 00:00:00+00` (the same instant as
    /// [`YearMonth::start_timestamp`]); `None` outside chrono's range of years.
    pub fn start(self) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            .single()
    }
}

/// One partition: its name and the half-open range `[from, to)` it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBounds {
    /// Partition table name: `<table>_YYYY_qN` or `<table>_YYYY_MM`.
    pub name: String,
    /// First month held.
    pub from: YearMonth,
    /// First month no longer held.
    pub to: YearMonth,
}

/// The partition of `table` that starts at `start` (which must be period-aligned).
pub fn partition_bounds(
    table: &str,
    interval: PartitionInterval,
    start: YearMonth,
) -> PartitionBounds {
    let name = match interval {
        PartitionInterval::Quarter => {
            format!("{table}_{:04}_q{}", start.year, (start.month - 1) / 3 + 1)
        }
        PartitionInterval::Month => format!("{table}_{:04}_{:02}", start.year, start.month),
    };
    PartitionBounds {
        name,
        from: start,
        to: start.add_months(interval.months() as i64),
    }
}

/// The partitions the DDL creates for a partitioned table: `count` periods from `first`.
pub fn initial_partitions(table: &TableDef, partition: &PartitionDef) -> Vec<PartitionBounds> {
    let first = YearMonth {
        year: partition.first.0,
        month: partition.first.1,
    };
    (0..partition.count)
        .map(|i| {
            partition_bounds(
                table.name,
                partition.interval,
                first.add_months(i as i64 * partition.interval.months() as i64),
            )
        })
        .collect()
}

/// `CREATE TABLE <partition> PARTITION OF <table> FOR VALUES FROM (...) TO (...);`
pub fn render_create_partition(table: &TableDef, bounds: &PartitionBounds) -> String {
    format!(
        "CREATE TABLE {} PARTITION OF {}\n    FOR VALUES FROM ({}) TO ({});",
        ident(&bounds.name),
        ident(table.name),
        literal(&bounds.from.start_timestamp()),
        literal(&bounds.to.start_timestamp()),
    )
}

/// `CREATE TABLE <table>_archive (LIKE <table> INCLUDING ALL);`, if the table has an archive;
/// for a partitioned table, partitioned the same way (`... PARTITION BY RANGE (<key>);`), so
/// that `dbpat::tiers` can move a whole partition into it by `DETACH` and `ATTACH`, keeping
/// its data files and indexes. The archive's indexes, copied from the table's partitioned
/// indexes, are partitioned indexes too: an attached partition's matching indexes are
/// attached to them, not rebuilt.
pub fn render_archive_table(table: &TableDef) -> Option<String> {
    let archive = table.archive_table_name()?;
    let partitioning = match &table.partition {
        Some(p) => format!(" PARTITION BY RANGE ({})", ident(p.column)),
        None => String::new(),
    };
    Some(format!(
        "CREATE TABLE {} (LIKE {} INCLUDING ALL){partitioning};",
        ident(&archive),
        ident(table.name)
    ))
}

/// The partition of `table` (named as the DDL names it) whose range holds the instant `at`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use dbpat_runtime::model::PartitionInterval;
/// use dbpat_runtime::ddl::partition_containing;
/// let at = Utc.with_ymd_and_hms(2025, 5, 17, 12, 0, 0).unwrap();
/// assert_eq!(partition_containing("orders", PartitionInterval::Quarter, at).name, "orders_2025_q2");
/// ```
pub fn partition_containing(
    table: &str,
    interval: PartitionInterval,
    at: DateTime<Utc>,
) -> PartitionBounds {
    partition_bounds(
        table,
        interval,
        YearMonth::containing(at).period_start(interval),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_wrap_across_years() {
        let ym = YearMonth {
            year: 2025,
            month: 11,
        };
        assert_eq!(
            ym.add_months(3),
            YearMonth {
                year: 2026,
                month: 2
            }
        );
        assert_eq!(
            ym.add_months(-11),
            YearMonth {
                year: 2024,
                month: 12
            }
        );
    }

    #[test]
    fn quarter_partitions_are_named_and_bounded() {
        let b = partition_bounds(
            "orders",
            PartitionInterval::Quarter,
            YearMonth {
                year: 2025,
                month: 10,
            },
        );
        assert_eq!(b.name, "orders_2025_q4");
        assert_eq!(
            b.to,
            YearMonth {
                year: 2026,
                month: 1
            }
        );
        assert_eq!(
            YearMonth {
                year: 2025,
                month: 8
            }
            .period_start(PartitionInterval::Quarter),
            YearMonth {
                year: 2025,
                month: 7
            }
        );
        let m = partition_bounds(
            "events",
            PartitionInterval::Month,
            YearMonth {
                year: 2024,
                month: 12,
            },
        );
        assert_eq!(m.name, "events_2024_12");
        assert_eq!(m.to.start_timestamp(), "2025-01-01 00:00:00+00");
    }
}
