//! From a list of [`Change`]s to ordered, online-safe migration files.
//!
//! # Files
//!
//! One migration step writes up to three kinds of files, with consecutive versions:
//!
//! 1. `<v>_<name>.sql`, transactional: everything that needs only a brief lock, in dependency
//!    order (drops of triggers, indexes, constraints, tables, columns; column changes; new
//!    columns; new tables with their indexes; new constraints `NOT VALID`; triggers; partitions).
//! 2. `<v+i>_<name>_index_<index>.sql`, one per index built on an existing table:
//!    `CREATE INDEX CONCURRENTLY` cannot run in a transaction, and PostgreSQL also refuses it in a
//!    multi-statement string (sqlx sends a whole file as one), so each build is alone in a
//!    `-- no-transaction` file. Splitting keeps everything else transactional: a failed step
//!    rolls back instead of leaving half a change.
//! 3. `<v+n>_<name>_validate.sql`, transactional: `VALIDATE CONSTRAINT` of the constraints added
//!    `NOT VALID` in file 1 (a separate transaction, so the validating scan holds only a SHARE
//!    UPDATE EXCLUSIVE lock, not file 1's ACCESS EXCLUSIVE one), `SET NOT NULL` after its helper
//!    CHECK is validated, `ADD CONSTRAINT ... UNIQUE USING INDEX` over the indexes of step 2, and
//!    archive tables created for existing tables (after the parent has all its indexes).
//!
//! # Online safety
//!
//! - New tables (and their indexes) are created plainly: they are empty.
//! - Indexes on existing tables are built `CONCURRENTLY`. A partitioned table cannot build an
//!   index concurrently; its indexes are created plainly (a SHARE lock on the parent and every
//!   partition blocks writes while the index builds), with a comment saying so. Building per
//!   partition and attaching would need the list of partitions, which depends on the day the
//!   migration runs, not on the model.
//! - New CHECK and FOREIGN KEY constraints on existing tables are added `NOT VALID` and validated
//!   in file 3. PostgreSQL 15 has no `NOT VALID` foreign keys on partitioned tables: those are
//!   added plainly, with a comment.
//! - A UNIQUE constraint on an existing table is an index built concurrently, then attached with
//!   `USING INDEX`.
//! - `NOT NULL` on an existing column: `CHECK (col IS NOT NULL) NOT VALID`, validate, `SET NOT
//!   NULL` (which trusts the validated check and skips its scan), drop the check.
//! - Indexes are dropped plainly in file 1: `DROP INDEX` changes only the catalog, its brief
//!   ACCESS EXCLUSIVE lock is guarded by the lock timeout, and it keeps drops transactional.
//! - Every transactional file starts with `SET LOCAL lock_timeout`. The single-statement
//!   concurrent files cannot (the header `render` writes for them says why).
//!
//! # Archive tables
//!
//! `<t>_archive` is created `LIKE <t> INCLUDING ALL`; to keep it equal to what the full DDL
//! creates, every change of `<t>`'s columns, CHECKs, PRIMARY KEY/UNIQUE and indexes is repeated
//! on the archive (its copied indexes and keys are named by PostgreSQL, so they are created
//! unnamed and dropped by definition, see [`drop_archive_copy`]).

use super::diff::{diff, Change, ConstraintKind};
use super::file::{FileKind, PlannedFile};
use super::statement::{alter_column, alter_table, archive_name, drop_archive_copy, Statement};
use crate::ddl::{
    ident, render_archive_table, render_column_type, render_create_partition, render_index_target,
    render_schema, render_table_statements, render_trigger_function, render_updated_at_trigger,
    sort_by_dependencies, SchemaError,
};
use crate::model::{ColumnDef, DefaultValue, TableDef};
use std::collections::{BTreeMap, BTreeSet};

/// The ordered files of one migration step; `'a` is the new models' lifetime.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<'a> {
    /// The changes, as diffed.
    pub changes: Vec<Change<'a>>,
    /// Files in version order.
    pub files: Vec<PlannedFile>,
    /// One line per destructive change.
    pub destructive: Vec<String>,
    /// Things the user should know (e.g. a NOT NULL column added without a default).
    pub warnings: Vec<String>,
}

