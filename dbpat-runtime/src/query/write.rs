//! Writes: insert, insert_exact, insert_many, update (versioned), delete.

use super::read::key_args;
use super::row::TableRow as Table;
use crate::error::{Error, Result};
use crate::telemetry::Statement;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Executor, Postgres, Row};

pub(crate) fn args_with(n: usize) -> PgArguments {
    let mut args = PgArguments::default();
    sqlx::Arguments::reserve(&mut args, n, n * 16);
    args
}

pub(crate) async fn insert<'e, E: Table, X>(ex: X, row: &E) -> Result<E>
where
    X: Executor<'e, Database = Postgres>,
{
    let sql = E::sql();
    let mut args = args_with(sql.insert_columns.len());
    for &i in &sql.insert_columns {
        row.bind_column(i, &mut args).map_err(Error::encode)?;
    }
    Statement::of::<E>("insert", "INSERT")
        .run(&sql.insert, async {
            sqlx::query_as_with::<_, E, _>(&sql.insert, args)
                .fetch_one(ex)
                .await
                .map_err(|e| Error::from_write(&E::TABLE, e))
        })
        .await
}

pub(crate) async fn insert_exact<'e, E: Table, X>(ex: X, row: &E) -> Result<E>
where
    X: Executor<'e, Database = Postgres>,
{
    let sql = E::sql();
    let mut args = args_with(E::TABLE.columns.len());
    for i in 0..E::TABLE.columns.len() {
        row.bind_column(i, &mut args).map_err(Error::encode)?;
    }
    Statement::of::<E>("insert_exact", "INSERT")
        .run(&sql.insert_exact, async {
            sqlx::query_as_with::<_, E, _>(&sql.insert_exact, args)
                .fetch_one(ex)
                .await
                .map_err(|e| Error::from_write(&E::TABLE, e))
        })
        .await
}

fn unnest_args<E: Table>(rows: &[E]) -> Result<PgArguments> {
    let sql = E::sql();
    let mut args = args_with(sql.insert_columns.len() * 3);
    for &i in &sql.insert_columns {
        E::bind_unnest(rows, i, &mut args).map_err(Error::encode)?;
    }
    Ok(args)
}

pub(crate) async fn insert_many<'e, E: Table, X>(ex: X, rows: &[E]) -> Result<Vec<E>>
where
    X: Executor<'e, Database = Postgres>,
{
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let args = unnest_args(rows)?;
    let sql = &E::sql().insert_many;
    Statement::of::<E>("insert_many", "INSERT")
        .run(sql, async {
            sqlx::query_as_with::<_, E, _>(sql, args)
                .fetch_all(ex)
                .await
                .map_err(|e| Error::from_write(&E::TABLE, e))
        })
        .await
}

pub(crate) async fn insert_many_count<'e, E: Table, X>(ex: X, rows: &[E]) -> Result<u64>
where
    X: Executor<'e, Database = Postgres>,
{
    if rows.is_empty() {
        return Ok(0);
    }
    let args = unnest_args(rows)?;
    let sql = &E::sql().insert_many_count;
    rows_written::<E, _>(
        Statement::of::<E>("insert_many_count", "INSERT"),
        sql,
        args,
        ex,
    )
    .await
}

/// Runs a write of `E`'s table that returns nothing, inside `statement`'s span: the number of
/// rows it wrote, or its error classified as a write error.
pub(crate) async fn rows_written<'e, E: Table, X>(
    statement: Statement,
    sql: &str,
    args: PgArguments,
    ex: X,
) -> Result<u64>
where
    X: Executor<'e, Database = Postgres>,
{
    statement
        .run(sql, async {
            Ok(sqlx::query_with(sql, args)
                .execute(ex)
                .await
                .map_err(|e| Error::from_write(&E::TABLE, e))?
                .rows_affected())
        })
        .await
}

pub(crate) async fn delete<'e, E: Table, X>(ex: X, key: &E::Key) -> Result<()>
where
    X: Executor<'e, Database = Postgres>,
{
    let args = key_args::<E>(key)?;
    let sql = &E::sql().delete;
    Statement::of::<E>("delete", "DELETE")
        .run(sql, async {
            let done = sqlx::query_with(sql, args).execute(ex).await?;
            if done.rows_affected() == 0 {
                return Err(Error::not_found(E::TABLE.entity, key));
            }
            Ok(())
        })
        .await
}

/// Reads the outcome of a checked (versioned) update: the new row, a [`Error::Conflict`]
/// (the key exists at another version), or [`Error::NotFound`].
pub(crate) fn checked_outcome<E: Table>(
    row: Option<PgRow>,
    key: &E::Key,
    version: i64,
) -> Result<E> {
    let Some(row) = row else {
        return Err(Error::not_found(E::TABLE.entity, key));
    };
    let applied: bool = row.try_get("dbpat_applied")?;
    if !applied {
        return Err(Error::Conflict {
            entity: E::TABLE.entity,
            key: format!("{key:?}"),
            version,
        });
    }
    Ok(E::from_row(&row)?)
}

pub(crate) async fn update<'e, E: Table, X>(ex: X, row: &mut E) -> Result<()>
where
    X: Executor<'e, Database = Postgres>,
{
    let sql = E::sql();
    let mut args = args_with(sql.key_columns.len() + sql.update_columns.len() + 1);
    for &i in sql.key_columns.iter().chain(&sql.update_columns) {
        row.bind_column(i, &mut args).map_err(Error::encode)?;
    }
    let statement = Statement::of::<E>("update", "UPDATE");
    match (&sql.update_checked, sql.version_column) {
        (Some(checked), Some(v)) => {
            row.bind_column(v, &mut args).map_err(Error::encode)?;
            let (key, version) = (row.key(), row.version().unwrap_or_default());
            *row = statement
                .run(checked, async {
                    let result = sqlx::query_with(checked, args).fetch_optional(ex).await?;
                    checked_outcome(result, &key, version)
                })
                .await?;
        }
        _ => {
            let key = row.key();
            *row = statement
                .run(&sql.update, async {
                    sqlx::query_as_with::<_, E, _>(&sql.update, args)
                        .fetch_optional(ex)
                        .await?
                        .ok_or_else(|| Error::not_found(E::TABLE.entity, &key))
                })
                .await?;
        }
    }
    Ok(())
}
