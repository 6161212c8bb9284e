//! `CREATE INDEX`: B-tree (composite, DESC, partial, unique), GIN, expression and full-text.

use super::sql_text::{ident, is_parenthesized, literal};
use crate::model::{IndexDef, IndexKind, SortOrder, TableDef};

/// The indexed part of an index, as it appears after `ON table`: `(a, b DESC)`,
/// `USING GIN (metadata jsonb_path_ops)`, `((metadata->>'role'))`, ...
pub fn render_index_target(table: &TableDef, index: &IndexDef) -> String {
    match index.kind {
        IndexKind::BTree(keys) => {
            let keys = keys
                .iter()
                .map(|k| match k.order {
                    SortOrder::Asc => ident(k.column),
                    SortOrder::Desc => format!("{} DESC", ident(k.column)),
                })
                .collect::<Vec<_>>();
            format!("({})", keys.join(", "))
        }
        IndexKind::Gin { column, opclass } => match opclass {
            Some(op) => format!("USING GIN ({} {op})", ident(column)),
            None => format!("USING GIN ({})", ident(column)),
        },
        IndexKind::Expression(expr) => {
            if is_parenthesized(expr) {
                format!("({})", expr.trim())
            } else {
                format!("(({}))", expr.trim())
            }
        }
        IndexKind::FullText { language, columns } => {
            format!(
                "USING GIN ({})",
                fulltext_document(table, language, columns)
            )
        }
    }
}

/// The `to_tsvector(...)` expression of a full-text index; queries must use exactly this text
/// for PostgreSQL to pick the index. Nullable columns are wrapped in `coalesce(col, '')`.
///
/// ```
/// use dbpat_runtime::model::*;
/// use dbpat_runtime::ddl::fulltext_document;
/// const COLS: &[ColumnDef] = &[
///     ColumnDef::new("name", "name", SqlType::scalar(BaseType::Text)),
///     ColumnDef::new("description", "description", SqlType::scalar(BaseType::Text)),
/// ];
/// let t = TableDef::new("products", "Product", COLS, &[]);
/// assert_eq!(
///     fulltext_document(&t, "english", &["name", "description"]),
///     "to_tsvector('english', name || ' ' || description)"
/// );
/// ```
pub fn fulltext_document(table: &TableDef, language: &str, columns: &[&str]) -> String {
    let parts = columns
        .iter()
        .map(|name| {
            let nullable = table.column(name).is_some_and(|c| c.nullable);
            if nullable {
                format!("coalesce({}, '')", ident(name))
            } else {
                ident(name)
            }
        })
        .collect::<Vec<_>>();
    format!(
        "to_tsvector({}, {})",
        literal(language),
        parts.join(" || ' ' || ")
    )
}

/// Whether `index` only repeats the index PostgreSQL already builds for the primary key or a
/// UNIQUE constraint (same columns, no predicate, one direction throughout).
pub fn is_redundant(table: &TableDef, index: &IndexDef) -> bool {
    let IndexKind::BTree(keys) = index.kind else {
        return false;
    };
    if index.predicate.is_some() {
        return false;
    }
    let uniform = keys.iter().all(|k| k.order == SortOrder::Asc)
        || keys.iter().all(|k| k.order == SortOrder::Desc);
    let columns: Vec<&str> = keys.iter().map(|k| k.column).collect();
    uniform
        && (columns == table.primary_key
            || table
                .uniques
                .iter()
                .any(|u| u.columns == columns.as_slice()))
}

/// `CREATE [UNIQUE] INDEX name ON table ...;`
pub fn render_create_index(table: &TableDef, index: &IndexDef) -> String {
    let mut sql = format!(
        "CREATE {}INDEX {} ON {} {}",
        if index.unique { "UNIQUE " } else { "" },
        ident(index.name),
        ident(table.name),
        render_index_target(table, index)
    );
    if let Some(predicate) = index.predicate {
        sql.push_str(" WHERE ");
        sql.push_str(predicate);
    }
    sql.push(';');
    sql
}

/// Every index of the table that is not redundant, in model order.
pub fn render_indexes(table: &TableDef) -> Vec<String> {
    table
        .indexes
        .iter()
        .filter(|i| !is_redundant(table, i))
        .map(|i| render_create_index(table, i))
        .collect()
}
