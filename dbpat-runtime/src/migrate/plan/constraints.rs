//! Planning named constraints: CHECKs and foreign keys added `NOT VALID` and validated later,
//! UNIQUE constraints over indexes built concurrently, and the archive's copies; each with its
//! inverse (a dropped constraint is added back, which checks the rows written since).

use super::builder::{undo_order, Builder, ConcurrentDown, Step, Undo};
use super::context::Context;
use crate::ddl::{ident, literal};
use crate::migrate::diff::{ConstraintKind, EnumValues};
use crate::migrate::statement::{
    alter_table, drop_archive_copy, drop_archive_key, raise_if, Statement,
};

pub(super) fn drop(
    cx: &Context,
    b: &mut Builder,
    table: &str,
    name: &str,
    definition: &str,
    kind: ConstraintKind,
) {
    let step = if kind == ConstraintKind::ForeignKey {
        Step::DropForeignKey
    } else {
        Step::DropConstraint
    };
    b.main(
        step,
        Statement::new(alter_table(
            table,
            &format!("DROP CONSTRAINT {}", ident(name)),
        )),
    );
    let order = if kind == ConstraintKind::ForeignKey {
        undo_order::OLD_FOREIGN_KEYS
    } else {
        undo_order::OLD_CONSTRAINTS
    };
    // `definition` is the old one with the step's renames applied: added back before the
    // renames are undone.
    b.undo(
        Undo::RecreateOld,
        order,
        Statement::new(alter_table(
            table,
            &format!("ADD CONSTRAINT {} {definition}", ident(name)),
        ))
        .comment(
            "checks the rows written since; fails (and the revert rolls back) if one breaks it",
        ),
    );
    if let Some(a) = cx.mirrored(table) {
        match kind {
            ConstraintKind::Check => {
                b.main(
                    Step::DropConstraint,
                    Statement::new(alter_table(
                        &a,
                        &format!("DROP CONSTRAINT IF EXISTS {}", ident(name)),
                    )),
                );
                b.undo(
                    Undo::RecreateOld,
                    order,
                    Statement::new(alter_table(
                        &a,
                        &format!("ADD CONSTRAINT {} {definition}", ident(name)),
                    )),
                );
            }
            ConstraintKind::PrimaryKey | ConstraintKind::Unique => {
                b.main(
                    Step::DropArchiveCopy,
                    Statement::new(drop_archive_copy(table, name)).comment(format!(
                        "drop {a}'s copy of constraint {name} (named by PostgreSQL)"
                    )),
                );
                b.undo(
                    Undo::RecreateOld,
                    undo_order::OLD_ARCHIVE_COPIES,
                    Statement::new(alter_table(&a, &format!("ADD {definition}"))),
                );
            }
            ConstraintKind::ForeignKey => {}
        }
    }
}

pub(super) fn add(
    cx: &Context,
    b: &mut Builder,
    table: &str,
    name: &str,
    definition: &str,
    kind: ConstraintKind,
    reason: &Option<String>,
) {
    let add = |t: &str, suffix: &str| {
        alter_table(
            t,
            &format!("ADD CONSTRAINT {} {definition}{suffix}", ident(name)),
        )
    };
    let validate = |t: &str| {
        Statement::new(alter_table(
            t,
            &format!("VALIDATE CONSTRAINT {}", ident(name)),
        ))
    };
    let drop_it = |t: &str| {
        Statement::new(alter_table(
            t,
            &format!("DROP CONSTRAINT IF EXISTS {}", ident(name)),
        ))
    };
    // A validation is undone by adding the constraint back NOT VALID, as file 1 left it.
    let unvalidate = |t: &str| vec![drop_it(t), Statement::new(add(t, " NOT VALID"))];
    let undo_order = if kind == ConstraintKind::ForeignKey {
        undo_order::FOREIGN_KEYS
    } else {
        undo_order::CONSTRAINTS
    };
    match kind {
        ConstraintKind::PrimaryKey => b.main(
            Step::AddConstraint,
            Statement::new(add(table, "")).comment(
                "a primary key on an existing table builds its index under the table's lock",
            ),
        ),
        ConstraintKind::Unique if cx.partitioned(table) => b.main(
            Step::AddConstraint,
            Statement::new(add(table, "")).comment(
                "partitioned table: its unique index cannot be built concurrently; writes wait while it builds",
            ),
        ),
        ConstraintKind::Unique => {
            let columns = definition.trim_start_matches("UNIQUE").trim();
            b.concurrent(
                format!("index_{name}"),
                Statement::new(format!(
                    "CREATE UNIQUE INDEX CONCURRENTLY {} ON {} {columns};",
                    ident(name),
                    ident(table)
                )),
                ConcurrentDown::NoTransaction(Statement::new(format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {};",
                    ident(name)
                ))),
            );
            b.finish(
                Statement::new(alter_table(
                    table,
                    &format!(
                        "ADD CONSTRAINT {} UNIQUE USING INDEX {}",
                        ident(name),
                        ident(name)
                    ),
                )),
                vec![
                    drop_it(table),
                    Statement::new(format!(
                        "CREATE UNIQUE INDEX {} ON {} {columns};",
                        ident(name),
                        ident(table)
                    ))
                    .comment("the index the constraint was made of, as the index file left it: built under the table's lock (the index file's own down file then drops it)"),
                ],
            );
        }
        ConstraintKind::Check => {
            b.main(
                Step::AddConstraint,
                Statement::new(add(table, " NOT VALID")).marked(reason),
            );
            b.validate(validate(table).marked(reason), unvalidate(table));
        }
        ConstraintKind::ForeignKey if cx.partitioned(table) => b.main(
            Step::AddConstraint,
            Statement::new(add(table, "")).comment(
                "partitioned table: PostgreSQL has no NOT VALID foreign keys here, so the check scans the table under a SHARE ROW EXCLUSIVE lock",
            ),
        ),
        ConstraintKind::ForeignKey => {
            b.main(Step::AddConstraint, Statement::new(add(table, " NOT VALID")));
            b.validate(validate(table), unvalidate(table));
        }
    }
    if kind != ConstraintKind::Unique || cx.partitioned(table) {
        b.undo(Undo::DropNew, undo_order, drop_it(table));
    }
    if let Some(a) = cx.mirrored(table) {
        match kind {
            ConstraintKind::Check => {
                b.main(Step::AddConstraint, Statement::new(add(&a, " NOT VALID")));
                b.validate(validate(&a), unvalidate(&a));
                b.undo(Undo::DropNew, undo_order::CONSTRAINTS, drop_it(&a));
            }
            ConstraintKind::PrimaryKey | ConstraintKind::Unique => {
                b.main(
                    Step::AddConstraint,
                    Statement::new(alter_table(&a, &format!("ADD {definition}"))).comment(format!(
                        "{a}'s copy, named by PostgreSQL as LIKE ... INCLUDING ALL names it"
                    )),
                );
                b.undo(
                    Undo::DropNew,
                    undo_order::ARCHIVE_COPIES,
                    Statement::new(drop_archive_key(&a, definition))
                        .comment(format!("drop {a}'s copy of {name} (named by PostgreSQL)")),
                );
            }
            ConstraintKind::ForeignKey => {}
        }
    }
}

