//! Eager loading along a [`Relation`]: the children of many parents, or the parents of many
//! children, in **one statement per relation** whatever the number of rows
//! (`WHERE <column> = ANY($1)` with one array parameter holding the distinct keys), returned
//! aligned with the rows given and grouped in Rust by the foreign-key value.
//!
//! ```no_run
//! # use dbpat_runtime::query::{LoadKey, Relation, TableRow};
//! # async fn demo<U, O, I>(pool: &sqlx::PgPool, users: Vec<U>, user: Relation<O, U>, order: Relation<I, O>)
//! # -> dbpat_runtime::Result<()>
//! # where U: TableRow + Clone, O: TableRow + Clone, I: TableRow + Clone, U::Key: LoadKey, O::Key: LoadKey {
//! // users: a page of `User`; `user` is `Order::USER`, `order` is `Item::ORDER`.
//! // One query: SELECT ... FROM orders WHERE user_id = ANY($1) ORDER BY <orders' key>
//! let orders: Vec<Vec<O>> = user.load_children(pool, &users).await?; // orders[i]: users[i]'s
//! // Grandchildren: one more query over every order of every user (a flattened iterator).
//! let items: Vec<Vec<I>> = order.load_children(pool, orders.iter().flatten()).await?;
//! // The same two queries, nested: Vec<(User, Vec<(Order, Vec<Item>)>)>.
//! let tree = order.with_children_nested(pool, user.with_children(pool, users).await?).await?;
//! // The other way: the user of each order (one query over the distinct user ids).
//! let owners: Vec<Option<U>> = user.load_parents(pool, orders.iter().flatten()).await?;
//! # let _ = (items, tree, owners); Ok(()) }
//! ```
//!
//! The same loads through the entity cache (`find_many`: hits from Redis, one query for the
//! misses) are on the cached handle, with the table's argument order: see
//! [`Table::load_parents`](super::Table::load_parents).

use super::filter::{Filter, Order};
use super::relation::Relation;
use super::row::TableRow;
use super::select::Select;
use super::value::BindValue;
use crate::error::Result;
use sqlx::encode::Encode;
use sqlx::postgres::PgHasArrayType;
use sqlx::{Executor, Postgres, Type};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

/// A parent key that eager loads can bind as one PostgreSQL array (`$1::uuid[]`) and group by
/// (`Hash + Eq`): every single-column key type (`Uuid`, `i64`, `i32`, `String`, ...).
/// Implemented for every type that qualifies.
pub trait LoadKey: Hash + Eq + Clone + Send + Sync + 'static {
    /// The keys as one array parameter.
    #[doc(hidden)]
    fn bind_array(keys: Vec<Self>) -> Arc<dyn BindValue>;
}

impl<T> LoadKey for T
where
    T: Hash
        + Eq
        + Clone
        + Send
        + Sync
        + 'static
        + PgHasArrayType
        + for<'q> Encode<'q, Postgres>
        + Type<Postgres>,
{
    fn bind_array(keys: Vec<T>) -> Arc<dyn BindValue> {
        Arc::new(keys)
    }
}

/// The keys of a list of rows: each row's slot among the distinct keys (`None` for a NULL
/// foreign key), and the distinct keys, in first-seen order.
pub(crate) struct Keys<K> {
    /// Per row given, the slot of its key in `distinct`.
    per_row: Vec<Option<usize>>,
    /// Slot of each distinct key.
    index: HashMap<K, usize>,
    /// The distinct keys (taken out by [`Keys::take_distinct`] to be bound).
    distinct: Vec<K>,
    /// Whether some key occurs in more than one row (its slot is then cloned, not moved).
    repeated: bool,
}

impl<K: LoadKey> Keys<K> {
    pub(crate) fn of(keys: impl IntoIterator<Item = Option<K>>) -> Self {
        let keys = keys.into_iter();
        let mut out = Keys {
            per_row: Vec::with_capacity(keys.size_hint().0),
            index: HashMap::with_capacity(keys.size_hint().0),
            distinct: Vec::with_capacity(keys.size_hint().0),
            repeated: false,
        };
        for key in keys {
            let slot = key.map(|key| match out.index.get(&key) {
                Some(&slot) => {
                    out.repeated = true;
                    slot
                }
                None => {
                    let slot = out.distinct.len();
                    out.distinct.push(key.clone());
                    out.index.insert(key, slot);
                    slot
                }
            });
            out.per_row.push(slot);
        }
        out
    }

    /// The number of rows given.
    pub(crate) fn rows(&self) -> usize {
        self.per_row.len()
    }

    /// The number of distinct non-NULL keys.
    pub(crate) fn slots(&self) -> usize {
        self.index.len()
    }

    /// The distinct keys, for the statement (the slots stay).
    pub(crate) fn take_distinct(&mut self) -> Vec<K> {
        std::mem::take(&mut self.distinct)
    }

