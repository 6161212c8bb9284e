//! `ensure_partitions`: create the current period's partition and the next ones, idempotently
//! and safely from many processes at once.

use super::periods::{existing_partitions, existing_partitions_on, needed_partitions};
use crate::ddl::render_create_partition;
use crate::error::Error;
use crate::model::TableDef;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;

/// What [`Tiers::ensure_partitions`](super::Tiers::ensure_partitions) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnsureReport {
    /// Partitions this call created, oldest first.
    pub created: Vec<String>,
    /// Needed periods that were already covered by an attached partition (left alone).
    pub present: Vec<String>,
}

/// How long one attempt waits for the table lock `CREATE TABLE ... PARTITION OF` needs before
/// giving up and retrying, so a long-running query on the table never makes every insert queue
/// behind the DDL for long.
pub(crate) const LOCK_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts before the lock timeout is returned as an error.
pub(crate) const LOCK_ATTEMPTS: u32 = 5;

/// Creates the partitions for the current period (per the database's clock) and `ahead` future
/// periods. See [`ensure_partitions_at`].
pub(crate) async fn ensure_partitions(
    pool: &PgPool,
    table: &TableDef<'_>,
    ahead: u32,
) -> Result<EnsureReport, Error> {
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(pool).await?;
    ensure_partitions_at(pool, table, now, ahead).await
}

/// Creates the partitions of `table` for the period containing `now` and the `ahead` periods
/// after it (months or quarters, per the model).
///
/// - Idempotent: a period already covered by an attached partition (whatever its name) is left
///   alone, so a second call creates nothing.
/// - Concurrent-safe: creation runs in one transaction under a transaction-scoped advisory lock
///   keyed on the table, so callers in several processes serialize, and the later ones find the
///   partitions made by the first. When nothing is missing, no lock is taken at all.
/// - Gentle: the DDL waits at most 2 s for its table lock, then retries (5 attempts), so a long
///   query on the table cannot make inserts queue behind it.
pub(crate) async fn ensure_partitions_at(
    pool: &PgPool,
    table: &TableDef<'_>,
    now: DateTime<Utc>,
    ahead: u32,
) -> Result<EnsureReport, Error> {
    let needed = needed_partitions(table, now, ahead)?;
    // Fast path: everything already there.
    let existing = existing_partitions(pool, table).await?;
    if needed.iter().all(|b| existing.iter().any(|e| covers(e, b))) {
        return Ok(EnsureReport {
            created: Vec::new(),
            present: needed.into_iter().map(|b| b.name).collect(),
        });
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_create(pool, table, &needed).await {
            Err(e) if e.is_lock_timeout() && attempt < LOCK_ATTEMPTS => {
                tracing::warn!(
                    table = table.name,
                    attempt,
                    "ensure_partitions: lock timeout, retrying"
                );
                tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
            }
            result => return result,
        }
    }
}

fn covers(existing: &super::periods::ExistingPartition, b: &crate::ddl::PartitionBounds) -> bool {
    match (b.from.start(), b.to.start()) {
        (Some(from), Some(to)) => existing.overlaps(from, to),
        _ => false,
    }
}

async fn try_create(
    pool: &PgPool,
    table: &TableDef<'_>,
    needed: &[crate::ddl::PartitionBounds],
) -> Result<EnsureReport, Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("dbpat.tiers.ensure:{}", table.name))
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(format!("{}ms", LOCK_TIMEOUT.as_millis()))
        .execute(&mut *tx)
        .await?;
    // Under the lock, with a fresh snapshot: what another caller may just have created counts.
    let existing = existing_partitions_on(&mut tx, table).await?;
    let mut report = EnsureReport::default();
    for bounds in needed {
        if existing.iter().any(|e| covers(e, bounds)) {
            report.present.push(bounds.name.clone());
        } else {
            sqlx::query(&render_create_partition(table, bounds))
                .execute(&mut *tx)
                .await?;
            report.created.push(bounds.name.clone());
        }
    }
    tx.commit().await?;
    if !report.created.is_empty() {
        tracing::info!(table = table.name, created = ?report.created, "created partitions");
    }
    Ok(report)
}
