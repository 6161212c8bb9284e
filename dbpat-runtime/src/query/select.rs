//! [`Select`]: filter, order, limit/offset and keyset pagination over one entity.

use super::error::{Error, Result};
use super::filter::{Filter, Order};
use super::table::Table;
use crate::tiers::ReadTiers;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Executor, Postgres};
use std::fmt::Write as _;

/// A query over entity `E`, from [`Table::query`] or [`Table::filter`].
///
/// ```
/// # use dbpat_runtime::query::{Column, Select, Filter};
/// # fn demo<E: dbpat_runtime::Table>(price: Column<E, i64>, id: Column<E, i64>) {
/// let page = E::query()
///     .filter(price.gt(100))
///     .order_by(price.desc())
///     .order_by(id.desc())
///     .limit(20);
/// # let _ = page; }
/// ```
pub struct Select<'a, E> {
    filter: Filter<E>,
    order: Vec<Order<E>>,
    limit: Option<i64>,
    offset: Option<i64>,
    after: Option<&'a E>,
    tiers: ReadTiers,
}

impl<E> std::fmt::Debug for Select<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("filter", &self.filter)
            .field("order", &self.order)
            .field("limit", &self.limit)
            .field("offset", &self.offset)
            .field("after", &self.after.is_some())
            .field("tiers", &self.tiers)
            .finish()
    }
}

