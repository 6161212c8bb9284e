//! From a list of [`Change`]s to ordered, online-safe migration files.
//!
//! # Files
//!
//! One migration step writes up to three kinds of files, with consecutive versions:
//!
//! 1. `<v>_<name>.sql`, transactional: everything that needs only a brief lock, in dependency
//!    order (drops of triggers, indexes, constraints, tables, columns; column changes; new
//!    columns; new tables with their indexes; new constraints `NOT VALID`; triggers; partitions).
//! 2. `<v+i>_<name>_index_<index>.sql`, one per index built on an existing table (on a
//!    partitioned table, one per partition: `_index_<partition>_<index>`):
//!    `CREATE INDEX CONCURRENTLY` cannot run in a transaction, and PostgreSQL also refuses it in a
//!    multi-statement string (sqlx sends a whole file as one), so each build is alone in a
//!    `-- no-transaction` file. Splitting keeps everything else transactional: a failed step
//!    rolls back instead of leaving half a change.
//! 3. `<v+n>_<name>_validate.sql`, transactional: `VALIDATE CONSTRAINT` of the constraints added
//!    `NOT VALID` in file 1 (a separate transaction, so the validating scan holds only a SHARE
//!    UPDATE EXCLUSIVE lock, not file 1's ACCESS EXCLUSIVE one), `SET NOT NULL` after its helper
//!    CHECK is validated, `ADD CONSTRAINT ... UNIQUE USING INDEX` over the indexes of step 2, and
//!    the attaching of partitioned indexes' copies, archive tables created for existing
//!    tables (after the parent has all its indexes).
//!
//! Renames (`renamed_from` hints) come first in file 1: the table, its archive and partitions,
//! its columns, then the indexes and constraints named after them, then the archive's
//! PostgreSQL-named indexes; every later statement uses the new names.
//!
//! # Inverses
//!
//! Every statement is planned together with what undoes it (`builder::Builder`), and each
//! file gets its inverse ([`DownFile`](super::file::DownFile)), written as sqlx's `.down.sql`
//! in a reversible folder. `sqlx migrate revert` runs them newest first, so each starts from
//! the state its own file left: a concurrent build's inverse is `DROP INDEX CONCURRENTLY`; the
//! validation file's re-adds its constraints `NOT VALID`, drops NOT NULL again, turns a
//! `USING INDEX` constraint back into its index, and replaces an attached partitioned index by
//! its `ON ONLY` parent; the main file's runs in the phases of `builder::Undo`. A change
//! whose inverse would need lost data ([`Change::irreversible`]) makes every down file of the
//! step refuse.
//!
//! # Online safety
//!
//! - New tables (and their indexes) are created plainly: they are empty.
//! - Indexes on existing tables are built `CONCURRENTLY`.
//! - A partitioned table cannot build an index concurrently (PostgreSQL refuses `CONCURRENTLY`
//!   on the parent), but each partition, a plain table, can. Which partitions exist depends on
//!   the day the migration runs (`dbpat::tiers` creates future ones and archives old ones
//!   away), not on the model, while each concurrent build must be alone in a static file. So
//!   (see `indexes::partitioned`):
//!   1. file 1: `CREATE INDEX <i> ON ONLY <t>` — catalog only, an invalid parent index. From
//!      then on every partition created (by this step, by `tiers`, by hand, by `ATTACH
//!      PARTITION`) gets its copy built and attached by PostgreSQL as it is created. Then a
//!      `DO` block creates an empty placeholder table, marked by a comment, for each partition
//!      of file 2 that does not exist (archived, or not created yet), so that its file stays
//!      valid; it raises if such a name is taken by something that is not a partition of `<t>`;
//!   2. file 2 (`-- no-transaction`), one per index and partition of the old model, and of the
//!      periods around the day the migration is written (the one before, that one and the two
//!      after: those `tiers` has created by the day it runs, which take the writes; this is the
//!      only part of a plan that depends on the date, see [`plan_at`]), less the partitions the
//!      step creates (after the parent index, so PostgreSQL gives them their copy):
//!      `CREATE INDEX CONCURRENTLY IF NOT EXISTS <partition>_<i> ON <partition>` (a name
//!      longer than 63 bytes ends with a hash). It holds only a SHARE UPDATE EXCLUSIVE lock on
//!      that partition: reads and writes go on;
//!   3. file 3, a `DO` block over the partitions the table has *when it runs*: each partition
//!      without a copy attached gets its valid, unattached index of the same definition
//!      (found by `pg_get_indexdef`) attached with `ALTER INDEX <i> ATTACH PARTITION` (brief
//!      locks); a partition that has none — one not in file 2's list, e.g. created by `tiers`
//!      between the model's last partition and the period before the migration was written, or
//!      a default partition —
//!      gets it built plainly first, with a `NOTICE` naming it (writes to that partition only
//!      wait while it builds; `tiers`' partitions ahead of time are empty). The placeholders
//!      are dropped, and the block raises unless `<i>` is now valid. The archive's copy is
//!      built concurrently as for any table.
//!
//!   Partition copies built this way are named `<partition>_<i>`; a fresh build's are named
//!   by PostgreSQL. Partitions are not part of the catalog comparison, and dropping `<i>`
//!   drops every copy, so the names never drift nor clash with a later step's.
//!   Measured (`cargo test -p dbpat --test migrate inserts_go_on -- --nocapture`, 1,000,000
//!   rows in two partitions, one connection inserting row by row, debug build): the plain
//!   `CREATE INDEX` written before held one insert for its whole build (416–575 ms, 2–3
//!   inserts completed meanwhile); the migration's 8 files, run by sqlx's migrator in
//!   646–1,117 ms, let 169–242 inserts complete, the longest 17–121 ms; no insert failed in
//!   either (four runs).
//!   `docs/migrations.md`'s "Online safety" has the same.
//! - New CHECK and FOREIGN KEY constraints on existing tables are added `NOT VALID` and validated
//!   in file 3. PostgreSQL 15 has no `NOT VALID` foreign keys on partitioned tables: those are
//!   added plainly, with a comment.
//! - A UNIQUE constraint on an existing table is an index built concurrently, then attached with
//!   `USING INDEX`.
//! - An enum CHECK that loses values: rows holding a value the model maps (`#[dbpat(was =
//!   "old")]` on the variant that takes over) are updated in file 1, after the old CHECK is
//!   dropped and before the new one is added; a value nothing maps (written only with
//!   `--allow-destructive`) is guarded in file 1: if any row still holds it, file 1 raises and
//!   rolls back whole, instead of the validation of file 3 failing after file 1 committed.
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
//! unnamed and dropped by definition, see
//! [`drop_archive_copy`](super::statement::drop_archive_copy)).

