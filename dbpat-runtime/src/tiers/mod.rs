//! Tiered storage at run time: the seed's warm tier (a table range-partitioned by month or
//! quarter) and cold tier (`<table>_archive`), kept in shape from the table model.
//!
//! - [`Tiers::ensure_partitions`]: create the current period's partition and `ahead` more,
//!   idempotently, from any number of processes at once.
//! - [`Tiers::missing_partition`] / [`map_insert_error`]: an insert whose timestamp has no
//!   partition becomes [`TierError::MissingPartition`] naming the table and the missing range.
//! - [`Tiers::archive`]: move every row older than a cutoff into the archive: whole partitions
//!   as a unit, the straddling partition in short batches; crash-safe, one archiver per table.
//! - [`Tiers::select_sql`] / [`fetch_all`] / [`push_select`]: reads of the hot table (default),
//!   the archive, or both (`UNION ALL`).
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool, orders: &'static dbpat_runtime::model::TableDef<'static>)
//! # -> Result<(), dbpat_runtime::tiers::TierError> {
//! use dbpat_runtime::tiers::Tiers;
//! let tiers = Tiers::new(orders);                // e.g. Tiers::new(&Order::TABLE)
//! tiers.ensure_partitions(&pool, 2).await?;      // this quarter and the next two
//! let cutoff = chrono::Utc::now() - chrono::Duration::days(365);
//! let moved = tiers.archive(&pool, cutoff).await?;
//! println!("{} rows, {} partitions archived", moved.rows, moved.partitions.len());
//! # Ok(()) }
//! ```

mod archive;
mod ensure;
mod error;
mod history;
mod periods;

pub use archive::{
    archive, archive_with, archiver_application_name, ArchiveEvent, ArchiveHook, ArchiveOptions,
    ArchiveReport, ArchiveStep,
};
pub use ensure::{ensure_partitions, ensure_partitions_at, EnsureReport};
pub use error::{map_insert_error, missing_partition, TierError};
pub use history::{fetch_all, push_select, select_sql, ReadTiers};
pub use periods::{
    existing_partitions, needed_partitions, partition_containing, partitioning, ExistingPartition,
};

use crate::model::TableDef;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Executor, FromRow, PgPool, Postgres};

/// The tiers of one entity's table: `Tiers::new(&Order::TABLE)`. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiers {
    table: &'static TableDef<'static>,
}

impl Tiers {
    /// The tiers of `table`.
    pub const fn new(table: &'static TableDef<'static>) -> Self {
        Tiers { table }
    }

    /// The table model.
    pub const fn table(self) -> &'static TableDef<'static> {
        self.table
    }

    /// See [`ensure_partitions`].
    pub async fn ensure_partitions(
        self,
        pool: &PgPool,
        ahead: u32,
    ) -> Result<EnsureReport, TierError> {
        ensure_partitions(pool, self.table, ahead).await
    }

    /// See [`ensure_partitions_at`].
    pub async fn ensure_partitions_at(
        self,
        pool: &PgPool,
        now: DateTime<Utc>,
        ahead: u32,
    ) -> Result<EnsureReport, TierError> {
        ensure_partitions_at(pool, self.table, now, ahead).await
    }

    /// See [`existing_partitions`].
    pub async fn partitions<'c, E>(self, executor: E) -> Result<Vec<ExistingPartition>, TierError>
    where
        E: Executor<'c, Database = Postgres>,
    {
        existing_partitions(executor, self.table).await
    }

    /// See [`archive`].
    pub async fn archive(
        self,
        pool: &PgPool,
        older_than: DateTime<Utc>,
    ) -> Result<ArchiveReport, TierError> {
        archive(pool, self.table, older_than).await
    }

    /// See [`archive_with`].
    pub async fn archive_with(
        self,
        pool: &PgPool,
        older_than: DateTime<Utc>,
        options: &ArchiveOptions,
    ) -> Result<ArchiveReport, TierError> {
        archive_with(pool, self.table, older_than, options).await
    }

    /// Maps an insert's error: [`TierError::MissingPartition`] when no partition holds the row,
    /// [`TierError::Database`] otherwise. See [`map_insert_error`].
    pub fn missing_partition(self, err: sqlx::Error) -> TierError {
        map_insert_error(self.table, err)
    }

    /// See [`select_sql`].
    pub fn select_sql(
        self,
        tiers: ReadTiers,
        predicate: Option<&str>,
        tail: Option<&str>,
    ) -> Result<String, TierError> {
        select_sql(self.table, tiers, predicate, tail)
    }

    /// See [`fetch_all`].
    pub async fn fetch_all<'c, R, E>(
        self,
        executor: E,
        tiers: ReadTiers,
        predicate: Option<&str>,
        tail: Option<&str>,
        bind: impl FnOnce(&mut PgArguments) -> Result<(), sqlx::error::BoxDynError>,
    ) -> Result<Vec<R>, TierError>
    where
        E: Executor<'c, Database = Postgres>,
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        fetch_all(executor, self.table, tiers, predicate, tail, bind).await
    }
}
