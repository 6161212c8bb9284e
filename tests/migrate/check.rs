//! `emit-sql migrate` refuses destructive changes without the flag; `emit-sql check` fails
//! after a model edit and passes after `migrate`; `check --database` reports drift made by hand;
//! a snapshot written by an earlier dbpat still reads back as the models it was written from, and
//! `migrate` brings its folder up to date with today's (the foreign-key indexes).

use crate::support::features;
use crate::support::migrate as migrate_support;

use clap::Parser;
use dbpat::emit_sql::{run, Cli};
use dbpat::migrate::{self, Drift, MigrateError, MigrationOutcome};
use dbpat::model::*;
use dbpat::testing::TestDatabase;
use migrate_support::*;
use std::path::Path;

const fn col(name: &'static str, base: BaseType) -> ColumnDef<'static> {
    ColumnDef::new(name, name, SqlType::scalar(base))
}
const ID: ColumnDef = col("id", BaseType::Uuid)
    .primary_key()
    .default(DefaultValue::Expr("gen_random_uuid()"));
const STATUS: ColumnDef = col("status", BaseType::Text)
    .default(DefaultValue::Text("open"))
    .enum_values(Some(&["open", "closed", "lost"]));
const QTY: ColumnDef = col("qty", BaseType::BigInt).default(DefaultValue::Literal("0"));
const CREATED: ColumnDef = col("created_at", BaseType::TimestampTz)
    .default(DefaultValue::Expr("NOW()"))
    .role(ColumnRole::CreatedAt);
const IDX: &[IndexDef] = &[IndexDef {
    name: "tickets_created_at_idx",
    kind: IndexKind::BTree(&[IndexKey {
        column: "created_at",
        order: SortOrder::Desc,
    }]),
    unique: false,
    predicate: None,
}];

static TICKETS: TableDef = TableDef {
    indexes: IDX,
    ..TableDef::new("tickets", "Ticket", &[ID, STATUS, QTY, CREATED], &["id"])
};
static NOTES: TableDef =
    TableDef::new("notes", "Note", &[ID, col("body", BaseType::Text)], &["id"]);
// Every destructive kind at once: notes dropped, tickets.created_at dropped, qty narrowed,
// the 'lost' status dropped.
static TICKETS_SHRUNK: TableDef = TableDef::new(
    "tickets",
    "Ticket",
    &[
        ID,
        STATUS.enum_values(Some(&["open", "closed"])),
        col("qty", BaseType::Integer).default(DefaultValue::Literal("0")),
    ],
    &["id"],
);
// A harmless edit: a new nullable column.
static TICKETS_NOTED: TableDef = TableDef {
    columns: &[
        ID,
        STATUS,
        QTY,
        CREATED,
        col("note", BaseType::Text).nullable(true),
    ],
    ..TICKETS
};

fn cli(dir: &Path, args: &[&str]) -> Cli {
    let mut argv = vec!["emit-sql".to_owned(), args[0].to_owned()];
    argv.push("--dir".to_owned());
    argv.push(dir.to_str().unwrap().to_owned());
    argv.extend(args[1..].iter().map(|s| (*s).to_owned()));
    Cli::try_parse_from(argv).unwrap()
}

fn sql_file_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".sql")
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
fn destructive_changes_are_refused_without_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    run(
        &cli(&dir, &["migrate", "--name", "init"]),
        &[&TICKETS, &NOTES],
    )
    .unwrap();
    assert_eq!(sql_file_count(&dir), 1);
    let snapshot_before = std::fs::read_to_string(dir.join(migrate::SNAPSHOT_PATH)).unwrap();

    let err = run(
        &cli(&dir, &["migrate", "--name", "shrink"]),
        &[&TICKETS_SHRUNK],
    )
    .unwrap_err();
    let MigrateError::Destructive(list) = &err else {
        panic!("expected a destructive refusal, got {err}");
    };
    let message = err.to_string();
    assert!(message.contains("--allow-destructive"), "{message}");
    for expected in [
        "drop table `notes`",
        "drop column `tickets.created_at`",
        "narrow column `tickets.qty` from BIGINT to INTEGER",
        "drop enum value 'lost'",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} not named in:\n{message}"
        );
    }
    assert_eq!(list.len(), 4, "{list:#?}");
    // Nothing was written: no file, snapshot unchanged.
    assert_eq!(sql_file_count(&dir), 1);
    assert_eq!(
        std::fs::read_to_string(dir.join(migrate::SNAPSHOT_PATH)).unwrap(),
        snapshot_before
    );

    // With the flag the file is written and every destructive statement is marked.
    run(
        &cli(
            &dir,
            &["migrate", "--name", "shrink", "--allow-destructive"],
        ),
        &[&TICKETS_SHRUNK],
    )
    .unwrap();
    let written: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("_shrink"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(
        written.matches("-- DESTRUCTIVE: ").count(),
        // drop table, drop column, narrow type, and the enum CHECK's re-add and validation
        5,
        "{written}"
    );
    assert!(
        written.contains("-- DESTRUCTIVE: drop table `notes` and its rows\nDROP TABLE notes;"),
        "{written}"
    );
    assert!(written.contains("USING qty::INTEGER"), "{written}");
}

