//! Planning renames: tables (with their archive and partitions), columns, and the indexes and
//! constraints named after them. All run first in file 1, so every later statement of the step
//! uses the new names; renames only change the catalog, under a brief lock. Their inverses
//! are the same renames backwards, late in the down file (after everything named by the new
//! names is undone).

use super::builder::{undo_order, Builder, Step, Undo};
use super::context::Context;
use crate::ddl::{ident, literal};
use crate::migrate::diff::ConstraintKind;
use crate::migrate::statement::{alter_table, archive_name, Statement};

/// Order within [`Step::Rename`]: tables, then columns, then the objects named after them,
/// then the archive's copies.
const TABLES: usize = 0;
const COLUMNS: usize = 1;
const OBJECTS: usize = 2;
const ARCHIVE_NAMES: usize = 3;

pub(super) fn table(b: &mut Builder, from: &str, to: &str, archive: bool, partitioned: bool) {
    for s in table_renames(from, to, archive, partitioned) {
        b.main_ordered(Step::Rename, TABLES, s);
    }
    for s in table_renames(to, from, archive, partitioned) {
        b.undo(Undo::RenameBack, undo_order::TABLES_BACK, s);
    }
    if archive {
        archive_copy_names(b, Where::Up, to);
        archive_copy_names(b, Where::Down, from);
    }
}

/// `from` renamed to `to`, with its archive and (by what they are) its partitions.
fn table_renames(from: &str, to: &str, archive: bool, partitioned: bool) -> Vec<Statement> {
    let mut out = vec![Statement::new(alter_table(
        from,
        &format!("RENAME TO {}", ident(to)),
    ))];
    if archive {
        out.push(Statement::new(alter_table(
            &archive_name(from),
            &format!("RENAME TO {}", ident(&archive_name(to))),
        )));
    }
    if partitioned {
        // The partitions exist by the day (maintenance adds more): renamed by what they are,
        // the partitions of the table whose names start with the old name.
        out.push(
            Statement::new(format!(
                "DO $dbpat$\nDECLARE\n    part record;\nBEGIN\n    FOR part IN\n        SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid\n        WHERE i.inhparent = to_regclass({to}) AND starts_with(c.relname::text, {prefix})\n    LOOP\n        EXECUTE format('ALTER TABLE %I RENAME TO %I', part.name, {new} || substr(part.name, {len}));\n    END LOOP;\nEND\n$dbpat$;",
                to = literal(&ident(to)),
                prefix = literal(&format!("{from}_")),
                new = literal(to),
                len = from.len() + 1,
            ))
            .comment(format!("the partitions {from}_* become {to}_*")),
        );
    }
    out
}

pub(super) fn column(cx: &Context, b: &mut Builder, table: &str, from: &str, to: &str) {
    let action = format!("RENAME COLUMN {} TO {}", ident(from), ident(to));
    let back = format!("RENAME COLUMN {} TO {}", ident(to), ident(from));
    // Undone before the table's own rename: `table` is still its new name then.
    for t in std::iter::once(table.to_owned()).chain(cx.mirrored(table)) {
        b.main_ordered(
            Step::Rename,
            COLUMNS,
            Statement::new(alter_table(&t, &action)),
        );
        b.undo(
            Undo::RenameBack,
            undo_order::COLUMNS_BACK,
            Statement::new(alter_table(&t, &back)),
        );
    }
    if cx.mirrored(table).is_some() {
        archive_copy_names(b, Where::Up, table);
        archive_copy_names(b, Where::Down, cx.old_name(table));
    }
}

pub(super) fn constraint(
    cx: &Context,
    b: &mut Builder,
    table: &str,
    from: &str,
    to: &str,
    kind: ConstraintKind,
) {
    let action = format!("RENAME CONSTRAINT {} TO {}", ident(from), ident(to));
    let back = format!("RENAME CONSTRAINT {} TO {}", ident(to), ident(from));
    // The archive's CHECKs carry the parent's names (its keys are named by PostgreSQL, and
    // follow in `archive_copy_names`).
    let archive = match kind {
        ConstraintKind::Check => cx.mirrored(table),
        _ => None,
    };
    for t in std::iter::once(table.to_owned()).chain(archive) {
        b.main_ordered(
            Step::Rename,
            OBJECTS,
            Statement::new(alter_table(&t, &action)),
        );
        b.undo(
            Undo::RenameBack,
            undo_order::OBJECTS_BACK,
            Statement::new(alter_table(&t, &back)),
        );
    }
}

pub(super) fn index(b: &mut Builder, from: &str, to: &str) {
    let rename = |from: &str, to: &str| {
        Statement::new(format!(
            "ALTER INDEX {} RENAME TO {};",
            ident(from),
            ident(to)
        ))
    };
    b.main_ordered(Step::Rename, OBJECTS, rename(from, to));
    b.undo(Undo::RenameBack, undo_order::OBJECTS_BACK, rename(to, from));
}

/// Which file a statement goes to: the step's main file, or its inverse.
#[derive(Clone, Copy)]
enum Where {
    Up,
    Down,
}

/// The archive's indexes (and keys) are named by PostgreSQL from the table and column names
/// when `LIKE ... INCLUDING ALL` creates them (`<archive>_pkey`, `<archive>_<cols>_key`,
/// `<archive>_<cols>_idx`, an expression being `expr`). After a rename they are renamed to
/// what a fresh build names them (a name that would be cut at 63 bytes, or is taken, is
/// left). Written once per table, whatever the number of renames.
fn archive_copy_names(b: &mut Builder, place: Where, table: &str) {
    let archive = archive_name(table);
    let sql = format!(
        "DO $dbpat$\nDECLARE\n    idx record;\n    wanted text;\nBEGIN\n    FOR idx IN\n        SELECT c.relname::text AS name, i.indisprimary AS primary_key,\n               EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) AS constraint_index,\n               (SELECT string_agg(coalesce(a.attname::text, 'expr'), '_' ORDER BY k.n)\n                FROM generate_series(0, i.indnkeyatts - 1) AS k(n)\n                LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.n] AND i.indkey[k.n] <> 0) AS columns\n        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid\n        WHERE i.indrelid = to_regclass({archive_lit})\n    LOOP\n        wanted := {archive_name} || CASE WHEN idx.primary_key THEN '_pkey'\n            ELSE '_' || idx.columns || CASE WHEN idx.constraint_index THEN '_key' ELSE '_idx' END END;\n        IF wanted <> idx.name AND octet_length(wanted) <= 63 AND to_regclass(quote_ident(wanted)) IS NULL THEN\n            EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.name, wanted);\n        END IF;\n    END LOOP;\nEND\n$dbpat$;",
        archive_lit = literal(&ident(&archive)),
        archive_name = literal(&archive),
    );
    let statement = Statement::new(sql).comment(format!(
        "{archive}'s indexes take the names PostgreSQL gives them in a fresh build"
    ));
    match place {
        Where::Up if !b.has_main(Step::Rename, &statement) => {
            b.main_ordered(Step::Rename, ARCHIVE_NAMES, statement)
        }
        Where::Down if !b.has_undo(Undo::RenameBack, &statement) => {
            b.undo(Undo::RenameBack, undo_order::ARCHIVE_NAMES_BACK, statement)
        }
        _ => {}
    }
}
