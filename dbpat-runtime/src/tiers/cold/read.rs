//! History reads across all tiers: [`Select::with_cold`] adds the cold tier's rows to a
//! select over the hot table and the archive, as the same typed rows.
//!
//! In one transaction: `LOCK TABLE <archive> IN ACCESS SHARE MODE` (so no export or restore
//! moves a period between tiers until the read ends), the register's periods of the table;
//! then, for each period the filter's bounds on the partition key admit, its manifest, its
//! footer, and the row groups whose Parquet statistics the filter's bounds admit, each range
//! checked against the manifest. Rows of those row groups that the bounds admit are bound as
//! one array per column into one statement:
//!
//! ```sql
//! SELECT cols FROM t WHERE p UNION ALL SELECT cols FROM t_archive WHERE p
//! UNION ALL SELECT cols FROM (SELECT ... FROM unnest($n::bigint[], ...)) AS dbpat_cold_rows WHERE p
//! ORDER BY ... LIMIT ...
//! ```
//!
//! PostgreSQL applies the whole filter, order and limit to the union, so the rows, their
//! order and their decoding are exactly those of the warm tiers.

use super::columns::{Codec, ColdColumns};
use super::file::{manifest as read_manifest, PeriodFile};
use super::ColdStore;
use crate::ddl::{ident, ident_list};
use crate::error::Result;
use crate::query::{fetch_all, select_sql, ColdParts, ColumnBound, Scalar, Select, TableRow};
use crate::tiers::registry;
use arrow_array::RecordBatch;
use parquet::file::statistics::Statistics;
use sqlx::{Acquire, Arguments, Postgres};
use std::time::Instant;

/// Rows per decoded batch of a cold read.
const BATCH_ROWS: usize = 8192;

/// What a cold-tier read touched (for tuning and for the benches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColdReadReport {
    /// Periods registered in the cold tier for the table.
    pub periods: usize,
    /// Of those, the periods whose files were opened (the others were pruned by period).
    pub files_opened: usize,
    /// Row groups in the opened files.
    pub row_groups: usize,
    /// Row groups fetched and decoded (the others were pruned by their statistics).
    pub row_groups_read: usize,
    /// Bytes fetched from the store (manifests not counted).
    pub bytes_read: u64,
    /// Rows decoded from the fetched row groups.
    pub rows_decoded: u64,
    /// Rows bound into the statement (those the filter's bounds admit).
    pub rows_bound: u64,
    /// Microseconds spent on the cold tier (fetch, check, decode), before the statement.
    pub cold_micros: u64,
}

/// A [`Select`] that reads the cold tier too: from [`Select::with_cold`].
pub struct ColdSelect<'a, E> {
    select: Select<'a, E>,
    store: &'a ColdStore,
}

impl<E> std::fmt::Debug for ColdSelect<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdSelect")
            .field("select", &self.select)
            .field("store", &self.store)
            .finish()
    }
}

impl<'a, E: TableRow> Select<'a, E> {
    /// Reads the cold tier (the archive's periods exported to `store`) with the hot table
    /// and the archive (or, after `.tiers(ReadTiers::Archive)`, with the archive alone):
    /// the same filter, order, limit and typed rows as the warm tiers, each row once.
    ///
    /// The cold tier is pruned by the filter's conditions ANDed at its top: by period
    /// (conditions on the partition key), by row group (Parquet statistics of any column
    /// compared with `=`, `IN`, `<`, `<=`, `>`, `>=`; text by equality only), and row by row.
    /// Export with [`ColdOptions::sort_by`](super::ColdOptions::sort_by) the column a history is
    /// read by, so each of its values sits in few row groups.
    ///
    /// ```no_run
    /// # use dbpat_runtime::query::Column;
    /// # async fn demo<E: dbpat_runtime::Table>(pool: &sqlx::PgPool, customer: Column<E, i64>,
    /// #     created: Column<E, chrono::DateTime<chrono::Utc>>) -> dbpat_runtime::Result<()> {
    /// use dbpat_runtime::tiers::cold::ColdStore;
    /// let cold = ColdStore::local("/var/lib/app/cold")?;
    /// let history: Vec<E> = E::query()
    ///     .filter(customer.eq(42))
    ///     .order_by(created.desc())
    ///     .with_cold(&cold)
    ///     .fetch_all(pool)
    ///     .await?;
    /// # let _ = history; Ok(()) }
    /// ```
    pub fn with_cold(self, store: &'a ColdStore) -> ColdSelect<'a, E> {
        ColdSelect {
            select: self,
            store,
        }
    }
}

impl<'a, E: TableRow> ColdSelect<'a, E> {
    /// All matching rows of every tier.
    pub async fn fetch_all<'c, A>(self, db: A) -> Result<Vec<E>>
    where
        A: Acquire<'c, Database = Postgres>,
    {
        Ok(self.fetch_all_with_report(db).await?.0)
    }