    /// The slot of `key`, if it is one of the keys given.
    pub(crate) fn slot(&self, key: &K) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// One value per row given, from the value of its slot (`T::default()` for a NULL key):
    /// moved out when no key repeats, cloned otherwise.
    pub(crate) fn spread<T: Clone + Default>(&self, mut slots: Vec<T>) -> Vec<T> {
        self.per_row
            .iter()
            .map(|slot| match slot {
                None => T::default(),
                Some(s) if self.repeated => slots[*s].clone(),
                Some(s) => std::mem::take(&mut slots[*s]),
            })
            .collect()
    }

    /// The children `rows` grouped by `parent_key` into one `Vec` per row given, each in the
    /// order the rows came; rows whose key is not among the ones given are dropped.
    pub(crate) fn group<C: Clone>(
        &self,
        rows: impl IntoIterator<Item = C>,
        parent_key: impl Fn(&C) -> Option<K>,
    ) -> Vec<Vec<C>> {
        let mut slots: Vec<Vec<C>> = (0..self.slots()).map(|_| Vec::new()).collect();
        for row in rows {
            if let Some(slot) = parent_key(&row).and_then(|k| self.slot(&k)) {
                slots[slot].push(row);
            }
        }
        self.spread(slots)
    }

    /// The parent `rows` placed at the rows that refer to them (`None` for a NULL key or a
    /// missing parent).
    pub(crate) fn place<P: Clone>(
        &self,
        rows: impl IntoIterator<Item = P>,
        key: impl Fn(&P) -> K,
    ) -> Vec<Option<P>> {
        let mut slots: Vec<Option<P>> = (0..self.slots()).map(|_| None).collect();
        for row in rows {
            if let Some(slot) = self.slot(&key(&row)) {
                slots[slot] = Some(row);
            }
        }
        self.spread(slots)
    }
}

