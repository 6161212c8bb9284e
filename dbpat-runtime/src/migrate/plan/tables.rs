//! Planning the changes of whole tables and what comes with them: extensions, trigger
//! functions and triggers, partitions and archive tables, each with its inverse.
//!
//! Inverses: a created table is dropped (with what was written into it since); a dropped
//! table cannot be brought back with its rows, so the step refuses to be reverted (the down
//! file still re-creates it empty, after the refusal, for a user who removes the refusal);
//! partitions the step created are kept (they hold the table's rows, and the old model can
//! hold them: `dbpat::tiers` creates partitions by the day); an archive table created for an
//! existing table is dropped only while empty (rows moved into it came from the parent);
//! extensions are kept (other objects may use them).

use super::builder::{undo_order, Builder, Step, Undo};
use super::context::Context;
use crate::ddl::{
    ident, render_archive_table, render_create_partition, render_table_statements,
    render_trigger_function, render_updated_at_trigger, trigger_function_name, trigger_name,
    PartitionBounds,
};
use crate::migrate::statement::{archive_name, raise_if, Statement};
use crate::model::TableDef;

pub(super) fn create_extension(b: &mut Builder, extension: &str) {
    b.main(
        Step::Preamble,
        Statement::new(format!(
            "CREATE EXTENSION IF NOT EXISTS {};",
            ident(extension)
        )),
    );
}

pub(super) fn create_trigger_function(b: &mut Builder, column: &str) {
    b.main(
        Step::Preamble,
        Statement::new(render_trigger_function(column)),
    );
    b.undo(Undo::DropFunction, 0, drop_function(column));
}

fn drop_function(column: &str) -> Statement {
    Statement::new(format!(
        "DROP FUNCTION IF EXISTS {}();",
        ident(&trigger_function_name(column))
    ))
    .comment("no table uses this trigger function any more")
}

pub(super) fn drop_trigger_function(b: &mut Builder, column: &str) {
    b.main(Step::DropFunction, drop_function(column));
    b.undo(
        Undo::RecreateFunction,
        0,
        Statement::new(render_trigger_function(column)),
    );
}

/// Drops `archive` unless it holds rows (they were moved there from its parent, which the
/// old model keeps: dropping them would lose them).
fn drop_archive_while_empty(archive: &str) -> Statement {
    let message = format!(
        "dbpat: cannot revert: {archive} holds archived rows, moved there from its parent table; move them back (or drop {archive} yourself, losing them) first"
    );
    let t = ident(archive);
    Statement::new(format!(
        "{}\nDROP TABLE {t};",
        raise_if(
            Some(&format!("EXISTS (SELECT 1 FROM {t} LIMIT 1)")),
            &message
        )
    ))
    .comment(format!(
        "{archive} is dropped only while empty: its rows came from its parent"
    ))
}

pub(super) fn create_table(cx: &Context, b: &mut Builder, t: &TableDef) {
    let sql = render_table_statements(t).join("\n");
    b.main_ordered(
        Step::CreateTable,
        cx.new_position(t.name),
        Statement::new(sql).comment(format!(
            "new table {}: created with its indexes at once (it is empty)",
            t.name
        )),
    );
    // Referencing tables first; the archive before its parent.
    let order = undo_order::TABLES * 1_000 + cx.new_reverse_position(t.name);
    let mut sql = String::new();
    if let Some(archive) = t.archive_table_name() {
        sql.push_str(&format!("DROP TABLE IF EXISTS {};\n", ident(&archive)));
    }
    sql.push_str(&format!("DROP TABLE IF EXISTS {};", ident(t.name)));
    b.undo(
        Undo::DropNew,
        order,
        Statement::new(sql).comment(format!(
            "table {} was created by this step: dropped with the rows written into it since",
            t.name
        )),
    );
}

pub(super) fn drop_table(
    cx: &Context,
    b: &mut Builder,
    table: &str,
    archive: bool,
    reason: &Option<String>,
) {
    // Reverse dependency order: referencing tables go first.
    let order = cx.old_reverse_position(table);
    let mut sql = String::new();
    if archive {
        sql.push_str(&format!("DROP TABLE {};\n", ident(&archive_name(table))));
    }
    sql.push_str(&format!("DROP TABLE {};", ident(table)));
    b.main_ordered(Step::DropTable, order, Statement::new(sql).marked(reason));
    if let Some(old) = cx.old_table(table) {
        // Re-created empty (past the refusal), with its indexes and trigger; the foreign
        // keys of other tables to it come back with their own inverses.
        let mut statements = render_table_statements(old);
        if old.archive {
            statements.pop(); // the archive, last: created after the parent is complete
        }
        b.undo(
            Undo::RecreateOld,
            undo_order::OLD_TABLES + cx.old_position(table),
            Statement::new(statements.join("\n")).comment(format!(
                "table {table} comes back empty: its rows were dropped"
            )),
        );
        if let Some(sql) = render_archive_table(old) {
            b.undo(Undo::RecreateAfterRename, 0, Statement::new(sql));
        }
    }
}

pub(super) fn create_trigger(b: &mut Builder, t: &TableDef) {
    if let Some(sql) = render_updated_at_trigger(t) {
        b.main(Step::CreateTrigger, Statement::new(sql));
    }
    if let Some(column) = t.updated_at_column() {
        b.undo(
            Undo::DropNew,
            undo_order::TRIGGERS,
            Statement::new(format!(
                "DROP TRIGGER IF EXISTS {} ON {};",
                ident(&trigger_name(t, column.name)),
                ident(t.name)
            )),
        );
    }
}

pub(super) fn drop_trigger(cx: &Context, b: &mut Builder, table: &str, name: &str) {
    b.main(
        Step::DropTrigger,
        Statement::new(format!("DROP TRIGGER {} ON {};", ident(name), ident(table))),
    );
    // The old trigger names the old table: re-created after the renames are undone.
    if let Some(sql) = cx.old_table(table).and_then(render_updated_at_trigger) {
        b.undo(Undo::RecreateAfterRename, 1, Statement::new(sql));
    }
}

/// Kept by the inverse: the partitions hold the table's rows, and which exist is not part of
/// the model's schema (`dbpat::tiers` creates them by the day). So each is created `IF NOT
/// EXISTS`: after a revert, or when `tiers` created it ahead of the migration, running the
/// step again finds it there.
pub(super) fn create_partitions(b: &mut Builder, table: &TableDef, partitions: &[PartitionBounds]) {
    for p in partitions {
        let sql = render_create_partition(table, p);
        let sql = sql.replacen("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1);
        b.main(
            Step::Partitions,
            Statement::new(sql).comment("kept by a revert: it holds the table's rows"),
        );
    }
}

pub(super) fn create_archive(b: &mut Builder, t: &TableDef) {
    if let Some(sql) = render_archive_table(t) {
        b.late(
            Statement::new(sql).comment(
                "created after every change of its parent, so it copies the finished table",
            ),
            vec![drop_archive_while_empty(&archive_name(t.name))],
        );
    }
}

pub(super) fn drop_archive(cx: &Context, b: &mut Builder, table: &str, reason: &Option<String>) {
    b.main(
        Step::DropTable,
        Statement::new(format!("DROP TABLE {};", ident(&archive_name(table)))).marked(reason),
    );
    // Re-created empty, copying the parent once it is back to the old model.
    if let Some(sql) = cx.old_table(table).and_then(render_archive_table) {
        b.undo(
            Undo::RecreateAfterRename,
            0,
            Statement::new(sql).comment("the archive comes back empty: its rows were dropped"),
        );
    }
}
