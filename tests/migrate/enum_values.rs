//! Enum values removed while rows hold them, on real PostgreSQL: a value mapped with
//! `#[dbpat(was = "old")]` moves its rows (table and archive) before the new CHECK, so the
//! migration applies whole and the catalog equals a fresh build; an unmapped removal is refused
//! naming the value, and, written with `--allow-destructive`, stops in its first file (which
//! rolls back whole) while a row still holds the value — never half applied.

use crate::support::migrate as migrate_support;

use dbpat::migrate::{self, Change, MigrateError, MigrationOutcome};
use dbpat::model::*;
use dbpat::testing::TestDatabase;
use dbpat::{ColumnType, DbEnum, Entity};
use migrate_support::*;
use std::path::Path;

const ID: ColumnDef = ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt))
    .primary_key()
    .generated(Generated::Identity);
const KIND_V1: ColumnDef = ColumnDef::new("kind", "kind", SqlType::scalar(BaseType::Text))
    .default(DefaultValue::Text("solo"))
    .enum_values(Some(&["team", "solo", "duo"]));
/// `team` becomes `group` (mapped), `duo` is removed with nothing mapping it.
const KIND_V2: ColumnDef = ColumnDef::new("kind", "kind", SqlType::scalar(BaseType::Text))
    .default(DefaultValue::Text("solo"))
    .enum_values(Some(&["group", "solo"]))
    .enum_was(&[("team", "group"), ("duo", "solo")]);
/// Only `team` renamed to `group`: the rows of `group` are exactly those of `team`.
const KIND_RENAMED: ColumnDef = ColumnDef::new("kind", "kind", SqlType::scalar(BaseType::Text))
    .default(DefaultValue::Text("solo"))
    .enum_values(Some(&["group", "solo", "duo"]))
    .enum_was(&[("team", "group")]);
const KIND_V2_UNMAPPED_DUO: ColumnDef = KIND_V2.enum_was(&[("team", "group")]);
const KIND_V2_HINT_REMOVED: ColumnDef = KIND_V2.enum_was(&[]);

static CREWS_V1: TableDef = TableDef {
    archive: true,
    ..TableDef::new("crews", "Crew", &[ID, KIND_V1], &["id"])
};
static CREWS_V2: TableDef = TableDef {
    columns: &[ID, KIND_V2],
    ..CREWS_V1
};
static CREWS_RENAMED: TableDef = TableDef {
    columns: &[ID, KIND_RENAMED],
    ..CREWS_V1
};
static CREWS_V2_UNMAPPED: TableDef = TableDef {
    columns: &[ID, KIND_V2_UNMAPPED_DUO],
    ..CREWS_V1
};
static CREWS_V2_HINT_REMOVED: TableDef = TableDef {
    columns: &[ID, KIND_V2_HINT_REMOVED],
    ..CREWS_V1
};

/// The derive's side: `was` on a variant is the column's `enum_was`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, DbEnum)]
pub enum CrewKind {
    #[dbpat(was = "team")]
    Group,
    #[dbpat(was = "duo", was = "trio")]
    Solo,
}

#[derive(Debug, Clone, Entity)]
#[dbpat(table = "crews")]
pub struct Crew {
    #[dbpat(primary_key)]
    pub id: i64,
    pub kind: CrewKind,
}

#[test]
fn was_on_variants_is_the_columns_mapping() {
    assert_eq!(
        <CrewKind as ColumnType>::ENUM_WAS,
        &[("team", "group"), ("duo", "solo"), ("trio", "solo")]
    );
    let kind = Crew::TABLE.column("kind").unwrap();
    assert_eq!(kind.enum_was, <CrewKind as ColumnType>::ENUM_WAS);
    assert_eq!(kind.enum_values, Some(&["group", "solo"][..]));
    // A hint, not schema: the DDL does not change with it.
    let plain = TableDef {
        columns: &[ID, KIND_V2_HINT_REMOVED],
        ..CREWS_V1
    };
    assert_eq!(
        dbpat::ddl::render_schema(&[&CREWS_V2]).unwrap(),
        dbpat::ddl::render_schema(&[&plain]).unwrap()
    );
}

