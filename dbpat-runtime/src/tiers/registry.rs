//! The register of cold periods: a table in the database, `dbpat_cold_periods`, with one row
//! per exported period (its manifest's path and SHA-256). An export registers its period in
//! the transaction that detaches and drops the archive partition, and a restore unregisters
//! it in the transaction that makes the restored partition's rows visible, so the database
//! always says, atomically, in which tier each period's rows are. Readers take the archive's
//! `ACCESS SHARE` lock before they read the register, which those transactions' `ACCESS
//! EXCLUSIVE` lock waits for: a read sees each row once.

use crate::error::{ColdError, Error};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The register's name (in the schema of the search path, like the tables).
pub(crate) const REGISTRY: &str = "dbpat_cold_periods";

const CREATE: &str = "CREATE TABLE IF NOT EXISTS dbpat_cold_periods (\
    table_name TEXT NOT NULL, \
    period_from TIMESTAMPTZ NOT NULL, \
    period_to TIMESTAMPTZ NOT NULL, \
    manifest TEXT NOT NULL, \
    manifest_sha256 TEXT NOT NULL, \
    row_count BIGINT NOT NULL, \
    schema_fingerprint TEXT NOT NULL, \
    exported_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
    PRIMARY KEY (table_name, period_from))";

/// One exported period, as registered.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ColdPeriod {
    /// The table whose archive the period came from.
    pub table_name: String,
    /// The period's first instant.
    pub period_from: DateTime<Utc>,
    /// The first instant after it.
    pub period_to: DateTime<Utc>,
    /// The manifest's path in the store.
    pub manifest: String,
    /// The manifest's SHA-256 (hex).
    pub manifest_sha256: String,
    /// Rows in the period.
    pub row_count: i64,
    /// The model's schema fingerprint when it was exported.
    pub schema_fingerprint: String,
    /// When it was exported.
    pub exported_at: DateTime<Utc>,
}

/// Creates the register if missing (serialized by a transaction-scoped advisory lock, so
/// concurrent first exports do not race on the catalog).
#[cfg_attr(not(feature = "cold"), allow(dead_code))]
pub(crate) async fn ensure(conn: &mut PgConnection) -> Result<(), Error> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('dbpat.tiers.cold.registry', 0))")
        .execute(&mut *tx)
        .await?;
    sqlx::query(CREATE).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The registered periods of `table`, oldest first (none when the register does not exist).
pub(crate) async fn periods(
    conn: &mut PgConnection,
    table: &str,
) -> Result<Vec<ColdPeriod>, Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(REGISTRY)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(
        "SELECT table_name, period_from, period_to, manifest, manifest_sha256, row_count, \
         schema_fingerprint, exported_at FROM dbpat_cold_periods WHERE table_name = $1 \
         ORDER BY period_from",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?)
}

/// [`ColdError::PeriodIsCold`] if a registered period of `table` overlaps `[from, to)`
/// (`None`: unbounded): the archiver must not move rows into a period that is in the cold tier
/// (a read would then find them in both places, or the restore would collide with them).
pub(crate) async fn refuse_cold(
    conn: &mut PgConnection,
    table: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    match periods(conn, table)
        .await?
        .into_iter()
        .find(|p| from.is_none_or(|f| f < p.period_to) && to.is_none_or(|t| p.period_from < t))
    {
        Some(p) => Err(Error::Cold(ColdError::PeriodIsCold {
            table: table.to_owned(),
            from: p.period_from,
            to: p.period_to,
        })),
        None => Ok(()),
    }
}
