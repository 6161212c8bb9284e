//! Joins along declared foreign keys ([`Relation`]s): [`Select::join`] (inner) and
//! [`Select::left_join`], in either direction — a parent joined to its children
//! (`User::query().left_join(Order::USER)`) or a child to its parent
//! (`Order::query().join(Order::USER)`).
//!
//! The result is a [`Join`], a [`Projection`] that selects both entities: rows decode into
//! `(User, Order)` for an inner join and `(User, Option<Order>)` for a left join (`None` for a
//! parent without children). Filters and orders take the existing typed [`Filter`]s and
//! [`Order`]s of either entity; `select`, `group_by` and `aggregate` work as on one table,
//! with columns of both.
//!
//! The SQL names the tables `t0` (the queried entity) and `t1` (the joined one) and
//! qualifies every column, so colliding names (`id`, `created_at`) and self-joins are
//! unambiguous; entities are decoded by position, not by name.
//!
//! ```no_run
//! # use dbpat_runtime::query::{Column, Relation, Table};
//! # async fn demo<U: Table, O: Table>(pool: &sqlx::PgPool, rel: Relation<O, U>, total: Column<O, i64>, id: Column<O, i64>)
//! # -> dbpat_runtime::Result<()> {
//! // SELECT t0.*, t1.* FROM users AS t0 LEFT JOIN orders AS t1 ON t1.user_id = t0.id
//! //   WHERE t1.total > $1 ORDER BY t1.id
//! let rows: Vec<(U, Option<O>)> = U::query()
//!     .left_join(rel)
//!     .filter(total.gt(100))
//!     .order_by(id.asc())
//!     .fetch_all(pool)
//!     .await?;
//! # let _ = rows; Ok(()) }
//! ```
//!
//! In a self-join (a self-referencing foreign key) both sides are the same entity: say which
//! way to join with [`Relation::to_parent`] / [`Relation::to_children`], and which side a
//! filter, order or column is on with [`base`](super::base) / [`joined`](super::joined).
//!
//! [`Filter`]: super::Filter
//! [`Order`]: super::Order

use super::projection::{
    AllColumns, Base, Core, FilterIn, FromSql, HasSide, ItemSql, Joined, OnSide, Projection, Rows,
};
use super::relation::Relation;
use super::row::TableRow;
use super::select::Select;
use crate::column_type::{NotNull, Null};
use std::marker::PhantomData;

/// An inner join (`JOIN`): the joined side is always there.
pub enum Inner {}
/// A left outer join (`LEFT JOIN`): the joined side may be missing (`Option`).
pub enum LeftOuter {}

/// A kind of join: [`Inner`] or [`LeftOuter`].
pub trait JoinKind {
    /// `JOIN` / `LEFT JOIN`.
    #[doc(hidden)]
    const SQL: &'static str;
    /// Whether the joined side may be missing.
    #[doc(hidden)]
    type Nullity: super::projection::Nullity;
}
impl JoinKind for Inner {
    const SQL: &'static str = "JOIN";
    type Nullity = NotNull;
}
impl JoinKind for LeftOuter {
    const SQL: &'static str = "LEFT JOIN";
    type Nullity = Null;
}

/// The source of a query joining `R` to `L` (kind `K`).
pub struct Two<L, R, K>(PhantomData<Marker3<L, R, K>>);

type Marker3<L, R, K> = fn() -> (L, R, K);

impl<L, R, K> HasSide<L, Base> for Two<L, R, K> {
    const SIDE: usize = 0;
    type Nullity = NotNull;
}

impl<L, R, K: JoinKind> HasSide<R, Joined> for Two<L, R, K> {
    const SIDE: usize = 1;
    type Nullity = K::Nullity;
}

/// A join of `R` to `L` selecting both entities: rows are `(L, R)` ([`Inner`]) or
/// `(L, Option<R>)` ([`LeftOuter`]). Narrow it with `filter`, `order_by`, `limit`; select
/// other items with `select`; aggregate with `group_by` / `aggregate`.
pub type Join<L, R, K> = Projection<
    Two<L, R, K>,
    (OnSide<AllColumns<L>, Base>, OnSide<AllColumns<R>, Joined>),
    Rows,
    (Base, Joined),
