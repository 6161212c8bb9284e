//! Writes through the cache: the write protocol around a database write
//! (`write_with`, `insert_with`, `delete_with`), [`EntityCache::invalidate`] and the
//! end-of-write script.

use super::handle::{new_token, EntityCache};
use super::health::Deferred;
use super::inner::EndWrite;
use super::key::EntityKeys;
use super::metrics::Counters;
use super::source::CacheEntity;
use std::future::Future;

impl<E: CacheEntity> EntityCache<E> {
    /// A write of `id` through the cache: `write` performs the database write (insert with a
    /// known id, update, patch, versioned update) **and commits**, and returns the committed
    /// row. The cache is made consistent per the policy (the new row stored, or the entry
    /// invalidated). An error from `write` is returned unchanged (the entry is invalidated).
    pub(crate) async fn write_with<F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
    {
        let intent = self.begin_write(id).await;
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
    pub(crate) async fn insert_with<F, Fut, Er>(&self, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
    {
        let row = write().await?;
        self.invalidate(&row.cache_id()).await;
        Ok(row)
    }

    /// Delete through the cache: `write` deletes the row **and commits**. Afterwards the entry
    /// is invalidated (or, with write-through, replaced by a negative entry) and the id's
    /// attribute keys are removed.
    pub(crate) async fn delete_with<T, F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<T, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Er>>,
    {
        let intent = self.begin_write(id).await;
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

    /// Deletes the cached entry and lease of `id` (for writes made outside this API).
    pub async fn invalidate(&self, id: &E::Id) {
        let keys = self.inner.keys.keys(id);
        let token = new_token();
        if self
            .c()
            .end_write(&keys, &token, &EndWrite::Invalidate)
            .await
            .is_none()
        {
            Counters::inc(&self.counters().invalidations_deferred);
            self.c().health.defer(Deferred {
                keys,
                token,
                in_flight: false,
            });
        }
    }

    pub(super) async fn finish_write(&self, keys: &EntityKeys, token: &str, end: EndWrite) {
        let c = self.c();
        match c.end_write(keys, token, &end).await {
            Some(_) => c.health.settle(&keys.value, token),
            None => {
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
