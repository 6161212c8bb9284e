//! Updates and deletes by filter on the real PostgreSQL: one `UPDATE ... WHERE` /
//! `DELETE ... WHERE` statement, the count or the rows back, the version bump, and the
//! refusals (LIMIT, OFFSET, keyset, other tiers, nothing to set). Each outcome is compared
//! with the same statement written by hand on the same seeded rows (each side in a
//! transaction that is rolled back).

use crate::support::query as query_common;
use crate::support::shop as models;

use dbpat::{Error, Table};
use models::{Order, Product};
use query_common::*;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

type ProductState = Vec<(String, String, Decimal, i32, i32, serde_json::Value)>;

async fn products(conn: &mut PgConnection) -> ProductState {
    sqlx::query_as(
        "SELECT name, category, price, stock, version, attributes FROM products ORDER BY name",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

async fn seed(pool: &sqlx::PgPool) -> Vec<Product> {
    let rows: Vec<Product> = (0..30)
        .map(|i| {
            let category = ["home", "garden", "office"][i % 3];
            product(
                &format!("p{i:02}"),
                category,
                1000 + i as i64 * 100,
                json!({"n": i}),
            )
        })
        .collect();
    Product::insert_many(pool, &rows).await.unwrap()
}

#[tokio::test]
async fn update_by_filter_matches_hand_written_sql() {
    let db = shop_db().await;
    let pool = db.pool();
    let seeded = seed(pool).await;

    let filter = || Product::CATEGORY.eq("home") & Product::PRICE.ge(Decimal::new(2000, 2));
    let update = Product::filter(filter())
        .update()
        .set(Product::CATEGORY, "kitchen")
        .add(Product::STOCK, -3)
        .merge(Product::ATTRIBUTES, json!({"sale": true}));
    assert_eq!(
        update.to_sql(),
        "UPDATE products SET category = $1, stock = stock + $2, attributes = attributes || $3, \
         version = version + 1 WHERE (category = $4 AND price >= $5)"
    );

    let mut tx = pool.begin().await.unwrap();
    let n = update.execute(&mut *tx).await.unwrap();
    let dbpat_side = products(&mut tx).await;
    tx.rollback().await.unwrap();

    let mut tx = pool.begin().await.unwrap();
    let by_hand = sqlx::query(
        "UPDATE products SET category = $1, stock = stock + $2, attributes = attributes || $3, \
         version = version + 1 WHERE category = $4 AND price >= $5",
    )
    .bind("kitchen")
    .bind(-3_i32)
    .bind(json!({"sale": true}))
    .bind("home")
    .bind(Decimal::new(2000, 2))
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    let hand_side = products(&mut tx).await;
    tx.rollback().await.unwrap();

    assert_eq!(n, 6, "home products p12, p15, ..., p27 cost at least 20.00");
    assert_eq!(n, by_hand);
    assert_eq!(dbpat_side, hand_side);
    assert_ne!(
        dbpat_side,
        products(&mut pool.acquire().await.unwrap()).await
    );

    // fetch_all: the rows as they are now, versions bumped, updated_at moved by the trigger.
    let before: std::collections::HashMap<Uuid, Product> =
        seeded.into_iter().map(|p| (p.id, p)).collect();
    let rows = Product::filter(Product::CATEGORY.eq("garden"))
        .update()
        .set(Product::DESCRIPTION, "outdoors")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 10);
    for row in &rows {
        let old = &before[&row.id];
        assert_eq!(row.category, "garden");
        assert_eq!(row.description, "outdoors");
        assert_eq!(row.version, old.version + 1);
        assert!(row.updated_at > old.updated_at);
    }
    // A versioned writer holding the old row notices.
    let mut stale = before[&rows[0].id].clone();
    assert!(matches!(
        Product::update(pool, &mut stale).await,
        Err(Error::Conflict { .. })
    ));
    // Without a filter every row is updated.
    let all = Product::query()
        .update()
        .add(Product::STOCK, 1)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(all, 30);
}

#[tokio::test]
async fn set_null_and_unversioned_entities() {
    let db = shop_db().await;
    let pool = db.pool();
    let team = Uuid::new_v4();
    let rows: Vec<Membership> = (0..6)
        .map(|i| membership(team, Uuid::new_v4(), "member", i))
        .collect();
    Membership::insert_many(pool, &rows).await.unwrap();
    let changed = Membership::filter(Membership::SCORE.lt(3))
        .update()
        .set_null(Membership::NOTE)
        .set(Membership::ROLE, "guest")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(changed.len(), 3);
    assert!(changed
        .iter()
        .all(|m| m.note.is_none() && m.role == "guest" && m.version == 2));
    let nulls: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE note IS NULL")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(nulls, 3);

    // An entity without a version: no version column in the statement.
    let ann = Table::insert(pool, &user("ann@example.com")).await.unwrap();
    let q = models::User::filter(models::User::ID.eq(ann.id))
        .update()
        .set(models::User::NAME, "Ann");
    assert_eq!(q.to_sql(), "UPDATE users SET name = $1 WHERE id = $2");
    assert_eq!(q.execute(pool).await.unwrap(), 1);
    assert_eq!(models::User::get(pool, &ann.id).await.unwrap().name, "Ann");
}

#[tokio::test]
async fn delete_by_filter_matches_hand_written_sql() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool).await;
    let filter = || Product::CATEGORY.eq("office") | Product::NAME.in_(["p00", "p01"]);

    let mut tx = pool.begin().await.unwrap();
    let n = Product::filter(filter()).delete(&mut *tx).await.unwrap();
    let dbpat_side = products(&mut tx).await;
    tx.rollback().await.unwrap();

    let mut tx = pool.begin().await.unwrap();
    let by_hand = sqlx::query("DELETE FROM products WHERE category = $1 OR name = ANY($2)")
        .bind("office")
        .bind(vec!["p00", "p01"])
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    let hand_side = products(&mut tx).await;
    tx.rollback().await.unwrap();
    assert_eq!(n, 12, "10 office products + p00 and p01");
    assert_eq!(n, by_hand);
    assert_eq!(dbpat_side, hand_side);
}