    /// The first matching row of every tier, if any.
    pub async fn fetch_optional<'c, A>(self, db: A) -> Result<Option<E>>
    where
        A: Acquire<'c, Database = Postgres>,
    {
        let select = self.select.limit(1);
        let rows = ColdSelect {
            select,
            store: self.store,
        }
        .fetch_all(db)
        .await?;
        Ok(rows.into_iter().next())
    }

    /// [`ColdSelect::fetch_all`], and what the read touched in the cold tier.
    pub async fn fetch_all_with_report<'c, A>(self, db: A) -> Result<(Vec<E>, ColdReadReport)>
    where
        A: Acquire<'c, Database = Postgres>,
    {
        let table = &E::TABLE;
        let archive = super::archive_name(table)?;
        let parts = self.select.cold_parts()?;
        let mut conn = db.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(&format!(
            "LOCK TABLE {} IN ACCESS SHARE MODE",
            ident(&archive)
        ))
        .persistent(false)
        .execute(&mut *tx)
        .await?;
        let periods = registry::periods(&mut tx, table.name).await?;
        let columns = ColdColumns::of(table);
        let started = Instant::now();
        let mut report = ColdReadReport {
            periods: periods.len(),
            ..ColdReadReport::default()
        };
        let bounds = resolve(&columns, &parts.bounds);
        let mut kept: Vec<(RecordBatch, Vec<usize>)> = Vec::new();
        for period in &periods {
            if !period_admitted(table, &parts.bounds, period) {
                continue;
            }
            let manifest = read_manifest(self.store, period).await?;
            super::check_schema(table, &columns, &manifest)?;
            let mut file = PeriodFile::open(self.store, manifest).await?;
            report.files_opened += 1;
            report.row_groups += file.metadata.num_row_groups();
            let groups: Vec<usize> = (0..file.metadata.num_row_groups())
                .filter(|&g| {
                    let rg = file.metadata.row_group(g);
                    bounds.iter().all(|(i, bound)| {
                        match rg
                            .column(*i)
                            .statistics()
                            .and_then(|s| min_max(columns.codecs[*i], s))
                        {
                            Some((min, max)) => bound.admits(&min, &max),
                            None => true,
                        }
                    })
                })
                .collect();
            file.fetch(&groups).await?;
            report.row_groups_read += groups.len();
            for batch in file.decode(groups, BATCH_ROWS)? {
                report.rows_decoded += batch.num_rows() as u64;
                let keep: Vec<usize> = (0..batch.num_rows())
                    .filter(|&r| {
                        bounds
                            .iter()
                            .all(|(i, bound)| match columns.scalar(&batch, *i, r) {
                                Some(v) => bound.admits_value(&v),
                                // NULL meets no comparison.
                                None => false,
                            })
                    })
                    .collect();
                report.rows_bound += keep.len() as u64;
                if !keep.is_empty() {
                    kept.push((batch, keep));
                }
            }
            report.bytes_read += file.bytes_read;
        }
        report.cold_micros = started.elapsed().as_micros() as u64;
        let (sql, args) = statement(&columns, parts, &kept)?;
        let rows = fetch_all::<E, _>("select_cold", Ok((sql, args)), &mut *tx).await?;
        tx.commit().await?;
        tracing::debug!(
            table = table.name,
            files_opened = report.files_opened,
            row_groups_read = report.row_groups_read,
            rows_bound = report.rows_bound,
            "cold read"
        );
        Ok((rows, report))
    }
}

/// The bounds on columns whose storage has statistics to compare (by column position).
fn resolve<'b>(
    columns: &ColdColumns<'_>,
    bounds: &'b [(&'static str, ColumnBound)],
) -> Vec<(usize, &'b ColumnBound)> {
    bounds
        .iter()
        .filter_map(|(name, bound)| {
            let i = columns.table.columns.iter().position(|c| c.name == *name)?;
            matches!(
                columns.codecs[i],
                Codec::SmallInt
                    | Codec::Integer
                    | Codec::BigInt
                    | Codec::Timestamp
                    | Codec::Date
                    | Codec::Uuid
                    | Codec::Text
            )
            .then_some((i, bound))
        })
        .collect()
}

