//! Planning column changes, each repeated on the archive table: new and dropped columns, type,
//! default and identity changes, and NOT NULL through a CHECK validated without blocking
//! writes.

use super::builder::{Builder, Step};
use super::context::Context;
use crate::ddl::{ident, render_column_type};
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
}

pub(super) fn set_not_null(cx: &Context, b: &mut Builder, table: &str, column: &str) {
    let helper = format!("{table}_{column}_not_null");
    for t in and_archive(cx, table) {
        b.main(
            Step::AlterColumn,
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
        b.validate(Statement::new(alter_table(
            &t,
            &format!("VALIDATE CONSTRAINT {}", ident(&helper)),
        )));
        b.finish(
            Statement::new(alter_column(&t, column, "SET NOT NULL"))
                .comment("uses the validated CHECK instead of scanning the table"),
        );
        b.finish(Statement::new(alter_table(
            &t,
            &format!("DROP CONSTRAINT {}", ident(&helper)),
        )));
    }
}

/// `ALTER COLUMN ... <action>` on `table` and its mirrored archive, in the main file.
pub(super) fn alter(cx: &Context, b: &mut Builder, table: &str, column: &str, action: &str) {
    for t in and_archive(cx, table) {
        b.main(
            Step::AlterColumn,
            Statement::new(alter_column(&t, column, action)),
        );
    }
}

pub(super) fn add_identity(cx: &Context, b: &mut Builder, table: &str, column: &str) {
    let after_not_null = cx.sets_not_null(table, column);
    for t in and_archive(cx, table) {
        let s = Statement::new(alter_column(
            &t,
            column,
            "ADD GENERATED BY DEFAULT AS IDENTITY",
        ));
        if after_not_null {
            b.finish(s.comment("after SET NOT NULL, which identity needs"));
        } else {
            b.main(Step::AlterColumn, s);
        }
    }
}
