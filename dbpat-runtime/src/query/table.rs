//! [`Table`]: the typed data API every `#[derive(Entity)]` struct gets.

use super::error::{Error, Result};
use super::filter::Filter;
use super::select::Select;
use super::sql::TableSql;
use super::write::{self, Patch};
use crate::entity::Entity;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Executor, FromRow, Postgres};
use std::fmt::Debug;
use std::future::Future;

/// The data API of an entity, on any sqlx executor (`&PgPool`, `&mut PgConnection`, or
/// `&mut *transaction`). Implemented by `#[derive(Entity)]`; bring it into scope with
/// `use dbpat::Table;` (or `use dbpat::prelude::*;`).
///
/// The required items are the derive's glue (binding fields by column position); the provided
/// methods are the API. Every statement text comes from [`Table::sql`], rendered once.
pub trait Table: Entity + for<'r> FromRow<'r, PgRow> + Send + Sync + Unpin {
    /// The primary key: the key field's type, or a tuple for a composite key.
    type Key: Debug + Clone + Send + Sync + 'static;

    /// The entity's SQL, rendered on first use and kept in a `static`.
    fn sql() -> &'static TableSql;

    /// This row's primary key.
    fn key(&self) -> Self::Key;

    /// Binds a key's values in primary-key order.
    #[doc(hidden)]
    fn bind_key(key: &Self::Key, args: &mut PgArguments) -> Result<(), BoxDynError>;

    /// Binds the field at column position `index`.
    #[doc(hidden)]
    fn bind_column(&self, index: usize, args: &mut PgArguments) -> Result<(), BoxDynError>;

    /// Binds column `index` of every row as `UNNEST` parameters.
    #[doc(hidden)]
    fn bind_unnest(rows: &[Self], index: usize, args: &mut PgArguments) -> Result<(), BoxDynError>;

    /// The optimistic-locking version, for entities with a `#[dbpat(version)]` column.
    fn version(&self) -> Option<i64> {
        None
    }

    /// `INSERT ... RETURNING *`: writes every column except the server-owned ones (generated
    /// key, `created_at`, `updated_at`, version), which come back filled by their defaults.
    fn insert<'e, X>(&self, ex: X) -> impl Future<Output = Result<Self>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::insert(self, ex)
    }

    /// `INSERT ... RETURNING *` of the row exactly as given: every column is written, the
    /// server-owned ones too (a chosen key, a past `created_at` that routes the row to its
    /// partition, a version). For backfills and restores; [`Table::insert`] is the everyday one.
    fn insert_exact<'e, X>(&self, ex: X) -> impl Future<Output = Result<Self>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::insert_exact(self, ex)
    }

    /// Inserts all rows in one statement and one round trip (`INSERT ... SELECT FROM
    /// UNNEST($1::uuid[], $2::text[], ...)`), returning them with server defaults filled in.
    /// Array columns travel flattened with per-row bounds, so ragged `Vec<Vec<T>>` work. The
    /// rows come back in input order in practice (PostgreSQL does not promise it: match them
    /// by a unique column if that matters).
    fn insert_many<'e, X>(rows: &[Self], ex: X) -> impl Future<Output = Result<Vec<Self>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::insert_many(rows, ex)
    }

    /// Like [`Table::insert_many`] without `RETURNING`: only the number of rows comes back.
    fn insert_many_count<'e, X>(rows: &[Self], ex: X) -> impl Future<Output = Result<u64>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::insert_many_count(rows, ex)
    }

    /// The row with this primary key, if any.
    fn find_by_id<'e, X>(
        ex: X,
        key: &Self::Key,
    ) -> impl Future<Output = Result<Option<Self>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::find_by_id(ex, key)
    }

    /// The row with this primary key, or [`Error::NotFound`].
    fn get<'e, X>(ex: X, key: &Self::Key) -> impl Future<Output = Result<Self>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        let found = write::find_by_id(ex, key);
        async move { found.await?.ok_or(Error::NotFound) }
    }

    /// Writes every updatable column (all but key, timestamps and version) and reloads `self`
    /// from `RETURNING`. With a version column this is the versioned update
    /// (`..., version = version + 1 WHERE id = $1 AND version = $n`): a stale version changes
    /// nothing and fails with [`Error::Conflict`]; on success `self` carries the new version.
    /// A missing row is [`Error::NotFound`].
    fn update<'e, X>(&mut self, ex: X) -> impl Future<Output = Result<()>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::update(self, ex)
    }

    /// A partial update of the row with `key`: `Entity::patch(&id).set(COL, v).execute(ex)`.
    fn patch(key: &Self::Key) -> Patch<'_, Self> {
        Patch::new(key)
    }

    /// `DELETE ... WHERE <key>`; [`Error::NotFound`] if there was no such row.
    fn delete<'e, X>(ex: X, key: &Self::Key) -> impl Future<Output = Result<()>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::delete::<Self, X>(ex, key)
    }

    /// `SELECT count(*)` of the whole table.
    fn count<'e, X>(ex: X) -> impl Future<Output = Result<i64>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::count::<Self, X>(ex)
    }

    /// Whether a row with this key exists.
    fn exists<'e, X>(ex: X, key: &Self::Key) -> impl Future<Output = Result<bool>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::exists::<Self, X>(ex, key)
    }

    /// A query builder over the table: filter, order, limit/offset, keyset pagination.
    fn query() -> Select<'static, Self> {
        Select::new()
    }

    /// A query builder starting from `filter`.
    fn filter(filter: Filter<Self>) -> Select<'static, Self> {
        Select::new().filter(filter)
    }
}
