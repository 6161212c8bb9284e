//! Diff-based migrations: `emit-sql migrate` writes only what changed since the migrations
//! folder's last step, in files `sqlx migrate run` applies; `emit-sql check` fails when the
//! models and the folder (or a live database) have drifted apart.
//!
//! - [`snapshot`]: the models the folder describes, stored as `.dbpat/schema.json` in it.
//! - [`diff`](mod@diff): typed [`Change`]s between two versions of the models.
//! - [`plan`](mod@plan): ordering, online-safety rewriting and destructive-change detection.
//! - [`render`]: the SQL text of the files.
//! - [`folder`]: reading and writing the migrations folder.
//! - [`catalog`] and [`check`]: drift between models, folder and a live database.

pub mod catalog;
pub mod check;
pub mod diff;
pub mod folder;
pub mod plan;
pub mod render;
pub mod snapshot;

pub use catalog::{Catalog, Drift};
pub use check::{check_database, check_folder};
pub use diff::{diff, Change, ConstraintKind};
pub use folder::{write_migration, MigrationOutcome, SNAPSHOT_PATH};
pub use plan::{plan, FileKind, Plan, PlannedFile};
pub use snapshot::{SchemaSnapshot, SnapshotError};

use crate::ddl::SchemaError;
use std::path::PathBuf;

/// What can go wrong while migrating or checking.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
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
    /// A database operation of `check --database` failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}
