//! Renames on real PostgreSQL: `renamed_from` on a struct and on fields gives `RENAME TO` /
//! `RENAME COLUMN` (never a destructive drop and add), and the objects named after them follow
//! — unique and check constraints, the foreign key and its index, declared indexes, the
//! `updated_at` trigger, the partitions of a partitioned table, its archive and the archive's
//! PostgreSQL-named indexes. The migrated database keeps its rows and has exactly the catalog a
//! fresh build of the new models has; once applied, the hints can be removed and `check` stays
//! clean.

use crate::support::migrate as migrate_support;

use dbpat::migrate::{self, Change, MigrationOutcome};
use dbpat::model::*;
use dbpat::Entity;
use migrate_support::*;
use std::path::Path;

const fn col(name: &'static str, base: BaseType) -> ColumnDef<'static> {
    ColumnDef::new(name, name, SqlType::scalar(base))
}
const fn btree(name: &'static str, keys: &'static [IndexKey<'static>]) -> IndexDef<'static> {
    IndexDef {
        name,
        kind: IndexKind::BTree(keys),
        unique: false,
        predicate: None,
    }
}
const fn asc(column: &'static str) -> IndexKey<'static> {
    IndexKey {
        column,
        order: SortOrder::Asc,
    }
}

const ID: ColumnDef = col("id", BaseType::Uuid)
    .primary_key()
    .default(DefaultValue::Expr("gen_random_uuid()"));
const UPDATED: ColumnDef = col("updated_at", BaseType::TimestampTz)
    .default(DefaultValue::Expr("NOW()"))
    .role(ColumnRole::UpdatedAt);
const CREATED_KEY: ColumnDef = col("created_at", BaseType::TimestampTz)
    .default(DefaultValue::Expr("NOW()"))
    .role(ColumnRole::CreatedAt)
    .primary_key();

// ---- v1: people (mail), notes.person_id -> people, events (kind) partitioned + archive ----
static PEOPLE: TableDef = TableDef {
    uniques: &[UniqueDef {
        name: "people_mail_key",
        columns: &["mail"],
    }],
    checks: &[CheckDef {
        name: "people_mail_check",
        expr: "mail <> ''",
    }],
    indexes: &[IndexDef {
        predicate: Some("mail LIKE '%@mail.example'"),
        ..btree("people_mail_idx", &[asc("mail")])
    }],
    ..TableDef::new(
        "people",
        "Person",
        &[
            ID,
            col("mail", BaseType::Text),
            col("name", BaseType::Text),
            UPDATED,
        ],
        &["id"],
    )
};
static NOTES: TableDef = TableDef {
    indexes: &[btree("idx_notes_person_id", &[asc("person_id")])],
    ..TableDef::new(
        "notes",
        "Note",
        &[
            ID,
            col("person_id", BaseType::Uuid).references(ForeignKeyDef {
                name: "notes_person_id_fkey",
                table: "people",
                column: "id",
                on_delete: OnDelete::Cascade,
            }),
            col("body", BaseType::Text),
        ],
        &["id"],
    )
};
static EVENTS: TableDef = TableDef {
    indexes: &[btree("events_kind_idx", &[asc("kind")])],
    partition: Some(PartitionDef {
        column: "created_at",
        interval: PartitionInterval::Quarter,
        first: (2025, 1),
        count: 2,
    }),
    archive: true,
    ..TableDef::new(
        "events",
        "Event",
        &[ID, col("kind", BaseType::Text), CREATED_KEY],
        &["id", "created_at"],
    )
};

// ---- v2: users (email), notes.user_id -> users, activities (category) ----
const EMAIL: ColumnDef = col("email", BaseType::Text).renamed_from("mail");
const USER_ID: ColumnDef = col("user_id", BaseType::Uuid)
    .references(ForeignKeyDef {
        name: "notes_user_id_fkey",
        table: "users",
        column: "id",
        on_delete: OnDelete::Cascade,
    })
    .renamed_from("person_id");
const CATEGORY: ColumnDef = col("category", BaseType::Text).renamed_from("kind");

static USERS: TableDef = TableDef {
    name: "users",
    entity: "User",
    columns: &[ID, EMAIL, col("name", BaseType::Text), UPDATED],
    uniques: &[UniqueDef {
        name: "users_email_key",
        columns: &["email"],
    }],
    checks: &[CheckDef {
        name: "users_email_check",
        expr: "email <> ''",
    }],
    indexes: &[IndexDef {
        predicate: Some("email LIKE '%@mail.example'"),
        ..btree("users_email_idx", &[asc("email")])
    }],
    renamed_from: Some("people"),
    ..PEOPLE
};
static NOTES_2: TableDef = TableDef {
    columns: &[ID, USER_ID, col("body", BaseType::Text)],
    indexes: &[btree("idx_notes_user_id", &[asc("user_id")])],
    ..NOTES
};
static ACTIVITIES: TableDef = TableDef {
    name: "activities",
    entity: "Activity",
    columns: &[ID, CATEGORY, CREATED_KEY],
    indexes: &[btree("activities_category_idx", &[asc("category")])],
    renamed_from: Some("events"),
    ..EVENTS
};

// ---- v2 with the hints removed ----
static USERS_PLAIN: TableDef = TableDef {
    columns: &[
        ID,
        col("email", BaseType::Text),
        col("name", BaseType::Text),
        UPDATED,
    ],
    renamed_from: None,
    ..USERS
};
static NOTES_PLAIN: TableDef = TableDef {
    columns: &[
        ID,
        col("user_id", BaseType::Uuid).references(ForeignKeyDef {
            name: "notes_user_id_fkey",
            table: "users",
            column: "id",
            on_delete: OnDelete::Cascade,
        }),
        col("body", BaseType::Text),
    ],
    ..NOTES_2
};
static ACTIVITIES_PLAIN: TableDef = TableDef {
    columns: &[ID, col("category", BaseType::Text), CREATED_KEY],
    renamed_from: None,
    ..ACTIVITIES
};

/// `table` has partitions, each named `<table>_...` (what the tiers maintenance names them).
async fn assert_partitions_named_after(db: &dbpat::testing::TestDatabase, table: &str) {
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = to_regclass($1) ORDER BY 1",
    )
    .bind(table)
    .fetch_all(db.pool())
    .await
    .unwrap();
    let prefix = format!("{table}_");
    assert!(
        !partitions.is_empty() && partitions.iter().all(|p| p.starts_with(&prefix)),
        "{partitions:?}"
    );
}

fn main_file(dir: &Path, name: &str) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(&format!("_{name}.sql")))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .next()
        .unwrap_or_else(|| panic!("no main file for {name}"))
}

#[tokio::test]
async fn renamed_tables_and_columns_keep_their_rows_and_reach_the_fresh_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    migrate::write_migration(
        &dir,
        "init",
        &[&PEOPLE, &NOTES, &EVENTS],
        migrate::WriteOptions::default(),
    )
    .unwrap();
    let db = migrated_database(&dir).await;
    sqlx::raw_sql(
        "INSERT INTO people (id, mail, name) VALUES
            ('00000000-0000-0000-0000-000000000001', 'ada@mail.example', 'Ada'),
            ('00000000-0000-0000-0000-000000000002', 'bob@mail.example', 'Bob');
         INSERT INTO notes (person_id, body)
            SELECT id, 'note of ' || name FROM people;
         INSERT INTO events (kind, created_at) VALUES
            ('signup', '2025-02-01'), ('login', '2025-05-01');
         CREATE TABLE events_archive_2024_01 PARTITION OF events_archive
            FOR VALUES FROM ('2024-01-01Z') TO ('2024-02-01Z');
         INSERT INTO events_archive (id, kind, created_at)
            VALUES (gen_random_uuid(), 'old', '2024-01-01');",
    )
    .execute(db.pool())
    .await
    .unwrap();

    let new = [&USERS, &NOTES_2, &ACTIVITIES];
    let changes = migrate::check_folder(&dir, &new).unwrap();
    assert!(
        changes.iter().all(|c| c.destructive().is_none()),
        "renames are not destructive: {changes:#?}"
    );
    assert!(
        !changes.iter().any(|c| matches!(
            c,
            Change::DropTable { .. } | Change::DropColumn { .. } | Change::AddColumn { .. }
        )),
        "{changes:#?}"
    );
    let renamed = |kind: fn(&Change) -> bool| changes.iter().filter(|c| kind(c)).count();
    assert_eq!(renamed(|c| matches!(c, Change::RenameTable { .. })), 2);
    assert_eq!(renamed(|c| matches!(c, Change::RenameColumn { .. })), 3);
    // pkeys, unique, check, fkey follow the renames; so do the three declared indexes.
    assert_eq!(renamed(|c| matches!(c, Change::RenameConstraint { .. })), 5);
    assert_eq!(renamed(|c| matches!(c, Change::RenameIndex { .. })), 3);

    let outcome =
        migrate::write_migration(&dir, "renames", &new, migrate::WriteOptions::default()).unwrap();
    assert!(
        matches!(outcome, MigrationOutcome::Written { .. }),
        "{outcome:?}"
    );
    let sql = main_file(&dir, "renames");
    for expected in [
        "ALTER TABLE people RENAME TO users;",
        "ALTER TABLE events RENAME TO activities;",
        "ALTER TABLE events_archive RENAME TO activities_archive;",
        "ALTER TABLE users RENAME COLUMN mail TO email;",
        "ALTER TABLE activities_archive RENAME COLUMN kind TO category;",
        "ALTER TABLE users RENAME CONSTRAINT people_mail_key TO users_email_key;",
        "ALTER INDEX idx_notes_person_id RENAME TO idx_notes_user_id;",
    ] {
        assert!(sql.contains(expected), "missing {expected:?} in:\n{sql}");
    }
    assert!(
        !sql.contains("DROP TABLE") && !sql.contains("DROP COLUMN"),
        "{sql}"
    );

    apply_folder(&dir, db.pool()).await;

    // The rows stayed, under the new names.
    let users: Vec<(String, String)> =
        sqlx::query_as("SELECT email, name FROM users ORDER BY email")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(
        users,
        vec![
            ("ada@mail.example".to_owned(), "Ada".to_owned()),
            ("bob@mail.example".to_owned(), "Bob".to_owned())
        ]
    );
    let notes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notes n JOIN users u ON u.id = n.user_id WHERE n.body = 'note of ' || u.name",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(notes, 2);
    let activities: Vec<String> =
        sqlx::query_scalar("SELECT category FROM activities ORDER BY created_at")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(activities, vec!["signup", "login"]);
    let archived: Vec<String> = sqlx::query_scalar("SELECT category FROM activities_archive")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(archived, vec!["old"]);
    // The partitions follow the table: what the tiers maintenance names them.
    assert_partitions_named_after(&db, "activities").await;
    // The trigger still fires, renamed.
    sqlx::query("UPDATE users SET name = 'Ada L.' WHERE email = 'ada@mail.example'")
        .execute(db.pool())
        .await
        .unwrap();

    // Exactly the catalog of a fresh build, names of the archive's indexes included.
    assert_eq!(
        migrate::check_database(db.url(), &new).await.unwrap(),
        vec![]
    );
    let fresh = full_ddl_database(&new).await;
    assert_same_schema(
        &fingerprint(fresh.pool()).await,
        &fingerprint(db.pool()).await,
        "renamed database vs fresh build",
    );

    // Applied: the hints can go, nothing more to migrate.
    let plain = [&USERS_PLAIN, &NOTES_PLAIN, &ACTIVITIES_PLAIN];
    assert!(migrate::check_folder(&dir, &plain).unwrap().is_empty());
    // And a hint left in place does nothing more either.
    assert!(migrate::check_folder(&dir, &new).unwrap().is_empty());
}

