//! What can go wrong while migrating or checking.

use super::snapshot::{SnapshotError, SNAPSHOT_PATH};
use crate::ddl::SchemaError;
use std::path::PathBuf;

/// What can go wrong in `emit-sql`: printing the schema, writing migrations, or checking them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// No entity is linked into the binary.
    #[error("no #[derive(Entity)] models are linked into this binary; reference the crate that defines them (e.g. `use my_app as _;`)")]
    NoEntities,
    /// `check` found differences between the models, the migrations and the database (listed
    /// in the message).
    #[error("{0}")]
    Drift(String),
    /// The models (or the snapshot's models) do not form a valid schema.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The snapshot file cannot be read back.
    #[error("{path}: {source}")]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        source: SnapshotError,
    },
    /// The folder holds migrations but no snapshot, so the state it describes is unknown.
    #[error("{dir} holds migrations but no {SNAPSHOT_PATH}; it was not written by `emit-sql migrate` (restore the snapshot, or start a new folder)")]
    MissingSnapshot {
        /// The migrations folder.
        dir: PathBuf,
    },
    /// Destructive changes without `--allow-destructive`.
    #[error("refusing to write destructive changes (re-run with --allow-destructive to write them, each marked in the file):\n{}", .0.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n"))]
    Destructive(Vec<String>),
    /// The migration name has no usable characters.
    #[error("migration name {0:?} must contain letters or digits")]
    InvalidName(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `lint` found violations of the checklist (listed in the message).
    #[error("{0}")]
    Findings(String),
    /// Reading a live schema (`pull`, `lint`) failed.
    #[error(transparent)]
    Inspect(#[from] crate::inspect::InspectError),
    /// A database operation of `check --database` failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}
