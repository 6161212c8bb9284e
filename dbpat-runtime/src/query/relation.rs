//! Relations from foreign keys: a [`Relation`] for every `references(...)` field, navigated
//! both ways (the parent of a child row; a [`Select`] of the children of a parent row), and
//! [`BelongsTo`] when a child has exactly one foreign key to a parent.
//!
//! The derive emits them; nothing is written by hand. For
//!
//! ```text
//! #[derive(Entity)]
//! struct Order {
//!     #[dbpat(primary_key)]
//!     id: Uuid,
//!     #[dbpat(references(User, on_delete = cascade))]
//!     user_id: Uuid,
//!     // ...
//! }
//! ```
//!
//! the derive emits `Order::USER: Relation<Order, User>` (the field's name without `_id`,
//! upper-cased; `<FIELD>_REL` when that name is taken or the field does not end in `_id`) and
//! `impl BelongsTo<User> for Order`.

use super::row::TableRow;
use super::select::Select;
use super::value::BindValue;
use crate::error::Result;
use sqlx::{Executor, Postgres};
use std::marker::PhantomData;

/// A foreign key of child entity `C` to parent entity `P`: the child's column that references
/// the parent's (single-column) primary key. The derive emits one per `references(...)` field
/// as an associated constant of the child (`Order::USER`).
///
/// ```no_run
/// # use dbpat_runtime::query::{Relation, Table, TableRow};
/// # async fn demo<O: Table, U: Table>(pool: &sqlx::PgPool, rel: Relation<O, U>, order: O, user: U)
/// # -> dbpat_runtime::Result<()>
/// # where U::Key: dbpat_runtime::query::BindValue {
/// // The parent of a child row (`None` when the foreign key is NULL):
/// let owner: Option<U> = rel.parent_of(pool, &order).await?;
/// // The children of a parent row, as a `Select` to filter, order, page or stream:
/// let orders: Vec<O> = rel.children_of(&user).limit(20).fetch_all(pool).await?;
/// # let _ = (owner, orders); Ok(()) }
/// ```
pub struct Relation<C: TableRow, P: TableRow, K = <P as TableRow>::Key> {
    name: &'static str,
    column: usize,
    foreign_key: fn(&C) -> Option<K>,
    _marker: PhantomData<fn() -> (C, P)>,
}

impl<C: TableRow, P: TableRow, K> Clone for Relation<C, P, K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C: TableRow, P: TableRow, K> Copy for Relation<C, P, K> {}

impl<C: TableRow, P: TableRow, K> std::fmt::Debug for Relation<C, P, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Relation({}.{} -> {}.{})",
            C::TABLE_NAME,
            self.column_name(),
            P::TABLE_NAME,
            self.parent_column()
        )
    }
}

/// What a relation is, whatever its key type: its columns.
impl<C: TableRow, P: TableRow, K> Relation<C, P, K> {
    /// The relation of the child's field `name` at column position `column`, whose foreign-key
    /// value `foreign_key` reads (`None` when a nullable foreign key is NULL). `K` is the
    /// field's value type: the parent's key type in a valid model (the derive asserts it; the
    /// navigation methods exist only then, so a mismatch is reported once, by that assertion).
    #[doc(hidden)]
    pub const fn new(name: &'static str, column: usize, foreign_key: fn(&C) -> Option<K>) -> Self {
        Relation {
            name,
            column,
            foreign_key,
            _marker: PhantomData,
        }
    }

    /// The child's field that holds the foreign key (`user_id`).
    pub const fn field(&self) -> &'static str {
        self.name
    }

    /// The position of the foreign-key column among the child's columns.
    pub const fn column_index(&self) -> usize {
        self.column
    }

    /// The child's foreign-key column (SQL name).
    pub fn column_name(&self) -> &'static str {
        C::TABLE.columns[self.column].name
    }

    /// The parent's referenced column: its primary key (SQL name).
    pub fn parent_column(&self) -> &'static str {
        P::TABLE.primary_key[0]
    }
}

/// Navigation, for a foreign key of the parent's key type.
impl<C: TableRow, P: TableRow> Relation<C, P> {
    /// The key of the parent `child` refers to; `None` when its foreign key is NULL.
    pub fn parent_key(&self, child: &C) -> Option<P::Key> {
        (self.foreign_key)(child)
    }

    /// The parent row of `child` (`SELECT ... FROM <parent> WHERE <key> = $1`); `None` when the
    /// foreign key is NULL or, outside a transaction, when the parent was deleted meanwhile.
    pub async fn parent_of<'e, X>(&self, ex: X, child: &C) -> Result<Option<P>>
    where
        X: Executor<'e, Database = Postgres>,
    {
        match self.parent_key(child) {
            Some(key) => super::read::find::<P, X>(ex, &key).await,
            None => Ok(None),
        }
    }

    /// The children of `parent`: a [`Select`] of `C` filtered by `<foreign key> = $1` (the
    /// foreign key's index serves it), to filter further, order, page, count, stream or lock.
    pub fn children_of(&self, parent: &P) -> Select<'static, C>
    where
        P::Key: BindValue,
    {
        let key: std::sync::Arc<dyn BindValue> = std::sync::Arc::new(parent.key());
        Select::new().filter(super::filter::Filter::column_eq(self.column_name(), key))
    }
}

/// A child entity with exactly one foreign key to `P`: [`BelongsTo::RELATION`] is that key's
/// [`Relation`], so `Order::belonging_to(&user)` and `user.children::<Order>()`
/// ([`Table::belonging_to`](super::Table::belonging_to), [`Table::children`](super::Table::children))
/// need no relation name. The derive implements it; with several foreign keys to one parent it
/// implements none, and each key's relation constant names the one meant
/// (`Transfer::FROM_ACCOUNT.children_of(&account)`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no single foreign key to `{P}`",
    label = "`{Self}` has no foreign key to `{P}`, or has several",
    note = "with several foreign keys to `{P}`, name the one meant by its relation constant: `{Self}::<FIELD>.children_of(&parent)`"
)]
pub trait BelongsTo<P: TableRow>: TableRow {
    /// The value type of the foreign-key field (the parent's key type in a valid model).
    #[doc(hidden)]
    type ForeignKey;

    /// The foreign key of `Self` to `P`.
    const RELATION: Relation<Self, P, Self::ForeignKey>;
}
