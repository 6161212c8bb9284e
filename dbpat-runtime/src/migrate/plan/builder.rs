//! The statements of one step as they are planned, sorted into the step's files, each with
//! its inverse: every up statement is added together with what undoes it.

use crate::migrate::file::{DownFile, FileKind, PlannedFile};
use crate::migrate::statement::Statement;

/// Where a statement of the main file goes: the main file runs the steps in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Preamble,
    Rename,
    DropTrigger,
    DropArchiveCopy,
    DropIndex,
    DropForeignKey,
    DropConstraint,
    DropTable,
    DropColumn,
    AlterColumn,
    AddColumn,
    CreateTable,
    MapEnumValues,
    AddConstraint,
    PlainIndex,
    CreateTrigger,
    Partitions,
    DropFunction,
}

const STEPS: usize = Step::DropFunction as usize + 1;

/// Where an inverse statement of the main file goes: its down file runs the phases in this
/// order. What the step created is dropped while it has its new names; columns get their old
/// types and defaults back; what the step dropped is re-created, still under the new names
/// (its definitions are the old ones rewritten with the renames, as the diff compares them);
/// then the renames are undone, and what is named after the old names (triggers, archive
/// tables the step dropped) comes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Undo {
    /// Drops of what the step created (ordered within by [`undo_order`]).
    DropNew,
    /// Trigger functions the step created, once no trigger uses them.
    DropFunction,
    /// Column types, defaults, NOT NULL and identity back to the old model's.
    RestoreColumn,
    /// Trigger functions the step dropped.
    RecreateFunction,
    /// Tables, columns, constraints and indexes the step dropped (under the new names).
    RecreateOld,
    /// The renames, backwards.
    RenameBack,
    /// Triggers and archive tables of the old model, under its names.
    RecreateAfterRename,
}

const UNDO_PHASES: usize = Undo::RecreateAfterRename as usize + 1;

/// Orders within the [`Undo`] phases.
pub(super) mod undo_order {
    /// [`Undo::DropNew`](super::Undo::DropNew): archive tables created for existing tables, then
    /// triggers, indexes, archive copies, foreign keys, other constraints, enum values mapped
    /// back, columns, and tables last (offset by their reverse dependency position).
    pub const ARCHIVES: usize = 0;
    pub const TRIGGERS: usize = 1;
    pub const INDEXES: usize = 2;
    pub const ARCHIVE_COPIES: usize = 3;
    pub const FOREIGN_KEYS: usize = 4;
    pub const CONSTRAINTS: usize = 5;
    pub const ENUM_VALUES: usize = 6;
    pub const COLUMNS: usize = 7;
    pub const TABLES: usize = 8;
    /// [`Undo::RestoreColumn`](super::Undo::RestoreColumn): the type first, then what depends
    /// on it.
    pub const TYPES: usize = 0;
    pub const DEFAULTS: usize = 1;
    pub const NULLABILITY: usize = 2;
    pub const IDENTITY: usize = 3;
    /// [`Undo::RecreateOld`](super::Undo::RecreateOld): tables (offset by dependency
    /// position), then columns, keys and checks, indexes, archive copies, foreign keys.
    pub const OLD_TABLES: usize = 0;
    pub const OLD_COLUMNS: usize = 1_000;
    pub const OLD_CONSTRAINTS: usize = 1_001;
    pub const OLD_INDEXES: usize = 1_002;
    pub const OLD_ARCHIVE_COPIES: usize = 1_003;
    pub const OLD_FOREIGN_KEYS: usize = 1_004;
    /// [`Undo::RenameBack`](super::Undo::RenameBack): the objects named after the new names,
    /// then columns, then tables, then the archive's PostgreSQL-named indexes.
    pub const OBJECTS_BACK: usize = 0;
    pub const COLUMNS_BACK: usize = 1;
    pub const TABLES_BACK: usize = 2;
    pub const ARCHIVE_NAMES_BACK: usize = 3;
}

/// The inverse of a concurrent index file.
pub(super) enum ConcurrentDown {
    /// `DROP INDEX CONCURRENTLY IF EXISTS`, alone in a `-- no-transaction` file.
    NoTransaction(Statement),
    /// A transactional statement (dropping an archive's unnamed copy, found by definition).
    Transaction(Statement),
}

/// The statements of the step's files, and the warnings met on the way.
pub(super) struct Builder {
    /// File 1, per step: `(order, statement)`.
    main: Vec<Vec<(usize, Statement)>>,
    /// One file each: `(label, statement, its inverse)`.
    concurrent: Vec<(String, Statement, ConcurrentDown)>,
    /// `VALIDATE CONSTRAINT`s: they run first in file 3, so their scans hold only SHARE UPDATE
    /// EXCLUSIVE locks, never behind an ACCESS EXCLUSIVE lock taken earlier in the transaction.
    validate: Vec<Statement>,
    /// Brief steps after the validations (`SET NOT NULL`, `USING INDEX`, helper drops).
    finish: Vec<Statement>,
    /// Last of all (archive tables of existing tables, which copy the finished parent).
    late: Vec<Statement>,
    /// The inverse of file 1, per phase: `(order, statement)`.
    undo: Vec<Vec<(usize, Statement)>>,
    /// The inverses of `validate`, `finish` and `late`, one group per statement (a file's
    /// down file runs the groups backwards).
    validate_down: Vec<Vec<Statement>>,
    finish_down: Vec<Vec<Statement>>,
    late_down: Vec<Vec<Statement>>,
    /// Why the step cannot be reverted.
    refused: Vec<String>,
    warnings: Vec<String>,
}

