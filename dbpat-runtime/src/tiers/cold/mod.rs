//! The cold tier (feature `cold`): archive partitions older than a second cutoff exported to
//! Parquet files on object storage, loaded back on demand, and read by selects beside the
//! warm tiers.
//!
//! - [`Tiers::export_cold`](crate::tiers::Tiers::export_cold): every archive partition wholly
//!   older than the cutoff becomes one Parquet file and a manifest (table, period, row count,
//!   SHA-256 of every byte range, schema fingerprint), written last; only then is the
//!   partition dropped, in the transaction that registers the period in `dbpat_cold_periods`.
//!   A crash leaves either a complete, verified export or the partition as it was.
//! - [`Tiers::restore_cold`](crate::tiers::Tiers::restore_cold): a period loaded back into
//!   the archive, byte-equal for every column type.
//! - [`Select::with_cold`](crate::query::Select::with_cold): a select over every tier,
//!   pruned by period and by the Parquet statistics of the filtered columns, returning the
//!   same typed rows.
//!
//! [`ColdStore`] says where the files go: a local directory, or any S3-compatible store.
//!
//! ```no_run
//! # use dbpat_runtime::Table;
//! # async fn demo<Order: Table>(pool: sqlx::PgPool) -> Result<(), dbpat_runtime::Error> {
//! use dbpat_runtime::tiers::{cold::ColdStore, Tiers};
//! let cold = ColdStore::local("/var/lib/app/cold")?;
//! let tiers = Tiers::of::<Order>();
//! let two_years_ago = chrono::Utc::now() - chrono::Duration::days(730);
//! let exported = tiers.export_cold(&pool, &cold, two_years_ago).await?;
//! println!("{} rows in {} periods now on {}", exported.rows, exported.periods.len(), cold.url());
//! # Ok(()) }
//! ```

mod columns;
mod export;
mod file;
mod manifest;
mod read;
mod restore;
mod store;

pub use crate::tiers::registry::ColdPeriod;
pub use export::{ExportReport, ExportedPeriod};
pub use read::{ColdReadReport, ColdSelect};
pub use restore::RestoreReport;
pub use store::ColdStore;

pub(crate) use export::export;
pub(crate) use restore::restore;

use crate::error::{ColdError, Error};
use crate::model::TableDef;
use columns::ColdColumns;
use manifest::Manifest;
use sqlx::{PgConnection, PgPool};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// An async observer called at each step of an export or a restore, on its task. Used for
/// progress reporting, and by the tests to kill the exporter at chosen points.
pub type ColdHook =
    Arc<dyn Fn(ColdEvent) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// One step of an export or a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColdStep {
    /// The table's mover lock is taken; nothing has moved yet.
    Locked,
    /// The period's Parquet file is in the store (no manifest yet; the partition is attached).
    FileWritten {
        /// The archive partition.
        partition: String,
        /// The file's path in the store.
        path: String,
    },
    /// The manifest is in the store and both objects were read back and checked; the
    /// partition is still attached, the period not registered.
    ManifestWritten {
        /// The archive partition.
        partition: String,
        /// The manifest's path in the store.
        path: String,
    },
    /// The partition is detached and dropped and the period registered, in a transaction not
    /// yet committed.
    PartitionDropped {
        /// The archive partition.
        partition: String,
    },
    /// The period's export is committed.
    Exported {
        /// The archive partition it was.
        partition: String,
        /// Rows exported.
        rows: u64,
    },
    /// A restore inserted the period's rows and unregistered it, in a transaction not yet
    /// committed.
    Restoring {
        /// The archive partition restored.
        partition: String,
        /// Rows inserted.
        rows: u64,
    },
}

/// What the hook is told: the step, and the moving session's backend pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdEvent {
    /// `pg_backend_pid()` of the exporting or restoring session.
    pub backend_pid: i32,
    /// The step just taken.
    pub step: ColdStep,
}

/// Tuning of an export or a restore.
#[derive(Clone)]
pub struct ColdOptions {
    /// Rows per Parquet row group (default 16,384): the unit a read fetches, checks and
    /// decodes, and prunes by statistics.
    pub row_group_rows: usize,
    /// The columns the file is sorted by (default: the primary key). Sort by the column
    /// histories are read by (`customer_id`), so each of its values sits in few row groups.
    pub sort_by: Option<Vec<String>>,
    /// How long a DDL step waits for its lock before retrying (default 1 s; up to 5
    /// attempts).
    pub lock_timeout: Duration,
    /// Observer called after each step.
    pub hook: Option<ColdHook>,
}

impl Default for ColdOptions {
    fn default() -> Self {
        ColdOptions {
            row_group_rows: 16_384,
            sort_by: None,
            lock_timeout: Duration::from_secs(1),
            hook: None,
        }
    }
}

impl ColdOptions {
    /// Sorts the exported files by `columns` (the model's column names).
    pub fn sort_by<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sort_by = Some(columns.into_iter().map(Into::into).collect());
        self
    }
}

impl fmt::Debug for ColdOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ColdOptions")
            .field("row_group_rows", &self.row_group_rows)
            .field("sort_by", &self.sort_by)
            .field("lock_timeout", &self.lock_timeout)
            .field("hook", &self.hook.as_ref().map(|_| "..."))
            .finish()
    }
}

/// The `application_name` of an exporting or restoring session: `dbpat-cold:<table>`.
pub fn cold_application_name(table: &TableDef) -> String {
    format!("dbpat-cold:{}", table.name)
}

/// The archive's name, or [`Error::NoArchive`].
fn archive_name(table: &TableDef<'_>) -> Result<String, Error> {
    table.archive_table_name().ok_or_else(|| Error::NoArchive {
        table: table.name.to_owned(),
    })
}

/// A connection of its own for an export or a restore (taken out of the pool, closed by
/// [`release`]), named [`cold_application_name`].
async fn mover_connection(pool: &PgPool, table: &TableDef<'_>) -> Result<PgConnection, Error> {
    let mut conn = pool.acquire().await?.detach();
    sqlx::query("SELECT set_config('application_name', $1, false)")
        .bind(cold_application_name(table))
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// Releases the mover lock and closes the connection (the lock first: the server ends a
/// closed session asynchronously, and the next run must not find the lock still held).
async fn release(mut conn: PgConnection) {
    let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut conn)
        .await;
    let _ = sqlx::Connection::close(conn).await;
}

/// [`ColdError::SchemaChanged`] unless the period was exported with the model's columns.
fn check_schema(
    table: &TableDef<'_>,
    columns: &ColdColumns<'_>,
    manifest: &Manifest,
) -> Result<(), Error> {
    let current = columns.fingerprint();
    if manifest.schema_fingerprint != current {
        return Err(Error::Cold(ColdError::SchemaChanged {
            table: table.name.to_owned(),
            from: manifest.period_from,
            exported: manifest.schema_fingerprint.clone(),
            current,
        }));
    }
    Ok(())
}
