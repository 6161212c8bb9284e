//! The cache over `#[derive(Entity)]` entities: [`TableSource`] loads committed rows with the
//! entity's own statements, and an [`EntityCache`] over it gets typed write methods that run
//! the entity's statements inside the cache protocol, returning [`dbpat::Error`](crate::Error).
//!
//! ```no_run
//! # use dbpat_runtime::cache::{Cache, CacheConfig, CacheEntity, TableSource};
//! # use dbpat_runtime::Table;
//! # async fn demo<User: Table + CacheEntity<Id = <User as Table>::Key>>(
//! #     pool: sqlx::PgPool, id: User::Key, mut user: User,
//! # ) -> Result<(), dbpat_runtime::Error> {
//! let cache = Cache::connect(redis::Client::open("redis://127.0.0.1/").unwrap(), CacheConfig::new("shop:")).await;
//! let users = cache.table::<User>(pool.clone()).expect("User has #[dbpat(cache(...))]");
//! let found = users.find(&id).await?;          // Redis first, PostgreSQL on a miss
//! users.update_row(&mut user).await?;          // UPDATE (versioned if the entity has a version)
//! users.delete_row(&id).await?;                // DELETE, then the entry and user:<id>:* go
//! # Ok(()) }
//! ```

use super::error::BoxError;
use super::handle::{Cache, EntityCache};
use super::source::{CacheEntity, CacheSource};
use crate::ddl::ident;
use crate::query::{Error, Patch, Table};
use sqlx::postgres::PgArguments;
use sqlx::PgPool;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

/// Most bind parameters one statement may carry is 65,535; `load_many` splits above this.
const MAX_PARAMS: usize = 60_000;
const _: () = assert!(MAX_PARAMS <= 65_535);

/// The database side of a cached entity: `find_by_id`, and one `WHERE key IN (...)` query
/// for a batch of misses.
pub struct TableSource<E> {
    pool: PgPool,
    entity: PhantomData<fn() -> E>,
}

impl<E> TableSource<E> {
    /// Loads through `pool`.
    pub fn new(pool: PgPool) -> Self {
        TableSource {
            pool,
            entity: PhantomData,
        }
    }

    /// The pool rows are loaded from (and the typed writes run on).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl<E> Clone for TableSource<E> {
    fn clone(&self) -> Self {
        TableSource::new(self.pool.clone())
    }
}

/// `SELECT <columns> FROM t WHERE (k1, k2) IN (($1, $2), ($3, $4), ...)` for `n` keys.
fn select_by_keys<E: Table>(n: usize) -> String {
    let keys = E::TABLE.primary_key;
    let mut sql = format!("{} WHERE (", E::sql().select);
    sql.push_str(&keys.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", "));
    sql.push_str(") IN (");
    let mut p = 0;
    for row in 0..n {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for k in 0..keys.len() {
            if k > 0 {
                sql.push_str(", ");
            }
            p += 1;
            sql.push_str(&format!("${p}"));
        }
        sql.push(')');
    }
    sql.push(')');
    sql
}

impl<E> CacheSource<E> for TableSource<E>
where
    E: Table + CacheEntity<Id = <E as Table>::Key>,
{
    async fn load(&self, id: &E::Id) -> Result<Option<E>, BoxError> {
        // Boxed as `dyn Future + Send`: the query future's executor lifetimes otherwise defeat
        // the compiler's proof that a cached read is `Send` for every lifetime, and `get` could
        // not run in `tokio::spawn` (a known higher-ranked lifetime limitation of rustc).
        let load: Pin<Box<dyn Future<Output = Result<Option<E>, Error>> + Send + '_>> =
            Box::pin(E::find_by_id(&self.pool, id));
        Ok(load.await?)
    }

    async fn load_many(&self, ids: &[E::Id]) -> Result<Vec<E>, BoxError> {
        let per_key = E::TABLE.primary_key.len().max(1);
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_PARAMS / per_key) {
            let mut args = PgArguments::default();
            for id in chunk {
                E::bind_key(id, &mut args)?;
            }
            let sql = select_by_keys::<E>(chunk.len());
            let fetch: Pin<Box<dyn Future<Output = Result<Vec<E>, sqlx::Error>> + Send + '_>> =
                Box::pin(sqlx::query_as_with::<_, E, _>(&sql, args).fetch_all(&self.pool));
            rows.extend(fetch.await?);
        }
        Ok(rows)
    }
}

impl Cache {
    /// The cached API of entity `E`, loading from and writing to `pool`, with the entity's
    /// `#[dbpat(cache(...))]` policy; `None` if it has none.
    pub fn table<E>(&self, pool: PgPool) -> Option<EntityCache<E, TableSource<E>>>
    where
        E: Table + CacheEntity<Id = <E as Table>::Key>,
    {
        self.entity::<E, _>(TableSource::new(pool))
    }
}

impl<E> EntityCache<E, TableSource<E>>
where
    E: Table + CacheEntity<Id = <E as Table>::Key>,
{
    fn pool(&self) -> &PgPool {
        self.source().pool()
    }

    /// The row with this key: Redis first, PostgreSQL on a miss (see [`EntityCache::get`]).
    pub async fn find(&self, id: &E::Key) -> Result<Option<E>, Error> {
        Ok(self.get(id).await?)
    }

    /// The rows with these keys, in the order asked (`None` where there is no row): one MGET,
    /// and one query for all misses.
    pub async fn find_many(&self, ids: &[E::Key]) -> Result<Vec<Option<E>>, Error> {
        Ok(self.get_many(ids).await?)
    }

    /// `INSERT ... RETURNING *` ([`Table::insert`]); afterwards a negative entry or fill lease
    /// for the new key is gone, so the next read loads the row.
    pub async fn insert_row(&self, row: &E) -> Result<E, Error> {
        let pool = self.pool().clone();
        self.insert(|| async move { row.insert(&pool).await }).await
    }

    /// Whole-row update ([`Table::update`], versioned when the entity has a version column:
    /// a stale version is [`Error::Conflict`] and invalidates the entry). On success `row`
    /// holds the committed row, which write-through stores.
    pub async fn update_row(&self, row: &mut E) -> Result<(), Error> {
        let pool = self.pool().clone();
        let mut updated = row.clone();
        let id = row.key();
        let committed = self
            .update_versioned(&id, || async move {
                updated.update(&pool).await?;
                Ok::<_, Error>(updated)
            })
            .await?;
        *row = committed;
        Ok(())
    }

    /// A partial update (`E::patch(&key).set(...)`), run inside the cache protocol.
    pub async fn patch_row(&self, id: &E::Key, patch: Patch<'_, E>) -> Result<E, Error> {
        let pool = self.pool().clone();
        self.patch(id, || async move { patch.execute(&pool).await })
            .await
    }

    /// `DELETE` ([`Table::delete`]; [`Error::NotFound`] if there was no row). Afterwards the
    /// entry (or, with write-through, a negative entry) and the key's `<entity>:<id>:*`
    /// attribute keys are gone.
    pub async fn delete_row(&self, id: &E::Key) -> Result<(), Error> {
        let pool = self.pool().clone();
        self.delete(id, || async move { E::delete(&pool, id).await })
            .await
    }
}
