//! Writes through the cache: the write protocol around a database write
//! (`write_with`, `insert_with`, `delete_with`), [`EntityCache::invalidate`] and the
//! end-of-write script.

use super::config::WriteGuarantee;
use super::handle::{new_token, EntityCache};
use super::health::Deferred;
use super::inner::EndWrite;
use super::key::EntityKeys;
use super::metrics::Counters;
use super::source::CacheEntity;
use crate::error::Error;
use std::future::Future;

impl<E: CacheEntity> EntityCache<E> {
    /// A write of `id` through the cache: `write` performs the database write (insert with a
    /// known id, update, patch, versioned update) **and commits**, and returns the committed
    /// row. The cache is made consistent per the policy (the new row stored, or the entry
    /// invalidated). An error from `write` is returned unchanged (the entry is invalidated).
    /// Under [`WriteGuarantee::Strict`](super::WriteGuarantee::Strict), a registration Redis
    /// does not confirm fails with [`Error::CacheUnavailable`] and `write` is not called.
    pub(crate) async fn write_with<F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
        Er: From<Error>,
    {
        let intent = self.begin_write(id).await?;
        match write().await {
            Ok(row) => {
                intent.committed(&row).await;
                Ok(row)
            }
            Err(e) => {
                intent.abort().await;
                Err(e)
            }
        }
    }

    /// Insert of a row whose id the database generates: after `write` commits, any negative
    /// entry or lease for the new id is deleted (the row is not stored: a later read fills it).
    /// Under [`WriteGuarantee::Strict`](super::WriteGuarantee::Strict), Redis must answer a
    /// `PING` first, or the insert fails with [`Error::CacheUnavailable`] and `write` is not
    /// called (the new id is unknown before the insert, so it cannot be registered).
    pub(crate) async fn insert_with<F, Fut, Er>(&self, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
        Er: From<Error>,
    {
        if self.c().config.write_guarantee == WriteGuarantee::Strict {
            self.confirm_reachable().await?;
        }
        let row = write().await?;
        let _ = self.forget(&row.cache_id()).await;
        Ok(row)
    }

    /// [`insert_with`](Self::insert_with) for many rows in one statement.
    pub(crate) async fn insert_many_with<F, Fut, Er>(&self, write: F) -> Result<Vec<E>, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<E>, Er>>,
        Er: From<Error>,
    {
        if self.c().config.write_guarantee == WriteGuarantee::Strict {
            self.confirm_reachable().await?;
        }
        let rows = write().await?;
        for row in &rows {
            let _ = self.forget(&row.cache_id()).await;
        }
        Ok(rows)
    }

    /// Delete through the cache: `write` deletes the row **and commits**. Afterwards the entry
    /// is invalidated (or, with write-through, replaced by a negative entry) and the id's
    /// attribute keys are removed. Registration as in [`write_with`](Self::write_with).
    pub(crate) async fn delete_with<T, F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<T, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Er>>,
        Er: From<Error>,
    {
        let intent = self.begin_write(id).await?;
        match write().await {
            Ok(t) => {
                intent.deleted().await;
                Ok(t)
            }
            Err(e) => {
                intent.abort().await;
                Err(e)
            }
        }
    }

    /// Deletes the cached entry and lease of `id`, for a write made outside this API (prefer
    /// [`begin_write`](Self::begin_write) before such a write: an invalidation after it leaves
    /// the window between its commit and this call open). If Redis does not confirm it, the
    /// invalidation is retried in the background (this process reads the row from the
    /// database meanwhile) and, under
    /// [`WriteGuarantee::Strict`](super::WriteGuarantee::Strict), the call returns
    /// [`Error::CacheUnavailable`] so the caller knows other processes may still read the old
    /// row until the retry lands.
    pub async fn invalidate(&self, id: &E::Id) -> Result<(), Error> {
        match self.forget(id).await {
            Ok(()) => Ok(()),
            Err(reason) if self.c().config.write_guarantee == WriteGuarantee::Strict => {
                Err(Error::CacheUnavailable {
                    entity: E::entity_name(),
                    key: id.to_string(),
                    reason,
                })
            }
            Err(_) => Ok(()),
        }
    }

    /// Invalidates `id`, deferring the invalidation when Redis does not confirm it.
    async fn forget(&self, id: &E::Id) -> Result<(), String> {
        let keys = self.inner.keys.keys(id);
        let token = new_token();
        match self
            .c()
            .end_write(&keys, &token, &EndWrite::Invalidate)
            .await
        {
            Ok(_) => Ok(()),
            Err(unanswered) => {
                Counters::inc(&self.counters().invalidations_deferred);
                self.c().health.defer(Deferred {
                    keys,
                    token,
                    in_flight: false,
                });
                Err(unanswered.reason)
            }
        }
    }

    /// A `PING` through the write link, or [`Error::CacheUnavailable`].
    async fn confirm_reachable(&self) -> Result<(), Error> {
        let c = self.c();
        let pinged = match c.write_link() {
            Ok(link) => {
                let mut conn = link.conn.clone();
                c.attempt(&link, "ping", async {
                    redis::cmd("PING").query_async::<String>(&mut conn).await
                })
                .await
                .map(drop)
            }
            Err(unanswered) => Err(unanswered),
        };
        pinged.map_err(|unanswered| {
            Counters::inc(&self.counters().writes_refused);
            Error::CacheUnavailable {
                entity: E::entity_name(),
                key: String::new(),
                reason: unanswered.reason,
            }
        })
    }

    pub(super) async fn finish_write(&self, keys: &EntityKeys, token: &str, end: EndWrite) {
        let c = self.c();
        c.links.in_flight.untrack(token);
        match c.end_write(keys, token, &end).await {
            Ok(_) => c.health.settle(&keys.value, token),
            Err(_) => {
                Counters::inc(&self.counters().invalidations_deferred);
                c.health.defer(Deferred {
                    keys: keys.clone(),
                    token: token.to_owned(),
                    in_flight: false,
                });
            }
        }
    }
}
