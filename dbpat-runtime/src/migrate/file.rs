//! The files of one migration step, as planned: what kind each is and its statements.

use super::statement::Statement;

/// What kind of migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The transactional main file.
    Main,
    /// One `CREATE INDEX CONCURRENTLY`, outside a transaction.
    ConcurrentIndex,
    /// The transactional validation file.
    Validate,
}

/// One file of a migration step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Kind.
    pub kind: FileKind,
    /// Appended to the migration name in the file name (`""`, `"_index_x"`, `"_validate"`).
    pub suffix: String,
    /// Statements in order.
    pub statements: Vec<Statement>,
}