impl Plan<'_> {
    /// No change at all.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

// Steps of file 1, in execution order.
const PREAMBLE: usize = 0;
const DROP_TRIGGER: usize = 1;
const DROP_ARCHIVE_COPY: usize = 2;
const DROP_INDEX: usize = 3;
const DROP_FK: usize = 4;
const DROP_CONSTRAINT: usize = 5;
const DROP_TABLE: usize = 6;
const DROP_COLUMN: usize = 7;
const ALTER_COLUMN: usize = 8;
const ADD_COLUMN: usize = 9;
const CREATE_TABLE: usize = 10;
const ADD_CONSTRAINT: usize = 11;
const PLAIN_INDEX: usize = 12;
const CREATE_TRIGGER: usize = 13;
const PARTITIONS: usize = 14;
const DROP_FUNCTION: usize = 15;
const STEPS: usize = 16;

struct Builder {
    main: Vec<Vec<(usize, Statement)>>,
    concurrent: Vec<(String, Statement)>,
    /// `VALIDATE CONSTRAINT`s: they run first in file 3, so their scans hold only SHARE UPDATE
    /// EXCLUSIVE locks, never behind an ACCESS EXCLUSIVE lock taken earlier in the transaction.
    validate: Vec<Statement>,
    /// Brief steps after the validations (`SET NOT NULL`, `USING INDEX`, helper drops).
    finish: Vec<Statement>,
    late: Vec<Statement>,
}

impl Builder {
    fn push(&mut self, step: usize, statement: Statement) {
        self.push_ordered(step, 0, statement);
    }
    fn push_ordered(&mut self, step: usize, order: usize, statement: Statement) {
        self.main[step].push((order, statement));
    }
}

/// Whether adding `column` to a table with rows rewrites the table: identity columns and
/// volatile defaults do; constants and stable functions such as `NOW()` are stored once.
fn is_volatile(column: &ColumnDef) -> bool {
    const VOLATILE: &[&str] = &[
        "random",
        "uuid_generate",
        "nextval",
        "clock_timestamp",
        "timeofday",
    ];
    column.generated.is_some()
        || matches!(column.default, Some(DefaultValue::Expr(e))
            if VOLATILE.iter().any(|v| e.to_ascii_lowercase().contains(v)))
}