/// `query` ordered by `E`'s primary key when it has no ORDER BY yet.
fn ordered_by_key<E: TableRow>(mut query: Select<'static, E>) -> Select<'static, E> {
    if query.has_order() {
        return query;
    }
    for &key in E::TABLE.primary_key {
        if let Some(index) = E::TABLE.columns.iter().position(|c| c.name == key) {
            query = query.order_by(Order::new(index, E::TABLE.columns[index].name, false));
        }
    }
    query
}

/// Eager loads. Each runs one statement (none when there is no non-NULL key), binds the keys
/// as one array parameter — so 70,000 parents are one parameter, not 70,000 — and takes
/// parents or children as any iterator of references: `&users`, `users.iter()`, or
/// `orders.iter().flatten()` for the next level down.
///
/// The rows come back aligned with the rows given: `result[i]` belongs to the `i`-th row. A
/// row given twice gets its rows twice (cloned, hence `Clone`). Within one transaction (pass
/// `&mut *tx`) the levels of a tree see one snapshot under `REPEATABLE READ`; on a pool each
/// statement sees the rows committed when it runs.
impl<C: TableRow, P: TableRow> Relation<C, P>
where
    P::Key: LoadKey,
{
    /// The children of each parent, aligned with `parents` (`result[i]` holds the children of
    /// the `i`-th parent; an empty `Vec` for a parent without any), in one statement:
    /// `SELECT <child columns> FROM <child> WHERE <foreign key> = ANY($1) ORDER BY <child
    /// key>`, `$1` holding the distinct parent keys. Within a parent, children come in the
    /// order of the child's primary key; [`Relation::load_children_with`] chooses another
    /// order or filters.
    pub fn load_children<'a, 'e, X, I>(
        &self,
        ex: X,
        parents: I,
    ) -> impl Future<Output = Result<Vec<Vec<C>>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
        I: IntoIterator<Item = &'a P>,
        P: 'a,
        C: Clone,
    {
        self.load_children_with(ex, parents, |query| query)
    }

    /// [`Relation::load_children`] with the query refined by `refine`, which receives the
    /// `Select` of the children already filtered by `<foreign key> = ANY($1)`: more filters
    /// (`|q| q.filter(Order::STATUS.eq(OrderStatus::Paid))`), an ORDER BY applied within every
    /// parent's group (`|q| q.order_by(Order::CREATED_AT.desc())`; without one, the child's
    /// primary key), the archive tier (`|q| q.with_archive()`). A `limit` or `offset` applies
    /// to the whole statement, not per parent.
    pub fn load_children_with<'a, 'e, X, I, F>(
        &self,
        ex: X,
        parents: I,
        refine: F,
    ) -> impl Future<Output = Result<Vec<Vec<C>>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
        I: IntoIterator<Item = &'a P>,
        P: 'a,
        C: Clone,
        F: FnOnce(Select<'static, C>) -> Select<'static, C>,
    {
        let rel = *self;
        let mut keys = Keys::of(parents.into_iter().map(|p| Some(p.key())));
        let query = (keys.slots() > 0).then(|| {
            let any =
                Filter::column_any(rel.column_name(), P::Key::bind_array(keys.take_distinct()));
            ordered_by_key(refine(Select::new().filter(any)))
        });
        async move {
            let Some(query) = query else {
                return Ok((0..keys.rows()).map(|_| Vec::new()).collect());
            };
            let rows = query.fetch_all(ex).await?;
            Ok(keys.group(rows, |child| rel.parent_key(child)))
        }
    }

    /// The parent of each child, aligned with `children` (`None` where the foreign key is
    /// NULL, or the parent is gone), in one statement over the distinct non-NULL keys:
    /// `SELECT <parent columns> FROM <parent> WHERE <parent key> = ANY($1)`. A
    /// self-reference (`Member::MENTOR`) works the same.
    pub fn load_parents<'a, 'e, X, I>(
        &self,
        ex: X,
        children: I,
    ) -> impl Future<Output = Result<Vec<Option<P>>>> + Send
    where
        X: Executor<'e, Database = Postgres>,
        I: IntoIterator<Item = &'a C>,
        C: 'a,
        P: Clone,
    {
        let rel = *self;
        let mut keys = Keys::of(children.into_iter().map(|c| rel.parent_key(c)));
        let query = (keys.slots() > 0).then(|| {
            Select::<P>::new().filter(Filter::column_any(
                rel.parent_column(),
                P::Key::bind_array(keys.take_distinct()),
            ))
        });
        async move {
            let Some(query) = query else {
                return Ok((0..keys.rows()).map(|_| None).collect());
            };
            let rows = query.fetch_all(ex).await?;
            Ok(keys.place(rows, |parent| parent.key()))
        }
    }

    /// Each parent with its children: [`Relation::load_children`] zipped with `parents`.
    pub async fn with_children<'e, X>(&self, ex: X, parents: Vec<P>) -> Result<Vec<(P, Vec<C>)>>
    where
        X: Executor<'e, Database = Postgres>,
        C: Clone,
    {
        let children = self.load_children(ex, &parents).await?;
        Ok(parents.into_iter().zip(children).collect())
    }

    /// The next level of a tree: the children of every parent of every group, nested in place,
    /// in one statement for the whole level. With `groups` from
    /// [`Relation::with_children`] (users with their orders), `Item::ORDER.with_children_nested`
    /// gives every user with their orders, each with its items:
    /// `Vec<(User, Vec<(Order, Vec<Item>)>)>`, in two statements in all.
    pub async fn with_children_nested<'e, X, G>(
        &self,
        ex: X,
        groups: Vec<(G, Vec<P>)>,
    ) -> Result<Vec<(G, Vec<(P, Vec<C>)>)>>
    where
        X: Executor<'e, Database = Postgres>,
        C: Clone,
    {
        let children = self
            .load_children(ex, groups.iter().flat_map(|(_, parents)| parents))
            .await?;
        let mut children = children.into_iter();
        Ok(groups
            .into_iter()
            .map(|(group, parents)| {
                let nested = parents
                    .into_iter()
                    .map(|parent| (parent, children.next().unwrap_or_default()))
                    .collect();
                (group, nested)
            })
            .collect())
    }

    /// Each child with its parent: [`Relation::load_parents`] zipped with `children`.
    pub async fn with_parents<'e, X>(&self, ex: X, children: Vec<C>) -> Result<Vec<(C, Option<P>)>>
    where
        X: Executor<'e, Database = Postgres>,
        P: Clone,
    {
        let parents = self.load_parents(ex, &children).await?;
        Ok(children.into_iter().zip(parents).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn keys_are_distinct_and_rows_keep_their_slot() {
        let keys = Keys::of([Some(7_i64), None, Some(3), Some(7)]);
        assert_eq!(keys.rows(), 4);
        assert_eq!(keys.slots(), 2);
        assert_eq!(keys.distinct, vec![7, 3]);
        let groups = keys.group([(3, "c"), (7, "a"), (9, "x"), (7, "b")], |r| Some(r.0));
        assert_eq!(
            groups,
            vec![
                vec![(7, "a"), (7, "b")],
                vec![],
                vec![(3, "c")],
                vec![(7, "a"), (7, "b")]
            ]
        );
        let placed = keys.place([(3, "c")], |r| r.0);
        assert_eq!(placed, vec![None, None, Some((3, "c")), None]);
    }

    #[test]
    fn without_repeats_slots_move() {
        let keys = Keys::of([Some("b".to_owned()), Some("a".to_owned())]);
        assert!(!keys.repeated);
        let groups = keys.group(vec!["a".to_owned(), "b".to_owned(), "b".to_owned()], |r| {
            Some(r.clone())
        });
        assert_eq!(groups, vec![vec!["b", "b"], vec!["a"]]);
    }
}
