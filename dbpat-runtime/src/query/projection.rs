//! [`Projection`]: a query that selects chosen columns, whole entities and aggregates instead
//! of whole rows of one entity, over one table or a join (module `join`), grouped or not
//! (module `aggregate`).
//!
//! The result type is computed from the selected items at compile time: a tuple of
//! [`Column`]s decodes into a tuple of the columns' Rust types, an entity's
//! [`columns_of`] into the entity, an aggregate into the type PostgreSQL returns for it (see
//! [`sum`](super::sum)). Nothing is decoded by guess: the row's columns are read by position.
//!
//! ```no_run
//! # use dbpat_runtime::query::{Column, Table};
//! # async fn demo<U: Table>(pool: &sqlx::PgPool, email: Column<U, String>, name: Column<U, String>)
//! # -> dbpat_runtime::Result<()> {
//! // SELECT email, name FROM users WHERE name <> $1 ORDER BY email LIMIT $2
//! let rows: Vec<(String, String)> = U::query()
//!     .filter(name.ne(""))
//!     .order_by(email.asc())
//!     .limit(20)
//!     .select((email, name))
//!     .fetch_all(pool)
//!     .await?;
//! # let _ = rows; Ok(()) }
//! ```

use super::filter::{push_column, Column, Filter, Order};
use super::history::{select_sql, ReadTiers};
use super::row::TableRow;
use super::select::Select;
use super::stream::{mapped_rows, RowStream};
use super::writer::SqlWriter;
use crate::column_type::{ColumnType, NotNull, Null};
use crate::ddl::ident;
use crate::error::{Error, Result};
use crate::model::TableDef;
use crate::telemetry::Statement;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Executor, Postgres, Row};
use std::marker::PhantomData;

// ---------------------------------------------------------------------------------------------
// Sources, sides and nullability

/// The side of a query an item belongs to: the queried entity (the `Select`'s own).
pub enum Base {}

/// The side of a query an item belongs to: the entity joined to the queried one.
pub enum Joined {}

/// The source of a query over one entity `E` (no join).
pub struct One<E>(PhantomData<fn() -> E>);

/// A source that holds entity `E` on side `Side` ([`Base`] or [`Joined`]): what lets a
/// `Filter<E>`, an `Order<E>` or a `Column<E, _>` be used in a query over it.
///
/// For a self-join both sides hold the same entity and the side cannot be inferred: say which
/// one with [`base`] or [`joined`].
#[diagnostic::on_unimplemented(
    message = "`{E}` is not an entity of this query",
    label = "this belongs to `{E}`, which this query does not read",
    note = "a query reads its own entity and, after `join`/`left_join`, the joined one; in a \
            self-join wrap the item in `base(...)` or `joined(...)` to say which side"
)]
pub trait HasSide<E, Side> {
    /// The position of the side (0: base, 1: joined).
    #[doc(hidden)]
    const SIDE: usize;
    /// [`Null`] when the side may be missing (the joined side of a left join), else
    /// [`NotNull`].
    #[doc(hidden)]
    type Nullity: Nullity;
}

impl<E> HasSide<E, Base> for One<E> {
    const SIDE: usize = 0;
    type Nullity = NotNull;
}

/// Type-level nullability: [`NotNull`] or [`Null`]. Decides whether a selected value is `T`
/// or `Option<T>`.
pub trait Nullity {
    /// `X` or `Option<X>`.
    type Apply<X>;
    /// [`Null`] if either is.
    type Or<M: Nullity>: Nullity;
    /// Decodes an entity from the columns starting at `at` (`None` for a missing joined row,
    /// recognized by its NULL primary key).
    #[doc(hidden)]
    fn entity<E: TableRow>(
        row: &PgRow,
        at: usize,
    ) -> std::result::Result<Self::Apply<E>, sqlx::Error>;
}

impl Nullity for NotNull {
    type Apply<X> = X;
    type Or<M: Nullity> = M;
    fn entity<E: TableRow>(row: &PgRow, at: usize) -> std::result::Result<E, sqlx::Error> {
        E::from_row_at(row, at)
    }
}

impl Nullity for Null {
    type Apply<X> = Option<X>;
    type Or<M: Nullity> = Null;
    fn entity<E: TableRow>(row: &PgRow, at: usize) -> std::result::Result<Option<E>, sqlx::Error> {
        // A primary-key column is NOT NULL: NULL there means the outer join found no row.
        let key = E::sql().key_columns.first().copied().unwrap_or(0);
        if sqlx::ValueRef::is_null(&row.try_get_raw(at + key)?) {
            return Ok(None);
        }
        E::from_row_at(row, at).map(Some)
    }
}

// ---------------------------------------------------------------------------------------------
// Grouping states

/// A projection without aggregates: one result per matching row (`select`).
pub enum Rows {}
/// Aggregates over all matching rows: exactly one result (`aggregate`).
pub enum Total {}
/// `GROUP BY`: one result per group (`group_by(...).select(...)`).
pub enum Groups {}

/// A grouping state ([`Rows`], [`Total`], [`Groups`]).
pub trait Grouping {
    /// Whether `SUM`/`AVG`/`MIN`/`MAX` may be NULL because there may be no row at all:
    /// [`Null`] for [`Total`] (zero matching rows), [`NotNull`] for [`Groups`] (a group has at
    /// least one row).
    #[doc(hidden)]
    type AggNullity: Nullity;
    /// Whether this is `GROUP BY`.
    #[doc(hidden)]
    const GROUPED: bool;
}
impl Grouping for Rows {
    type AggNullity = Null;
    const GROUPED: bool = false;
}
impl Grouping for Total {
    type AggNullity = Null;
    const GROUPED: bool = false;
}
impl Grouping for Groups {
    type AggNullity = NotNull;
    const GROUPED: bool = true;
}

