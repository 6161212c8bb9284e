//! Looking at a live database: `emit-sql pull` (Rust models from an existing schema) and
//! `emit-sql lint` (the patterns' checklist against it).
//!
//! - [`introspect`]: one read of the catalog into a [`RawSchema`], shared by both.
//! - [`pull`](mod@pull): the tables a `#[derive(Entity)]` model reproduces exactly, as Rust
//!   source, and for every other one why not and what to do.
//! - [`lint`](mod@lint): checklist findings (table, column, rule, fix).

pub mod introspect;
pub mod lint;
pub mod pull;

pub use introspect::{read_schema, RawSchema, Statements};
pub use lint::{lint, Finding, LintReport, Rule};
pub use pull::{pull, PulledEntity, PulledSchema, Unrepresented};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;

/// The `application_name` of the connections `pull` and `lint` read on.
pub const INSPECT_APPLICATION_NAME: &str = "dbpat-inspect";

/// What can go wrong while reading a live schema.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Connecting or reading the catalog failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema does not exist.
    #[error("schema `{0}` does not exist in this database")]
    NoSchema(String),
}

/// Connects to `url` and reads the schema `schema`.
pub async fn read_database(url: &str, schema: &str) -> Result<RawSchema, InspectError> {
    let options = PgConnectOptions::from_str(url)?.application_name(INSPECT_APPLICATION_NAME);
    let mut conn = options.connect().await?;
    let raw = read_schema(&mut conn, schema).await;
    conn.close().await.ok();
    raw
}
