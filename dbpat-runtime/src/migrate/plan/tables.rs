//! Planning the changes of whole tables and what comes with them: extensions, trigger
//! functions and triggers, partitions and archive tables.

use super::builder::{Builder, Step};
use super::context::Context;
use crate::ddl::{
    ident, render_archive_table, render_create_partition, render_table_statements,
    render_trigger_function, render_updated_at_trigger, trigger_function_name, PartitionBounds,
};
use crate::migrate::statement::{archive_name, Statement};
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
}

pub(super) fn drop_trigger_function(b: &mut Builder, column: &str) {
    b.main(
        Step::DropFunction,
        Statement::new(format!(
            "DROP FUNCTION IF EXISTS {}();",
            ident(&trigger_function_name(column))
        ))
        .comment("no table uses this trigger function any more"),
    );
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
}

pub(super) fn create_trigger(b: &mut Builder, t: &TableDef) {
    if let Some(sql) = render_updated_at_trigger(t) {
        b.main(Step::CreateTrigger, Statement::new(sql));
    }
}

pub(super) fn drop_trigger(b: &mut Builder, table: &str, name: &str) {
    b.main(
        Step::DropTrigger,
        Statement::new(format!("DROP TRIGGER {} ON {};", ident(name), ident(table))),
    );
}

pub(super) fn create_partitions(b: &mut Builder, table: &TableDef, partitions: &[PartitionBounds]) {
    for p in partitions {
        b.main(
            Step::Partitions,
            Statement::new(render_create_partition(table, p)),
        );
    }
}

pub(super) fn create_archive(b: &mut Builder, t: &TableDef) {
    if let Some(sql) = render_archive_table(t) {
        b.late(
            Statement::new(sql).comment(
                "created after every change of its parent, so it copies the finished table",
            ),
        );
    }
}

pub(super) fn drop_archive(b: &mut Builder, table: &str, reason: &Option<String>) {
    b.main(
        Step::DropTable,
        Statement::new(format!("DROP TABLE {};", ident(&archive_name(table)))).marked(reason),
    );
}