/// Whether the filter's bounds on the partition key admit some instant of the period.
fn period_admitted(
    table: &crate::model::TableDef<'_>,
    bounds: &[(&'static str, ColumnBound)],
    period: &registry::ColdPeriod,
) -> bool {
    let Some(partition) = table.partition else {
        return true;
    };
    let first = Scalar::Micros(period.period_from.timestamp_micros());
    let last = Scalar::Micros(period.period_to.timestamp_micros() - 1);
    bounds
        .iter()
        .filter(|(name, _)| *name == partition.column)
        .all(|(_, bound)| bound.admits(&first, &last))
}

/// A row group's minimum and maximum of a column, in the form bounds compare.
fn min_max(codec: Codec, stats: &Statistics) -> Option<(Scalar, Scalar)> {
    match (codec, stats) {
        (Codec::SmallInt | Codec::Integer, Statistics::Int32(s)) => Some((
            Scalar::Int((*s.min_opt()?).into()),
            Scalar::Int((*s.max_opt()?).into()),
        )),
        (Codec::Date, Statistics::Int32(s)) => {
            Some((Scalar::Days(*s.min_opt()?), Scalar::Days(*s.max_opt()?)))
        }
        (Codec::BigInt, Statistics::Int64(s)) => {
            Some((Scalar::Int(*s.min_opt()?), Scalar::Int(*s.max_opt()?)))
        }
        (Codec::Timestamp, Statistics::Int64(s)) => {
            Some((Scalar::Micros(*s.min_opt()?), Scalar::Micros(*s.max_opt()?)))
        }
        (Codec::Uuid, Statistics::FixedLenByteArray(s)) => Some((
            Scalar::Uuid(s.min_opt()?.data().try_into().ok()?),
            Scalar::Uuid(s.max_opt()?.data().try_into().ok()?),
        )),
        (Codec::Text, Statistics::ByteArray(s)) => Some((
            Scalar::Text(String::from_utf8(s.min_opt()?.data().to_vec()).ok()?),
            Scalar::Text(String::from_utf8(s.max_opt()?.data().to_vec()).ok()?),
        )),
        _ => None,
    }
}

/// The statement over the warm tiers and the bound cold rows, with its arguments.
fn statement(
    columns: &ColdColumns<'_>,
    parts: ColdParts,
    kept: &[(RecordBatch, Vec<usize>)],
) -> Result<(String, sqlx::postgres::PgArguments)> {
    let table = columns.table;
    let mut sql = select_sql(table, parts.warm, parts.predicate.as_deref(), None)?;
    let mut args = parts.args;
    if !kept.is_empty() {
        let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        sql.push_str(&format!(
            " UNION ALL SELECT {} FROM ({}) AS dbpat_cold_rows",
            ident_list(&names),
            columns.unnest_select(args.len() + 1)
        ));
        if let Some(p) = &parts.predicate {
            sql.push_str(" WHERE ");
            sql.push_str(p);
        }
        columns.bind(kept, &mut args)?;
    }
    if let Some(tail) = &parts.tail {
        sql.push(' ');
        sql.push_str(tail);
    }
    Ok((sql, args))
}
