//! Aggregates — [`count_all`], [`count`], [`count_distinct`], [`sum`], [`avg`], [`min`],
//! [`max`] — for [`Projection::aggregate`](super::Projection::aggregate) (one result over all
//! matching rows) and `group_by(...).select(...)` (one per group), and typed `HAVING`
//! conditions on them.
//!
//! # Result types
//!
//! Each aggregate decodes into the type PostgreSQL returns for it:
//!
//! | Aggregate | Column type | Result | NULL when |
//! |---|---|---|---|
//! | `COUNT(*)`, `COUNT(col)`, `COUNT(DISTINCT col)` | any | `i64` | never (0 over no rows) |
//! | `SUM(col)` | `i16`, `i32` | `i64` (`bigint`) | see below |
//! | `SUM(col)` | `i64`, `Decimal` | `Decimal` (`numeric`) | see below |
//! | `SUM(col)` | `f32` / `f64` | `f32` / `f64` | see below |
//! | `AVG(col)` | `i16`, `i32`, `i64`, `Decimal` | `Decimal` (`numeric`) | see below |
//! | `AVG(col)` | `f32`, `f64` | `f64` | see below |
//! | `MIN(col)`, `MAX(col)` | integers, `Decimal`, floats, `String`, timestamps, dates | the column's type | see below |
//!
//! `SUM`, `AVG`, `MIN` and `MAX` are NULL over a set of rows that has no non-NULL value, so
//! their result is an `Option` when that can happen:
//! - with [`aggregate`](super::Projection::aggregate) (no `GROUP BY`): always — zero matching
//!   rows give one result row of NULLs;
//! - with `group_by`: a group has at least one row, so the result is the bare type — unless
//!   the column is nullable (`Option<T>` field), or it is on the joined side of a
//!   `left_join` (a parent without children is a group whose child columns are all NULL).
//!
//! `AVG` of integers is `numeric` with up to 16 fractional digits; it decodes into
//! `rust_decimal::Decimal` (28 significant digits) unless the integer part is very large.

use super::filter::Column;
use super::projection::{
    aliased, AggSql, Aliased, AllowsAggregates, Grouping, HasSide, Item, ItemSql, Nullity,
    OrderSql, Quals,
};
use super::value::{BindValue, IntoValue};
use super::writer::SqlWriter;
use crate::column_type::{ColumnType, NotNull};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row};
use std::marker::PhantomData;
use std::sync::Arc;

/// Column types `SUM` accepts, and the type PostgreSQL sums them into.
#[diagnostic::on_unimplemented(
    message = "a `{Self}` column cannot be summed",
    label = "SUM needs a numeric column",
    note = "SUM is defined for i16, i32, i64, Decimal, f32 and f64 columns"
)]
pub trait Summable {
    /// `i64` for `i16`/`i32` (`bigint`), `Decimal` for `i64`/`Decimal` (`numeric`), the
    /// float type itself for floats.
    type Sum: for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + for<'q> sqlx::Encode<'q, Postgres>
        + Send
        + Sync
        + 'static;
}

/// Column types `AVG` accepts, and the type PostgreSQL averages them into.
#[diagnostic::on_unimplemented(
    message = "a `{Self}` column cannot be averaged",
    label = "AVG needs a numeric column",
    note = "AVG is defined for i16, i32, i64, Decimal, f32 and f64 columns"
)]
pub trait Averageable {
    /// `Decimal` for integers and `Decimal` (`numeric`), `f64` for floats.
    type Avg: for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + for<'q> sqlx::Encode<'q, Postgres>
        + Send
        + Sync
        + 'static;
}

/// Column types `MIN`/`MAX` accept (PostgreSQL has no `min(uuid)`, `min(jsonb)` or
/// `min(boolean)`).
#[diagnostic::on_unimplemented(
    message = "`MIN`/`MAX` of a `{Self}` column is not supported",
    label = "MIN/MAX need an ordered column",
    note = "MIN/MAX are defined for integers, Decimal, floats, String, DateTime<Utc> and NaiveDate"
)]
pub trait Ordered {}

macro_rules! numeric {
    ($($ty:ty => $sum:ty, $avg:ty;)*) => {$(
        impl Summable for $ty { type Sum = $sum; }
        impl Averageable for $ty { type Avg = $avg; }
        impl Ordered for $ty {}
    )*};
}

numeric! {
    i16 => i64, Decimal;
    i32 => i64, Decimal;
    i64 => Decimal, Decimal;
    Decimal => Decimal, Decimal;
    f32 => f32, f64;
    f64 => f64, f64;
}
impl Ordered for String {}
impl Ordered for chrono::DateTime<chrono::Utc> {}
impl Ordered for chrono::NaiveDate {}

