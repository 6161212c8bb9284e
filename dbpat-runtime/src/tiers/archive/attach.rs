//! Zero-copy moves into a partitioned archive: a wholly-old partition is detached from the
//! table and attached to `<table>_archive`, keeping its data files and its indexes; and the
//! archive partitions the batch moves need, created on demand.
//!
//! A whole partition moves in two steps, each safe to kill:
//!
//! 1. `ALTER TABLE p ADD CONSTRAINT dbpat_tiers_bounds CHECK (<key> IS NOT NULL AND <key> >=
//!    from AND <key> < to) NOT VALID`, committed, then `VALIDATE CONSTRAINT` (a read of `p`
//!    under `SHARE UPDATE EXCLUSIVE`: reads and writes of `p` go on). The check is exactly the
//!    partition's bounds, so it rejects nothing the partition accepts; it lets `ATTACH` prove
//!    the bounds without scanning. Idempotent: a re-run finds it and validates again (a no-op).
//! 2. One transaction: `LOCK TABLE p IN SHARE MODE` and `count(*)` (the report's rows, exact:
//!    writers of `p` wait until commit), then `DETACH PARTITION` from the table (the only
//!    `ACCESS EXCLUSIVE` lock on the table, held from here to the commit), `ATTACH PARTITION`
//!    to the archive (`SHARE UPDATE EXCLUSIVE` on the archive; PostgreSQL skips the validation
//!    scan and attaches `p`'s indexes to the archive's matching partitioned indexes), `DROP
//!    CONSTRAINT`, and a rename to the archive's naming (`<table>_archive_2024_q1`), so the
//!    table's own partition names stay free. A kill rolls all of it back: `p` is in exactly one
//!    of the tiers at every instant.
//!
//! When the archive already has a partition overlapping `p`'s range (rows of `p` moved there in
//! batches while `p` straddled an earlier cutoff), `p` cannot be attached beside it: it is
//! copied instead, as into an unpartitioned archive.

use super::{retry_locks, ArchiveStep, Archiver};
use crate::ddl::{ident, literal, partition_bounds, YearMonth};
use crate::error::Error;
use crate::tiers::periods::{partitions_of_on, ExistingPartition};
use crate::tiers::registry::refuse_cold;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A half-open range of the partition key, `None` for an open end.
type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The name of the CHECK constraint that carries a partition's bounds across the move.
const BOUNDS_CHECK: &str = "dbpat_tiers_bounds";

/// Whether the table named `name` is partitioned (`relkind = 'p'`).
pub(in crate::tiers) async fn is_partitioned(
    conn: &mut PgConnection,
    name: &str,
) -> Result<bool, Error> {
    let kind: Option<String> =
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)")
            .bind(ident(name))
            .fetch_optional(conn)
            .await?;
    Ok(kind.as_deref() == Some("p"))
}

/// A timestamp as a SQL literal in UTC (`'2024-01-01 00:00:00+00'`): computed from the
/// catalog's partition bounds, never from user data.
fn bound(at: DateTime<Utc>) -> String {
    literal(&at.format("%Y-%m-%d %H:%M:%S%.f+00").to_string())
}

