//! Reads across tiers: the hot table alone (the default), the archive alone, or both as
//! `SELECT cols FROM t WHERE p UNION ALL SELECT cols FROM t_archive WHERE p`.
//!
//! The SQL is rendered from the model with explicit column lists, so both branches have the
//! same shape whatever the physical column order. Filters come in two forms, for the query layer
//! to plug its typed filters into:
//!
//! - a predicate text with `$n` placeholders ([`select_sql`], [`fetch_all`]): the same text is
//!   used in both branches, and PostgreSQL binds `$n` once for both;
//! - a closure that pushes the predicate into a [`QueryBuilder`] ([`push_select`]): it is called
//!   once per branch, and each call pushes its own binds.

use super::error::TierError;
use crate::ddl::{ident, ident_list};
use crate::model::TableDef;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Executor, FromRow, Postgres, QueryBuilder};

/// Which tiers a read covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ReadTiers {
    /// The table only (hot and warm rows): the default.
    #[default]
    Hot,
    /// `<table>_archive` only.
    Archive,
    /// Both, as `UNION ALL`.
    All,
}

impl ReadTiers {
    /// The relations to read, in order.
    fn relations(self, table: &TableDef) -> Result<Vec<String>, TierError> {
        let archive = || {
            table
                .archive_table_name()
                .ok_or_else(|| TierError::NoArchive {
                    table: table.name.to_owned(),
                })
        };
        Ok(match self {
            ReadTiers::Hot => vec![table.name.to_owned()],
            ReadTiers::Archive => vec![archive()?],
            ReadTiers::All => vec![table.name.to_owned(), archive()?],
        })
    }
}

fn column_list(table: &TableDef) -> String {
    let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    ident_list(&names)
}

/// `SELECT cols FROM t [WHERE predicate] [UNION ALL SELECT cols FROM t_archive [WHERE
/// predicate]] [tail]`.
///
/// `predicate` may use `$n` placeholders (they are shared by both branches); `tail` is appended
/// after the union (e.g. `ORDER BY created_at DESC LIMIT $2`, which then orders the union).
///
/// ```
/// use dbpat_runtime::model::*;
/// use dbpat_runtime::tiers::{select_sql, ReadTiers};
/// const COLS: &[ColumnDef] = &[
///     ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt)).primary_key(),
///     ColumnDef::new("at", "at", SqlType::scalar(BaseType::TimestampTz)),
/// ];
/// const T: TableDef = TableDef { archive: true, ..TableDef::new("events", "Event", COLS, &["id"]) };
/// assert_eq!(
///     select_sql(&T, ReadTiers::All, Some("at >= $1"), Some("ORDER BY at")).unwrap(),
///     "SELECT id, at FROM events WHERE at >= $1 \
///      UNION ALL SELECT id, at FROM events_archive WHERE at >= $1 ORDER BY at"
/// );
/// assert_eq!(select_sql(&T, ReadTiers::default(), None, None).unwrap(), "SELECT id, at FROM events");
/// ```
pub fn select_sql(
    table: &TableDef,
    tiers: ReadTiers,
    predicate: Option<&str>,
    tail: Option<&str>,
) -> Result<String, TierError> {
    let cols = column_list(table);
    let branches: Vec<String> = tiers
        .relations(table)?
        .iter()
        .map(|rel| match predicate {
            Some(p) => format!("SELECT {cols} FROM {} WHERE {p}", ident(rel)),
            None => format!("SELECT {cols} FROM {}", ident(rel)),
        })
        .collect();
    let mut sql = branches.join(" UNION ALL ");
    if let Some(tail) = tail {
        sql.push(' ');
        sql.push_str(tail);
    }
    Ok(sql)
}

/// Pushes the same `SELECT` into `builder`, calling `filter` once per branch to push that
/// branch's predicate (after `WHERE`) with its binds. A `filter` that pushes nothing must not
/// be given: pass a predicate such as `TRUE` instead.
///
/// ```
/// use dbpat_runtime::model::*;
/// use dbpat_runtime::tiers::{push_select, ReadTiers};
/// const COLS: &[ColumnDef] = &[ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt))];
/// const T: TableDef = TableDef { archive: true, ..TableDef::new("events", "Event", COLS, &["id"]) };
/// let mut qb = sqlx::QueryBuilder::new("");
/// push_select(&mut qb, &T, ReadTiers::All, |qb| {
///     qb.push("id > ").push_bind(10_i64);
/// })
/// .unwrap();
/// assert_eq!(
///     qb.sql(),
///     "SELECT id FROM events WHERE id > $1 UNION ALL SELECT id FROM events_archive WHERE id > $2"
/// );
/// ```
pub fn push_select<'args>(
    builder: &mut QueryBuilder<'args, Postgres>,
    table: &TableDef,
    tiers: ReadTiers,
    mut filter: impl FnMut(&mut QueryBuilder<'args, Postgres>),
) -> Result<(), TierError> {
    let cols = column_list(table);
    for (i, rel) in tiers.relations(table)?.iter().enumerate() {
        if i > 0 {
            builder.push(" UNION ALL ");
        }
        builder.push(format!("SELECT {cols} FROM {} WHERE ", ident(rel)));
        filter(builder);
    }
    Ok(())
}

/// Runs [`select_sql`] and decodes the rows as `R`; `bind` adds the values of the `$n`
/// placeholders of `predicate` and `tail`, in order.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool, table: &dbpat_runtime::model::TableDef<'_>) -> Result<(), dbpat_runtime::tiers::TierError> {
/// use chrono::{TimeZone, Utc};
/// use dbpat_runtime::tiers::{fetch_all, ReadTiers};
/// use sqlx::Arguments;
/// let since = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let rows: Vec<(uuid::Uuid,)> = fetch_all(&pool, table, ReadTiers::All,
///     Some("created_at >= $1"), Some("ORDER BY created_at"),
///     |args| args.add(since)).await?;
/// # Ok(()) }
/// ```
pub async fn fetch_all<'c, R, E>(
    executor: E,
    table: &TableDef<'_>,
    tiers: ReadTiers,
    predicate: Option<&str>,
    tail: Option<&str>,
    bind: impl FnOnce(&mut PgArguments) -> Result<(), sqlx::error::BoxDynError>,
) -> Result<Vec<R>, TierError>
where
    E: Executor<'c, Database = Postgres>,
    R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let sql = select_sql(table, tiers, predicate, tail)?;
    let mut args = PgArguments::default();
    bind(&mut args).map_err(sqlx::Error::Encode)?;
    Ok(sqlx::query_as_with::<_, R, _>(&sql, args)
        .fetch_all(executor)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    const COLS: &[ColumnDef] = &[
        ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt)),
        ColumnDef::new("user", "user", SqlType::scalar(BaseType::Text)),
    ];
    const PLAIN: TableDef = TableDef::new("notes", "Note", COLS, &["id"]);

    #[test]
    fn archive_reads_need_an_archive() {
        assert!(matches!(
            select_sql(&PLAIN, ReadTiers::All, None, None),
            Err(TierError::NoArchive { .. })
        ));
        assert_eq!(
            select_sql(&PLAIN, ReadTiers::Hot, Some("id = $1"), None).unwrap(),
            "SELECT id, \"user\" FROM notes WHERE id = $1"
        );
        let archived = TableDef {
            archive: true,
            ..PLAIN
        };
        assert_eq!(
            select_sql(&archived, ReadTiers::Archive, None, Some("LIMIT 1")).unwrap(),
            "SELECT id, \"user\" FROM notes_archive LIMIT 1"
        );
    }
}
