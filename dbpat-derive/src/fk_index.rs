//! The index on each foreign-key column.
//!
//! PostgreSQL indexes the referenced key, not the referencing column. Without an index on it,
//! every delete of a parent row (and every update of its key) scans the whole child table —
//! every partition of a partitioned child — to find the rows the foreign key's action must
//! check, cascade to or set to NULL.
//!
//! So each `references(...)` field gets a plain B-tree index on its column, named as an
//! unnamed `index(<column>)` would be (`idx_<table>_<column>`, see
//! [`names::foreign_key_index_name`]), unless
//!
//! - an index the model already has leads with that column: the primary key, a `unique` on
//!   the field, a `unique(<column>, ...)`, or an `index(<column>, ...)` over fields without
//!   `where` (a partial index does not serve every lookup; GIN, expression and full-text
//!   indexes do not count), or
//! - the field opts out with `references(Target, on_delete = ..., no_index)` (an opt-out the
//!   first rule already makes is refused by the validation, since it would do nothing).
//!
//! The derive decides it and emits the index into the model's `indexes` after the declared
//! ones, so every rendering — the DDL, the migration diff and its snapshot, `check` — sees
//! the same index; an existing database gets it from the next `emit-sql migrate`.

use crate::ast::{Container, Field};
use crate::attr::IndexTarget;
use crate::names::{self, column_of, index_name};
use std::collections::BTreeSet;

/// An index (or the index behind a constraint) of the model whose leading column is a
/// foreign-key column.
pub struct Covering {
    /// What it is, for messages: "the primary key", "the unique constraint", "the index".
    pub what: &'static str,
    /// Its name.
    pub name: String,
}

/// The index added on a foreign-key column.
pub struct FkIndex<'c, 'a> {
    /// The `references(...)` field.
    pub field: &'c Field<'a>,
    /// The index name.
    pub name: String,
}

impl<'a> Container<'a> {
    /// The index of the model that already leads with `field`'s column, if any.
    pub fn covering_index(&self, field: &Field) -> Option<Covering> {
        let column = field.column.as_str();
        if self.primary_key().next().map(|f| f.column.as_str()) == Some(column) {
            return Some(Covering {
                what: "the primary key",
                name: format!("{}_pkey", self.table),
            });
        }
        if field.attrs.unique.is_some() {
            return Some(Covering {
                what: "the unique constraint",
                name: names::unique_name(&self.table, std::slice::from_ref(&field.column)),
            });
        }
        for unique in &self.attrs.uniques {
            let columns: Vec<String> = unique.columns.iter().map(|c| column_of(self, c)).collect();
            if columns.first().map(String::as_str) == Some(column) {
                return Some(Covering {
                    what: "the unique constraint",
                    name: unique
                        .name
                        .clone()
                        .unwrap_or_else(|| names::unique_name(&self.table, &columns)),
                });
            }
        }
        self.attrs
            .indexes
            .iter()
            .find_map(|index| match &index.target {
                IndexTarget::Columns(cols)
                    if index.predicate.is_none()
                        && cols.first().map(|(c, _)| column_of(self, c)).as_deref()
                            == Some(column) =>
                {
                    Some(Covering {
                        what: "the index",
                        name: index_name(self, index),
                    })
                }
                _ => None,
            })
    }

    /// The indexes the model adds on its foreign-key columns, in field order.
    pub fn fk_indexes(&self) -> Vec<FkIndex<'_, 'a>> {
        let mut taken = self.relation_names();
        let mut out = Vec::new();
        for field in &self.fields {
            let Some(r) = &field.attrs.references else {
                continue;
            };
            if r.no_index.is_some() || self.covering_index(field).is_some() {
                continue;
            }
            let name = names::foreign_key_index_name(&self.table, &field.column, &taken);
            taken.insert(name.clone());
            out.push(FkIndex { field, name });
        }
        out
    }

    /// The names the model gives to relations of its own (PostgreSQL keeps tables and indexes,
    /// with those of the primary key and UNIQUE constraints, in one namespace): a foreign-key
    /// index must not take one of them.
    fn relation_names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self
            .attrs
            .indexes
            .iter()
            .map(|i| index_name(self, i))
            .collect();
        names.insert(self.table.clone());
        names.insert(format!("{}_archive", self.table));
        names.insert(format!("{}_pkey", self.table));
        for field in self.fields.iter().filter(|f| f.attrs.unique.is_some()) {
            names.insert(names::unique_name(
                &self.table,
                std::slice::from_ref(&field.column),
            ));
        }
        for unique in &self.attrs.uniques {
            let columns: Vec<String> = unique.columns.iter().map(|c| column_of(self, c)).collect();
            names.insert(
                unique
                    .name
                    .clone()
                    .unwrap_or_else(|| names::unique_name(&self.table, &columns)),
            );
        }
        names
    }
}
