//! Shared helpers of the migration tests: apply a folder with sqlx's migrator, apply the full
//! DDL, and fingerprint a database's schema (names included, partitions left out).
#![allow(dead_code)]

use dbpat::ddl::render_schema;
use dbpat::model::TableDef;
use dbpat::testing::TestDatabase;
use sqlx::PgPool;
use std::path::Path;

/// Applies every migration of `dir` (in version order) with sqlx's migrator.
pub async fn apply_folder(dir: &Path, pool: &PgPool) {
    let migrator = sqlx::migrate::Migrator::new(dir)
        .await
        .unwrap_or_else(|e| panic!("cannot read migrations in {}: {e}", dir.display()));
    migrator
        .run(pool)
        .await
        .unwrap_or_else(|e| panic!("migrations of {} failed: {e:?}", dir.display()));
}

/// Reverts every migration of `dir` newer than `target` with sqlx's migrator, newest first,
/// as `sqlx migrate revert --target-version <target>` does (the CLI calls the same
/// `Migrator::undo`), on a connection of its own that is closed afterwards, as the CLI's
/// is when it exits: a failed revert returns without releasing the migrator's advisory lock,
/// which would block every later migration on a pooled connection.
pub async fn revert_folder(
    dir: &Path,
    url: &str,
    target: i64,
) -> Result<(), sqlx::migrate::MigrateError> {
    use sqlx::Connection;
    let migrator = sqlx::migrate::Migrator::new(dir)
        .await
        .unwrap_or_else(|e| panic!("cannot read migrations in {}: {e}", dir.display()));
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    let result = migrator.undo(&mut conn, target).await;
    conn.close().await.ok();
    result
}

/// The versions sqlx has applied to the database, ascending.
pub async fn applied_versions(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

/// A fresh database built from the full DDL of `tables`.
pub async fn full_ddl_database(tables: &[&TableDef<'_>]) -> TestDatabase {
    let db = TestDatabase::new().await;
    let ddl = render_schema(tables).unwrap();
    sqlx::raw_sql(&ddl)
        .execute(db.pool())
        .await
        .unwrap_or_else(|e| panic!("full DDL failed: {e}\n{ddl}"));
    db
}

/// A fresh database built by applying the folder's migrations.
pub async fn migrated_database(dir: &Path) -> TestDatabase {
    let db = TestDatabase::new().await;
    apply_folder(dir, db.pool()).await;
    db
}

use super::catalog as common;
#[allow(unused_imports)] // one binary uses it, the others do not
pub use super::catalog::assert_same_schema;

/// The exact fingerprint (names, validity flags and functions included).
pub async fn fingerprint(pool: &PgPool) -> Vec<String> {
    common::schema_fingerprint(pool, common::Names::Included).await
}

/// Drops test databases side by side. Call it from a multi-thread runtime only: it blocks the
/// calling thread while each pool closes, and a pool's connections close on the runtime that
/// opened them (a current-thread test runtime, blocked here, would never close them).
/// Every `DROP DATABASE` waits for a server checkpoint;
/// concurrent drops share checkpoints, so dropping them together is much faster than in turn.
pub fn drop_all(dbs: Vec<TestDatabase>) {
    let threads: Vec<_> = dbs
        .into_iter()
        .map(|db| {
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(db.drop_now())
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
