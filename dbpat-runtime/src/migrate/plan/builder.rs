//! The statements of one step as they are planned, sorted into the step's files.

use crate::migrate::file::{FileKind, PlannedFile};
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

/// The statements of the step's files, and the warnings met on the way.
pub(super) struct Builder {
    /// File 1, per step: `(order, statement)`.
    main: Vec<Vec<(usize, Statement)>>,
    /// One file each: `(label, statement)`.
    concurrent: Vec<(String, Statement)>,
    /// `VALIDATE CONSTRAINT`s: they run first in file 3, so their scans hold only SHARE UPDATE
    /// EXCLUSIVE locks, never behind an ACCESS EXCLUSIVE lock taken earlier in the transaction.
    validate: Vec<Statement>,
    /// Brief steps after the validations (`SET NOT NULL`, `USING INDEX`, helper drops).
    finish: Vec<Statement>,
    /// Last of all (archive tables of existing tables, which copy the finished parent).
    late: Vec<Statement>,
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

    /// A statement alone in a `-- no-transaction` file, whose name ends with `_<label>`.
    pub(super) fn concurrent(&mut self, label: String, statement: Statement) {
        self.concurrent.push((label, statement));
    }

    /// A `VALIDATE CONSTRAINT` of the validation file.
    pub(super) fn validate(&mut self, statement: Statement) {
        self.validate.push(statement);
    }

    /// A brief statement of the validation file, after the validations.
    pub(super) fn finish(&mut self, statement: Statement) {
        self.finish.push(statement);
    }

    /// A statement after everything else of the step.
    pub(super) fn late(&mut self, statement: Statement) {
        self.late.push(statement);
    }

    /// Something the user should know about the step.
    pub(super) fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// The files in version order, and the warnings.
    pub(super) fn into_files(self) -> (Vec<PlannedFile>, Vec<String>) {
        let mut main: Vec<Statement> = Vec::new();
        for mut step in self.main {
            step.sort_by_key(|(order, _)| *order); // stable: ties keep change order
            main.extend(step.into_iter().map(|(_, s)| s));
        }
        let needs_validate_file =
            !self.validate.is_empty() || !self.finish.is_empty() || !self.concurrent.is_empty();
        let mut validate = self.validate;
        validate.extend(self.finish);
        if needs_validate_file {
            validate.extend(self.late);
        } else {
            main.extend(self.late);
        }
        let mut files = Vec::new();
        if !main.is_empty() {
            files.push(PlannedFile {
                kind: FileKind::Main,
                suffix: String::new(),
                statements: main,
            });
        }
        for (label, statement) in self.concurrent {
            files.push(PlannedFile {
                kind: FileKind::ConcurrentIndex,
                suffix: format!("_{label}"),
                statements: vec![statement],
            });
        }
        if !validate.is_empty() {
            files.push(PlannedFile {
                kind: FileKind::Validate,
                suffix: "_validate".to_owned(),
                statements: validate,
            });
        }
        (files, self.warnings)
    }
}
