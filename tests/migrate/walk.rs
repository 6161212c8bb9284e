//! Walks nine versions of a schema through `emit-sql migrate`. At every step the migrations
//! folder, applied with sqlx's migrator to a fresh database, gives exactly the catalog the
//! version's full DDL gives another fresh database (names included, partitions left out); the
//! same holds for one long-lived database migrated step by step while holding rows; and
//! `check` (folder and `--database`) reports nothing.

use crate::support::migrate as migrate_support;

use dbpat::migrate::{self, Change, ConstraintKind, FileKind, MigrateError, MigrationOutcome};
use dbpat::model::*;
use dbpat::testing::TestDatabase;
use migrate_support::*;
use std::collections::BTreeSet;
use std::path::Path;

const fn col(name: &'static str, base: BaseType) -> ColumnDef<'static> {
    ColumnDef::new(name, name, SqlType::scalar(base))
}
const fn asc(column: &'static str) -> IndexKey<'static> {
    IndexKey {
        column,
        order: SortOrder::Asc,
    }
}
const fn desc(column: &'static str) -> IndexKey<'static> {
    IndexKey {
        column,
        order: SortOrder::Desc,
    }
}
const fn btree(
    name: &'static str,
    keys: &'static [IndexKey<'static>],
    predicate: Option<&'static str>,
) -> IndexDef<'static> {
    IndexDef {
        name,
        kind: IndexKind::BTree(keys),
        unique: false,
        predicate,
    }
}
const fn fk(name: &'static str, on_delete: OnDelete) -> ForeignKeyDef<'static> {
    ForeignKeyDef {
        name,
        table: "users",
        column: "id",
        on_delete,
    }
}

const MONEY: BaseType = BaseType::Numeric {
    precision: 19,
    scale: 4,
};
const ID: ColumnDef = col("id", BaseType::Uuid)
    .primary_key()
    .default(DefaultValue::Expr("gen_random_uuid()"));
const CREATED: ColumnDef = col("created_at", BaseType::TimestampTz)
    .default(DefaultValue::Expr("NOW()"))
    .role(ColumnRole::CreatedAt);
const CREATED_KEY: ColumnDef = CREATED.primary_key();
const UPDATED: ColumnDef = col("updated_at", BaseType::TimestampTz)
    .default(DefaultValue::Expr("NOW()"))
    .role(ColumnRole::UpdatedAt);
const UPDATED_PLAIN: ColumnDef = UPDATED.role(ColumnRole::Plain);

// ---- users ----
const U_EMAIL: ColumnDef = col("email", BaseType::Text);
const U_NAME_NULL: ColumnDef = col("name", BaseType::Text).nullable(true);
const U_NAME: ColumnDef = col("name", BaseType::Text);
const U_STATUS_1: ColumnDef = col("status", BaseType::Text)
    .default(DefaultValue::Text("active"))
    .enum_values(Some(&["active", "inactive", "suspended"]));
const U_STATUS_3: ColumnDef =
    U_STATUS_1.enum_values(Some(&["active", "inactive", "suspended", "banned"]));
const U_STATUS_4: ColumnDef = U_STATUS_1.enum_values(Some(&["active", "suspended", "banned"]));
const U_META: ColumnDef = col("metadata", BaseType::Jsonb).default(DefaultValue::Text("{}"));
const U_META_5: ColumnDef = col("metadata", BaseType::Jsonb).nullable(true);
const U_NICK: ColumnDef = col("nickname", BaseType::Text).nullable(true);

const I_U_CREATED: IndexDef = btree("users_created_at_idx", &[desc("created_at")], None);
const I_U_ACTIVE: IndexDef = btree(
    "users_active_email_idx",
    &[asc("email")],
    Some("status = 'active'"),
);
const I_U_ACTIVE_5: IndexDef = btree(
    "users_active_email_idx",
    &[asc("email")],
    Some("status IN ('active', 'banned')"),
);
const I_U_META: IndexDef = IndexDef {
    name: "users_metadata_idx",
    kind: IndexKind::Gin {
        column: "metadata",
        opclass: Some("jsonb_path_ops"),
    },
    unique: false,
    predicate: None,
};
const I_U_META_6: IndexDef = IndexDef {
    kind: IndexKind::Gin {
        column: "metadata",
        opclass: None,
    },
    ..I_U_META
};
const I_U_ROLE: IndexDef = IndexDef {
    name: "users_role_idx",
    kind: IndexKind::Expression("(metadata->>'role')"),
    unique: false,
    predicate: None,
};
const UQ_EMAIL: UniqueDef = UniqueDef {
    name: "users_email_key",
    columns: &["email"],
};
const UQ_EMAIL_5: UniqueDef = UniqueDef {
    name: "users_email_key",
    columns: &["email", "name"],
};

static USERS_1: TableDef = TableDef {
    indexes: &[I_U_CREATED],
    ..TableDef::new(
        "users",
        "User",
        &[
            ID,
            U_EMAIL,
            U_NAME_NULL,
            U_STATUS_1,
            U_META,
            CREATED,
            UPDATED,
        ],
        &["id"],
    )
};
static USERS_2: TableDef = TableDef {
    uniques: &[UQ_EMAIL],
    indexes: &[I_U_CREATED, I_U_ACTIVE, I_U_META, I_U_ROLE],
    ..TableDef::new(
        "users",
        "User",
        &[ID, U_EMAIL, U_NAME, U_STATUS_1, U_META, CREATED, UPDATED],
        &["id"],
    )
};
static USERS_3: TableDef = TableDef {
    columns: &[
        ID, U_EMAIL, U_NAME, U_STATUS_3, U_META, CREATED, UPDATED, U_NICK,
    ],
    ..USERS_2
};
static USERS_4: TableDef = TableDef {
    columns: &[ID, U_EMAIL, U_NAME, U_STATUS_4, U_META, CREATED, UPDATED],
    ..USERS_2
};
static USERS_5: TableDef = TableDef {
    columns: &[ID, U_EMAIL, U_NAME, U_STATUS_4, U_META_5, CREATED, UPDATED],
    uniques: &[UQ_EMAIL_5],
    indexes: &[I_U_CREATED, I_U_ACTIVE_5, I_U_META, I_U_ROLE],
    ..USERS_2
};
static USERS_6: TableDef = TableDef {
    indexes: &[I_U_CREATED, I_U_ACTIVE_5, I_U_META_6],
    ..USERS_5
};
static USERS_7: TableDef = TableDef {
    columns: &[
        ID,
        U_EMAIL,
        U_NAME,
        U_STATUS_4,
        U_META_5,
        CREATED,
        UPDATED_PLAIN,
    ],
    ..USERS_6
};
static USERS_8: TableDef = TableDef {
    columns: &[ID, U_EMAIL, U_NAME, U_STATUS_4, U_META_5, CREATED, UPDATED],
    ..USERS_6
};

// ---- products ----
const P_NAME: ColumnDef = col("name", BaseType::Text);
const P_CAT: ColumnDef = col("category", BaseType::Text);
const P_CAT_NULL: ColumnDef = P_CAT.nullable(true);
const P_PRICE: ColumnDef = col("price", MONEY);
const P_PRICE_4: ColumnDef = col(
    "price",
    BaseType::Numeric {
        precision: 12,
        scale: 2,
    },
);
const P_STOCK_1: ColumnDef = col("stock", BaseType::Integer).default(DefaultValue::Literal("0"));
const P_STOCK_3: ColumnDef = col("stock", BaseType::BigInt).default(DefaultValue::Literal("10"));
const P_DESC: ColumnDef = col("description", BaseType::Text).nullable(true);
const P_VERSION: ColumnDef = col("version", BaseType::Integer)
    .default(DefaultValue::Literal("1"))
    .role(ColumnRole::Version);
const CK_STOCK: CheckDef = CheckDef {
    name: "products_stock_check",
    expr: "stock >= 0",
};
const CK_STOCK_5: CheckDef = CheckDef {
    name: "products_stock_check",
    expr: "stock >= 0 AND stock < 1000000",
};
const I_P_SEARCH: IndexDef = IndexDef {
    name: "products_search_idx",
    kind: IndexKind::FullText {
        language: "english",
        columns: &["name", "description"],
    },
    unique: false,
    predicate: None,
};
const I_P_CAT: IndexDef = btree("products_category_idx", &[asc("category")], None);

static PRODUCTS_1: TableDef = TableDef::new(
    "products",
    "Product",
    &[ID, P_NAME, P_CAT, P_PRICE, P_STOCK_1, P_DESC],
    &["id"],
);
static PRODUCTS_2: TableDef = TableDef {
    checks: &[CK_STOCK],
    indexes: &[I_P_SEARCH],
    ..PRODUCTS_1
};
static PRODUCTS_3: TableDef = TableDef {
    columns: &[
        ID, P_NAME, P_CAT_NULL, P_PRICE, P_STOCK_3, P_DESC, UPDATED, P_VERSION,
    ],
    indexes: &[I_P_SEARCH, I_P_CAT],
    ..PRODUCTS_2
};
static PRODUCTS_4: TableDef = TableDef {
    columns: &[
        ID, P_NAME, P_CAT_NULL, P_PRICE_4, P_STOCK_3, P_DESC, UPDATED, P_VERSION,
    ],
    ..PRODUCTS_3
};
static PRODUCTS_5: TableDef = TableDef {
    checks: &[CK_STOCK_5],
    ..PRODUCTS_4
};
static PRODUCTS_6: TableDef = TableDef {
    columns: &[
        ID,
        P_NAME,
        P_CAT_NULL,
        P_PRICE_4,
        P_STOCK_3,
        P_DESC,
        UPDATED_PLAIN,
        P_VERSION,
    ],
    archive: true,
    ..PRODUCTS_5
};
static PRODUCTS_9: TableDef = TableDef {
    checks: &[],
    archive: false,
    ..PRODUCTS_6
};

// ---- tags (dropped in v4) ----
static TAGS: TableDef = TableDef::new(
    "tags",
    "Tag",
    &[
        col("id", BaseType::BigInt)
            .primary_key()
            .generated(Generated::Identity),
        col("label", BaseType::Text),
    ],
    &["id"],
);

// ---- orders: partitioned by quarter, with an archive ----
const O_USER: ColumnDef =
    col("user_id", BaseType::Uuid).references(fk("orders_user_id_fkey", OnDelete::Cascade));
const O_USER_NOFK: ColumnDef = col("user_id", BaseType::Uuid);
const O_STATUS: ColumnDef = col("status", BaseType::Text)
    .default(DefaultValue::Text("pending"))
    .enum_values(Some(&["pending", "paid", "shipped", "cancelled"]));
const O_TOTAL: ColumnDef = col("total", MONEY);
const O_TOTAL_7: ColumnDef = col(
    "total",
    BaseType::Numeric {
        precision: 21,
        scale: 4,
    },
);
const O_NOTE: ColumnDef = col("note", BaseType::Text).default(DefaultValue::Text(""));
const O_NOTE_7: ColumnDef = col("note", BaseType::Text).default(DefaultValue::Text("n/a"));
const I_O_USER: IndexDef = btree(
    "orders_user_created_idx",
    &[asc("user_id"), desc("created_at")],
    None,
);
const I_O_PENDING: IndexDef = btree(
    "orders_pending_idx",
    &[asc("created_at")],
    Some("status = 'pending'"),
);
const CK_TOTAL: CheckDef = CheckDef {
    name: "orders_total_check",
    expr: "total >= 0",
};
const QUARTERS: PartitionDef = PartitionDef {
    column: "created_at",
    interval: PartitionInterval::Quarter,
    first: (2025, 1),
    count: 2,
};

static ORDERS_2: TableDef = TableDef {
    indexes: &[I_O_USER],
    partition: Some(QUARTERS),
    archive: true,
    ..TableDef::new(
        "orders",
        "Order",
        &[ID, O_USER, O_STATUS, O_TOTAL, CREATED_KEY],
        &["id", "created_at"],
    )
};
static ORDERS_3: TableDef = TableDef {
    columns: &[ID, O_USER, O_STATUS, O_TOTAL, CREATED_KEY, O_NOTE],
    checks: &[CK_TOTAL],
    indexes: &[I_O_USER, I_O_PENDING],
    ..ORDERS_2
};
static ORDERS_5: TableDef = TableDef {
    partition: Some(PartitionDef {
        count: 4,
        ..QUARTERS
    }),
    ..ORDERS_3
};
static ORDERS_6: TableDef = TableDef {
    columns: &[ID, O_USER_NOFK, O_STATUS, O_TOTAL, CREATED_KEY, O_NOTE],
    ..ORDERS_5
};
static ORDERS_7: TableDef = TableDef {
    columns: &[ID, O_USER, O_STATUS, O_TOTAL_7, CREATED_KEY, O_NOTE_7],
    uniques: &[UniqueDef {
        name: "orders_user_id_created_at_key",
        columns: &["user_id", "created_at"],
    }],
    indexes: &[I_O_PENDING],
    ..ORDERS_5
};
static ORDERS_8: TableDef = TableDef {
    archive: false,
    ..ORDERS_7
};

// ---- accounts ----
const A_USER: ColumnDef = col("user_id", BaseType::Uuid);
const A_USER_3: ColumnDef = A_USER.references(fk("accounts_user_id_fkey", OnDelete::Restrict));
const A_USER_5: ColumnDef = A_USER.references(fk("accounts_user_id_fkey", OnDelete::Cascade));
const A_BALANCE: ColumnDef = col("balance", MONEY).default(DefaultValue::Literal("0"));
const A_KIND: ColumnDef = col("kind", BaseType::Text)
    .default(DefaultValue::Text("personal"))
    .enum_values(Some(&["personal", "business"]));
static ACCOUNTS_2: TableDef = TableDef {
    checks: &[CheckDef {
        name: "accounts_balance_check",
        expr: "balance >= 0",
    }],
    ..TableDef::new("accounts", "Account", &[ID, A_USER, A_BALANCE], &["id"])
};
static ACCOUNTS_3: TableDef = TableDef {
    columns: &[ID, A_USER_3, A_BALANCE],
    ..ACCOUNTS_2
};
static ACCOUNTS_5: TableDef = TableDef {
    columns: &[ID, A_USER_5, A_BALANCE],
    ..ACCOUNTS_2
};
static ACCOUNTS_6: TableDef = TableDef {
    checks: &[],
    ..ACCOUNTS_5
};
static ACCOUNTS_9: TableDef = TableDef {
    columns: &[ID, A_USER_5, A_BALANCE, A_KIND],
    ..ACCOUNTS_6
};

// ---- events: plain, then re-created partitioned by month, then dropped ----
const E_ID: ColumnDef = col("id", BaseType::BigInt)
    .primary_key()
    .generated(Generated::Identity);
const E_PAYLOAD: ColumnDef = col("payload", BaseType::Jsonb).default(DefaultValue::Text("{}"));
static EVENTS_5: TableDef = TableDef::new(
    "events",
    "Event",
    &[E_ID, CREATED_KEY, E_PAYLOAD],
    &["id", "created_at"],
);
static EVENTS_8: TableDef = TableDef {
    partition: Some(PartitionDef {
        column: "created_at",
        interval: PartitionInterval::Month,
        first: (2025, 1),
        count: 3,
    }),
    ..EVENTS_5
};

/// One version of the walk's models.
pub(crate) struct Version {
    pub(crate) name: &'static str,
    pub(crate) tables: Vec<&'static TableDef<'static>>,
    pub(crate) destructive: bool,
}

/// The walk: nine versions, each changing the one before.
pub(crate) fn versions() -> Vec<Version> {
    vec![
        Version {
            name: "initial",
            tables: vec![&USERS_1, &PRODUCTS_1, &TAGS],
            destructive: false,
        },
        Version {
            name: "orders accounts and indexes",
            tables: vec![&USERS_2, &PRODUCTS_2, &TAGS, &ORDERS_2, &ACCOUNTS_2],
            destructive: false,
        },
        Version {
            name: "columns types defaults fks",
            tables: vec![&USERS_3, &PRODUCTS_3, &TAGS, &ORDERS_3, &ACCOUNTS_3],
            destructive: false,
        },
        Version {
            name: "destructive cleanup",
            tables: vec![&USERS_4, &PRODUCTS_4, &ORDERS_3, &ACCOUNTS_3],
            destructive: true,
        },
        Version {
            name: "changed constraints",
            tables: vec![&USERS_5, &PRODUCTS_5, &ORDERS_5, &ACCOUNTS_5, &EVENTS_5],
            destructive: false,
        },
        Version {
            name: "drop trigger fk index add archive",
            tables: vec![&USERS_6, &PRODUCTS_6, &ORDERS_6, &ACCOUNTS_6, &EVENTS_5],
            destructive: false,
        },
        Version {
            name: "unique on partitioned table",
            tables: vec![&USERS_7, &PRODUCTS_6, &ORDERS_7, &ACCOUNTS_6, &EVENTS_5],
            destructive: false,
        },
        Version {
            name: "partition events drop orders archive",
            tables: vec![&USERS_8, &PRODUCTS_6, &ORDERS_8, &ACCOUNTS_6, &EVENTS_8],
            destructive: true,
        },
        Version {
            name: "drop events and products archive",
            tables: vec![&USERS_8, &PRODUCTS_9, &ORDERS_8, &ACCOUNTS_9],
            destructive: true,
        },
    ]
}

/// A name per change kind, to prove the walk covers them all.
pub(crate) fn kinds(change: &Change) -> Vec<&'static str> {
    let mut out = vec![match change {
        Change::CreateExtension(_) => "create extension",
        Change::CreateTriggerFunction(_) => "create trigger function",
        Change::DropTriggerFunction(_) => "drop trigger function",
        Change::CreateTable(t) if t.partition.is_some() => "create partitioned table",
        Change::CreateTable(_) => "create table",
        Change::DropTable { rebuild: true, .. } => "re-create table (partitioning changed)",
        Change::DropTable { .. } => "drop table",
        Change::AddColumn { column, .. } if column.role == ColumnRole::Version => {
            "add version column"
        }
        Change::AddColumn { .. } => "add column",
        Change::DropColumn { .. } => "drop column",
        Change::AlterColumnType { from, to, .. } if migrate::diff::is_widening(*from, *to) => {
            "widen column type"
        }
        Change::AlterColumnType { .. } => "narrow column type",
        Change::SetNotNull { .. } => "set not null",
        Change::DropNotNull { .. } => "drop not null",
        Change::SetDefault { .. } => "set default",
        Change::DropDefault { .. } => "drop default",
        Change::AddIdentity { .. } => "add identity",
        Change::DropIdentity { .. } => "drop identity",
        Change::AddConstraint {
            kind, enum_values, ..
        } => match kind {
            ConstraintKind::Check
                if enum_values.as_ref().is_some_and(|v| !v.dropped.is_empty()) =>
            {
                "drop enum value"
            }
            ConstraintKind::Check if enum_values.is_some() => "map enum value",
            ConstraintKind::Check => "add check",
            ConstraintKind::Unique => "add unique",
            ConstraintKind::ForeignKey => "add foreign key",
            ConstraintKind::PrimaryKey => "add primary key",
        },
        Change::DropConstraint { kind, .. } => match kind {
            ConstraintKind::Check => "drop check",
            ConstraintKind::Unique => "drop unique",
            ConstraintKind::ForeignKey => "drop foreign key",
            ConstraintKind::PrimaryKey => "drop primary key",
        },
        Change::CreateIndex { index, .. } => match index.kind {
            _ if index.predicate.is_some() => "create partial index",
            IndexKind::BTree(_) => "create btree index",
            IndexKind::Gin { .. } => "create gin index",
            IndexKind::Expression(_) => "create expression index",
            IndexKind::FullText { .. } => "create full-text index",
        },
        Change::DropIndex { .. } => "drop index",
        Change::CreateTrigger(_) => "create updated_at trigger",
        Change::DropTrigger { .. } => "drop updated_at trigger",
        Change::CreatePartitions { .. } => "create partitions",
        Change::CreateArchive(_) => "create archive table",
        Change::DropArchive { .. } => "drop archive table",
        Change::PartitionArchive(_) => "partition archive table",
        Change::RenameTable { .. } => "rename table",
        Change::RenameColumn { .. } => "rename column",
        Change::RenameConstraint { .. } => "rename constraint",
        Change::RenameIndex { .. } => "rename index",
    }];
    if let Change::CreateIndex { table, .. } = change {
        if table.partition.is_some() {
            out.push("create index on partitioned table");
        }
    }
    out
}

/// Rows for the long-lived database, so validations and rewrites run over data.
pub(crate) async fn insert_rows(step: usize, live: &TestDatabase) {
    let sql = match step {
        1 => {
            "INSERT INTO users (email, name, status) VALUES ('a@x', 'Ann', 'active'), ('b@x', 'Bob', 'suspended');
             INSERT INTO products (name, category, price, stock) VALUES ('Pen', 'office', 1.5, 3), ('Ink', 'office', 12.25, 0);
             INSERT INTO tags (label) VALUES ('new');"
        }
        2 => {
            "INSERT INTO orders (user_id, total, created_at) SELECT id, 10, '2025-02-01' FROM users;
             CREATE TABLE orders_archive_2024_q2 PARTITION OF orders_archive
                 FOR VALUES FROM ('2024-04-01Z') TO ('2024-07-01Z');
             INSERT INTO orders_archive (id, user_id, status, total, created_at)
                 SELECT gen_random_uuid(), id, 'paid', 5, '2024-06-01' FROM users;
             INSERT INTO accounts (user_id, balance) SELECT id, 100 FROM users;"
        }
        _ => return,
    };
    sqlx::raw_sql(sql).execute(live.pool()).await.unwrap();
}

fn sql_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_migrates_to_the_full_ddl_catalog() {
    // MIGRATE_WALK_DIR=/some/empty/dir keeps the generated folder for reading.
    let folder = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("MIGRATE_WALK_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => folder.path().join("migrations"),
    };
    let live = TestDatabase::new().await;
    let mut covered: BTreeSet<&'static str> = BTreeSet::new();
    let mut file_kinds: BTreeSet<String> = BTreeSet::new();
    let versions = versions();
    assert!(versions.len() >= 8);
    let mut finished: Vec<TestDatabase> = Vec::new();

    for (i, version) in versions.iter().enumerate() {
        let step = i + 1;
        let t0 = std::time::Instant::now();
        let context = format!("step {step} ({})", version.name);
        let before = sql_files(&dir).len();

        if version.destructive {
            match migrate::write_migration(
                &dir,
                version.name,
                &version.tables,
                migrate::WriteOptions::default(),
            ) {
                Err(MigrateError::Destructive(list)) => assert!(!list.is_empty()),
                other => panic!("{context}: destructive step was not refused: {other:?}"),
            }
            assert_eq!(
                sql_files(&dir).len(),
                before,
                "{context}: refused step wrote files"
            );
        }
        let outcome = migrate::write_migration(
            &dir,
            version.name,
            &version.tables,
            migrate::WriteOptions {
                allow_destructive: version.destructive,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{context}: {e}"));
        let MigrationOutcome::Written { files, plan } = outcome else {
            panic!("{context}: no migration written");
        };
        assert_eq!(files.len(), plan.files.len());
        for change in &plan.changes {
            covered.extend(kinds(change));
        }
        for file in &plan.files {
            file_kinds.insert(format!("{:?}", file.kind));
        }
        for (path, file) in files.iter().zip(&plan.files) {
            let text = std::fs::read_to_string(path).unwrap();
            match file.kind {
                FileKind::ConcurrentIndex => {
                    assert!(text.starts_with("-- no-transaction\n"), "{context}: {text}");
                    // Concurrent, except the copy of an index on a partitioned archive (which
                    // PostgreSQL cannot build concurrently).
                    let sql: String = text.lines().filter(|l| !l.starts_with("--")).collect();
                    assert!(
                        sql.contains("CONCURRENTLY")
                            || (text.contains("one index build on a partitioned archive")
                                && sql.contains("INDEX ON orders_archive ")),
                        "{context}: {text}"
                    );
                }
                _ => assert!(text.contains("SET LOCAL lock_timeout"), "{context}: {text}"),
            }
            if version.destructive && file.statements.iter().any(|s| s.destructive.is_some()) {
                assert!(text.contains("-- DESTRUCTIVE: "), "{context}: {text}");
            }
        }

        // The full DDL of this version, and the whole folder on a fresh database.
        let expected = full_ddl_database(&version.tables).await;
        let migrated = migrated_database(&dir).await;
        let expected_fp = fingerprint(expected.pool()).await;
        assert_same_schema(
            &expected_fp,
            &fingerprint(migrated.pool()).await,
            &format!("{context}, fresh database"),
        );
        // The long-lived database, migrated one step at a time while holding rows.
        apply_folder(&dir, live.pool()).await;
        assert_same_schema(
            &expected_fp,
            &fingerprint(live.pool()).await,
            &format!("{context}, step-by-step database"),
        );
        insert_rows(step, &live).await;

        // check: the folder is up to date, and neither database has drifted.
        assert!(migrate::check_folder(&dir, &version.tables)
            .unwrap()
            .is_empty());
        let drift = migrate::check_database(migrated.url(), &version.tables)
            .await
            .unwrap();
        assert!(drift.is_empty(), "{context}: drift reported: {drift:#?}");
        let drift = migrate::check_database(live.url(), &version.tables)
            .await
            .unwrap();
        assert!(
            drift.is_empty(),
            "{context}, step-by-step database: drift reported: {drift:#?}"
        );
        // No change → no file.
        assert!(matches!(
            migrate::write_migration(
                &dir,
                "again",
                &version.tables,
                migrate::WriteOptions::default()
            )
            .unwrap(),
            MigrationOutcome::NoChange
        ));
        expected.pool().close().await;
        migrated.pool().close().await;
        finished.extend([expected, migrated]);
        eprintln!("{context}: {} file(s), {:?}", files.len(), t0.elapsed());
    }

    let required = [
        "create table",
        "create partitioned table",
        "drop table",
        "re-create table (partitioning changed)",
        "add column",
        "add version column",
        "drop column",
        "widen column type",
        "narrow column type",
        "set not null",
        "drop not null",
        "set default",
        "drop default",
        "add check",
        "drop check",
        "drop enum value",
        "add unique",
        "drop unique",
        "add foreign key",
        "drop foreign key",
        "create btree index",
        "create partial index",
        "create gin index",
        "create expression index",
        "create full-text index",
        "create index on partitioned table",
        "drop index",
        "create updated_at trigger",
        "drop updated_at trigger",
        "create trigger function",
        "drop trigger function",
        "create partitions",
        "create archive table",
        "drop archive table",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| !covered.contains(k))
        .collect();
    assert!(missing.is_empty(), "change kinds not covered: {missing:?}");
    assert_eq!(
        file_kinds,
        ["ConcurrentIndex", "Main", "Validate"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    eprintln!(
        "walked {} versions, {} migration files, {} change kinds: {covered:?}",
        versions.len(),
        sql_files(&dir).len(),
        covered.len()
    );
    finished.push(live);
    drop_all(finished);
}
