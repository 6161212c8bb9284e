//! The index on each foreign-key column: which foreign keys get one (`idx_<table>_<col>`),
//! which are covered by an index the model already has (declared index, `unique`,
//! `unique(a, b)`, primary key), the `no_index` opt-out, names that never collide, the index of
//! a partitioned child on its parent; and, on real PostgreSQL, that deleting a parent looks
//! the children up through it.

use crate::support::catalog::apply;
use crate::support::{features, shop};

use chrono::{DateTime, Utc};
use dbpat::ddl::{render_create_index, render_schema, render_table_statements};
use dbpat::model::{IndexKind, TableDef};
use dbpat::testing::TestDatabase;
use dbpat::Entity;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Entity)]
#[dbpat(table = "authors")]
pub struct Author {
    #[dbpat(primary_key)]
    pub id: Uuid,
    pub name: String,
}

/// Foreign keys no index starts with: `author_id` (an index over `(title, author_id)` does not
/// start with it, nor does a partial one count), the self-reference `reply_to`; `editor_id`
/// opts out.
#[allow(clippy::duplicated_attributes)] // rust-clippy#12923, see docs/models.md
#[derive(Entity)]
#[dbpat(table = "posts")]
#[dbpat(index(title, author_id))]
#[dbpat(index(author_id, where = "title <> ''"))]
#[dbpat(index(expr = "lower(title)"))]
pub struct Post {
    #[dbpat(primary_key)]
    pub id: Uuid,
    #[dbpat(references(Author, on_delete = cascade))]
    pub author_id: Uuid,
    #[dbpat(references(Author, on_delete = set_null, no_index))]
    pub editor_id: Option<Uuid>,
    #[dbpat(references(Self, on_delete = set_null))]
    pub reply_to: Option<Uuid>,
    pub title: String,
}

/// Every foreign key here already has an index that starts with it: `post_id` the primary key
/// `(post_id, author_id)`, `author_id` the declared `index(author_id, created_at desc)`,
/// `reviewer_id` the `unique(reviewer_id, post_id)`, `curator_id` its `unique`, `sponsor_id`
/// a unique `index(...)`.
#[derive(Entity)]
#[dbpat(table = "reviews")]
#[dbpat(index(author_id, created_at desc))]
#[dbpat(index(unique, sponsor_id, created_at))]
#[dbpat(unique(reviewer_id, post_id))]
pub struct Review {
    #[dbpat(primary_key, references(Post, on_delete = cascade))]
    pub post_id: Uuid,
    #[dbpat(primary_key, references(Author, on_delete = cascade))]
    pub author_id: Uuid,
    #[dbpat(references(Author, on_delete = cascade))]
    pub reviewer_id: Uuid,
    #[dbpat(unique, references(Author, on_delete = set_null))]
    pub curator_id: Option<Uuid>,
    #[dbpat(references(Author, on_delete = set_null))]
    pub sponsor_id: Option<Uuid>,
    #[dbpat(created_at)]
    pub created_at: DateTime<Utc>,
}

/// A composite primary key covers only the foreign key it starts with: `author_id`, second in
/// `(post_id, author_id)`, gets its own index.
#[derive(Entity)]
#[dbpat(table = "post_authors")]
pub struct PostAuthor {
    #[dbpat(primary_key, references(Post, on_delete = cascade))]
    pub post_id: Uuid,
    #[dbpat(primary_key, references(Author, on_delete = cascade))]
    pub author_id: Uuid,
}

/// A declared index already has the name `idx_drafts_author_id`: the foreign-key index takes
/// `idx_drafts_author_id_fk`.
#[derive(Entity)]
#[dbpat(table = "drafts")]
#[dbpat(index(title, name = "idx_drafts_author_id"))]
pub struct Draft {
    #[dbpat(primary_key)]
    pub id: Uuid,
    #[dbpat(references(Author, on_delete = cascade))]
    pub author_id: Uuid,
    pub title: String,
}

/// A partitioned child with an archive: the index is created on the parent, which builds one
/// on every partition.
#[derive(Entity)]
#[dbpat(table = "activities", archive)]
#[dbpat(partition(by = at, interval = month, from = "2025-01-01", count = 2))]
pub struct Activity {
    #[dbpat(primary_key)]
    pub id: Uuid,
    #[dbpat(primary_key)]
    pub at: DateTime<Utc>,
    #[dbpat(references(Author, on_delete = cascade))]
    pub author_id: Uuid,
}

fn tables() -> Vec<&'static TableDef<'static>> {
    vec![
        &Author::TABLE,
        &Post::TABLE,
        &Review::TABLE,
        &PostAuthor::TABLE,
        &Draft::TABLE,
        &Activity::TABLE,
    ]
}

fn table_sql(table: &TableDef) -> String {
    render_table_statements(table).join("\n")
}

