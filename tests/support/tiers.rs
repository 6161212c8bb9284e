//! Shared setup of the `tiers_*` tests: the shop's users + orders schema in a fresh database,
//! deterministic order rows, and a checksum of every row across both tiers.
#![allow(dead_code)]

pub use super::shop;

use chrono::{DateTime, TimeZone, Utc};
use dbpat::model::TableDef;
use dbpat::testing::TestDatabase;
use dbpat::tiers::Tiers;
use dbpat::Entity;
use sqlx::PgPool;
use uuid::Uuid;

pub static ORDERS: TableDef = shop::Order::TABLE;

pub fn orders() -> Tiers {
    Tiers::new(&ORDERS)
}

pub fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

/// A fresh database with the shop's `users` and `orders` (+ `orders_archive`) and one user.
pub async fn shop_db() -> (TestDatabase, Uuid) {
    let db = TestDatabase::new().await;
    let ddl = dbpat::ddl::render_schema(&[&shop::User::TABLE, &ORDERS]).unwrap();
    sqlx::raw_sql(&ddl).execute(db.pool()).await.unwrap();
    let user: Uuid = sqlx::query_scalar(
        "INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann') RETURNING id",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    (db, user)
}

/// `n` orders of `user` spread evenly over `[from, to)`, with varied status and total.
pub async fn load_orders(
    pool: &PgPool,
    user: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    n: i64,
) {
    sqlx::query(
        "INSERT INTO orders (user_id, status, total, created_at)
         SELECT $1, (ARRAY['pending','paid','shipped','cancelled'])[1 + i % 4],
                (i % 997) * 1.25, $2 + ($3 - $2) * (i::float8 / $4)
         FROM generate_series(0, $4 - 1) AS i",
    )
    .bind(user)
    .bind(from)
    .bind(to)
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
}

/// (rows, distinct keys, md5 of every row in key order) over `orders` ∪ `orders_archive`.
pub async fn both_tiers(pool: &PgPool) -> (i64, i64, String) {
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT (id, created_at)),
                coalesce(md5(string_agg(t::text, ',' ORDER BY id, created_at)), '')
         FROM (SELECT id, user_id, status, total, created_at FROM orders
               UNION ALL
               SELECT id, user_id, status, total, created_at FROM orders_archive) AS t",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}