/// `FROM (...) TO (...)` for a range, `MINVALUE`/`MAXVALUE` for an open end.
fn for_values(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> String {
    format!(
        "FOR VALUES FROM ({}) TO ({})",
        from.map_or_else(|| "MINVALUE".to_owned(), bound),
        to.map_or_else(|| "MAXVALUE".to_owned(), bound)
    )
}

/// Whether the archive partitions overlap `[from, to)`.
fn overlapping(
    archive: &[ExistingPartition],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> bool {
    archive.iter().any(|a| {
        !a.is_default
            && a.from.is_none_or(|af| to.is_none_or(|t| af < t))
            && a.to.is_none_or(|at| from.is_none_or(|f| f < at))
    })
}

impl Archiver<'_> {
    /// The archive's name for the partition holding `[from, ...)`: `<archive>_2024_q1` when
    /// `from` starts a period of the model, else `<archive>_<partition>` cut to 63 bytes.
    fn archive_partition_name(&self, partition: &str, from: Option<DateTime<Utc>>) -> String {
        if let (Some(p), Some(from)) = (self.table.partition, from) {
            let start = YearMonth::containing(from).period_start(p.interval);
            if start.start() == Some(from) {
                return partition_bounds(self.archive, p.interval, start).name;
            }
        }
        let mut name = format!("{}_{partition}", self.archive);
        while name.len() > 63 {
            name.pop();
        }
        name
    }

    /// Moves the wholly-old partition `p` into the partitioned archive without copying it, or
    /// by copying it when the archive already holds part of its range. Returns its rows.
    pub(super) async fn move_partition_zero_copy(
        &self,
        conn: &mut PgConnection,
        p: &ExistingPartition,
    ) -> Result<(u64, bool), Error> {
        let archived = partitions_of_on(&mut *conn, self.archive).await?;
        if overlapping(&archived, p.from, p.to) {
            return Ok((self.move_partition(conn, &p.name).await?, false));
        }
        refuse_cold(conn, self.table.name, p.from, p.to).await?;
        self.add_bounds_check(conn, p).await?;
        let part = ident(&p.name);
        let target = self.archive_partition_name(&p.name, p.from);
        let mut tx = self.begin_bounded(conn).await?;
        retry_locks(&mut tx, &[format!("LOCK TABLE {part} IN SHARE MODE")]).await?;
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM ONLY {part}"))
            .persistent(false)
            .fetch_one(&mut *tx)
            .await?;
        let rows = rows as u64;
        let taken: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(ident(&target))
            .fetch_one(&mut *tx)
            .await?;
        self.emit(ArchiveStep::PartitionDetaching {
            partition: p.name.clone(),
        })
        .await;
        let mut statements = vec![
            format!(
                "ALTER TABLE {} DETACH PARTITION {part}",
                ident(self.table.name)
            ),
            format!(
                "ALTER TABLE {} ATTACH PARTITION {part} {}",
                ident(self.archive),
                for_values(p.from, p.to)
            ),
            format!("ALTER TABLE {part} DROP CONSTRAINT {}", ident(BOUNDS_CHECK)),
        ];
        let name = if taken || target == p.name {
            p.name.clone()
        } else {
            statements.push(format!("ALTER TABLE {part} RENAME TO {}", ident(&target)));
            target
        };
        retry_locks(&mut tx, &statements).await?;
        self.emit(ArchiveStep::PartitionAttached {
            partition: p.name.clone(),
            archive_partition: name.clone(),
        })
        .await;
        tx.commit().await?;
        tracing::info!(
            table = self.table.name,
            partition = p.name,
            archive_partition = name,
            rows,
            "attached partition to archive"
        );
        self.emit(ArchiveStep::PartitionMoved {
            partition: p.name.clone(),
            rows,
        })
        .await;
        Ok((rows, true))
    }

    /// Step 1: the CHECK constraint matching `p`'s bounds, added `NOT VALID` and validated.
    async fn add_bounds_check(
        &self,
        conn: &mut PgConnection,
        p: &ExistingPartition,
    ) -> Result<(), Error> {
        let part = ident(&p.name);
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2)",
        )
        .bind(&part)
        .bind(BOUNDS_CHECK)
        .fetch_one(&mut *conn)
        .await?;
        if !exists {
            let col = ident(self.column);
            let mut check = format!("{col} IS NOT NULL");
            if let Some(from) = p.from {
                check.push_str(&format!(" AND {col} >= {}", bound(from)));
            }
            if let Some(to) = p.to {
                check.push_str(&format!(" AND {col} < {}", bound(to)));
            }
            let mut tx = self.begin_bounded(conn).await?;
            retry_locks(
                &mut tx,
                &[format!(
                    "ALTER TABLE {part} ADD CONSTRAINT {} CHECK ({check}) NOT VALID",
                    ident(BOUNDS_CHECK)
                )],
            )
            .await?;
            tx.commit().await?;
        }
        sqlx::query(&format!(
            "ALTER TABLE {part} VALIDATE CONSTRAINT {}",
            ident(BOUNDS_CHECK)
        ))
        .persistent(false)
        .execute(&mut *conn)
        .await?;
        self.emit(ArchiveStep::PartitionBounded {
            partition: p.name.clone(),
        })
        .await;
        Ok(())
    }

    /// Before rows of `p` move in batches into the partitioned archive: creates the archive
    /// partitions their keys need (one per period of the model; for a range partition, its own
    /// range), unless one overlapping the range exists. Returns the partitions created.
    pub(super) async fn ensure_archive_partitions(
        &self,
        conn: &mut PgConnection,
        p: &ExistingPartition,
    ) -> Result<Vec<String>, Error> {
        let ranges: Vec<Range> = match (p.is_default, p.from, p.to) {
            (false, Some(from), Some(to)) => vec![(Some(from), Some(to))],
            _ => self.periods_of_old_rows(conn, &p.name).await?,
        };
        let mut created = Vec::new();
        for (from, to) in ranges {
            let archived = partitions_of_on(&mut *conn, self.archive).await?;
            if overlapping(&archived, from, to) {
                continue;
            }
            refuse_cold(conn, self.table.name, from, to).await?;
            let name = self.archive_partition_name(&p.name, from);
            let mut tx = self.begin_bounded(conn).await?;
            retry_locks(
                &mut tx,
                &[format!(
                    "CREATE TABLE {} PARTITION OF {} {}",
                    ident(&name),
                    ident(self.archive),
                    for_values(from, to)
                )],
            )
            .await?;
            tx.commit().await?;
            tracing::info!(
                table = self.table.name,
                archive_partition = name,
                "created archive partition"
            );
            self.emit(ArchiveStep::ArchivePartitionCreated {
                partition: name.clone(),
            })
            .await;
            created.push(name);
        }
        Ok(created)
    }

    /// The model's periods holding the old rows of `relation` (a default or open-ended
    /// partition, whose range does not say).
    async fn periods_of_old_rows(
        &self,
        conn: &mut PgConnection,
        relation: &str,
    ) -> Result<Vec<Range>, Error> {
        let Some(partition) = self.table.partition else {
            return Ok(Vec::new());
        };
        let months: Vec<DateTime<Utc>> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT date_trunc('month', {col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' \
             FROM ONLY {} WHERE {col} < $1 ORDER BY 1",
            ident(relation),
            col = ident(self.column)
        ))
        .persistent(false)
        .bind(self.cutoff)
        .fetch_all(&mut *conn)
        .await?;
        let mut ranges = Vec::new();
        for month in months {
            let start = YearMonth::containing(month).period_start(partition.interval);
            let b = partition_bounds(self.archive, partition.interval, start);
            let range = (b.from.start(), b.to.start());
            if range.0.is_some() && range.1.is_some() && !ranges.contains(&range) {
                ranges.push(range);
            }
        }
        Ok(ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap()
    }

    fn part(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> ExistingPartition {
        ExistingPartition {
            name: "a".into(),
            from,
            to,
            is_default: false,
        }
    }

    #[test]
    fn bounds_render_in_utc_with_open_ends() {
        assert_eq!(
            for_values(Some(at(2024, 1)), Some(at(2024, 4))),
            "FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-04-01 00:00:00+00')"
        );
        assert_eq!(
            for_values(None, Some(at(2024, 4))),
            "FOR VALUES FROM (MINVALUE) TO ('2024-04-01 00:00:00+00')"
        );
    }

    #[test]
    fn overlap_of_archive_partitions() {
        let q1 = [part(Some(at(2024, 1)), Some(at(2024, 4)))];
        assert!(overlapping(&q1, Some(at(2024, 3)), Some(at(2024, 6))));
        assert!(!overlapping(&q1, Some(at(2024, 4)), Some(at(2024, 7))));
        assert!(overlapping(&q1, None, Some(at(2024, 2))));
        assert!(!overlapping(&[], None, None));
    }
}