mod archive_form;
mod builder;
mod columns;
mod constraints;
mod context;
mod indexes;
mod renames;
mod tables;

use self::builder::Builder;
use self::context::Context;
use super::diff::{diff, Change};
use super::file::{FileKind, PlannedFile};
use super::snapshot::{ARCHIVES_PARTITIONED_SINCE, SNAPSHOT_FORMAT};
use super::statement::Statement;
use crate::ddl::{render_schema, SchemaError};
use crate::model::TableDef;

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

/// Plans the migration from `old` to `new`, written now.
///
/// From an empty folder the main file is exactly the full schema of `emit-sql`.
pub fn plan<'a>(old: &[&TableDef<'_>], new: &[&'a TableDef<'a>]) -> Result<Plan<'a>, SchemaError> {
    plan_at(old, new, chrono::Utc::now())
}

/// Plans the migration from `old` to `new`, written at `now`: the only part of a plan that
/// depends on the date is the list of partitions an index on a partitioned table is built on
/// concurrently (the model's, and those of the periods around `now`, which `dbpat::tiers` has
/// probably created by the time the migration runs).
pub fn plan_at<'a>(
    old: &[&TableDef<'_>],
    new: &[&'a TableDef<'a>],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Plan<'a>, SchemaError> {
    plan_from(old, SNAPSHOT_FORMAT, new, now)
}

