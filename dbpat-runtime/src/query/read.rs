//! Key reads: find, get, find_many, exists, count, and `find_by_<unique field>`.

use super::row::TableRow as Table;
use super::value::BindValue;
use super::writer::SqlWriter;
use crate::ddl::ident;
use crate::error::{Error, Result};
use crate::telemetry::Statement;
use sqlx::postgres::PgArguments;
use sqlx::{Executor, Postgres};
use std::collections::HashMap;

/// The most values one statement may bind (PostgreSQL's protocol limit is 65,535).
pub(crate) const MAX_PARAMS: usize = 65_535;

pub(crate) fn key_args<E: Table>(key: &E::Key) -> Result<PgArguments> {
    let mut args = PgArguments::default();
    E::bind_key(key, &mut args).map_err(Error::encode)?;
    Ok(args)
}

pub(crate) async fn find<'e, E: Table, X>(ex: X, key: &E::Key) -> Result<Option<E>>
where
    X: Executor<'e, Database = Postgres>,
{
    let args = key_args::<E>(key)?;
    let sql = &E::sql().find_by_key;
    Statement::of::<E>("find", "SELECT")
        .run(sql, async {
            Ok(sqlx::query_as_with::<_, E, _>(sql, args)
                .fetch_optional(ex)
                .await?)
        })
        .await
}

pub(crate) async fn get<'e, E: Table, X>(ex: X, key: &E::Key) -> Result<E>
where
    X: Executor<'e, Database = Postgres>,
{
    find(ex, key)
        .await?
        .ok_or_else(|| Error::not_found(E::TABLE.entity, key))
}

/// `SELECT <columns> FROM t WHERE (k1, k2) IN (($1, $2), ($3, $4), ...)` of `keys`.
pub(crate) fn select_by_keys<E: Table>(keys: &[E::Key]) -> Result<(String, PgArguments)> {
    let key_columns = E::TABLE.primary_key;
    if keys.len() * key_columns.len().max(1) > MAX_PARAMS {
        return Err(Error::InvalidQuery(
            "find_many binds at most 65,535 key values in one statement",
        ));
    }
    let mut w = SqlWriter::starting_with(&E::sql().select);
    w.push(" WHERE (");
    for (i, k) in key_columns.iter().enumerate() {
        if i > 0 {
            w.push(", ");
        }
        w.push(&ident(k));
    }
    w.push(") IN (");
    for (row, key) in keys.iter().enumerate() {
        if row > 0 {
            w.push(", ");
        }
        // The key binds all its columns at once; their placeholders follow in order.
        let first = w.bind_many(key_columns.len(), |args| E::bind_key(key, args));
        w.push("(");
        for k in 0..key_columns.len() {
            if k > 0 {
                w.push(", ");
            }
            w.push_param(first + k);
        }
        w.push(")");
    }
    w.push(")");
    w.finish()
}

/// The rows found for `keys`, placed in the order of `keys` (a key asked twice gets its row
/// twice).
pub(crate) fn in_key_order<E: Table + Clone>(keys: &[E::Key], rows: Vec<E>) -> Vec<Option<E>> {
    let by_key: HashMap<String, E> = rows
        .into_iter()
        .map(|row| (format!("{:?}", row.key()), row))
        .collect();
    keys.iter()
        .map(|key| by_key.get(&format!("{key:?}")).cloned())
        .collect()
}

pub(crate) async fn find_many<'e, E: Table + Clone, X>(
    ex: X,
    keys: &[E::Key],
) -> Result<Vec<Option<E>>>
where
    X: Executor<'e, Database = Postgres>,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (sql, args) = select_by_keys::<E>(keys)?;
    let rows = Statement::of::<E>("find_many", "SELECT")
        .run(&sql, async {
            Ok(sqlx::query_as_with::<_, E, _>(&sql, args)
                .fetch_all(ex)
                .await?)
        })
        .await?;
    Ok(in_key_order(keys, rows))
}

pub(crate) async fn exists<'e, E: Table, X>(ex: X, key: &E::Key) -> Result<bool>
where
    X: Executor<'e, Database = Postgres>,
{
    let args = key_args::<E>(key)?;
    let sql = &E::sql().exists_by_key;
    Statement::of::<E>("exists", "SELECT")
        .run(sql, async {
            Ok(sqlx::query_scalar_with::<_, bool, _>(sql, args)
                .fetch_one(ex)
                .await?)
        })
        .await
}

pub(crate) async fn count<'e, E: Table, X>(ex: X) -> Result<i64>
where
    X: Executor<'e, Database = Postgres>,
{
    let sql = &E::sql().count;
    Statement::of::<E>("count", "SELECT")
        .run(sql, async {
            Ok(sqlx::query_scalar::<_, i64>(sql).fetch_one(ex).await?)
        })
        .await
}

/// `find_by_<unique field>`: the derive's glue calls this with the column position.
#[doc(hidden)]
pub async fn find_by_unique<'e, E: Table, X, V>(ex: X, column: usize, value: V) -> Result<Option<E>>
where
    X: Executor<'e, Database = Postgres>,
    V: BindValue,
{
    let Some(sql) = E::sql().find_by_unique(column) else {
        return Err(Error::InvalidQuery(
            "find_by_<field> of a column without a single-column UNIQUE",
        ));
    };
    let mut args = PgArguments::default();
    value.bind(&mut args).map_err(Error::encode)?;
    Statement::of::<E>("find_by_unique", "SELECT")
        .run(sql, async {
            Ok(sqlx::query_as_with::<_, E, _>(sql, args)
                .fetch_optional(ex)
                .await?)
        })
        .await
}
