//! Writes by filter: [`Update`] (`filter(...).update().set(...)`, one `UPDATE ... WHERE`
//! statement) and `Select::delete` (one `DELETE ... WHERE`). Both write every row the filter
//! matches in the hot table, so a select with LIMIT, OFFSET, a keyset seek or another tier
//! is refused with [`Error::InvalidQuery`].

use super::filter::Column;
use super::patch::{Direct, Sets};
use super::row::TableRow as Table;
use super::select::{Select, WholeSet};
use super::value::{BindValue, IntoValue, JsonColumn, Numeric, SqlValue};
use super::write::rows_written;
use super::writer::{json_value, SqlWriter};
use crate::ddl::ident;
use crate::error::{Error, Result};
use crate::telemetry::Statement;
use sqlx::postgres::PgArguments;
use sqlx::{Executor, Postgres};
use std::sync::Arc;

/// An `UPDATE` of every row a [`Select`] matches, from [`Select::update`]: `SET` the chosen
/// columns with the vocabulary of [`Patch`](super::Patch) (`set`, `set_null`, `add`,
/// `merge`), then [`Update::execute`] (the number of rows) or [`Update::fetch_all`] (the rows
/// as they are now, `RETURNING`). One statement:
/// `UPDATE t SET a = $1, b = b + $2[, version = version + 1] WHERE <filter>`.
///
/// ```no_run
/// # use dbpat_runtime::query::Column;
/// # use dbpat_runtime::Table;
/// # async fn demo<P: Table>(pool: sqlx::PgPool, category: Column<P, String>,
/// #     stock: Column<P, i32>) -> dbpat_runtime::Result<()> {
/// let restocked: u64 = P::filter(category.eq("lamps"))
///     .update()
///     .add(stock, 10)          // stock = stock + $1
///     .execute(&pool)
///     .await?;
/// # let _ = restocked; Ok(()) }
/// ```
///
/// A versioned entity's rows also get `version = version + 1`, so optimistic writers holding
/// an older version notice. `updated_at` is set by the table's trigger. An update without any
/// `set` is [`Error::InvalidQuery`], as is one over a select with `limit`, `offset`, `after`
/// or another tier than the hot table (an UPDATE has no LIMIT: select the keys first).
#[must_use = "an update does nothing until `.execute(ex)` or `.fetch_all(ex)` runs it"]
pub struct Update<'a, E: Table, Via = Direct> {
    select: Select<'a, E>,
    sets: Sets,
    // Read by the cached `execute` only.
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    via: Via,
}

impl<'a, E: Table, Via> Select<'a, E, Via> {
    /// An `UPDATE` of every row this query matches (see [`Update`]); through the cached
    /// handle's query it runs inside the cache protocol.
    pub fn update(self) -> Update<'a, E, Via> {
        let (select, via) = self.into_direct();
        Update {
            select,
            sets: Sets::new(),
            via,
        }
    }
}

impl<'a, E: Table> Select<'a, E> {
    /// Deletes the matching rows of the hot table in one `DELETE ... WHERE <filter>`; returns
    /// how many. A query with `limit`, `offset` or `after` (a DELETE has no LIMIT), or with
    /// other [`ReadTiers`](super::ReadTiers) (rows leave the archive only through your own
    /// retention policy), fails with [`Error::InvalidQuery`] instead.
    pub async fn delete<'e, X>(self, ex: X) -> Result<u64>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = delete_statement(&self, false)?;
        rows_written::<E, _>(
            Statement::of::<E>("delete_by_filter", "DELETE"),
            &sql,
            args,
            ex,
        )
        .await
    }
}

