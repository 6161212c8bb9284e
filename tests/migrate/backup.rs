//! Backup and recovery: a database built from the shop's models — rows in every table, the
//! orders' quarterly partitions, rows archived into `orders_archive`, the `updated_at`
//! triggers — is dumped with `pg_dump --format=custom` and restored with `pg_restore` into a
//! fresh database. The copy has the same catalog (names, validity flags, partitions and their
//! bounds, enum labels, functions), the same rows in every table and partition, a clean
//! `emit-sql check --database`, and triggers that still fire.

use crate::support::migrate::{fingerprint, full_ddl_database};
use crate::support::pg_tools;
use crate::support::shop::{Account, Order, Product, User};
use crate::support::tiers::{load_orders, utc};
use dbpat::migrate;
use dbpat::model::TableDef;
use dbpat::testing::TestDatabase;
use dbpat::tiers::Tiers;
use dbpat::Entity;
use sqlx::PgPool;

fn shop_tables() -> [&'static TableDef<'static>; 4] {
    [
        &User::TABLE,
        &Product::TABLE,
        &Order::TABLE,
        &Account::TABLE,
    ]
}

/// Users, products, accounts, 1,215 orders from 2024 to mid-2025, and the orders before 2025
/// archived (the tiers create the partitions the rows need; archiving drops 2024's).
async fn seed(pool: &PgPool) {
    sqlx::raw_sql(
        "INSERT INTO users (email, name, status, metadata)
         SELECT 'u' || i || '@example.com', 'User ' || i,
                (ARRAY['active','suspended'])[1 + i % 2],
                jsonb_build_object('role', CASE WHEN i % 3 = 0 THEN 'admin' ELSE 'member' END)
         FROM generate_series(1, 40) AS i;
         INSERT INTO products (name, description, category, price, stock, attributes)
         SELECT 'Lamp ' || i, 'A lamp with ' || i || ' bulbs', 'lamps', i * 9.99, i,
                jsonb_build_object('bulbs', i)
         FROM generate_series(1, 15) AS i;
         INSERT INTO accounts (user_id, balance)
         SELECT id, 100.50 FROM users;",
    )
    .execute(pool)
    .await
    .unwrap();
    let tiers = Tiers::new(&ORDERS);
    tiers
        .ensure_partitions_at(pool, utc(2024, 1, 1), 6)
        .await
        .unwrap();
    let users: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM users ORDER BY email")
        .fetch_all(pool)
        .await
        .unwrap();
    for (i, user) in users.iter().take(6).enumerate() {
        load_orders(
            pool,
            *user,
            utc(2024, 1, 1),
            utc(2025, 6, 30),
            200 + i as i64,
        )
        .await;
    }
    let archived = tiers.archive(pool, utc(2025, 1, 1)).await.unwrap();
    assert!(archived.rows > 0, "some orders reached the archive");
}

static ORDERS: TableDef = Order::TABLE;

/// Everything the catalog says beyond the schema fingerprint: partitions with their bounds
/// (the fingerprint leaves them out), enum labels, and the public functions.
async fn catalog_extras(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'partition ' || p.relname || ' of ' || c.relname || ' '
                || pg_get_expr(p.relpartbound, p.oid)
         FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
         JOIN pg_class c ON c.oid = i.inhparent
         WHERE p.relkind IN ('r', 'p')
         UNION ALL
         SELECT 'enum ' || t.typname || ' '
                || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname
         UNION ALL
         SELECT 'function ' || p.proname || ' ' || md5(pg_get_functiondef(p.oid))
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public'
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `(relation, rows, md5 of the rows in text order)` for every table and partition.
async fn contents(pool: &PgPool) -> Vec<(String, i64, String)> {
    let relations: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for relation in relations {
        // Identifiers from the catalog, quoted by PostgreSQL itself (quote_ident).
        let quoted: String = sqlx::query_scalar("SELECT quote_ident($1)")
            .bind(&relation)
            .fetch_one(pool)
            .await
            .unwrap();
        let (rows, digest): (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '')
             FROM {quoted} AS t"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        out.push((relation, rows, digest));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dump_restores_into_an_equal_database_that_checks_clean() {
    let tables = shop_tables();
    let source = full_ddl_database(&tables).await;
    seed(source.pool()).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.dump");
    pg_tools::dump(&source, &file);
    let restored = TestDatabase::new().await;
    pg_tools::restore(&restored, &file, false);

    let (a, b) = (source.pool(), restored.pool());
    assert_eq!(fingerprint(a).await, fingerprint(b).await, "schema");
    let extras = catalog_extras(a).await;
    assert!(
        extras
            .iter()
            .filter(|e| e.starts_with("partition "))
            .count()
            >= 3,
        "the seeded database has its partitions: {extras:#?}"
    );
    assert_eq!(
        extras,
        catalog_extras(b).await,
        "partitions, enums, functions"
    );
    let rows = contents(a).await;
    for table in ["users", "products", "accounts", "orders_archive"] {
        let (_, n, _) = rows.iter().find(|(r, _, _)| r == table).unwrap();
        assert!(*n > 0, "{table} holds rows before the dump");
    }
    assert_eq!(
        rows,
        contents(b).await,
        "every table and partition, row by row"
    );

    let drift = migrate::check_database(restored.url(), &tables)
        .await
        .unwrap();
    assert!(
        drift.is_empty(),
        "the restored database drifted: {drift:#?}"
    );

    // The restored triggers still fire.
    let (before, after): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "WITH old AS (SELECT id, updated_at FROM users ORDER BY email LIMIT 1),
                  new AS (UPDATE users u SET name = 'Renamed' FROM old WHERE u.id = old.id
                          RETURNING u.updated_at)
             SELECT old.updated_at, new.updated_at FROM old, new",
        )
        .fetch_one(b)
        .await
        .unwrap();
    assert!(after > before, "updated_at moved: {before} -> {after}");
    crate::support::migrate::drop_all(vec![source, restored]);
}