#[test]
fn check_fails_after_a_model_edit_and_passes_after_migrate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    // An empty folder: check fails (the models are not migrated at all).
    assert!(matches!(
        run(&cli(&dir, &["check"]), &[&TICKETS]),
        Err(MigrateError::Drift(_))
    ));
    run(&cli(&dir, &["migrate", "--name", "init"]), &[&TICKETS]).unwrap();
    run(&cli(&dir, &["check"]), &[&TICKETS]).unwrap();

    let err = run(&cli(&dir, &["check"]), &[&TICKETS_NOTED]).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, MigrateError::Drift(_)));
    assert!(message.contains("add column tickets.note"), "{message}");

    run(
        &cli(&dir, &["migrate", "--name", "add note"]),
        &[&TICKETS_NOTED],
    )
    .unwrap();
    run(&cli(&dir, &["check"]), &[&TICKETS_NOTED]).unwrap();
    // No change → no file.
    let files = sql_file_count(&dir);
    run(
        &cli(&dir, &["migrate", "--name", "nothing"]),
        &[&TICKETS_NOTED],
    )
    .unwrap();
    assert_eq!(sql_file_count(&dir), files);
}

#[test]
fn the_binary_check_exits_non_zero_on_a_stale_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    let bin = env!("CARGO_BIN_EXE_emit-sql");
    let check = || {
        std::process::Command::new(bin)
            .args(["check", "--dir", dir.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("create table users"));
    let out = std::process::Command::new(bin)
        .args(["migrate", "--dir", dir.to_str().unwrap(), "--name", "init"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(check().status.success());
    // The first migration of an empty folder is the full schema.
    let full = std::process::Command::new(bin).output().unwrap().stdout;
    let first = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sql"))
        .unwrap();
    let text = std::fs::read_to_string(first).unwrap();
    assert!(text.contains(String::from_utf8(full).unwrap().trim_end()));
}

/// `emit-sql migrate --reversible` writes sqlx's pairs; the folder then stays reversible.
#[test]
fn the_binary_writes_reversible_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    let bin = env!("CARGO_BIN_EXE_emit-sql");
    let migrate = |extra: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(["migrate", "--dir", dir.to_str().unwrap(), "--name", "init"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let printed = migrate(&["--reversible"]);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("_init.down.sql") && names[1].ends_with("_init.up.sql"));
    assert!(
        printed.contains(".up.sql") && printed.contains(".down.sql"),
        "{printed}"
    );
    let down = std::fs::read_to_string(dir.join(&names[0])).unwrap();
    assert!(down.contains("DROP TABLE IF EXISTS users;"), "{down}");
    assert!(!down.contains("IRREVERSIBLE"), "{down}");
}

#[tokio::test]
async fn check_database_reports_drift_made_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    migrate::write_migration(&dir, "init", &[&TICKETS], migrate::WriteOptions::default()).unwrap();
    let db = TestDatabase::new().await;
    apply_folder(&dir, db.pool()).await;
    assert_eq!(
        migrate::check_database(db.url(), &[&TICKETS])
            .await
            .unwrap(),
        vec![]
    );

    sqlx::raw_sql(
        "DROP INDEX tickets_created_at_idx;
         ALTER TABLE tickets ADD COLUMN extra TEXT;
         ALTER TABLE tickets ALTER COLUMN qty SET DEFAULT 5;",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let drift = migrate::check_database(db.url(), &[&TICKETS])
        .await
        .unwrap();
    assert_eq!(drift.len(), 3, "{drift:#?}");
    assert!(
        drift
            .iter()
            .any(|d| matches!(d, Drift::Missing { object, expected }
            if object == "index tickets.tickets_created_at_idx"
                && expected.contains("USING btree (created_at DESC)"))),
        "{drift:#?}"
    );
    assert!(drift.contains(&Drift::Differs {
        object: "column tickets.qty".into(),
        expected: "bigint NOT NULL DEFAULT 0".into(),
        found: "bigint NOT NULL DEFAULT 5".into(),
    }));
    assert!(drift.contains(&Drift::Unexpected {
        object: "column tickets.extra".into(),
        found: "text NULL".into(),
    }));

    // The CLI form exits non-zero and lists each object.
    let args = ["emit-sql", "check", "--database", db.url()];
    let err = run(&Cli::try_parse_from(args).unwrap(), &[&TICKETS]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("index tickets.tickets_created_at_idx: missing"),
        "{message}"
    );
    assert!(
        message.contains("column tickets.extra: unexpected"),
        "{message}"
    );
    assert!(
        message.contains("column tickets.qty: differs: expected bigint NOT NULL DEFAULT 0, found bigint NOT NULL DEFAULT 5"),
        "{message}"
    );
    db.drop_now().await;
}

/// The indexes dbpat adds on the feature models' foreign-key columns since it indexes them.
const FK_INDEXES: [&str; 3] = [
    "idx_memberships_matrix_id",
    "idx_memberships_billing_tenant",
    "idx_memberships_fallback_matrix",
];

/// `features_schema_format_1.json` is the snapshot of the feature models as dbpat wrote it when
/// the snapshot had serde types of its own, before foreign-key columns were indexed: the model
/// types read it back as those models (today's without their foreign-key indexes) and write it
/// back byte for byte; a folder holding it needs exactly the foreign-key indexes, each built
/// concurrently in its own file, and the archive of the partitioned `events` partitioned (the
/// format-1 DDL created it unpartitioned), and is up to date after `migrate`.
#[test]
fn snapshots_of_format_1_read_back_unchanged() {
    let json = include_str!("../support/features_schema_format_1.json");
    let tables = features::tables();
    let kept: Vec<Vec<IndexDef>> = tables
        .iter()
        .map(|t| {
            t.indexes
                .iter()
                .filter(|i| !FK_INDEXES.contains(&i.name))
                .copied()
                .collect()
        })
        .collect();
    let then: Vec<TableDef> = tables
        .iter()
        .zip(&kept)
        .map(|(t, indexes)| TableDef { indexes, ..**t })
        .collect();
    let then: Vec<&TableDef> = then.iter().collect();
    let arena = migrate::Bump::new();
    let read = migrate::SchemaSnapshot::from_json(json, &arena).unwrap();
    assert_eq!(read.format, 1);
    assert_eq!(
        read.tables,
        migrate::SchemaSnapshot::from_tables(&then).tables
    );
    assert_eq!(read.to_json(), json);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    std::fs::create_dir_all(dir.join(".dbpat")).unwrap();
    std::fs::write(dir.join(migrate::SNAPSHOT_PATH), json).unwrap();
    std::fs::write(dir.join("20250101000000_init.sql"), "SELECT 1;\n").unwrap();
    let archive: Vec<String> = migrate::check_folder(&dir, &then)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        archive,
        ["partition archive table events_archive like events"]
    );
    let mut changes: Vec<String> = migrate::check_folder(&dir, &tables)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        [
            "create index CREATE INDEX idx_memberships_billing_tenant ON memberships (billing_tenant)",
            "create index CREATE INDEX idx_memberships_fallback_matrix ON memberships (fallback_matrix)",
            "create index CREATE INDEX idx_memberships_matrix_id ON memberships (matrix_id)",
            "partition archive table events_archive like events",
        ]
    );
    let MigrationOutcome::Written { files, .. } = migrate::write_migration(
        &dir,
        "fk indexes",
        &tables,
        migrate::WriteOptions::default(),
    )
    .unwrap() else {
        panic!("the foreign-key indexes are a change");
    };
    for index in FK_INDEXES {
        let file = files
            .iter()
            .find(|f| {
                f.to_string_lossy()
                    .ends_with(&format!("_index_{index}.sql"))
            })
            .unwrap_or_else(|| panic!("no file for {index}: {files:#?}"));
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.starts_with("-- no-transaction\n"), "{text}");
        assert!(
            text.contains(&format!(
                "CREATE INDEX CONCURRENTLY {index} ON memberships ("
            )),
            "{text}"
        );
    }
    assert_eq!(migrate::check_folder(&dir, &tables).unwrap(), Vec::new());
}

