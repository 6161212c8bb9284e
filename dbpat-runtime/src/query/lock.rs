//! Row locks: [`Locked`], a [`Select`] that ends with `FOR UPDATE` (or `FOR NO KEY UPDATE`,
//! `FOR SHARE`, `FOR KEY SHARE`), optionally `SKIP LOCKED` or `NOWAIT`; and the key-ordered
//! lock of [`Table::find_many_for_update`](crate::Table::find_many_for_update).
//!
//! The builder is typed: `skip_locked()` and `nowait()` exist only on a [`Locked`] select that
//! has not chosen how to wait yet, so neither compiles without a lock strength, and the two
//! cannot be combined.

use super::read::{in_key_order, select_by_keys};
use super::row::TableRow as Table;
use super::select::{fetch_all, fetch_optional, not_found, Select};
use super::stream::{rows, RowStream};
use crate::ddl::ident_list;
use crate::error::Result;
use sqlx::postgres::PgArguments;
use sqlx::{Executor, Postgres};
use std::marker::PhantomData;

/// The lock strength of a [`Locked`] select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockStrength {
    /// `FOR UPDATE`: the rows will be updated or deleted; blocks every other lock.
    Update,
    /// `FOR NO KEY UPDATE`: updated without changing the key; does not block `FOR KEY SHARE`
    /// (the lock a foreign-key check takes on the parent row). What an `UPDATE` of non-key
    /// columns takes by itself.
    NoKeyUpdate,
    /// `FOR SHARE`: read, and kept from changing until commit; other `FOR SHARE` and
    /// `FOR KEY SHARE` locks may be taken too.
    Share,
    /// `FOR KEY SHARE`: the key is kept from changing (or the row from being deleted); only
    /// `FOR UPDATE` conflicts.
    KeyShare,
}

impl LockStrength {
    /// The locking clause: `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE`, `FOR KEY SHARE`.
    pub fn sql(self) -> &'static str {
        match self {
            LockStrength::Update => "FOR UPDATE",
            LockStrength::NoKeyUpdate => "FOR NO KEY UPDATE",
            LockStrength::Share => "FOR SHARE",
            LockStrength::KeyShare => "FOR KEY SHARE",
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What a [`Locked`] select does about a row another transaction holds: [`Wait`],
/// [`SkipLocked`] or [`NoWait`]. Sealed.
pub trait LockWait: sealed::Sealed {
    /// The text after the lock strength (empty, ` SKIP LOCKED` or ` NOWAIT`).
    const SQL: &'static str;
}

/// Waits for the other transaction to commit or roll back (the default).
#[derive(Debug, Clone, Copy)]
pub struct Wait;

/// `SKIP LOCKED`: rows another transaction holds are left out of the result.
#[derive(Debug, Clone, Copy)]
pub struct SkipLocked;

/// `NOWAIT`: a row another transaction holds fails the statement at once with SQLSTATE 55P03
/// (`lock_not_available`), which [`Error::is_lock_timeout`](crate::Error::is_lock_timeout)
/// recognises.
#[derive(Debug, Clone, Copy)]
pub struct NoWait;

impl sealed::Sealed for Wait {}
impl sealed::Sealed for SkipLocked {}
impl sealed::Sealed for NoWait {}
impl LockWait for Wait {
    const SQL: &'static str = "";
}
impl LockWait for SkipLocked {
    const SQL: &'static str = " SKIP LOCKED";
}
impl LockWait for NoWait {
    const SQL: &'static str = " NOWAIT";
}

/// A [`Select`] that locks the rows it returns, from [`Select::for_update`],
/// [`Select::for_no_key_update`], [`Select::for_share`] or [`Select::for_key_share`]. Run it
/// inside a transaction ([`transaction`](crate::transaction), or `&mut *tx`): the locks are
/// held until it ends. On a pool in autocommit they end with the statement.
///
/// The filter, order and limit are set on the [`Select`] first; the lock is the last step, and
/// renders at the end: `SELECT ... WHERE ... ORDER BY ... LIMIT $n FOR UPDATE [SKIP LOCKED |
/// NOWAIT]`. A lock over both tiers ([`ReadTiers::All`](crate::query::ReadTiers::All), a
/// `UNION ALL`, which PostgreSQL cannot lock) fails with
/// [`Error::InvalidQuery`](crate::Error::InvalidQuery) when it runs.
///
/// ```
/// # use dbpat_runtime::query::Column;
/// # fn demo<E: dbpat_runtime::Table>(status: Column<E, String>, id: Column<E, i64>) {
/// // A work queue: each worker takes the next ten jobs nobody else holds.
/// let next = E::filter(status.eq("pending"))
///     .order_by(id.asc())
///     .limit(10)
///     .for_update()
///     .skip_locked(); // SELECT ... WHERE status = $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
/// # let _ = next; }
/// ```
pub struct Locked<'a, E, W = Wait> {
    select: Select<'a, E>,
    strength: LockStrength,
    wait: PhantomData<W>,
}

/// The lock modes of a [`Select`] (here, so that `select` does not depend on `lock`).
impl<'a, E: Table> Select<'a, E> {
    /// `... FOR UPDATE`: locks the rows it returns until the transaction ends (see
    /// [`Locked`]; add `.skip_locked()` or `.nowait()` there).
    pub fn for_update(self) -> Locked<'a, E> {
        Locked::new(self, LockStrength::Update)
    }

