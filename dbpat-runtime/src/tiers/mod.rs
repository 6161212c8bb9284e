//! Tiered storage at run time: the warm tier (a table range-partitioned by month or quarter)
//! and the archive tier (`<table>_archive`), kept in shape from the table model.
//!
//! [`Tiers`] is the one entry point, `Tiers::of::<Order>()`:
//!
//! - [`Tiers::ensure_partitions`]: create the current period's partition and `ahead` more,
//!   idempotently, from any number of processes at once.
//! - [`Tiers::archive`]: move every row older than a cutoff into the archive: whole partitions
//!   as a unit, the straddling partition in short batches; crash-safe, one archiver per table.
//! - Reads over both tiers are queries: `Order::query().with_archive()` (see
//!   [`Select::tiers`](crate::query::Select::tiers)).
//!
//! An insert whose timestamp has no partition fails with
//! `Error::MissingPartition`, naming the table and the missing
//! range.
//!
//! ```no_run
//! # use dbpat_runtime::{Entity, Table};
//! # async fn demo<Order: Table>(pool: sqlx::PgPool) -> Result<(), dbpat_runtime::Error> {
//! use dbpat_runtime::tiers::Tiers;
//! let tiers = Tiers::of::<Order>();
//! tiers.ensure_partitions(&pool, 2).await?;      // this quarter and the next two
//! let cutoff = chrono::Utc::now() - chrono::Duration::days(365);
//! let moved = tiers.archive(&pool, cutoff).await?;
//! println!("{} rows, {} partitions archived", moved.rows, moved.partitions.len());
//! # Ok(()) }
//! ```

mod archive;
#[cfg(feature = "cold")]
pub mod cold;
mod ensure;
mod periods;
mod registry;

pub use archive::{
    archiver_application_name, ArchiveEvent, ArchiveHook, ArchiveOptions, ArchiveReport,
    ArchiveStep,
};
pub use ensure::EnsureReport;
pub use periods::ExistingPartition;

use crate::entity::Entity;
use crate::error::Error;
use crate::model::TableDef;
use chrono::{DateTime, Utc};
use sqlx::{Executor, PgPool, Postgres};

/// The tiers of one entity's table. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiers {
    table: &'static TableDef<'static>,
}

impl Tiers {
    /// The tiers of entity `E`.
    pub const fn of<E: Entity>() -> Self {
        Tiers { table: &E::TABLE }
    }

    /// The tiers of a table model (for models not derived in this binary).
    pub const fn new(table: &'static TableDef<'static>) -> Self {
        Tiers { table }
    }

    /// The table model.
    pub const fn table(self) -> &'static TableDef<'static> {
        self.table
    }

    /// Creates the partitions for the current period (per the database's clock) and `ahead`
    /// future ones. See [`Tiers::ensure_partitions_at`].
    pub async fn ensure_partitions(self, pool: &PgPool, ahead: u32) -> Result<EnsureReport, Error> {
        ensure::ensure_partitions(pool, self.table, ahead).await
    }

    /// Creates the partitions for the period containing `now` and the `ahead` periods after it
    /// (months or quarters, per the model).
    ///
    /// - Idempotent: a period already covered by an attached partition (whatever its name) is
    ///   left alone, so a second call creates nothing.
    /// - Concurrent-safe: creation runs in one transaction under a transaction-scoped advisory
    ///   lock keyed on the table, so callers in several processes serialize, and the later ones
    ///   find the partitions made by the first. When nothing is missing, no lock is taken.
    /// - Gentle: the DDL waits at most 2 s for its table lock, then retries (5 attempts), so a
    ///   long query on the table cannot make inserts queue behind it.
    ///
    /// [`Error::NotPartitioned`] for a model without `partition(...)`.
    pub async fn ensure_partitions_at(
        self,
        pool: &PgPool,
        now: DateTime<Utc>,
        ahead: u32,
    ) -> Result<EnsureReport, Error> {
        ensure::ensure_partitions_at(pool, self.table, now, ahead).await
    }

