//! `restore_cold`: an exported period loaded back into the archive as its partition.
//!
//! Under the archiver's lock:
//!
//! 1. The manifest (checked against the register) and the whole file (checked against the
//!    manifest) are read; a model whose schema fingerprint differs is refused.
//! 2. The partition is created empty in the archive (committed; the period is still
//!    registered, so reads still take its rows from the cold tier, and the empty partition
//!    adds none).
//! 3. One transaction: the rows inserted (bound as arrays, in chunks), their count checked
//!    against the manifest, the archive locked `ACCESS EXCLUSIVE` (readers hold `ACCESS
//!    SHARE` for a whole read) and the period unregistered; `COMMIT`. The rows become visible
//!    in the archive in the same instant the cold copy stops being read.
//! 4. The period's objects are deleted from the store (a failure here is logged: the objects
//!    are then leftovers, deleted by the next export of the period).

use super::columns::ColdColumns;
use super::export::period_dir;
use super::file::{manifest as read_manifest, read_whole};
use super::{ColdEvent, ColdOptions, ColdStep, ColdStore};
use crate::ddl::{ident, ident_list, literal};
use crate::error::{ColdError, Error};
use crate::model::TableDef;
use crate::tiers::archive::{begin_bounded, lock_table, retry_locks};
use crate::tiers::periods::partitions_of_on;
use crate::tiers::registry;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::{PgConnection, PgPool};

/// Rows per INSERT of a restore.
const INSERT_ROWS: usize = 10_000;

/// What a restore loaded back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The archive partition created.
    pub partition: String,
    /// Rows loaded.
    pub rows: u64,
}

/// [`Tiers::restore_cold`](crate::tiers::Tiers::restore_cold).
pub(crate) async fn restore(
    pool: &PgPool,
    table: &TableDef<'_>,
    store: &ColdStore,
    period_from: DateTime<Utc>,
    options: &ColdOptions,
) -> Result<RestoreReport, Error> {
    let mut conn = super::mover_connection(pool, table).await?;
    let result = run(&mut conn, table, store, period_from, options).await;
    super::release(conn).await;
    result
}

async fn run(
    conn: &mut PgConnection,
    table: &TableDef<'_>,
    store: &ColdStore,
    period_from: DateTime<Utc>,
    options: &ColdOptions,
) -> Result<RestoreReport, Error> {
    let backend_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await?;
    let emit = |step| async move {
        if let Some(hook) = &options.hook {
            hook(ColdEvent { backend_pid, step }).await;
        }
    };
    lock_table(conn, table).await?;
    let archive = super::archive_name(table)?;
    let period = registry::periods(conn, table.name)
        .await?
        .into_iter()
        .find(|p| p.period_from == period_from)
        .ok_or_else(|| {
            Error::Cold(ColdError::NoColdPeriod {
                table: table.name.to_owned(),
                from: period_from,
            })
        })?;
    let manifest = read_manifest(store, &period).await?;
    let columns = ColdColumns::of(table);
    super::check_schema(table, &columns, &manifest)?;
    let batches = read_whole(store, &manifest).await?;

    // 2. The empty partition.
    let partition = manifest.partition.clone();
    let exists = partitions_of_on(conn, &archive)
        .await?
        .iter()
        .any(|p| p.name == partition);
    if !exists {
        let mut tx = begin_bounded(conn, options.lock_timeout).await?;
        retry_locks(
            &mut tx,
            &[format!(
                "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})",
                ident(&partition),
                ident(&archive),
                literal(&manifest.period_from.to_rfc3339()),
                literal(&manifest.period_to.to_rfc3339()),
            )],
        )
        .await?;
        tx.commit().await?;
    }

    // 3. The rows, and the switch of tiers.
    let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let insert = format!(
        "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE {}",
        ident(&partition),
        ident_list(&names),
        columns.unnest_select(1)
    );
    let mut tx = begin_bounded(conn, options.lock_timeout).await?;
    let held: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM ONLY {}", ident(&partition)))
        .persistent(false)
        .fetch_one(&mut *tx)
        .await?;
    if held != 0 {
        return Err(Error::Cold(ColdError::Unreadable {
            path: partition,
            reason: format!("the archive partition already holds {held} rows; nothing restored"),
        }));
    }
    let mut rows = 0u64;
    for batch in &batches {
        let mut start = 0;
        while start < batch.num_rows() {
            let end = (start + INSERT_ROWS).min(batch.num_rows());
            let mut args = PgArguments::default();
            columns.bind(&[(batch.clone(), (start..end).collect())], &mut args)?;
            rows += sqlx::query_with(&insert, args)
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::from_write(table, e))?
                .rows_affected();
            start = end;
        }
    }
    if rows != manifest.rows {
        return Err(Error::Cold(ColdError::Unreadable {
            path: manifest.file.clone(),
            reason: format!("{rows} rows read, the manifest says {}", manifest.rows),
        }));
    }
    retry_locks(
        &mut tx,
        &[format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            ident(&archive)
        )],
    )
    .await?;
    sqlx::query("DELETE FROM dbpat_cold_periods WHERE table_name = $1 AND period_from = $2")
        .bind(table.name)
        .bind(period_from)
        .execute(&mut *tx)
        .await?;
    emit(ColdStep::Restoring {
        partition: partition.clone(),
        rows,
    })
    .await;
    tx.commit().await?;

    // 4. The objects.
    let dir = store.path(&period_dir(
        table.name,
        manifest.period_from,
        manifest.period_to,
    ));
    match store.list(&dir).await {
        Ok(paths) => {
            for path in paths {
                if let Err(e) = store.delete(&path).await {
                    tracing::warn!(error = %e, "cold restore: could not delete an exported object");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cold restore: could not list the exported objects"),
    }
    tracing::info!(
        table = table.name,
        partition,
        rows,
        "restored a cold period into the archive"
    );
    Ok(RestoreReport { partition, rows })
}
