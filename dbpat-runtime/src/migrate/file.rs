//! The files of one migration step, as planned: what kind each is, its statements, and its
//! inverse (written as sqlx's `.down.sql` when the folder is reversible).

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
    /// What undoes this file (after every later file of the step is undone).
    pub down: DownFile,
}

/// The inverse of one migration file: `sqlx migrate revert` runs it to return the database to
/// where it was before the file ran.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DownFile {
    /// Whether it runs outside a transaction (`DROP INDEX CONCURRENTLY`, alone in its file).
    pub no_transaction: bool,
    /// Statements in order (none: the file changed nothing a revert must undo).
    pub statements: Vec<Statement>,
    /// Why the step cannot be reverted (it lost data its inverse would need): when set, the
    /// down file says so and raises before anything runs.
    pub refused: Vec<String>,
}
