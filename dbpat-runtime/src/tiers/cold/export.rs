//! `export_cold`: archive partitions wholly older than a cutoff become Parquet files on the
//! cold store, and are dropped from the database.
//!
//! One period at a time, on the archiver's connection and under its lock (one process moves
//! a table's rows between tiers at a time):
//!
//! 1. Leftovers of an earlier, killed export of the period (no register row refers to them)
//!    are deleted from the store.
//! 2. One transaction: `LOCK TABLE <partition> IN SHARE MODE` (nothing writes to it until
//!    commit), every row read in `sort_by` order into row groups of `row_group_rows`, the
//!    Parquet file written to the store, then its manifest (last), both read back and checked
//!    against their SHA-256; then `DETACH` and `DROP` the partition and register the period
//!    (the manifest's path and SHA-256) in `dbpat_cold_periods`; `COMMIT`.
//!
//! A kill before the commit leaves the partition in the archive and the period unregistered:
//! the files written so far are leftovers, which the next run deletes before it exports the
//! period again. A kill after it leaves a registered, verified export. So at every instant a
//! period's rows are in exactly one tier, and a read sees each row once.

use super::columns::{arrow_error, ColdColumns};
use super::manifest::{verify, Manifest, PeriodExport};
use super::{ColdEvent, ColdOptions, ColdStep, ColdStore};
use crate::ddl::{ident, ident_list};
use crate::error::{ColdError, Error};
use crate::model::TableDef;
use crate::tiers::archive::is_partitioned as attach_is_partitioned;
use crate::tiers::archive::{begin_bounded, lock_table, retry_locks};
use crate::tiers::periods::{partitions_of_on, ExistingPartition};
use crate::tiers::registry;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sqlx::{PgConnection, PgPool};
use std::time::Instant;

/// One period moved to the cold tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedPeriod {
    /// The archive partition it was.
    pub partition: String,
    /// Its first instant.
    pub from: DateTime<Utc>,
    /// The first instant after it.
    pub to: DateTime<Utc>,
    /// Rows exported.
    pub rows: u64,
    /// The Parquet file's path in the store.
    pub file: String,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// What an export run moved to the cold tier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// The periods exported, oldest first.
    pub periods: Vec<ExportedPeriod>,
    /// Rows exported in total.
    pub rows: u64,
    /// Leftover objects of killed runs deleted from the store.
    pub leftovers_deleted: usize,
}

/// The directory of a period's files: `<table>/<from>_<to>` (UTC, `20240101T000000Z`).
pub(crate) fn period_dir(table: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!(
        "{table}/{}_{}",
        from.format("%Y%m%dT%H%M%SZ"),
        to.format("%Y%m%dT%H%M%SZ")
    )
}

/// [`Tiers::export_cold_with`](crate::tiers::Tiers::export_cold_with).
pub(crate) async fn export(
    pool: &PgPool,
    table: &TableDef<'_>,
    store: &ColdStore,
    older_than: DateTime<Utc>,
    options: &ColdOptions,
) -> Result<ExportReport, Error> {
    let mut conn = super::mover_connection(pool, table).await?;
    let result = Exporter {
        table,
        store,
        options,
        columns: ColdColumns::of(table),
        backend_pid: 0,
    }
    .run(&mut conn, older_than)
    .await;
    super::release(conn).await;
    result
}

struct Exporter<'a> {
    table: &'a TableDef<'a>,
    store: &'a ColdStore,
    options: &'a ColdOptions,
    columns: ColdColumns<'a>,
    backend_pid: i32,
}

