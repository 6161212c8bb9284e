//! The emitted DDL against a real PostgreSQL: it applies cleanly in one go, reproduces the
//! the reference schema, and every feature lands in the catalog as intended.

use crate::support::catalog as common;
use crate::support::features;
use crate::support::shop;

use common::{apply, assert_same_schema, schema_fingerprint, Names};
use dbpat::ddl::render_schema;
use dbpat::testing::TestDatabase;
use dbpat::Entity;
use sqlx::PgPool;

fn shop_schema() -> String {
    render_schema(&[
        &shop::User::TABLE,
        &shop::Product::TABLE,
        &shop::Order::TABLE,
        &shop::Account::TABLE,
    ])
    .unwrap()
}

#[tokio::test]
async fn shop_models_reproduce_the_reference_schema() {
    let reference = TestDatabase::new().await;
    let ours = TestDatabase::new().await;
    apply(
        reference.pool(),
        "seed_schema.sql",
        include_str!("../fixtures/seed_schema.sql"),
    )
    .await;
    apply(ours.pool(), "the shop's emitted DDL", &shop_schema()).await;
    let expected = schema_fingerprint(reference.pool(), Names::Ignored).await;
    let actual = schema_fingerprint(ours.pool(), Names::Ignored).await;
    assert!(
        expected.len() > 60,
        "reference fingerprint too small: {expected:#?}"
    );
    assert_same_schema(
        &expected,
        &actual,
        "seed_schema.sql vs the shop's emitted DDL",
    );
}

async fn rows(pool: &PgPool, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
}

