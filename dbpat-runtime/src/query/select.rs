//! [`Select`]: filter, order, limit/offset and keyset pagination over one entity; its rows as a
//! `Vec`, one row, or a stream; row locks through [`Locked`](super::Locked) (module `lock`);
//! projections, aggregates and joins start here too (their entry methods live in the modules
//! `projection` and `join`, which build on `Select`: no import cycle).

use super::filter::{Filter, Order};
use super::history::{select_sql, ReadTiers};
use super::patch::Direct;
use super::row::TableRow as Table;
use super::stream::{rows, RowStream};
use super::writer::SqlWriter;
use crate::error::{Error, Result};
use crate::telemetry::Statement;
use sqlx::postgres::PgArguments;
use sqlx::{Executor, Postgres};

/// A query over entity `E`, from [`Table::query`](crate::Table::query) or [`Table::filter`](crate::Table::filter).
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
///
/// `Via` is where its writes (`update()`, `delete`) run: directly on an executor
/// ([`Direct`], the default), or through an entity's cache (the select of
/// [`Cached::query`](crate::cache::Cached::query), whose writes keep Redis consistent).
pub struct Select<'a, E, Via = Direct> {
    filter: Filter<E>,
    order: Vec<Order<E>>,
    limit: Option<i64>,
    offset: Option<i64>,
    after: Option<&'a E>,
    tiers: ReadTiers,
    via: Via,
}

impl<E, Via> std::fmt::Debug for Select<'_, E, Via> {
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
            via: Direct,
        }
    }

    /// The same query, its writes running `via` (the cached handle).
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn with_via<Via>(self, via: Via) -> Select<'a, E, Via> {
        Select {
            filter: self.filter,
            order: self.order,
            limit: self.limit,
            offset: self.offset,
            after: self.after,
            tiers: self.tiers,
            via,
        }
    }
}

impl<'a, E: Table, Via> Select<'a, E, Via> {
    /// Splits off where the writes run, leaving a direct select.
    pub(crate) fn into_direct(self) -> (Select<'a, E>, Via) {
        let via = self.via;
        let select = Select {
            filter: self.filter,
            order: self.order,
            limit: self.limit,
            offset: self.offset,
            after: self.after,
            tiers: self.tiers,
            via: Direct,
        };
        (select, via)
    }

    /// For `UPDATE`/`DELETE` by filter, which write every matching row of the hot table: an
    /// error naming `op` if the query limits the rows (LIMIT, OFFSET, a keyset `after`) or
    /// reads another tier.
    pub(super) fn check_whole_set(&self, op: WholeSet) -> Result<()> {
        if self.limit.is_some() || self.offset.is_some() || self.after.is_some() {
            return Err(Error::InvalidQuery(match op {
                WholeSet::Update => {
                    "update() writes every matching row: an UPDATE has no LIMIT/OFFSET; drop \
                     `limit`/`offset`/`after` (or select the keys first)"
                }
                WholeSet::Delete => {
                    "delete writes every matching row: a DELETE has no LIMIT/OFFSET; drop \
                     `limit`/`offset`/`after` (or select the keys first)"
                }
            }));
        }
        if self.tiers != ReadTiers::Hot {
            return Err(Error::InvalidQuery(match op {
                WholeSet::Update => {
                    "update works on the hot table only; drop `.tiers(...)`/`.with_archive()`"
                }
                WholeSet::Delete => {
                    "delete works on the hot table only; drop `.tiers(...)`/`.with_archive()`"
                }
            }));
        }
        Ok(())
    }

    /// Writes ` WHERE <filter>` (nothing without a filter), binding the values in order.
    pub(super) fn write_where(&self, w: &mut SqlWriter) -> Result<()> {
        if self.has_predicate() {
            w.push(" WHERE ");
            self.write_predicate(w)?;
        }
        Ok(())
    }

