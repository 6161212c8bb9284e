//! [`SourceCache`]: the closure-based cache over a [`CacheSource`] of your own, for rows that
//! are not one derived entity (a view, a join, a remote service). Reads load from the source;
//! writes wrap a closure that performs the database write and commits.
//!
//! ```no_run
//! # use dbpat_runtime::cache::{Cache, CacheEntity, CacheSource};
//! # use dbpat_runtime::model::{CachePolicy, CacheWrite};
//! # use dbpat_runtime::Error;
//! # #[derive(Clone, serde::Serialize, serde::Deserialize)]
//! # struct Item { id: i64, name: String }
//! # impl CacheEntity for Item { type Id = i64; fn cache_id(&self) -> i64 { self.id } }
//! # struct Items(sqlx::PgPool);
//! # impl CacheSource<Item> for Items {
//! #     async fn load(&self, id: &i64) -> Result<Option<Item>, Error> { Ok(None) }
//! #     async fn load_many(&self, ids: &[i64]) -> Result<Vec<Item>, Error> { Ok(vec![]) }
//! # }
//! # async fn demo(cache: Cache, pool: sqlx::PgPool) -> Result<(), Error> {
//! let policy = CachePolicy {
//!     key_prefix: "item",
//!     ttl_secs: 600,
//!     negative_ttl_secs: 60,
//!     write: CacheWrite::Invalidate,
//!     hash_tag: false,
//! };
//! let items = cache.with_source(policy, Items(pool.clone()))?;
//! let item = items.find(&7).await?;
//! let renamed = items
//!     .write_with(&7, || async {
//!         let row: (i64, String) =
//!             sqlx::query_as("UPDATE items SET name = 'x' WHERE id = 7 RETURNING id, name")
//!                 .fetch_one(&pool)
//!                 .await?;
//!         Ok::<_, Error>(Item { id: row.0, name: row.1 })
//!     })
//!     .await?;
//! # let _ = (item, renamed); Ok(()) }
//! ```

use super::codec::layout_of_type_name;
use super::handle::{Cache, EntityCache};
use super::key::key_prefix_error;
use super::source::{CacheEntity, CacheSource};
use super::spans;
use crate::error::{Error, Result};
use crate::model::CachePolicy;
use std::future::Future;
use std::ops::Deref;
use tracing::Instrument;

/// The closure-based cache of `E` over source `S`, from
/// [`Cache::with_source`](super::Cache::with_source). Keys, attributes, `invalidate` and
/// `begin_write` come from [`EntityCache`], which this dereferences to.
pub struct SourceCache<E: CacheEntity, S> {
    cache: EntityCache<E>,
    source: S,
}

impl<E: CacheEntity, S> Deref for SourceCache<E, S> {
    type Target = EntityCache<E>;
    fn deref(&self) -> &EntityCache<E> {
        &self.cache
    }
}

impl Cache {
    /// The closure-based cache of any serde type over a [`CacheSource`] of your own, with an
    /// explicit policy (for rows that are not one derived entity: a view, a join, a remote
    /// service).
    ///
    /// [`Error::InvalidPolicy`] if `policy.key_prefix` is not one key segment (empty, or
    /// with `:`, `{`, `}`, `*` or a space) or is `lease`, `writers`, `subkeys` or `dataset`,
    /// the first segments of the cache's own keys: the entity's keys could be another's. These
    /// are the rules the derive checks at compile time for `#[dbpat(cache(prefix = "..."))]`.
    pub fn with_source<E, S>(&self, policy: CachePolicy, source: S) -> Result<SourceCache<E, S>>
    where
        E: CacheEntity,
        S: CacheSource<E>,
    {
        if let Some(reason) = key_prefix_error(policy.key_prefix) {
            return Err(Error::InvalidPolicy {
                key_prefix: policy.key_prefix.to_owned(),
                reason,
            });
        }
        let layout = layout_of_type_name(std::any::type_name::<E>());
        Ok(SourceCache::new(self.build(policy, layout), source))
    }
}

impl<E: CacheEntity, S: CacheSource<E>> SourceCache<E, S> {
    pub(super) fn new(cache: EntityCache<E>, source: S) -> Self {
        SourceCache { cache, source }
    }

    /// The database source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Cache-aside read: the cached row, else one load from the source shared by every
    /// concurrent reader of `id`. `Ok(None)`: no such row (cached as a negative entry).
    pub async fn find(&self, id: &E::Id) -> Result<Option<E>> {
        self.cache
            .read(&self.source, id)
            .instrument(spans::operation(E::entity_name(), "find"))
            .await
    }

    /// The row, or [`Error::NotFound`].
    pub async fn get(&self, id: &E::Id) -> Result<E> {
        self.find(id).await?.ok_or_else(|| Error::NotFound {
            entity: E::entity_name(),
            key: id.to_string(),
        })
    }

    /// Reads many ids: one `MGET`, then one `load_many` for all the misses, in the order of
    /// `ids`.
    pub async fn find_many(&self, ids: &[E::Id]) -> Result<Vec<Option<E>>> {
        self.cache
            .read_many(&self.source, ids)
            .instrument(spans::operation(E::entity_name(), "find_many"))
            .await
    }

    /// A write of `id` (an update, a patch, a versioned update, an insert with a known id):
    /// `write` performs the database write **and commits**, returning the committed row.
    /// The cache is made consistent per the policy; an error from `write` is returned
    /// unchanged (and the entry invalidated). Under the default
    /// [`WriteGuarantee::Strict`](super::WriteGuarantee::Strict), a write Redis does not
    /// register is refused with [`Error::CacheUnavailable`] before `write` runs (hence
    /// `Er: From<Error>`).
    pub async fn write_with<F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
        Er: From<Error>,
    {
        self.cache
            .write_with(id, write)
            .instrument(spans::operation(E::entity_name(), "write"))
            .await
    }

    /// An insert whose id the database generates: after `write` commits, any negative entry
    /// or lease for the new id is deleted.
    pub async fn insert_with<F, Fut, Er>(&self, write: F) -> Result<E, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<E, Er>>,
        Er: From<Error>,
    {
        self.cache
            .insert_with(write)
            .instrument(spans::operation(E::entity_name(), "insert"))
            .await
    }

    /// A delete: `write` deletes the row **and commits**; afterwards the entry is invalidated
    /// (write-through: replaced by a negative entry) and the id's attribute keys removed.
    pub async fn delete_with<T, F, Fut, Er>(&self, id: &E::Id, write: F) -> Result<T, Er>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Er>>,
        Er: From<Error>,
    {
        self.cache
            .delete_with(id, write)
            .instrument(spans::operation(E::entity_name(), "delete"))
            .await
    }
}

impl<E: CacheEntity, S: Clone> Clone for SourceCache<E, S> {
    fn clone(&self) -> Self {
        SourceCache {
            cache: self.cache.clone(),
            source: self.source.clone(),
        }
    }
}
