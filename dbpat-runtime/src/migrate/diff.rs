//! The difference between two versions of the models, as a list of typed [`Change`]s.
//!
//! The comparison works on what the DDL renderers produce for each object (column types and
//! defaults from `render_column_type`, constraints from `table_constraints`, indexes from
//! `render_create_index`, the trigger from `render_updated_at_trigger`), so two models differ
//! exactly when their full DDL differs. An object whose definition changed is dropped and
//! re-created under the same name; a column whose type, nullability, default or identity
//! changed is altered in place. A table or column renamed with a `renamed_from` hint is
//! renamed in place ([`Renames`]): the old definitions are rewritten with the new names before
//! they are compared, and an index or constraint that differs only by its name is renamed.
//!
//! A [`Change`] borrows from the new models only (the caller's), and names objects of the old
//! ones (the folder's snapshot, read for the duration of the run) by value, so a plan outlives
//! the snapshot it was computed from.

use super::rename::Renames;
use crate::ddl::{
    enum_check_name, initial_partitions, is_redundant, render_create_index, render_default,
    render_updated_at_trigger, sort_by_dependencies, table_constraints, trigger_name,
    PartitionBounds, SchemaError,
};
use crate::model::{BaseType, ColumnDef, Generated, IndexDef, SqlType, TableDef};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What kind of named table constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// `PRIMARY KEY`
    PrimaryKey,
    /// `UNIQUE`
    Unique,
    /// `CHECK` (model checks and enum checks)
    Check,
    /// `FOREIGN KEY`
    ForeignKey,
}

impl ConstraintKind {
    fn of(definition: &str) -> Self {
        if definition.starts_with("PRIMARY KEY") {
            ConstraintKind::PrimaryKey
        } else if definition.starts_with("UNIQUE") {
            ConstraintKind::Unique
        } else if definition.starts_with("FOREIGN KEY") {
            ConstraintKind::ForeignKey
        } else {
            ConstraintKind::Check
        }
    }
}

