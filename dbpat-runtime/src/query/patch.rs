//! [`Patch`]: a partial update of one row, `SET` only the chosen columns.

use super::filter::Column;
use super::row::TableRow as Table;
use super::value::{BindValue, IntoValue, JsonColumn, Numeric, SqlValue};
use super::write::checked_outcome;
use super::writer::{json_value, SqlWriter};
use crate::ddl::ident;
use crate::error::{Error, Result};
use crate::model::{BaseType, SqlType};
use crate::telemetry::Statement;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Executor, Postgres};
use std::sync::Arc;

enum SetOp {
    Assign,
    Add,
    JsonMerge,
}

/// The `SET` list of an UPDATE, shared by [`Patch`] (one row) and
/// [`Update`](super::Update) (every row a filter matches): `col = $n`, `col = NULL`,
/// `col = col + $n`, `col = col || $n`, in the order given.
pub(crate) struct Sets {
    sets: Vec<(&'static str, SetOp, Arc<dyn BindValue>)>,
}

impl Sets {
    pub(crate) fn new() -> Self {
        Sets { sets: Vec::new() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    pub(crate) fn assign(&mut self, column: &'static str, value: Arc<dyn BindValue>) {
        self.sets.push((column, SetOp::Assign, value));
    }

    pub(crate) fn add(&mut self, column: &'static str, value: Arc<dyn BindValue>) {
        self.sets.push((column, SetOp::Add, value));
    }

    pub(crate) fn merge(&mut self, column: &'static str, value: Arc<dyn BindValue>) {
        self.sets.push((column, SetOp::JsonMerge, value));
    }

    /// Writes `a = $n, b = b + $m, ...` and, for a versioned entity (`version` is its quoted
    /// column name), `, version = version + 1`, binding every value in order.
    pub(crate) fn write(&self, w: &mut SqlWriter, version: Option<&str>) {
        for (i, (column, op, value)) in self.sets.iter().enumerate() {
            if i > 0 {
                w.push(", ");
            }
            let c = ident(column);
            w.push(&c).push(" = ");
            match op {
                SetOp::Assign => {}
                SetOp::Add => {
                    w.push(&c).push(" + ");
                }
                SetOp::JsonMerge => {
                    w.push(&c).push(" || ");
                }
            }
            w.push_bind(value.as_ref());
        }
        if let Some(v) = version {
            if !self.sets.is_empty() {
                w.push(", ");
            }
            w.push(v).push(" = ").push(v).push(" + 1");
        }
    }
}

/// Where a [`Patch`] runs: on an executor directly (this type), or through an entity's cache
/// (the patch of [`Cached::patch`](crate::cache::Cached::patch), whose `execute` keeps Redis
/// consistent).
#[derive(Debug, Clone, Copy, Default)]
pub struct Direct;

/// A partial update of one row, from [`Table::patch`](crate::Table::patch): `SET` only the chosen columns.
///
/// ```no_run
/// # use dbpat_runtime::{query::Column, Table};
/// # async fn demo<P: Table<Key = i64>>(pool: sqlx::PgPool, stock: Column<P, i32>) -> Result<(), dbpat_runtime::Error> {
/// let row = P::patch(&42).add(stock, -1).execute(&pool).await?;
/// # let _ = row; Ok(()) }
/// ```
///
/// On a versioned entity every patch also increments the version (so optimistic writers
/// notice it); [`Patch::expect_version`] makes the patch itself conditional on the version.
pub struct Patch<'k, E: Table, Via = Direct> {
    key: &'k E::Key,
    sets: Sets,
    expect_version: Option<i64>,
    // Read by the cached `execute` only.
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    via: Via,
}

impl<'k, E: Table> Patch<'k, E> {
    pub(crate) fn new(key: &'k E::Key) -> Self {
        Patch::via(key, Direct)
    }

    /// Runs the patch and returns the row as it is now.
    /// [`Error::NotFound`](crate::Error::NotFound) if there is no such row;
    /// [`Error::Conflict`](crate::Error::Conflict) if [`Patch::expect_version`] was stale.
    pub async fn execute<'e, X>(self, ex: X) -> Result<E>
    where
        X: Executor<'e, Database = Postgres>,
    {
        self.run(ex).await
    }
}

impl<'k, E: Table, Via> Patch<'k, E, Via> {
    pub(crate) fn via(key: &'k E::Key, via: Via) -> Self {
        Patch {
            key,
            sets: Sets::new(),
            expect_version: None,
            via,
        }
    }