/// A login role without CREATEDB (nor superuser) that may CREATE in one database: what many
/// managed PostgreSQL services give an application. Dropped with its grants on drop.
struct PlainRole {
    name: String,
    database: String,
}

impl PlainRole {
    async fn new(db: &TestDatabase) -> Self {
        let name = format!(
            "dbpat_plain_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::raw_sql(&format!(
            "CREATE ROLE {name} LOGIN NOCREATEDB NOSUPERUSER NOCREATEROLE;
             GRANT CREATE, CONNECT ON DATABASE {db} TO {name};",
            db = db.name()
        ))
        .execute(db.pool())
        .await
        .unwrap();
        PlainRole {
            name,
            database: db.name().to_owned(),
        }
    }

    fn url(&self) -> String {
        format!("postgres://{}@127.0.0.1:5432/{}", self.name, self.database)
    }
}

impl Drop for PlainRole {
    fn drop(&mut self) {
        let (name, database) = (self.name.clone(), self.database.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    use sqlx::Connection;
                    let url = format!(
                        "{}/{database}",
                        dbpat::testing::pg_admin_url().rsplit_once('/').unwrap().0
                    );
                    if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                        let _ = sqlx::raw_sql(&format!(
                            "DROP OWNED BY {name}; DROP ROLE IF EXISTS {name}"
                        ))
                        .execute(&mut c)
                        .await;
                    }
                });
        })
        .join();
    }
}