    /// Which storage tiers the rows come from: the table alone ([`ReadTiers::Hot`], the
    /// default), `<table>_archive` alone, or both as `UNION ALL` ([`ReadTiers::All`]). Filters,
    /// keyset seeks, ORDER BY and LIMIT apply to the union as a whole. Asking for the archive
    /// of an entity without `#[dbpat(archive)]` fails with [`Error::NoArchive`].
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
    /// repeat rows, and order by NOT NULL columns. Without any `order_by` the query fails with
    /// [`Error::InvalidQuery`] when it runs.
    pub fn after(self, last: &'a E) -> Select<'a, E, Via> {
        Select {
            after: Some(last),
            ..self
        }
    }

    /// Whether the query has an ORDER BY term.
    pub(crate) fn has_order(&self) -> bool {
        !self.order.is_empty()
    }

    /// Its parts, for the queries built on it (module `projection`).
    pub(crate) fn into_parts(self) -> SelectParts<E> {
        SelectParts {
            filter: self.filter,
            order: self.order,
            limit: self.limit,
            offset: self.offset,
            after: self.after.is_some(),
            tiers: self.tiers,
        }
    }

    /// Whether the query has a WHERE predicate (a filter or a keyset seek).
    fn has_predicate(&self) -> bool {
        !self.filter.is_all() || self.after.is_some()
    }

    /// Writes the WHERE predicate (filter and keyset seek), binding every value in order;
    /// writes nothing when [`Select::has_predicate`] is false.
    fn write_predicate(&self, w: &mut SqlWriter) -> Result<()> {
        let filtered = !self.filter.is_all();
        if filtered {
            self.filter.render(w);
        }
        let Some(last) = self.after else {
            return Ok(());
        };
        if self.order.is_empty() {
            return Err(Error::InvalidQuery(
                "keyset pagination (`after`) needs an order_by",
            ));
        }
        if filtered {
            w.push(" AND ");
        }
        let params: Vec<usize> = self
            .order
            .iter()
            .map(|o| w.bind(|args| last.bind_column(o.index, args)))
            .collect();
        write_seek(w, &self.order, &params);
        Ok(())
    }

    /// Writes ORDER BY, LIMIT and OFFSET.
    fn write_tail(&self, w: &mut SqlWriter) {
        for (i, o) in self.order.iter().enumerate() {
            w.push(if i == 0 { " ORDER BY " } else { ", " });
            w.push(&crate::ddl::ident(o.name));
            if o.desc {
                w.push(" DESC");
            }
        }
        if let Some(limit) = self.limit {
            w.push(" LIMIT ").push_bind(&limit);
        }
        if let Some(offset) = self.offset {
            w.push(" OFFSET ").push_bind(&offset);
        }
    }

    /// `head` (e.g. `DELETE FROM t`) over the hot table, then WHERE and, with `with_tail`,
    /// ORDER BY, LIMIT and OFFSET.
    fn build(&self, head: &str, with_tail: bool) -> Result<(String, PgArguments)> {
        let mut w = SqlWriter::starting_with(head);
        if self.has_predicate() {
            w.push(" WHERE ");
            self.write_predicate(&mut w)?;
        }
        if with_tail {
            self.write_tail(&mut w);
        }
        w.finish()
    }

    /// The row query over the chosen tiers (the entity's pre-rendered SELECT for the hot
    /// table; a `UNION ALL` of both column lists otherwise, sharing one set of parameters).
    fn build_rows(&self, with_tail: bool) -> Result<(String, PgArguments)> {
        if self.tiers == ReadTiers::Hot {
            return self.build(&E::sql().select, with_tail);
        }
        // One writer for predicate and tail, so the tail's placeholders continue after the
        // predicate's; the text is then split where the tail begins.
        let mut w = SqlWriter::new();
        self.write_predicate(&mut w)?;
        let predicate_end = w.sql().len();
        if with_tail {
            self.write_tail(&mut w);
        }
        let (text, args) = w.finish()?;
        let (predicate, tail) = text.split_at(predicate_end);
        let tail = tail.trim_start();
        let sql = select_sql(
            &E::TABLE,
            self.tiers,
            self.has_predicate().then_some(predicate),
            (!tail.is_empty()).then_some(tail),
        )?;
        Ok((sql, args))
    }

    /// What a read that adds the cold tier renders around its own branch (module
    /// `tiers::cold`): the predicate and the tail from one writer (the tail's placeholders
    /// follow the predicate's), the filter's single-column bounds, and the warm tiers read
    /// beside it (the hot table and the archive, or the archive alone).
    #[cfg(feature = "cold")]
    pub(crate) fn cold_parts(&self) -> Result<ColdParts> {
        let mut w = SqlWriter::new();
        self.write_predicate(&mut w)?;
        let predicate_end = w.sql().len();
        self.write_tail(&mut w);
        let (text, args) = w.finish()?;
        let (predicate, tail) = text.split_at(predicate_end);
        let tail = tail.trim_start();
        Ok(ColdParts {
            predicate: self.has_predicate().then(|| predicate.to_owned()),
            tail: (!tail.is_empty()).then(|| tail.to_owned()),
            args,
            warm: match self.tiers {
                ReadTiers::Hot => ReadTiers::All,
                tiers => tiers,
            },
            bounds: self.filter.column_bounds(),
        })
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

    /// The SQL text this query runs (for logs and tests); empty if the query cannot run (the
    /// error then comes from executing it).
    pub fn to_sql(&self) -> String {
        self.build_rows(true)
            .map(|(sql, _)| sql)
            .unwrap_or_default()
    }

    /// The row query ending with a locking clause (`FOR UPDATE` and the like, then `wait`:
    /// empty, ` SKIP LOCKED` or ` NOWAIT`). Both tiers at once are a `UNION ALL`, which
    /// PostgreSQL cannot lock: [`Error::InvalidQuery`].
    pub(crate) fn build_locked(&self, strength: &str, wait: &str) -> Result<(String, PgArguments)> {
        if self.tiers == ReadTiers::All {
            return Err(Error::InvalidQuery(
                "row locks (for_update, for_share, ...) cannot lock a UNION ALL of both tiers; \
                 lock the hot table or the archive alone",
            ));
        }
        let (mut sql, args) = self.build_rows(true)?;
        sql.push(' ');
        sql.push_str(strength);
        sql.push_str(wait);
        Ok((sql, args))
    }

    /// All matching rows.
    pub async fn fetch_all<'e, X>(self, ex: X) -> Result<Vec<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        fetch_all("select", self.build_rows(true), ex).await
    }

    /// The first matching row, if any.
    pub async fn fetch_optional<'e, X>(self, ex: X) -> Result<Option<E>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        fetch_optional("select", self.build_rows(true), ex).await
    }