/// An aggregate function over a column whose value type is `V`.
pub trait AggFn<V> {
    /// The Rust type of the result (before nullability).
    type Value: for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + for<'q> sqlx::Encode<'q, Postgres>
        + Send
        + Sync
        + 'static;
    /// The result's nullability given the input's: [`NotNull`] for counts.
    type Nullity<N: Nullity>: Nullity;
    /// The SQL function.
    const FUNC: &'static str;
    /// `COUNT(DISTINCT ...)`.
    const DISTINCT: bool = false;
}

/// `COUNT(col)`: non-NULL values.
pub enum CountFn {}
/// `COUNT(DISTINCT col)`.
pub enum CountDistinctFn {}
/// `SUM(col)`.
pub enum SumFn {}
/// `AVG(col)`.
pub enum AvgFn {}
/// `MIN(col)`.
pub enum MinFn {}
/// `MAX(col)`.
pub enum MaxFn {}

impl<V> AggFn<V> for CountFn {
    type Value = i64;
    type Nullity<N: Nullity> = NotNull;
    const FUNC: &'static str = "COUNT";
}
impl<V> AggFn<V> for CountDistinctFn {
    type Value = i64;
    type Nullity<N: Nullity> = NotNull;
    const FUNC: &'static str = "COUNT";
    const DISTINCT: bool = true;
}
impl<V: Summable> AggFn<V> for SumFn {
    type Value = V::Sum;
    type Nullity<N: Nullity> = N;
    const FUNC: &'static str = "SUM";
}
impl<V: Averageable> AggFn<V> for AvgFn {
    type Value = V::Avg;
    type Nullity<N: Nullity> = N;
    const FUNC: &'static str = "AVG";
}
impl<
        V: Ordered
            + for<'r> sqlx::Decode<'r, Postgres>
            + sqlx::Type<Postgres>
            + for<'q> sqlx::Encode<'q, Postgres>
            + Send
            + Sync
            + 'static,
    > AggFn<V> for MinFn
{
    type Value = V;
    type Nullity<N: Nullity> = N;
    const FUNC: &'static str = "MIN";
}
impl<
        V: Ordered
            + for<'r> sqlx::Decode<'r, Postgres>
            + sqlx::Type<Postgres>
            + for<'q> sqlx::Encode<'q, Postgres>
            + Send
            + Sync
            + 'static,
    > AggFn<V> for MaxFn
{
    type Value = V;
    type Nullity<N: Nullity> = N;
    const FUNC: &'static str = "MAX";
}

/// An aggregate `F` of column `Column<E, T>`: from [`count`], [`count_distinct`], [`sum`],
/// [`avg`], [`min`], [`max`]. Select it, order by it ([`Agg::desc`]) or filter groups by it
/// ([`Agg::gt`] and the other comparisons, for `having`).
pub struct Agg<E, T, F> {
    column: &'static str,
    _marker: PhantomData<Marker3<E, T, F>>,
}

type Marker3<E, T, F> = fn() -> (E, T, F);

impl<E, T, F> Clone for Agg<E, T, F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E, T, F> Copy for Agg<E, T, F> {}

fn agg<E, T, F>(column: Column<E, T>) -> Agg<E, T, F> {
    Agg {
        column: column.name(),
        _marker: PhantomData,
    }
}

/// `COUNT(col)`: the number of rows where `col` is not NULL (`i64`). On the joined side of a
/// left join, `count(Order::ID)` is 0 for a parent without children.
pub fn count<E, T>(column: Column<E, T>) -> Agg<E, T, CountFn> {
    agg(column)
}

/// `COUNT(DISTINCT col)` (`i64`).
pub fn count_distinct<E, T>(column: Column<E, T>) -> Agg<E, T, CountDistinctFn> {
    agg(column)
}

/// `SUM(col)`: `i64` for `i16`/`i32` columns, `Decimal` for `i64` and `Decimal` (money), the
/// float type for floats; an `Option` where it can be NULL (see the module docs).
///
/// ```no_run
/// # use dbpat_runtime::query::{sum, count_all, Column, Table};
/// # use rust_decimal::Decimal;
/// # async fn demo<O: Table>(pool: &sqlx::PgPool, total: Column<O, Decimal>)
/// # -> dbpat_runtime::Result<()> {
/// // SELECT COUNT(*), SUM(total) FROM orders
/// let (n, revenue): (i64, Option<Decimal>) =
///     O::query().aggregate((count_all(), sum(total))).fetch_one(pool).await?;
/// # let _ = (n, revenue); Ok(()) }
/// ```
pub fn sum<E, T>(column: Column<E, T>) -> Agg<E, T, SumFn>
where
    T: ColumnType,
    T::Value: Summable,
{
    agg(column)
}

