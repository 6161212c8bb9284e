//! `emit-sql check`: do the models still match the migrations folder, or a live database?

use super::catalog::{Catalog, Drift};
use super::diff::Change;
use super::error::MigrateError;
use super::folder::plan_folder;
use crate::ddl::render_schema;
use crate::model::TableDef;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::path::Path;
use std::str::FromStr;

/// The changes a new migration would contain: empty when the folder is up to date.
pub fn check_folder<'a>(
    dir: &Path,
    tables: &[&'a TableDef<'a>],
) -> Result<Vec<Change<'a>>, MigrateError> {
    Ok(plan_folder(dir, tables)?.changes)
}

/// Compares the live database at `url` with what the models' full DDL creates.
///
/// The expected catalog is not guessed: the check creates a scratch database on the same
/// server (`dbpat_check_<random>`, so the role needs CREATEDB), applies the full DDL there,
/// reads both catalogs with the same queries and drops the scratch database again.
pub async fn check_database(
    url: &str,
    tables: &[&TableDef<'_>],
) -> Result<Vec<Drift>, MigrateError> {
    let ddl = render_schema(tables)?;
    let options = PgConnectOptions::from_str(url)?;
    let mut live = options.connect().await?;
    let scratch = format!(
        "dbpat_check_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    sqlx::raw_sql(&format!("CREATE DATABASE {scratch}"))
        .execute(&mut live)
        .await?;
    let expected = expected_catalog(options.clone().database(&scratch), &ddl).await;
    let dropped = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
        .execute(&mut live)
        .await;
    let expected = expected?;
    dropped?;
    let found = Catalog::read(&mut live).await?;
    live.close().await.ok();
    Ok(expected.compare(&found))
}

async fn expected_catalog(options: PgConnectOptions, ddl: &str) -> Result<Catalog, MigrateError> {
    let mut conn = PgConnection::connect_with(&options).await?;
    sqlx::raw_sql(ddl).execute(&mut conn).await?;
    let catalog = Catalog::read(&mut conn).await?;
    conn.close().await.ok();
    Ok(catalog)
}
