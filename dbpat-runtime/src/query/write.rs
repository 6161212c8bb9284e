//! Writes and key lookups: insert, batch insert, find, update (versioned), patch, delete.

use super::error::{insert_error, Error, Result};
use super::filter::Column;
use super::sql::checked_update;
use super::table::Table;
use super::value::{BindValue, IntoValue, JsonColumn, Numeric, SqlValue};
use crate::ddl::ident;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Executor, Postgres, Row};
use std::fmt::Write as _;

fn args_with(n: usize) -> PgArguments {
    let mut args = PgArguments::default();
    sqlx::Arguments::reserve(&mut args, n, n * 16);
    args
}

pub(crate) async fn insert<'e, E: Table, X>(row: &E, ex: X) -> Result<E>
where
    X: Executor<'e, Database = Postgres>,
{
    let sql = E::sql();
    let mut args = args_with(sql.insert_columns.len());
    for &i in &sql.insert_columns {
        row.bind_column(i, &mut args).map_err(Error::encode)?;
    }
    sqlx::query_as_with::<_, E, _>(&sql.insert, args)
        .fetch_one(ex)
        .await
        .map_err(|e| insert_error(&E::TABLE, e))
}

pub(crate) async fn insert_exact<'e, E: Table, X>(row: &E, ex: X) -> Result<E>
where
    X: Executor<'e, Database = Postgres>,
{
    let sql = E::sql();
    let mut args = args_with(E::TABLE.columns.len());
    for i in 0..E::TABLE.columns.len() {
        row.bind_column(i, &mut args).map_err(Error::encode)?;
    }
    sqlx::query_as_with::<_, E, _>(&sql.insert_exact, args)
        .fetch_one(ex)
        .await
        .map_err(|e| insert_error(&E::TABLE, e))
}

fn unnest_args<E: Table>(rows: &[E]) -> Result<PgArguments> {
    let sql = E::sql();
    let mut args = args_with(sql.insert_columns.len() * 3);
    for &i in &sql.insert_columns {
        E::bind_unnest(rows, i, &mut args).map_err(Error::encode)?;
    }
    Ok(args)
}

pub(crate) async fn insert_many<'e, E: Table, X>(rows: &[E], ex: X) -> Result<Vec<E>>
where
    X: Executor<'e, Database = Postgres>,
{
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let args = unnest_args(rows)?;
    sqlx::query_as_with::<_, E, _>(&E::sql().insert_many, args)
        .fetch_all(ex)
        .await
        .map_err(|e| insert_error(&E::TABLE, e))
}

pub(crate) async fn insert_many_count<'e, E: Table, X>(rows: &[E], ex: X) -> Result<u64>
where
    X: Executor<'e, Database = Postgres>,
{
    if rows.is_empty() {
        return Ok(0);
    }
    let args = unnest_args(rows)?;
    Ok(sqlx::query_with(&E::sql().insert_many_count, args)
        .execute(ex)
        .await
        .map_err(|e| insert_error(&E::TABLE, e))?
        .rows_affected())
}

fn key_args<E: Table>(key: &E::Key) -> Result<PgArguments> {
    let mut args = args_with(E::sql().key_columns.len());
    E::bind_key(key, &mut args).map_err(Error::encode)?;
    Ok(args)
}

pub(crate) async fn find_by_id<'e, E: Table, X>(ex: X, key: &E::Key) -> Result<Option<E>>
where
    X: Executor<'e, Database = Postgres>,
{
    let args = key_args::<E>(key)?;
    Ok(sqlx::query_as_with::<_, E, _>(&E::sql().find_by_key, args)
        .fetch_optional(ex)
        .await?)
}

/// `find_by_<unique field>`: the derive's glue calls this with the column position.
#[doc(hidden)]
pub async fn find_by_unique<'e, E: Table, X, V>(ex: X, column: usize, value: V) -> Result<Option<E>>
where
    X: Executor<'e, Database = Postgres>,
    V: BindValue,
{
    let mut args = args_with(1);
    value.bind(&mut args).map_err(Error::encode)?;
    Ok(
        sqlx::query_as_with::<_, E, _>(E::sql().find_by_unique(column), args)
            .fetch_optional(ex)
            .await?,
    )
}

