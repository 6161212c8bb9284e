//! Planning new and dropped indexes: built concurrently on existing tables (on a partitioned
//! table: an invalid parent index `ON ONLY`, a concurrent build per partition, then attached),
//! with the archive's unnamed copies; each with its inverse (a built index is dropped
//! concurrently; a dropped one is built again plainly, under its table's lock: a down file is
//! one transaction).

use super::builder::{undo_order, Builder, ConcurrentDown, Step, Undo};
use super::context::Context;
use crate::ddl::{
    ident, initial_partitions, literal, partition_bounds, render_create_index, render_index_target,
};
use crate::migrate::statement::{archive_name, drop_archive_copy, Statement};
use crate::model::{IndexDef, TableDef};

/// `DROP INDEX CONCURRENTLY IF EXISTS <name>`, the inverse of a concurrent build.
fn drop_concurrently(name: &str) -> ConcurrentDown {
    ConcurrentDown::NoTransaction(Statement::new(format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {};",
        ident(name)
    )))
}

pub(super) fn create(cx: &Context, b: &mut Builder, table: &TableDef, index: &IndexDef) {
    let target = render_index_target(table, index);
    let predicate = index
        .predicate
        .map(|p| format!(" WHERE {p}"))
        .unwrap_or_default();
    let unique = if index.unique { "UNIQUE " } else { "" };
    if table.partition.is_some() {
        partitioned(cx, b, table, index, &target, &predicate);
    } else {
        b.concurrent(
            format!("index_{}", index.name),
            Statement::new(format!(
                "CREATE {unique}INDEX CONCURRENTLY {} ON {} {target}{predicate};",
                ident(index.name),
                ident(table.name)
            )),
            drop_concurrently(index.name),
        );
    }
    if let Some(a) = cx.mirrored(table.name) {
        // Undone before the parent's index (a later file, undone first), found by its
        // definition. The archive of a partitioned table is partitioned too, and PostgreSQL
        // builds no index on a partitioned table concurrently: it is built plainly (each of
        // its partitions in turn, under a SHARE lock: reads go on, only the archiver's writes
        // wait), as a partitioned index that the partitions archived later attach to.
        let (concurrently, how) = if table.partition.is_some() {
            ("", ", built plainly: the archive is partitioned")
        } else {
            ("CONCURRENTLY ", "")
        };
        b.concurrent(
            format!("index_{a}_{}", index.name),
            Statement::new(format!(
                "CREATE {unique}INDEX {concurrently}ON {} {target}{predicate};",
                ident(&a)
            ))
            .comment(format!(
                "{a}'s copy of {}, unnamed: PostgreSQL names it as LIKE ... INCLUDING ALL does{how}",
                index.name
            )),
            ConcurrentDown::Transaction(
                Statement::new(drop_archive_copy(table.name, index.name)).comment(format!(
                    "drop {a}'s copy of {} (named by PostgreSQL)",
                    index.name
                )),
            ),
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
    let Some(old) = cx.old_table(table) else {
        return;
    };
    let Some(index) = old.indexes.iter().find(|i| i.name == name) else {
        return;
    };
    // The old definition with the step's renames: built before they are undone.
    b.undo(
        Undo::RecreateOld,
        undo_order::OLD_INDEXES,
        Statement::new(cx.rewrite_old(table, &render_create_index(old, index)))
            .comment("built again under the table's lock (a down file is one transaction)"),
    );
    if let Some(a) = cx.mirrored(table) {
        let predicate = index
            .predicate
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        let definition = format!("{}{predicate}", render_index_target(old, index));
        b.undo(
            Undo::RecreateOld,
            undo_order::OLD_ARCHIVE_COPIES,
            Statement::new(format!(
                "CREATE {}INDEX ON {} {};",
                if index.unique { "UNIQUE " } else { "" },
                ident(&a),
                cx.rewrite_old(table, &definition)
            )),
        );
    }
}

/// Marks the placeholder tables file 1 creates for partitions the model lists but the database
/// no longer has (archived by `dbpat::tiers`, or dropped): the concurrent file naming such a
/// partition then builds on an empty table, and the validation file drops it.
pub(crate) const PLACEHOLDER_COMMENT: &str =
    "dbpat: placeholder for a partition that does not exist; dropped at the end of this migration";

/// The name of the concurrently built index of `partition` copying `index`: deterministic, at
/// most 63 bytes (longer names end with a hash instead of being cut by PostgreSQL).
pub(crate) fn partition_index_name(partition: &str, index: &str) -> String {
    let name = format!("{partition}_{index}");
    if name.len() <= 63 {
        return name;
    }
    // FNV-1a: stable across builds and platforms.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut cut = 54;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{:08x}", &name[..cut], hash as u32)
}

/// How many periods around the day a migration is written get a concurrent build of their
/// own, besides the model's: the one before, and this one and the two after (the partitions
/// `dbpat::tiers` creates ahead, which take the writes when the migration runs).
const PERIODS_AROUND: std::ops::RangeInclusive<i64> = -1..=2;

/// The partitions an index added to the partitioned `table` is built on concurrently, each in
/// a file of its own: the partitions of the old model (those the folder created), then those of
/// the periods around the day the migration is written, which `dbpat::tiers` has probably
/// created by the day it runs — less the partitions this step creates, which it creates after
/// the parent index, so PostgreSQL gives them their copy. Named after the table's new name.
fn partitions_to_build(cx: &Context, table: &TableDef) -> Vec<String> {
    let Some(partition) = table.partition.as_ref() else {
        return Vec::new();
    };
    let old: Vec<String> = cx
        .old_table(table.name)
        .and_then(|old| old.partition.as_ref())
        .map(|p| {
            initial_partitions(table, p)
                .into_iter()
                .map(|b| b.name)
                .collect()
        })
        .unwrap_or_default();
    let created_now: Vec<String> = initial_partitions(table, partition)
        .into_iter()
        .map(|b| b.name)
        .filter(|n| !old.contains(n))
        .collect();
    let start = cx.today().period_start(partition.interval);
    let months = i64::from(partition.interval.months());
    let mut names = old;
    for k in PERIODS_AROUND {
        let name =
            partition_bounds(table.name, partition.interval, start.add_months(k * months)).name;
        if !names.contains(&name) && !created_now.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// An index added to an existing partitioned table, built without blocking writes:
///
/// 1. file 1: `CREATE INDEX <name> ON ONLY <table>` (catalog only: an invalid parent index;
///    partitions created from then on, by this step or by `dbpat::tiers`, get their copy
///    attached as they are created), and a placeholder table for each partition of
///    [`partitions_to_build`] that does not exist (archived, or not created yet), so that
///    every concurrent file below is valid;
/// 2. one `-- no-transaction` file per partition of [`partitions_to_build`]: `CREATE INDEX
///    CONCURRENTLY IF NOT EXISTS <partition>_<name> ON <partition>`;
/// 3. the validation file: a `DO` block that, for every partition the table has *then*,
///    attaches its concurrently built copy, or (a partition the model does not list, e.g.
///    created by `dbpat::tiers` before the migration ran) builds one plainly, with a notice,
///    and attaches it; drops the placeholders; and fails unless the parent index is valid.
fn partitioned(
    cx: &Context,
    b: &mut Builder,
    table: &TableDef,
    index: &IndexDef,
    target: &str,
    predicate: &str,
) {
    let unique = if index.unique { "UNIQUE " } else { "" };
    let name = ident(index.name);
    let parent = ident(table.name);
    b.main(
        Step::PlainIndex,
        Statement::new(format!(
            "CREATE {unique}INDEX {name} ON ONLY {parent} {target}{predicate};"
        ))
        .comment("partitioned table: the parent index only (no build, invalid until every partition's copy is attached at the end of this migration)"),
    );
    b.undo(
        Undo::DropNew,
        undo_order::INDEXES,
        Statement::new(format!("DROP INDEX IF EXISTS {name};"))
            .comment("with every partition's copy attached to it"),
    );
    let known = partitions_to_build(cx, table);
    if !known.is_empty() {
        let names = known
            .iter()
            .map(|n| literal(n))
            .collect::<Vec<_>>()
            .join(", ");
        let placeholders = Statement::new(format!(
                "DO $$\nDECLARE\n    part text;\nBEGIN\n    FOREACH part IN ARRAY ARRAY[{names}] LOOP\n        IF to_regclass(quote_ident(part)) IS NULL THEN\n            EXECUTE format('CREATE TABLE %I (LIKE %s)', part, {parent_lit});\n            EXECUTE format('COMMENT ON TABLE %I IS %L', part, {marker});\n        ELSIF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(quote_ident(part)) AND inhparent = {parent_lit}::regclass)\n          AND obj_description(to_regclass(quote_ident(part)), 'pg_class') IS DISTINCT FROM {marker} THEN\n            RAISE EXCEPTION 'dbpat: % exists but is not a partition of %: the index files of this migration would build on it', part, {parent_lit};\n        END IF;\n    END LOOP;\nEND\n$$;",
                parent_lit = literal(&parent),
                marker = literal(PLACEHOLDER_COMMENT),
            ))
            .comment("each partition of the model and of the periods around the day this migration was written gets its copy of an index concurrently, in a file of its own; one that does not exist (archived, or not created yet) gets an empty placeholder, so that its files stay valid");
        // Once per table, for all its new indexes.
        if !b.has_main(Step::PlainIndex, &placeholders) {
            b.main(Step::PlainIndex, placeholders);
        }
        let drop_placeholders = Statement::new(format!(
            "DO $$\nDECLARE\n    part text;\nBEGIN\n    FOREACH part IN ARRAY ARRAY[{names}]::text[] LOOP\n        IF obj_description(to_regclass(quote_ident(part)), 'pg_class') = {marker} THEN\n            EXECUTE format('DROP TABLE %I', part);\n        END IF;\n    END LOOP;\nEND\n$$;",
            marker = literal(PLACEHOLDER_COMMENT),
        ))
        .comment("the placeholders file 1 created, if the validation file has not dropped them");
        if !b.has_undo(Undo::DropNew, &drop_placeholders) {
            b.undo(Undo::DropNew, undo_order::INDEXES, drop_placeholders);
        }
    }
    for partition in &known {
        let copy = partition_index_name(partition, index.name);
        b.concurrent(
            format!("index_{copy}"),
            Statement::new(format!(
                "CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {} ON {} {target}{predicate};",
                ident(&copy),
                ident(partition)
            ))
            .comment(format!(
                "partition {partition}'s copy of {}, attached to it at the end of this migration",
                index.name
            )),
            drop_concurrently(&copy),
        );
    }
    let strip = r"'^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ '";
    let index_lit = literal(&name);
    let find = |pad: &str| {
        [
            "SELECT a.indexrelid::regclass INTO found".to_owned(),
            "FROM pg_index a".to_owned(),
            format!("JOIN pg_index p ON p.indexrelid = {index_lit}::regclass"),
            "WHERE a.indrelid = part AND a.indisvalid AND a.indisunique = p.indisunique".to_owned(),
            "  AND NOT EXISTS (SELECT 1 FROM pg_inherits x WHERE x.inhrelid = a.indexrelid)"
                .to_owned(),
            format!("  AND regexp_replace(pg_get_indexdef(a.indexrelid), {strip}, '')"),
            format!("    = regexp_replace(pg_get_indexdef(p.indexrelid), {strip}, '')"),
            "ORDER BY a.indexrelid".to_owned(),
            "LIMIT 1;".to_owned(),
        ]
        .join(&format!("\n{pad}"))
    };
    let (find8, find12) = (find("        "), find("            "));
    // `format()`'s pattern: a `%` of the definition is doubled.
    let build = literal(&format!(
        "CREATE {unique}INDEX ON %s {}",
        format!("{target}{predicate}").replace('%', "%%")
    ));
    let names = known
        .iter()
        .map(|n| literal(n))
        .collect::<Vec<_>>()
        .join(", ");
    b.finish(
        Statement::new(format!(
            "DO $$\nDECLARE\n    part regclass;\n    found regclass;\n    name text;\nBEGIN\n    FOR part IN\n        SELECT i.inhrelid::regclass\n        FROM pg_inherits i\n        WHERE i.inhparent = {parent_lit}::regclass\n          AND NOT EXISTS (\n              SELECT 1 FROM pg_inherits x JOIN pg_index c ON c.indexrelid = x.inhrelid\n              WHERE x.inhparent = {index_lit}::regclass AND c.indrelid = i.inhrelid)\n        ORDER BY i.inhrelid\n    LOOP\n        found := NULL;\n        {find8}\n        IF found IS NULL THEN\n            RAISE NOTICE 'dbpat: partition % has no concurrently built copy of index {plain_name} (it is not among the partitions this migration was written for): building it now; writes to % wait while it builds', part, part;\n            EXECUTE format({build}, part);\n            {find12}\n        END IF;\n        EXECUTE format('ALTER INDEX %s ATTACH PARTITION %s', {index_lit}, found);\n    END LOOP;\n    FOREACH name IN ARRAY ARRAY[{names}]::text[] LOOP\n        IF obj_description(to_regclass(quote_ident(name)), 'pg_class') = {marker} THEN\n            EXECUTE format('DROP TABLE %I', name);\n        END IF;\n    END LOOP;\n    IF NOT (SELECT indisvalid FROM pg_index WHERE indexrelid = {index_lit}::regclass) THEN\n        RAISE EXCEPTION 'dbpat: index {plain_name} is still invalid after attaching a copy on every partition of {plain_table}';\n    END IF;\nEND\n$$;",
            parent_lit = literal(&parent),
            marker = literal(PLACEHOLDER_COMMENT),
            plain_name = index.name.replace('\'', "''"),
            plain_table = table.name.replace('\'', "''"),
        ))
        .comment(format!(
            "attach every partition's copy of {} (building it plainly for a partition created since the migration was written); the parent index is valid once all are attached",
            index.name
        )),
        // An attached copy cannot be detached: the parent index is dropped with its copies
        // and created again `ON ONLY`, invalid, as file 1 left it (running this file again
        // then builds each partition's copy plainly, with a notice).
        vec![
            Statement::new(format!("DROP INDEX {name};"))
                .comment("with every partition's copy attached to it"),
            Statement::new(format!(
                "CREATE {unique}INDEX {name} ON ONLY {parent} {target}{predicate};"
            )),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::partition_index_name;

    #[test]
    fn partition_index_names_fit_postgresql_and_stay_distinct() {
        assert_eq!(
            partition_index_name("orders_2025_q1", "idx_orders_user_id"),
            "orders_2025_q1_idx_orders_user_id"
        );
        let long = "idx_measurements_sensor_identifier_recorded_at_where_value";
        let a = partition_index_name("measurements_2025_01", long);
        let b = partition_index_name("measurements_2025_02", long);
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, partition_index_name("measurements_2025_01", long));
        assert!(
            a.starts_with("measurements_2025_01_idx_measurements"),
            "{a}"
        );
    }
}
