//! `archive`: move every row older than a cutoff from the table (warm tier) into
//! `<table>_archive` (cold tier), crash-safely.
//!
//! Three moves, each made of short transactions that either commit whole or leave nothing
//! behind:
//!
//! - **Whole partition, zero-copy**, when the archive is partitioned like the table (the DDL
//!   creates it so for a partitioned model): `DETACH` from the table and `ATTACH` to the
//!   archive in one transaction, the partition keeping its data files and its indexes; see
//!   [`attach`].
//! - **Whole partition, copied**, into an unpartitioned archive (one created before archives
//!   were partitioned, until a migration converts it), in one transaction:
//!   `LOCK TABLE p IN SHARE MODE` (no writes to `p` meanwhile; reads and inserts into other
//!   partitions go on), `INSERT INTO archive (cols) SELECT cols FROM p`, then
//!   `ALTER TABLE t DETACH PARTITION p` and `DROP TABLE p`, then `COMMIT`. The copy runs before
//!   the detach, so the `ACCESS EXCLUSIVE` lock the detach takes on the parent (which blocks
//!   every insert into the table) is held only for the detach, the drop and the commit, not for
//!   the copy. No row is deleted one by one and the partition leaves no dead tuples behind
//!   (the batches below do: one per row they move).
//! - **Batches** (a partition that straddles the cutoff, or an unpartitioned table): repeated
//!   `WITH moved AS (DELETE ... LIMIT n RETURNING cols) INSERT INTO archive SELECT cols FROM
//!   moved`, each statement its own transaction.
//!
//! A kill at any point rolls back the transaction in flight; the next run recomputes the work
//! from the catalog and the data, so nothing is lost, duplicated or left half-done (the archive's
//! primary key, copied by `LIKE ... INCLUDING ALL`, would reject a duplicate anyway). One
//! archiver runs per table: a session-level advisory lock, released when its session ends.

use super::ensure::{LOCK_ATTEMPTS, LOCK_TIMEOUT};
use super::periods::{existing_partitions_on, ExistingPartition};

mod attach;
use crate::ddl::{ident, ident_list};
use crate::error::Error;
use crate::model::{ColumnRole, TableDef};
#[cfg(feature = "cold")]
pub(super) use attach::is_partitioned;
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An async observer called at each step of an archive run, on the archiver's task. Used for
/// progress reporting, and by the tests to terminate the archiving backend at chosen points.
pub type ArchiveHook =
    Arc<dyn Fn(ArchiveEvent) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// One step of an archive run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchiveStep {
    /// The archiving lock is taken; nothing has moved yet.
    Locked,
    /// A whole partition was copied into the archive, in a transaction not yet committed.
    PartitionCopied {
        /// The partition.
        partition: String,
        /// Rows copied.
        rows: u64,
    },
    /// The partition was detached and dropped, in the same transaction, not yet committed.
    PartitionDropped {
        /// The partition.
        partition: String,
    },
    /// The CHECK constraint matching the partition's bounds is added and validated
    /// (committed; the partition is still attached to the table). Zero-copy moves only.
    PartitionBounded {
        /// The partition.
        partition: String,
    },
    /// The partition's rows are counted under a SHARE lock and the `DETACH` is about to be
    /// sent: from here to [`ArchiveStep::PartitionMoved`] the run asks for, then holds, the
    /// table's `ACCESS EXCLUSIVE` lock. Zero-copy moves only.
    PartitionDetaching {
        /// The partition.
        partition: String,
    },
    /// The partition was detached from the table and attached to the archive (and renamed),
    /// in the same transaction, not yet committed. Zero-copy moves only.
    PartitionAttached {
        /// The partition, by its name in the table.
        partition: String,
        /// Its name in the archive.
        archive_partition: String,
    },
    /// A partition of the archive was created (committed), to receive batches of rows.
    ArchivePartitionCreated {
        /// The archive's new partition.
        partition: String,
    },
    /// The partition's move is committed.
    PartitionMoved {
        /// The partition.
        partition: String,
        /// Rows moved.
        rows: u64,
    },
    /// One batch of rows is committed.
    BatchMoved {
        /// The table or partition the rows left.
        relation: String,
        /// Rows in the batch.
        rows: u64,
    },
}

