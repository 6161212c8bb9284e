//! Eager loads through the entity cache: the [`Cached`] handle of the entity whose rows come
//! back loads them with its `find_many` (one `MGET`, one query for the misses, filled back
//! under the cache's guarantee), with the table's vocabulary —
//! `User::load_parents(&pool, Order::USER, &orders)` becomes
//! `users.load_parents(&pool, Order::USER, &orders)`: same name, same arguments, same return
//! type (see [`Table::load_parents`](crate::Table::load_parents) for why the receiver is the
//! loaded entity).
//!
//! - **Parents** (`users.load_parents`): the distinct non-NULL foreign keys of the children
//!   are already in hand, so no query runs for them at all when every parent is cached.
//! - **Children** (`orders.load_children`): which rows are the children is a question only
//!   PostgreSQL can answer, so one key-only query runs
//!   (`SELECT <child key> FROM <child> WHERE <foreign key> = ANY($1) ORDER BY <child key>`,
//!   served by the foreign key's index, narrow rows), then the cached `find_many` of those
//!   keys. It pays off when child rows are wide or their misses are rare; otherwise the
//!   uncached [`Relation::load_children`], one statement returning whole rows, is cheaper.
//!   A child whose foreign key changed between the key query and the cached read is placed by
//!   the foreign key it has now (dropped when that is not one of the parents given); a child
//!   deleted meanwhile is left out.

use super::cached::Cached;
use super::source::CachedEntity;
use crate::ddl::ident;
use crate::error::Result;
use crate::query::eager::Keys;
use crate::query::{LoadKey, Relation, TableRow};
use sqlx::{PgPool, Postgres};
use std::future::Future;
use std::pin::Pin;

/// A boxed database future, `Send` for every lifetime (see the `cached` module docs).
type DbFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

impl<E: CachedEntity> Cached<E> {
    /// The parent of each of `children` through `rel`, aligned with `children` (`None` for a
    /// NULL foreign key or a missing parent): the cached `find_many` of the distinct non-NULL
    /// keys — hits from Redis, one query for the misses. The cached form of
    /// [`Table::load_parents`](crate::Table::load_parents).
    pub async fn load_parents<'a, C, I>(
        &self,
        pool: &PgPool,
        rel: Relation<C, E>,
        children: I,
    ) -> Result<Vec<Option<E>>>
    where
        C: TableRow + 'a,
        E::Key: LoadKey,
        I: IntoIterator<Item = &'a C>,
    {
        let mut keys = Keys::of(children.into_iter().map(|c| rel.parent_key(c)));
        if keys.slots() == 0 {
            return Ok((0..keys.rows()).map(|_| None).collect());
        }
        let distinct = keys.take_distinct();
        let found = self.find_many(pool, &distinct).await?;
        Ok(keys.spread(found))
    }

    /// The rows of `E` that refer to each of `parents` through `rel`, aligned with `parents`,
    /// in the order of `E`'s key within a parent: one key-only query
    /// (`SELECT <key> FROM <table> WHERE <foreign key> = ANY($1) ORDER BY <key>`), then the
    /// cached `find_many` of those keys. The cached form of
    /// [`Table::load_children`](crate::Table::load_children).
    ///
    /// Which rows are the children only PostgreSQL knows, so the key query always runs (narrow
    /// rows, served by the foreign key's index); it pays off when the child rows are wide or
    /// mostly cached, otherwise the uncached load (one statement returning whole rows) is
    /// cheaper. A child whose foreign key changed between the key query and the cached read is
    /// placed by the foreign key it has now (left out when that is not one of `parents`); a
    /// child deleted meanwhile is left out.
    pub async fn load_children<'a, P, I>(
        &self,
        pool: &PgPool,
        rel: Relation<E, P>,
        parents: I,
    ) -> Result<Vec<Vec<E>>>
    where
        P: TableRow + 'a,
        P::Key: LoadKey,
        E::Key: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Unpin,
        I: IntoIterator<Item = &'a P>,
    {
        let mut keys = Keys::of(parents.into_iter().map(|p| Some(p.key())));
        if keys.slots() == 0 {
            return Ok((0..keys.rows()).map(|_| Vec::new()).collect());
        }
        let key = ident(E::TABLE.primary_key[0]);
        // Identifiers from the model only; the parent keys are the one bound array.
        let sql = format!(
            "SELECT {key} FROM {} WHERE {} = ANY($1) ORDER BY {key}",
            ident(E::TABLE.name),
            ident(rel.column_name()),
        );
        let array = P::Key::bind_array(keys.take_distinct());
        let mut args = sqlx::postgres::PgArguments::default();
        array.bind(&mut args).map_err(crate::Error::encode)?;
        let fetch: DbFuture<'_, Vec<E::Key>> = Box::pin(async move {
            Ok(sqlx::query_scalar_with::<_, E::Key, _>(&sql, args)
                .fetch_all(pool)
                .await?)
        });
        let ids = fetch.await?;
        let rows = self.find_many(pool, &ids).await?;
        Ok(keys.group(rows.into_iter().flatten(), |child| rel.parent_key(child)))
    }

    /// Each of `parents` with its rows of `E` through `rel`: [`Cached::load_children`] zipped
    /// with `parents`. The cached form of [`Table::with_children`](crate::Table::with_children).
    pub async fn with_children<P>(
        &self,
        pool: &PgPool,
        rel: Relation<E, P>,
        parents: Vec<P>,
    ) -> Result<Vec<(P, Vec<E>)>>
    where
        P: TableRow,
        P::Key: LoadKey,
        E::Key: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Unpin,
    {
        let children = self.load_children(pool, rel, &parents).await?;
        Ok(parents.into_iter().zip(children).collect())
    }
}