#[tokio::test]
async fn writes_by_filter_refuse_what_an_update_cannot_express() {
    let db = shop_db().await;
    let pool = db.pool();
    let seeded = seed(pool).await;
    let last = seeded[0].clone();
    let home = || Product::filter(Product::CATEGORY.eq("home"));

    let refused = [
        home()
            .limit(1)
            .update()
            .set(Product::STOCK, 0)
            .execute(pool)
            .await,
        home()
            .offset(1)
            .update()
            .set(Product::STOCK, 0)
            .execute(pool)
            .await,
        home()
            .order_by(Product::ID.asc())
            .after(&last)
            .update()
            .set(Product::STOCK, 0)
            .execute(pool)
            .await,
        home().update().execute(pool).await,
        home().limit(2).delete(pool).await,
        home().offset(2).delete(pool).await,
        home()
            .order_by(Product::ID.asc())
            .after(&last)
            .delete(pool)
            .await,
    ];
    for r in refused {
        assert!(matches!(r, Err(Error::InvalidQuery(_))), "{r:?}");
    }
    let archive = [
        Order::filter(Order::USER_ID.eq(Uuid::nil()))
            .with_archive()
            .update()
            .set(Order::TOTAL, Decimal::ONE)
            .execute(pool)
            .await,
        Order::filter(Order::USER_ID.eq(Uuid::nil()))
            .with_archive()
            .delete(pool)
            .await,
    ];
    for r in archive {
        assert!(matches!(r, Err(Error::InvalidQuery(_))), "{r:?}");
    }
    assert_eq!(
        home().update().execute(pool).await.unwrap_err().to_string(),
        "invalid query: update() without any set(...): nothing to write"
    );
    // Nothing was written by any of them.
    let versions: Vec<i32> = sqlx::query_scalar("SELECT DISTINCT version FROM products")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(versions, [1]);
    assert_eq!(Product::count(pool).await.unwrap(), 30);
}