/// The `CREATE INDEX` statements of the indexes the model adds for its foreign keys: those
/// after the `declared` ones.
fn added(table: &TableDef, declared: usize) -> Vec<String> {
    table.indexes[declared..]
        .iter()
        .map(|i| render_create_index(table, i))
        .collect()
}

#[test]
fn a_foreign_key_no_index_starts_with_gets_one() {
    assert_eq!(
        added(&Post::TABLE, 3),
        [
            "CREATE INDEX idx_posts_author_id ON posts (author_id);",
            "CREATE INDEX idx_posts_reply_to ON posts (reply_to);",
        ]
    );
    let sql = table_sql(&Post::TABLE);
    for index in added(&Post::TABLE, 3) {
        assert!(sql.contains(&index), "{sql}");
    }
}

#[test]
fn no_index_opts_out() {
    assert!(Post::TABLE
        .column("editor_id")
        .unwrap()
        .references
        .is_some());
    assert!(Post::TABLE
        .indexes
        .iter()
        .all(|i| !render_create_index(&Post::TABLE, i).contains("editor_id")));
    assert!(!table_sql(&Post::TABLE).contains("ON posts (editor_id)"));
}

#[test]
fn an_index_a_unique_a_composite_unique_or_the_primary_key_starting_with_it_covers_it() {
    assert_eq!(Review::TABLE.indexes.len(), 2, "only the declared ones");
    let sql = table_sql(&Review::TABLE);
    assert_eq!(sql.matches("CREATE INDEX").count(), 1, "{sql}");
    assert_eq!(sql.matches("CREATE UNIQUE INDEX").count(), 1, "{sql}");
}

#[test]
fn a_composite_primary_key_covers_only_its_first_column() {
    assert_eq!(
        added(&PostAuthor::TABLE, 0),
        ["CREATE INDEX idx_post_authors_author_id ON post_authors (author_id);"]
    );
}

#[test]
fn the_name_of_a_declared_index_is_never_taken() {
    assert_eq!(
        added(&Draft::TABLE, 1),
        ["CREATE INDEX idx_drafts_author_id_fk ON drafts (author_id);"]
    );
    let sql = table_sql(&Draft::TABLE);
    assert!(sql.contains("CREATE INDEX idx_drafts_author_id ON drafts (title);"));
    assert!(sql.contains("CREATE INDEX idx_drafts_author_id_fk ON drafts (author_id);"));
}

#[test]
fn a_partitioned_child_gets_it_on_the_parent() {
    assert_eq!(
        added(&Activity::TABLE, 0),
        ["CREATE INDEX idx_activities_author_id ON activities (author_id);"]
    );
    let sql = table_sql(&Activity::TABLE);
    let index = sql
        .find("CREATE INDEX idx_activities_author_id ON activities (author_id);")
        .expect(&sql);
    // Before the partitions and the archive, like every index of the parent.
    assert!(index < sql.find("PARTITION OF").unwrap(), "{sql}");
    assert!(index < sql.find("activities_archive").unwrap(), "{sql}");
}

#[test]
fn foreign_key_index_schema() {
    insta::assert_snapshot!(render_schema(&tables()).unwrap());
}

/// An index of `table` that PostgreSQL can use to find the rows whose `column` equals a
/// value: a B-tree starting with it without a predicate, the primary key or a UNIQUE
/// constraint starting with it. Written here from the model, independently of the derive.
fn leading_index<'a>(table: &TableDef<'a>, column: &str) -> Option<&'a str> {
    if table.primary_key.first() == Some(&column) {
        return Some("pkey");
    }
    if let Some(u) = table
        .uniques
        .iter()
        .find(|u| u.columns.first() == Some(&column))
    {
        return Some(u.name);
    }
    table
        .indexes
        .iter()
        .find(|i| match i.kind {
            IndexKind::BTree(keys) => i.predicate.is_none() && keys[0].column == column,
            _ => false,
        })
        .map(|i| i.name)
}

#[test]
fn every_foreign_key_of_every_model_has_an_index_unless_opted_out() {
    let mut models = tables();
    models.extend(features::tables());
    models.extend([
        &shop::User::TABLE,
        &shop::Product::TABLE,
        &shop::Order::TABLE,
        &shop::Account::TABLE,
    ]);
    let mut unindexed = Vec::new();
    for table in models {
        for column in table.columns.iter().filter(|c| c.references.is_some()) {
            if leading_index(table, column.name).is_none() {
                unindexed.push(format!("{}.{}", table.name, column.name));
            }
        }
    }
    assert_eq!(unindexed, ["posts.editor_id"]);
    // The shop's foreign keys are covered by the reference schema's own indexes, so the shop
    // models still reproduce it (see `catalog::shop_models_reproduce_the_reference_schema`).
    assert_eq!(
        leading_index(&shop::Order::TABLE, "user_id"),
        Some("idx_orders_user_id_created_at")
    );
    assert_eq!(
        leading_index(&shop::Account::TABLE, "user_id"),
        Some("idx_accounts_user_id")
    );
}

