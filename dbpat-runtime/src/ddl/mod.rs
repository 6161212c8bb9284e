//! PostgreSQL DDL rendered from table models.
//!
//! [`render_schema`] prints a whole schema that applies to an empty database in one go:
//! extensions, trigger functions, then each table in foreign-key order followed by its indexes,
//! its `updated_at` trigger, its partitions and its archive table. The same models always give
//! the same bytes.

mod index;
mod partition;
mod sql_text;
mod table;
mod trigger;

pub use index::{
    fulltext_document, is_redundant, render_create_index, render_index_target, render_indexes,
};
pub use partition::{
    initial_partitions, partition_bounds, partition_containing, render_archive_table,
    render_create_partition, PartitionBounds, YearMonth,
};
pub use sql_text::{ident, ident_list, is_parenthesized, literal};
pub use table::{
    enum_check_expr, enum_check_name, render_column_type, render_create_table, render_default,
    table_constraints,
};
pub use trigger::{
    render_trigger_function, render_updated_at_trigger, trigger_function_name, trigger_name,
};

use crate::model::TableDef;
use std::collections::{BTreeMap, BTreeSet};

/// Why a set of models cannot be rendered as one schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// Two different entities claim the same table name.
    #[error("entities {first} and {second} both map to table `{table}`")]
    DuplicateTable {
        /// The table name.
        table: String,
        /// One entity.
        first: String,
        /// The other entity.
        second: String,
    },
    /// A foreign key names a table that no registered entity provides.
    #[error("table `{table}` references `{missing}`, which is not among the entities")]
    MissingReference {
        /// The referencing table.
        table: String,
        /// The missing table.
        missing: String,
    },
    /// Foreign keys form a cycle, so no creation order exists.
    #[error("foreign keys form a cycle between tables: {0}")]
    ForeignKeyCycle(String),
}

/// Orders tables so every table comes after the tables it references; ties by name.
pub fn sort_by_dependencies<'t, 'a>(
    tables: &[&'t TableDef<'a>],
) -> Result<Vec<&'t TableDef<'a>>, SchemaError> {
    let mut by_name: BTreeMap<&str, &'t TableDef<'a>> = BTreeMap::new();
    for table in tables {
        if let Some(other) = by_name.insert(table.name, table) {
            if other != *table {
                return Err(SchemaError::DuplicateTable {
                    table: table.name.to_owned(),
                    first: other.entity.to_owned(),
                    second: table.entity.to_owned(),
                });
            }
        }
    }
    let mut pending: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for table in by_name.values() {
        let deps: BTreeSet<&str> = table.referenced_tables().collect();
        if let Some(missing) = deps.iter().find(|d| !by_name.contains_key(*d)) {
            return Err(SchemaError::MissingReference {
                table: table.name.to_owned(),
                missing: (*missing).to_owned(),
            });
        }
        pending.insert(table.name, deps);
    }
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .find(|(_, deps)| deps.is_empty())
            .map(|(name, _)| *name);
        let Some(next) = ready else {
            let names: Vec<&str> = pending.keys().copied().collect();
            return Err(SchemaError::ForeignKeyCycle(names.join(", ")));
        };
        pending.remove(next);
        for deps in pending.values_mut() {
            deps.remove(next);
        }
        ordered.push(by_name[next]);
    }
    Ok(ordered)
}

/// All statements for one table: the table, its indexes, trigger, partitions and archive.
pub fn render_table_statements(table: &TableDef) -> Vec<String> {
    let mut statements = vec![render_create_table(table)];
    statements.extend(render_indexes(table));
    statements.extend(render_updated_at_trigger(table));
    if let Some(partition) = &table.partition {
        statements.extend(
            initial_partitions(table, partition)
                .iter()
                .map(|b| render_create_partition(table, b)),
        );
    }
    statements.extend(render_archive_table(table));
    statements
}

/// The statements that precede every table: extensions and trigger functions, deduplicated.
pub fn render_preamble(tables: &[&TableDef]) -> Vec<String> {
    let extensions: BTreeSet<&str> = tables
        .iter()
        .flat_map(|t| t.extensions.iter().copied())
        .collect();
    let functions: BTreeSet<&str> = tables
        .iter()
        .filter_map(|t| t.updated_at_column().map(|c| c.name))
        .collect();
    extensions
        .into_iter()
        .map(|e| format!("CREATE EXTENSION IF NOT EXISTS {};", ident(e)))
        .chain(functions.into_iter().map(render_trigger_function))
        .collect()
}

/// The complete DDL of a schema made of `tables`, ready to apply to an empty database.
///
/// ```
/// use dbpat_runtime::model::*;
/// const COLS: &[ColumnDef] = &[ColumnDef::new("id", "id", SqlType::scalar(BaseType::Uuid))
///     .primary_key()
///     .default(DefaultValue::Expr("gen_random_uuid()"))];
/// static T: TableDef = TableDef::new("tags", "Tag", COLS, &["id"]);
/// let sql = dbpat_runtime::ddl::render_schema(&[&T]).unwrap();
/// assert!(sql.contains("CREATE TABLE tags ("));
/// ```
pub fn render_schema(tables: &[&TableDef]) -> Result<String, SchemaError> {
    let ordered = sort_by_dependencies(tables)?;
    let mut out = format!(
        "-- Generated by dbpat from {} entit{}. Apply to an empty database.\n",
        ordered.len(),
        if ordered.len() == 1 { "y" } else { "ies" }
    );
    for statement in render_preamble(&ordered) {
        out.push('\n');
        out.push_str(&statement);
        out.push('\n');
    }
    for table in &ordered {
        out.push_str(&format!("\n-- {} ({})\n", table.name, table.entity));
        for statement in render_table_statements(table) {
            out.push_str(&statement);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    const ID: ColumnDef =
        ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt)).primary_key();
    const fn fk_to(table: &'static str) -> ColumnDef<'static> {
        ColumnDef::new("other_id", "other_id", SqlType::scalar(BaseType::BigInt)).references(
            ForeignKeyDef {
                name: "fk",
                table,
                column: "id",
                on_delete: OnDelete::Cascade,
            },
        )
    }
    static A: TableDef = TableDef::new("a", "A", &[ID, fk_to("b")], &["id"]);
    static B: TableDef = TableDef::new("b", "B", &[ID, fk_to("a")], &["id"]);
    static C: TableDef = TableDef::new("c", "C", &[ID, fk_to("missing")], &["id"]);
    static D: TableDef = TableDef::new("d", "D", &[ID, fk_to("d")], &["id"]);
    static A2: TableDef = TableDef::new("a", "OtherA", &[ID], &["id"]);

    #[test]
    fn cycles_missing_targets_and_clashes_are_errors() {
        assert!(matches!(
            sort_by_dependencies(&[&A, &B]),
            Err(SchemaError::ForeignKeyCycle(_))
        ));
        assert_eq!(
            sort_by_dependencies(&[&C]).unwrap_err().to_string(),
            "table `c` references `missing`, which is not among the entities"
        );
        assert!(matches!(
            sort_by_dependencies(&[&A, &A2]),
            Err(SchemaError::DuplicateTable { .. })
        ));
        // The same model twice is one table.
        assert_eq!(sort_by_dependencies(&[&A2, &A2]).unwrap().len(), 1);
    }

    #[test]
    fn self_reference_is_not_a_cycle() {
        let sql = render_schema(&[&D]).unwrap();
        assert!(sql.contains("REFERENCES d (id) ON DELETE CASCADE"));
    }
}