/// Plans the migration from `old` to `new`.
///
/// From an empty folder the main file is exactly the full schema of `emit-sql`.
pub fn plan<'a>(old: &[&TableDef<'_>], new: &[&'a TableDef<'a>]) -> Result<Plan<'a>, SchemaError> {
    let changes = diff(old, new)?;
    if old.is_empty() && !changes.is_empty() {
        return Ok(Plan {
            changes,
            files: vec![PlannedFile {
                kind: FileKind::Main,
                suffix: String::new(),
                statements: vec![Statement::new(render_schema(new)?.trim_end())],
            }],
            destructive: Vec::new(),
            warnings: Vec::new(),
        });
    }
    let old_sorted = sort_by_dependencies(old)?;
    let new_sorted = sort_by_dependencies(new)?;
    let old_by: BTreeMap<&str, &TableDef> = old_sorted.iter().map(|t| (t.name, *t)).collect();
    let new_by: BTreeMap<&str, &TableDef> = new_sorted.iter().map(|t| (t.name, *t)).collect();
    let position =
        |tables: &[&TableDef], name: &str| tables.iter().position(|t| t.name == name).unwrap_or(0);
    let rebuilt: BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::DropTable {
                table,
                rebuild: true,
                ..
            } => Some(table.as_str()),
            _ => None,
        })
        .collect();
    // The archive exists before and after this step, so parent changes are repeated on it.
    let mirrored = |table: &str| -> Option<String> {
        let (o, n) = (old_by.get(table)?, new_by.get(table)?);
        (o.archive && n.archive && !rebuilt.contains(table)).then(|| archive_name(table))
    };
    let partitioned = |table: &str| new_by.get(table).is_some_and(|t| t.partition.is_some());
    let not_null_targets: BTreeSet<(String, String)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::SetNotNull { table, column } => Some((table.clone(), column.clone())),
            _ => None,
        })
        .collect();

    let mut b = Builder {
        main: vec![Vec::new(); STEPS],
        concurrent: Vec::new(),
        validate: Vec::new(),
        finish: Vec::new(),
        late: Vec::new(),
    };
    let mut warnings = Vec::new();
    let mut destructive = Vec::new();

    for change in &changes {
        let reason = change.destructive();
        if let Some(r) = &reason {
            destructive.push(r.clone());
        }
        match change {
            Change::CreateExtension(e) => b.push(
                PREAMBLE,
                Statement::new(format!("CREATE EXTENSION IF NOT EXISTS {};", ident(e))),
            ),
            Change::CreateTriggerFunction(column) => {
                b.push(PREAMBLE, Statement::new(render_trigger_function(column)))
            }
            Change::DropTriggerFunction(column) => b.push(
                DROP_FUNCTION,
                Statement::new(format!(
                    "DROP FUNCTION IF EXISTS {}();",
                    ident(&crate::ddl::trigger_function_name(column))
                ))
                .comment("no table uses this trigger function any more"),
            ),
            Change::CreateTable(t) => {
                let sql = render_table_statements(t).join("\n");
                b.push_ordered(
                    CREATE_TABLE,
                    position(&new_sorted, t.name),
                    Statement::new(sql).comment(format!(
                        "new table {}: created with its indexes at once (it is empty)",
                        t.name
                    )),
                );
            }
            Change::DropTable { table, archive, .. } => {
                // Reverse dependency order: referencing tables go first.
                let order = old_sorted.len() - position(&old_sorted, table);
                let mut sql = String::new();
                if *archive {
                    sql.push_str(&format!("DROP TABLE {};\n", ident(&archive_name(table))));
                }
                sql.push_str(&format!("DROP TABLE {};", ident(table)));
                b.push_ordered(DROP_TABLE, order, Statement::new(sql).marked(&reason));
            }
            Change::AddColumn { table, column } => {
                let mut s = Statement::new(alter_table(
                    table,
                    &format!(
                        "ADD COLUMN {} {}",
                        ident(column.name),
                        render_column_type(column)
                    ),
                ));
                if !column.nullable && column.default.is_none() && column.generated.is_none() {
                    let w = format!(
                        "column {table}.{} is NOT NULL without a default: adding it fails if the table has rows (give it a default, or add it nullable, backfill, then make it NOT NULL)",
                        column.name
                    );
                    s = s.comment(format!("WARNING: {w}"));
                    warnings.push(w);
                }
                if is_volatile(column) {
                    s = s.comment("a volatile default (or identity) fills every existing row: the table is rewritten under its lock");
                }
                let mirror = mirrored(table).map(|a| {
                    alter_table(
                        &a,
                        &format!(
                            "ADD COLUMN {} {}",
                            ident(column.name),
                            render_column_type(column)
                        ),
                    )
                });
                b.push(ADD_COLUMN, s);
                if let Some(m) = mirror {
                    b.push(ADD_COLUMN, Statement::new(m));
                }
            }
            Change::DropColumn { table, column } => {
                b.push(
                    DROP_COLUMN,
                    Statement::new(alter_table(
                        table,
                        &format!("DROP COLUMN {}", ident(column)),
                    ))
                    .marked(&reason),
                );
                if let Some(a) = mirrored(table) {
                    b.push(
                        DROP_COLUMN,
                        Statement::new(alter_table(&a, &format!("DROP COLUMN {}", ident(column)))),
                    );
                }
            }
            Change::AlterColumnType {
                table, column, to, ..
            } => {
                let had_default = old_by
                    .get(table.as_str())
                    .and_then(|t| t.column(column))
                    .is_some_and(|c| c.default.is_some());
                for t in std::iter::once(table.clone()).chain(mirrored(table)) {
                    if had_default {
                        b.push(
                            ALTER_COLUMN,
                            Statement::new(alter_column(&t, column, "DROP DEFAULT"))
                                .comment("the old default may not cast to the new type; it is set again below"),
                        );
                    }
                    b.push(
                        ALTER_COLUMN,
                        Statement::new(alter_column(
                            &t,
                            column,
                            &format!("TYPE {to} USING {}::{to}", ident(column)),
                        ))
                        .comment("a type change rewrites the table (and its indexes) under an ACCESS EXCLUSIVE lock unless the types are binary-compatible")
                        .marked(&reason),
                    );
                }
            }
            Change::SetNotNull { table, column } => {
                let helper = format!("{table}_{column}_not_null");
                for t in std::iter::once(table.clone()).chain(mirrored(table)) {
                    b.push(
                        ALTER_COLUMN,
                        Statement::new(alter_table(
                            &t,
                            &format!(
                                "ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID",
                                ident(&helper),
                                ident(column)
                            ),
                        ))
                        .comment(format!(
                            "NOT NULL on {t}.{column} goes through a CHECK validated without blocking writes"
                        )),
                    );
                    b.validate.push(Statement::new(alter_table(
                        &t,
                        &format!("VALIDATE CONSTRAINT {}", ident(&helper)),
                    )));
                    b.finish.push(
                        Statement::new(alter_column(&t, column, "SET NOT NULL"))
                            .comment("uses the validated CHECK instead of scanning the table"),
                    );
                    b.finish.push(Statement::new(alter_table(
                        &t,
                        &format!("DROP CONSTRAINT {}", ident(&helper)),
                    )));
                }
            }
            Change::DropNotNull { table, column } => {
                for t in std::iter::once(table.clone()).chain(mirrored(table)) {
                    b.push(
                        ALTER_COLUMN,
                        Statement::new(alter_column(&t, column, "DROP NOT NULL")),
                    );
                }
            }
            Change::SetDefault {
                table,
                column,
                default,
            } => {
                for t in std::iter::once(table.clone()).chain(mirrored(table)) {
                    b.push(
                        ALTER_COLUMN,
                        Statement::new(alter_column(&t, column, &format!("SET DEFAULT {default}"))),
                    );
                }
            }
            Change::DropDefault { table, column } => {
                for t in std::iter::once(table.clone()).chain(mirrored(table)) {
                    b.push(
                        ALTER_COLUMN,
                        Statement::new(alter_column(&t, column, "DROP DEFAULT")),
                    );
                }
            }
            Change::AddIdentity { table, column } => {
                let after_not_null = not_null_targets.contains(&(table.clone(), column.clone()));
                for t in std::iter::once(table.clone()).chain(mirrored(table)) {
                    let s = Statement::new(alter_column(
                        &t,
                        column,
                        "ADD GENERATED BY DEFAULT AS IDENTITY",
                    ));
                    if after_not_null {
                        b.finish
                            .push(s.comment("after SET NOT NULL, which identity needs"));
                    } else {
                        b.push(ALTER_COLUMN, s);
                    }
                }
            }
            Change::DropIdentity { table, column } => {
                for t in std::iter::once(table.clone()).chain(mirrored(table)) {
                    b.push(
                        ALTER_COLUMN,
                        Statement::new(alter_column(&t, column, "DROP IDENTITY")),
                    );
                }
            }
            Change::DropConstraint {
                table, name, kind, ..
            } => {
                let step = if *kind == ConstraintKind::ForeignKey {
                    DROP_FK
                } else {
                    DROP_CONSTRAINT
                };
                b.push(
                    step,
                    Statement::new(alter_table(
                        table,
                        &format!("DROP CONSTRAINT {}", ident(name)),
                    )),
                );
                if let Some(a) = mirrored(table) {
                    match kind {
                        ConstraintKind::Check => b.push(
                            DROP_CONSTRAINT,
                            Statement::new(alter_table(
                                &a,
                                &format!("DROP CONSTRAINT IF EXISTS {}", ident(name)),
                            )),
                        ),
                        ConstraintKind::PrimaryKey | ConstraintKind::Unique => b.push(
                            DROP_ARCHIVE_COPY,
                            Statement::new(drop_archive_copy(table, name)).comment(format!(
                                "drop {a}'s copy of constraint {name} (named by PostgreSQL)"
                            )),
                        ),
                        ConstraintKind::ForeignKey => {}
                    }
                }
            }
            Change::AddConstraint {
                table,
                name,
                definition,
                kind,
                ..
            } => {
                let add = |suffix: &str| {
                    alter_table(
                        table,
                        &format!("ADD CONSTRAINT {} {definition}{suffix}", ident(name)),
                    )
                };
                let validate = || {
                    Statement::new(alter_table(
                        table,
                        &format!("VALIDATE CONSTRAINT {}", ident(name)),
                    ))
                };
                match kind {
                    ConstraintKind::PrimaryKey => b.push(
                        ADD_CONSTRAINT,
                        Statement::new(add("")).comment(
                            "a primary key on an existing table builds its index under the table's lock",
                        ),
                    ),
                    ConstraintKind::Unique if partitioned(table) => b.push(
                        ADD_CONSTRAINT,
                        Statement::new(add("")).comment(
                            "partitioned table: its unique index cannot be built concurrently; writes wait while it builds",
                        ),
                    ),
                    ConstraintKind::Unique => {
                        let columns = definition.trim_start_matches("UNIQUE").trim();
                        b.concurrent.push((
                            format!("index_{name}"),
                            Statement::new(format!(
                                "CREATE UNIQUE INDEX CONCURRENTLY {} ON {} {columns};",
                                ident(name),
                                ident(table)
                            )),
                        ));
                        b.finish.push(Statement::new(alter_table(
                            table,
                            &format!(
                                "ADD CONSTRAINT {} UNIQUE USING INDEX {}",
                                ident(name),
                                ident(name)
                            ),
                        )));
                    }
                    ConstraintKind::Check => {
                        b.push(
                            ADD_CONSTRAINT,
                            Statement::new(add(" NOT VALID")).marked(&reason),
                        );
                        b.validate.push(validate().marked(&reason));
                    }
                    ConstraintKind::ForeignKey if partitioned(table) => b.push(
                        ADD_CONSTRAINT,
                        Statement::new(add("")).comment(
                            "partitioned table: PostgreSQL has no NOT VALID foreign keys here, so the check scans the table under a SHARE ROW EXCLUSIVE lock",
                        ),
                    ),
                    ConstraintKind::ForeignKey => {
                        b.push(ADD_CONSTRAINT, Statement::new(add(" NOT VALID")));
                        b.validate.push(validate());
                    }
                }
                if let Some(a) = mirrored(table) {
                    match kind {
                        ConstraintKind::Check => {
                            b.push(
                                ADD_CONSTRAINT,
                                Statement::new(alter_table(
                                    &a,
                                    &format!("ADD CONSTRAINT {} {definition} NOT VALID", ident(name)),
                                )),
                            );
                            b.validate.push(Statement::new(alter_table(
                                &a,
                                &format!("VALIDATE CONSTRAINT {}", ident(name)),
                            )));
                        }
                        ConstraintKind::PrimaryKey | ConstraintKind::Unique => b.push(
                            ADD_CONSTRAINT,
                            Statement::new(alter_table(&a, &format!("ADD {definition}")))
                                .comment(format!("{a}'s copy, named by PostgreSQL as LIKE ... INCLUDING ALL names it")),
                        ),
                        ConstraintKind::ForeignKey => {}
                    }
                }
            }
            Change::CreateIndex { table, index } => {
                let target = render_index_target(table, index);
                let predicate = index
                    .predicate
                    .map(|p| format!(" WHERE {p}"))
                    .unwrap_or_default();
                let unique = if index.unique { "UNIQUE " } else { "" };
                if table.partition.is_some() {
                    b.push(
                        PLAIN_INDEX,
                        Statement::new(format!(
                            "CREATE {unique}INDEX {} ON {} {target}{predicate};",
                            ident(index.name),
                            ident(table.name)
                        ))
                        .comment("partitioned table: CREATE INDEX CONCURRENTLY is not supported, so writes to every partition wait while this index builds"),
                    );
                } else {
                    b.concurrent.push((
                        format!("index_{}", index.name),
                        Statement::new(format!(
                            "CREATE {unique}INDEX CONCURRENTLY {} ON {} {target}{predicate};",
                            ident(index.name),
                            ident(table.name)
                        )),
                    ));
                }
                if let Some(a) = mirrored(table.name) {
                    b.concurrent.push((
                        format!("index_{a}_{}", index.name),
                        Statement::new(format!(
                            "CREATE {unique}INDEX CONCURRENTLY ON {} {target}{predicate};",
                            ident(&a)
                        ))
                        .comment(format!(
                            "{a}'s copy of {}, unnamed: PostgreSQL names it as LIKE ... INCLUDING ALL does",
                            index.name
                        )),
                    ));
                }
            }
            Change::DropIndex { table, name } => {
                if mirrored(table).is_some() {
                    b.push(
                        DROP_ARCHIVE_COPY,
                        Statement::new(drop_archive_copy(table, name)).comment(format!(
                            "drop {}'s copy of index {name} (named by PostgreSQL)",
                            archive_name(table)
                        )),
                    );
                }
                b.push(
                    DROP_INDEX,
                    Statement::new(format!("DROP INDEX {};", ident(name))),
                );
            }
            Change::CreateTrigger(t) => {
                if let Some(sql) = render_updated_at_trigger(t) {
                    b.push(CREATE_TRIGGER, Statement::new(sql));
                }
            }
            Change::DropTrigger { table, name } => b.push(
                DROP_TRIGGER,
                Statement::new(format!("DROP TRIGGER {} ON {};", ident(name), ident(table))),
            ),
            Change::CreatePartitions { table, partitions } => {
                for p in partitions {
                    b.push(
                        PARTITIONS,
                        Statement::new(render_create_partition(table, p)),
                    );
                }
            }
            Change::CreateArchive(t) => {
                if let Some(sql) = render_archive_table(t) {
                    b.late.push(Statement::new(sql).comment(
                        "created after every change of its parent, so it copies the finished table",
                    ));
                }
            }
            Change::DropArchive { table } => {
                b.push(
                    DROP_TABLE,
                    Statement::new(format!("DROP TABLE {};", ident(&archive_name(table))))
                        .marked(&reason),
                );
            }
        }
    }

    let mut main: Vec<Statement> = Vec::new();
    for mut step in b.main {
        step.sort_by_key(|(order, _)| *order); // stable: ties keep change order
        main.extend(step.into_iter().map(|(_, s)| s));
    }
    let mut files = Vec::new();
    let needs_validate_file =
        !b.validate.is_empty() || !b.finish.is_empty() || !b.concurrent.is_empty();
    let mut validate = b.validate;
    validate.extend(b.finish);
    if needs_validate_file {
        validate.extend(b.late);
    } else {
        main.extend(b.late);
    }
    if !main.is_empty() {
        files.push(PlannedFile {
            kind: FileKind::Main,
            suffix: String::new(),
            statements: main,
        });
    }
    for (label, statement) in b.concurrent {
        files.push(PlannedFile {
            kind: FileKind::ConcurrentIndex,
            suffix: format!("_{label}"),
            statements: vec![statement],
        });
    }
    if !validate.is_empty() {
        files.push(PlannedFile {
            kind: FileKind::Validate,
            suffix: "_validate".to_owned(),
            statements: validate,
        });
    }
    Ok(Plan {
        changes,
        files,
        destructive,
        warnings,
    })
}