    /// The first matching row, or [`Error::NotFound`] (with an empty key).
    pub async fn fetch_one<'e, X>(self, ex: X) -> Result<E>
    where
        X: Executor<'e, Database = Postgres>,
    {
        self.fetch_optional(ex).await?.ok_or_else(not_found::<E>)
    }

    /// The matching rows as a [`Stream`](futures_util::Stream), decoded one at a time as they
    /// arrive (sqlx's `fetch`), instead of collected into a `Vec`: a sweep over millions of
    /// rows, over any [`ReadTiers`], runs in constant memory. Each item is one row or the
    /// error it failed with, classified like the same error from [`Select::fetch_all`] (a
    /// row that does not decode is [`Error::Decode`]); a query that cannot run as built is
    /// the stream's only item. The statement is built when `stream` is called and sent when
    /// the stream is first polled; on a pool, the stream holds one connection until it ends
    /// or is dropped.
    ///
    /// ```no_run
    /// # use dbpat_runtime::query::Column;
    /// # async fn demo<E: dbpat_runtime::Table>(pool: &sqlx::PgPool, id: Column<E, i64>)
    /// # -> dbpat_runtime::Result<()> {
    /// use futures_util::TryStreamExt;
    /// let mut rows = E::query().with_archive().order_by(id.asc()).stream(pool);
    /// while let Some(row) = rows.try_next().await? {
    ///     // one row at a time
    /// #   let _ = row;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream<'e, X>(self, ex: X) -> RowStream<'e, E>
    where
        X: Executor<'e, Database = Postgres> + 'e,
        E: 'e,
    {
        rows("select", self.build_rows(true), ex)
    }

    /// `SELECT count(*)` of the matching rows (ORDER BY, LIMIT and OFFSET are ignored).
    pub async fn count<'e, X>(self, ex: X) -> Result<i64>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.build_aggregate("count(*)")?;
        Statement::of::<E>("select_count", "SELECT")
            .run(&sql, async {
                Ok(sqlx::query_scalar_with::<_, i64, _>(&sql, args)
                    .fetch_one(ex)
                    .await?)
            })
            .await
    }

    /// Whether any row matches: `SELECT EXISTS (SELECT 1 FROM t WHERE ...)`.
    pub async fn exists<'e, X>(self, ex: X) -> Result<bool>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.build_aggregate("1")?;
        let sql = format!("SELECT EXISTS ({sql})");
        Statement::of::<E>("select_exists", "SELECT")
            .run(&sql, async {
                Ok(sqlx::query_scalar_with::<_, bool, _>(&sql, args)
                    .fetch_one(ex)
                    .await?)
            })
            .await
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