impl<'a, E: Table> Default for Select<'a, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, E: Table> Select<'a, E> {
    /// Every row.
    pub fn new() -> Self {
        Select {
            filter: Filter::all(),
            order: Vec::new(),
            limit: None,
            offset: None,
            after: None,
            tiers: ReadTiers::Hot,
        }
    }

    /// Which storage tiers the rows come from: the table alone ([`ReadTiers::Hot`], the
    /// default), `<table>_archive` alone, or both as `UNION ALL` ([`ReadTiers::All`]). Filters,
    /// keyset seeks, ORDER BY and LIMIT apply to the union as a whole. Asking for the archive
    /// of an entity without `#[dbpat(archive)]` fails with [`Error::Tier`].
    pub fn tiers(mut self, tiers: ReadTiers) -> Self {
        self.tiers = tiers;
        self
    }

    /// Reads the hot table and the archive together: `.tiers(ReadTiers::All)`.
    pub fn with_archive(self) -> Self {
        self.tiers(ReadTiers::All)
    }

    /// Adds a condition (AND with the ones before).
    pub fn filter(mut self, filter: Filter<E>) -> Self {
        self.filter = self.filter.and(filter);
        self
    }

    /// Adds an ORDER BY term.
    pub fn order_by(mut self, order: Order<E>) -> Self {
        self.order.push(order);
        self
    }

    /// `LIMIT $n`
    pub fn limit(mut self, n: i64) -> Self {
        self.limit = Some(n);
        self
    }

    /// `OFFSET $n` (prefer [`Select::after`] for deep pages).
    pub fn offset(mut self, n: i64) -> Self {
        self.offset = Some(n);
        self
    }

    /// Keyset pagination: only rows that come after `last` in the ORDER BY order. Seeks with
    /// `(a, b) > ($1, $2)` when every term has the same direction (one index range scan on a
    /// matching composite index), and with the expanded `a > $1 OR (a = $1 AND b < $2)`
    /// otherwise. End the ORDER BY with a unique column (the key) so pages neither skip nor
    /// repeat rows, and order by NOT NULL columns.
    ///
    /// # Panics
    /// When executed without any `order_by`.
    pub fn after(self, last: &'a E) -> Select<'a, E> {
        Select {
            after: Some(last),
            ..self
        }
    }

    /// Renders the WHERE predicate (filter and keyset seek) and, with `with_tail`, the
    /// ORDER BY / LIMIT / OFFSET tail, binding every value in placeholder order.
    fn render(&self, with_tail: bool) -> Result<(Option<String>, String, PgArguments)> {
        let mut args = PgArguments::default();
        let mut n = 0usize;
        let mut where_sql = String::new();
        self.filter
            .render(&mut where_sql, &mut args, &mut n)
            .map_err(Error::encode)?;
        let mut predicate = (where_sql != "TRUE").then_some(where_sql);
        if let Some(last) = self.after.filter(|_| with_tail || !self.order.is_empty()) {
            assert!(
                !self.order.is_empty(),
                "keyset pagination (`after`) needs an order_by"
            );
            let first = n + 1;
            for o in &self.order {
                last.bind_column(o.index, &mut args)
                    .map_err(Error::encode)?;
                n += 1;
            }
            let seek = seek_predicate(&self.order, first);
            predicate = Some(match predicate {
                Some(p) => format!("{p} AND {seek}"),
                None => seek,
            });
        }
        let mut tail = String::new();
        if with_tail {
            if !self.order.is_empty() {
                tail.push_str("ORDER BY ");
                for (i, o) in self.order.iter().enumerate() {
                    if i > 0 {
                        tail.push_str(", ");
                    }
                    let _ = write!(
                        tail,
                        "{}{}",
                        crate::ddl::ident(o.name),
                        if o.desc { " DESC" } else { "" }
                    );
                }
            }
            for (word, value) in [("LIMIT", self.limit), ("OFFSET", self.offset)] {
                if let Some(v) = value {
                    args.add(v).map_err(Error::encode)?;
                    n += 1;
                    if !tail.is_empty() {
                        tail.push(' ');
                    }
                    let _ = write!(tail, "{word} ${n}");
                }
            }
        }
        Ok((predicate, tail, args))
    }

    /// Renders the statement: `head` (e.g. `DELETE FROM t`) over the hot table, then WHERE
    /// and, with `with_tail`, ORDER BY, LIMIT and OFFSET.
    fn build(&self, head: &str, with_tail: bool) -> Result<(String, PgArguments)> {
        let (predicate, tail, args) = self.render(with_tail)?;
        let mut sql = String::with_capacity(head.len() + 64);
        sql.push_str(head);
        if let Some(p) = predicate {
            sql.push_str(" WHERE ");
            sql.push_str(&p);
        }
        if !tail.is_empty() {
            sql.push(' ');
            sql.push_str(&tail);
        }
        Ok((sql, args))
    }

    /// The row query over the chosen tiers (the entity's pre-rendered SELECT for the hot
    /// table; a `UNION ALL` of both column lists otherwise).
    fn build_rows(&self, with_tail: bool) -> Result<(String, PgArguments)> {
        if self.tiers == ReadTiers::Hot {
            return self.build(&E::sql().select, with_tail);
        }
        let (predicate, tail, args) = self.render(with_tail)?;
        let tail = (!tail.is_empty()).then_some(tail.as_str());
        let sql = crate::tiers::select_sql(&E::TABLE, self.tiers, predicate.as_deref(), tail)?;
        Ok((sql, args))
    }

    /// `SELECT <what> FROM <the chosen tiers> WHERE ...`, without ORDER BY/LIMIT/OFFSET.
    fn build_aggregate(&self, what: &str) -> Result<(String, PgArguments)> {
        if self.tiers == ReadTiers::Hot {
            let head = format!("SELECT {what} FROM {}", crate::ddl::ident(E::TABLE.name));
            return self.build(&head, false);
        }
        let (rows, args) = self.build_rows(false)?;
        Ok((format!("SELECT {what} FROM ({rows}) AS dbpat_rows"), args))
    }

    /// The SQL text this query runs (for logs and tests).
    pub fn to_sql(&self) -> String {
        self.build_rows(true)
            .map(|(sql, _)| sql)
            .unwrap_or_default()
    }

    /// All matching rows.
    pub async fn fetch_all<'e, X>(self, ex: X) -> Result<Vec<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.build_rows(true)?;
        Ok(sqlx::query_as_with::<_, E, _>(&sql, args)
            .fetch_all(ex)
            .await?)
    }

    /// The first matching row, if any.
    pub async fn fetch_optional<'e, X>(self, ex: X) -> Result<Option<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.build_rows(true)?;
        Ok(sqlx::query_as_with::<_, E, _>(&sql, args)
            .fetch_optional(ex)
            .await?)
    }

    /// The first matching row, or [`Error::NotFound`].
    pub async fn fetch_one<'e, X>(self, ex: X) -> Result<E>
    where
        X: Executor<'e, Database = Postgres>,
    {
        self.fetch_optional(ex).await?.ok_or(Error::NotFound)
    }

    /// `SELECT count(*)` of the matching rows (ORDER BY, LIMIT and OFFSET are ignored).
    pub async fn count<'e, X>(self, ex: X) -> Result<i64>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.build_aggregate("count(*)")?;
        Ok(sqlx::query_scalar_with::<_, i64, _>(&sql, args)
            .fetch_one(ex)
            .await?)
    }

    /// Whether any row matches: `SELECT EXISTS (SELECT 1 FROM t WHERE ...)`.
    pub async fn exists<'e, X>(self, ex: X) -> Result<bool>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.build_aggregate("1")?;
        let sql = format!("SELECT EXISTS ({sql})");
        Ok(sqlx::query_scalar_with::<_, bool, _>(&sql, args)
            .fetch_one(ex)
            .await?)
    }

    /// Deletes the matching rows of the hot table; returns how many. (Rows leave the archive
    /// only through your own retention policy: a query with other [`ReadTiers`] fails with
    /// [`Error::InvalidQuery`] here instead of deleting history.)
    pub async fn delete<'e, X>(self, ex: X) -> Result<u64>
    where
        X: Executor<'e, Database = Postgres>,
    {
        if self.tiers != ReadTiers::Hot {
            return Err(Error::InvalidQuery(
                "delete works on the hot table only; drop `.tiers(...)`/`.with_archive()`",
            ));
        }
        let head = format!("DELETE FROM {}", crate::ddl::ident(E::TABLE.name));
        let (sql, args) = self.build(&head, false)?;
        Ok(sqlx::query_with(&sql, args)
            .execute(ex)
            .await?
            .rows_affected())
    }

    /// `EXPLAIN (ANALYZE, BUFFERS)` of this query with its bound values: the plan PostgreSQL
    /// ran, one line per plan node. The query is executed (ANALYZE); its rows are discarded.
    pub async fn explain<'e, X>(self, ex: X) -> Result<String>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.build_rows(true)?;
        super::explain::explain_analyze(ex, &sql, args).await
    }
}

