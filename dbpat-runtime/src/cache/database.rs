//! The database a dataset's values were read from. A cache holds copies of rows; after the
//! database is restored to an earlier state, those copies are *newer* than the database and
//! must not be served. Two ways to start a new dataset generation for that, both on
//! [`Cache`]:
//!
//! - [`Cache::watch_database`] ties the generation to the primary database. It reads the
//!   database's identity and WAL position every [`HEARTBEAT`]. The identity is the cluster's
//!   system identifier, the database's OID and the timeline. It records both in the dataset
//!   marker (`db`, `db_lsn`). Another identity, or a WAL position behind the one recorded,
//!   means the values came from another database (a restore into a new cluster or a recreated
//!   database, a point-in-time recovery, a promoted replica that lacks the last commits). The
//!   [`DATABASE`] script then starts a new generation at once.
//! - [`Cache::start_new_generation`] starts one by hand. It is the step a restore *in place*
//!   needs (`pg_restore --clean` into the same database), since that keeps the identity and
//!   moves the WAL forward.
//!
//! A new generation is seen by every process within one heartbeat: a marker whose generation
//! changed makes each keeper re-verify its link. Values of the old generation are never served,
//! writes in flight are re-registered, and nobody fills for
//! [`CacheConfig::restart_grace`](super::CacheConfig::restart_grace).

use super::handle::Cache;
use super::inner::CacheInner;
use super::link::HEARTBEAT;
use super::metrics::Counters;
use super::scripts::{DATABASE, NEW_GENERATION};
use crate::error::Error;
use sqlx::PgPool;
use std::sync::Weak;

/// The identity of the database behind a pool and its WAL position. The position is where a
/// primary writes, or where a replica has replayed to.
const IDENTITY: &str = "SELECT (SELECT system_identifier FROM pg_control_system())::text \
    || '/' || (SELECT oid FROM pg_database WHERE datname = current_database())::text \
    || '/' || (SELECT timeline_id FROM pg_control_checkpoint())::text, \
    ((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END) \
      - '0/0'::pg_lsn)::int8";

/// What a [`DATABASE`] check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The marker names this database (or named none yet, and now does).
    Same,
    /// The marker named another database, or a WAL position ahead of this one: a new
    /// generation was started.
    Changed,
}

fn unavailable(reason: String) -> Error {
    Error::CacheUnavailable {
        entity: "dataset",
        key: String::new(),
        reason,
    }
}

fn candidate() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl CacheInner {
    /// Runs one check of the database behind `pool` against the dataset marker.
    async fn check_database(&self, pool: &PgPool) -> Result<Check, Error> {
        let (identity, lsn): (String, i64) = sqlx::query_as(IDENTITY).fetch_one(pool).await?;
        let link = self
            .links
            .current()
            .ok_or_else(|| unavailable("no verified connection to Redis".into()))?;
        let mut conn = link.conn.clone();
        let changed: i64 = self
            .attempt(
                &link,
                "database check",
                DATABASE
                    .key(self.links.marker())
                    .arg(&identity)
                    .arg(lsn)
                    .arg(candidate())
                    .invoke_async(&mut conn),
            )
            .await
            .map_err(|u| unavailable(u.reason))?;
        if changed == 0 {
            return Ok(Check::Same);
        }
        Counters::inc(&self.counters.database_changes);
        tracing::warn!(
            database = %identity,
            "dbpat cache: the database is not the one the cached values came from (restored, \
             recreated or failed over); a new dataset generation starts"
        );
        // Re-verify now rather than at the next heartbeat.
        self.links.broken(&link);
        Ok(Check::Changed)
    }
}

/// Checks the database every heartbeat while the cache lives.
async fn watch(cache: Weak<CacheInner>, pool: PgPool) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Some(inner) = cache.upgrade() else { return };
        if let Err(err) = inner.check_database(&pool).await {
            tracing::debug!(%err, "dbpat cache: database check skipped");
        }
    }
}

impl Cache {
    /// Ties the cache's dataset generation to the primary database behind `pool`. Values
    /// cached from another database — restored into a new cluster or a recreated database,
    /// recovered to a point in time, or a promoted replica's — are ignored from the first
    /// check after that database is reachable (one heartbeat, 200 ms). Checks once before it
    /// returns, then every heartbeat while the cache lives. Give it the primary. A replica's
    /// replay position trails the primary's, which reads as a restore.
    ///
    /// Not detected: a restore *in place* (`pg_restore --clean` into the same database keeps
    /// its identity and moves the WAL forward). Call [`start_new_generation`](Self::start_new_generation)
    /// after it.
    ///
    /// ```no_run
    /// # async fn demo(cache: dbpat_runtime::cache::Cache, pool: sqlx::PgPool) -> dbpat_runtime::Result<()> {
    /// cache.watch_database(pool.clone()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn watch_database(&self, pool: PgPool) -> Result<(), Error> {
        self.inner.check_database(&pool).await?;
        let task = tokio::spawn(watch(std::sync::Arc::downgrade(&self.inner), pool));
        self.inner
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
        Ok(())
    }

    /// Starts a new dataset generation now and returns it (as [`generation`](Self::generation) will). Every value cached so far is
    /// ignored by every process of this app prefix (each notices within one heartbeat, 200
    /// ms). Writes in flight are re-registered, and nobody fills for `restart_grace`. Run it
    /// after restoring the database in place, before the application serves again.
    ///
    /// ```no_run
    /// # async fn demo(cache: dbpat_runtime::cache::Cache) -> dbpat_runtime::Result<()> {
    /// // after `pg_restore --clean --dbname shop shop.dump`:
    /// let generation = cache.start_new_generation().await?;
    /// # Ok(()) }
    /// ```
    pub async fn start_new_generation(&self) -> Result<String, Error> {
        let inner = &self.inner;
        let link = inner
            .links
            .current()
            .ok_or_else(|| unavailable("no verified connection to Redis".into()))?;
        let mut conn = link.conn.clone();
        let generation = candidate();
        let _: () = inner
            .attempt(
                &link,
                "new generation",
                NEW_GENERATION
                    .key(inner.links.marker())
                    .arg(&generation)
                    .invoke_async(&mut conn),
            )
            .await
            .map_err(|u| unavailable(u.reason))?;
        Counters::inc(&inner.counters.database_changes);
        tracing::warn!(
            generation,
            "dbpat cache: a new dataset generation was started by hand"
        );
        inner.links.broken(&link);
        inner.links.wait_ready(inner.config.connect_timeout).await;
        self.generation()
            .ok_or_else(|| unavailable("Redis did not answer after the new generation".into()))
    }
}