/// One change from the old models to the new ones; `'a` is the new models' lifetime.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<'a> {
    /// `CREATE EXTENSION IF NOT EXISTS`.
    CreateExtension(String),
    /// The shared `update_<column>()` trigger function is needed.
    CreateTriggerFunction(String),
    /// The shared trigger function is no longer used by any table.
    DropTriggerFunction(String),
    /// A new table, with its indexes, trigger, partitions and archive.
    CreateTable(&'a TableDef<'a>),
    /// `ALTER TABLE ... RENAME TO`, with its archive and its partitions (`renamed_from` on
    /// the struct).
    RenameTable {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
        /// Whether the table has `<table>_archive` before and after (renamed with it).
        archive: bool,
        /// Whether the table is partitioned (its partitions `<from>_*` become `<to>_*`).
        partitioned: bool,
    },
    /// `RENAME COLUMN` (`renamed_from` on the field), also on the archive.
    RenameColumn {
        /// Table (new name).
        table: String,
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// A constraint whose definition is unchanged but whose name follows a rename.
    RenameConstraint {
        /// Table (new name).
        table: String,
        /// The old name.
        from: String,
        /// The new name.
        to: String,
        /// Kind.
        kind: ConstraintKind,
    },
    /// An index whose definition is unchanged but whose name follows a rename.
    RenameIndex {
        /// Table (new name).
        table: String,
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// A table (and its archive, partitions) is dropped; `rebuild` when it is re-created
    /// because its partitioning changed.
    DropTable {
        /// Table.
        table: String,
        /// Whether the old model has `<table>_archive`, dropped with it.
        archive: bool,
        /// Dropped to be re-created (partitioning changed).
        rebuild: bool,
    },
    /// `ADD COLUMN`.
    AddColumn {
        /// Table.
        table: String,
        /// The new column.
        column: &'a ColumnDef<'a>,
    },
    /// `DROP COLUMN`.
    DropColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// `ALTER COLUMN ... TYPE ... USING`.
    AlterColumnType {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Old type.
        from: SqlType,
        /// New type.
        to: SqlType,
    },
    /// The column becomes NOT NULL.
    SetNotNull {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// The column becomes nullable.
    DropNotNull {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// `SET DEFAULT` (new or changed default).
    SetDefault {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// The default's SQL.
        default: String,
    },
    /// `DROP DEFAULT`.
    DropDefault {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// `ADD GENERATED BY DEFAULT AS IDENTITY`.
    AddIdentity {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// `DROP IDENTITY`.
    DropIdentity {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// A named constraint is added (or re-added after a change).
    AddConstraint {
        /// Table.
        table: String,
        /// Constraint name.
        name: String,
        /// Definition as in `CREATE TABLE`.
        definition: String,
        /// Kind.
        kind: ConstraintKind,
        /// For an enum CHECK: what happens to the values the new one no longer allows.
        enum_values: Option<EnumValues>,
    },
    /// A named constraint is dropped (or dropped to be re-added).
    DropConstraint {
        /// Table.
        table: String,
        /// Constraint name.
        name: String,
        /// Old definition.
        definition: String,
        /// Kind.
        kind: ConstraintKind,
    },
    /// `CREATE INDEX`.
    CreateIndex {
        /// The table's new model.
        table: &'a TableDef<'a>,
        /// The index.
        index: &'a IndexDef<'a>,
    },
    /// `DROP INDEX`.
    DropIndex {
        /// Table.
        table: String,
        /// Index name.
        name: String,
    },
    /// The `updated_at` trigger is created.
    CreateTrigger(&'a TableDef<'a>),
    /// The `updated_at` trigger is dropped.
    DropTrigger {
        /// Table.
        table: String,
        /// Trigger name.
        name: String,
    },
    /// New partitions of an existing partitioned table.
    CreatePartitions {
        /// The table's new model.
        table: &'a TableDef<'a>,
        /// Partitions that do not exist yet.
        partitions: Vec<PartitionBounds>,
    },
    /// `<table>_archive` is created.
    CreateArchive(&'a TableDef<'a>),
    /// `<table>_archive` is dropped.
    DropArchive {
        /// The parent table.
        table: String,
    },
    /// The unpartitioned `<table>_archive` of a partitioned table (what the DDL of snapshot
    /// format 1 created) becomes partitioned like its table, its rows moved into it. Planned
    /// only from a folder whose snapshot is older than
    /// [`ARCHIVES_PARTITIONED_SINCE`](super::snapshot::ARCHIVES_PARTITIONED_SINCE).
    PartitionArchive(&'a TableDef<'a>),
}

/// The values an enum column loses when its CHECK changes, and what becomes of their rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnumValues {
    /// The enum column.
    pub column: String,
    /// `(old value, new value)` of removed values the model maps with `#[dbpat(was = "old")]`
    /// on the variant that takes over: their rows are updated before the new CHECK is added.
    pub mapped: Vec<(String, String)>,
    /// Removed values nothing maps: a destructive change (rows holding them would fail the
    /// new CHECK).
    pub dropped: Vec<String>,
    /// Mapped values whose rows merge with others: the value they map to was already allowed,
    /// or another removed value maps to it too. Their rows cannot be told apart afterwards,
    /// so the step cannot be reverted.
    pub merged: Vec<String>,
}

impl EnumValues {
    /// Whether the change only adds values.
    pub fn is_empty(&self) -> bool {
        self.mapped.is_empty() && self.dropped.is_empty()
    }
}

impl Change<'_> {
    /// Why this change loses data, if it does.
    pub fn destructive(&self) -> Option<String> {
        match self {
            Change::DropTable {
                table,
                rebuild: false,
                ..
            } => Some(format!("drop table `{table}` and its rows")),
            Change::DropTable {
                table,
                rebuild: true,
                ..
            } => Some(format!(
                "drop and re-create table `{table}` (its partitioning changed); its rows are lost"
            )),
            Change::DropColumn { table, column } => {
                Some(format!("drop column `{table}.{column}` and its values"))
            }
            Change::AlterColumnType {
                table,
                column,
                from,
                to,
            } if !is_widening(*from, *to) => Some(format!(
                "narrow column `{table}.{column}` from {from} to {to} (values may be cut or fail to convert)"
            )),
            Change::AddConstraint {
                table,
                name,
                enum_values: Some(values),
                ..
            } if !values.dropped.is_empty() => {
                let quoted: Vec<String> = values.dropped.iter().map(|v| format!("'{v}'")).collect();
                let one = values.dropped.len() == 1;
                Some(format!(
                    "drop enum value{} {} from `{table}.{}` (constraint {name}): nothing maps {} to a value that stays, so the migration stops if any row holds {}; to keep such rows, add `#[dbpat(was = \"{}\")]` to the variant that takes them over",
                    if one { "" } else { "s" },
                    quoted.join(", "),
                    values.column,
                    if one { "it" } else { "them" },
                    if one { "it" } else { "one" },
                    values.dropped[0],
                ))
            }
            Change::DropArchive { table } => Some(format!(
                "drop archive table `{table}_archive` and its rows"
            )),
            _ => None,
        }
    }
}

impl Change<'_> {
    /// Why a migration with this change cannot be reverted, if it cannot: its inverse would
    /// need data the change lost (the rows of a dropped table or archive, a dropped column's
    /// values, values a narrowing cut, enum values merged into one). Every other change has
    /// an exact inverse; removing an enum value nothing maps is one (its guard let no row
    /// keep it, and the old, wider CHECK is added back).
    pub fn irreversible(&self) -> Option<String> {
        match self {
            Change::AddConstraint {
                table,
                enum_values: Some(values),
                ..
            } if !values.merged.is_empty() => Some(format!(
                "the rows of `{table}.{}` that held {} now hold a value other rows already had: which held what is lost",
                values.column,
                values
                    .merged
                    .iter()
                    .map(|v| format!("'{v}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Change::AddConstraint { .. } => None,
            other => other.destructive(),
        }
    }
}

impl fmt::Display for Change<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateExtension(e) => write!(f, "create extension {e}"),
            Change::CreateTriggerFunction(c) => write!(f, "create trigger function update_{c}()"),
            Change::DropTriggerFunction(c) => write!(f, "drop trigger function update_{c}()"),
            Change::CreateTable(t) => write!(f, "create table {}", t.name),
            Change::DropTable { table, rebuild, .. } => {
                if *rebuild {
                    write!(f, "re-create table {table} (partitioning changed)")
                } else {
                    write!(f, "drop table {table}")
                }
            }
            Change::AddColumn { table, column } => {
                write!(f, "add column {table}.{}", column.name)
            }
            Change::DropColumn { table, column } => write!(f, "drop column {table}.{column}"),
            Change::AlterColumnType {
                table,
                column,
                from,
                to,
            } => write!(f, "change type of {table}.{column} from {from} to {to}"),
            Change::SetNotNull { table, column } => write!(f, "make {table}.{column} NOT NULL"),
            Change::DropNotNull { table, column } => write!(f, "make {table}.{column} nullable"),
            Change::SetDefault {
                table,
                column,
                default,
            } => write!(f, "set default of {table}.{column} to {default}"),
            Change::DropDefault { table, column } => {
                write!(f, "drop default of {table}.{column}")
            }
            Change::AddIdentity { table, column } => {
                write!(f, "make {table}.{column} an identity column")
            }
            Change::DropIdentity { table, column } => {
                write!(f, "drop identity of {table}.{column}")
            }
            Change::AddConstraint {
                table,
                name,
                definition,
                ..
            } => write!(f, "add constraint {table}.{name}: {definition}"),
            Change::DropConstraint {
                table,
                name,
                definition,
                ..
            } => write!(f, "drop constraint {table}.{name}: {definition}"),
            Change::CreateIndex { table, index } => write!(
                f,
                "create index {}",
                render_create_index(table, index).trim_end_matches(';')
            ),
            Change::DropIndex { table, name } => write!(f, "drop index {name} on {table}"),
            Change::CreateTrigger(t) => write!(f, "create updated_at trigger on {}", t.name),
            Change::DropTrigger { table, name } => write!(f, "drop trigger {name} on {table}"),
            Change::CreatePartitions { table, partitions } => write!(
                f,
                "create partition{} {} of {}",
                if partitions.len() == 1 { "" } else { "s" },
                partitions
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                table.name
            ),
            Change::CreateArchive(t) => write!(f, "create archive table {}_archive", t.name),
            Change::PartitionArchive(t) => write!(
                f,
                "partition archive table {}_archive like {}",
                t.name, t.name
            ),
            Change::DropArchive { table } => write!(f, "drop archive table {table}_archive"),
            Change::RenameTable { from, to, .. } => write!(f, "rename table {from} to {to}"),
            Change::RenameColumn { table, from, to } => {
                write!(f, "rename column {table}.{from} to {to}")
            }
            Change::RenameConstraint {
                table, from, to, ..
            } => write!(f, "rename constraint {table}.{from} to {to}"),
            Change::RenameIndex { table, from, to } => {
                write!(f, "rename index {from} on {table} to {to}")
            }
        }
    }
}

/// Whether converting `from` to `to` keeps every value (no destructive narrowing).
pub fn is_widening(from: SqlType, to: SqlType) -> bool {
    use BaseType::*;
    if from == to {
        return true;
    }
    if to == SqlType::scalar(Text) {
        return true; // every value has a text form
    }
    if from.array != to.array {
        return false;
    }
    let digits = |t: BaseType| -> Option<i32> {
        match t {
            SmallInt => Some(5),
            Integer => Some(10),
            BigInt => Some(19),
            _ => None,
        }
    };
    match (from.base, to.base) {
        (
            Numeric {
                precision: p1,
                scale: s1,
            },
            Numeric {
                precision: p2,
                scale: s2,
            },
        ) => p2 as i32 - s2 as i32 >= p1 as i32 - s1 as i32 && s2 >= s1,
        (SmallInt, Integer | BigInt) | (Integer, BigInt) => true,
        (f, Numeric { precision, scale }) if digits(f).is_some() => {
            precision as i32 - scale as i32 >= digits(f).unwrap_or(i32::MAX)
        }
        (Real, DoublePrecision) | (Date, TimestampTz) => true,
        _ => false,
    }
}

fn constraint_map(table: &TableDef) -> BTreeMap<String, String> {
    table_constraints(table).into_iter().collect()
}

fn index_map<'a>(table: &'a TableDef<'a>) -> BTreeMap<&'a str, (&'a IndexDef<'a>, String)> {
    table
        .indexes
        .iter()
        .filter(|i| !is_redundant(table, i))
        .map(|i| (i.name, (i, render_create_index(table, i))))
        .collect()
}

fn partition_shape<'a>(table: &TableDef<'a>) -> Option<(&'a str, u32)> {
    table.partition.map(|p| (p.column, p.interval.months()))
}

fn default_sql(column: &ColumnDef) -> Option<String> {
    column.default.as_ref().map(render_default)
}

/// The changes that turn a database built from `old` into one built from `new`, in no
/// particular order (the plan orders them).
pub fn diff<'a>(
    old: &[&TableDef<'_>],
    new: &[&'a TableDef<'a>],
) -> Result<Vec<Change<'a>>, SchemaError> {
    let old_sorted = sort_by_dependencies(old)?;
    let new_sorted = sort_by_dependencies(new)?;
    let renames = Renames::between(old, new);
    // The old tables by their new names: a renamed table is matched with its new model.
    let old_by: BTreeMap<&str, &TableDef> = old_sorted
        .iter()
        .map(|t| (renames.table(t.name), *t))
        .collect();
    let new_by: BTreeMap<&str, &'a TableDef<'a>> =
        new_sorted.iter().map(|t| (t.name, *t)).collect();
    let mut changes = Vec::new();

    // Preamble: extensions are created when first needed and never dropped; trigger functions
    // follow the tables that use them.
    let old_ext: BTreeSet<&str> = old
        .iter()
        .flat_map(|t| t.extensions.iter().copied())
        .collect();
    for ext in new_sorted.iter().flat_map(|t| t.extensions.iter().copied()) {
        if !old_ext.contains(ext) && !changes.contains(&Change::CreateExtension(ext.to_owned())) {
            changes.push(Change::CreateExtension(ext.to_owned()));
        }
    }
    let functions = |tables: &[&TableDef]| -> BTreeSet<String> {
        tables
            .iter()
            .filter_map(|t| t.updated_at_column().map(|c| c.name.to_owned()))
            .collect()
    };
    let (old_fn, new_fn) = (functions(&old_sorted), functions(&new_sorted));
    for f in new_fn.difference(&old_fn) {
        changes.push(Change::CreateTriggerFunction(f.clone()));
    }
    for f in old_fn.difference(&new_fn) {
        changes.push(Change::DropTriggerFunction(f.clone()));
    }

    for (from, to) in &renames.tables {
        let (Some(o), Some(n)) = (old_by.get(to.as_str()), new_by.get(to.as_str())) else {
            continue;
        };
        changes.push(Change::RenameTable {
            from: from.clone(),
            to: to.clone(),
            archive: o.archive && n.archive,
            partitioned: o.partition.is_some(),
        });
    }

    // Tables dropped, created, or re-created because their partitioning changed.
    let mut rebuilt: BTreeSet<&str> = BTreeSet::new();
    for (name, o) in &old_by {
        let drop = |rebuild| Change::DropTable {
            table: (*name).to_owned(),
            archive: o.archive,
            rebuild,
        };
        match new_by.get(name) {
            None => changes.push(drop(false)),
            Some(n) if partition_shape(o) != partition_shape(n) => {
                rebuilt.insert(name);
                changes.push(drop(true));
                changes.push(Change::CreateTable(n));
            }
            Some(_) => {}
        }
    }
    for (name, n) in &new_by {
        if !old_by.contains_key(name) {
            changes.push(Change::CreateTable(n));
        }
    }

    for (name, n) in &new_by {
        let Some(o) = old_by.get(name) else { continue };
        if rebuilt.contains(name) {
            continue;
        }
        diff_table(o, n, &rebuilt, &renames, &mut changes);
    }
    Ok(changes)
}

fn diff_table<'a>(
    o: &TableDef<'_>,
    n: &'a TableDef<'a>,
    rebuilt: &BTreeSet<&str>,
    renames: &Renames,
    changes: &mut Vec<Change<'a>>,
) {
    let table = n.name.to_owned();
    let renamed_columns = renames.columns_of(n.name);
    // Columns.
    for (from, to) in &renamed_columns {
        changes.push(Change::RenameColumn {
            table: table.clone(),
            from: (*from).to_owned(),
            to: (*to).to_owned(),
        });
    }
    for oc in o.columns {
        if n.column(renames.new_column(n.name, oc.name)).is_none() {
            changes.push(Change::DropColumn {
                table: table.clone(),
                column: oc.name.to_owned(),
            });
        }
    }
    for nc in n.columns {
        let Some(oc) = o.column(renames.old_column(n.name, nc.name)) else {
            changes.push(Change::AddColumn {
                table: table.clone(),
                column: nc,
            });
            continue;
        };
        let column = nc.name.to_owned();
        if oc.sql_type != nc.sql_type {
            changes.push(Change::AlterColumnType {
                table: table.clone(),
                column: column.clone(),
                from: oc.sql_type,
                to: nc.sql_type,
            });
        }
        match (oc.nullable, nc.nullable) {
            (true, false) => changes.push(Change::SetNotNull {
                table: table.clone(),
                column: column.clone(),
            }),
            (false, true) => changes.push(Change::DropNotNull {
                table: table.clone(),
                column: column.clone(),
            }),
            _ => {}
        }
        let (od, nd) = (default_sql(oc), default_sql(nc));
        if od != nd || (od.is_some() && oc.sql_type != nc.sql_type) {
            match nd {
                Some(default) => changes.push(Change::SetDefault {
                    table: table.clone(),
                    column: column.clone(),
                    default,
                }),
                None => changes.push(Change::DropDefault {
                    table: table.clone(),
                    column: column.clone(),
                }),
            }
        }
        let identity = |c: &ColumnDef| matches!(c.generated, Some(Generated::Identity));
        match (identity(oc), identity(nc)) {
            (false, true) => changes.push(Change::AddIdentity {
                table: table.clone(),
                column: column.clone(),
            }),
            (true, false) => changes.push(Change::DropIdentity {
                table: table.clone(),
                column,
            }),
            _ => {}
        }
    }

    // Constraints, by name, the old definitions rewritten with the renames. A foreign key
    // to a re-created table is re-added; one that differs only by name is renamed.
    let oc: BTreeMap<String, String> = constraint_map(o)
        .into_iter()
        .map(|(name, def)| (name, renames.rewrite(n.name, &def)))
        .collect();
    let nc = constraint_map(n);
    let refs_rebuilt = |def: &str| {
        rebuilt
            .iter()
            .any(|t| def.contains(&format!("REFERENCES {} (", crate::ddl::ident(t))))
    };
    let mut old_changed: Vec<(&String, &String)> = oc
        .iter()
        .filter(|(name, def)| match nc.get(*name) {
            None => true,
            Some(new_def) => new_def != *def || refs_rebuilt(def),
        })
        .collect();
    let mut new_changed: Vec<(&String, &String)> = nc
        .iter()
        .filter(|(name, def)| match oc.get(*name) {
            None => true,
            Some(old_def) => old_def != *def || refs_rebuilt(def),
        })
        .collect();
    for (from, to) in pair_renamed(&mut old_changed, &mut new_changed, |def| !refs_rebuilt(def)) {
        changes.push(Change::RenameConstraint {
            table: table.clone(),
            kind: ConstraintKind::of(&nc[to.as_str()]),
            from,
            to,
        });
    }
    for (name, def) in old_changed {
        changes.push(Change::DropConstraint {
            table: table.clone(),
            name: name.clone(),
            definition: def.clone(),
            kind: ConstraintKind::of(def),
        });
    }
    for (name, def) in new_changed {
        changes.push(Change::AddConstraint {
            table: table.clone(),
            name: name.clone(),
            definition: def.clone(),
            kind: ConstraintKind::of(def),
            enum_values: removed_enum_values(o, n, name, renames),
        });
    }

    // Indexes, by name, compared without their names (the old ones rewritten with the
    // renames): an index that differs only by name is renamed.
    let unnamed = |i: &IndexDef, sql: &str| {
        sql.replacen(&format!(" {} ON ", crate::ddl::ident(i.name)), " ON ", 1)
    };
    let oi: BTreeMap<String, String> = index_map(o)
        .into_iter()
        .map(|(name, (i, sql))| (name.to_owned(), renames.rewrite(n.name, &unnamed(i, &sql))))
        .collect();
    let ni_full = index_map(n);
    let ni: BTreeMap<String, String> = ni_full
        .iter()
        .map(|(name, (i, sql))| ((*name).to_owned(), unnamed(i, sql)))
        .collect();
    let mut old_changed: Vec<(&String, &String)> = oi
        .iter()
        .filter(|(name, sql)| ni.get(*name) != Some(*sql))
        .collect();
    let mut new_changed: Vec<(&String, &String)> = ni
        .iter()
        .filter(|(name, sql)| oi.get(*name) != Some(*sql))
        .collect();
    for (from, to) in pair_renamed(&mut old_changed, &mut new_changed, |_| true) {
        changes.push(Change::RenameIndex {
            table: table.clone(),
            from,
            to,
        });
    }
    for (name, _) in old_changed {
        changes.push(Change::DropIndex {
            table: table.clone(),
            name: name.clone(),
        });
    }
    for (name, _) in new_changed {
        let (index, _) = ni_full[name.as_str()];
        changes.push(Change::CreateIndex { table: n, index });
    }

    // The updated_at trigger.
    let (ot, nt) = (render_updated_at_trigger(o), render_updated_at_trigger(n));
    if ot != nt {
        if let Some(col) = o.updated_at_column().filter(|_| ot.is_some()) {
            changes.push(Change::DropTrigger {
                table: table.clone(),
                name: trigger_name(o, col.name),
            });
        }
        if nt.is_some() {
            changes.push(Change::CreateTrigger(n));
        }
    }

    // Partitions the new model lists that the old one did not.
    if let (Some(op), Some(np)) = (&o.partition, &n.partition) {
        // A renamed table's partitions are renamed with it (`<old>_*` → `<new>_*`).
        let existing: BTreeSet<String> = initial_partitions(o, op)
            .into_iter()
            .map(|b| match b.name.strip_prefix(o.name) {
                Some(rest) if o.name != n.name => format!("{}{rest}", n.name),
                _ => b.name,
            })
            .collect();
        let partitions: Vec<PartitionBounds> = initial_partitions(n, np)
            .into_iter()
            .filter(|b| !existing.contains(&b.name))
            .collect();
        if !partitions.is_empty() {
            changes.push(Change::CreatePartitions {
                table: n,
                partitions,
            });
        }
    }

    match (o.archive, n.archive) {
        (false, true) => changes.push(Change::CreateArchive(n)),
        (true, false) => changes.push(Change::DropArchive { table }),
        _ => {}
    }
}

/// The values an enum CHECK named `constraint` allowed in `old` and no longer allows in `new`,
/// split by whether the new model maps them (`was = "..."`); `None` when the constraint is
/// not an enum CHECK of a column both models have, or loses no value.
fn removed_enum_values(
    old: &TableDef,
    new: &TableDef,
    constraint: &str,
    renames: &Renames,
) -> Option<EnumValues> {
    let nc = new
        .columns
        .iter()
        .find(|c| c.enum_values.is_some() && enum_check_name(new, c) == constraint)?;
    let old_values = old
        .column(renames.old_column(new.name, nc.name))
        .and_then(|c| c.enum_values)?;
    let new_values = nc.enum_values.unwrap_or(&[]);
    let mut values = EnumValues {
        column: nc.name.to_owned(),
        ..EnumValues::default()
    };
    for v in old_values.iter().filter(|v| !new_values.contains(v)) {
        match nc.enum_was.iter().find(|(was, _)| was == v) {
            Some((_, to)) => values.mapped.push(((*v).to_owned(), (*to).to_owned())),
            None => values.dropped.push((*v).to_owned()),
        }
    }
    for (old, new) in &values.mapped {
        let shared = values.mapped.iter().filter(|(_, n)| n == new).count() > 1;
        if shared || old_values.contains(&new.as_str()) {
            values.merged.push(old.clone());
        }
    }
    (!values.is_empty()).then_some(values)
}

/// Takes out of `old` and `new` (changed objects: `(name, definition)`) the pairs with equal
/// definitions under different names, for which `renamable` holds: `(old name, new name)`.
fn pair_renamed(
    old: &mut Vec<(&String, &String)>,
    new: &mut Vec<(&String, &String)>,
    renamable: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    old.retain(|(from, def)| {
        if !renamable(def) {
            return true;
        }
        let Some(at) = new
            .iter()
            .position(|(to, new_def)| new_def == def && to != from)
        else {
            return true;
        };
        let (to, _) = new.remove(at);
        pairs.push(((*from).clone(), to.clone()));
        false
    });
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    #[test]
    fn widening_and_narrowing() {
        let int = SqlType::scalar(BaseType::Integer);
        let big = SqlType::scalar(BaseType::BigInt);
        let n = |p, s| {
            SqlType::scalar(BaseType::Numeric {
                precision: p,
                scale: s,
            })
        };
        assert!(is_widening(int, big));
        assert!(!is_widening(big, int));
        assert!(is_widening(n(19, 4), n(20, 4)));
        assert!(!is_widening(n(19, 4), n(19, 2)));
        assert!(is_widening(int, SqlType::scalar(BaseType::Text)));
        assert!(!is_widening(SqlType::scalar(BaseType::Text), int));
        assert!(is_widening(int, n(12, 2)));
    }

    #[test]
    fn enum_value_drop_is_destructive() {
        const OLD: &[ColumnDef] = &[ColumnDef::new("s", "s", SqlType::scalar(BaseType::Text))
            .enum_values(Some(&["a", "b", "c"]))];
        const NEW: &[ColumnDef] = &[ColumnDef::new("s", "s", SqlType::scalar(BaseType::Text))
            .enum_values(Some(&["a", "c", "d"]))];
        static O: TableDef = TableDef::new("t", "T", OLD, &[]);
        static N: TableDef = TableDef::new("t", "T", NEW, &[]);
        let changes = diff(&[&O], &[&N]).unwrap();
        let destructive: Vec<String> = changes.iter().filter_map(Change::destructive).collect();
        assert_eq!(destructive.len(), 1, "{changes:?}");
        assert!(destructive[0].contains("'b'"), "{destructive:?}");
    }

    #[test]
    fn a_mapped_enum_value_is_not_destructive() {
        const OLD: &[ColumnDef] = &[ColumnDef::new("s", "s", SqlType::scalar(BaseType::Text))
            .enum_values(Some(&["a", "b", "c"]))];
        const NEW: &[ColumnDef] = &[ColumnDef::new("s", "s", SqlType::scalar(BaseType::Text))
            .enum_values(Some(&["a", "d"]))
            .enum_was(&[("b", "d")])];
        static O: TableDef = TableDef::new("t", "T", OLD, &[]);
        static N: TableDef = TableDef::new("t", "T", NEW, &[]);
        let changes = diff(&[&O], &[&N]).unwrap();
        let values = changes
            .iter()
            .find_map(|c| match c {
                Change::AddConstraint { enum_values, .. } => enum_values.clone(),
                _ => None,
            })
            .expect("the enum CHECK changes");
        assert_eq!(values.mapped, vec![("b".to_owned(), "d".to_owned())]);
        assert_eq!(values.dropped, vec!["c".to_owned()]);
        let destructive: Vec<String> = changes.iter().filter_map(Change::destructive).collect();
        assert_eq!(destructive.len(), 1, "{destructive:?}");
        assert!(destructive[0].contains("'c'") && !destructive[0].contains("'b'"));
    }
}