>;

impl<L, R, K, Sel, G, M> Projection<Two<L, R, K>, Sel, G, M> {
    /// Adds a condition on the joined entity to the join's `ON` clause (AND with the foreign
    /// key): `LEFT JOIN orders AS t1 ON t1.user_id = t0.id AND t1.status = $1`. On a left join
    /// the parents without a matching child stay (with `None`, or a count of 0), where the
    /// same condition in [`filter`](Projection::filter) (WHERE) would drop them.
    ///
    /// ```no_run
    /// # use dbpat_runtime::query::{columns_of, count, Column, Relation, Table};
    /// # async fn demo<U: Table, O: Table>(pool: &sqlx::PgPool, rel: Relation<O, U>, uid: Column<U, i64>, paid: Column<O, bool>, oid: Column<O, i64>)
    /// # -> dbpat_runtime::Result<()> {
    /// // Every user with the number of their paid orders, 0 included.
    /// let rows: Vec<(U, i64)> = U::query()
    ///     .left_join(rel)
    ///     .on(paid.eq(true))
    ///     .group_by(uid)
    ///     .select((columns_of::<U>(), count(oid)))
    ///     .fetch_all(pool)
    ///     .await?;
    /// # let _ = rows; Ok(()) }
    /// ```
    pub fn on(mut self, condition: impl FilterIn<Two<L, R, K>, Joined>) -> Self {
        let (_, f) = condition.into_sided();
        let old = std::mem::replace(&mut self.core.on, super::filter::Filter::all());
        self.core.on = old.and(f);
        self
    }
}

/// A condition over both entities of a join, combined with AND/OR/NOT across them:
/// `(t0.status = $1 OR t1.total > $2)`. (Successive [`filter`](Projection::filter) calls
/// are ANDed; this is for the other combinations.)
///
/// ```
/// # use dbpat_runtime::query::{Column, Join, JoinFilter, LeftOuter, Table};
/// # fn demo<U: Table, O: Table>(q: Join<U, O, LeftOuter>, name: Column<U, String>, total: Column<O, i64>) {
/// let q = q.filter(JoinFilter::new(name.eq("ann")).or(total.gt(100)));
/// assert!(q.to_sql().ends_with("WHERE (t0.name = $1 OR t1.total > $2)"));
/// # }
/// ```
pub struct JoinFilter<S> {
    filter: super::filter::Filter<()>,
    _source: PhantomData<fn() -> S>,
}

impl<S> JoinFilter<S> {
    /// A condition from a filter of either entity.
    pub fn new<Side>(filter: impl FilterIn<S, Side>) -> Self {
        let (side, f) = filter.into_sided();
        JoinFilter {
            filter: f.on_side(side),
            _source: PhantomData,
        }
    }

    /// Both conditions.
    pub fn and<Side>(self, other: impl FilterIn<S, Side>) -> Self {
        JoinFilter {
            filter: self.filter.and(Self::new(other).filter),
            _source: PhantomData,
        }
    }

    /// Either condition.
    pub fn or<Side>(self, other: impl FilterIn<S, Side>) -> Self {
        JoinFilter {
            filter: self.filter.or(Self::new(other).filter),
            _source: PhantomData,
        }
    }

    /// The negation.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        JoinFilter {
            filter: self.filter.not(),
            _source: PhantomData,
        }
    }
}

impl<S> FilterIn<S, Base> for JoinFilter<S> {
    fn into_sided(self) -> (usize, super::filter::Filter<()>) {
        (0, self.filter)
    }
}

/// Joining towards the children: the queried entity is the relation's parent.
pub enum ToChildren {}
/// Joining towards the parent: the queried entity is the relation's child.
pub enum ToParent {}

