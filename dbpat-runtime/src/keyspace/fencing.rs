//! Locks with fencing tokens from a PostgreSQL sequence, for correctness-critical sections.
//!
//! A plain [`LockManager`] lock can expire under a paused holder. Here each acquisition also
//! draws a token from a PostgreSQL sequence (strictly increasing across holders), and every
//! protected write presents its token to [`check_fence`] *in the same transaction as the
//! write*. The fence table `dbpat_fences(resource, token)` remembers the highest token seen
//! per resource and rejects older ones with [`KeyspaceError::StaleFencingToken`], so a holder that
//! lost its lock cannot overwrite the work of the holder that replaced it.
//!
//! The token is drawn after the Redis lock is taken and the lock is re-checked afterwards:
//! if it expired in between the acquisition fails, so a later holder always draws a larger
//! token.
//!
//! ```no_run
//! # async fn demo(conn: redis::aio::ConnectionManager, pool: sqlx::PgPool) -> dbpat_runtime::keyspace::Result<()> {
//! use dbpat_runtime::keyspace::{check_fence, FencedLockManager, KeyBuilder, LockManager};
//! use std::time::Duration;
//! let fenced = FencedLockManager::new(LockManager::new(conn, KeyBuilder::new()), pool.clone(), "app_fencing")?;
//! fenced.ensure_schema().await?;
//! let guard = fenced.acquire("invoice", "42", Duration::from_secs(2)).await?;
//! let mut tx = pool.begin().await?;
//! check_fence(&mut tx, guard.resource(), guard.token()).await?; // stale holder: error here
//! sqlx::query("UPDATE invoices SET status = $1 WHERE id = $2")
//!     .bind("paid")
//!     .bind(42_i64)
//!     .execute(&mut *tx)
//!     .await?;
//! tx.commit().await?;
//! guard.release().await?;
//! # Ok(()) }
//! ```

use super::error::{KeyspaceError, Result};
use super::ident::Ident;
use super::lock::{LockGuard, LockManager};
use redis::aio::{ConnectionLike, ConnectionManager};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;

/// Locks whose acquisitions carry a fencing token from a PostgreSQL sequence.
#[derive(Clone)]
pub struct FencedLockManager<C = ConnectionManager> {
    locks: LockManager<C>,
    pool: PgPool,
    sequence: Ident,
}

/// A held lock plus its fencing token.
pub struct FencedGuard<C = ConnectionManager> {
    guard: LockGuard<C>,
    token: i64,
}

impl<C: ConnectionLike + Clone + Send + Sync> FencedLockManager<C> {
    /// Fenced locks drawing tokens from the sequence `sequence` (`[a-z_][a-z0-9_]*`).
    pub fn new(locks: LockManager<C>, pool: PgPool, sequence: &str) -> Result<Self> {
        Ok(FencedLockManager {
            locks,
            pool,
            sequence: Ident::new(sequence)?,
        })
    }

    /// Creates the sequence and the `dbpat_fences` table if missing.
    pub async fn ensure_schema(&self) -> Result<()> {
        let seq = self.sequence.quoted();
        sqlx::raw_sql(&format!(
            "CREATE SEQUENCE IF NOT EXISTS {seq};
             CREATE TABLE IF NOT EXISTS dbpat_fences (
                 resource TEXT PRIMARY KEY,
                 token BIGINT NOT NULL
             );"
        ))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One attempt; `None` if the lock is held by someone else (or was lost while the token
    /// was drawn).
    pub async fn try_acquire(&self, entity: &str, id: &str) -> Result<Option<FencedGuard<C>>> {
        let Some(mut guard) = self.locks.try_acquire(entity, id).await? else {
            return Ok(None);
        };
        let drawn = sqlx::query_scalar::<_, i64>("SELECT nextval($1::text::regclass)")
            .bind(self.sequence.as_str())
            .fetch_one(&self.pool)
            .await;
        let token = match drawn {
            Ok(t) => t,
            Err(e) => {
                // No token, no lock: do not block others for a whole TTL.
                if let Err(release_err) = guard.release().await {
                    tracing::warn!(error = %release_err, "could not release lock after token failure");
                }
                return Err(e.into());
            }
        };
        // Still ours after the token was drawn? Then any later holder draws a larger token.
        if !guard.extend(self.locks.ttl()).await? {
            tracing::warn!(key = %guard.key(), token, "lock expired while drawing a fencing token");
            return Ok(None);
        }
        Ok(Some(FencedGuard { guard, token }))
    }

    /// Tries until acquired or `wait` has passed ([`KeyspaceError::LockTimeout`]).
    pub async fn acquire(&self, entity: &str, id: &str, wait: Duration) -> Result<FencedGuard<C>> {
        self.locks
            .retry_until(entity, id, wait, || self.try_acquire(entity, id))
            .await
    }
}

impl<C: ConnectionLike + Clone + Send + Sync> FencedGuard<C> {
    /// The fencing token: larger than that of every earlier holder of any fenced lock.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// The fenced resource name (the lock key), as recorded in `dbpat_fences`.
    pub fn resource(&self) -> &str {
        self.guard.key()
    }

    /// The underlying Redis lock.
    pub fn lock(&mut self) -> &mut LockGuard<C> {
        &mut self.guard
    }

    /// Releases the Redis lock; see [`LockGuard::release`].
    pub async fn release(self) -> Result<bool> {
        self.guard.release().await
    }
}

/// Admits a write under fencing `token` for `resource`, or fails with
/// [`KeyspaceError::StaleFencingToken`] if a newer token has already written. Call it inside the
/// transaction that performs the protected write; the fence row stays locked until that
/// transaction ends, so writes of different holders cannot interleave.
pub async fn check_fence(conn: &mut PgConnection, resource: &str, token: i64) -> Result<()> {
    let admitted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO dbpat_fences (resource, token) VALUES ($1, $2)
         ON CONFLICT (resource) DO UPDATE SET token = EXCLUDED.token
         WHERE dbpat_fences.token <= EXCLUDED.token
         RETURNING token",
    )
    .bind(resource)
    .bind(token)
    .fetch_optional(&mut *conn)
    .await?;
    if admitted.is_some() {
        return Ok(());
    }
    let current: i64 = sqlx::query_scalar("SELECT token FROM dbpat_fences WHERE resource = $1")
        .bind(resource)
        .fetch_one(&mut *conn)
        .await?;
    Err(KeyspaceError::StaleFencingToken {
        resource: resource.to_owned(),
        token,
        current,
    })
}