async fn one(pool: &PgPool, sql: &str) -> String {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn feature_db() -> TestDatabase {
    let db = TestDatabase::new().await;
    apply(
        db.pool(),
        "the feature models' DDL",
        &render_schema(&features::tables()).unwrap(),
    )
    .await;
    db
}

#[tokio::test]
async fn column_types_nullability_and_identity() {
    let db = feature_db().await;
    let cols = rows(
        db.pool(),
        "SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
            || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
            || CASE WHEN a.attidentity <> '' THEN ' identity=' || a.attidentity::text ELSE '' END
         FROM pg_attribute a WHERE a.attrelid = 'type_matrix'::regclass AND a.attnum > 0
         ORDER BY a.attnum",
    )
    .await;
    let expected = [
        "id bigint not null identity=d",
        "uuid_col uuid not null",
        "small smallint not null",
        "int integer not null",
        "big bigint not null",
        "flag boolean not null",
        "label text not null",
        "amount numeric(19,4) not null",
        "rate numeric(10,2) not null",
        "at timestamp with time zone not null",
        "day date not null",
        "ratio double precision not null",
        "ratio32 real not null",
        "doc jsonb not null",
        "settings jsonb not null",
        "blob bytea not null",
        "tags text[] not null",
        "scores integer[] not null",
        "maybe_text text",
        "maybe_at timestamp with time zone",
        "maybe_tags uuid[]",
        "priority text not null",
        "maybe_priority text",
        "explicit bigint not null",
    ];
    assert_eq!(cols, expected);
}

#[tokio::test]
async fn defaults_checks_and_uniques_are_enforced() {
    let db = feature_db().await;
    let pool = db.pool();
    let defaults = rows(
        pool,
        "SELECT a.attname || '=' || pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
         JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
         WHERE d.adrelid = 'tenants'::regclass ORDER BY a.attnum",
    )
    .await;
    assert_eq!(
        defaults,
        [
            "id=gen_random_uuid()",
            "region='eu'::text",
            "seats=1",
            "seat_limit=10",
            "offset_minutes='-1'::integer",
            "share=0.5",
            "active=true",
            "priority='HIGH'::text",
            "since=CURRENT_DATE",
            "display_name='it''s'::text",
            "version=1",
            "created_at=now()",
            "modified_at=now()",
        ]
    );
    // Defaults fill a minimal row.
    let (version, title): (i64, String) = sqlx::query_as(
        "INSERT INTO tenants (slug) VALUES ('acme') RETURNING version, display_name",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((version, title.as_str()), (1, "it's"));

    // Each constraint rejects what it should, under its model name.
    for (sql, constraint) in [
        (
            "INSERT INTO tenants (slug) VALUES ('acme')",
            "tenants_slug_key",
        ),
        (
            "INSERT INTO tenants (slug, seats) VALUES ('zero', 0)",
            "tenants_seats_check",
        ),
        ("INSERT INTO tenants (slug) VALUES ('ab')", "tenants_check"),
        (
            "INSERT INTO tenants (slug, seats, seat_limit) VALUES ('full', 5, 4)",
            "tenants_seats_le_limit",
        ),
        (
            "INSERT INTO tenants (slug, priority) VALUES ('odd', 'High')",
            "tenants_priority_check",
        ),
    ] {
        let err = sqlx::query(sql).execute(pool).await.expect_err(sql);
        let db_err = err.as_database_error().expect("a database error");
        assert_eq!(db_err.constraint(), Some(constraint), "{sql}: {db_err}");
    }
}

#[tokio::test]
async fn updated_at_trigger_uses_the_models_column() {
    let db = feature_db().await;
    let pool = db.pool();
    let triggers = rows(
        pool,
        "SELECT tgname || ' ' || tgfoid::regproc::text FROM pg_trigger
         WHERE tgrelid = 'tenants'::regclass AND NOT tgisinternal",
    )
    .await;
    assert_eq!(triggers, ["tenants_modified_at update_modified_at"]);
    sqlx::query("INSERT INTO tenants (slug, modified_at) VALUES ('acme', '2000-01-01Z')")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE tenants SET seats = 2")
        .execute(pool)
        .await
        .unwrap();
    let recent: bool =
        sqlx::query_scalar("SELECT modified_at > now() - interval '1 minute' FROM tenants")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(recent, "the trigger must set modified_at on UPDATE");
}

#[tokio::test]
async fn foreign_keys_carry_their_on_delete_action() {
    let db = feature_db().await;
    let fks = rows(
        db.pool(),
        "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'memberships'::regclass AND contype = 'f' ORDER BY conname",
    )
    .await;
    assert_eq!(
        fks,
        [
            "memberships_billing_tenant_fkey FOREIGN KEY (billing_tenant) REFERENCES tenants(id) ON DELETE RESTRICT",
            "memberships_fallback_matrix_fkey FOREIGN KEY (fallback_matrix) REFERENCES type_matrix(id) ON DELETE SET DEFAULT",
            "memberships_invited_by_fkey FOREIGN KEY (invited_by) REFERENCES tenants(id)",
            "memberships_matrix_id_fkey FOREIGN KEY (matrix_id) REFERENCES type_matrix(id) ON DELETE SET NULL",
            "memberships_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE",
        ]
    );
}

#[tokio::test]
async fn every_index_kind_is_built() {
    let db = feature_db().await;
    let indexes = rows(
        db.pool(),
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index
         WHERE indrelid = 'memberships'::regclass ORDER BY 1",
    )
    .await;
    assert_eq!(
        indexes,
        [
            // The foreign-key indexes: tenant_id and invited_by lead the primary key and
            // memberships_inviter_tenant, the other three foreign keys get their own.
            "CREATE INDEX idx_memberships_billing_tenant ON public.memberships USING btree (billing_tenant)",
            "CREATE INDEX idx_memberships_fallback_matrix ON public.memberships USING btree (fallback_matrix)",
            "CREATE INDEX idx_memberships_labels_gin ON public.memberships USING gin (labels)",
            "CREATE INDEX idx_memberships_lower_role ON public.memberships USING btree (lower(role))",
            "CREATE INDEX idx_memberships_matrix_id ON public.memberships USING btree (matrix_id)",
            "CREATE INDEX idx_memberships_profile_gin ON public.memberships USING gin (profile jsonb_path_ops)",
            "CREATE INDEX idx_memberships_role_note_fts ON public.memberships USING gin (to_tsvector('simple'::regconfig, ((role || ' '::text) || COALESCE(note, ''::text))))",
            "CREATE INDEX idx_memberships_tenant_id_joined_at ON public.memberships USING btree (tenant_id, joined_at DESC)",
            "CREATE INDEX idx_memberships_tenant_id_where_role_guest ON public.memberships USING btree (tenant_id) WHERE (role <> 'guest'::text)",
            "CREATE UNIQUE INDEX memberships_inviter_tenant ON public.memberships USING btree (invited_by, tenant_id)",
            "CREATE UNIQUE INDEX memberships_pkey ON public.memberships USING btree (tenant_id, user_ref)",
        ]
    );
    // The unique column's own index is the only one on tenants.slug.
    let slug_indexes = rows(
        db.pool(),
        "SELECT indexrelid::regclass::text FROM pg_index
         WHERE indrelid = 'tenants'::regclass AND indkey::text = (
             SELECT attnum::text FROM pg_attribute WHERE attrelid = 'tenants'::regclass AND attname = 'slug')",
    )
    .await;
    assert_eq!(slug_indexes, ["tenants_slug_key"]);
}

#[tokio::test]
async fn monthly_partitions_route_rows_and_archive_copies_the_shape() {
    let db = feature_db().await;
    let pool = db.pool();
    assert_eq!(
        one(pool, "SELECT pg_get_partkeydef('events'::regclass)").await,
        "RANGE (happened_at)"
    );
    let parts = rows(
        pool,
        "SELECT c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY 1",
    )
    .await;
    assert_eq!(parts.len(), 3);
    assert!(
        parts[0].starts_with("events_2024_11 FOR VALUES FROM ('2024-11-01 00:00:00+00')"),
        "{parts:?}"
    );
    let routed: String = sqlx::query_scalar(
        "INSERT INTO events (happened_at, kind) VALUES ('2024-12-31 23:59:59+00', 'x')
         RETURNING tableoid::regclass::text",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(routed, "events_2024_12");
    let outside = sqlx::query("INSERT INTO events (happened_at, kind) VALUES ('2025-02-01Z', 'x')")
        .execute(pool)
        .await;
    assert!(outside.is_err(), "no partition holds February 2025");
    let archive_cols = rows(
        pool,
        "SELECT attname FROM pg_attribute WHERE attrelid = 'events_archive'::regclass AND attnum > 0 ORDER BY attnum",
    )
    .await;
    assert_eq!(archive_cols, ["id", "happened_at", "kind"]);
    assert_eq!(
        one(
            pool,
            "SELECT relkind::text FROM pg_class WHERE relname = 'events_archive'"
        )
        .await,
        "p"
    );
    // Partitioned like its table, so whole partitions can be attached to it.
    assert_eq!(
        one(pool, "SELECT pg_get_partkeydef('events_archive'::regclass)").await,
        "RANGE (happened_at)"
    );
}

/// Runs `sql` with `$1` bound to `user`; on failure, the violated constraint's name.
async fn run_for(pool: &PgPool, sql: &str, user: uuid::Uuid) -> Result<(), String> {
    match sqlx::query(sql).bind(user).execute(pool).await {
        Ok(_) => Ok(()),
        Err(e) => Err(e
            .as_database_error()
            .and_then(|d| d.constraint())
            .unwrap_or_default()
            .to_owned()),
    }
}

#[tokio::test]
async fn shop_schema_enforces_the_seed_rules() {
    let db = TestDatabase::new().await;
    let pool = db.pool();
    apply(pool, "the shop's emitted DDL", &shop_schema()).await;
    let user: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO users (email, name) VALUES ('a@x', 'A') RETURNING id")
            .fetch_one(pool)
            .await
            .unwrap();
    let overdraft = "INSERT INTO accounts (user_id, balance) VALUES ($1, -1)";
    assert_eq!(
        run_for(pool, overdraft, user).await,
        Err("accounts_balance_check".into())
    );
    let account = "INSERT INTO accounts (user_id) VALUES ($1)";
    assert_eq!(run_for(pool, account, user).await, Ok(()));
    let order = "INSERT INTO orders (user_id, total, created_at) VALUES ($1, 10, '2025-02-01Z')";
    assert_eq!(run_for(pool, order, user).await, Ok(()));
    // RESTRICT from accounts blocks deleting the user; CASCADE then removes the orders.
    let delete_user = "DELETE FROM users WHERE id = $1";
    assert_eq!(
        run_for(pool, delete_user, user).await,
        Err("accounts_user_id_fkey".into())
    );
    assert_eq!(
        run_for(pool, "DELETE FROM accounts WHERE user_id = $1", user).await,
        Ok(())
    );
    assert_eq!(run_for(pool, delete_user, user).await, Ok(()));
    assert_eq!(one(pool, "SELECT count(*)::text FROM orders").await, "0");
}