/// Grouping states whose selection may hold plain columns: [`Rows`] and [`Groups`].
#[diagnostic::on_unimplemented(
    message = "a plain column or entity cannot be selected next to aggregates without `group_by`",
    label = "not an aggregate",
    note = "`aggregate(...)` computes one result over all rows: select only aggregates \
            (count, sum, ...) there, or group first: `.group_by(key).select((key, count(...)))`"
)]
pub trait AllowsColumns: Grouping {}
impl AllowsColumns for Rows {}
impl AllowsColumns for Groups {}

/// Grouping states whose selection may hold aggregates: [`Total`] and [`Groups`].
#[diagnostic::on_unimplemented(
    message = "an aggregate cannot be selected by `select` without `group_by`",
    label = "an aggregate (count, sum, avg, min, max)",
    note = "use `.aggregate((count_all(), sum(col)))` for one result over all rows, or \
            `.group_by(key).select((key, sum(col)))` for one per group"
)]
pub trait AllowsAggregates: Grouping {}
impl AllowsAggregates for Total {}
impl AllowsAggregates for Groups {}

// ---------------------------------------------------------------------------------------------
// Items and selections

/// What one selected item renders (runtime form, built once per query).
#[doc(hidden)]
#[derive(Debug, Clone)]
pub enum ItemSql {
    Column {
        side: usize,
        name: &'static str,
    },
    Entity {
        side: usize,
        table: &'static TableDef<'static>,
    },
    Aggregate(AggSql),
    Aliased(Box<ItemSql>, &'static str),
}

/// An aggregate call: `COUNT(*)`, `SUM(t1.total)`, `COUNT(DISTINCT t0.user_id)`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct AggSql {
    pub(crate) func: &'static str,
    pub(crate) distinct: bool,
    /// `(side, column)`; `None` for `COUNT(*)`.
    pub(crate) column: Option<(usize, &'static str)>,
}

impl AggSql {
    pub(crate) fn render(&self, w: &mut SqlWriter, quals: &Quals) {
        w.push(self.func).push("(");
        match self.column {
            None => {
                w.push("*");
            }
            Some((side, name)) => {
                if self.distinct {
                    w.push("DISTINCT ");
                }
                push_column(w, quals[side], name);
            }
        }
        w.push(")");
    }
}

/// The table alias of each side (`None` for a single table: columns are not qualified).
pub(crate) type Quals = [Option<&'static str>; 2];

/// One selectable item in a query over source `S`, on side `Side`, in grouping state `G`:
/// a [`Column`], an entity's [`columns_of`], an aggregate ([`count`](super::count),
/// [`sum`](super::sum), ...), an [`alias`](Column::alias)ed item, or an item placed on a side
/// with [`base`]/[`joined`]. Tuples of items are a [`Selection`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be selected here",
    label = "not selectable in this query",
    note = "select columns and entities (`columns_of::<E>()`) of the query's entities; \
            aggregates only with `aggregate(...)` or after `group_by(...)`"
)]
pub trait Item<S, Side, G> {
    /// The Rust type of the item's value in a result row.
    type Output;
    /// The item's SQL.
    #[doc(hidden)]
    fn sql(&self) -> ItemSql;
    /// Decodes the item from the row's columns starting at `*at`, and moves `*at` past them.
    #[doc(hidden)]
    fn decode(row: &PgRow, at: &mut usize) -> std::result::Result<Self::Output, sqlx::Error>;
}

/// What a query selects: one [`Item`] or a tuple of up to 12 (each element may be on its own
/// side `M`). `Output` is the result row's type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a selection of this query",
    label = "select an item or a tuple of items",
    note = "items are columns, `columns_of::<E>()`, aggregates and their aliases, of the \
            query's entities"
)]
pub trait Selection<S, M, G> {
    /// The Rust type of one result row.
    type Output;
    /// The items' SQL, appended to `out`.
    #[doc(hidden)]
    fn items(&self, out: &mut Vec<ItemSql>);
    /// Decodes one result row starting at column `*at`.
    #[doc(hidden)]
    fn decode(row: &PgRow, at: &mut usize) -> std::result::Result<Self::Output, sqlx::Error>;
}

/// The decoded type of column type `T` on a side of nullability `N`: `T::Value`, or
/// `Option<T::Value>` when the column is nullable or the side may be missing.
pub type ColumnOutput<T, N> =
    <<<T as ColumnType>::Nullability as Nullity>::Or<N> as Nullity>::Apply<
        <T as ColumnType>::Value,
    >;

impl<S, Side, G, E, T> Item<S, Side, G> for Column<E, T>
where
    S: HasSide<E, Side>,
    G: AllowsColumns,
    T: ColumnType,
    T::Nullability: Nullity,
    ColumnOutput<T, S::Nullity>: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    type Output = ColumnOutput<T, S::Nullity>;
    fn sql(&self) -> ItemSql {
        ItemSql::Column {
            side: S::SIDE,
            name: self.name(),
        }
    }
    fn decode(row: &PgRow, at: &mut usize) -> std::result::Result<Self::Output, sqlx::Error> {
        let v = row.try_get(*at)?;
        *at += 1;
        Ok(v)
    }
}

