//! Aggregates on the real PostgreSQL, each compared with hand-written SQL on the seeded shop
//! (`projections::seed`): COUNT(*), COUNT(col), COUNT(DISTINCT), SUM of a money column
//! (`Decimal`) and of an INTEGER column (`i64`), AVG, MIN, MAX, over all rows (NULL over zero
//! rows) and with GROUP BY / HAVING / ORDER BY an aggregate.

use super::projections::seed;
use crate::support::query::shop_db;
use crate::support::shop::{Order, OrderStatus, Product, User};
use chrono::{DateTime, Utc};
use dbpat::query::{avg, count, count_all, count_distinct, max, min, sum};
use dbpat::Table;
use rust_decimal::Decimal;
use uuid::Uuid;

/// COUNT(*), COUNT(DISTINCT), SUM, AVG, MIN, MAX over all rows.
type Summary = (
    i64,
    i64,
    Option<Decimal>,
    Option<Decimal>,
    Option<Decimal>,
    Option<DateTime<Utc>>,
);

#[tokio::test]
async fn aggregates_over_all_rows_match_hand_written_sql() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 40).await;

    let query = Order::query()
        .filter(Order::STATUS.eq(OrderStatus::Paid))
        .aggregate((
            count_all(),
            count_distinct(Order::USER_ID),
            sum(Order::TOTAL),
            avg(Order::TOTAL),
            min(Order::TOTAL),
            max(Order::CREATED_AT),
        ));
    assert_eq!(
        query.to_sql(),
        "SELECT COUNT(*), COUNT(DISTINCT user_id), SUM(total), AVG(total), MIN(total), \
         MAX(created_at) FROM orders WHERE status = $1"
    );
    let got: Summary = query.fetch_one(pool).await.unwrap();
    let want: Summary = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT user_id), SUM(total), AVG(total), MIN(total), \
         MAX(created_at) FROM orders WHERE status = 'paid'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    // Orders j = 2 are paid: users with n % 4 >= 2, one each.
    assert_eq!((got.0, got.1), (20, 20));
    assert!(got.2.is_some());

    // SUM of an INTEGER column is a bigint (`i64`); AVG is numeric (`Decimal`).
    let (stock, avg_stock, max_name): (Option<i64>, Option<Decimal>, Option<String>) =
        Product::query()
            .aggregate((sum(Product::STOCK), avg(Product::STOCK), max(Product::NAME)))
            .fetch_one(pool)
            .await
            .unwrap();
    let want: (Option<i64>, Option<Decimal>, Option<String>) =
        sqlx::query_as("SELECT SUM(stock), AVG(stock), MAX(name) FROM products")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!((stock, avg_stock, max_name.clone()), want);
    assert_eq!(stock, Some(135)); // 3 * (0 + 1 + ... + 9)
    assert_eq!(max_name.as_deref(), Some("Product 9"));
}

#[tokio::test]
async fn zero_rows_give_zero_counts_and_null_sums() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 8).await;
    let got: (i64, i64, Option<Decimal>, Option<Decimal>, Option<Decimal>) = Order::query()
        .filter(Order::TOTAL.gt(Decimal::new(1_000_000, 0)))
        .aggregate((
            count_all(),
            count(Order::ID),
            sum(Order::TOTAL),
            avg(Order::TOTAL),
            max(Order::TOTAL),
        ))
        .fetch_one(pool)
        .await
        .unwrap();
    let want: (i64, i64, Option<Decimal>, Option<Decimal>, Option<Decimal>) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(id), SUM(total), AVG(total), MAX(total) FROM orders \
         WHERE total > 1000000",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got, (0, 0, None, None, None));
}

#[tokio::test]
async fn group_by_with_having_and_order_by_an_aggregate() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 40).await;

    // Per user: order count, revenue (bare `Decimal`: a group has at least one row) and the
    // latest order; only users with at least 2 orders; biggest revenue first.
    let query = Order::query()
        .filter(Order::STATUS.ne(OrderStatus::Cancelled))
        .group_by(Order::USER_ID)
        .select((
            Order::USER_ID,
            count_all(),
            sum(Order::TOTAL),
            max(Order::CREATED_AT),
        ))
        .having(count_all().ge(2))
        .having(sum(Order::TOTAL).gt(Decimal::new(10, 0)))
        .order_by(sum(Order::TOTAL).desc())
        .order_by(Order::USER_ID.asc())
        .limit(10);
    assert_eq!(
        query.to_sql(),
        "SELECT user_id, COUNT(*), SUM(total), MAX(created_at) FROM orders WHERE status <> $1 \
         GROUP BY user_id HAVING COUNT(*) >= $2 AND SUM(total) > $3 \
         ORDER BY SUM(total) DESC, user_id LIMIT $4"
    );
    let got: Vec<(Uuid, i64, Decimal, DateTime<Utc>)> = query.fetch_all(pool).await.unwrap();
    let want: Vec<(Uuid, i64, Decimal, DateTime<Utc>)> = sqlx::query_as(
        "SELECT user_id, COUNT(*), SUM(total), MAX(created_at) FROM orders \
         WHERE status <> 'cancelled' GROUP BY user_id \
         HAVING COUNT(*) >= 2 AND SUM(total) > 10 ORDER BY SUM(total) DESC, user_id LIMIT 10",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| r.1 >= 2 && r.2 > Decimal::new(10, 0)));
    assert!(got.windows(2).all(|w| w[0].2 >= w[1].2));

    // Grouped by two keys, with COUNT(DISTINCT) and a HAVING on it.
    let got: Vec<(String, i64, i64)> = User::query()
        .group_by((User::NAME, User::STATUS))
        .select((User::NAME, count_all(), count_distinct(User::EMAIL)))
        .having(count_distinct(User::EMAIL).gt(1))
        .order_by(User::NAME.asc())
        .order_by(User::STATUS.asc())
        .fetch_all(pool)
        .await
        .unwrap();
    let want: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT name, COUNT(*), COUNT(DISTINCT email) FROM users GROUP BY name, status \
         HAVING COUNT(DISTINCT email) > 1 ORDER BY name, status",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    assert!(!got.is_empty());

    // Grouping by the primary key allows any column of the table (functional dependency).
    let got: Vec<(String, i64)> = User::query()
        .group_by(User::ID)
        .select((User::EMAIL, count_all()))
        .order_by(User::EMAIL.asc())
        .limit(3)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|(_, n)| *n == 1));
}

#[tokio::test]
async fn a_column_outside_the_group_keys_is_an_invalid_query() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 4).await;
    let err = Order::query()
        .group_by(Order::USER_ID)
        .select((Order::STATUS, count_all()))
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, dbpat::Error::InvalidQuery(_)), "{err:?}");
    // Orders' key is (id, created_at): grouping by `id` alone does not cover it.
    let err = Order::query()
        .group_by(Order::ID)
        .select((dbpat::query::columns_of::<Order>(), count_all()))
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, dbpat::Error::InvalidQuery(_)), "{err:?}");
}
