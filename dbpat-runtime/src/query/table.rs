//! [`Table`]: the typed data API every `#[derive(Entity)]` struct gets.

use super::eager::LoadKey;
use super::filter::Filter;
use super::patch::Patch;
use super::relation::{BelongsTo, Relation};
use super::row::TableRow;
use super::select::Select;
use super::upsert::Upsert;
use super::value::BindValue;
use super::{lock, read, write};
use crate::error::Result;
use sqlx::{Executor, Postgres};
use std::future::Future;

/// The data API of an entity, on any sqlx executor (`&PgPool`, `&mut PgConnection`, or
/// `&mut *transaction`). Implemented by `#[derive(Entity)]`; bring it into scope with
/// `use dbpat::Table;` (or `use dbpat::prelude::*;`).
///
/// Every operation takes the executor first, then its arguments:
///
/// | operation | returns |
/// |---|---|
/// | `find(ex, &key)` | `Option<Self>` |
/// | `get(ex, &key)` | `Self`, or [`Error::NotFound`](crate::Error::NotFound) |
/// | `find_many(ex, &keys)` | `Vec<Option<Self>>`, in the order of `keys` |
/// | `find_many_for_update(ex, &keys)` | the same, the rows locked `FOR UPDATE` in key order |
/// | `insert(ex, &row)` / `insert_many(ex, &rows)` | the rows as stored |
/// | `upsert(ex, &row).on(E::EMAIL_KEY).do_update(cols)` / `.do_nothing()` | the row as stored / `Option<Self>` |
/// | `upsert_many(ex, &rows).on(key).do_update(cols)` / `.do_nothing()` | the rows written |
/// | `update(ex, &mut row)` | `()`, `row` reloaded (versioned when the entity has a version) |
/// | `patch(&key).set(..).execute(ex)` | the row as it is now |
/// | `delete(ex, &key)` | `()`, or `NotFound` |
/// | `count(ex)` / `exists(ex, &key)` | `i64` / `bool` |
/// | `query()` / `filter(f)` | a [`Select`] (also `filter(f).update().set(..).execute(ex)` and `.delete(ex)`) |
/// | `row.children::<C>()` | a [`Select`] of the rows of `C` whose foreign key is `row`'s key |
/// | `load_children(ex, rel, &parents)` | `Vec<Vec<Self>>`, the children of each parent, in one query |
/// | `load_parents(ex, rel, &children)` | `Vec<Option<Self>>`, the parent of each child, in one query |
/// | `with_children(ex, rel, parents)` | `Vec<(P, Vec<Self>)>`, each parent with its children |
///
/// The cached handle ([`Cached`](crate::cache::Cached)) has the same operations with the same
/// names, arguments and return types: `User::find(&pool, &id)` becomes
/// `users.find(&pool, &id)`.
///
/// The derive implements [`TableRow`] (the glue: binding fields by column position); every
/// `TableRow` is a `Table`. Every statement text comes from [`TableRow::sql`], rendered once.
pub trait Table: TableRow {
    /// The row with this primary key, if any.
    fn find<'e, X>(ex: X, key: &Self::Key) -> impl Future<Output = Result<Option<Self>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        read::find(ex, key)
    }

    /// The row with this primary key, or [`Error::NotFound`](crate::Error::NotFound) naming
    /// the entity and the key.
    fn get<'e, X>(ex: X, key: &Self::Key) -> impl Future<Output = Result<Self>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        read::get(ex, key)
    }

    /// The rows with these keys, in the order asked (`None` where there is no row), in one
    /// query (`WHERE (key) IN (...)`). One statement binds at most 65,535 values: more keys
    /// than that fail with [`Error::InvalidQuery`](crate::Error::InvalidQuery) (split them, or
    /// use the cached `find_many`, which splits by itself). A key asked twice gets its row
    /// twice, hence `Self: Clone`.
    fn find_many<'e, X>(
        ex: X,
        keys: &[Self::Key],
    ) -> impl Future<Output = Result<Vec<Option<Self>>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
        Self: Clone,
    {
        read::find_many(ex, keys)
    }

    /// [`Table::find_many`] that also locks the rows `FOR UPDATE` until the transaction ends,
    /// always in primary-key order whatever the order of `keys` (`WHERE (key) IN (...) ORDER
    /// BY key FOR UPDATE`): transactions that lock overlapping sets of rows this way queue on
    /// the first row they share instead of deadlocking. Run it inside a transaction, before
    /// writing any of the rows (e.g. the two accounts of a transfer). The rows come back in
    /// the order of `keys`, `None` where there is no row. Bypasses any cache: locks are taken
    /// in PostgreSQL.
    fn find_many_for_update<'e, X>(
        ex: X,
        keys: &[Self::Key],
    ) -> impl Future<Output = Result<Vec<Option<Self>>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
        Self: Clone,
    {
        lock::find_many_for_update(ex, keys)
    }

    /// Whether a row with this key exists.
    fn exists<'e, X>(ex: X, key: &Self::Key) -> impl Future<Output = Result<bool>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        read::exists::<Self, X>(ex, key)
    }

    /// `SELECT count(*)` of the whole table.
    fn count<'e, X>(ex: X) -> impl Future<Output = Result<i64>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        read::count::<Self, X>(ex)
    }

    /// `INSERT ... RETURNING *`: writes every column except the server-owned ones (generated
    /// key, `created_at`, `updated_at`, version), which come back filled by their defaults.
    fn insert<'e, X>(ex: X, row: &Self) -> impl Future<Output = Result<Self>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::insert(ex, row)
    }

    /// `INSERT ... RETURNING *` of the row exactly as given: every column is written, the
    /// server-owned ones too (a chosen key, a past `created_at` that routes the row to its
    /// partition, a version). For backfills and restores; [`Table::insert`] is the everyday one.
    fn insert_exact<'e, X>(ex: X, row: &Self) -> impl Future<Output = Result<Self>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::insert_exact(ex, row)
    }

    /// Inserts all rows in one statement and one round trip (`INSERT ... SELECT FROM
    /// UNNEST($1::uuid[], $2::text[], ...)`), returning them with server defaults filled in.
    /// Array columns travel flattened with per-row bounds, so ragged `Vec<Vec<T>>` work. The
    /// rows come back in input order in practice (PostgreSQL does not promise it: match them
    /// by a unique column if that matters).
    fn insert_many<'e, X>(ex: X, rows: &[Self]) -> impl Future<Output = Result<Vec<Self>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::insert_many(ex, rows)
    }

    /// Like [`Table::insert_many`] without `RETURNING`: only the number of rows comes back.
    fn insert_many_count<'e, X>(ex: X, rows: &[Self]) -> impl Future<Output = Result<u64>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::insert_many_count(ex, rows)
    }

    /// `INSERT ... ON CONFLICT (<key>) ...` of one row: name a unique key of the model with
    /// [`.on(..)`](Upsert::on) (`User::PKEY`, `User::EMAIL_KEY`, ...), then
    /// [`.do_nothing()`](super::OnConflict::do_nothing) (`Option<Self>`: `None` when the key
    /// existed) or [`.do_update(cols)`](super::OnConflict::do_update) /
    /// [`.do_update_all()`](super::OnConflict::do_update_all) (the row as stored). A
    /// versioned entity's update bumps the version. The insert writes the columns
    /// [`Table::insert`] writes, plus the key when the target is the primary key.
    ///
    /// ```no_run
    /// # use dbpat_runtime::query::{Column, ConflictTarget};
    /// # use dbpat_runtime::Table;
    /// # async fn demo<User: Table>(pool: sqlx::PgPool, ann: User, email_key: ConflictTarget<User>,
    /// #     name: Column<User, String>) -> dbpat_runtime::Result<()> {
    /// let ann = User::upsert(&pool, &ann).on(email_key).do_update(name).await?;
    /// # let _ = ann; Ok(()) }
    /// ```
    fn upsert<'e, 'r, X>(ex: X, row: &'r Self) -> Upsert<Self, X, &'r Self>
    where
        X: Executor<'e, Database = Postgres>,
    {
        Upsert::via(ex, row, super::Direct)
    }

    /// [`Table::upsert`] of a batch in one statement and one round trip, over the `UNNEST`
    /// insert of [`Table::insert_many`]: `.on(key).do_nothing()` returns the rows inserted,
    /// `.do_update(cols)` every row as stored. Two rows with the same key in one
    /// `do_update` batch are [`Error::UpsertDuplicateKey`](crate::Error::UpsertDuplicateKey).
    fn upsert_many<'e, 'r, X>(ex: X, rows: &'r [Self]) -> Upsert<Self, X, &'r [Self]>
    where
        X: Executor<'e, Database = Postgres>,
    {
        Upsert::via(ex, rows, super::Direct)
    }

    /// Writes every updatable column (all but key, timestamps and version) and reloads `row`
    /// from `RETURNING`. With a version column this is the versioned update
    /// (`..., version = version + 1 WHERE id = $1 AND version = $n`): a stale version changes
    /// nothing and fails with [`Error::Conflict`](crate::Error::Conflict); on success `row`
    /// carries the new version. A missing row is [`Error::NotFound`](crate::Error::NotFound).
    fn update<'e, X>(ex: X, row: &mut Self) -> impl Future<Output = Result<()>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::update(ex, row)
    }

    /// A partial update of the row with `key`: `Entity::patch(&id).set(COL, v).execute(ex)`.
    fn patch(key: &Self::Key) -> Patch<'_, Self> {
        Patch::new(key)
    }

    /// `DELETE ... WHERE <key>`; [`Error::NotFound`](crate::Error::NotFound) if there was no
    /// such row.
    fn delete<'e, X>(ex: X, key: &Self::Key) -> impl Future<Output = Result<()>> + Send
    where
        X: Executor<'e, Database = Postgres>,
    {
        write::delete::<Self, X>(ex, key)
    }

    /// A query builder over the table: filter, order, limit/offset, keyset pagination.
    fn query() -> Select<'static, Self> {
        Select::new()
    }

    /// A query builder starting from `filter`.
    fn filter(filter: Filter<Self>) -> Select<'static, Self> {
        Select::new().filter(filter)
    }

    /// The rows of `Self` whose one foreign key to `P` is `parent`'s key
    /// (`Order::belonging_to(&user)`): [`BelongsTo::RELATION`]`.children_of(parent)`. A child
    /// with several foreign keys to `P` names the one meant instead:
    /// `Transfer::FROM_ACCOUNT.children_of(&account)`.
    fn belonging_to<P>(parent: &P) -> Select<'static, Self>
    where
        P: TableRow,
        P::Key: BindValue,
        Self: BelongsTo<P, ForeignKey = P::Key>,
    {
        Self::RELATION.children_of(parent)
    }

    /// The rows of `C` that refer to this row through `C`'s one foreign key to `Self`
    /// (`user.children::<Order>()`): [`Table::belonging_to`] seen from the parent.
    fn children<C>(&self) -> Select<'static, C>
    where
        Self::Key: BindValue,
        C: BelongsTo<Self, ForeignKey = Self::Key>,
    {
        C::RELATION.children_of(self)
    }

    /// The rows of `Self` that refer to each of `parents` through `rel`, aligned with
    /// `parents`, in one statement (`WHERE <foreign key> = ANY($1)`): the same as
    /// `rel.load_children(ex, parents)` ([`Relation::load_children`]).
    ///
    /// The eager loads exist in this form, receiver first, because it is the form of the
    /// cached handle: the receiver is the entity whose rows come back, as in `find_many`, so
    /// moving a load to the cache is a one-word change —
    /// `Order::load_children(&pool, Order::USER, &users)` becomes
    /// `orders.load_children(&pool, Order::USER, &users)`, with the same arguments and the
    /// same return type. The relation's own methods are the shorter spelling of the
    /// uncached load.
    fn load_children<'a, 'e, X, P, I>(
        ex: X,
        rel: Relation<Self, P>,
        parents: I,
    ) -> impl Future<Output = Result<Vec<Vec<Self>>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
        P: TableRow + 'a,
        P::Key: LoadKey,
        I: IntoIterator<Item = &'a P>,
        Self: Clone,
    {
        rel.load_children(ex, parents)
    }

    /// The row of `Self` each of `children` refers to through `rel`, aligned with `children`
    /// (`None` for a NULL foreign key or a missing parent), in one statement
    /// (`WHERE <key> = ANY($1)` over the distinct keys): `rel.load_parents(ex, children)`
    /// ([`Relation::load_parents`]). Through the cache:
    /// `users.load_parents(&pool, Order::USER, &orders)`.
    fn load_parents<'a, 'e, X, C, I>(
        ex: X,
        rel: Relation<C, Self>,
        children: I,
    ) -> impl Future<Output = Result<Vec<Option<Self>>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
        C: TableRow + 'a,
        Self::Key: LoadKey,
        I: IntoIterator<Item = &'a C>,
        Self: Clone,
    {
        rel.load_parents(ex, children)
    }

    /// Each of `parents` with its rows of `Self` through `rel`, in one statement:
    /// `rel.with_children(ex, parents)` ([`Relation::with_children`]).
    fn with_children<'e, X, P>(
        ex: X,
        rel: Relation<Self, P>,
        parents: Vec<P>,
    ) -> impl Future<Output = Result<Vec<(P, Vec<Self>)>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
        P: TableRow,
        P::Key: LoadKey,
        Self: Clone,
    {
        async move { rel.with_children(ex, parents).await }
    }
}

impl<T: TableRow> Table for T {}