/// A database migrated to `CREWS_V1` holding `team`, `solo` and `duo` rows in the table and in
/// its archive; the folder at `dir`.
async fn seeded(dir: &Path) -> TestDatabase {
    migrate::write_migration(dir, "init", &[&CREWS_V1], migrate::WriteOptions::default()).unwrap();
    let db = migrated_database(dir).await;
    sqlx::raw_sql(
        "INSERT INTO crews (kind) VALUES ('team'), ('team'), ('solo'), ('duo'), ('team');
         INSERT INTO crews_archive (id, kind) VALUES (100, 'team'), (101, 'duo'), (102, 'solo');",
    )
    .execute(db.pool())
    .await
    .unwrap();
    db
}

async fn kinds(db: &TestDatabase, table: &str) -> Vec<(i64, String)> {
    sqlx::query_as(&format!("SELECT id, kind FROM {table} ORDER BY id"))
        .fetch_all(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn mapped_values_move_their_rows_and_the_migration_applies_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    let db = seeded(&dir).await;
    let before = kinds(&db, "crews").await;

    let outcome = migrate::write_migration(
        &dir,
        "kinds",
        &[&CREWS_V2],
        migrate::WriteOptions::default(),
    )
    .unwrap();
    assert!(
        matches!(outcome, MigrationOutcome::Written { .. }),
        "{outcome:?}"
    );
    let main_file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_kinds.sql"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .next()
        .expect("the step's main file");
    assert!(
        main_file.contains(
            "UPDATE crews SET kind = CASE kind WHEN 'team' THEN 'group' WHEN 'duo' THEN 'solo' END WHERE kind IN ('team', 'duo');"
        ),
        "{main_file}"
    );
    assert!(
        main_file.contains("UPDATE crews_archive SET kind"),
        "{main_file}"
    );
    assert!(!main_file.contains("DESTRUCTIVE"), "{main_file}");

    apply_folder(&dir, db.pool()).await;
    let after = kinds(&db, "crews").await;
    let expected: Vec<(i64, String)> = before
        .iter()
        .map(|(id, kind)| {
            let kind = match kind.as_str() {
                "team" => "group",
                "duo" => "solo",
                other => other,
            };
            (*id, kind.to_owned())
        })
        .collect();
    assert_eq!(after, expected);
    assert_eq!(
        kinds(&db, "crews_archive").await,
        vec![
            (100, "group".to_owned()),
            (101, "solo".to_owned()),
            (102, "solo".to_owned())
        ]
    );
    // The new CHECK is in force, validated, and the catalog is what a fresh build makes.
    let refused = sqlx::query("INSERT INTO crews (kind) VALUES ('team')")
        .execute(db.pool())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("check constraint"),
        "{refused}"
    );
    assert_eq!(
        migrate::check_database(db.url(), &[&CREWS_V2])
            .await
            .unwrap(),
        vec![]
    );
    // Once applied, the hint can go: nothing more to migrate.
    assert!(migrate::check_folder(&dir, &[&CREWS_V2_HINT_REMOVED])
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_unmapped_removal_is_refused_naming_the_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    migrate::write_migration(&dir, "init", &[&CREWS_V1], migrate::WriteOptions::default()).unwrap();
    let err = migrate::write_migration(
        &dir,
        "kinds",
        &[&CREWS_V2_UNMAPPED],
        migrate::WriteOptions::default(),
    )
    .unwrap_err();
    let MigrateError::Destructive(lines) = &err else {
        panic!("expected Destructive, got {err:?}");
    };
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("'duo'"), "{lines:?}");
    assert!(!lines[0].contains("'team'"), "{lines:?}");
    assert!(lines[0].contains("was = \"duo\""), "{lines:?}");
    // The planned change knows both kinds of removed value.
    let changes = migrate::check_folder(&dir, &[&CREWS_V2_UNMAPPED]).unwrap();
    let values = changes
        .iter()
        .find_map(|c| match c {
            Change::AddConstraint { enum_values, .. } => enum_values.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(values.mapped, vec![("team".to_owned(), "group".to_owned())]);
    assert_eq!(values.dropped, vec!["duo".to_owned()]);
}

#[tokio::test]
async fn a_forced_unmapped_removal_stops_whole_while_rows_hold_the_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    let db = seeded(&dir).await;
    let before = fingerprint(db.pool()).await;
    let rows_before = kinds(&db, "crews").await;
    migrate::write_migration(
        &dir,
        "kinds",
        &[&CREWS_V2_UNMAPPED],
        migrate::WriteOptions {
            allow_destructive: true,
            ..Default::default()
        },
    )
    .unwrap();

    // Each run on a connection of its own: a failed run leaves sqlx's advisory lock with its
    // connection, which closing releases.
    let migrator = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    let connect = || async {
        <sqlx::PgConnection as sqlx::Connection>::connect(db.url())
            .await
            .unwrap()
    };
    let mut conn = connect().await;
    let err = migrator.run(&mut conn).await.unwrap_err();
    drop(conn);
    let text = format!("{err}");
    assert!(
        text.contains("still hold kind value(s) duo"),
        "the guard names the value: {text}"
    );
    // Nothing of the step was committed: same schema, same rows, old CHECK still in force.
    assert_eq!(fingerprint(db.pool()).await, before);
    assert_eq!(kinds(&db, "crews").await, rows_before);
    sqlx::query("INSERT INTO crews (kind) VALUES ('team')")
        .execute(db.pool())
        .await
        .unwrap();

    // Once no row holds the value, the same files apply (the mapped `team` rows move).
    sqlx::raw_sql(
        "UPDATE crews SET kind = 'solo' WHERE kind = 'duo';
         UPDATE crews_archive SET kind = 'solo' WHERE kind = 'duo';",
    )
    .execute(db.pool())
    .await
    .unwrap();
    migrator.run(&mut connect().await).await.unwrap();
    assert!(kinds(&db, "crews")
        .await
        .iter()
        .all(|(_, k)| k == "group" || k == "solo"));
    assert_eq!(
        migrate::check_database(db.url(), &[&CREWS_V2_UNMAPPED])
            .await
            .unwrap(),
        vec![]
    );
}

/// Written reversible: a renamed value (`team` → `group`, a value of its own) reverts exactly,
/// rows written since included; a value merged into another (`duo` → `solo`, which rows
/// already held) cannot, and the revert refuses naming it, changing nothing.
#[tokio::test]
async fn a_renamed_value_reverts_and_a_merged_one_refuses() {
    let reversible = migrate::WriteOptions {
        reversible: true,
        ..Default::default()
    };
    // Renamed.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    migrate::write_migration(&dir, "init", &[&CREWS_V1], reversible).unwrap();
    let db = migrated_database(&dir).await;
    sqlx::raw_sql(
        "INSERT INTO crews (kind) VALUES ('team'), ('solo'), ('duo'), ('team');
         INSERT INTO crews_archive (id, kind) VALUES (100, 'team'), (101, 'duo');",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let (rows, archived) = (kinds(&db, "crews").await, kinds(&db, "crews_archive").await);
    let before = fingerprint(db.pool()).await;
    let init = *applied_versions(db.pool()).await.last().unwrap();
    migrate::write_migration(&dir, "rename team", &[&CREWS_RENAMED], reversible).unwrap();
    apply_folder(&dir, db.pool()).await;
    sqlx::query("INSERT INTO crews (id, kind) VALUES (50, 'group')")
        .execute(db.pool())
        .await
        .unwrap();
    revert_folder(&dir, db.url(), init).await.unwrap();
    assert_same_schema(&before, &fingerprint(db.pool()).await, "rename reverted");
    let mut expected = rows.clone();
    expected.push((50, "team".to_owned()));
    expected.sort();
    assert_eq!(kinds(&db, "crews").await, expected);
    assert_eq!(kinds(&db, "crews_archive").await, archived);

    // Merged.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    migrate::write_migration(&dir, "init", &[&CREWS_V1], reversible).unwrap();
    let db = migrated_database(&dir).await;
    let init = *applied_versions(db.pool()).await.last().unwrap();
    migrate::write_migration(&dir, "kinds", &[&CREWS_V2], reversible).unwrap();
    apply_folder(&dir, db.pool()).await;
    let after = fingerprint(db.pool()).await;
    let err = revert_folder(&dir, db.url(), init).await.unwrap_err();
    let message = format!("{err:?}");
    assert!(
        message.contains("cannot be reverted")
            && message.contains("'duo'")
            && !message.contains("'team'"),
        "{message}"
    );
    assert_same_schema(&after, &fingerprint(db.pool()).await, "merge refused");
}
