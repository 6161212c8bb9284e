//! Projections on the real PostgreSQL: chosen columns into tuples, one column into a `Vec<T>`,
//! a user struct by column name (with an alias), nullable columns, and a whole entity through
//! `columns_of` — each compared with hand-written SQL on the same seeded shop. Also the shop
//! seed the aggregate and join tests share.

use crate::support::query::shop_db;
use crate::support::shop::{Order, OrderStatus, Product, User, UserStatus};
use dbpat::query::columns_of;
use dbpat::query::{count_all, sum};
use dbpat::{Error, Table};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

/// Users `0..users` (every third inactive, names repeating every 7, created one minute apart
/// from 2025-01-01) and `n % 4` orders for user `n` (totals `n.jj`, alternately paid and
/// pending, in February 2025): users with `n % 4 == 0` have no order. Products `0..10` with
/// `stock = 3 * n` and price `n.50`. Everything by hand-written SQL, then `ANALYZE`.
pub async fn seed(pool: &PgPool, users: i64) {
    sqlx::raw_sql(&format!(
        "INSERT INTO users (id, email, name, status, created_at, updated_at)
         SELECT md5('u' || n)::uuid, 'user-' || n || '@example.com', 'Name ' || (n % 7),
                CASE WHEN n % 3 = 0 THEN 'inactive' ELSE 'active' END,
                timestamptz '2025-01-01 00:00:00+00' + n * interval '1 minute',
                timestamptz '2025-01-01 00:00:00+00'
         FROM generate_series(0, {last}) AS n;
         INSERT INTO orders (id, user_id, status, total, created_at)
         SELECT md5('o' || n || '-' || j)::uuid, md5('u' || n)::uuid,
                CASE WHEN j % 2 = 0 THEN 'paid' ELSE 'pending' END,
                n + j / 100.0,
                timestamptz '2025-02-01 00:00:00+00' + n * interval '1 minute' + j * interval '1 second'
         FROM generate_series(0, {last}) AS n, generate_series(1, 3) AS j
         WHERE j <= n % 4;
         INSERT INTO products (name, price, category, stock)
         SELECT 'Product ' || n, n + 0.5, 'category-' || (n % 3), 3 * n
         FROM generate_series(0, 9) AS n;
         ANALYZE;",
        last = users - 1
    ))
    .execute(pool)
    .await
    .expect("seed applies");
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Contact {
    email: String,
    display_name: String,
}

#[tokio::test]
async fn tuples_of_columns_match_hand_written_sql() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 40).await;

    let query = User::query()
        .filter(User::STATUS.eq(UserStatus::Active))
        .order_by(User::CREATED_AT.desc())
        .limit(5)
        .select((User::EMAIL, User::NAME, User::STATUS));
    assert_eq!(
        query.to_sql(),
        "SELECT email, name, status FROM users WHERE status = $1 ORDER BY created_at DESC LIMIT $2"
    );
    let got: Vec<(String, String, UserStatus)> = query.fetch_all(pool).await.unwrap();
    let want: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT email, name, status FROM users WHERE status = 'active' \
         ORDER BY created_at DESC LIMIT 5",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(got.len(), 5);
    let got_text: Vec<(String, String, String)> = got
        .iter()
        .map(|(e, n, s)| {
            assert_eq!(*s, UserStatus::Active);
            (e.clone(), n.clone(), "active".to_owned())
        })
        .collect();
    assert_eq!(got_text, want);

    // One column: a `Vec` of its type; offset carries over from the Select.
    let ids: Vec<Uuid> = User::query()
        .order_by(User::EMAIL.asc())
        .offset(3)
        .limit(4)
        .select(User::ID)
        .fetch_all(pool)
        .await
        .unwrap();
    let want: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM users ORDER BY email OFFSET 3 LIMIT 4")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(ids, want);

    // Columns of mixed types, and fetch_optional / fetch_one.
    let cheapest: Option<(String, Decimal, i32)> = Product::query()
        .filter(Product::STOCK.gt(10))
        .order_by(Product::PRICE.asc())
        .select((Product::NAME, Product::PRICE, Product::STOCK))
        .fetch_optional(pool)
        .await
        .unwrap();
    assert_eq!(
        cheapest,
        Some(("Product 4".to_owned(), Decimal::new(45, 1), 12))
    );
    let none = Product::query()
        .filter(Product::STOCK.gt(1000))
        .select(Product::NAME)
        .fetch_optional(pool)
        .await
        .unwrap();
    assert_eq!(none, None);
    let err = Product::query()
        .filter(Product::STOCK.gt(1000))
        .select(Product::NAME)
        .fetch_one(pool)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                entity: "Product",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_user_struct_decodes_by_name_with_aliases() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 12).await;
    let query = User::query()
        .filter(User::EMAIL.in_(["user-1@example.com", "user-2@example.com"]))
        .order_by(User::EMAIL.asc())
        .select_as::<Contact, _, _>((User::EMAIL, User::NAME.alias("display_name")));
    assert_eq!(
        query.to_sql(),
        "SELECT email, name AS display_name FROM users WHERE email = ANY($1) ORDER BY email"
    );
    let got = query.fetch_all(pool).await.unwrap();
    let want: Vec<Contact> = sqlx::query_as(
        "SELECT email, name AS display_name FROM users \
         WHERE email IN ('user-1@example.com', 'user-2@example.com') ORDER BY email",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got[1].display_name, "Name 2");
}