/// The derive's side: `renamed_from` on the struct and on a field are the model's hints.
#[derive(Debug, Clone, Entity)]
#[dbpat(table = "users", renamed_from = "people")]
pub struct User {
    #[dbpat(primary_key)]
    pub id: uuid::Uuid,
    #[dbpat(renamed_from = "mail")]
    pub email: String,
}

#[test]
fn renamed_from_attributes_are_the_models_hints() {
    assert_eq!(User::TABLE.renamed_from, Some("people"));
    assert_eq!(
        User::TABLE.column("email").unwrap().renamed_from,
        Some("mail")
    );
    assert_eq!(User::TABLE.column("id").unwrap().renamed_from, None);
    // Hints are not schema: the DDL is the same without them.
    let columns = [
        User::TABLE.columns[0],
        ColumnDef {
            renamed_from: None,
            ..User::TABLE.columns[1]
        },
    ];
    let plain = TableDef {
        columns: &columns,
        renamed_from: None,
        ..User::TABLE
    };
    assert_eq!(
        dbpat::ddl::render_schema(&[&User::TABLE]).unwrap(),
        dbpat::ddl::render_schema(&[&plain]).unwrap()
    );
}

/// Written reversible, the renames revert: the catalog is exactly the one before (the
/// archive's PostgreSQL-named indexes included), the rows are there under the old names, and
/// running the step again reaches the renamed catalog.
#[tokio::test]
async fn renames_revert_to_the_old_names_with_their_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    let reversible = migrate::WriteOptions {
        reversible: true,
        ..Default::default()
    };
    migrate::write_migration(&dir, "init", &[&PEOPLE, &NOTES, &EVENTS], reversible).unwrap();
    let db = migrated_database(&dir).await;
    sqlx::raw_sql(
        "INSERT INTO people (id, mail, name) VALUES
            ('00000000-0000-0000-0000-000000000001', 'ada@mail.example', 'Ada');
         INSERT INTO notes (person_id, body) SELECT id, 'hello' FROM people;
         INSERT INTO events (kind, created_at) VALUES ('signup', '2025-02-01');
         CREATE TABLE events_archive_2024_01 PARTITION OF events_archive
            FOR VALUES FROM ('2024-01-01Z') TO ('2024-02-01Z');
         INSERT INTO events_archive (id, kind, created_at)
            VALUES (gen_random_uuid(), 'old', '2024-01-01');",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let before = fingerprint(db.pool()).await;
    let init = *applied_versions(db.pool()).await.last().unwrap();

    let new = [&USERS, &NOTES_2, &ACTIVITIES];
    // The folder is reversible: the next step is written reversible without asking.
    migrate::write_migration(&dir, "renames", &new, migrate::WriteOptions::default()).unwrap();
    let down = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_renames.down.sql"))
        .expect("the renames step has a down file");
    let down = std::fs::read_to_string(down).unwrap();
    for expected in [
        "ALTER TABLE users RENAME TO people;",
        "ALTER TABLE activities_archive RENAME TO events_archive;",
        "ALTER TABLE users RENAME COLUMN email TO mail;",
        "ALTER TABLE users RENAME CONSTRAINT users_email_key TO people_mail_key;",
        "ALTER INDEX idx_notes_user_id RENAME TO idx_notes_person_id;",
    ] {
        assert!(down.contains(expected), "missing {expected:?} in:\n{down}");
    }
    apply_folder(&dir, db.pool()).await;
    let after = fingerprint(db.pool()).await;
    assert_ne!(before, after);

    revert_folder(&dir, db.url(), init).await.unwrap();
    assert_same_schema(&before, &fingerprint(db.pool()).await, "renames reverted");
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT p.mail, n.body FROM people p JOIN notes n ON n.person_id = p.id")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(rows, vec![("ada@mail.example".into(), "hello".into())]);
    let archived: Vec<String> = sqlx::query_scalar("SELECT kind FROM events_archive")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(archived, vec!["old"]);
    assert_partitions_named_after(&db, "events").await;

    apply_folder(&dir, db.pool()).await;
    assert_same_schema(&after, &fingerprint(db.pool()).await, "renames again");
}