/// Every column of entity `E`, decoded into `E` (or `Option<E>` on the joined side of a left
/// join): from [`columns_of`].
pub struct AllColumns<E>(PhantomData<fn() -> E>);

impl<E> Clone for AllColumns<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for AllColumns<E> {}

/// Every column of `E`, as one selected item decoding into `E`: the `u.*` of
/// `SELECT u.*, COUNT(o.id) ...`.
///
/// ```no_run
/// # use dbpat_runtime::query::{columns_of, count, Column, Relation, Table};
/// # async fn demo<U: Table, O: Table>(pool: &sqlx::PgPool, rel: Relation<O, U>, id: Column<U, i64>, oid: Column<O, i64>)
/// # -> dbpat_runtime::Result<()> {
/// let per_user: Vec<(U, i64)> = U::query()
///     .left_join(rel)
///     .group_by(id)
///     .select((columns_of::<U>(), count(oid)))
///     .fetch_all(pool)
///     .await?;
/// # let _ = per_user; Ok(()) }
/// ```
pub fn columns_of<E: TableRow>() -> AllColumns<E> {
    AllColumns(PhantomData)
}

impl<S, Side, G, E> Item<S, Side, G> for AllColumns<E>
where
    S: HasSide<E, Side>,
    G: AllowsColumns,
    E: TableRow,
{
    type Output = <S::Nullity as Nullity>::Apply<E>;
    fn sql(&self) -> ItemSql {
        ItemSql::Entity {
            side: S::SIDE,
            table: E::sql().table,
        }
    }
    fn decode(row: &PgRow, at: &mut usize) -> std::result::Result<Self::Output, sqlx::Error> {
        let v = <S::Nullity as Nullity>::entity::<E>(row, *at)?;
        *at += E::TABLE.columns.len();
        Ok(v)
    }
}

/// An item with a column alias: `<item> AS "name"` (for [`select_as`](Select::select_as)
/// into a struct whose field has that name). From [`Column::alias`] and the aggregates'
/// `alias`.
pub struct Aliased<I> {
    item: I,
    alias: &'static str,
}

impl<S, Side, G, I: Item<S, Side, G>> Item<S, Side, G> for Aliased<I> {
    type Output = I::Output;
    fn sql(&self) -> ItemSql {
        ItemSql::Aliased(Box::new(self.item.sql()), self.alias)
    }
    fn decode(row: &PgRow, at: &mut usize) -> std::result::Result<Self::Output, sqlx::Error> {
        I::decode(row, at)
    }
}

impl<E, T> Column<E, T> {
    /// This column selected under another name: `col AS "name"` (a `&'static str` of the
    /// program, quoted as an identifier).
    pub fn alias(self, name: &'static str) -> Aliased<Self> {
        Aliased {
            item: self,
            alias: name,
        }
    }
}

pub(crate) fn aliased<I>(item: I, alias: &'static str) -> Aliased<I> {
    Aliased { item, alias }
}

/// An item, filter, order or group key pinned to one side of a join: from [`base`] and
/// [`joined`]. Needed in a self-join, where both sides hold the same entity.
pub struct OnSide<I, Side> {
    pub(crate) inner: I,
    _side: PhantomData<fn() -> Side>,
}

/// Places a column, entity, aggregate, filter or order on the queried entity's side of a
/// join (needed only in a self-join).
pub fn base<I>(inner: I) -> OnSide<I, Base> {
    OnSide {
        inner,
        _side: PhantomData,
    }
}

/// Places a column, entity, aggregate, filter or order on the joined entity's side (needed
/// only in a self-join: `joined(Member::NAME.eq("x"))`).
pub fn joined<I>(inner: I) -> OnSide<I, Joined> {
    OnSide {
        inner,
        _side: PhantomData,
    }
}

impl<S, Side, G, I: Item<S, Side, G>> Item<S, Side, G> for OnSide<I, Side> {
    type Output = I::Output;
    fn sql(&self) -> ItemSql {
        self.inner.sql()
    }
    fn decode(row: &PgRow, at: &mut usize) -> std::result::Result<Self::Output, sqlx::Error> {
        I::decode(row, at)
    }
}

/// `Selection` for single items (each item type, so tuples of items do not overlap).
macro_rules! single_item_selection {
    ($([$($gen:ident),*] $ty:ty;)*) => {$(
        impl<S, Side, G, $($gen),*> Selection<S, Side, G> for $ty
        where
            $ty: Item<S, Side, G>,
        {
            type Output = <$ty as Item<S, Side, G>>::Output;
            fn items(&self, out: &mut Vec<ItemSql>) {
                out.push(Item::<S, Side, G>::sql(self));
            }
            fn decode(row: &PgRow, at: &mut usize) -> std::result::Result<Self::Output, sqlx::Error> {
                <$ty as Item<S, Side, G>>::decode(row, at)
            }
        }
    )*};
}

single_item_selection! {
    [E, T] Column<E, T>;
    [E] AllColumns<E>;
    [I] Aliased<I>;
    [I, X] OnSide<I, X>;
    [E, T, F] super::aggregate::Agg<E, T, F>;
    [] super::aggregate::CountAll;
}