// ---- on real PostgreSQL ----

async fn strings(pool: &PgPool, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
}

#[tokio::test]
async fn the_indexes_land_in_the_catalog_partitions_included() {
    let db = TestDatabase::new().await;
    let pool = db.pool();
    apply(
        pool,
        "the foreign-key models' DDL",
        &render_schema(&tables()).unwrap(),
    )
    .await;
    let posts = strings(
        pool,
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'posts' ORDER BY indexname",
    )
    .await;
    assert!(posts.contains(
        &"CREATE INDEX idx_posts_author_id ON public.posts USING btree (author_id)".to_owned()
    ));
    assert!(posts.contains(
        &"CREATE INDEX idx_posts_reply_to ON public.posts USING btree (reply_to)".to_owned()
    ));
    assert!(posts.iter().all(|i| !i.contains("editor_id")), "{posts:#?}");
    let parent = strings(
        pool,
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_activities_author_id'",
    )
    .await;
    assert_eq!(
        parent,
        ["CREATE INDEX idx_activities_author_id ON ONLY public.activities USING btree (author_id)"]
    );
    // Each partition has its copy, attached to the parent's index; the archive has its own.
    let attached = strings(
        pool,
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'idx_activities_author_id'::regclass ORDER BY 1",
    )
    .await;
    assert_eq!(
        attached,
        [
            "activities_2025_01_author_id_idx",
            "activities_2025_02_author_id_idx"
        ]
    );
    let archive = strings(
        pool,
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'activities_archive' AND indexdef LIKE '%(author_id)'",
    )
    .await;
    assert_eq!(archive.len(), 1, "{archive:#?}");
    db.drop_now().await;
}

/// Scans of `relation` counted in the current transaction (index scans for an index,
/// sequential scans for a table).
async fn scans_in_transaction(tx: &mut sqlx::PgConnection, relation: &str) -> i64 {
    sqlx::query_scalar("SELECT pg_stat_get_xact_numscans($1::regclass)")
        .bind(relation)
        .fetch_one(tx)
        .await
        .unwrap()
}

/// `pg_stat_user_indexes.idx_scan` (each statement is its own transaction, so it reads fresh
/// statistics).
async fn idx_scan(pool: &PgPool, index: &str) -> i64 {
    sqlx::query_scalar("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = $1")
        .bind(index)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// 100,000 posts and 100,000 activities of 10,000 authors; deleting one author runs the foreign
/// keys' ON DELETE actions, which find that author's rows through the foreign-key indexes (on
/// every partition of `activities`), while `editor_id`, opted out, costs a sequential scan of
/// the whole `posts` table.
#[tokio::test]
async fn deleting_a_parent_finds_the_children_through_the_index() {
    let db = TestDatabase::new().await;
    let pool = db.pool();
    apply(
        pool,
        "the foreign-key models' DDL",
        &render_schema(&tables()).unwrap(),
    )
    .await;
    apply(
        pool,
        "the seed rows",
        "INSERT INTO authors (name) SELECT 'a' || g FROM generate_series(1, 10000) g;
         INSERT INTO posts (author_id, title) SELECT a.id, 'p' || g FROM authors a, generate_series(1, 10) g;
         INSERT INTO activities (author_id, at)
             SELECT a.id, '2025-01-01Z'::timestamptz + g * interval '5 days'
             FROM authors a, generate_series(1, 10) g;
         ANALYZE;",
    )
    .await;
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    assert_eq!(count("SELECT count(*) FROM posts").await, 100_000);
    assert_eq!(count("SELECT count(*) FROM activities").await, 100_000);
    let author: Uuid = sqlx::query_scalar("SELECT id FROM authors ORDER BY name LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let partition_indexes = strings(
        pool,
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'idx_activities_author_id'::regclass ORDER BY 1",
    )
    .await;
    let before = idx_scan(pool, "idx_posts_author_id").await;

    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
    let deleted = sqlx::query("DELETE FROM authors WHERE id = $1")
        .bind(author)
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    // The cascades ran inside this transaction, through the indexes.
    assert!(scans_in_transaction(&mut conn, "idx_posts_author_id").await >= 1);
    for index in &partition_indexes {
        assert!(
            scans_in_transaction(&mut conn, index).await >= 1,
            "{index} was not used"
        );
    }
    // The opted-out foreign key's SET NULL had no index: it read `posts` sequentially.
    assert!(scans_in_transaction(&mut conn, "posts").await >= 1);
    sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    let remaining: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM posts WHERE author_id = $1)
              + (SELECT count(*) FROM activities WHERE author_id = $1)",
    )
    .bind(author)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(remaining, 0, "the cascades removed the author's rows");
    // The cumulative statistics show it too, once the deleting backend has flushed them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let after = idx_scan(pool, "idx_posts_author_id").await;
        if after > before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pg_stat_user_indexes.idx_scan of idx_posts_author_id stayed at {after}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    db.drop_now().await;
}
