//! [`TableRow`]: how a row of an entity binds and reads — the glue `#[derive(Entity)]` emits.
//! Every statement of the query layer is generic over it; the [`Table`](super::Table) API is
//! built on top.

use super::sql::TableSql;
use crate::entity::Entity;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::FromRow;
use std::fmt::Debug;

/// The row glue of an entity: its key type, its pre-rendered SQL, and binding fields by column
/// position. Implemented by `#[derive(Entity)]`; every `TableRow` is a [`Table`](super::Table).
pub trait TableRow: Entity + for<'r> FromRow<'r, PgRow> + Send + Sync + Unpin {
    /// The primary key: the key field's type, or a tuple for a composite key.
    type Key: Debug + Clone + Send + Sync + 'static;

    /// The entity's SQL, rendered on first use and kept in a `static`.
    fn sql() -> &'static TableSql;

    /// This row's primary key.
    fn key(&self) -> Self::Key;

    /// Binds a key's values in primary-key order.
    #[doc(hidden)]
    fn bind_key(key: &Self::Key, args: &mut PgArguments) -> Result<(), BoxDynError>;

    /// Binds the field at column position `index`.
    #[doc(hidden)]
    fn bind_column(&self, index: usize, args: &mut PgArguments) -> Result<(), BoxDynError>;

    /// Binds column `index` of every row as `UNNEST` parameters.
    #[doc(hidden)]
    fn bind_unnest(rows: &[Self], index: usize, args: &mut PgArguments) -> Result<(), BoxDynError>;

    /// Decodes the row from the columns at positions `offset..offset + <column count>` of
    /// `row`, in declaration order (a join selects two entities' columns side by side).
    #[doc(hidden)]
    fn from_row_at(row: &PgRow, offset: usize) -> Result<Self, sqlx::Error>;

    /// The optimistic-locking version, for entities with a `#[dbpat(version)]` column.
    fn version(&self) -> Option<i64> {
        None
    }
}
