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
//!
//! Migrations (see [`crate::migrate`]):
//!
//! - `emit-sql migrate --name add_orders_note [--dir migrations] [--allow-destructive]
//!   [--reversible]` writes the change since the folder's last migration as
//!   `<version>_<name>*.sql` files for `sqlx migrate run` (with `--reversible`, or in a folder
//!   that has one already, sqlx's `.up.sql` / `.down.sql` pairs for `sqlx migrate revert`),
//!   and updates the folder's `.dbpat/schema.json` snapshot.
//! - `emit-sql check [--dir migrations]` exits 1, listing the changes, when the models differ
//!   from what the folder describes (for CI).
//! - `emit-sql check --database URL` exits 1, listing the drift object by object, when a live
//!   database differs from what the models create.
//!
//! Adopting dbpat on an existing database, and linting one (see [`crate::inspect`]); neither
//! needs linked models:
//!
//! - `emit-sql pull --database URL [--out FILE] [--schema public]` writes Rust models for every
//!   table a model reproduces exactly, and lists (on standard error) what it cannot represent.
//! - `emit-sql lint --database URL [--schema public]` prints the patterns' checklist findings,
//!   one per line; exit status 1 with findings, 0 without, 2 on an error.

use crate::ddl::render_schema;
use crate::entity::registered_tables;
use crate::inspect;
use crate::migrate::{self, MigrateError, MigrationOutcome};
use crate::model::TableDef;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Command-line arguments of `emit-sql`.
#[derive(Debug, Parser)]
#[command(
    name = "emit-sql",
    about = "Print the PostgreSQL DDL of every #[derive(Entity)] model linked into this binary",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Write the DDL to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write or check migrations instead of printing the full schema.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands of `emit-sql`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a migration with the change since the migrations folder's last one.
    Migrate {
        /// The migrations folder (what `sqlx migrate run` reads).
        #[arg(long, value_name = "DIR", default_value = "migrations")]
        dir: PathBuf,
        /// What the migration does, e.g. `add_orders_note` (part of the file name).
        #[arg(long)]
        name: String,
        /// Also write changes that lose data (drop table/column, narrow a type, drop an enum
        /// value); each is marked in the file.
        #[arg(long)]
        allow_destructive: bool,
        /// Write sqlx's reversible pairs (`.up.sql` / `.down.sql`, for `sqlx migrate
        /// revert`); a folder that holds one already stays reversible without the flag.
        #[arg(long)]
        reversible: bool,
    },
    /// Exit non-zero when the models differ from the migrations folder (or a live database).
    Check {
        /// The migrations folder.
        #[arg(long, value_name = "DIR", default_value = "migrations")]
        dir: PathBuf,
        /// Compare with this live database's catalog instead of the folder.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
    /// Write Rust models for the tables of an existing database.
    Pull {
        /// The database to read.
        #[arg(long, value_name = "URL")]
        database: String,
        /// Write the models to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The schema to read.
        #[arg(long, default_value = "public")]
        schema: String,
    },
    /// Check a live database against the patterns' checklist (exit 1 with findings).
    Lint {
        /// The database to check.
        #[arg(long, value_name = "URL")]
        database: String,
        /// The schema to check.
        #[arg(long, default_value = "public")]
        schema: String,
    },
}

