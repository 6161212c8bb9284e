//! What planning one change needs to know about both versions of the models.

use crate::ddl::{sort_by_dependencies, SchemaError, YearMonth};
use crate::migrate::diff::Change;
use crate::migrate::rename::Renames;
use crate::migrate::statement::archive_name;
use crate::model::{ColumnDef, TableDef};
use std::collections::{BTreeMap, BTreeSet};

/// Both versions of the models, in dependency order and by name, and the facts about the
/// step's changes that the planning of another change depends on.
pub(super) struct Context<'c> {
    old: Vec<&'c TableDef<'c>>,
    new: Vec<&'c TableDef<'c>>,
    old_by: BTreeMap<&'c str, &'c TableDef<'c>>,
    new_by: BTreeMap<&'c str, &'c TableDef<'c>>,
    /// Tables dropped and re-created (their partitioning changed).
    rebuilt: BTreeSet<&'c str>,
    /// `(table, column)`s made NOT NULL.
    not_null: BTreeSet<(&'c str, &'c str)>,
    /// The month the migration is written in.
    today: YearMonth,
    /// The step's renames (for the inverses, which name old objects).
    renames: Renames,
}

impl<'c> Context<'c> {
    pub(super) fn new(
        old: &[&'c TableDef<'c>],
        new: &[&'c TableDef<'c>],
        changes: &'c [Change<'_>],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, SchemaError> {
        let renames = Renames::between(old, new);
        let old = sort_by_dependencies(old)?;
        let new = sort_by_dependencies(new)?;
        let by_name = |tables: &[&'c TableDef<'c>]| tables.iter().map(|t| (t.name, *t)).collect();
        let mut rebuilt = BTreeSet::new();
        let mut not_null = BTreeSet::new();
        let mut old_by: BTreeMap<&'c str, &'c TableDef<'c>> = by_name(&old);
        for change in changes {
            match change {
                // The old model of a renamed table is found by its new name.
                Change::RenameTable { from, to, .. } => {
                    if let Some(t) = old_by.remove(from.as_str()) {
                        old_by.insert(to.as_str(), t);
                    }
                }
                Change::DropTable {
                    table,
                    rebuild: true,
                    ..
                } => {
                    rebuilt.insert(table.as_str());
                }
                Change::SetNotNull { table, column } => {
                    not_null.insert((table.as_str(), column.as_str()));
                }
                _ => {}
            }
        }
        Ok(Context {
            old_by,
            new_by: by_name(&new),
            old,
            new,
            rebuilt,
            not_null,
            today: YearMonth::containing(now),
            renames,
        })
    }

    /// The old model of `table`.
    pub(super) fn old_table(&self, table: &str) -> Option<&'c TableDef<'c>> {
        self.old_by.get(table).copied()
    }

    /// Where `table` comes in the new models' dependency order.
    pub(super) fn new_position(&self, table: &str) -> usize {
        position(&self.new, table)
    }

    /// Where `table` comes in the old models' reverse dependency order (referencing tables
    /// first), counted from 1.
    pub(super) fn old_reverse_position(&self, table: &str) -> usize {
        let name = self.old_by.get(table).map_or(table, |t| t.name);
        self.old.len() - position(&self.old, name)
    }

    /// The archive of `table`, when it exists before and after this step: changes of the
    /// parent are repeated on it.
    pub(super) fn mirrored(&self, table: &str) -> Option<String> {
        let (o, n) = (self.old_by.get(table)?, self.new_by.get(table)?);
        (o.archive && n.archive && !self.rebuilt.contains(table)).then(|| archive_name(table))
    }

    /// Whether the new model of `table` is partitioned.
    pub(super) fn partitioned(&self, table: &str) -> bool {
        self.new_by
            .get(table)
            .is_some_and(|t| t.partition.is_some())
    }

    /// The old model of column `column` of `table` (both by their new names).
    pub(super) fn old_column(&self, table: &str, column: &str) -> Option<&'c ColumnDef<'c>> {
        self.old_table(table)?
            .column(self.renames.old_column(table, column))
    }

    /// The new model of column `column` of `table`.
    pub(super) fn new_column(&self, table: &str, column: &str) -> Option<&'c ColumnDef<'c>> {
        self.new_by.get(table)?.column(column)
    }

    /// The old model of `table` (by its new name) and its definitions rewritten with the
    /// step's renames: what the inverse re-creates before the renames are undone.
    pub(super) fn rewrite_old(&self, table: &str, old_definition: &str) -> String {
        self.renames.rewrite(table, old_definition)
    }

    /// The old name of `table` (itself when not renamed).
    pub(super) fn old_name<'s>(&'s self, table: &'s str) -> &'s str {
        self.renames.old_table(table)
    }

    /// Where `table` comes in the old models' dependency order, counted from 0.
    pub(super) fn old_position(&self, table: &str) -> usize {
        let name = self.old_by.get(table).map_or(table, |t| t.name);
        position(&self.old, name)
    }

    /// Where `table` comes in the new models' reverse dependency order (referencing tables
    /// first), counted from 1.
    pub(super) fn new_reverse_position(&self, table: &str) -> usize {
        self.new.len() - position(&self.new, table)
    }

    /// The month the migration is written in.
    pub(super) fn today(&self) -> YearMonth {
        self.today
    }

    /// Whether the step makes `table.column` NOT NULL.
    pub(super) fn sets_not_null(&self, table: &str, column: &str) -> bool {
        self.not_null.contains(&(table, column))
    }
}

fn position(tables: &[&TableDef], name: &str) -> usize {
    tables.iter().position(|t| t.name == name).unwrap_or(0)
}