/// The writes over every row a [`Select`] matches (see [`Select::check_whole_set`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum WholeSet {
    Update,
    Delete,
}

/// The parts of a [`Select`] (for projections, aggregates and joins).
pub(crate) struct SelectParts<E> {
    pub(crate) filter: Filter<E>,
    pub(crate) order: Vec<Order<E>>,
    pub(crate) limit: Option<i64>,
    pub(crate) offset: Option<i64>,
    pub(crate) after: bool,
    pub(crate) tiers: ReadTiers,
}

/// Runs a built row query for the dbpat call `operation` and collects its rows.
/// The parts of a select a cold-tier read renders around its own branch
/// ([`Select::cold_parts`]).
#[cfg(feature = "cold")]
pub(crate) struct ColdParts {
    /// The WHERE predicate (placeholders from `$1`).
    pub(crate) predicate: Option<String>,
    /// ORDER BY, LIMIT and OFFSET, continuing the placeholders.
    pub(crate) tail: Option<String>,
    /// The values of both.
    pub(crate) args: PgArguments,
    /// The tiers PostgreSQL reads beside the cold one.
    pub(crate) warm: ReadTiers,
    /// The filter's conditions on single columns.
    pub(crate) bounds: Vec<(&'static str, super::filter::ColumnBound)>,
}

pub(crate) async fn fetch_all<'e, E: Table, X>(
    operation: &'static str,
    built: Result<(String, PgArguments)>,
    ex: X,
) -> Result<Vec<E>>
where
    X: Executor<'e, Database = Postgres>,
{
    let (sql, args) = built?;
    Statement::of::<E>(operation, "SELECT")
        .run(&sql, async {
            Ok(sqlx::query_as_with::<_, E, _>(&sql, args)
                .fetch_all(ex)
                .await?)
        })
        .await
}

/// Runs a built row query for the dbpat call `operation` and returns its first row.
pub(crate) async fn fetch_optional<'e, E: Table, X>(
    operation: &'static str,
    built: Result<(String, PgArguments)>,
    ex: X,
) -> Result<Option<E>>
where
    X: Executor<'e, Database = Postgres>,
{
    let (sql, args) = built?;
    Statement::of::<E>(operation, "SELECT")
        .run(&sql, async {
            Ok(sqlx::query_as_with::<_, E, _>(&sql, args)
                .fetch_optional(ex)
                .await?)
        })
        .await
}

/// The [`Error::NotFound`] of a `fetch_one` that matched nothing.
pub(crate) fn not_found<E: Table>() -> Error {
    Error::NotFound {
        entity: E::TABLE.entity,
        key: String::new(),
    }
}

/// `(a, b) > ($1, $2)` for uniform directions, else the expanded OR of prefixes; `params` are
/// the placeholders of the last row's values, one per ORDER BY term.
fn write_seek<E>(w: &mut SqlWriter, order: &[Order<E>], params: &[usize]) {
    let col = |o: &Order<E>| crate::ddl::ident(o.name);
    let op = |o: &Order<E>| if o.desc { " < " } else { " > " };
    let uniform = order.iter().all(|o| o.desc == order[0].desc);
    if uniform && order.len() == 1 {
        w.push(&col(&order[0]))
            .push(op(&order[0]))
            .push_param(params[0]);
        return;
    }
    if uniform {
        let cols: Vec<String> = order.iter().map(col).collect();
        w.push("(")
            .push(&cols.join(", "))
            .push(")")
            .push(op(&order[0]))
            .push("(");
        for (i, &p) in params.iter().enumerate() {
            if i > 0 {
                w.push(", ");
            }
            w.push_param(p);
        }
        w.push(")");
        return;
    }
    w.push("(");
    for i in 0..order.len() {
        if i > 0 {
            w.push(" OR ");
        }
        w.push("(");
        for j in 0..i {
            w.push(&col(&order[j]))
                .push(" = ")
                .push_param(params[j])
                .push(" AND ");
        }
        w.push(&col(&order[i]))
            .push(op(&order[i]))
            .push_param(params[i]);
        w.push(")");
    }
    w.push(")");
}
