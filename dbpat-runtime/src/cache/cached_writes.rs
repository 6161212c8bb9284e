//! Writes through [`Cached`] whose keys are known only from the statement's `RETURNING`:
//! upserts (a conflict on a unique key finds an existing row; an insert makes a new id) and
//! updates and deletes by filter.
//!
//! Each runs in a transaction: the statement returns the rows it wrote (taking their row
//! locks), each row's key is registered as a write in flight ([`EntityCache::begin_write`])
//! **before `COMMIT`**, and each intent is finished after the commit (invalidate, or store the
//! committed row with write-through; a delete leaves no entry). Until the commit no other
//! session sees the new rows, and from the registration on no reader fills those keys, so no
//! read that starts after the commit returns a row as it was before. Registering also removes
//! a negative entry for a newly inserted id. When Redis does not confirm a registration under
//! [`WriteGuarantee::Strict`](super::WriteGuarantee::Strict) the transaction is rolled back
//! and the write fails with [`Error::CacheUnavailable`]: nothing is written.

use super::cached::{Cached, DbFuture};
use super::handle::EntityCache;
use super::intent::WriteIntent;
use super::source::CachedEntity;
use super::spans;
use crate::error::{Error, Result};
use crate::query::update::delete_statement;
use crate::query::upsert::{many_statement, one_statement, upsert_error, Action, Statement};
use crate::query::{OnConflict, Select, Update, UpdateColumns, Upsert};
use crate::telemetry::Statement as TracedStatement;
use futures_util::future::join_all;
use sqlx::postgres::PgArguments;
use sqlx::{PgPool, Postgres, Transaction};
use tracing::Instrument;

/// How the intents of a returning write end after the commit.
#[derive(Clone, Copy)]
enum Finish {
    /// The rows were written: [`WriteIntent::committed`].
    Written,
    /// The rows were deleted: [`WriteIntent::deleted`].
    Deleted,
}

impl<E: CachedEntity> Cached<E> {
    /// [`Table::upsert`](crate::Table::upsert) through the cache: the same builder
    /// (`users.upsert(&pool, &row).on(User::EMAIL_KEY).do_update(User::NAME)`), with the same
    /// return types, run in a transaction inside the cache protocol: the statement returns
    /// the rows it wrote, each row's key is registered as a write in flight before `COMMIT`
    /// and invalidated (write-through: stored) after it. Afterwards no read returns the row
    /// as it was before, and a negative entry for a new id is gone. If Redis does not confirm
    /// a registration under `WriteGuarantee::Strict`, the transaction is rolled back and the
    /// upsert fails with [`Error::CacheUnavailable`]: nothing is written.
    ///
    /// ```no_run
    /// # use dbpat_runtime::cache::{Cached, CachedEntity};
    /// # use dbpat_runtime::query::{Column, ConflictTarget};
    /// # async fn demo<User: CachedEntity>(users: Cached<User>, pool: sqlx::PgPool, ann: User,
    /// #     email_key: ConflictTarget<User>, name: Column<User, String>) -> dbpat_runtime::Result<()> {
    /// let ann: User = users.upsert(&pool, &ann).on(email_key).do_update(name).await?;
    /// # let _ = ann; Ok(()) }
    /// ```
    pub fn upsert<'c, 'p, 'r>(
        &'c self,
        pool: &'p PgPool,
        row: &'r E,
    ) -> Upsert<E, &'p PgPool, &'r E, &'c Cached<E>> {
        Upsert::via(pool, row, self)
    }

    /// [`Table::upsert_many`](crate::Table::upsert_many) through the cache: one statement for
    /// the batch, every returned row's key registered before `COMMIT` and invalidated after.
    pub fn upsert_many<'c, 'p, 'r>(
        &'c self,
        pool: &'p PgPool,
        rows: &'r [E],
    ) -> Upsert<E, &'p PgPool, &'r [E], &'c Cached<E>> {
        Upsert::via(pool, rows, self)
    }

    /// Runs a statement that returns the rows it writes, in a transaction on `pool`,
    /// registering every returned row's key before `COMMIT` and finishing after it.
    async fn write_returning(
        &self,
        statement: TracedStatement,
        pool: &PgPool,
        sql: &str,
        args: PgArguments,
        classify: impl FnOnce(sqlx::Error) -> Error + Send,
        finish: Finish,
    ) -> Result<Vec<E>> {
        let span = spans::operation(statement.entity, statement.operation);
        async {
            let begin: DbFuture<'_, Transaction<'static, Postgres>> =
                Box::pin(async move { Ok(pool.begin().await?) });
            let mut tx = begin.await?;
            let run: DbFuture<'_, Vec<E>> = Box::pin(statement.run(sql, async {
                sqlx::query_as_with::<_, E, _>(sql, args)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(classify)
            }));
            let rows = match run.await {
                Ok(rows) => rows,
                Err(err) => {
                    rollback(tx).await;
                    return Err(err);
                }
            };
            let cache: &EntityCache<E> = self;
            let registered = join_all(rows.iter().map(|row| {
                let key = row.key();
                async move { cache.begin_write(&key).await }
            }))
            .await;
            let mut intents: Vec<WriteIntent<E>> = Vec::with_capacity(rows.len());
            let mut refused = None;
            for r in registered {
                match r {
                    Ok(intent) => intents.push(intent),
                    Err(err) => refused = refused.or(Some(err)),
                }
            }
            if let Some(err) = refused {
                rollback(tx).await;
                join_all(intents.into_iter().map(WriteIntent::abort)).await;
                return Err(err);
            }
            let commit: DbFuture<'_, ()> = Box::pin(async move { Ok(tx.commit().await?) });
            if let Err(err) = commit.await {
                join_all(intents.into_iter().map(WriteIntent::abort)).await;
                return Err(err);
            }
            match finish {
                Finish::Written => {
                    join_all(
                        intents
                            .into_iter()
                            .zip(&rows)
                            .map(|(i, row)| i.committed(row)),
                    )
                    .await;
                }
                Finish::Deleted => {
                    join_all(intents.into_iter().map(WriteIntent::deleted)).await;
                }
            }
            Ok(rows)
        }
        .instrument(span)
        .await
    }

    async fn run_upsert(&self, pool: &PgPool, st: Statement) -> Result<Vec<E>> {
        let constraint = st.constraint;
        self.write_returning(
            TracedStatement::of::<E>("upsert", "INSERT"),
            pool,
            &st.sql,
            st.args,
            move |e| upsert_error::<E>(constraint, e),
            Finish::Written,
        )
        .await
    }
}

