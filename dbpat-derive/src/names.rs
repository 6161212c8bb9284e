//! Names the derive gives to constraints and indexes when the model does not name them.
//! They follow PostgreSQL's own conventions (`<table>_<col>_key`, `_check`, `_fkey`) and the
//! seed's `idx_` prefix for indexes, cut to 63 bytes.

use crate::ast::{Container, Field};
use crate::attr::{IndexAttr, IndexTarget};
use crate::case::{slug, truncate_ident, truncate_ident_keeping};
use std::collections::BTreeSet;
use syn::Ident;

/// The column name of the field `ident` (falls back to the ident when it is not a field; that
/// case is reported by the validation).
pub fn column_of(cont: &Container, ident: &Ident) -> String {
    cont.field(ident)
        .map(|f| f.column.clone())
        .unwrap_or_else(|| ident.to_string())
}

/// The index's `name = "..."`, else `idx_<table>_<columns>[_gin|_fts][_uniq][_where_<slug>]`.
pub fn index_name(cont: &Container, index: &IndexAttr) -> String {
    if let Some(name) = &index.name {
        return name.value.clone();
    }
    let table = &cont.table;
    let mut name = match &index.target {
        IndexTarget::Columns(cols) => {
            let cols: Vec<String> = cols.iter().map(|(c, _)| column_of(cont, c)).collect();
            format!("idx_{table}_{}", cols.join("_"))
        }
        IndexTarget::Gin { column, .. } => format!("idx_{table}_{}_gin", column_of(cont, column)),
        IndexTarget::Expr(expr) => format!("idx_{table}_{}", slug(expr)),
        IndexTarget::FullText { columns, .. } => {
            let cols: Vec<String> = columns.iter().map(|c| column_of(cont, c)).collect();
            format!("idx_{table}_{}_fts", cols.join("_"))
        }
    };
    if index.unique {
        name.push_str("_uniq");
    }
    if let Some(predicate) = &index.predicate {
        name.push_str("_where_");
        name.push_str(&slug(predicate));
    }
    truncate_ident(name)
}

/// The name of the index the model adds on a foreign-key column: `idx_<table>_<column>`, the
/// name an unnamed `index(<column>)` gets, or, when a name of the model already `taken` it,
/// `idx_<table>_<column>_fk`, then `_fk2`, `_fk3`, ... (the suffix survives the cut to 63
/// bytes, so two long names cannot become one).
pub fn foreign_key_index_name(table: &str, column: &str, taken: &BTreeSet<String>) -> String {
    let base = format!("idx_{table}_{column}");
    let first = truncate_ident(base.clone());
    if !taken.contains(&first) {
        return first;
    }
    (1..)
        .map(|n| {
            let suffix = if n == 1 {
                "_fk".to_owned()
            } else {
                format!("_fk{n}")
            };
            truncate_ident_keeping(&base, &suffix)
        })
        .find(|name| !taken.contains(name))
        .expect("some suffix is free")
}

/// `<table>_<columns>_key`, PostgreSQL's own name for a UNIQUE constraint.
pub fn unique_name(table: &str, columns: &[String]) -> String {
    truncate_ident(format!("{table}_{}_key", columns.join("_")))
}

/// `<table>_<column>_fkey`, PostgreSQL's own name for a foreign key.
pub fn foreign_key_name(table: &str, field: &Field) -> String {
    truncate_ident(format!("{table}_{}_fkey", field.column))
}

/// Names of a field's own CHECKs: `<table>_<col>_check`, then `_check1`, ... (an enum column's
/// generated CHECK takes the first name, so the field's own checks start at `_check1`).
pub fn field_check_names(table: &str, field: &Field, enum_may_take_first: bool) -> Vec<String> {
    let start = usize::from(enum_may_take_first);
    (start..start + field.attrs.checks.len())
        .map(|i| {
            let suffix = if i == 0 { String::new() } else { i.to_string() };
            truncate_ident(format!("{table}_{}_check{suffix}", field.column))
        })
        .collect()
}

/// Name of the n-th unnamed table CHECK: `<table>_check`, `<table>_check1`, ...
pub fn table_check_name(table: &str, n: usize) -> String {
    let suffix = if n == 0 { String::new() } else { n.to_string() };
    truncate_ident(format!("{table}_check{suffix}"))
}