    /// The partitions attached to the table, ordered by lower bound (`MINVALUE` and the default
    /// partition first); [`Error::NoSuchTable`] if the table is missing.
    pub async fn partitions<'c, X>(self, ex: X) -> Result<Vec<ExistingPartition>, Error>
    where
        X: Executor<'c, Database = Postgres>,
    {
        periods::existing_partitions(ex, self.table).await
    }

    /// Moves every row older than `older_than` into `<table>_archive`, with the default
    /// [`ArchiveOptions`]. See [`Tiers::archive_with`].
    pub async fn archive(
        self,
        pool: &PgPool,
        older_than: DateTime<Utc>,
    ) -> Result<ArchiveReport, Error> {
        archive::archive(pool, self.table, older_than).await
    }

    /// Moves every row whose timestamp (the partition key, or the `created_at` column of an
    /// unpartitioned table) is before `older_than` into `<table>_archive`.
    ///
    /// Partitions wholly older than the cutoff move as a unit; rows of a partition that
    /// straddles it move in batches of `options.batch_size`, each its own transaction. The run
    /// holds its own connection (taken out of the pool and closed at the end) with
    /// `application_name` `dbpat-archive:<table>` and a session advisory lock: a second
    /// concurrent run gets [`Error::ArchiverBusy`]. If the run fails or is killed, run it
    /// again: it finishes the job. [`Error::NoArchive`] for a model without `archive`.
    pub async fn archive_with(
        self,
        pool: &PgPool,
        older_than: DateTime<Utc>,
        options: &ArchiveOptions,
    ) -> Result<ArchiveReport, Error> {
        archive::archive_with(pool, self.table, older_than, options).await
    }

    /// Exports every archive partition wholly older than `older_than` to `store`, with the
    /// default [`cold::ColdOptions`]. See [`Tiers::export_cold_with`].
    #[cfg(feature = "cold")]
    pub async fn export_cold(
        self,
        pool: &PgPool,
        store: &cold::ColdStore,
        older_than: DateTime<Utc>,
    ) -> Result<cold::ExportReport, Error> {
        self.export_cold_with(pool, store, older_than, &cold::ColdOptions::default())
            .await
    }

    /// Exports every archive partition wholly older than `older_than` to `store` as one
    /// Parquet file and its manifest each, then drops the partition and registers the period
    /// in `dbpat_cold_periods`, in one transaction (see [`cold`]). Runs under the archiver's
    /// lock ([`Error::ArchiverBusy`] beside an archive run); a killed run leaves the partition
    /// in place, and the next run deletes its leftovers and exports it again. The archive must
    /// be partitioned ([`ColdError::UnpartitionedArchive`](crate::ColdError::UnpartitionedArchive)).
    #[cfg(feature = "cold")]
    pub async fn export_cold_with(
        self,
        pool: &PgPool,
        store: &cold::ColdStore,
        older_than: DateTime<Utc>,
        options: &cold::ColdOptions,
    ) -> Result<cold::ExportReport, Error> {
        cold::export(pool, self.table, store, older_than, options).await
    }

    /// Loads the exported period starting at `period_from` back into the archive (as the
    /// partition it was), checking every byte against the manifest, then deletes its objects
    /// from `store`. [`ColdError::NoColdPeriod`](crate::ColdError::NoColdPeriod) if no such
    /// period is registered.
    #[cfg(feature = "cold")]
    pub async fn restore_cold(
        self,
        pool: &PgPool,
        store: &cold::ColdStore,
        period_from: DateTime<Utc>,
    ) -> Result<cold::RestoreReport, Error> {
        cold::restore(
            pool,
            self.table,
            store,
            period_from,
            &cold::ColdOptions::default(),
        )
        .await
    }

    /// The table's periods in the cold tier, oldest first.
    #[cfg(feature = "cold")]
    pub async fn cold_periods(self, pool: &PgPool) -> Result<Vec<cold::ColdPeriod>, Error> {
        let mut conn = pool.acquire().await?;
        registry::periods(&mut conn, self.table.name).await
    }
}