#[tokio::test]
async fn nullable_columns_and_whole_entities() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 8).await;
    // A NULL in a nullable column is `None`; `Option<T>` columns decode as `Option<T>`, not
    // `Option<Option<T>>`. (Gadget::NOTE is `Option<String>`.)
    use crate::support::query::{gadget, Gadget};
    for n in 0..6 {
        Gadget::insert(pool, &gadget(n)).await.unwrap();
    }
    let notes: Vec<(String, Option<String>)> = Gadget::query()
        .order_by(Gadget::CODE.asc())
        .select((Gadget::CODE, Gadget::NOTE))
        .fetch_all(pool)
        .await
        .unwrap();
    let want: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT code, note FROM gadgets ORDER BY code")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(notes, want);
    assert_eq!(notes[0].1, None, "gadget 0 has no note");
    assert!(notes[1].1.is_some());

    // `columns_of::<Order>()` is the whole row, decoded by position, next to other columns.
    let rows: Vec<(Order, Uuid)> = Order::query()
        .order_by(Order::TOTAL.desc())
        .limit(3)
        .select((columns_of::<Order>(), Order::USER_ID))
        .fetch_all(pool)
        .await
        .unwrap();
    let full = Order::query()
        .order_by(Order::TOTAL.desc())
        .limit(3)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for ((o, user_id), f) in rows.iter().zip(&full) {
        assert_eq!(o.id, f.id);
        assert_eq!(o.total, f.total);
        assert_eq!(o.created_at, f.created_at);
        assert_eq!(*user_id, f.user_id);
    }
}

#[tokio::test]
async fn unsupported_combinations_are_invalid_query_errors() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 4).await;
    let first = User::query().fetch_all(pool).await.unwrap().remove(0);
    let err = User::query()
        .order_by(User::EMAIL.asc())
        .after(&first)
        .select(User::EMAIL)
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidQuery(_)), "{err:?}");
    let err = User::query()
        .with_archive()
        .select(User::ID)
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoArchive { .. }), "{err:?}");
    let err = Order::query()
        .with_archive()
        .join(Order::USER)
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidQuery(_)), "{err:?}");
}

#[tokio::test]
async fn projections_and_aggregates_over_both_tiers() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 40).await;
    // Archive the orders of users 0..20 by hand (the archive is a table `LIKE orders`,
    // partitioned like it: a default partition takes them all).
    sqlx::raw_sql(
        "CREATE TABLE orders_archive_rest PARTITION OF orders_archive DEFAULT; \
         WITH moved AS (DELETE FROM orders WHERE user_id IN \
           (SELECT md5('u' || n)::uuid FROM generate_series(0, 19) AS n) RETURNING *) \
         INSERT INTO orders_archive SELECT * FROM moved",
    )
    .execute(pool)
    .await
    .unwrap();
    let query = Order::query()
        .with_archive()
        .filter(Order::STATUS.eq(OrderStatus::Paid))
        .group_by(Order::STATUS)
        .select((Order::STATUS, count_all(), sum(Order::TOTAL)))
        .having(count_all().gt(0));
    assert_eq!(
        query.to_sql(),
        "SELECT status, COUNT(*), SUM(total) FROM (SELECT id, user_id, status, total, created_at \
         FROM orders WHERE status = $1 UNION ALL SELECT id, user_id, status, total, created_at \
         FROM orders_archive WHERE status = $1) AS dbpat_rows GROUP BY status HAVING COUNT(*) > $2"
    );
    let got: Vec<(OrderStatus, i64, Decimal)> = query.fetch_all(pool).await.unwrap();
    let want: (i64, Decimal) = sqlx::query_as(
        "SELECT COUNT(*), SUM(total) FROM (SELECT * FROM orders UNION ALL \
         SELECT * FROM orders_archive) o WHERE status = 'paid'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(got, [(OrderStatus::Paid, want.0, want.1)]);
    assert_eq!(want.0, 20);
    // The hot table alone has only the newer half.
    let hot: i64 = Order::query()
        .filter(Order::STATUS.eq(OrderStatus::Paid))
        .aggregate(count_all())
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(hot, 10);
    // A projection of the archive alone, ordered and limited over the union's rows.
    let archived: Vec<Uuid> = Order::query()
        .tiers(dbpat::query::ReadTiers::Archive)
        .order_by(Order::TOTAL.desc())
        .limit(3)
        .select(Order::USER_ID)
        .fetch_all(pool)
        .await
        .unwrap();
    let want: Vec<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM orders_archive ORDER BY total DESC LIMIT 3")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(archived, want);
    assert_eq!(archived.len(), 3);
}

#[tokio::test]
async fn projections_stream() {
    use futures_util::TryStreamExt;
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 30).await;
    let streamed: Vec<String> = User::query()
        .order_by(User::EMAIL.asc())
        .select(User::EMAIL)
        .stream(pool)
        .try_collect()
        .await
        .unwrap();
    let want: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY email")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(streamed.len(), 30);
    assert_eq!(streamed, want);
}