/// Runs `emit-sql` over `tables` with parsed arguments.
pub fn run(cli: &Cli, tables: &[&'static TableDef]) -> Result<(), MigrateError> {
    match &cli.command {
        Some(Command::Pull {
            database,
            out,
            schema,
        }) => return pull(database, out.as_deref(), schema),
        Some(Command::Lint { database, schema }) => return lint(database, schema),
        _ => {}
    }
    if tables.is_empty() {
        return Err(MigrateError::NoEntities);
    }
    match &cli.command {
        Some(Command::Pull { .. } | Command::Lint { .. }) => Ok(()),
        None => print_schema(cli, tables),
        Some(Command::Migrate {
            dir,
            name,
            allow_destructive,
            reversible,
        }) => {
            let options = migrate::WriteOptions {
                allow_destructive: *allow_destructive,
                reversible: *reversible,
            };
            match migrate::write_migration(dir, name, tables, options)? {
                MigrationOutcome::NoChange => {
                    println!(
                        "no changes: the models match {}; nothing written",
                        dir.display()
                    );
                }
                MigrationOutcome::Written { files, plan } => {
                    println!("{} change(s):", plan.changes.len());
                    for change in &plan.changes {
                        println!("  - {change}");
                    }
                    for warning in &plan.warnings {
                        eprintln!("emit-sql: warning: {warning}");
                    }
                    println!("wrote:");
                    for file in files {
                        println!("  {}", file.display());
                    }
                    println!("  {}", dir.join(migrate::SNAPSHOT_PATH).display());
                }
            }
            Ok(())
        }
        Some(Command::Check {
            dir,
            database: None,
        }) => {
            let changes = migrate::check_folder(dir, tables)?;
            if changes.is_empty() {
                println!("ok: the models match {}", dir.display());
                return Ok(());
            }
            Err(MigrateError::Drift(format!(
                "the models differ from {} ({} change(s)); run `emit-sql migrate --name <what changed>`:\n{}",
                dir.display(),
                changes.len(),
                changes
                    .iter()
                    .map(|c| format!("  - {c}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )))
        }
        Some(Command::Check {
            database: Some(url),
            ..
        }) => {
            let url = url.clone();
            let tables = tables.to_vec();
            let drift =
                block_on(move || async move { migrate::check_database(&url, &tables).await })?;
            if drift.is_empty() {
                println!("ok: the database matches the models");
                return Ok(());
            }
            Err(MigrateError::Drift(format!(
                "the database differs from the models ({} object(s)):\n{}",
                drift.len(),
                drift
                    .iter()
                    .map(|d| format!("  - {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )))
        }
    }
}

fn read_database(url: &str, schema: &str) -> Result<inspect::RawSchema, MigrateError> {
    let (url, schema) = (url.to_owned(), schema.to_owned());
    Ok(block_on(move || async move {
        inspect::read_database(&url, &schema).await
    })?)
}

/// `emit-sql pull`: the models on standard output (or `out`), what is left out on standard
/// error.
fn pull(url: &str, out: Option<&std::path::Path>, schema: &str) -> Result<(), MigrateError> {
    let raw = read_database(url, schema)?;
    let pulled = inspect::pull(&raw);
    match out {
        Some(path) => std::fs::write(path, &pulled.source).map_err(|source| MigrateError::Io {
            path: path.to_owned(),
            source,
        })?,
        None => print!("{}", pulled.source),
    }
    eprintln!(
        "emit-sql: pulled {} table(s) of schema `{schema}`{}",
        pulled.entities.len(),
        match out {
            Some(path) => format!(" into {}", path.display()),
            None => String::new(),
        }
    );
    if !pulled.unrepresented.is_empty() {
        eprintln!(
            "emit-sql: not represented ({} item(s); each table named is left out):",
            pulled.unrepresented.len()
        );
        for item in &pulled.unrepresented {
            eprintln!("  - {item}");
        }
    }
    Ok(())
}

/// `emit-sql lint`: one finding per line on standard output; `Findings` when there are any.
fn lint(url: &str, schema: &str) -> Result<(), MigrateError> {
    let raw = read_database(url, schema)?;
    let report = inspect::lint(&raw);
    for finding in &report.findings {
        println!("{finding}");
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    if report.findings.is_empty() {
        println!(
            "ok: no findings in schema `{schema}` ({} table(s))",
            raw.tables.len()
        );
        Ok(())
    } else {
        Err(MigrateError::Findings(format!(
            "{} finding(s) in schema `{schema}`",
            report.findings.len()
        )))
    }
}

fn print_schema(cli: &Cli, tables: &[&'static TableDef]) -> Result<(), MigrateError> {
    let sql = render_schema(tables)?;
    match &cli.out {
        Some(path) => std::fs::write(path, sql).map_err(|source| MigrateError::Io {
            path: path.clone(),
            source,
        }),
        None => {
            print!("{sql}");
            Ok(())
        }
    }
}

/// Runs a future to completion on a private runtime in its own thread, so `run` works both
/// from a plain `main` and from inside an async caller.
fn block_on<T, F>(make_future: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(make_future())
    })
    .join()
    .expect("emit-sql worker thread panicked")
}

/// The `main` of an `emit-sql` binary: parses the process arguments and runs over every
/// registered entity. Errors are printed to standard error and give exit code 1; for `lint`,
/// findings give 1 and errors 2.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let linting = matches!(cli.command, Some(Command::Lint { .. }));
    match run(&cli, &registered_tables()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("emit-sql: {err}");
            match err {
                MigrateError::Findings(_) => ExitCode::from(1),
                _ if linting => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
