//! Planning new and dropped indexes: built concurrently on existing tables (plainly on
//! partitioned ones), with the archive's unnamed copies.

use super::builder::{Builder, Step};
use super::context::Context;
use crate::ddl::{ident, render_index_target};
use crate::migrate::statement::{archive_name, drop_archive_copy, Statement};
use crate::model::{IndexDef, TableDef};

pub(super) fn create(cx: &Context, b: &mut Builder, table: &TableDef, index: &IndexDef) {
    let target = render_index_target(table, index);
    let predicate = index
        .predicate
        .map(|p| format!(" WHERE {p}"))
        .unwrap_or_default();
    let unique = if index.unique { "UNIQUE " } else { "" };
    if table.partition.is_some() {
        b.main(
            Step::PlainIndex,
            Statement::new(format!(
                "CREATE {unique}INDEX {} ON {} {target}{predicate};",
                ident(index.name),
                ident(table.name)
            ))
            .comment("partitioned table: CREATE INDEX CONCURRENTLY is not supported, so writes to every partition wait while this index builds"),
        );
    } else {
        b.concurrent(
            format!("index_{}", index.name),
            Statement::new(format!(
                "CREATE {unique}INDEX CONCURRENTLY {} ON {} {target}{predicate};",
                ident(index.name),
                ident(table.name)
            )),
        );
    }
    if let Some(a) = cx.mirrored(table.name) {
        b.concurrent(
            format!("index_{a}_{}", index.name),
            Statement::new(format!(
                "CREATE {unique}INDEX CONCURRENTLY ON {} {target}{predicate};",
                ident(&a)
            ))
            .comment(format!(
                "{a}'s copy of {}, unnamed: PostgreSQL names it as LIKE ... INCLUDING ALL does",
                index.name
            )),
        );
    }
}

pub(super) fn drop(cx: &Context, b: &mut Builder, table: &str, name: &str) {
    if cx.mirrored(table).is_some() {
        b.main(
            Step::DropArchiveCopy,
            Statement::new(drop_archive_copy(table, name)).comment(format!(
                "drop {}'s copy of index {name} (named by PostgreSQL)",
                archive_name(table)
            )),
        );
    }
    b.main(
        Step::DropIndex,
        Statement::new(format!("DROP INDEX {};", ident(name))),
    );
}