/// `(a, b) > ($1, $2)` for uniform directions, else the expanded OR of prefixes.
fn seek_predicate<E>(order: &[Order<E>], first: usize) -> String {
    let col = |o: &Order<E>| crate::ddl::ident(o.name);
    let op = |o: &Order<E>| if o.desc { "<" } else { ">" };
    let uniform = order.iter().all(|o| o.desc == order[0].desc);
    if uniform {
        if order.len() == 1 {
            return format!("{} {} ${first}", col(&order[0]), op(&order[0]));
        }
        let cols: Vec<String> = order.iter().map(col).collect();
        let params: Vec<String> = (0..order.len())
            .map(|i| format!("${}", first + i))
            .collect();
        return format!(
            "({}) {} ({})",
            cols.join(", "),
            op(&order[0]),
            params.join(", ")
        );
    }
    let mut alternatives = Vec::new();
    for i in 0..order.len() {
        let mut terms: Vec<String> = (0..i)
            .map(|j| format!("{} = ${}", col(&order[j]), first + j))
            .collect();
        terms.push(format!(
            "{} {} ${}",
            col(&order[i]),
            op(&order[i]),
            first + i
        ));
        alternatives.push(format!("({})", terms.join(" AND ")));
    }
    format!("({})", alternatives.join(" OR "))
}
