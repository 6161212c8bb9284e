//! Converting the archive of a partitioned table between its two forms: unpartitioned
//! (`LIKE <t> INCLUDING ALL`, what the DDL of snapshot format 1 created) and partitioned like
//! its table (`... PARTITION BY RANGE (<key>)`, what the DDL creates now, so that
//! `dbpat::tiers` moves whole partitions into it by `DETACH` + `ATTACH`).
//!
//! One `DO` block, in the step's transaction, after every change of the parent (so the new
//! archive copies the finished table), idempotent (it does nothing when the archive already
//! has the target form, so a re-run or a database converted by hand is fine):
//!
//! 1. wait for a running archiver (the transaction-scoped form of its advisory lock);
//! 2. `CREATE TABLE <t>_archive_new (LIKE <t> INCLUDING ALL) [PARTITION BY RANGE (<key>)]`,
//!    and, when partitioned, one partition `<t>_archive_<period>` per period of the model that
//!    holds rows;
//! 3. `INSERT INTO <t>_archive_new (cols) SELECT cols FROM <t>_archive` (identity values
//!    kept);
//! 4. `DROP TABLE <t>_archive`, rename the new table and its indexes (`<t>_archive_new_pkey`
//!    → `<t>_archive_pkey`) to the names a fresh build gives.
//!
//! The step's transaction holds the archive's `ACCESS EXCLUSIVE` lock from the drop to the
//! commit, and the copy takes time in proportion to the archived rows: reads of the archive
//! wait meanwhile; the table itself is not locked. The inverse is the same block towards the
//! unpartitioned form.

use super::builder::Builder;
use crate::ddl::{ident, ident_list, literal};
use crate::migrate::statement::{archive_name, Statement};
use crate::model::{PartitionInterval, TableDef};

/// The tables of `new` with an archive and partitions whose old model had both too: their
/// archive was created unpartitioned by the format-1 DDL.
pub(super) fn legacy_archives<'a, 'o>(
    old: &'o [&'o TableDef<'o>],
    new: &'o [&'a TableDef<'a>],
) -> impl Iterator<Item = &'a TableDef<'a>> + 'o {
    new.iter().copied().filter(move |n| {
        n.archive
            && n.partition.is_some()
            && old
                .iter()
                .any(|o| o.name == n.name && o.archive && o.partition.is_some())
    })
}

/// The conversion to the partitioned form (main step, late), undone by the conversion back.
pub(super) fn partition_archive(b: &mut Builder, t: &TableDef) {
    b.late(
        Statement::new(convert(t, true)).comment(format!(
            "{}: partitioned like {} (as the DDL now creates it), its rows moved into it",
            archive_name(t.name),
            t.name
        )),
        vec![Statement::new(convert(t, false)).comment(format!(
            "{} back to an unpartitioned table, its rows moved into it",
            archive_name(t.name)
        ))],
    );
}

/// The `DO` block converting `<t>_archive` to the partitioned form (`partitioned`) or back.
pub(crate) fn convert(t: &TableDef, partitioned: bool) -> String {
    let archive = archive_name(t.name);
    let new = format!("{archive}_new");
    let names: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
    let cols = ident_list(&names);
    let (from_kind, partition_by, partitions) = match (&t.partition, partitioned) {
        (Some(p), true) => {
            let (unit, months, suffix) = match p.interval {
                PartitionInterval::Quarter => ("quarter", 3, "'YYYY\"_q\"Q'"),
                PartitionInterval::Month => ("month", 1, "'YYYY_MM'"),
            };
            let key = ident(p.column);
            (
                "r",
                format!(" PARTITION BY RANGE ({key})"),
                // The bounds and names come from the rows' periods, quoted by format().
                format!(
                    "
        FOR period IN SELECT DISTINCT date_trunc({unit}, {key} AT TIME ZONE 'UTC') AS start
                      FROM {a} LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                {archive_lit} || '_' || to_char(period.start, {suffix}), {new_lit},
                period.start AT TIME ZONE 'UTC',
                (period.start + interval '{months} months') AT TIME ZONE 'UTC');
        END LOOP;",
                    unit = literal(unit),
                    a = ident(&archive),
                    archive_lit = literal(&archive),
                    new_lit = literal(&new),
                ),
            )
        }
        _ => ("p", String::new(), String::new()),
    };
    format!(
        "DO $$
DECLARE
    period record;
    idx record;
BEGIN
    IF (SELECT relkind::text FROM pg_class WHERE oid = to_regclass({a_lit})) = {from_kind} THEN
        PERFORM pg_advisory_xact_lock(hashtextextended({lock}, 0));
        CREATE TABLE {n} (LIKE {t} INCLUDING ALL){partition_by};{partitions}
        INSERT INTO {n} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM {a};
        DROP TABLE {a};
        ALTER TABLE {n} RENAME TO {a};
        FOR idx IN SELECT c.relname::text AS name FROM pg_index i
                   JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE i.indrelid = to_regclass({a_lit}) AND left(c.relname, {len}) = {n_lit} LOOP
            EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.name,
                {a_lit} || substr(idx.name, {len} + 1));
        END LOOP;
    END IF;
END
$$;",
        a = ident(&archive),
        a_lit = literal(&archive),
        n = ident(&new),
        n_lit = literal(&new),
        t = ident(t.name),
        from_kind = literal(from_kind),
        lock = literal(&format!("dbpat.tiers.archive:{}", t.name)),
        len = new.len(),
    )
}
