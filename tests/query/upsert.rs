//! Upserts on the real PostgreSQL: `ON CONFLICT` on the primary key, a `unique` field and a
//! `unique(a, b)` constraint; `DO NOTHING` / `DO UPDATE` for one row and for `upsert_many`;
//! the version bump, the `updated_at` trigger, the duplicate-key error. Each outcome is
//! compared with the same statement written by hand, run on the same seeded rows (each side
//! in a transaction that is rolled back).

use crate::support::query as query_common;
use crate::support::shop as models;

use dbpat::{Entity, Error, Table};
use models::{Product, User};
use query_common::*;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

type MemberState = Vec<(Uuid, Uuid, String, Option<String>, i64, i32)>;

/// Every membership, without the server-chosen columns (id, timestamps).
async fn members(conn: &mut PgConnection) -> MemberState {
    sqlx::query_as(
        "SELECT team_id, user_id, role, note, score, version FROM memberships \
         ORDER BY team_id, user_id",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

async fn seed_members(pool: &sqlx::PgPool, team: Uuid, users: &[Uuid]) -> Vec<Membership> {
    let rows: Vec<Membership> = users
        .iter()
        .enumerate()
        .map(|(i, u)| membership(team, *u, "member", i as i64))
        .collect();
    Membership::insert_many(pool, &rows).await.unwrap()
}

#[test]
fn the_derive_emits_one_conflict_target_per_unique_key() {
    assert_eq!(User::PKEY.columns(), ["id"]);
    assert_eq!(User::EMAIL_KEY.columns(), ["email"]);
    assert_eq!(Gadget::CODE_KEY.columns(), ["code"]);
    assert_eq!(
        Membership::TEAM_ID_USER_ID_KEY.columns(),
        ["team_id", "user_id"]
    );
    assert_eq!(Product::PKEY.columns(), ["id"]);
}

#[tokio::test]
async fn upsert_one_on_a_unique_field_matches_hand_written_sql() {
    let db = shop_db().await;
    let pool = db.pool();
    let ann = User::insert(pool, &user("ann@example.com")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let mut again = user("ann@example.com");
    again.name = "Ann Again".into();
    let q = User::upsert(pool, &again).on(User::EMAIL_KEY);
    assert_eq!(
        q.do_update_sql((User::NAME, User::STATUS)),
        "INSERT INTO users (email, name, status, metadata) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status \
         RETURNING id, email, name, status, metadata, created_at, updated_at"
    );
    assert_eq!(
        q.do_nothing_sql(),
        "INSERT INTO users (email, name, status, metadata) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING \
         RETURNING id, email, name, status, metadata, created_at, updated_at"
    );

    // DO NOTHING on an existing email: None, the row unchanged.
    assert!(User::upsert(pool, &again)
        .on(User::EMAIL_KEY)
        .do_nothing()
        .await
        .unwrap()
        .is_none());
    assert_eq!(User::get(pool, &ann.id).await.unwrap().name, ann.name);

    // DO UPDATE: the same row (same id, created_at), the chosen column changed, updated_at
    // moved by the trigger.
    let stored = User::upsert(pool, &again)
        .on(User::EMAIL_KEY)
        .do_update(User::NAME)
        .await
        .unwrap();
    assert_eq!(stored.id, ann.id);
    assert_eq!(stored.name, "Ann Again");
    assert_eq!(stored.created_at, ann.created_at);
    assert!(
        stored.updated_at > ann.updated_at,
        "the updated_at trigger fired"
    );

    // A new email: inserted (DO NOTHING returns it).
    let bob = User::upsert(pool, &user("bob@example.com"))
        .on(User::EMAIL_KEY)
        .do_nothing()
        .await
        .unwrap()
        .expect("inserted");
    assert_ne!(bob.id, Uuid::nil());

    // The same statement by hand gives the same table.
    let dbpat_side: Vec<(String, String)> =
        sqlx::query_as("SELECT email, name FROM users ORDER BY email")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        dbpat_side,
        [
            ("ann@example.com".to_owned(), "Ann Again".to_owned()),
            (
                "bob@example.com".to_owned(),
                "User bob@example.com".to_owned()
            )
        ]
    );
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO users (email, name, status, metadata) VALUES ($1, $2, 'active', '{}') \
         ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name",
    )
    .bind("ann@example.com")
    .bind("Ann Again")
    .execute(&mut *tx)
    .await
    .unwrap();
    let by_hand: Vec<(String, String)> =
        sqlx::query_as("SELECT email, name FROM users ORDER BY email")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(by_hand, dbpat_side);
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn upsert_on_the_primary_key_bumps_the_version() {
    let db = shop_db().await;
    let pool = db.pool();
    let p = Product::insert(pool, &product("Lamp", "home", 1999, json!({})))
        .await
        .unwrap();
    assert_eq!(p.version, 1);

    let mut changed = p.clone();
    changed.name = "Desk lamp".into();
    changed.stock = 3;
    let q = Product::upsert(pool, &changed).on(Product::PKEY);
    assert!(
        q.do_nothing_sql().starts_with(
            "INSERT INTO products (id, name, description, price, category, attributes, stock) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING"
        ),
        "the key is written when it is the target: {}",
        q.do_nothing_sql()
    );
    let stored = Product::upsert(pool, &changed)
        .on(Product::PKEY)
        .do_update_all()
        .await
        .unwrap();
    assert_eq!(stored.id, p.id);
    assert_eq!((stored.name.as_str(), stored.stock), ("Desk lamp", 3));
    assert_eq!(stored.version, 2, "version = products.version + 1");
    let again = Product::upsert(pool, &changed)
        .on(Product::PKEY)
        .do_update(Product::STOCK)
        .await
        .unwrap();
    assert_eq!(again.version, 3);
    // A versioned update holding the old version now conflicts.
    let mut stale = stored.clone();
    assert!(matches!(
        Product::update(pool, &mut stale).await,
        Err(Error::Conflict { version: 2, .. })
    ));

    // A new key given by the caller: inserted with it, version 1.
    let mut fresh = product("Chair", "home", 4999, json!({}));
    fresh.id = Uuid::new_v4();
    let inserted = Product::upsert(pool, &fresh)
        .on(Product::PKEY)
        .do_update_all()
        .await
        .unwrap();
    assert_eq!((inserted.id, inserted.version), (fresh.id, 1));
    assert!(Product::upsert(pool, &fresh)
        .on(Product::PKEY)
        .do_nothing()
        .await
        .unwrap()
        .is_none());

    // Hand-written: the same version arithmetic.
    let mut tx = pool.begin().await.unwrap();
    let v: i32 = sqlx::query_scalar(
        "INSERT INTO products (id, name, description, price, category, attributes, stock) \
         VALUES ($1, 'x', '', 1, 'home', '{}', 1) ON CONFLICT (id) DO UPDATE SET \
         stock = EXCLUDED.stock, version = products.version + 1 RETURNING version",
    )
    .bind(p.id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        v, 4,
        "the hand-written statement continues from dbpat's version"
    );
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn upsert_many_on_a_composite_unique_matches_hand_written_sql() {
    let db = shop_db().await;
    let pool = db.pool();
    let team = Uuid::new_v4();
    let users: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
    let seeded = seed_members(pool, team, &users[..50]).await;
    assert_eq!(seeded.len(), 50);

    // 50 existing (team, user) pairs and 50 new ones.
    let batch: Vec<Membership> = users
        .iter()
        .enumerate()
        .map(|(i, u)| membership(team, *u, "admin", 1000 + i as i64))
        .collect();

    let mut tx = pool.begin().await.unwrap();
    let stored = Membership::upsert_many(&mut *tx, &batch)
        .on(Membership::TEAM_ID_USER_ID_KEY)
        .do_update((Membership::ROLE, Membership::SCORE))
        .await
        .unwrap();
    assert_eq!(
        stored.len(),
        100,
        "every row comes back, inserted or updated"
    );
    let seeded_ids: std::collections::HashSet<Uuid> = seeded.iter().map(|m| m.id).collect();
    for m in &stored {
        let existed = seeded_ids.contains(&m.id);
        assert_eq!(m.role, "admin");
        assert_eq!(m.version, if existed { 2 } else { 1 });
        if existed {
            // `note` was not chosen: it keeps the seeded value.
            assert!(m.note.as_deref().unwrap().starts_with("member "));
        }
    }
    let dbpat_side = members(&mut tx).await;
    tx.rollback().await.unwrap();

    let mut tx = pool.begin().await.unwrap();
    let teams: Vec<Uuid> = batch.iter().map(|m| m.team_id).collect();
    let user_ids: Vec<Uuid> = batch.iter().map(|m| m.user_id).collect();
    let roles: Vec<String> = batch.iter().map(|m| m.role.clone()).collect();
    let notes: Vec<Option<String>> = batch.iter().map(|m| m.note.clone()).collect();
    let scores: Vec<i64> = batch.iter().map(|m| m.score).collect();
    let n = sqlx::query(
        "INSERT INTO memberships (team_id, user_id, role, note, score) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int8[]) \
         ON CONFLICT (team_id, user_id) DO UPDATE SET role = EXCLUDED.role, \
         score = EXCLUDED.score, version = memberships.version + 1",
    )
    .bind(&teams)
    .bind(&user_ids)
    .bind(&roles)
    .bind(&notes)
    .bind(&scores)
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(n, 100);
    let by_hand = members(&mut tx).await;
    tx.rollback().await.unwrap();
    assert_eq!(dbpat_side, by_hand);
    assert_eq!(dbpat_side.len(), 100);

    // DO NOTHING: only the new rows come back; the existing ones are untouched.
    let more: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    let mut batch2: Vec<Membership> = users[..5]
        .iter()
        .chain(&more)
        .map(|u| membership(team, *u, "guest", 7))
        .collect();
    batch2.truncate(15);
    let inserted = Membership::upsert_many(pool, &batch2)
        .on(Membership::TEAM_ID_USER_ID_KEY)
        .do_nothing()
        .await
        .unwrap();
    assert_eq!(inserted.len(), 10);
    assert!(inserted.iter().all(|m| more.contains(&m.user_id)));
    let guests: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE role = 'guest'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(guests, 10, "the 5 existing memberships kept their role");
    assert!(Membership::upsert_many(pool, &[])
        .on(Membership::TEAM_ID_USER_ID_KEY)
        .do_update_all()
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_batch_with_one_key_twice_is_a_typed_error_and_writes_nothing() {
    let db = shop_db().await;
    let pool = db.pool();
    let (team, u) = (Uuid::new_v4(), Uuid::new_v4());
    let other = Uuid::new_v4();
    let batch = vec![
        membership(team, other, "member", 1),
        membership(team, u, "member", 2),
        membership(team, u, "admin", 3),
    ];
    let err = Membership::upsert_many(pool, &batch)
        .on(Membership::TEAM_ID_USER_ID_KEY)
        .do_update(Membership::ROLE)
        .await
        .unwrap_err();
    match &err {
        Error::UpsertDuplicateKey { entity, constraint } => {
            assert_eq!(*entity, "Membership");
            assert_eq!(*constraint, "memberships_team_id_user_id_key");
        }
        other => panic!("expected UpsertDuplicateKey, got {other:?}"),
    }
    assert!(err.to_string().contains("de-duplicate"), "{err}");
    assert_eq!(
        Membership::count(pool).await.unwrap(),
        0,
        "nothing was written"
    );

    // DO NOTHING skips the second row instead.
    let inserted = Membership::upsert_many(pool, &batch)
        .on(Membership::TEAM_ID_USER_ID_KEY)
        .do_nothing()
        .await
        .unwrap();
    assert_eq!(inserted.len(), 2);

    // A conflict on another unique key than the target is still a unique violation.
    let mut clash = membership(team, Uuid::new_v4(), "member", 0);
    clash.id = inserted[0].id;
    assert!(matches!(
        Membership::upsert(pool, &clash).on(Membership::PKEY).do_update(Membership::ROLE).await,
        Ok(m) if m.id == inserted[0].id && m.role == "member"
    ));
    clash.team_id = inserted[0].team_id;
    clash.user_id = inserted[1].user_id;
    match Membership::upsert(pool, &clash)
        .on(Membership::PKEY)
        .do_update((Membership::TEAM_ID, Membership::USER_ID))
        .await
    {
        Err(Error::UniqueViolation { constraint }) => {
            assert_eq!(constraint, "memberships_team_id_user_id_key")
        }
        other => panic!("expected a unique violation, got {other:?}"),
    }
}

#[tokio::test]
async fn server_owned_columns_cannot_be_chosen() {
    let db = shop_db().await;
    let pool = db.pool();
    let m = membership(Uuid::new_v4(), Uuid::new_v4(), "member", 1);
    for result in [
        Membership::upsert(pool, &m)
            .on(Membership::TEAM_ID_USER_ID_KEY)
            .do_update(Membership::VERSION)
            .await,
        Membership::upsert(pool, &m)
            .on(Membership::TEAM_ID_USER_ID_KEY)
            .do_update((Membership::ROLE, Membership::UPDATED_AT))
            .await,
        Membership::upsert(pool, &m)
            .on(Membership::TEAM_ID_USER_ID_KEY)
            .do_update(Membership::ID)
            .await,
    ] {
        assert!(matches!(result, Err(Error::InvalidQuery(_))), "{result:?}");
    }
    assert_eq!(
        Membership::count(pool).await.unwrap(),
        0,
        "nothing was sent"
    );
    // A run-time list of columns.
    let cols = [Membership::ROLE.any(), Membership::SCORE.any()];
    let stored = Membership::upsert(pool, &m)
        .on(Membership::TEAM_ID_USER_ID_KEY)
        .do_update(&cols[..])
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
}

#[tokio::test]
async fn upsert_many_round_trips_every_column_kind() {
    let db = shop_db().await;
    let pool = db.pool();
    let first: Vec<Gadget> = (0..12).map(gadget).collect();
    let inserted = Gadget::insert_many(pool, &first).await.unwrap();
    // Same codes, other values: every column kind goes through UNNEST and EXCLUDED.
    let changed: Vec<Gadget> = (0..24)
        .map(|n| {
            let mut g = gadget(n + 100);
            g.code = gadget(n).code;
            g
        })
        .collect();
    let stored = Gadget::upsert_many(pool, &changed)
        .on(Gadget::CODE_KEY)
        .do_update_all()
        .await
        .unwrap();
    assert_eq!(stored.len(), 24);
    for (s, c) in stored.iter().zip(&changed) {
        assert_eq!(s.code, c.code);
        assert_eq!(
            (&s.tags, &s.scores, &s.spec, &s.extra, &s.kind, &s.blob),
            (&c.tags, &c.scores, &c.spec, &c.extra, &c.kind, &c.blob)
        );
    }
    let old_ids: Vec<i64> = inserted.iter().map(|g| g.id).collect();
    assert!(stored[..12]
        .iter()
        .all(|g| old_ids.contains(&g.id) && g.version == 2));
    assert!(stored[12..].iter().all(|g| g.version == 1));
    assert_eq!(Gadget::count(pool).await.unwrap(), 24);
    assert_eq!(
        Gadget::TABLE.name,
        "gadgets",
        "the model the statements were rendered from"
    );
}

/// A conflict target whose name a column constant already has gets a trailing `_`.
#[derive(Debug, Clone, Entity)]
#[dbpat(table = "collisions", unique(pkey, email))]
pub struct Collision {
    #[dbpat(primary_key)]
    pub id: Uuid,
    #[dbpat(unique)]
    pub email: String,
    pub email_key: String,
    pub pkey: String,
}

#[test]
fn conflict_targets_never_shadow_column_constants() {
    assert_eq!(Collision::EMAIL_KEY.name(), "email_key");
    assert_eq!(Collision::EMAIL_KEY_.columns(), ["email"]);
    assert_eq!(Collision::PKEY.name(), "pkey");
    assert_eq!(Collision::PKEY_.columns(), ["id"]);
    assert_eq!(Collision::PKEY_EMAIL_KEY.columns(), ["pkey", "email"]);
}
