//! Diff-based migrations: `emit-sql migrate` writes only what changed since the migrations
//! folder's last step, in files `sqlx migrate run` applies; `emit-sql check` fails when the
//! models and the folder (or a live database) have drifted apart.
//!
//! - [`snapshot`]: the models the folder describes, stored as `.dbpat/schema.json` in it and
//!   read back into the model types, borrowed from an arena the run owns.
//! - [`diff`](mod@diff): typed [`Change`]s between two versions of the models, with the
//!   [`rename`] hints.
//! - [`statement`] and [`file`](mod@file): the statements and files a step is made of.
//! - [`plan`](mod@plan): ordering, online-safety rewriting and destructive-change detection.
//! - [`render`]: the SQL text of the files.
//! - [`folder`]: reading and writing the migrations folder.
//! - [`catalog`] and [`check`]: drift between models, folder and a live database.
//! - [`error`]: what can go wrong in all of them.
//!
//! The layers depend downward only: the snapshot and the diff know nothing of files, the plan
//! nothing of their text, and this module only re-exports.

pub mod catalog;
pub mod check;
pub mod diff;
pub mod error;
pub mod file;
pub mod folder;
pub mod plan;
pub mod rename;
pub mod render;
pub mod snapshot;
pub mod statement;

pub use catalog::{Catalog, Drift};
pub use check::{check_database, check_folder, CHECK_APPLICATION_NAME};
pub use diff::{diff, Change, ConstraintKind, EnumValues};
pub use error::MigrateError;
pub use file::{DownFile, FileKind, PlannedFile};
pub use folder::{write_migration, MigrationOutcome, WriteOptions};
pub use plan::{plan, plan_at, plan_from, Plan};
pub use rename::Renames;
pub use snapshot::{Bump, SchemaSnapshot, SnapshotError, SNAPSHOT_PATH};
pub use statement::Statement;