/// `AVG(col)`: `Decimal` for integers and `Decimal`, `f64` for floats.
pub fn avg<E, T>(column: Column<E, T>) -> Agg<E, T, AvgFn>
where
    T: ColumnType,
    T::Value: Averageable,
{
    agg(column)
}

/// `MIN(col)`, of the column's type.
pub fn min<E, T>(column: Column<E, T>) -> Agg<E, T, MinFn>
where
    T: ColumnType,
    T::Value: Ordered,
{
    agg(column)
}

/// `MAX(col)`, of the column's type.
pub fn max<E, T>(column: Column<E, T>) -> Agg<E, T, MaxFn>
where
    T: ColumnType,
    T::Value: Ordered,
{
    agg(column)
}

/// `COUNT(*)`: the number of rows (`i64`), of any query.
#[derive(Debug, Clone, Copy)]
pub struct CountAll;

/// `COUNT(*)`: the number of rows (`i64`).
pub fn count_all() -> CountAll {
    CountAll
}

const COUNT_STAR: AggSql = AggSql {
    func: "COUNT",
    distinct: false,
    column: None,
};

/// The nullability of aggregate `F` of a `T` column on a side of nullability `SN` in state
/// `G`.
pub type AggNullity<F, T, SN, G> = <F as AggFn<<T as ColumnType>::Value>>::Nullity<
    <<<T as ColumnType>::Nullability as Nullity>::Or<SN> as Nullity>::Or<
        <G as Grouping>::AggNullity,
    >,
>;

/// The decoded type of aggregate `F` of a `T` column.
pub type AggOutput<F, T, SN, G> =
    <AggNullity<F, T, SN, G> as Nullity>::Apply<<F as AggFn<<T as ColumnType>::Value>>::Value>;

impl<E, T, F> Agg<E, T, F> {
    fn sql_at(&self, side: usize) -> AggSql
    where
        F: AggFn<T::Value>,
        T: ColumnType,
    {
        AggSql {
            func: F::FUNC,
            distinct: F::DISTINCT,
            column: Some((side, self.column)),
        }
    }

    /// This aggregate selected under a name: `SUM(total) AS "revenue"` (for `select_as`).
    pub fn alias(self, name: &'static str) -> Aliased<Self> {
        aliased(self, name)
    }

    /// `ORDER BY <aggregate> ASC` (with `group_by`).
    pub fn asc(self) -> AggOrder<E, T, F> {
        AggOrder {
            agg: self,
            desc: false,
        }
    }

    /// `ORDER BY <aggregate> DESC` (with `group_by`).
    pub fn desc(self) -> AggOrder<E, T, F> {
        AggOrder {
            agg: self,
            desc: true,
        }
    }
}

impl<S, Side, G, E, T, F> Item<S, Side, G> for Agg<E, T, F>
where
    S: HasSide<E, Side>,
    G: AllowsAggregates,
    T: ColumnType,
    T::Nullability: Nullity,
    F: AggFn<T::Value>,
    AggOutput<F, T, S::Nullity, G>: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    type Output = AggOutput<F, T, S::Nullity, G>;
    fn sql(&self) -> ItemSql {
        ItemSql::Aggregate(self.sql_at(S::SIDE))
    }
    fn decode(row: &PgRow, at: &mut usize) -> Result<Self::Output, sqlx::Error> {
        let v = row.try_get(*at)?;
        *at += 1;
        Ok(v)
    }
}

impl<S, G: AllowsAggregates> Item<S, super::projection::Base, G> for CountAll {
    type Output = i64;
    fn sql(&self) -> ItemSql {
        ItemSql::Aggregate(COUNT_STAR)
    }
    fn decode(row: &PgRow, at: &mut usize) -> Result<i64, sqlx::Error> {
        let v = row.try_get(*at)?;
        *at += 1;
        Ok(v)
    }
}

impl CountAll {
    /// `COUNT(*) AS "name"`.
    pub fn alias(self, name: &'static str) -> Aliased<Self> {
        aliased(self, name)
    }

    /// `ORDER BY COUNT(*) ASC`.
    pub fn asc(self) -> CountAllOrder {
        CountAllOrder(false)
    }

    /// `ORDER BY COUNT(*) DESC`.
    pub fn desc(self) -> CountAllOrder {
        CountAllOrder(true)
    }
}

/// `ORDER BY` an aggregate, from [`Agg::asc`] / [`Agg::desc`].
pub struct AggOrder<E, T, F> {
    agg: Agg<E, T, F>,
    desc: bool,
}

