//! [`Cached`]: the cached data API of a derived entity, with the same operations, arguments and
//! return types as [`Table`](crate::Table), so moving a call to the cache is a one-word change:
//! `User::find(&pool, &id)` becomes `users.find(&pool, &id)`.
//!
//! ```no_run
//! # use dbpat_runtime::cache::{Cache, CacheConfig, CachedEntity};
//! # use dbpat_runtime::Table;
//! # async fn demo<User: CachedEntity>(pool: sqlx::PgPool, id: User::Key, mut user: User)
//! # -> Result<(), dbpat_runtime::Error> {
//! let client = redis::Client::open("redis://127.0.0.1/").expect("a valid URL");
//! let cache = Cache::connect(client, CacheConfig::new("shop:")).await;
//! let users = cache.entity::<User>();        // a compile error without #[dbpat(cache(...))]
//! let found = users.find(&pool, &id).await?;  // Redis first, PostgreSQL on a miss
//! users.update(&pool, &mut user).await?;      // UPDATE (versioned if the entity has a version)
//! users.delete(&pool, &id).await?;            // DELETE, then the entry and user:<id>:* go
//! # let _ = found; Ok(()) }
//! ```
//!
//! Every method's future is `Send`, so it runs inside `tokio::spawn`. The database futures are
//! boxed as `dyn Future + Send` at the point where the cache protocol awaits them: without it,
//! rustc cannot prove the executor's higher-ranked lifetimes `Send` (rust-lang/rust#100013).

use super::codec::layout_of_columns;
use super::handle::{Cache, EntityCache};
use super::source::{CacheSource, CachedEntity};
use super::spans;
use crate::error::{Error, Result};
use crate::query::read::{select_by_keys, MAX_PARAMS};
use crate::query::{Filter, Patch, PrimaryPool, Select};
use crate::telemetry::Statement;
use sqlx::PgPool;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use tracing::Instrument;

/// A boxed database future, `Send` for every lifetime (see the module docs).
pub(super) type DbFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The cached data API of entity `E`, from [`Cache::entity`](super::Cache::entity). Cheap to
/// clone. Reads go to Redis first and to `pool` on a miss; writes run on `pool` inside the
/// cache protocol (see the [module docs](super)).
///
/// `pool` is a [`PrimaryPool`]: a `PgPool` (one server) or a
/// [`PoolSet`](crate::query::PoolSet), whose primary then serves every miss and write. A miss
/// is never loaded from a replica: one that has not replayed the last write to the row would
/// fill the cache with the row as it was before, and the cache's guarantee would break. A
/// replica's [`Reader`](crate::query::Reader) does not compile here; do not pass a replica's
/// own `PgPool` either (any `PgPool` is taken to be the primary). Keys, attributes, `invalidate` and
/// `begin_write` come from [`EntityCache`], which this dereferences to.
pub struct Cached<E: CachedEntity> {
    cache: EntityCache<E>,
}

impl<E: CachedEntity> Clone for Cached<E> {
    fn clone(&self) -> Self {
        Cached {
            cache: self.cache.clone(),
        }
    }
}

impl<E: CachedEntity> Deref for Cached<E> {
    type Target = EntityCache<E>;
    fn deref(&self) -> &EntityCache<E> {
        &self.cache
    }
}

/// The entity's own statements on a pool, as the cache's database source.
struct PoolSource<'p> {
    pool: &'p PgPool,
}

impl<E: CachedEntity> CacheSource<E> for PoolSource<'_> {
    async fn load(&self, id: &E::Key) -> Result<Option<E>> {
        let load: DbFuture<'_, Option<E>> = Box::pin(E::find(self.pool, id));
        load.await
    }

    async fn load_many(&self, ids: &[E::Key]) -> Result<Vec<E>> {
        let per_key = E::TABLE.primary_key.len().max(1);
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_PARAMS / per_key) {
            let (sql, args) = select_by_keys::<E>(chunk)?;
            let pool = self.pool;
            let fetch: DbFuture<'_, Vec<E>> = Box::pin(async move {
                Statement::of::<E>("find_many", "SELECT")
                    .run(&sql, async {
                        Ok(sqlx::query_as_with::<_, E, _>(&sql, args)
                            .fetch_all(pool)
                            .await?)
                    })
                    .await
            });
            rows.extend(fetch.await?);
        }
        Ok(rows)
    }
}

impl Cache {
    /// The cached data API of derived entity `E`, with the policy of its
    /// `#[dbpat(cache(...))]` attribute. An entity without a cache policy does not implement
    /// [`CachedEntity`], so asking for its handle does not compile.
    pub fn entity<E: CachedEntity>(&self) -> Cached<E> {
        Cached::new(self.build(E::POLICY, layout_of_columns(&E::TABLE)))
    }
}

impl<E: CachedEntity> Cached<E> {
    pub(super) fn new(cache: EntityCache<E>) -> Self {
        Cached { cache }
    }

    /// The row with this key: Redis first, `pool` on a miss (one load shared by every
    /// concurrent reader of the key, filled back only if no write intervened).
    pub async fn find<P: PrimaryPool + ?Sized>(&self, pool: &P, key: &E::Key) -> Result<Option<E>> {
        let pool = pool.primary_pool();
        self.cache
            .read(&PoolSource { pool }, key)
            .instrument(spans::operation(E::TABLE.entity, "find"))
            .await
    }

    /// The row with this key, or [`Error::NotFound`] naming the entity and the key.
    pub async fn get<P: PrimaryPool + ?Sized>(&self, pool: &P, key: &E::Key) -> Result<E> {
        self.find(pool, key)
            .await?
            .ok_or_else(|| Error::not_found(E::TABLE.entity, key))
    }

