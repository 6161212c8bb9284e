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

/// A fresh database built from the full DDL of `tables`.
pub async fn full_ddl_database(tables: &[&'static TableDef]) -> TestDatabase {
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

const RELS: &str =
    "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
    AND c.relname <> '_sqlx_migrations'";

/// The schema of `public` as sorted lines, like `tools/schema-fingerprint` but with object
/// names: tables, columns, constraints, indexes, triggers and trigger functions.
pub async fn fingerprint(pool: &PgPool) -> Vec<String> {
    let queries = [
        "SELECT 'table ' || r.relname || ' kind=' || c.relkind::text || coalesce(' ' || pg_get_partkeydef(r.oid), '') \
         FROM r JOIN pg_class c ON c.oid = r.oid",
        "SELECT 'column ' || r.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) \
           || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END \
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') \
           || ' identity=' || a.attidentity::text \
         FROM r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum",
        "SELECT 'constraint ' || r.relname || '.' || co.conname || ' ' || co.contype::text || ' ' \
           || pg_get_constraintdef(co.oid) || ' validated=' || co.convalidated::text \
         FROM r JOIN pg_constraint co ON co.conrelid = r.oid",
        "SELECT 'index ' || r.relname || ' ' || pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid::text \
         FROM r JOIN pg_index i ON i.indrelid = r.oid",
        "SELECT 'trigger ' || r.relname || ' ' || pg_get_triggerdef(t.oid) \
         FROM r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal",
    ];
    let mut lines = Vec::new();
    for q in queries {
        let sql = format!("WITH r AS ({RELS}) {q}");
        let rows: Vec<(String,)> = sqlx::query_as(&sql).fetch_all(pool).await.unwrap();
        lines.extend(rows.into_iter().map(|r| r.0));
    }
    let functions: Vec<(String,)> = sqlx::query_as(
        "SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p \
         JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    lines.extend(functions.into_iter().map(|r| r.0));
    lines.sort();
    lines
}

/// Panics with a line diff when two fingerprints differ.
pub fn assert_same_schema(expected: &[String], found: &[String], context: &str) {
    if expected == found {
        return;
    }
    let missing: Vec<&String> = expected.iter().filter(|l| !found.contains(l)).collect();
    let extra: Vec<&String> = found.iter().filter(|l| !expected.contains(l)).collect();
    panic!(
        "{context}: schemas differ\n  only in the full-DDL database:\n    {}\n  only in the migrated database:\n    {}",
        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n    "),
        extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n    "),
    );
}

/// Drops test databases side by side. Every `DROP DATABASE` waits for a server checkpoint;
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