    /// The key of the row this patch changes.
    pub fn key(&self) -> &'k E::Key {
        self.key
    }

    /// Splits off where the patch runs, leaving a direct patch.
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn into_direct(self) -> (Patch<'k, E>, Via) {
        (
            Patch {
                key: self.key,
                sets: self.sets,
                expect_version: self.expect_version,
                via: Direct,
            },
            self.via,
        )
    }

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

    /// `col = NULL` for a nullable column.
    pub fn set_null<T: SqlValue>(mut self, column: Column<E, Option<T>>) -> Self
    where
        Option<T::Value>: BindValue,
    {
        self.sets.assign(column.name(), Arc::new(None::<T::Value>));
        self
    }

    /// `col = col + $n` (a negative amount subtracts), atomically on the server.
    pub fn add<T: SqlValue + Numeric>(
        mut self,
        column: Column<E, T>,
        amount: impl IntoValue<T::Value>,
    ) -> Self {
        self.sets.add(column.name(), Arc::new(amount.into_value()));
        self
    }

    /// `col = col || $n`: merges the keys of `value` into a JSONB object column.
    ///
    /// A value that does not serialize to JSON makes `execute` fail with
    /// [`Error::Encode`](crate::Error::Encode); nothing is written.
    pub fn merge<T: JsonColumn>(
        mut self,
        column: Column<E, T>,
        value: impl serde::Serialize,
    ) -> Self {
        self.sets.merge(column.name(), json_value(value));
        self
    }

    /// Applies the patch only if the row is still at `version`; otherwise nothing changes and
    /// the result is [`Error::Conflict`](crate::Error::Conflict).
    pub fn expect_version(mut self, version: i64) -> Self {
        self.expect_version = Some(version);
        self
    }

    /// The statement and its arguments; `None` when there is nothing to set (the row is read
    /// back instead: a no-op UPDATE would fire triggers).
    fn build(&self) -> Result<Option<(String, PgArguments)>> {
        let sql = E::sql();
        let table = E::TABLE;
        let version = sql.version_column.map(|v| ident(table.columns[v].name));
        if self.sets.is_empty() && version.is_none() {
            return Ok(None);
        }
        let key_count = sql.key_columns.len();
        let mut w = SqlWriter::starting_with("UPDATE ");
        w.push(&ident(table.name)).push(" SET ");
        // The key's placeholders come first ($1..$k), so the pre-rendered key predicate fits.
        w.bind_many(key_count, |args| E::bind_key(self.key, args));
        self.sets.write(&mut w, version.as_deref());
        let key = sql.key_predicate_from(1);
        w.push(" WHERE ").push(&key);
        let checked = match (&version, self.expect_version, sql.version_column) {
            (Some(v), Some(expected), Some(column)) => {
                let sql_type = table.columns[column].sql_type;
                let n = w.bind(|args| bind_version(args, expected, sql_type));
                w.push(" AND ").push(v).push(" = ").push_param(n);
                true
            }
            _ => false,
        };
        w.push(" RETURNING ").push(&sql.columns);
        let (mut update, args) = w.finish()?;
        if checked {
            update = super::sql::checked_update(&ident(table.name), &update, &sql.columns, &key);
        }
        Ok(Some((update, args)))
    }

    async fn run<'e, X>(&self, ex: X) -> Result<E>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let Some((statement, args)) = self.build()? else {
            return super::read::get(ex, self.key).await;
        };
        let expect_version = self
            .expect_version
            .filter(|_| E::sql().version_column.is_some());
        Statement::of::<E>("patch", "UPDATE")
            .run(&statement, async {
                match expect_version {
                    Some(version) => {
                        let row = sqlx::query_with(&statement, args)
                            .fetch_optional(ex)
                            .await?;
                        checked_outcome(row, self.key, version)
                    }
                    None => sqlx::query_as_with::<_, E, _>(&statement, args)
                        .fetch_optional(ex)
                        .await?
                        .ok_or_else(|| Error::not_found(E::TABLE.entity, self.key)),
                }
            })
            .await
    }
}

/// Binds an expected version with the width of the version column; a version out of that
/// column's range is an encode error.
fn bind_version(
    args: &mut PgArguments,
    version: i64,
    sql_type: SqlType,
) -> std::result::Result<(), sqlx::error::BoxDynError> {
    match sql_type.base {
        BaseType::SmallInt => args.add(i16::try_from(version)?),
        BaseType::Integer => args.add(i32::try_from(version)?),
        _ => args.add(version),
    }
}