    /// The rows with these keys, in the order asked (`None` where there is no row): one
    /// `MGET`, then one query for all the misses.
    pub async fn find_many<P: PrimaryPool + ?Sized>(
        &self,
        pool: &P,
        keys: &[E::Key],
    ) -> Result<Vec<Option<E>>> {
        let pool = pool.primary_pool();
        self.cache
            .read_many(&PoolSource { pool }, keys)
            .instrument(spans::operation(E::TABLE.entity, "find_many"))
            .await
    }

    /// Whether a row with this key exists (a cached read).
    pub async fn exists<P: PrimaryPool + ?Sized>(&self, pool: &P, key: &E::Key) -> Result<bool> {
        Ok(self.find(pool, key).await?.is_some())
    }

    /// `SELECT count(*)` of the whole table, from PostgreSQL (counts are not cached).
    pub async fn count<P: PrimaryPool + ?Sized>(&self, pool: &P) -> Result<i64> {
        let pool = pool.primary_pool();
        let count: DbFuture<'_, i64> = Box::pin(E::count(pool));
        count.await
    }

    /// A query over the table, as [`Table::query`](crate::Table::query). Its reads
    /// (`fetch_all`, `count`, `stream`, ...) run on PostgreSQL: query results are not cached
    /// (rows read by key are). Its writes — `update().set(..).execute(&pool)` and
    /// `delete(&pool)` — run inside the cache protocol: every row they touch is invalidated
    /// (see [`Cached::filter`]).
    pub fn query(&self) -> Select<'static, E, &Cached<E>> {
        E::query().with_via(self)
    }

    /// A query starting from `filter`, as [`Table::filter`](crate::Table::filter); reads run
    /// on PostgreSQL. `users.filter(f).update().set(User::STATUS, s).execute(&pool)` and
    /// `users.filter(f).delete(&pool)` run in a transaction, `... RETURNING` the rows they
    /// touch; each row's key is registered as a write in flight before `COMMIT`, and
    /// invalidated (write-through: stored) after it, so no read that starts after the commit
    /// returns a row as it was before.
    pub fn filter(&self, filter: Filter<E>) -> Select<'static, E, &Cached<E>> {
        E::filter(filter).with_via(self)
    }

    /// `INSERT ... RETURNING *` ([`Table::insert`](crate::Table::insert)); afterwards a negative entry or fill lease
    /// for the new key is gone, so the next read loads the row.
    pub async fn insert<P: PrimaryPool + ?Sized>(&self, pool: &P, row: &E) -> Result<E> {
        let pool = pool.primary_pool();
        self.cache
            .insert_with(|| -> DbFuture<'_, E> { Box::pin(E::insert(pool, row)) })
            .instrument(spans::operation(E::TABLE.entity, "insert"))
            .await
    }

    /// [`Table::insert_many`](crate::Table::insert_many) in one statement; afterwards no negative entry or lease is left
    /// for any of the new keys.
    pub async fn insert_many<P: PrimaryPool + ?Sized>(
        &self,
        pool: &P,
        rows: &[E],
    ) -> Result<Vec<E>> {
        let pool = pool.primary_pool();
        self.cache
            .insert_many_with(|| -> DbFuture<'_, Vec<E>> { Box::pin(E::insert_many(pool, rows)) })
            .instrument(spans::operation(E::TABLE.entity, "insert_many"))
            .await
    }

    /// Whole-row update ([`Table::update`](crate::Table::update), versioned when the entity has a version column:
    /// a stale version is [`Error::Conflict`] and invalidates the entry). On success `row`
    /// holds the committed row, which write-through stores.
    pub async fn update<P: PrimaryPool + ?Sized>(&self, pool: &P, row: &mut E) -> Result<()> {
        let pool = pool.primary_pool();
        let key = row.key();
        let mut updated = row.clone();
        let committed = self
            .cache
            .write_with(&key, || -> DbFuture<'_, E> {
                Box::pin(async move {
                    E::update(pool, &mut updated).await?;
                    Ok(updated)
                })
            })
            .instrument(spans::operation(E::TABLE.entity, "update"))
            .await?;
        *row = committed;
        Ok(())
    }

    /// A partial update of the row with `key`, run inside the cache protocol:
    /// `users.patch(&id).set(User::NAME, "x").execute(&pool)`, exactly as on the table.
    pub fn patch<'k>(&self, key: &'k E::Key) -> Patch<'k, E, &Cached<E>> {
        Patch::via(key, self)
    }

    /// `DELETE` ([`Table::delete`](crate::Table::delete); [`Error::NotFound`] if there was no row). Afterwards the
    /// entry (or, with write-through, a negative entry) and the key's `<entity>:<id>:*`
    /// attribute keys are gone.
    pub async fn delete<P: PrimaryPool + ?Sized>(&self, pool: &P, key: &E::Key) -> Result<()> {
        let pool = pool.primary_pool();
        self.cache
            .delete_with(key, || -> DbFuture<'_, ()> {
                Box::pin(E::delete(pool, key))
            })
            .instrument(spans::operation(E::TABLE.entity, "delete"))
            .await
    }
}

impl<'k, E: CachedEntity> Patch<'k, E, &Cached<E>> {
    /// Runs the patch on `pool` inside the cache protocol and returns the row as it is now
    /// (see [`Patch::execute`](crate::query::Patch) on the table).
    pub async fn execute<P: PrimaryPool + ?Sized>(self, pool: &P) -> Result<E> {
        let pool = pool.primary_pool();
        let (patch, cached) = self.into_direct();
        let key = patch.key();
        cached
            .cache
            .write_with(key, || -> DbFuture<'_, E> { Box::pin(patch.execute(pool)) })
            .instrument(spans::operation(E::TABLE.entity, "patch"))
            .await
    }
}