/// What the hook is told: the step, and the archiving session's backend pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEvent {
    /// `pg_backend_pid()` of the archiving session.
    pub backend_pid: i32,
    /// The step just taken.
    pub step: ArchiveStep,
}

/// Tuning of an archive run.
#[derive(Clone)]
pub struct ArchiveOptions {
    /// Rows per batch when a partition straddles the cutoff (default 10,000).
    pub batch_size: u32,
    /// How long the detach waits for its table lock before retrying (default 1 s; up to 5
    /// attempts). Keeps inserts from queueing long behind the detach when a long query holds
    /// the table.
    pub lock_timeout: Duration,
    /// Observer called after each step.
    pub hook: Option<ArchiveHook>,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            batch_size: 10_000,
            lock_timeout: LOCK_TIMEOUT / 2,
            hook: None,
        }
    }
}

impl fmt::Debug for ArchiveOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchiveOptions")
            .field("batch_size", &self.batch_size)
            .field("lock_timeout", &self.lock_timeout)
            .field("hook", &self.hook.as_ref().map(|_| "..."))
            .finish()
    }
}

/// What an archive run moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Rows moved into the archive, in total.
    pub rows: u64,
    /// Partitions moved whole (attached to the archive, or copied, detached and dropped),
    /// oldest first.
    pub partitions: Vec<String>,
    /// Of [`ArchiveReport::partitions`], those moved without copying (detached from the table
    /// and attached to the archive).
    pub attached: Vec<String>,
    /// Partitions created in the archive for rows moved in batches.
    pub archive_partitions_created: Vec<String>,
    /// Rows moved with whole partitions.
    pub partition_rows: u64,
    /// Rows moved in batches.
    pub batch_rows: u64,
    /// Batches committed.
    pub batches: u64,
}

/// The `application_name` of an archiving session: `dbpat-archive:<table>`.
pub fn archiver_application_name(table: &TableDef) -> String {
    format!("dbpat-archive:{}", table.name)
}

/// [`Tiers::archive`].
/// [`ArchiveOptions`]. See [`archive_with`].
pub(crate) async fn archive(
    pool: &PgPool,
    table: &TableDef<'_>,
    older_than: DateTime<Utc>,
) -> Result<ArchiveReport, Error> {
    archive_with(pool, table, older_than, &ArchiveOptions::default()).await
}

/// Moves every row of `table` whose timestamp (the partition key, or the `created_at` column of
/// an unpartitioned table) is before `older_than` into `<table>_archive`.
///
/// Partitions wholly older than the cutoff move as a unit; rows of a partition that straddles
/// it move in batches of `options.batch_size`, each its own transaction. The run holds its own
/// connection (taken out of the pool and closed at the end) with `application_name`
/// `dbpat-archive:<table>` and a session advisory lock: a second concurrent run gets
/// [`Error::ArchiverBusy`]. If the run fails or is killed, run it again: it finishes the job.
pub(crate) async fn archive_with(
    pool: &PgPool,
    table: &TableDef<'_>,
    older_than: DateTime<Utc>,
    options: &ArchiveOptions,
) -> Result<ArchiveReport, Error> {
    let archive = table.archive_table_name().ok_or_else(|| Error::NoArchive {
        table: table.name.to_owned(),
    })?;
    let column = timestamp_column(table)?;
    let mut conn = pool.acquire().await?.detach();
    let result = Archiver {
        table,
        archive: &archive,
        column,
        cutoff: older_than,
        options,
        backend_pid: 0,
    }
    .run(&mut conn)
    .await;
    // Release the advisory lock before closing: the server ends a closed session
    // asynchronously, and the next run must not find the lock still held. (If the session
    // died, its lock died with it.)
    let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    result
}

/// The column compared with the cutoff: the partition key, else the `created_at` column.
fn timestamp_column<'a>(table: &TableDef<'a>) -> Result<&'a str, Error> {
    match table.partition {
        Some(p) => Ok(p.column),
        None => table
            .column_with_role(ColumnRole::CreatedAt)
            .map(|c| c.name)
            .ok_or_else(|| Error::NoTimestampColumn {
                table: table.name.to_owned(),
            }),
    }
}