/// A way to join entity `E` to another along a foreign key: a [`Relation`] (from either of its
/// entities), or, for a self-referencing one, [`Relation::to_parent`] /
/// [`Relation::to_children`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not join `{E}` to another entity",
    label = "not a foreign key of `{E}` nor one referencing `{E}`",
    note = "join along a relation constant of the child (`Order::USER`), from the child or \
            from the parent; for a self-reference, say which way: `REL.to_parent()` or \
            `REL.to_children()`"
)]
pub trait JoinPath<E, Dir> {
    /// The entity joined to `E`.
    type Other: TableRow;
    /// `(column of E, column of Other)` the `ON` clause equates.
    #[doc(hidden)]
    fn columns(&self) -> (&'static str, &'static str);
}

impl<C: TableRow, P: TableRow> JoinPath<P, ToChildren> for Relation<C, P> {
    type Other = C;
    fn columns(&self) -> (&'static str, &'static str) {
        (self.parent_column(), self.column_name())
    }
}

impl<C: TableRow, P: TableRow> JoinPath<C, ToParent> for Relation<C, P> {
    type Other = P;
    fn columns(&self) -> (&'static str, &'static str) {
        (self.column_name(), self.parent_column())
    }
}

/// A relation walked from the child to its parent: [`Relation::to_parent`].
pub struct ParentPath<C: TableRow, P: TableRow>(Relation<C, P>);
/// A relation walked from the parent to its children: [`Relation::to_children`].
pub struct ChildrenPath<C: TableRow, P: TableRow>(Relation<C, P>);

impl<C: TableRow, P: TableRow> JoinPath<C, ToParent> for ParentPath<C, P> {
    type Other = P;
    fn columns(&self) -> (&'static str, &'static str) {
        JoinPath::<C, ToParent>::columns(&self.0)
    }
}

impl<C: TableRow, P: TableRow> JoinPath<P, ToChildren> for ChildrenPath<C, P> {
    type Other = C;
    fn columns(&self) -> (&'static str, &'static str) {
        JoinPath::<P, ToChildren>::columns(&self.0)
    }
}

impl<C: TableRow, P: TableRow> Relation<C, P> {
    /// This foreign key walked from the child to its parent, for a join: only needed for a
    /// self-reference, where the direction cannot be inferred
    /// (`Member::query().left_join(Member::MENTOR.to_parent())`: each member with its mentor).
    pub fn to_parent(self) -> ParentPath<C, P> {
        ParentPath(self)
    }

    /// This foreign key walked from the parent to its children, for a join (only needed for a
    /// self-reference: each member with its mentees).
    pub fn to_children(self) -> ChildrenPath<C, P> {
        ChildrenPath(self)
    }
}

/// The join of `select`'s entity to the other end of `path`.
pub(crate) fn join<E, Dir, J, K>(select: Select<'_, E>, path: J) -> Join<E, J::Other, K>
where
    E: TableRow,
    J: JoinPath<E, Dir>,
    K: JoinKind,
{
    let (base_col, joined_col) = path.columns();
    let base = E::sql().table;
    let mut core = Core::from_select(select);
    if core.tiers != super::history::ReadTiers::Hot && core.invalid.is_none() {
        core.invalid = Some(
            "a join reads the hot tables only; drop `.tiers(...)`/`.with_archive()` before joining",
        );
    }
    core.from = FromSql::Two {
        kind: K::SQL,
        base,
        joined: J::Other::sql().table,
        base_col,
        joined_col,
    };
    let items = vec![
        ItemSql::Entity {
            side: 0,
            table: base,
        },
        ItemSql::Entity {
            side: 1,
            table: J::Other::sql().table,
        },
    ];
    Projection::from_core(core, items)
}

/// The entry points of joins on a [`Select`].
impl<'a, E: super::row::TableRow, Via> Select<'a, E, Via> {
    /// Inner join along a foreign key (`Order::USER`, from either end): rows `(E, Other)`.
    pub fn join<Dir, J: JoinPath<E, Dir>>(self, path: J) -> Join<E, J::Other, Inner> {
        join(self.into_direct().0, path)
    }

    /// Left join along a foreign key: rows `(E, Option<Other>)`, `None` without a match.
    pub fn left_join<Dir, J: JoinPath<E, Dir>>(self, path: J) -> Join<E, J::Other, LeftOuter> {
        join(self.into_direct().0, path)
    }
}