/// Plans the migration from `old`, read from a snapshot of format `format`, to `new`, written
/// at `now`: like [`plan_at`], and from a format older than [`ARCHIVES_PARTITIONED_SINCE`],
/// every archive of a partitioned table both models keep is converted to the partitioned
/// form ([`Change::PartitionArchive`]).
pub fn plan_from<'a>(
    old: &[&TableDef<'_>],
    format: u32,
    new: &[&'a TableDef<'a>],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Plan<'a>, SchemaError> {
    let mut changes = diff(old, new)?;
    if format < ARCHIVES_PARTITIONED_SINCE {
        changes.extend(archive_form::legacy_archives(old, new).map(Change::PartitionArchive));
    }
    let cx = Context::new(old, new, &changes, now)?;
    let mut b = Builder::new();
    let mut destructive = Vec::new();
    for change in &changes {
        let reason = change.destructive();
        add_change(&cx, &mut b, change, &reason);
        destructive.extend(reason);
        if let Some(why) = change.irreversible() {
            b.refuse(why);
        }
    }
    let (files, warnings) = b.into_files();
    if old.is_empty() && !changes.is_empty() {
        // From an empty folder the main file is the full schema; its inverse, planned as for
        // any step, drops every table and trigger function.
        let down = files
            .into_iter()
            .find(|f| f.kind == FileKind::Main)
            .map(|f| f.down)
            .unwrap_or_default();
        return Ok(Plan {
            changes,
            files: vec![PlannedFile {
                kind: FileKind::Main,
                suffix: String::new(),
                statements: vec![Statement::new(render_schema(new)?.trim_end())],
                down,
            }],
            destructive: Vec::new(),
            warnings: Vec::new(),
        });
    }
    Ok(Plan {
        changes,
        files,
        destructive,
        warnings,
    })
}

/// Adds the statements of one change (destructive for `reason`, if set).
fn add_change(cx: &Context, b: &mut Builder, change: &Change, reason: &Option<String>) {
    match change {
        Change::CreateExtension(e) => tables::create_extension(b, e),
        Change::CreateTriggerFunction(column) => tables::create_trigger_function(b, column),
        Change::DropTriggerFunction(column) => tables::drop_trigger_function(b, column),
        Change::CreateTable(t) => tables::create_table(cx, b, t),
        Change::DropTable { table, archive, .. } => {
            tables::drop_table(cx, b, table, *archive, reason)
        }
        Change::AddColumn { table, column } => columns::add(cx, b, table, column),
        Change::DropColumn { table, column } => columns::drop(cx, b, table, column, reason),
        Change::AlterColumnType {
            table, column, to, ..
        } => columns::alter_type(cx, b, table, column, *to, reason),
        Change::SetNotNull { table, column } => columns::set_not_null(cx, b, table, column),
        Change::DropNotNull { table, column } => columns::drop_not_null(cx, b, table, column),
        Change::SetDefault {
            table,
            column,
            default,
        } => columns::set_default(cx, b, table, column, default),
        Change::DropDefault { table, column } => columns::drop_default(cx, b, table, column),
        Change::AddIdentity { table, column } => columns::add_identity(cx, b, table, column),
        Change::DropIdentity { table, column } => columns::drop_identity(cx, b, table, column),
        Change::DropConstraint {
            table,
            name,
            kind,
            definition,
        } => constraints::drop(cx, b, table, name, definition, *kind),
        Change::AddConstraint {
            table,
            name,
            definition,
            kind,
            enum_values,
        } => {
            if let Some(values) = enum_values {
                constraints::map_enum_values(cx, b, table, values);
            }
            constraints::add(cx, b, table, name, definition, *kind, reason)
        }
        Change::CreateIndex { table, index } => indexes::create(cx, b, table, index),
        Change::DropIndex { table, name } => indexes::drop(cx, b, table, name),
        Change::CreateTrigger(t) => tables::create_trigger(b, t),
        Change::DropTrigger { table, name } => tables::drop_trigger(cx, b, table, name),
        Change::CreatePartitions { table, partitions } => {
            tables::create_partitions(b, table, partitions)
        }
        Change::CreateArchive(t) => tables::create_archive(b, t),
        Change::PartitionArchive(t) => archive_form::partition_archive(b, t),
        Change::DropArchive { table } => tables::drop_archive(cx, b, table, reason),
        Change::RenameTable {
            from,
            to,
            archive,
            partitioned,
        } => renames::table(b, from, to, *archive, *partitioned),
        Change::RenameColumn { table, from, to } => renames::column(cx, b, table, from, to),
        Change::RenameConstraint {
            table,
            from,
            to,
            kind,
        } => renames::constraint(cx, b, table, from, to, *kind),
        Change::RenameIndex { from, to, .. } => renames::index(b, from, to),
    }
}