/// `DELETE FROM t WHERE <filter>`, with `RETURNING <columns>` when `returning`.
pub(crate) fn delete_statement<E: Table, Via>(
    select: &Select<'_, E, Via>,
    returning: bool,
) -> Result<(String, PgArguments)> {
    select.check_whole_set(WholeSet::Delete)?;
    let mut w = SqlWriter::starting_with("DELETE FROM ");
    w.push(&ident(E::TABLE.name));
    select.write_where(&mut w)?;
    if returning {
        w.push(" RETURNING ").push(&E::sql().columns);
    }
    w.finish()
}

impl<'a, E: Table, Via> Update<'a, E, Via> {
    /// `col = $n`
    pub fn set<T: SqlValue>(
        mut self,
        column: Column<E, T>,
        value: impl IntoValue<T::Value>,
    ) -> Self {
        self.sets
            .assign(column.name(), Arc::new(value.into_value()));
        self
    }

    /// `col = NULL`, for a nullable (`Option`) column only.
    pub fn set_null<T: SqlValue>(mut self, column: Column<E, Option<T>>) -> Self
    where
        Option<T::Value>: BindValue,
    {
        self.sets.assign(column.name(), Arc::new(None::<T::Value>));
        self
    }

    /// `col = col + $n` (a negative amount subtracts), row by row on the server.
    pub fn add<T: SqlValue + Numeric>(
        mut self,
        column: Column<E, T>,
        amount: impl IntoValue<T::Value>,
    ) -> Self {
        self.sets.add(column.name(), Arc::new(amount.into_value()));
        self
    }

    /// `col = col || $n`: merges the keys of `value` into a JSONB object column.
    pub fn merge<T: JsonColumn>(
        mut self,
        column: Column<E, T>,
        value: impl serde::Serialize,
    ) -> Self {
        self.sets.merge(column.name(), json_value(value));
        self
    }

    /// The statement: `UPDATE t SET ... WHERE ...`, with `RETURNING <columns>` when
    /// `returning`.
    pub(crate) fn statement(&self, returning: bool) -> Result<(String, PgArguments)> {
        self.select.check_whole_set(WholeSet::Update)?;
        if self.sets.is_empty() {
            return Err(Error::InvalidQuery(
                "update() without any set(...): nothing to write",
            ));
        }
        let sql = E::sql();
        let version = sql.version_column.map(|v| ident(E::TABLE.columns[v].name));
        let mut w = SqlWriter::starting_with("UPDATE ");
        w.push(&ident(E::TABLE.name)).push(" SET ");
        self.sets.write(&mut w, version.as_deref());
        self.select.write_where(&mut w)?;
        if returning {
            w.push(" RETURNING ").push(&sql.columns);
        }
        w.finish()
    }

    /// The SQL text [`Update::execute`] runs (for logs and tests; no values); empty if the
    /// update cannot run (the error then comes from running it).
    pub fn to_sql(&self) -> String {
        self.statement(false)
            .map(|(sql, _)| sql)
            .unwrap_or_default()
    }

    /// Splits off where the update runs.
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn into_direct(self) -> (Update<'a, E>, Via) {
        (
            Update {
                select: self.select,
                sets: self.sets,
                via: Direct,
            },
            self.via,
        )
    }
}

impl<'a, E: Table> Update<'a, E> {
    /// Runs the update; returns the number of rows it changed.
    pub async fn execute<'e, X>(self, ex: X) -> Result<u64>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.statement(false)?;
        rows_written::<E, _>(
            Statement::of::<E>("update_by_filter", "UPDATE"),
            &sql,
            args,
            ex,
        )
        .await
    }

    /// Runs the update with `RETURNING`: every changed row as it is now (new version and
    /// `updated_at` included), in no particular order.
    pub async fn fetch_all<'e, X>(self, ex: X) -> Result<Vec<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.statement(true)?;
        Statement::of::<E>("update_by_filter", "UPDATE")
            .run(&sql, async {
                sqlx::query_as_with::<_, E, _>(&sql, args)
                    .fetch_all(ex)
                    .await
                    .map_err(|e| Error::from_write(&E::TABLE, e))
            })
            .await
    }
}