/// Rolls back, ignoring a failure (the connection is then closed, which rolls back too).
async fn rollback(tx: Transaction<'static, Postgres>) {
    let done: DbFuture<'_, ()> = Box::pin(async move { Ok(tx.rollback().await?) });
    let _ = done.await;
}

/// The one row of an upsert that must return one.
fn stored<E: CachedEntity>(rows: Vec<E>) -> Result<E> {
    rows.into_iter().next().ok_or_else(|| Error::NotFound {
        entity: E::TABLE.entity,
        key: String::new(),
    })
}

impl<E: CachedEntity> OnConflict<E, &PgPool, &E, &Cached<E>> {
    /// [`OnConflict::do_nothing`](crate::query::OnConflict) through the cache: the row as
    /// inserted, or `None` when the key existed (nothing changed, nothing to invalidate).
    pub async fn do_nothing(self) -> Result<Option<E>> {
        let (pool, row, cached, target) = self.into_parts();
        let st = one_statement(row, &target, &Action::Nothing)?;
        Ok(cached.run_upsert(pool, st).await?.into_iter().next())
    }

    /// `DO UPDATE SET` the chosen columns, through the cache: the row as stored.
    pub async fn do_update(self, columns: impl UpdateColumns<E>) -> Result<E> {
        let (pool, row, cached, target) = self.into_parts();
        let mut set = Vec::new();
        columns.positions(&mut set);
        let st = one_statement(row, &target, &Action::Update(set))?;
        stored(cached.run_upsert(pool, st).await?)
    }

    /// `DO UPDATE SET` every column `update` writes, through the cache: the row as stored.
    pub async fn do_update_all(self) -> Result<E> {
        let (pool, row, cached, target) = self.into_parts();
        let st = one_statement(row, &target, &Action::UpdateAll)?;
        stored(cached.run_upsert(pool, st).await?)
    }
}

impl<E: CachedEntity> OnConflict<E, &PgPool, &[E], &Cached<E>> {
    /// The batch `DO NOTHING` through the cache: the rows inserted.
    pub async fn do_nothing(self) -> Result<Vec<E>> {
        let (pool, rows, cached, target) = self.into_parts();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let st = many_statement(rows, &target, &Action::Nothing)?;
        cached.run_upsert(pool, st).await
    }

    /// The batch `DO UPDATE SET` the chosen columns through the cache: every row as stored.
    pub async fn do_update(self, columns: impl UpdateColumns<E>) -> Result<Vec<E>> {
        let (pool, rows, cached, target) = self.into_parts();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut set = Vec::new();
        columns.positions(&mut set);
        let st = many_statement(rows, &target, &Action::Update(set))?;
        cached.run_upsert(pool, st).await
    }

    /// The batch `DO UPDATE SET` every column `update` writes, through the cache.
    pub async fn do_update_all(self) -> Result<Vec<E>> {
        let (pool, rows, cached, target) = self.into_parts();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let st = many_statement(rows, &target, &Action::UpdateAll)?;
        cached.run_upsert(pool, st).await
    }
}

impl<'a, 'c, E: CachedEntity> Select<'a, E, &'c Cached<E>> {
    /// `DELETE ... WHERE <filter> RETURNING *` through the cache (see [`Cached::filter`]):
    /// returns how many rows were deleted; afterwards each one's entry (write-through: a
    /// negative entry) and attribute keys are gone.
    pub async fn delete(self, pool: &PgPool) -> Result<u64> {
        let (select, cached) = self.into_direct();
        let (sql, args) = delete_statement(&select, true)?;
        let rows = cached
            .write_returning(
                TracedStatement::of::<E>("delete_by_filter", "DELETE"),
                pool,
                &sql,
                args,
                |e| Error::from_write(&E::TABLE, e),
                Finish::Deleted,
            )
            .await?;
        Ok(rows.len() as u64)
    }
}

impl<'a, 'c, E: CachedEntity> Update<'a, E, &'c Cached<E>> {
    /// [`Update::execute`] through the cache (see [`Cached::filter`]): the number of rows
    /// changed. The statement returns the rows (`RETURNING *`) so that each one's key is
    /// registered before `COMMIT` and invalidated after.
    pub async fn execute(self, pool: &PgPool) -> Result<u64> {
        Ok(self.fetch_all(pool).await?.len() as u64)
    }

    /// [`Update::fetch_all`] through the cache: every changed row as it is now.
    pub async fn fetch_all(self, pool: &PgPool) -> Result<Vec<E>> {
        let (update, cached) = self.into_direct();
        let (sql, args) = update.statement(true)?;
        cached
            .write_returning(
                TracedStatement::of::<E>("update_by_filter", "UPDATE"),
                pool,
                &sql,
                args,
                |e| Error::from_write(&E::TABLE, e),
                Finish::Written,
            )
            .await
    }
}
