//! Upgrading to the foreign-key indexes: a database built by models without them (what the
//! derive made before it indexed foreign keys) gets them from `emit-sql migrate` —
//! concurrently on a plain table; on a partitioned one per partition, concurrently, then
//! attached, and its archive's copy concurrently — and then equals a fresh build, with `check`
//! clean.

use crate::support::migrate as migrate_support;

use dbpat::migrate::{self, Drift, MigrationOutcome};
use dbpat::testing::TestDatabase;
use migrate_support::*;

/// The same models twice: `models!(no_index)` opts every foreign key out of its index (the
/// derive's output before foreign keys were indexed), `models!()` is the current model.
macro_rules! models {
    ($($no_index:ident)?) => {
        use chrono::{DateTime, Utc};
        use dbpat::Entity;
        use uuid::Uuid;

        #[derive(Entity)]
        #[dbpat(table = "authors")]
        pub struct Author {
            #[dbpat(primary_key)]
            pub id: Uuid,
            pub name: String,
        }

        #[derive(Entity)]
        #[dbpat(table = "posts")]
        pub struct Post {
            #[dbpat(primary_key)]
            pub id: Uuid,
            #[dbpat(references(Author, on_delete = cascade $(, $no_index)?))]
            pub author_id: Uuid,
            pub title: String,
        }

        #[derive(Entity)]
        #[dbpat(table = "activities", archive)]
        #[dbpat(partition(by = at, interval = month, from = "2025-01-01", count = 2))]
        pub struct Activity {
            #[dbpat(primary_key)]
            pub id: Uuid,
            #[dbpat(primary_key)]
            pub at: DateTime<Utc>,
            #[dbpat(references(Author, on_delete = cascade $(, $no_index)?))]
            pub author_id: Uuid,
        }

        pub fn tables() -> [&'static dbpat::model::TableDef<'static>; 3] {
            [&Author::TABLE, &Post::TABLE, &Activity::TABLE]
        }
    };
}

mod before {
    models!(no_index);
}

mod after {
    models!();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_built_without_the_foreign_key_indexes_gets_them_from_migrate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    migrate::write_migration(
        &dir,
        "init",
        &before::tables(),
        migrate::WriteOptions::default(),
    )
    .unwrap();
    let db = TestDatabase::new().await;
    apply_folder(&dir, db.pool()).await;
    sqlx::raw_sql(
        "INSERT INTO authors (name) SELECT 'a' || g FROM generate_series(1, 100) g;
         INSERT INTO posts (author_id, title) SELECT a.id, 't' FROM authors a, generate_series(1, 10);
         INSERT INTO activities (author_id, at) SELECT a.id, '2025-02-01Z' FROM authors a;
         CREATE TABLE activities_archive_2024_06 PARTITION OF activities_archive
             FOR VALUES FROM ('2024-06-01Z') TO ('2024-07-01Z');
         INSERT INTO activities_archive (id, author_id, at) SELECT gen_random_uuid(), a.id, '2024-06-01Z' FROM authors a;",
    )
    .execute(db.pool())
    .await
    .unwrap();

    let new = after::tables();
    // The database and the folder both lack exactly the new indexes.
    let mut missing: Vec<String> = migrate::check_database(db.url(), &new)
        .await
        .unwrap()
        .into_iter()
        .map(|d| match d {
            Drift::Missing { object, .. } => object,
            other => panic!("unexpected drift {other:?}"),
        })
        .collect();
    missing.sort();
    assert_eq!(
        missing,
        [
            "index activities.idx_activities_author_id",
            "index activities_archive.activities_archive_author_id_idx",
            "index posts.idx_posts_author_id",
        ]
    );
    let changes: Vec<String> = migrate::check_folder(&dir, &new)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        changes,
        [
            "create index CREATE INDEX idx_activities_author_id ON activities (author_id)",
            "create index CREATE INDEX idx_posts_author_id ON posts (author_id)",
        ]
    );

    let MigrationOutcome::Written { files, .. } =
        migrate::write_migration(&dir, "fk indexes", &new, migrate::WriteOptions::default())
            .unwrap()
    else {
        panic!("the new indexes are a change");
    };
    let text = |suffix: &str| {
        let file = files
            .iter()
            .find(|f| f.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no file *{suffix} in {files:#?}"));
        std::fs::read_to_string(file).unwrap()
    };
    let snapshot = std::fs::read_to_string(dir.join(migrate::SNAPSHOT_PATH)).unwrap();
    assert!(snapshot.contains("idx_posts_author_id"));
    // A partitioned table: the parent index ON ONLY in the main file, then a concurrent build
    // per partition, attached in the validation file.
    let main = text("_fk_indexes.sql");
    assert!(
        main.contains("CREATE INDEX idx_activities_author_id ON ONLY activities (author_id);"),
        "{main}"
    );
    assert!(main.contains("partitioned table"), "{main}");
    assert!(!main.contains("idx_posts_author_id"), "{main}");
    for partition in ["activities_2025_01", "activities_2025_02"] {
        assert!(text(&format!("_fk_indexes_index_{partition}_idx_activities_author_id.sql"))
            .contains(&format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS {partition}_idx_activities_author_id ON {partition} (author_id);")));
    }
    assert!(text("_fk_indexes_validate.sql").contains("ATTACH PARTITION"));
    assert!(text("_fk_indexes_index_idx_posts_author_id.sql")
        .contains("CREATE INDEX CONCURRENTLY idx_posts_author_id ON posts (author_id);"));
    assert!(
        text("_fk_indexes_index_activities_archive_idx_activities_author_id.sql")
            .contains("CREATE INDEX ON activities_archive (author_id);")
    );

    apply_folder(&dir, db.pool()).await;
    assert_eq!(
        migrate::check_database(db.url(), &new).await.unwrap(),
        vec![]
    );
    assert!(migrate::check_folder(&dir, &new).unwrap().is_empty());
    // Every partition got its copy of the parent's index.
    let attached: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'idx_activities_author_id'::regclass",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(attached, 2);
    // And the migrated catalog is the fresh build's, names and validity included.
    let fresh = full_ddl_database(&new).await;
    assert_same_schema(
        &fingerprint(fresh.pool()).await,
        &fingerprint(db.pool()).await,
        "fresh build vs migrated",
    );
    // Closed here: the drops run on threads of their own while this runtime waits for them.
    db.pool().close().await;
    fresh.pool().close().await;
    drop_all(vec![db, fresh]);
}