impl Builder {
    pub(super) fn new() -> Self {
        Builder {
            main: vec![Vec::new(); STEPS],
            concurrent: Vec::new(),
            validate: Vec::new(),
            finish: Vec::new(),
            late: Vec::new(),
            undo: vec![Vec::new(); UNDO_PHASES],
            validate_down: Vec::new(),
            finish_down: Vec::new(),
            late_down: Vec::new(),
            refused: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// A statement of the main file, at `step`.
    pub(super) fn main(&mut self, step: Step, statement: Statement) {
        self.main_ordered(step, 0, statement);
    }

    /// A statement of the main file, at `step`, sorted by `order` within the step (ties keep
    /// the order of the changes).
    pub(super) fn main_ordered(&mut self, step: Step, order: usize, statement: Statement) {
        self.main[step as usize].push((order, statement));
    }

    /// Whether file 1 already has `statement` at `step`.
    pub(super) fn has_main(&self, step: Step, statement: &Statement) -> bool {
        self.main[step as usize].iter().any(|(_, s)| s == statement)
    }

    /// A statement of the main file's inverse, at `phase`, sorted by `order` within it (ties
    /// keep the order of the changes).
    pub(super) fn undo(&mut self, phase: Undo, order: usize, statement: Statement) {
        self.undo[phase as usize].push((order, statement));
    }

    /// Whether the main file's inverse already has `statement` at `phase`.
    pub(super) fn has_undo(&self, phase: Undo, statement: &Statement) -> bool {
        self.undo[phase as usize]
            .iter()
            .any(|(_, s)| s == statement)
    }

    /// A statement alone in a `-- no-transaction` file, whose name ends with `_<label>`, and
    /// what undoes it.
    pub(super) fn concurrent(&mut self, label: String, statement: Statement, down: ConcurrentDown) {
        self.concurrent.push((label, statement, down));
    }

    /// A `VALIDATE CONSTRAINT` of the validation file, and what undoes it.
    pub(super) fn validate(&mut self, statement: Statement, down: Vec<Statement>) {
        self.validate.push(statement);
        self.validate_down.push(down);
    }

    /// A brief statement of the validation file, after the validations, and what undoes it.
    pub(super) fn finish(&mut self, statement: Statement, down: Vec<Statement>) {
        self.finish.push(statement);
        self.finish_down.push(down);
    }

    /// A statement after everything else of the step, and what undoes it.
    pub(super) fn late(&mut self, statement: Statement, down: Vec<Statement>) {
        self.late.push(statement);
        self.late_down.push(down);
    }

    /// The step cannot be reverted, for `reason` (its inverse would need data it lost).
    pub(super) fn refuse(&mut self, reason: String) {
        self.refused.push(reason);
    }

    /// Something the user should know about the step.
    pub(super) fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// The files in version order, and the warnings.
    pub(super) fn into_files(self) -> (Vec<PlannedFile>, Vec<String>) {
        let refused = self.refused;
        let down = |no_transaction: bool, statements: Vec<Statement>| DownFile {
            no_transaction,
            statements,
            refused: refused.clone(),
        };
        let backwards =
            |groups: Vec<Vec<Statement>>| groups.into_iter().rev().flatten().collect::<Vec<_>>();
        let mut main = flatten(self.main);
        let mut main_down_phases = self.undo;
        let needs_validate_file =
            !self.validate.is_empty() || !self.finish.is_empty() || !self.concurrent.is_empty();
        let mut validate = self.validate;
        validate.extend(self.finish);
        // Undone backwards: the late statements first, then the brief steps, then validations.
        let mut validate_down = backwards(self.late_down);
        if needs_validate_file {
            validate.extend(self.late);
        } else {
            main.extend(self.late);
            let late: Vec<(usize, Statement)> = std::mem::take(&mut validate_down)
                .into_iter()
                .map(|s| (undo_order::ARCHIVES, s))
                .collect();
            main_down_phases[Undo::DropNew as usize].splice(0..0, late);
        }
        validate_down.extend(backwards(self.finish_down));
        validate_down.extend(backwards(self.validate_down));
        let main_down = flatten(main_down_phases);
        let mut files = Vec::new();
        if !main.is_empty() {
            files.push(PlannedFile {
                kind: FileKind::Main,
                suffix: String::new(),
                statements: main,
                down: down(false, main_down),
            });
        }
        for (label, statement, undo) in self.concurrent {
            let (no_transaction, inverse) = match undo {
                ConcurrentDown::NoTransaction(s) => (true, s),
                ConcurrentDown::Transaction(s) => (false, s),
            };
            files.push(PlannedFile {
                kind: FileKind::ConcurrentIndex,
                suffix: format!("_{label}"),
                statements: vec![statement],
                down: down(no_transaction, vec![inverse]),
            });
        }
        if !validate.is_empty() {
            files.push(PlannedFile {
                kind: FileKind::Validate,
                suffix: "_validate".to_owned(),
                statements: validate,
                down: down(false, validate_down),
            });
        }
        (files, self.warnings)
    }
}

/// The statements of phases (or steps) in order, each sorted by its order (stable: ties keep
/// the order of the changes).
fn flatten(phases: Vec<Vec<(usize, Statement)>>) -> Vec<Statement> {
    let mut out = Vec::new();
    for mut phase in phases {
        phase.sort_by_key(|(order, _)| *order);
        out.extend(phase.into_iter().map(|(_, s)| s));
    }
    out
}