macro_rules! tuple_selection {
    ($(($($item:ident $side:ident $idx:tt),+))*) => {$(
        impl<S, G, $($item, $side),+> Selection<S, ($($side,)+), G> for ($($item,)+)
        where
            $($item: Item<S, $side, G>,)+
        {
            type Output = ($($item::Output,)+);
            fn items(&self, out: &mut Vec<ItemSql>) {
                $(out.push(self.$idx.sql());)+
            }
            fn decode(row: &PgRow, at: &mut usize) -> std::result::Result<Self::Output, sqlx::Error> {
                Ok(($($item::decode(row, at)?,)+))
            }
        }
    )*};
}

tuple_selection! {
    (A SA 0)
    (A SA 0, B SB 1)
    (A SA 0, B SB 1, C SC 2)
    (A SA 0, B SB 1, C SC 2, D SD 3)
    (A SA 0, B SB 1, C SC 2, D SD 3, F SF 4)
    (A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, H SH 5)
    (A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, H SH 5, I SI 6)
    (A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, H SH 5, I SI 6, J SJ 7)
    (A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, H SH 5, I SI 6, J SJ 7, K SK 8)
    (A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, H SH 5, I SI 6, J SJ 7, K SK 8, L SL 9)
    (A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, H SH 5, I SI 6, J SJ 7, K SK 8, L SL 9, N SN 10)
    (A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, H SH 5, I SI 6, J SJ 7, K SK 8, L SL 9, N SN 10, P SP 11)
}

/// A selection decoded by column name into a user struct `T` (`#[derive(sqlx::FromRow)]`):
/// from [`Select::select_as`] and [`Projection::select_as`].
pub struct As<T>(PhantomData<fn() -> T>);

impl<S, G, T> Selection<S, (), G> for As<T>
where
    T: for<'r> sqlx::FromRow<'r, PgRow>,
{
    type Output = T;
    fn items(&self, _: &mut Vec<ItemSql>) {}
    fn decode(row: &PgRow, _: &mut usize) -> std::result::Result<T, sqlx::Error> {
        T::from_row(row)
    }
}

// ---------------------------------------------------------------------------------------------
// Filters, orders and group keys of a source

/// A `Filter<E>` usable in a query over source `S` (its entity is on side `Side`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not filter an entity of this query",
    label = "a filter on an entity this query does not read",
    note = "filter by columns of the query's own entity or, after a join, of the joined one; \
            in a self-join, `joined(filter)` filters the joined side"
)]
pub trait FilterIn<S, Side> {
    /// The side and the condition with its entity erased.
    #[doc(hidden)]
    fn into_sided(self) -> (usize, Filter<()>);
}

impl<S: HasSide<E, Side>, Side, E> FilterIn<S, Side> for Filter<E> {
    fn into_sided(self) -> (usize, Filter<()>) {
        (S::SIDE, self.erase())
    }
}

impl<S, Side, F: FilterIn<S, Side>> FilterIn<S, Side> for OnSide<F, Side> {
    fn into_sided(self) -> (usize, Filter<()>) {
        self.inner.into_sided()
    }
}

/// One ORDER BY term (runtime form).
#[doc(hidden)]
#[derive(Debug, Clone)]
pub enum OrderSql {
    Column {
        side: usize,
        name: &'static str,
        desc: bool,
    },
    Aggregate {
        agg: AggSql,
        desc: bool,
    },
}

/// An ORDER BY term usable in a query over source `S` in state `G`: an [`Order`] of one of
/// its entities, or (grouped or aggregated) an aggregate's `asc()`/`desc()`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not order this query",
    label = "an order on an entity this query does not read, or on an aggregate outside `group_by`",
    note = "order by columns of the query's entities; by aggregates only after `group_by`"
)]
pub trait OrderIn<S, Side, G> {
    /// The runtime term.
    #[doc(hidden)]
    fn into_sql(self) -> OrderSql;
}

impl<S: HasSide<E, Side>, Side, G, E> OrderIn<S, Side, G> for Order<E> {
    fn into_sql(self) -> OrderSql {
        OrderSql::Column {
            side: S::SIDE,
            name: self.name,
            desc: self.desc,
        }
    }
}

impl<S, Side, G, O: OrderIn<S, Side, G>> OrderIn<S, Side, G> for OnSide<O, Side> {
    fn into_sql(self) -> OrderSql {
        self.inner.into_sql()
    }
}

