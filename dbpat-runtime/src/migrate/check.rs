//! `emit-sql check`: do the models still match the migrations folder, or a live database?

use super::catalog::{set_search_path, Catalog, Drift};
use super::diff::Change;
use super::error::MigrateError;
use super::folder::plan_folder;
use crate::ddl::{ident, render_schema};
use crate::model::TableDef;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::path::Path;
use std::str::FromStr;

/// The `application_name` of the connection `check --database` compares on (visible in
/// `pg_stat_activity`).
pub const CHECK_APPLICATION_NAME: &str = "dbpat-check";

/// The changes a new migration would contain: empty when the folder is up to date.
pub fn check_folder<'a>(
    dir: &Path,
    tables: &[&'a TableDef<'a>],
) -> Result<Vec<Change<'a>>, MigrateError> {
    Ok(plan_folder(dir, tables)?.changes)
}

/// Compares the live database at `url` (its `public` schema) with what the models' full DDL
/// creates.
///
/// The expected catalog is not guessed: the check builds it on the same server, in the same
/// database, inside one transaction that is never committed: `CREATE SCHEMA
/// dbpat_check_<random>`, the full DDL with the `search_path` set to that schema (then
/// `public`, for extensions), the catalog read, then `ROLLBACK`. The role needs no CREATEDB, only CREATE on the database (for the
/// schema) and what the DDL itself needs (e.g. `CREATE EXTENSION` for an extension the
/// database lacks). Nothing is left behind on any exit path: a check that fails, is
/// interrupted (Ctrl-C) or killed loses its connection, and PostgreSQL rolls the transaction
/// back; no other session ever sees the scratch schema.
pub async fn check_database(
    url: &str,
    tables: &[&TableDef<'_>],
) -> Result<Vec<Drift>, MigrateError> {
    let ddl = render_schema(tables)?;
    let options = PgConnectOptions::from_str(url)?.application_name(CHECK_APPLICATION_NAME);
    let mut conn = options.connect().await?;
    let found = Catalog::read(&mut conn).await?;
    let expected = expected_catalog(&mut conn, &ddl).await?;
    conn.close().await.ok();
    Ok(expected.compare(&found))
}

/// The catalog `ddl` creates, built in a scratch schema of a transaction rolled back after.
async fn expected_catalog(conn: &mut PgConnection, ddl: &str) -> Result<Catalog, MigrateError> {
    let scratch = format!(
        "dbpat_check_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(&format!("CREATE SCHEMA {}", ident(&scratch)))
        .execute(&mut *tx)
        .await?;
    set_search_path(&mut tx, &scratch).await?;
    sqlx::raw_sql(ddl).execute(&mut *tx).await?;
    let catalog = Catalog::read_schema(&mut tx, &scratch).await?;
    tx.rollback().await?;
    Ok(catalog)
}