    /// `... FOR NO KEY UPDATE`: like [`Select::for_update`] for updates that keep the key,
    /// so foreign-key checks against these rows are not blocked.
    pub fn for_no_key_update(self) -> Locked<'a, E> {
        Locked::new(self, LockStrength::NoKeyUpdate)
    }

    /// `... FOR SHARE`: the rows cannot change until the transaction ends; other readers may
    /// share the lock.
    pub fn for_share(self) -> Locked<'a, E> {
        Locked::new(self, LockStrength::Share)
    }

    /// `... FOR KEY SHARE`: the rows cannot be deleted nor their key changed until the
    /// transaction ends; only `FOR UPDATE` conflicts.
    pub fn for_key_share(self) -> Locked<'a, E> {
        Locked::new(self, LockStrength::KeyShare)
    }
}

impl<E, W: LockWait> std::fmt::Debug for Locked<'_, E, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locked")
            .field("select", &self.select)
            .field("lock", &format_args!("{}{}", self.strength.sql(), W::SQL))
            .finish()
    }
}

impl<'a, E: Table> Locked<'a, E, Wait> {
    pub(crate) fn new(select: Select<'a, E>, strength: LockStrength) -> Self {
        Locked {
            select,
            strength,
            wait: PhantomData,
        }
    }

    /// `SKIP LOCKED`: rows another transaction holds are not returned (nor waited for). For
    /// work queues; the result is an inconsistent view of the table by design.
    pub fn skip_locked(self) -> Locked<'a, E, SkipLocked> {
        self.waiting()
    }

    /// `NOWAIT`: a row another transaction holds fails the query at once with SQLSTATE 55P03,
    /// an [`Error::Database`](crate::Error::Database) for which
    /// [`Error::is_lock_timeout`](crate::Error::is_lock_timeout) is true (not retried by
    /// [`transaction`](crate::transaction)).
    pub fn nowait(self) -> Locked<'a, E, NoWait> {
        self.waiting()
    }

    fn waiting<W>(self) -> Locked<'a, E, W> {
        Locked {
            select: self.select,
            strength: self.strength,
            wait: PhantomData,
        }
    }
}

impl<'a, E: Table, W: LockWait> Locked<'a, E, W> {
    fn build(&self) -> Result<(String, PgArguments)> {
        self.select.build_locked(self.strength.sql(), W::SQL)
    }

    /// The SQL text this query runs; empty if it cannot run (see [`Select::to_sql`]).
    pub fn to_sql(&self) -> String {
        self.build().map(|(sql, _)| sql).unwrap_or_default()
    }

    /// Locks and returns all matching rows.
    pub async fn fetch_all<'e, X>(self, ex: X) -> Result<Vec<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        fetch_all("select_locked", self.build(), ex).await
    }

    /// The first matching row, locked, if any. The statement runs to its end, so every
    /// matching row is locked, not only the first: add `.limit(1)` to the select to lock one.
    pub async fn fetch_optional<'e, X>(self, ex: X) -> Result<Option<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        fetch_optional("select_locked", self.build(), ex).await
    }

    /// The first matching row, locked, or [`Error::NotFound`](crate::Error::NotFound) (with
    /// an empty key). Like [`Locked::fetch_optional`], it locks every matching row: add
    /// `.limit(1)` to lock one.
    pub async fn fetch_one<'e, X>(self, ex: X) -> Result<E>
    where
        X: Executor<'e, Database = Postgres>,
    {
        self.fetch_optional(ex).await?.ok_or_else(not_found::<E>)
    }

    /// The matching rows as a stream, each locked as it is read (see [`Select::stream`]).
    pub fn stream<'e, X>(self, ex: X) -> RowStream<'e, E>
    where
        X: Executor<'e, Database = Postgres> + 'e,
        E: 'e,
    {
        rows("select_locked", self.build(), ex)
    }
}

/// `SELECT ... WHERE (key) IN (...) ORDER BY <key> FOR UPDATE`: the rows with `keys`, locked
/// in primary-key order whatever the order of `keys`, returned in the order of `keys`.
pub(crate) async fn find_many_for_update<'e, E: Table + Clone, X>(
    ex: X,
    keys: &[E::Key],
) -> Result<Vec<Option<E>>>
where
    X: Executor<'e, Database = Postgres>,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (mut sql, args) = select_by_keys::<E>(keys)?;
    sql.push_str(" ORDER BY ");
    sql.push_str(&ident_list(E::TABLE.primary_key));
    sql.push(' ');
    sql.push_str(LockStrength::Update.sql());
    let rows = fetch_all("find_many_for_update", Ok((sql, args)), ex).await?;
    Ok(in_key_order(keys, rows))
}