struct Archiver<'a> {
    table: &'a TableDef<'a>,
    archive: &'a str,
    column: &'a str,
    cutoff: DateTime<Utc>,
    options: &'a ArchiveOptions,
    backend_pid: i32,
}

impl Archiver<'_> {
    async fn run(mut self, conn: &mut PgConnection) -> Result<ArchiveReport, Error> {
        sqlx::query("SELECT set_config('application_name', $1, false)")
            .bind(archiver_application_name(self.table))
            .execute(&mut *conn)
            .await?;
        self.backend_pid = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await?;
        lock_table(conn, self.table).await?;
        let archive_exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(ident(self.archive))
            .fetch_one(&mut *conn)
            .await?;
        if !archive_exists {
            return Err(Error::NoSuchTable {
                table: self.archive.to_owned(),
            });
        }
        let zero_copy =
            self.table.partition.is_some() && attach::is_partitioned(conn, self.archive).await?;
        self.emit(ArchiveStep::Locked).await;
        let started = Instant::now();
        let mut report = ArchiveReport::default();
        if self.table.partition.is_some() {
            let partitions = existing_partitions_on(&mut *conn, self.table).await?;
            let (whole, partial): (Vec<&ExistingPartition>, Vec<&ExistingPartition>) = partitions
                .iter()
                .filter(|p| p.may_hold_before(self.cutoff))
                .partition(|p| p.wholly_before(self.cutoff));
            for p in whole {
                let rows = if zero_copy {
                    let (rows, attached) = self.move_partition_zero_copy(conn, p).await?;
                    if attached {
                        report.attached.push(p.name.clone());
                    }
                    rows
                } else {
                    self.move_partition(conn, &p.name).await?
                };
                report.partitions.push(p.name.clone());
                report.partition_rows += rows;
            }
            for p in partial {
                if zero_copy {
                    let created = self.ensure_archive_partitions(conn, p).await?;
                    report.archive_partitions_created.extend(created);
                }
                self.move_batches(conn, &p.name, &mut report).await?;
            }
        } else {
            self.move_batches(conn, self.table.name, &mut report)
                .await?;
        }
        report.rows = report.partition_rows + report.batch_rows;
        tracing::info!(
            table = self.table.name,
            rows = report.rows,
            partitions = report.partitions.len(),
            attached = report.attached.len(),
            batches = report.batches,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "archived"
        );
        Ok(report)
    }

    async fn emit(&self, step: ArchiveStep) {
        if let Some(hook) = &self.options.hook {
            hook(ArchiveEvent {
                backend_pid: self.backend_pid,
                step,
            })
            .await;
        }
    }

    fn columns(&self) -> String {
        let names: Vec<&str> = self.table.columns.iter().map(|c| c.name).collect();
        ident_list(&names)
    }

    /// A transaction on `conn` whose lock waits end at [`ArchiveOptions::lock_timeout`].
    async fn begin_bounded<'c>(
        &self,
        conn: &'c mut PgConnection,
    ) -> Result<sqlx::Transaction<'c, sqlx::Postgres>, Error> {
        begin_bounded(conn, self.options.lock_timeout).await
    }

    /// Copy, detach and drop one partition, in one transaction.
    async fn move_partition(&self, conn: &mut PgConnection, partition: &str) -> Result<u64, Error> {
        let cols = self.columns();
        let mut tx = self.begin_bounded(conn).await?;
        // Writers of this partition wait until commit, so the copy is exactly what is dropped.
        retry_locks(
            &mut tx,
            &[format!("LOCK TABLE {} IN SHARE MODE", ident(partition))],
        )
        .await?;
        let rows = sqlx::query(&format!(
            "INSERT INTO {} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM ONLY {}",
            ident(self.archive),
            ident(partition)
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.emit(ArchiveStep::PartitionCopied {
            partition: partition.to_owned(),
            rows,
        })
        .await;
        retry_locks(
            &mut tx,
            &[
                format!(
                    "ALTER TABLE {} DETACH PARTITION {}",
                    ident(self.table.name),
                    ident(partition)
                ),
                format!("DROP TABLE {}", ident(partition)),
            ],
        )
        .await?;
        self.emit(ArchiveStep::PartitionDropped {
            partition: partition.to_owned(),
        })
        .await;
        tx.commit().await?;
        tracing::info!(
            table = self.table.name,
            partition,
            rows,
            "moved partition to archive"
        );
        self.emit(ArchiveStep::PartitionMoved {
            partition: partition.to_owned(),
            rows,
        })
        .await;
        Ok(rows)
    }

    /// Move the old rows of `relation` in batches, each statement its own transaction.
    async fn move_batches(
        &self,
        conn: &mut PgConnection,
        relation: &str,
        report: &mut ArchiveReport,
    ) -> Result<(), Error> {
        let cols = self.columns();
        let rel = ident(relation);
        let col = ident(self.column);
        let sql = format!(
            "WITH moved AS (\
                DELETE FROM {rel} WHERE ctid = ANY(ARRAY(\
                    SELECT ctid FROM {rel} WHERE {col} < $1 LIMIT $2)) AND {col} < $1 \
                RETURNING {cols}) \
             INSERT INTO {} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM moved",
            ident(self.archive)
        );
        let exists = format!("SELECT EXISTS (SELECT 1 FROM {rel} WHERE {col} < $1)");
        loop {
            let rows = sqlx::query(&sql)
                .bind(self.cutoff)
                .bind(i64::from(self.options.batch_size.max(1)))
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if rows == 0 {
                // Every picked row was concurrently updated (new ctid): look again.
                let more: bool = sqlx::query_scalar(&exists)
                    .bind(self.cutoff)
                    .fetch_one(&mut *conn)
                    .await?;
                if more {
                    continue;
                }
                return Ok(());
            }
            report.batches += 1;
            report.batch_rows += rows;
            tracing::debug!(
                table = self.table.name,
                relation,
                rows,
                "moved batch to archive"
            );
            self.emit(ArchiveStep::BatchMoved {
                relation: relation.to_owned(),
                rows,
            })
            .await;
        }
    }
}

/// Takes the session advisory lock that lets one process at a time move `table`'s rows between
/// tiers (the archiver, and the cold tier's export and restore), or [`Error::ArchiverBusy`].
pub(super) async fn lock_table(conn: &mut PgConnection, table: &TableDef<'_>) -> Result<(), Error> {
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("dbpat.tiers.archive:{}", table.name))
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Err(Error::ArchiverBusy {
            table: table.name.to_owned(),
        });
    }
    Ok(())
}