/// The key of `group_by`: a [`Column`] or a tuple of up to 4 columns of the query's entities.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a group key of this query",
    label = "group by a column, or a tuple of columns, of the query's entities"
)]
pub trait GroupKey<S, M> {
    /// `(side, column)` of each key column.
    #[doc(hidden)]
    fn keys(&self, out: &mut Vec<(usize, &'static str)>);
}

impl<S: HasSide<E, Side>, Side, E, T> GroupKey<S, Side> for Column<E, T> {
    fn keys(&self, out: &mut Vec<(usize, &'static str)>) {
        out.push((S::SIDE, self.name()));
    }
}

impl<S, Side, K: GroupKey<S, Side>> GroupKey<S, Side> for OnSide<K, Side> {
    fn keys(&self, out: &mut Vec<(usize, &'static str)>) {
        self.inner.keys(out)
    }
}

macro_rules! tuple_keys {
    ($(($($k:ident $m:ident $idx:tt),+))*) => {$(
        impl<S, $($k, $m),+> GroupKey<S, ($($m,)+)> for ($($k,)+)
        where
            $($k: GroupKey<S, $m>,)+
        {
            fn keys(&self, out: &mut Vec<(usize, &'static str)>) {
                $(self.$idx.keys(out);)+
            }
        }
    )*};
}

tuple_keys! {
    (A MA 0)
    (A MA 0, B MB 1)
    (A MA 0, B MB 1, C MC 2)
    (A MA 0, B MB 1, C MC 2, D MD 3)
}

// ---------------------------------------------------------------------------------------------
// The query

/// The FROM clause.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FromSql {
    One(&'static TableDef<'static>),
    Two {
        /// `JOIN` or `LEFT JOIN`.
        kind: &'static str,
        base: &'static TableDef<'static>,
        joined: &'static TableDef<'static>,
        /// `ON t1.<joined_col> = t0.<base_col>`.
        base_col: &'static str,
        joined_col: &'static str,
    },
}

/// Everything a projection renders besides its items.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) from: FromSql,
    /// The condition on each side (AND of every `filter`).
    pub(crate) filters: [Filter<()>; 2],
    /// Extra conditions of a join's ON clause, on the joined side (`Projection::on`).
    pub(crate) on: Filter<()>,
    pub(crate) group: Vec<(usize, &'static str)>,
    pub(crate) having: Vec<super::aggregate::HavingSql>,
    pub(crate) order: Vec<OrderSql>,
    pub(crate) limit: Option<i64>,
    pub(crate) offset: Option<i64>,
    /// The storage tiers read (one entity only; a join reads the hot tables).
    pub(crate) tiers: ReadTiers,
    /// A combination found invalid while building, reported when the query runs.
    pub(crate) invalid: Option<&'static str>,
}

impl Core {
    /// The core of a query over one entity, from a [`Select`] (its filter, order, limit,
    /// offset and tiers carry over; keyset pagination is not supported here).
    pub(crate) fn from_select<E: TableRow>(select: Select<'_, E>) -> Core {
        let parts = select.into_parts();
        let invalid = if parts.after {
            Some(
                "keyset pagination (`after`) is not supported on projections, aggregates and joins",
            )
        } else {
            None
        };
        Core {
            from: FromSql::One(E::sql().table),
            filters: [parts.filter.erase(), Filter::all()],
            on: Filter::all(),
            group: Vec::new(),
            having: Vec::new(),
            order: parts
                .order
                .into_iter()
                .map(|o| OrderSql::Column {
                    side: 0,
                    name: o.name,
                    desc: o.desc,
                })
                .collect(),
            limit: parts.limit,
            offset: parts.offset,
            tiers: parts.tiers,
            invalid,
        }
    }

    fn quals(&self) -> Quals {
        match self.from {
            FromSql::One(_) => [None, None],
            FromSql::Two { .. } => [Some("t0"), Some("t1")],
        }
    }

    fn table(&self, side: usize) -> &'static TableDef<'static> {
        match self.from {
            FromSql::One(t) => t,
            FromSql::Two { base, joined, .. } => {
                if side == 0 {
                    base
                } else {
                    joined
                }
            }
        }
    }

    /// With `GROUP BY`, every plain column selected must be a key, or its table's primary key
    /// must be among the keys (PostgreSQL's functional dependency); entities need their key.
    fn check_grouping(&self, items: &[ItemSql]) -> Result<()> {
        let key_covers = |side: usize| {
            let pk = self.table(side).primary_key;
            !pk.is_empty()
                && pk
                    .iter()
                    .all(|k| self.group.iter().any(|&(s, c)| s == side && c == *k))
        };
        for item in items {
            let item = match item {
                ItemSql::Aliased(inner, _) => inner,
                other => other,
            };
            match *item {
                ItemSql::Column { side, name }
                    if !self.group.contains(&(side, name)) && !key_covers(side) =>
                {
                    return Err(Error::InvalidQuery(
                        "a selected column is neither a group_by key nor of a table whose \
                         primary key is grouped by",
                    ));
                }
                ItemSql::Entity { side, .. } if !key_covers(side) => {
                    return Err(Error::InvalidQuery(
                        "selecting a whole entity with group_by needs its primary key among \
                         the group_by keys",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `SELECT <items> FROM ... WHERE ... GROUP BY ... HAVING ... ORDER BY ... LIMIT ...`.
    pub(crate) fn build(&self, items: &[ItemSql], grouped: bool) -> Result<(String, PgArguments)> {
        if let Some(msg) = self.invalid {
            return Err(Error::InvalidQuery(msg));
        }
        if grouped {
            self.check_grouping(items)?;
        }
        if let (FromSql::One(table), false) = (self.from, self.tiers == ReadTiers::Hot) {
            return self.build_tiers(table, items);
        }
        let quals = self.quals();
        let mut w = SqlWriter::starting_with("SELECT ");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                w.push(", ");
            }
            render_item(&mut w, &quals, item);
        }
        w.push(" FROM ");
        match self.from {
            FromSql::One(t) => {
                w.push(&ident(t.name));
            }
            FromSql::Two {
                kind,
                base,
                joined,
                base_col,
                joined_col,
            } => {
                if self.filters.iter().any(Filter::has_search) || self.on.has_search() {
                    return Err(Error::InvalidQuery(
                        "full-text search (`Entity::search`) is not supported in a join",
                    ));
                }
                w.push(&ident(base.name))
                    .push(" AS t0 ")
                    .push(kind)
                    .push(" ")
                    .push(&ident(joined.name))
                    .push(" AS t1 ON ");
                push_column(&mut w, quals[1], joined_col);
                w.push(" = ");
                push_column(&mut w, quals[0], base_col);
                if !self.on.is_all() {
                    w.push(" AND ");
                    self.on.render_qualified(&mut w, quals[1], &quals);
                }
            }
        }
        let mut first = true;
        for (side, filter) in self.filters.iter().enumerate() {
            if filter.is_all() {
                continue;
            }
            w.push(if first { " WHERE " } else { " AND " });
            first = false;
            filter.render_qualified(&mut w, quals[side], &quals);
        }
        self.write_tail(&mut w, &quals);
        w.finish()
    }

    /// Writes GROUP BY, HAVING, ORDER BY, LIMIT and OFFSET.
    fn write_tail(&self, w: &mut SqlWriter, quals: &Quals) {
        for (i, &(side, name)) in self.group.iter().enumerate() {
            w.push(if i == 0 { " GROUP BY " } else { ", " });
            push_column(w, quals[side], name);
        }
        for (i, h) in self.having.iter().enumerate() {
            w.push(if i == 0 { " HAVING " } else { " AND " });
            h.render(w, quals);
        }
        for (i, o) in self.order.iter().enumerate() {
            w.push(if i == 0 { " ORDER BY " } else { ", " });
            let desc = match o {
                OrderSql::Column { side, name, desc } => {
                    push_column(w, quals[*side], name);
                    *desc
                }
                OrderSql::Aggregate { agg, desc } => {
                    agg.render(w, quals);
                    *desc
                }
            };
            if desc {
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

    /// A query over one entity read from both tiers or the archive: the tiers' rows (the
    /// filter inside each branch of the `UNION ALL`, like `Select`) as a subquery
    /// `dbpat_rows`, whose columns keep the entity's names.
    fn build_tiers(
        &self,
        table: &'static TableDef<'static>,
        items: &[ItemSql],
    ) -> Result<(String, PgArguments)> {
        let quals: Quals = [None, None];
        let mut w = SqlWriter::new();
        if !self.filters[0].is_all() {
            self.filters[0].render(&mut w);
        }
        let predicate_end = w.sql().len();
        self.write_tail(&mut w, &quals);
        let (text, args) = w.finish()?;
        let (predicate, tail) = text.split_at(predicate_end);
        let rows = select_sql(
            table,
            self.tiers,
            (!predicate.is_empty()).then_some(predicate),
            None,
        )?;
        let mut head = SqlWriter::starting_with("SELECT ");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                head.push(", ");
            }
            render_item(&mut head, &quals, item);
        }
        let sql = format!("{} FROM ({rows}) AS dbpat_rows{tail}", head.sql());
        Ok((sql, args))
    }
}

fn render_item(w: &mut SqlWriter, quals: &Quals, item: &ItemSql) {
    match item {
        ItemSql::Column { side, name } => push_column(w, quals[*side], name),
        ItemSql::Entity { side, table } => {
            for (i, c) in table.columns.iter().enumerate() {
                if i > 0 {
                    w.push(", ");
                }
                push_column(w, quals[*side], c.name);
            }
        }
        ItemSql::Aggregate(agg) => agg.render(w, quals),
        ItemSql::Aliased(inner, alias) => {
            render_item(w, quals, inner);
            w.push(" AS ").push(&ident(alias));
        }
    }
}

/// A query that selects `Sel` (columns, entities, aggregates) from source `S` (one entity, or
/// a join), in grouping state `G` ([`Rows`], [`Total`] or [`Groups`]); `M` records the side of
/// each selected item. Built from a [`Select`] by [`Select::select`], [`Select::select_as`],
/// [`Select::aggregate`], [`Select::group_by`], [`Select::join`] or [`Select::left_join`];
/// run with `fetch_all`, `fetch_optional`, `fetch_one` or `stream`, executor first.
///
/// A filter, order, limit or offset of the `Select` carries over, and so do its
/// [`tiers`](Select::tiers): over the archive or both tiers, the items are computed over the
/// `UNION ALL` of the tiers' rows (`SELECT ... FROM (<hot> UNION ALL <archive>) AS dbpat_rows
/// GROUP BY ...`, the filter inside each branch). Keyset pagination ([`Select::after`]) is not
/// supported here, nor are tiers in a join: such a query fails with [`Error::InvalidQuery`]
/// when it runs.
pub struct Projection<S, Sel, G, M> {
    pub(crate) core: Core,
    pub(crate) items: Vec<ItemSql>,
    _marker: PhantomData<Marker4<S, Sel, G, M>>,
}

type Marker4<S, Sel, G, M> = fn() -> (S, Sel, G, M);

impl<S, Sel, G, M> std::fmt::Debug for Projection<S, Sel, G, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projection")
            .field("core", &self.core)
            .field("items", &self.items)
            .finish()
    }
}

impl<S, Sel, G, M> Projection<S, Sel, G, M> {
    pub(crate) fn from_core(core: Core, items: Vec<ItemSql>) -> Self {
        Projection {
            core,
            items,
            _marker: PhantomData,
        }
    }

    fn reshape<Sel2, G2, M2>(self, items: Vec<ItemSql>) -> Projection<S, Sel2, G2, M2> {
        Projection::from_core(self.core, items)
    }

    /// Adds a condition (AND with the ones before) on a column of one of the query's
    /// entities: `Filter<User>` or, after a join, `Filter<Order>`. In a self-join, wrap it in
    /// [`joined`] for the joined side. (On a left join, a condition on the joined side in
    /// WHERE drops the rows without a match, as in SQL.)
    pub fn filter<Side>(mut self, filter: impl FilterIn<S, Side>) -> Self {
        let (side, f) = filter.into_sided();
        let old = std::mem::replace(&mut self.core.filters[side], Filter::all());
        self.core.filters[side] = old.and(f);
        self
    }

    /// Adds an ORDER BY term: a column's `asc()`/`desc()` of either entity, or (with
    /// `group_by`) an aggregate's.
    pub fn order_by<Side>(mut self, order: impl OrderIn<S, Side, G>) -> Self {
        self.core.order.push(order.into_sql());
        self
    }

    /// `LIMIT $n`
    pub fn limit(mut self, n: i64) -> Self {
        self.core.limit = Some(n);
        self
    }

    /// `OFFSET $n`
    pub fn offset(mut self, n: i64) -> Self {
        self.core.offset = Some(n);
        self
    }
}

impl<S, Sel, M> Projection<S, Sel, Rows, M> {
    /// Selects `items` instead: a column, `columns_of::<E>()`, or a tuple of them, of any
    /// entity of the query. The rows decode into the selection's `Output`.
    pub fn select<Sel2, M2>(self, items: Sel2) -> Projection<S, Sel2, Rows, M2>
    where
        Sel2: Selection<S, M2, Rows>,
    {
        let mut out = Vec::new();
        items.items(&mut out);
        self.reshape(out)
    }

    /// Selects `items` and decodes each row by column name into `T` (`#[derive(sqlx::FromRow)]`;
    /// name a column with [`Column::alias`] when the field's name differs).
    pub fn select_as<T, Sel2, M2>(self, items: Sel2) -> Projection<S, As<T>, Rows, ()>
    where
        Sel2: Selection<S, M2, Rows>,
        T: for<'r> sqlx::FromRow<'r, PgRow>,
    {
        let mut out = Vec::new();
        items.items(&mut out);
        self.reshape(out)
    }

    /// Aggregates over every matching row: one result, whose `SUM`/`AVG`/`MIN`/`MAX` are
    /// `Option`s (NULL over zero rows). Only aggregates can be selected.
    pub fn aggregate<Sel2, M2>(self, items: Sel2) -> Projection<S, Sel2, Total, M2>
    where
        Sel2: Selection<S, M2, Total>,
    {
        let mut out = Vec::new();
        items.items(&mut out);
        self.reshape(out)
    }

    /// `GROUP BY keys` (a column, or a tuple of columns, of the query's entities); choose what
    /// each group returns with [`Projection::select`] next, and filter groups with
    /// [`Projection::having`].
    pub fn group_by<K, MK>(mut self, keys: K) -> Projection<S, (), Groups, ()>
    where
        K: GroupKey<S, MK>,
    {
        keys.keys(&mut self.core.group);
        self.reshape(Vec::new())
    }
}

impl<S, Sel, M> Projection<S, Sel, Groups, M> {
    /// What each group returns: group keys, columns of a table whose primary key is grouped
    /// by, `columns_of::<E>()` of such a table, and aggregates; or a tuple of them. A plain
    /// column that is none of these fails with [`Error::InvalidQuery`] when the query runs.
    pub fn select<Sel2, M2>(self, items: Sel2) -> Projection<S, Sel2, Groups, M2>
    where
        Sel2: Selection<S, M2, Groups>,
    {
        let mut out = Vec::new();
        items.items(&mut out);
        self.reshape(out)
    }

    /// Like [`Projection::select`], each row decoded by column name into `T`.
    pub fn select_as<T, Sel2, M2>(self, items: Sel2) -> Projection<S, As<T>, Groups, ()>
    where
        Sel2: Selection<S, M2, Groups>,
        T: for<'r> sqlx::FromRow<'r, PgRow>,
    {
        let mut out = Vec::new();
        items.items(&mut out);
        self.reshape(out)
    }

    /// Keeps the groups matching `condition`: `HAVING <aggregate> <op> $n`, built from an
    /// aggregate (`count(Order::ID).gt(5)`, `sum(Order::TOTAL).ge(amount)`), the value bound
    /// with the aggregate's result type. Several `having` calls are ANDed.
    pub fn having<Side>(mut self, condition: impl super::aggregate::HavingIn<S, Side>) -> Self {
        self.core.having.push(condition.into_sql());
        self
    }
}

impl<S, Sel, G, M> Projection<S, Sel, G, M>
where
    Sel: Selection<S, M, G>,
    G: Grouping,
{
    fn built(&self) -> Result<(String, PgArguments)> {
        self.core.build(&self.items, G::GROUPED)
    }

    fn decode_row(row: PgRow) -> std::result::Result<Sel::Output, sqlx::Error> {
        Sel::decode(&row, &mut 0)
    }

    /// The SQL text this query runs (for logs and tests); empty if the query cannot run (the
    /// error then comes from executing it).
    pub fn to_sql(&self) -> String {
        self.built().map(|(sql, _)| sql).unwrap_or_default()
    }

    /// All result rows.
    pub async fn fetch_all<'e, X>(self, ex: X) -> Result<Vec<Sel::Output>>
    where
        X: Executor<'e, Database = Postgres>,
        Sel::Output: Send + Unpin,
    {
        let (sql, args) = self.built()?;
        Statement::on("select_columns", "SELECT", self.core.table(0))
            .run(&sql, async {
                Ok(sqlx::query_with(&sql, args)
                    .try_map(Self::decode_row)
                    .fetch_all(ex)
                    .await?)
            })
            .await
    }

    /// The first result row, if any.
    pub async fn fetch_optional<'e, X>(self, ex: X) -> Result<Option<Sel::Output>>
    where
        X: Executor<'e, Database = Postgres>,
        Sel::Output: Send + Unpin,
    {
        let (sql, args) = self.built()?;
        Statement::on("select_columns", "SELECT", self.core.table(0))
            .run(&sql, async {
                Ok(sqlx::query_with(&sql, args)
                    .try_map(Self::decode_row)
                    .fetch_optional(ex)
                    .await?)
            })
            .await
    }

    /// The first result row, or [`Error::NotFound`] (with the base entity's name and an empty
    /// key). An [`aggregate`](Projection::aggregate) always has exactly one row.
    pub async fn fetch_one<'e, X>(self, ex: X) -> Result<Sel::Output>
    where
        X: Executor<'e, Database = Postgres>,
        Sel::Output: Send + Unpin,
    {
        let entity = self.core.table(0).entity;
        self.fetch_optional(ex).await?.ok_or(Error::NotFound {
            entity,
            key: String::new(),
        })
    }

    /// The result rows as a stream, decoded one at a time (see [`Select::stream`]).
    pub fn stream<'e, X>(self, ex: X) -> RowStream<'e, Sel::Output>
    where
        X: Executor<'e, Database = Postgres> + 'e,
        Sel::Output: Send + Unpin + 'e,
    {
        mapped_rows(
            Statement::on("select_columns", "SELECT", self.core.table(0)),
            self.built(),
            ex,
            Self::decode_row,
        )
    }

    /// `EXPLAIN (ANALYZE, BUFFERS)` of this query with its bound values.
    pub async fn explain<'e, X>(self, ex: X) -> Result<String>
    where
        X: Executor<'e, Database = Postgres>,
    {
        let (sql, args) = self.built()?;
        super::explain::explain_analyze(ex, &sql, args).await
    }
}

/// A `Select` turned into a projection of `items` (the entry points on [`Select`]).
pub(crate) fn from_select<'a, E: TableRow, Sel, G, M>(
    select: Select<'a, E>,
    items: &Sel,
) -> Projection<One<E>, Sel, G, M>
where
    Sel: Selection<One<E>, M, G>,
{
    let mut out = Vec::new();
    items.items(&mut out);
    Projection::from_core(Core::from_select(select), out)
}

/// The rows projection of a `Select` before any selection (for `group_by`).
pub(crate) fn rows_of<E: TableRow>(
    select: Select<'_, E>,
) -> Projection<One<E>, AllColumns<E>, Rows, Base> {
    let mut out = Vec::new();
    Selection::<One<E>, Base, Rows>::items(&columns_of::<E>(), &mut out);
    Projection::from_core(Core::from_select(select), out)
}

/// The entry points of projections and aggregates on a [`Select`].
impl<'a, E: super::row::TableRow, Via> Select<'a, E, Via> {
    /// Selects chosen columns instead of whole rows: a [`Column`](super::Column), an entity's
    /// [`columns_of`](super::columns_of), or a tuple of them; each row decodes into the
    /// columns' Rust types (`(User::EMAIL, User::NAME)` → `(String, String)`). See
    /// [`Projection`].
    pub fn select<Sel, M>(self, items: Sel) -> Projection<One<E>, Sel, Rows, M>
    where
        Sel: Selection<One<E>, M, Rows>,
    {
        from_select(self.into_direct().0, &items)
    }

    /// Like [`Select::select`], each row decoded by column name into a user struct `T`
    /// (`#[derive(sqlx::FromRow)]`); rename a column with [`Column::alias`](super::Column::alias).
    pub fn select_as<T, Sel, M>(self, items: Sel) -> Projection<One<E>, As<T>, Rows, ()>
    where
        Sel: Selection<One<E>, M, Rows>,
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        rows_of(self.into_direct().0).select_as::<T, Sel, M>(items)
    }

    /// Aggregates over every matching row (`SELECT COUNT(*), SUM(total) FROM ...`): one
    /// result. See [`sum`](super::sum) for the result types.
    pub fn aggregate<Sel, M>(self, items: Sel) -> Projection<One<E>, Sel, Total, M>
    where
        Sel: Selection<One<E>, M, Total>,
    {
        from_select(self.into_direct().0, &items)
    }

    /// `GROUP BY keys`; then `.select(...)` what each group returns and `.having(...)`.
    pub fn group_by<K, MK>(self, keys: K) -> Projection<One<E>, (), Groups, ()>
    where
        K: GroupKey<One<E>, MK>,
    {
        rows_of(self.into_direct().0).group_by(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifies_only_in_joins() {
        let quals: Quals = [Some("t0"), Some("t1")];
        let mut w = SqlWriter::new();
        render_item(
            &mut w,
            &quals,
            &ItemSql::Aliased(
                Box::new(ItemSql::Aggregate(AggSql {
                    func: "COUNT",
                    distinct: true,
                    column: Some((1, "user")),
                })),
                "n",
            ),
        );
        assert_eq!(w.sql(), "COUNT(DISTINCT t1.\"user\") AS n");
        let mut w = SqlWriter::new();
        render_item(
            &mut w,
            &[None, None],
            &ItemSql::Column {
                side: 0,
                name: "id",
            },
        );
        assert_eq!(w.sql(), "id");
    }
}