/// Scratch schemas and databases a check could have left (`dbpat_check_*`).
async fn check_leftovers(db: &TestDatabase) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'dbpat\\_check\\_%' \
         UNION ALL SELECT datname::text FROM pg_database WHERE datname LIKE 'dbpat\\_check\\_%'",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn check_database_needs_no_createdb() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    migrate::write_migration(&dir, "init", &[&TICKETS], migrate::WriteOptions::default()).unwrap();
    let db = TestDatabase::new().await;
    apply_folder(&dir, db.pool()).await;
    let role = PlainRole::new(&db).await;
    // The role really cannot create a database.
    let mut plain = <sqlx::PgConnection as sqlx::Connection>::connect(&role.url())
        .await
        .unwrap();
    let refused = sqlx::raw_sql("CREATE DATABASE dbpat_should_not_exist")
        .execute(&mut plain)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );
    assert_eq!(
        migrate::check_database(&role.url(), &[&TICKETS])
            .await
            .unwrap(),
        vec![]
    );
    sqlx::raw_sql("ALTER TABLE tickets ALTER COLUMN qty SET DEFAULT 5")
        .execute(db.pool())
        .await
        .unwrap();
    let drift = migrate::check_database(&role.url(), &[&TICKETS])
        .await
        .unwrap();
    assert_eq!(drift.len(), 1, "{drift:#?}");
    assert!(
        matches!(&drift[0], Drift::Differs { object, found, .. }
            if object == "column tickets.qty" && found.contains("DEFAULT 5")),
        "{drift:#?}"
    );
    // The live database gained nothing: no scratch schema, no scratch database.
    assert_eq!(check_leftovers(&db).await, Vec::<String>::new());
    drop(plain);
}

/// `emit-sql check --database`, killed (SIGKILL, so no handler of its own runs) or interrupted
/// (SIGINT, Ctrl-C) at many points of its run, leaves no scratch schema or database and no
/// session behind: the scratch work is one transaction PostgreSQL rolls back when the
/// connection goes.
#[tokio::test]
async fn an_interrupted_check_leaves_nothing_behind() {
    let db = TestDatabase::new().await;
    let bin = env!("CARGO_BIN_EXE_emit-sql");
    let mut interrupted = 0;
    for (i, delay_ms) in (0..60).step_by(4).enumerate() {
        let mut child = std::process::Command::new(bin)
            .args(["check", "--database", db.url()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        let signal = if i % 2 == 0 { "-KILL" } else { "-INT" };
        let _ = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        if status.code().is_none() {
            interrupted += 1;
        }
    }
    assert!(
        interrupted > 5,
        "only {interrupted} runs were interrupted mid-way"
    );
    // The server notices each closed connection and rolls its transaction back.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let sessions: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2",
        )
        .bind(migrate::CHECK_APPLICATION_NAME)
        .bind(db.name())
        .fetch_one(db.pool())
        .await
        .unwrap();
        if sessions == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sessions} check session(s) still open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(check_leftovers(&db).await, Vec::<String>::new());
    // A run left alone still completes (and reports the empty database's drift).
    let out = std::process::Command::new(bin)
        .args(["check", "--database", db.url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing"),
        "{out:?}"
    );
    assert_eq!(check_leftovers(&db).await, Vec::<String>::new());
}