/// A transaction on `conn` whose lock waits end at `lock_timeout` (`SET LOCAL`, so the pooled
/// session keeps its own setting).
pub(super) async fn begin_bounded(
    conn: &mut PgConnection,
    lock_timeout: Duration,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, Error> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(format!("{}ms", lock_timeout.as_millis()))
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Runs `statements` inside the open transaction behind a savepoint; on a lock timeout or a
/// deadlock, rolls back to the savepoint (keeping the work done before it), waits and retries.
pub(super) async fn retry_locks(
    conn: &mut PgConnection,
    statements: &[String],
) -> Result<(), sqlx::Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        sqlx::query("SAVEPOINT dbpat_tiers")
            .execute(&mut *conn)
            .await?;
        let mut failed = None;
        for statement in statements {
            // `query`, not `raw_sql`: a `raw_sql` future is not `Send` for every lifetime, so a
            // caller could not `tokio::spawn` the archive.
            if let Err(e) = sqlx::query(statement)
                .persistent(false)
                .execute(&mut *conn)
                .await
            {
                failed = Some(e);
                break;
            }
        }
        match failed {
            None => {
                sqlx::query("RELEASE SAVEPOINT dbpat_tiers")
                    .execute(&mut *conn)
                    .await?;
                return Ok(());
            }
            Some(e) if is_retryable(&e) && attempt < LOCK_ATTEMPTS => {
                tracing::warn!(attempt, error = %e, "archive: lock not available, retrying");
                sqlx::query("ROLLBACK TO SAVEPOINT dbpat_tiers")
                    .execute(&mut *conn)
                    .await?;
                tokio::time::sleep(Duration::from_millis(50 * attempt as u64)).await;
            }
            Some(e) => return Err(e),
        }
    }
}

/// Lock timeout (55P03) or deadlock (40P01): the statement can be retried.
fn is_retryable(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "55P03" || c == "40P01")
}
