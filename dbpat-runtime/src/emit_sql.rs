//! The `emit-sql` command line, as a library entry point.
//!
//! A user's application gets its own `emit-sql` binary in two lines, `src/bin/emit-sql.rs`:
//!
//! ```no_run
//! use my_app as _; // link the crate whose #[derive(Entity)] models should be emitted
//! # mod my_app {}
//! fn main() -> std::process::ExitCode { dbpat_runtime::emit_sql::main() }
//! ```
//!
//! Every entity linked into the binary registers itself; `emit-sql` prints the DDL of all of
//! them (or writes it with `--out FILE`). It needs no database.

use crate::ddl::{render_schema, SchemaError};
use crate::entity::registered_tables;
use crate::model::TableDef;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Command-line arguments of `emit-sql`.
#[derive(Debug, Parser)]
#[command(
    name = "emit-sql",
    about = "Print the PostgreSQL DDL of every #[derive(Entity)] model linked into this binary"
)]
pub struct Cli {
    /// Write the DDL to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// What can go wrong in `emit-sql`.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The models do not form a valid schema.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// No entity is linked into the binary.
    #[error("no #[derive(Entity)] models are linked into this binary; reference the crate that defines them (e.g. `use my_app as _;`)")]
    NoEntities,
    /// Writing the output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Runs `emit-sql` over `tables` with parsed arguments.
pub fn run(cli: &Cli, tables: &[&'static TableDef]) -> Result<(), EmitError> {
    if tables.is_empty() {
        return Err(EmitError::NoEntities);
    }
    let sql = render_schema(tables)?;
    match &cli.out {
        Some(path) => std::fs::write(path, sql).map_err(|source| EmitError::Write {
            path: path.clone(),
            source,
        }),
        None => {
            print!("{sql}");
            Ok(())
        }
    }
}

/// The `main` of an `emit-sql` binary: parses the process arguments and runs over every
/// registered entity. Errors are printed to standard error and give exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli, &registered_tables()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("emit-sql: {err}");
            ExitCode::FAILURE
        }
    }
}
