//! Upgrading an archive to the partitioned form: a database migrated while the DDL created the
//! archive of a partitioned table unpartitioned (snapshot format 1) gets, from `emit-sql
//! migrate`, a step that partitions it like its table and moves its rows into it, losing none;
//! afterwards it equals a fresh build (names included), archiving attaches whole partitions,
//! and the step's block is a no-op when run again. Reverted, the archive is unpartitioned
//! again with the same rows.

use crate::support::migrate as migrate_support;
use crate::support::shop;

use dbpat::migrate::{self, Change, MigrationOutcome};
use dbpat::model::TableDef;
use dbpat::tiers::Tiers;
use dbpat::Entity;
use migrate_support::*;
use sqlx::PgPool;

static ORDERS: TableDef = shop::Order::TABLE;

async fn archive_rows(pool: &PgPool) -> (i64, String) {
    sqlx::query_as(
        "SELECT count(*), coalesce(md5(string_agg(a::text, ',' ORDER BY id, created_at)), '')
         FROM orders_archive AS a",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn relkind(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE relname = 'orders_archive'")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpartitioned_archive_is_partitioned_by_migrate_without_losing_rows() {
    let tables: Vec<&TableDef> = vec![&<shop::User as Entity>::TABLE, &ORDERS];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    let options = migrate::WriteOptions {
        reversible: true,
        ..migrate::WriteOptions::default()
    };
    migrate::write_migration(&dir, "init", &tables, options).unwrap();
    // The folder and database as dbpat left them before archives were partitioned.
    let snapshot = dir.join(".dbpat/schema.json");
    let json = std::fs::read_to_string(&snapshot).unwrap();
    assert!(json.contains("\"format\": 2"), "{json}");
    std::fs::write(&snapshot, json.replace("\"format\": 2", "\"format\": 1")).unwrap();
    let db = migrated_database(&dir).await;
    let pool = db.pool();
    sqlx::raw_sql(
        "DROP TABLE orders_archive;
         CREATE TABLE orders_archive (LIKE orders INCLUDING ALL);
         INSERT INTO users (id, email, name)
             VALUES ('00000000-0000-0000-0000-000000000001', 'a@x', 'A');
         INSERT INTO orders_archive (id, user_id, status, total, created_at)
             SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000001', 'paid', i * 1.5,
                    '2024-01-01Z'::timestamptz + interval '1 day' * i
             FROM generate_series(0, 364) AS i;
         INSERT INTO orders (user_id, total, created_at)
             SELECT '00000000-0000-0000-0000-000000000001', 1, '2025-01-01Z'::timestamptz + interval '1 hour' * i
             FROM generate_series(0, 99) AS i;",
    )
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(relkind(pool).await, "r");
    let before = archive_rows(pool).await;
    assert_eq!(before.0, 365);

    let outcome = migrate::write_migration(&dir, "partition archive", &tables, options).unwrap();
    let MigrationOutcome::Written { files, plan } = outcome else {
        panic!("the old archive form is a change");
    };
    assert_eq!(plan.changes, [Change::PartitionArchive(&ORDERS)]);
    let up = std::fs::read_to_string(
        files
            .iter()
            .find(|f| f.to_string_lossy().ends_with(".up.sql"))
            .unwrap(),
    )
    .unwrap();
    assert!(up.contains("PARTITION BY RANGE (created_at)"), "{up}");
    // The new snapshot is of the current format: the next step plans nothing.
    assert!(matches!(
        migrate::write_migration(&dir, "again", &tables, options).unwrap(),
        MigrationOutcome::NoChange
    ));

    apply_folder(&dir, pool).await;
    assert_eq!(relkind(pool).await, "p");
    assert_eq!(archive_rows(pool).await, before);
    let partitions = crate::support::catalog::partitions_of(pool, "orders_archive").await;
    assert_eq!(
        partitions,
        [
            "orders_archive_2024_q1",
            "orders_archive_2024_q2",
            "orders_archive_2024_q3",
            "orders_archive_2024_q4",
        ]
    );
    let fresh = full_ddl_database(&tables).await;
    assert_same_schema(
        &fingerprint(fresh.pool()).await,
        &fingerprint(pool).await,
        "fresh build vs converted archive",
    );
    // Idempotent: the block again changes nothing.
    sqlx::raw_sql(&up).execute(pool).await.unwrap();
    assert_eq!(archive_rows(pool).await, before);

    // Archiving now attaches whole partitions.
    let report = Tiers::new(&ORDERS)
        .archive(
            pool,
            chrono::DateTime::parse_from_rfc3339("2025-04-01T00:00:00Z")
                .unwrap()
                .into(),
        )
        .await
        .unwrap();
    assert_eq!(report.partitions, ["orders_2025_q1"]);
    assert_eq!(report.attached, ["orders_2025_q1"]);
    assert_eq!(archive_rows(pool).await.0, 465);

    // Reverted: unpartitioned again, with every row.
    let after_archive = archive_rows(pool).await;
    let versions = applied_versions(pool).await;
    revert_folder(&dir, db.url(), versions[0]).await.unwrap();
    assert_eq!(relkind(pool).await, "r");
    assert_eq!(archive_rows(pool).await, after_archive);
    drop_all(vec![db, fresh]);
}
