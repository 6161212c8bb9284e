//! The [`Entity`] trait every `#[derive(Entity)]` struct implements, and link-time registration.

use crate::model::{SqlType, TableDef};

/// A struct mapped to a table. Implemented by `#[derive(Entity)]`; do not implement by hand.
pub trait Entity: Sized + 'static {
    /// The table's name (kept apart from [`Entity::TABLE`] so foreign keys can refer to it).
    const TABLE_NAME: &'static str;
    /// The primary-key column names.
    const PRIMARY_KEY: &'static [&'static str];
    /// The SQL type of the first primary-key column (foreign keys must match it).
    const KEY_SQL_TYPE: SqlType;
    /// The complete table model.
    const TABLE: TableDef<'static>;
}

/// One entity linked into the binary; submitted by the derive through `inventory`.
#[derive(Debug)]
pub struct EntityRegistration {
    /// The entity's table model.
    pub table: &'static TableDef<'static>,
}

impl EntityRegistration {
    /// Wraps a table model.
    pub const fn new(table: &'static TableDef<'static>) -> Self {
        EntityRegistration { table }
    }
}

inventory::collect!(EntityRegistration);

/// Every entity linked into this binary, sorted by table name (deterministic).
///
/// A table registered twice (the same model linked through two paths) is listed once.
pub fn registered_tables() -> Vec<&'static TableDef<'static>> {
    let mut tables: Vec<&'static TableDef<'static>> = inventory::iter::<EntityRegistration>
        .into_iter()
        .map(|r| r.table)
        .collect();
    tables.sort_by(|a, b| a.name.cmp(b.name));
    tables.dedup_by(|a, b| a == b);
    tables
}