/// Before an enum CHECK that loses values is added: the rows holding a mapped value get the
/// value that replaces it (in the table and its archive), and, for values nothing maps, a
/// guard that stops the migration (file 1 rolls back) while any row still holds one.
pub(super) fn map_enum_values(cx: &Context, b: &mut Builder, table: &str, values: &EnumValues) {
    let column = ident(&values.column);
    let list = |vs: &mut dyn Iterator<Item = &String>| {
        vs.map(|v| literal(v)).collect::<Vec<_>>().join(", ")
    };
    let tables: Vec<String> = std::iter::once(table.to_owned())
        .chain(cx.mirrored(table))
        .collect();
    for t in &tables {
        if !values.mapped.is_empty() {
            let cases: String = values
                .mapped
                .iter()
                .map(|(old, new)| format!(" WHEN {} THEN {}", literal(old), literal(new)))
                .collect();
            b.main(
                Step::MapEnumValues,
                Statement::new(format!(
                    "UPDATE {} SET {column} = CASE {column}{cases} END WHERE {column} IN ({});",
                    ident(t),
                    list(&mut values.mapped.iter().map(|(old, _)| old)),
                ))
                .comment(format!(
                    "enum values removed from {t}.{}: their rows take the value that replaced them (#[dbpat(was = ...)])",
                    values.column
                )),
            );
            // Undone when every mapped value took a value of its own (a renamed value):
            // then exactly the rows holding the new value held the old one. Otherwise the
            // step refuses to be reverted (see `Change::irreversible`).
            if values.merged.is_empty() {
                let back: String = values
                    .mapped
                    .iter()
                    .map(|(old, new)| format!(" WHEN {} THEN {}", literal(new), literal(old)))
                    .collect();
                b.undo(
                    Undo::DropNew,
                    undo_order::ENUM_VALUES,
                    Statement::new(format!(
                        "UPDATE {} SET {column} = CASE {column}{back} END WHERE {column} IN ({});",
                        ident(t),
                        list(&mut values.mapped.iter().map(|(_, new)| new)),
                    ))
                    .comment("the renamed enum values back to their old names"),
                );
            }
        }
        if !values.dropped.is_empty() {
            let message = format!(
                "rows of {t} still hold {} value(s) {} that the new enum no longer has; map them with #[dbpat(was = \"...\")] on the variant that takes them over, or change those rows first",
                values.column,
                values.dropped.join(", ")
            );
            b.main(
                Step::MapEnumValues,
                Statement::new(raise_if(
                    Some(&format!(
                        "EXISTS (SELECT 1 FROM {} WHERE {column} IN ({}))",
                        ident(t),
                        list(&mut values.dropped.iter()),
                    )),
                    &message,
                ))
                .comment("the new CHECK would reject these rows: stop here, before anything is committed"),
            );
        }
    }
}