/// `ORDER BY COUNT(*)`, from [`CountAll::asc`] / [`CountAll::desc`].
pub struct CountAllOrder(bool);

impl<S, Side, G, E, T, F> super::projection::OrderIn<S, Side, G> for AggOrder<E, T, F>
where
    S: HasSide<E, Side>,
    G: AllowsAggregates,
    T: ColumnType,
    F: AggFn<T::Value>,
{
    fn into_sql(self) -> OrderSql {
        OrderSql::Aggregate {
            agg: self.agg.sql_at(S::SIDE),
            desc: self.desc,
        }
    }
}

impl<S, G: AllowsAggregates> super::projection::OrderIn<S, super::projection::Base, G>
    for CountAllOrder
{
    fn into_sql(self) -> OrderSql {
        OrderSql::Aggregate {
            agg: COUNT_STAR,
            desc: self.0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HAVING

/// One `HAVING` condition (runtime form).
#[doc(hidden)]
#[derive(Clone)]
pub struct HavingSql {
    agg: AggSql,
    op: &'static str,
    value: Arc<dyn BindValue>,
}

impl std::fmt::Debug for HavingSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HAVING {}({:?}) {} $",
            self.agg.func, self.agg.column, self.op
        )
    }
}

impl HavingSql {
    pub(crate) fn render(&self, w: &mut SqlWriter, quals: &Quals) {
        self.agg.render(w, quals);
        w.push(" ").push(self.op).push(" ");
        w.push_bind(self.value.as_ref());
    }
}

/// A `HAVING` condition on an aggregate of a column of `E`: from [`Agg::gt`] and the other
/// comparisons. Only aggregates build one, so `having` cannot take a plain column filter.
pub struct Having<E> {
    agg_column: &'static str,
    func: &'static str,
    distinct: bool,
    op: &'static str,
    value: Arc<dyn BindValue>,
    _marker: PhantomData<fn() -> E>,
}

/// A `HAVING` condition on `COUNT(*)`: from [`CountAll::gt`] and the other comparisons.
pub struct HavingCountAll {
    op: &'static str,
    value: i64,
}

/// A `HAVING` condition usable in a query over source `S`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a HAVING condition of this query",
    label = "`having` takes a comparison of an aggregate, e.g. `count(Order::ID).gt(5)`",
    note = "filter rows before grouping with `filter(...)`; `having` filters groups by an \
            aggregate of one of the query's entities"
)]
pub trait HavingIn<S, Side> {
    /// The runtime condition.
    #[doc(hidden)]
    fn into_sql(self) -> HavingSql;
}

impl<S: HasSide<E, Side>, Side, E> HavingIn<S, Side> for Having<E> {
    fn into_sql(self) -> HavingSql {
        HavingSql {
            agg: AggSql {
                func: self.func,
                distinct: self.distinct,
                column: Some((S::SIDE, self.agg_column)),
            },
            op: self.op,
            value: self.value,
        }
    }
}

impl<S> HavingIn<S, super::projection::Base> for HavingCountAll {
    fn into_sql(self) -> HavingSql {
        HavingSql {
            agg: COUNT_STAR,
            op: self.op,
            value: Arc::new(self.value),
        }
    }
}

impl<S, Side, H: HavingIn<S, Side>> HavingIn<S, Side> for super::projection::OnSide<H, Side> {
    fn into_sql(self) -> HavingSql {
        self.inner.into_sql()
    }
}

macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident => $op:literal;)*) => {
        impl<E, T, F> Agg<E, T, F>
        where
            T: ColumnType,
            F: AggFn<T::Value>,
        {
            $(
                $(#[$doc])*
                pub fn $name(self, value: impl IntoValue<F::Value>) -> Having<E> {
                    Having {
                        agg_column: self.column,
                        func: F::FUNC,
                        distinct: F::DISTINCT,
                        op: $op,
                        value: Arc::new(value.into_value()),
                        _marker: PhantomData,
                    }
                }
            )*
        }

        impl CountAll {
            $(
                $(#[$doc])*
                pub fn $name(self, value: i64) -> HavingCountAll {
                    HavingCountAll { op: $op, value }
                }
            )*
        }
    };
}

comparisons! {
    /// `HAVING <aggregate> = $n`, the value of the aggregate's result type.
    eq => "=";
    /// `HAVING <aggregate> <> $n`
    ne => "<>";
    /// `HAVING <aggregate> < $n`
    lt => "<";
    /// `HAVING <aggregate> <= $n`
    le => "<=";
    /// `HAVING <aggregate> > $n`
    gt => ">";
    /// `HAVING <aggregate> >= $n`
    ge => ">=";
}