pub(crate) async fn exists<'e, E: Table, X>(ex: X, key: &E::Key) -> Result<bool>
where
    X: Executor<'e, Database = Postgres>,
{
    let args = key_args::<E>(key)?;
    Ok(
        sqlx::query_scalar_with::<_, bool, _>(&E::sql().exists_by_key, args)
            .fetch_one(ex)
            .await?,
    )
}

pub(crate) async fn count<'e, E: Table, X>(ex: X) -> Result<i64>
where
    X: Executor<'e, Database = Postgres>,
{
    Ok(sqlx::query_scalar::<_, i64>(&E::sql().count)
        .fetch_one(ex)
        .await?)
}

pub(crate) async fn delete<'e, E: Table, X>(ex: X, key: &E::Key) -> Result<()>
where
    X: Executor<'e, Database = Postgres>,
{
    let args = key_args::<E>(key)?;
    let done = sqlx::query_with(&E::sql().delete, args).execute(ex).await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Reads the outcome of a checked (versioned) update: the new row, a [`Error::Conflict`]
/// (the key exists at another version), or [`Error::NotFound`].
fn checked_outcome<E: Table>(row: Option<PgRow>, key: &E::Key, version: i64) -> Result<E> {
    let Some(row) = row else {
        return Err(Error::NotFound);
    };
    let applied: bool = row.try_get("dbpat_applied")?;
    if !applied {
        return Err(Error::Conflict {
            entity: E::TABLE.entity,
            id: format!("{key:?}"),
            version,
        });
    }
    Ok(E::from_row(&row)?)
}

pub(crate) async fn update<'e, E: Table, X>(row: &mut E, ex: X) -> Result<()>
where
    X: Executor<'e, Database = Postgres>,
{
    let sql = E::sql();
    let mut args = args_with(sql.key_columns.len() + sql.update_columns.len() + 1);
    for &i in sql.key_columns.iter().chain(&sql.update_columns) {
        row.bind_column(i, &mut args).map_err(Error::encode)?;
    }
    match (&sql.update_checked, sql.version_column) {
        (Some(checked), Some(v)) => {
            row.bind_column(v, &mut args).map_err(Error::encode)?;
            let result = sqlx::query_with(checked, args).fetch_optional(ex).await?;
            let version = row.version().unwrap_or_default();
            *row = checked_outcome(result, &row.key(), version)?;
        }
        _ => {
            *row = sqlx::query_as_with::<_, E, _>(&sql.update, args)
                .fetch_optional(ex)
                .await?
                .ok_or(Error::NotFound)?;
        }
    }
    Ok(())
}

enum SetOp {
    Assign,
    Add,
    JsonMerge,
}

/// A partial update of one row, from [`Table::patch`]: `SET` only the chosen columns.
///
/// On a versioned entity every patch also increments the version (so optimistic writers
/// notice it); [`Patch::expect_version`] makes the patch itself conditional on the version.
pub struct Patch<'k, E: Table> {
    key: &'k E::Key,
    sets: Vec<(&'static str, SetOp, Box<dyn BindValue>)>,
    expect_version: Option<i64>,
}

impl<'k, E: Table> Patch<'k, E> {
    pub(crate) fn new(key: &'k E::Key) -> Self {
        Patch {
            key,
            sets: Vec::new(),
            expect_version: None,
        }
    }

    /// `col = $n`
    pub fn set<T: SqlValue>(
        mut self,
        column: Column<E, T>,
        value: impl IntoValue<T::Value>,
    ) -> Self {
        self.sets
            .push((column.name(), SetOp::Assign, Box::new(value.into_value())));
        self
    }

    /// `col = NULL` for a nullable column.
    pub fn set_null<T: SqlValue>(mut self, column: Column<E, Option<T>>) -> Self
    where
        Option<T::Value>: BindValue,
    {
        self.sets
            .push((column.name(), SetOp::Assign, Box::new(None::<T::Value>)));
        self
    }

    /// `col = col + $n` (a negative amount subtracts), atomically on the server.
    pub fn add<T: SqlValue + Numeric>(
        mut self,
        column: Column<E, T>,
        amount: impl IntoValue<T::Value>,
    ) -> Self {
        self.sets
            .push((column.name(), SetOp::Add, Box::new(amount.into_value())));
        self
    }

    /// `col = col || $n`: merges the keys of `value` into a JSONB object column.
    ///
    /// A value that does not serialize to JSON is a programming error and panics.
    pub fn merge<T: JsonColumn>(
        mut self,
        column: Column<E, T>,
        value: impl serde::Serialize,
    ) -> Self {
        let value = serde_json::to_value(value).expect("a JSONB merge value serializes to JSON");
        self.sets
            .push((column.name(), SetOp::JsonMerge, Box::new(value)));
        self
    }

    /// Applies the patch only if the row is still at `version`; otherwise nothing changes and
    /// the result is [`Error::Conflict`].
    pub fn expect_version(mut self, version: i64) -> Self {
        self.expect_version = Some(version);
        self
    }

    /// The statement and its arguments.
    fn build(&self) -> Result<(String, PgArguments)> {
        let sql = E::sql();
        let table = E::TABLE;
        let mut args = args_with(sql.key_columns.len() + self.sets.len() + 1);
        E::bind_key(self.key, &mut args).map_err(Error::encode)?;
        let mut n = sql.key_columns.len();
        let mut sets = Vec::with_capacity(self.sets.len() + 1);
        for (column, op, value) in &self.sets {
            value.bind(&mut args).map_err(Error::encode)?;
            n += 1;
            let c = ident(column);
            sets.push(match op {
                SetOp::Assign => format!("{c} = ${n}"),
                SetOp::Add => format!("{c} = {c} + ${n}"),
                SetOp::JsonMerge => format!("{c} = {c} || ${n}"),
            });
        }
        let version = sql.version_column.map(|v| ident(table.columns[v].name));
        if let Some(v) = &version {
            sets.push(format!("{v} = {v} + 1"));
        }
        if sets.is_empty() {
            // Nothing to set: touch nothing, return the row (a no-op UPDATE would fire triggers).
            return Ok((sql.find_by_key.clone(), args));
        }
        let key = sql.key_predicate_from(1);
        let mut update = format!(
            "UPDATE {} SET {} WHERE {key}",
            ident(table.name),
            sets.join(", ")
        );
        if let (Some(v), Some(expected)) = (&version, self.expect_version) {
            args_add(
                &mut args,
                expected,
                table.columns[sql.version_column.unwrap_or(0)].sql_type,
            )?;
            n += 1;
            let _ = write!(update, " AND {v} = ${n}");
        }
        let _ = write!(update, " RETURNING {}", sql.columns);
        if version.is_some() && self.expect_version.is_some() {
            update = checked_update(&ident(table.name), &update, &sql.columns, &key);
        }
        Ok((update, args))
    }

    /// Runs the patch and returns the row as it is now. [`Error::NotFound`] if there is no
    /// such row; [`Error::Conflict`] if [`Patch::expect_version`] was stale.
    pub async fn execute<'e, X>(self, ex: X) -> Result<E>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (statement, args) = self.build()?;
        match self
            .expect_version
            .filter(|_| E::sql().version_column.is_some())
        {
            Some(version) => {
                let row = sqlx::query_with(&statement, args)
                    .fetch_optional(ex)
                    .await?;
                checked_outcome(row, self.key, version)
            }
            _ => sqlx::query_as_with::<_, E, _>(&statement, args)
                .fetch_optional(ex)
                .await?
                .ok_or(Error::NotFound),
        }
    }
}

/// Binds an expected version with the width of the version column.
fn args_add(args: &mut PgArguments, version: i64, sql_type: crate::model::SqlType) -> Result<()> {
    use crate::model::BaseType;
    use sqlx::Arguments;
    let r = match sql_type.base {
        BaseType::SmallInt => {
            args.add(i16::try_from(version).map_err(|e| Error::encode(e.into()))?)
        }
        BaseType::Integer => args.add(i32::try_from(version).map_err(|e| Error::encode(e.into()))?),
        _ => args.add(version),
    };
    r.map_err(Error::encode)
}