impl Exporter<'_> {
    async fn run(
        mut self,
        conn: &mut PgConnection,
        older_than: DateTime<Utc>,
    ) -> Result<ExportReport, Error> {
        self.backend_pid = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await?;
        lock_table(conn, self.table).await?;
        let archive = super::archive_name(self.table)?;
        if !attach_is_partitioned(conn, &archive).await? {
            return Err(Error::Cold(ColdError::UnpartitionedArchive {
                table: self.table.name.to_owned(),
            }));
        }
        registry::ensure(conn).await?;
        self.emit(ColdStep::Locked).await;
        let registered = registry::periods(conn, self.table.name).await?;
        let mut report = ExportReport::default();
        for p in partitions_of_on(conn, &archive).await? {
            let (Some(from), Some(to)) = (p.from, p.to) else {
                continue;
            };
            if p.is_default || !p.wholly_before(older_than) {
                continue;
            }
            if registered
                .iter()
                .any(|r| r.period_from < to && from < r.period_to)
            {
                // A restore of this period was killed after creating the partition: finish
                // the restore (run it again) before exporting the period anew.
                tracing::warn!(
                    table = self.table.name,
                    partition = p.name,
                    "cold export: period is registered and its partition exists; restore it first"
                );
                continue;
            }
            let started = Instant::now();
            report.leftovers_deleted += self.delete_leftovers(from, to).await?;
            let exported = self.export_period(conn, &archive, &p, from, to).await?;
            tracing::info!(
                table = self.table.name,
                partition = p.name,
                rows = exported.rows,
                bytes = exported.bytes,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "exported archive partition to the cold tier"
            );
            report.rows += exported.rows;
            report.periods.push(exported);
        }
        Ok(report)
    }

    async fn emit(&self, step: ColdStep) {
        if let Some(hook) = &self.options.hook {
            hook(ColdEvent {
                backend_pid: self.backend_pid,
                step,
            })
            .await;
        }
    }

    /// Deletes every object of the (unregistered) period: leftovers of a killed export.
    async fn delete_leftovers(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<usize, Error> {
        let dir = self.store.path(&period_dir(self.table.name, from, to));
        let leftovers = self.store.list(&dir).await?;
        for path in &leftovers {
            self.store.delete(path).await?;
        }
        Ok(leftovers.len())
    }

    async fn export_period(
        &self,
        conn: &mut PgConnection,
        archive: &str,
        p: &ExistingPartition,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ExportedPeriod, Error> {
        let part = ident(&p.name);
        let mut tx = begin_bounded(conn, self.options.lock_timeout).await?;
        retry_locks(&mut tx, &[format!("LOCK TABLE {part} IN SHARE MODE")]).await?;
        let sort_by = self.sort_by();
        let sql = format!(
            "SELECT {} FROM ONLY {part} ORDER BY {}",
            self.columns.export_list(),
            ident_list(&sort_by.iter().map(String::as_str).collect::<Vec<_>>())
        );
        let (file, rows) = self.write_parquet(&mut tx, &sql).await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = period_dir(self.table.name, from, to);
        let file_path = self.store.path(&format!("{dir}/{id}.parquet"));
        let manifest_path = self.store.path(&format!("{dir}/{id}.manifest.json"));
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .map_err(arrow_error)?;
        let manifest = Manifest::describe(
            PeriodExport {
                table: self.table.name,
                partition: &p.name,
                period_from: from,
                period_to: to,
                rows,
                schema_fingerprint: self.columns.fingerprint(),
                sort_by,
            },
            file_path.as_ref(),
            &file,
            &metadata,
        )?;
        let bytes = file.len() as u64;
        self.store.put(&file_path, file).await?;
        self.emit(ColdStep::FileWritten {
            partition: p.name.clone(),
            path: file_path.to_string(),
        })
        .await;
        let manifest_bytes = manifest.to_bytes();
        let manifest_sha256 = super::columns::hex_sha256(&manifest_bytes);
        self.store.put(&manifest_path, manifest_bytes).await?;
        // Both read back and checked: what is registered is what the store holds.
        verify(
            file_path.as_ref(),
            &manifest.whole.sha256,
            self.store.get(&file_path).await?,
        )?;
        verify(
            manifest_path.as_ref(),
            &manifest_sha256,
            self.store.get(&manifest_path).await?,
        )?;
        self.emit(ColdStep::ManifestWritten {
            partition: p.name.clone(),
            path: manifest_path.to_string(),
        })
        .await;
        retry_locks(
            &mut tx,
            &[
                format!("ALTER TABLE {} DETACH PARTITION {part}", ident(archive)),
                format!("DROP TABLE {part}"),
            ],
        )
        .await?;
        sqlx::query(
            "INSERT INTO dbpat_cold_periods (table_name, period_from, period_to, manifest, \
             manifest_sha256, row_count, schema_fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.table.name)
        .bind(from)
        .bind(to)
        .bind(manifest_path.as_ref())
        .bind(&manifest_sha256)
        .bind(rows as i64)
        .bind(&manifest.schema_fingerprint)
        .execute(&mut *tx)
        .await?;
        self.emit(ColdStep::PartitionDropped {
            partition: p.name.clone(),
        })
        .await;
        tx.commit().await?;
        self.emit(ColdStep::Exported {
            partition: p.name.clone(),
            rows,
        })
        .await;
        Ok(ExportedPeriod {
            partition: p.name.clone(),
            from,
            to,
            rows,
            file: file_path.to_string(),
            bytes,
        })
    }

    /// The export's order: [`ColdOptions::sort_by`], else the primary key.
    fn sort_by(&self) -> Vec<String> {
        match &self.options.sort_by {
            Some(columns) => columns.clone(),
            None => self
                .table
                .primary_key
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
        }
    }

    /// The rows of `sql` as one Parquet file in memory, and their count.
    async fn write_parquet(
        &self,
        conn: &mut PgConnection,
        sql: &str,
    ) -> Result<(Bytes, u64), Error> {
        let group = self.options.row_group_rows.max(1);
        let props = WriterProperties::builder()
            .set_max_row_group_size(group)
            .set_compression(Compression::SNAPPY)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_statistics_truncate_length(None)
            .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), self.columns.schema(), Some(props))
            .map_err(arrow_error)?;
        let mut builders = self.columns.builders(group);
        let mut rows = 0u64;
        let mut in_group = 0usize;
        let mut stream = sqlx::query(sql).persistent(false).fetch(&mut *conn);
        while let Some(row) = stream.try_next().await? {
            self.columns.append(&row, &mut builders)?;
            rows += 1;
            in_group += 1;
            if in_group == group {
                writer
                    .write(&self.columns.finish(&mut builders)?)
                    .map_err(arrow_error)?;
                in_group = 0;
            }
        }
        drop(stream);
        if in_group > 0 {
            writer
                .write(&self.columns.finish(&mut builders)?)
                .map_err(arrow_error)?;
        }
        // Writes the footer, and returns the bytes.
        let file = writer.into_inner().map_err(arrow_error)?;
        Ok((Bytes::from(file), rows))
    }
}
