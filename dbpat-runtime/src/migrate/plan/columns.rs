//! Planning column changes, each repeated on the archive table: new and dropped columns, type,
//! default and identity changes, and NOT NULL through a CHECK validated without blocking
//! writes; each with its inverse (a dropped column's values cannot come back: the step
//! refuses to be reverted, and the down file re-creates the column empty past the refusal).

use super::builder::{undo_order, Builder, Step, Undo};
use super::context::Context;
use crate::ddl::{ident, literal, render_column_type, render_default};
use crate::migrate::statement::{alter_column, alter_table, Statement};
use crate::model::{ColumnDef, DefaultValue, SqlType};

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

/// `table` and, when it is mirrored, its archive.
fn and_archive(cx: &Context, table: &str) -> impl Iterator<Item = String> {
    std::iter::once(table.to_owned()).chain(cx.mirrored(table))
}

pub(super) fn add(cx: &Context, b: &mut Builder, table: &str, column: &ColumnDef) {
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
        b.warn(w);
    }
    if is_volatile(column) {
        s = s.comment("a volatile default (or identity) fills every existing row: the table is rewritten under its lock");
    }
    let mirror = cx.mirrored(table).map(|a| {
        alter_table(
            &a,
            &format!(
                "ADD COLUMN {} {}",
                ident(column.name),
                render_column_type(column)
            ),
        )
    });
    b.main(Step::AddColumn, s);
    if let Some(m) = mirror {
        b.main(Step::AddColumn, Statement::new(m));
    }
    for t in and_archive(cx, table) {
        b.undo(
            Undo::DropNew,
            undo_order::COLUMNS,
            Statement::new(alter_table(
                &t,
                &format!("DROP COLUMN IF EXISTS {}", ident(column.name)),
            )),
        );
    }
}

pub(super) fn drop(
    cx: &Context,
    b: &mut Builder,
    table: &str,
    column: &str,
    reason: &Option<String>,
) {
    b.main(
        Step::DropColumn,
        Statement::new(alter_table(
            table,
            &format!("DROP COLUMN {}", ident(column)),
        ))
        .marked(reason),
    );
    if let Some(a) = cx.mirrored(table) {
        b.main(
            Step::DropColumn,
            Statement::new(alter_table(&a, &format!("DROP COLUMN {}", ident(column)))),
        );
    }
    if let Some(old) = cx.old_table(table).and_then(|t| t.column(column)) {
        for t in and_archive(cx, table) {
            b.undo(
                Undo::RecreateOld,
                undo_order::OLD_COLUMNS,
                Statement::new(alter_table(
                    &t,
                    &format!("ADD COLUMN {} {}", ident(column), render_column_type(old)),
                ))
                .comment(format!(
                    "column {t}.{column} comes back without its values (they were dropped)"
                )),
            );
        }
    }
}

pub(super) fn alter_type(
    cx: &Context,
    b: &mut Builder,
    table: &str,
    column: &str,
    to: SqlType,
    reason: &Option<String>,
) {
    let had_default = cx
        .old_table(table)
        .and_then(|t| t.column(column))
        .is_some_and(|c| c.default.is_some());
    for t in and_archive(cx, table) {
        if had_default {
            b.main(
                Step::AlterColumn,
                Statement::new(alter_column(&t, column, "DROP DEFAULT"))
                    .comment("the old default may not cast to the new type; it is set again below"),
            );
        }
        b.main(
            Step::AlterColumn,
            Statement::new(alter_column(
                &t,
                column,
                &format!("TYPE {to} USING {}::{to}", ident(column)),
            ))
            .comment("a type change rewrites the table (and its indexes) under an ACCESS EXCLUSIVE lock unless the types are binary-compatible")
            .marked(reason),
        );
    }
    // Back to the old type (its default is restored by the default's own inverse, after).
    let has_default = cx
        .new_column(table, column)
        .is_some_and(|c| c.default.is_some());
    let Some(from) = cx.old_column(table, column).map(|c| c.sql_type) else {
        return;
    };
    for t in and_archive(cx, table) {
        if has_default {
            b.undo(
                Undo::RestoreColumn,
                undo_order::TYPES,
                Statement::new(alter_column(&t, column, "DROP DEFAULT")),
            );
        }
        b.undo(
            Undo::RestoreColumn,
            undo_order::TYPES,
            Statement::new(alter_column(
                &t,
                column,
                &format!("TYPE {from} USING {}::{from}", ident(column)),
            ))
            .comment("fails (and the revert rolls back) if a value written since does not fit the old type"),
        );
    }
}

pub(super) fn set_not_null(cx: &Context, b: &mut Builder, table: &str, column: &str) {
    let helper = format!("{table}_{column}_not_null");
    for t in and_archive(cx, table) {
        let add_helper = || {
            Statement::new(alter_table(
                &t,
                &format!(
                    "ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID",
                    ident(&helper),
                    ident(column)
                ),
            ))
        };
        let drop_helper = || {
            Statement::new(alter_table(
                &t,
                &format!("DROP CONSTRAINT IF EXISTS {}", ident(&helper)),
            ))
        };
        b.main(
            Step::AlterColumn,
            add_helper().comment(format!(
                "NOT NULL on {t}.{column} goes through a CHECK validated without blocking writes"
            )),
        );
        b.undo(Undo::DropNew, undo_order::CONSTRAINTS, drop_helper());
        b.validate(
            Statement::new(alter_table(
                &t,
                &format!("VALIDATE CONSTRAINT {}", ident(&helper)),
            )),
            vec![drop_helper(), add_helper()],
        );
        b.finish(
            Statement::new(alter_column(&t, column, "SET NOT NULL"))
                .comment("uses the validated CHECK instead of scanning the table"),
            vec![Statement::new(alter_column(&t, column, "DROP NOT NULL"))],
        );
        b.finish(
            Statement::new(alter_table(
                &t,
                &format!("DROP CONSTRAINT {}", ident(&helper)),
            )),
            vec![add_helper()],
        );
    }
}

pub(super) fn drop_not_null(cx: &Context, b: &mut Builder, table: &str, column: &str) {
    alter(
        cx,
        b,
        table,
        column,
        "DROP NOT NULL",
        undo_order::NULLABILITY,
        |t| {
            vec![
            Statement::new(alter_column(t, column, "SET NOT NULL")).comment(
                "scans the table; fails (and the revert rolls back) if a NULL was written since",
            ),
        ]
        },
    );
}

pub(super) fn set_default(cx: &Context, b: &mut Builder, table: &str, column: &str, default: &str) {
    let back = restore_default(cx, table, column);
    alter(
        cx,
        b,
        table,
        column,
        &format!("SET DEFAULT {default}"),
        undo_order::DEFAULTS,
        |t| vec![Statement::new(alter_column(t, column, &back))],
    );
}

pub(super) fn drop_default(cx: &Context, b: &mut Builder, table: &str, column: &str) {
    let back = restore_default(cx, table, column);
    alter(
        cx,
        b,
        table,
        column,
        "DROP DEFAULT",
        undo_order::DEFAULTS,
        |t| vec![Statement::new(alter_column(t, column, &back))],
    );
}

/// `SET DEFAULT <the old model's>`, or `DROP DEFAULT` when it had none.
fn restore_default(cx: &Context, table: &str, column: &str) -> String {
    match cx
        .old_column(table, column)
        .and_then(|c| c.default.as_ref())
    {
        Some(d) => format!("SET DEFAULT {}", render_default(d)),
        None => "DROP DEFAULT".to_owned(),
    }
}

pub(super) fn drop_identity(cx: &Context, b: &mut Builder, table: &str, column: &str) {
    alter(
        cx,
        b,
        table,
        column,
        "DROP IDENTITY",
        undo_order::IDENTITY,
        |t| add_identity_statements(t, column).into(),
    );
}

/// `ADD GENERATED BY DEFAULT AS IDENTITY`, and its sequence set past the largest value, so
/// the next insert does not collide with the rows already there.
fn add_identity_statements(table: &str, column: &str) -> [Statement; 2] {
    [
        Statement::new(alter_column(
            table,
            column,
            "ADD GENERATED BY DEFAULT AS IDENTITY",
        )),
        Statement::new(format!(
            "SELECT setval(pg_get_serial_sequence({}, {}), coalesce(max({c}), 0) + 1, false) FROM {};",
            literal(&ident(table)),
            literal(column),
            ident(table),
            c = ident(column),
        ))
        .comment("the new sequence starts after the rows already there"),
    ]
}

/// `ALTER COLUMN ... <action>` on `table` and its mirrored archive, in the main file, undone
/// by `undo(table)` at `order` within [`Undo::RestoreColumn`].
fn alter(
    cx: &Context,
    b: &mut Builder,
    table: &str,
    column: &str,
    action: &str,
    order: usize,
    undo: impl Fn(&str) -> Vec<Statement>,
) {
    for t in and_archive(cx, table) {
        b.main(
            Step::AlterColumn,
            Statement::new(alter_column(&t, column, action)),
        );
        for s in undo(&t) {
            b.undo(Undo::RestoreColumn, order, s);
        }
    }
}

pub(super) fn add_identity(cx: &Context, b: &mut Builder, table: &str, column: &str) {
    let after_not_null = cx.sets_not_null(table, column);
    for t in and_archive(cx, table) {
        let [add, start] = add_identity_statements(&t, column);
        let undo = Statement::new(alter_column(&t, column, "DROP IDENTITY IF EXISTS"));
        if after_not_null {
            b.finish(
                add.comment("after SET NOT NULL, which identity needs"),
                vec![undo],
            );
            b.finish(start, Vec::new());
        } else {
            b.main(Step::AlterColumn, add);
            b.main(Step::AlterColumn, start);
            b.undo(Undo::RestoreColumn, undo_order::IDENTITY, undo);
        }
    }
}
