//! Joins along declared foreign keys on the real PostgreSQL, each compared with hand-written
//! SQL on the seeded shop (`projections::seed`): a parent left-joined to its children
//! (parents without children come back with `None`), inner joins in both directions with
//! filters and orders on both sides, a self-join both ways, projections and aggregates of a
//! join, and the patterns document's query (`Vec<(User, i64)>`) with its EXPLAIN on seeded
//! data.

use super::projections::seed;
use crate::support::query::shop_db;
use crate::support::shop::{Order, OrderStatus, User, UserStatus};
use dbpat::query::{base, columns_of, count, joined, plan_uses_index, sum, JoinFilter};
use dbpat::{Entity, Table};
use dbpat_runtime::testing::TestDatabase;
use rust_decimal::Decimal;
use uuid::Uuid;

/// A self-referencing foreign key: each employee's manager.
#[derive(Debug, Clone, PartialEq, Entity)]
#[dbpat(table = "join_employees")]
pub struct Employee {
    #[dbpat(primary_key)]
    pub id: i64,
    #[dbpat(references(Self, on_delete = set_null))]
    pub manager_id: Option<i64>,
    pub name: String,
}

/// `(user id, order id)` pairs by hand-written SQL.
async fn pairs(pool: &sqlx::PgPool, sql: &str) -> Vec<(Uuid, Option<Uuid>)> {
    sqlx::query_as(sql).fetch_all(pool).await.unwrap()
}

#[tokio::test]
async fn a_parent_left_joined_to_its_children() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 12).await;

    let query = User::query()
        .filter(User::STATUS.eq(UserStatus::Active))
        .left_join(Order::USER)
        .order_by(User::CREATED_AT.asc())
        .order_by(Order::CREATED_AT.asc());
    assert_eq!(
        query.to_sql(),
        "SELECT t0.id, t0.email, t0.name, t0.status, t0.metadata, t0.created_at, t0.updated_at, \
         t1.id, t1.user_id, t1.status, t1.total, t1.created_at \
         FROM users AS t0 LEFT JOIN orders AS t1 ON t1.user_id = t0.id \
         WHERE t0.status = $1 ORDER BY t0.created_at, t1.created_at"
    );
    let rows: Vec<(User, Option<Order>)> = query.fetch_all(pool).await.unwrap();
    let got: Vec<(Uuid, Option<Uuid>)> = rows
        .iter()
        .map(|(u, o)| (u.id, o.as_ref().map(|o| o.id)))
        .collect();
    let want = pairs(
        pool,
        "SELECT u.id, o.id FROM users u LEFT JOIN orders o ON o.user_id = u.id \
         WHERE u.status = 'active' ORDER BY u.created_at, o.created_at",
    )
    .await;
    assert_eq!(got, want);
    // Users 4 and 8 are active and have no order: one row each, with `None`.
    let without: Vec<&str> = rows
        .iter()
        .filter(|(_, o)| o.is_none())
        .map(|(u, _)| u.email.as_str())
        .collect();
    assert_eq!(without, ["user-4@example.com", "user-8@example.com"]);
    // Both entities decode completely (colliding `id`/`created_at`/`status` columns).
    for (u, o) in &rows {
        if let Some(o) = o {
            assert_eq!(o.user_id, u.id);
            assert!(o.created_at > u.created_at);
        }
        assert_eq!(u.status, UserStatus::Active);
    }
}

#[tokio::test]
async fn inner_joins_both_ways_with_filters_and_orders_on_both_sides() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 30).await;

    // Parent to children, inner: users without orders disappear.
    let rows: Vec<(User, Order)> = User::query()
        .filter(User::STATUS.eq(UserStatus::Active))
        .join(Order::USER)
        .filter(Order::STATUS.eq(OrderStatus::Paid))
        .filter(Order::TOTAL.ge(Decimal::new(10, 0)))
        .order_by(Order::TOTAL.desc())
        .limit(5)
        .fetch_all(pool)
        .await
        .unwrap();
    let got: Vec<(Uuid, Option<Uuid>)> = rows.iter().map(|(u, o)| (u.id, Some(o.id))).collect();
    let want = pairs(
        pool,
        "SELECT u.id, o.id FROM users u JOIN orders o ON o.user_id = u.id \
         WHERE u.status = 'active' AND o.status = 'paid' AND o.total >= 10 \
         ORDER BY o.total DESC LIMIT 5",
    )
    .await;
    assert_eq!(got, want);
    assert_eq!(rows.len(), 5);

    // A condition across both sides: OR of a user column and an order column.
    let query = User::query()
        .join(Order::USER)
        .filter(
            JoinFilter::new(User::EMAIL.eq("user-5@example.com"))
                .or(Order::TOTAL.gt(Decimal::new(28, 0))),
        )
        .order_by(Order::TOTAL.asc());
    assert!(
        query
            .to_sql()
            .ends_with("WHERE (t0.email = $1 OR t1.total > $2) ORDER BY t1.total"),
        "{}",
        query.to_sql()
    );
    let rows: Vec<(User, Order)> = query.fetch_all(pool).await.unwrap();
    let got: Vec<(Uuid, Option<Uuid>)> = rows.iter().map(|(u, o)| (u.id, Some(o.id))).collect();
    let want = pairs(
        pool,
        "SELECT u.id, o.id FROM users u JOIN orders o ON o.user_id = u.id \
         WHERE u.email = 'user-5@example.com' OR o.total > 28 ORDER BY o.total",
    )
    .await;
    assert_eq!(got, want);
    assert!(rows.iter().any(|(u, _)| u.email == "user-5@example.com"));
    assert!(rows.iter().any(|(_, o)| o.total > Decimal::new(28, 0)));

    // Child to parent: each order with its user, filtered by the user.
    let query = Order::query()
        .filter(Order::TOTAL.lt(Decimal::new(20, 0)))
        .join(Order::USER)
        .filter(User::STATUS.eq(UserStatus::Inactive))
        .order_by(User::EMAIL.asc())
        .order_by(Order::CREATED_AT.desc());
    assert_eq!(
        query.to_sql(),
        "SELECT t0.id, t0.user_id, t0.status, t0.total, t0.created_at, t1.id, t1.email, \
         t1.name, t1.status, t1.metadata, t1.created_at, t1.updated_at \
         FROM orders AS t0 JOIN users AS t1 ON t1.id = t0.user_id \
         WHERE t0.total < $1 AND t1.status = $2 ORDER BY t1.email, t0.created_at DESC"
    );
    let rows: Vec<(Order, User)> = query.fetch_all(pool).await.unwrap();
    let got: Vec<(Uuid, Option<Uuid>)> = rows.iter().map(|(o, u)| (u.id, Some(o.id))).collect();
    let want = pairs(
        pool,
        "SELECT u.id, o.id FROM orders o JOIN users u ON u.id = o.user_id \
         WHERE o.total < 20 AND u.status = 'inactive' ORDER BY u.email, o.created_at DESC",
    )
    .await;
    assert_eq!(got, want);
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|(o, u)| o.user_id == u.id && u.status == UserStatus::Inactive));
}

#[tokio::test]
async fn a_self_join_both_ways() {
    let db = TestDatabase::new().await;
    let pool = db.pool();
    sqlx::raw_sql(&dbpat::ddl::render_schema(&[&Employee::TABLE]).unwrap())
        .execute(pool)
        .await
        .unwrap();
    // 1 leads 2 and 3; 2 leads 4; 5 has no manager and no report.
    sqlx::raw_sql(
        "INSERT INTO join_employees (id, manager_id, name) OVERRIDING SYSTEM VALUE VALUES
         (1, NULL, 'ada'), (2, 1, 'bob'), (3, 1, 'cy'), (4, 2, 'dee'), (5, NULL, 'eve')",
    )
    .execute(pool)
    .await
    .unwrap();

    // Each employee with their manager (child to parent), `None` at the top.
    let query = Employee::query()
        .left_join(Employee::MANAGER.to_parent())
        .order_by(base(Employee::ID.asc()));
    assert_eq!(
        query.to_sql(),
        "SELECT t0.id, t0.manager_id, t0.name, t1.id, t1.manager_id, t1.name \
         FROM join_employees AS t0 LEFT JOIN join_employees AS t1 ON t1.id = t0.manager_id \
         ORDER BY t0.id"
    );
    let rows: Vec<(Employee, Option<Employee>)> = query.fetch_all(pool).await.unwrap();
    let got: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|(e, m)| (e.name.clone(), m.as_ref().map(|m| m.name.clone())))
        .collect();
    let want: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT e.name, m.name FROM join_employees e LEFT JOIN join_employees m \
         ON m.id = e.manager_id ORDER BY e.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got[0], ("ada".to_owned(), None));
    assert_eq!(got[3], ("dee".to_owned(), Some("bob".to_owned())));

    // Each manager with their reports (parent to children), filtered on the joined side.
    let rows: Vec<(String, String)> = Employee::query()
        .join(Employee::MANAGER.to_children())
        .filter(joined(Employee::NAME.ne("cy")))
        .order_by(base(Employee::NAME.asc()))
        .order_by(joined(Employee::NAME.asc()))
        .select((base(Employee::NAME), joined(Employee::NAME)))
        .fetch_all(pool)
        .await
        .unwrap();
    let want: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, e.name FROM join_employees m JOIN join_employees e \
         ON e.manager_id = m.id WHERE e.name <> 'cy' ORDER BY m.name, e.name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows, want);
    assert_eq!(
        rows,
        [
            ("ada".to_owned(), "bob".to_owned()),
            ("bob".to_owned(), "dee".to_owned())
        ]
    );
}

#[tokio::test]
async fn projections_and_aggregates_of_a_join() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 12).await;

    // Columns of both sides; the left-joined side's columns are `Option`s.
    let got: Vec<(String, Option<Decimal>)> = User::query()
        .left_join(Order::USER)
        .filter(User::EMAIL.in_(["user-4@example.com", "user-5@example.com"]))
        .order_by(User::EMAIL.asc())
        .order_by(Order::TOTAL.asc())
        .select((User::EMAIL, Order::TOTAL))
        .fetch_all(pool)
        .await
        .unwrap();
    let want: Vec<(String, Option<Decimal>)> = sqlx::query_as(
        "SELECT u.email, o.total FROM users u LEFT JOIN orders o ON o.user_id = u.id \
         WHERE u.email IN ('user-4@example.com', 'user-5@example.com') \
         ORDER BY u.email, o.total",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got[0], ("user-4@example.com".to_owned(), None));

    // Per user, left join: COUNT is 0 and SUM is NULL (`None`) without orders.
    let got: Vec<(String, i64, Option<Decimal>)> = User::query()
        .left_join(Order::USER)
        .group_by(User::ID)
        .select((User::EMAIL, count(Order::ID), sum(Order::TOTAL)))
        .order_by(User::EMAIL.asc())
        .fetch_all(pool)
        .await
        .unwrap();
    let want: Vec<(String, i64, Option<Decimal>)> = sqlx::query_as(
        "SELECT u.email, COUNT(o.id), SUM(o.total) FROM users u \
         LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id ORDER BY u.email",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    let zero = got.iter().find(|r| r.0 == "user-4@example.com").unwrap();
    assert_eq!((zero.1, zero.2), (0, None));
    let three = got.iter().find(|r| r.0 == "user-7@example.com").unwrap();
    assert_eq!((three.1, three.2), (3, Some(Decimal::new(2106, 2))));

    // A condition in ON keeps the parents without a match (count 0); in WHERE it drops them.
    let query = User::query()
        .left_join(Order::USER)
        .on(Order::STATUS.eq(OrderStatus::Paid))
        .group_by(User::ID)
        .select((User::EMAIL, count(Order::ID)))
        .order_by(User::EMAIL.asc());
    assert_eq!(
        query.to_sql(),
        "SELECT t0.email, COUNT(t1.id) FROM users AS t0 LEFT JOIN orders AS t1 \
         ON t1.user_id = t0.id AND t1.status = $1 GROUP BY t0.id ORDER BY t0.email"
    );
    let got: Vec<(String, i64)> = query.fetch_all(pool).await.unwrap();
    let want: Vec<(String, i64)> = sqlx::query_as(
        "SELECT u.email, COUNT(o.id) FROM users u LEFT JOIN orders o \
         ON o.user_id = u.id AND o.status = 'paid' GROUP BY u.id ORDER BY u.email",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got.len(), 12, "every user, paid orders or not");
    assert!(got.iter().any(|(_, n)| *n == 0) && got.iter().any(|(_, n)| *n == 1));

    // The same over an inner join of child to parent: SUM is a bare `Decimal`.
    let got: Vec<(UserStatus, i64, Decimal)> = Order::query()
        .join(Order::USER)
        .group_by(User::STATUS)
        .select((User::STATUS, count(Order::ID), sum(Order::TOTAL)))
        .order_by(User::STATUS.asc())
        .fetch_all(pool)
        .await
        .unwrap();
    let want: Vec<(String, i64, Decimal)> = sqlx::query_as(
        "SELECT u.status, COUNT(o.id), SUM(o.total) FROM orders o JOIN users u \
         ON u.id = o.user_id GROUP BY u.status ORDER BY u.status",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(got.len(), want.len());
    assert_eq!(got[0].0, UserStatus::Active);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.1, g.2), (w.1, w.2));
    }
}

/// A child of `Product` (whose full-text `search` cannot be qualified inside a join).
#[derive(Debug, Clone, PartialEq, Entity)]
#[dbpat(table = "join_reviews")]
pub struct Review {
    #[dbpat(primary_key)]
    pub id: i64,
    #[dbpat(references(crate::support::shop::Product, on_delete = cascade))]
    pub product_id: Uuid,
    pub stars: i16,
}

#[tokio::test]
async fn aggregates_over_a_whole_join_and_unsupported_joins() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 20).await;
    // One result over the whole left join: COUNT of the joined side counts matches only.
    let got: (i64, i64, Option<Decimal>) = User::query()
        .filter(User::STATUS.eq(UserStatus::Inactive))
        .left_join(Order::USER)
        .aggregate((
            dbpat::query::count_all(),
            count(Order::ID),
            sum(Order::TOTAL),
        ))
        .fetch_one(pool)
        .await
        .unwrap();
    let want: (i64, i64, Option<Decimal>) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(o.id), SUM(o.total) FROM users u \
         LEFT JOIN orders o ON o.user_id = u.id WHERE u.status = 'inactive'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(got, want);
    assert!(
        got.0 > got.1,
        "inactive users without orders count in COUNT(*) only"
    );

    // Full-text search renders the index's unqualified expression: refused in a join.
    sqlx::raw_sql(
        "CREATE TABLE join_reviews (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         product_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE, \
         stars SMALLINT NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
    use crate::support::shop::Product;
    let err = Product::query()
        .filter(Product::search("product"))
        .left_join(Review::PRODUCT)
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, dbpat::Error::InvalidQuery(_)), "{err:?}");
    // Without the search, the same join runs: ten products, no reviews.
    let rows = Product::query()
        .left_join(Review::PRODUCT)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|(_, r)| r.is_none()));
}

/// The patterns document's query:
/// `SELECT u.*, COUNT(o.id) AS order_count FROM users u LEFT JOIN orders o ON o.user_id = u.id
/// WHERE u.status = 'active' GROUP BY u.id ORDER BY u.created_at DESC LIMIT 20`.
#[tokio::test]
async fn the_patterns_query_returns_users_with_their_order_counts() {
    let db = shop_db().await;
    let pool = db.pool();
    seed(pool, 100).await;

    let query = User::query()
        .filter(User::STATUS.eq(UserStatus::Active))
        .left_join(Order::USER)
        .group_by(User::ID)
        .select((columns_of::<User>(), count(Order::ID).alias("order_count")))
        .order_by(User::CREATED_AT.desc())
        .limit(20);
    assert_eq!(
        query.to_sql(),
        "SELECT t0.id, t0.email, t0.name, t0.status, t0.metadata, t0.created_at, t0.updated_at, \
         COUNT(t1.id) AS order_count FROM users AS t0 LEFT JOIN orders AS t1 \
         ON t1.user_id = t0.id WHERE t0.status = $1 GROUP BY t0.id \
         ORDER BY t0.created_at DESC LIMIT $2"
    );
    let got: Vec<(User, i64)> = query.fetch_all(pool).await.unwrap();
    let want: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT u.id, COUNT(o.id) AS order_count FROM users u \
         LEFT JOIN orders o ON o.user_id = u.id WHERE u.status = 'active' \
         GROUP BY u.id ORDER BY u.created_at DESC LIMIT 20",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let ids: Vec<(Uuid, i64)> = got.iter().map(|(u, n)| (u.id, *n)).collect();
    assert_eq!(ids, want);
    assert_eq!(got.len(), 20);
    // User 99 is the newest active user (99 % 3 == 0 is inactive: 98 then).
    assert_eq!(got[0].0.email, "user-98@example.com");
    assert_eq!(got[0].1, 98 % 4);
    assert!(got.iter().any(|(_, n)| *n == 0));

    // The same as a stream, one decoded row at a time.
    use futures_util::TryStreamExt;
    let streamed: Vec<(Uuid, i64)> = User::query()
        .filter(User::STATUS.eq(UserStatus::Active))
        .left_join(Order::USER)
        .group_by(User::ID)
        .select((columns_of::<User>(), count(Order::ID)))
        .order_by(User::CREATED_AT.desc())
        .limit(20)
        .stream(pool)
        .map_ok(|(u, n)| (u.id, n))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed, want);

    // The same into a user struct, by column name (the entity flattened, the count aliased).
    #[derive(sqlx::FromRow)]
    struct UserWithOrderCount {
        #[sqlx(flatten)]
        user: User,
        order_count: i64,
    }
    let structs: Vec<UserWithOrderCount> = User::query()
        .filter(User::STATUS.eq(UserStatus::Active))
        .left_join(Order::USER)
        .group_by(User::ID)
        .select_as::<UserWithOrderCount, _, _>((
            columns_of::<User>(),
            count(Order::ID).alias("order_count"),
        ))
        .order_by(User::CREATED_AT.desc())
        .limit(20)
        .fetch_all(pool)
        .await
        .unwrap();
    let from_structs: Vec<(Uuid, i64)> =
        structs.iter().map(|r| (r.user.id, r.order_count)).collect();
    assert_eq!(from_structs, want);
    assert!(got.iter().all(|(u, n)| *n
        == (u.email[5..u.email.find('@').unwrap()]
            .parse::<i64>()
            .unwrap()
            % 4)));
}

/// The patterns query's plan on 3,000 users of which 1% are active, with 60 orders each
/// (180,000 orders), ANALYZEd, no planner setting changed: a nested loop over the active users
/// probing the orders' `(user_id, created_at DESC)` index (on each partition).
///
/// With most users active (the seed of the other tests: two thirds), PostgreSQL rightly
/// prefers one hash join over a sequential scan of the orders to thousands of index probes:
/// `GROUP BY` comes before `ORDER BY ... LIMIT`, so every active user is aggregated, not 20.
#[tokio::test]
async fn the_patterns_query_uses_the_orders_user_id_index() {
    let db = shop_db().await;
    let pool = db.pool();
    sqlx::raw_sql(
        "INSERT INTO users (id, email, name, status, created_at)
         SELECT md5('u' || n)::uuid, 'user-' || n || '@example.com', 'Name ' || n,
                CASE WHEN n % 100 = 0 THEN 'active' ELSE 'inactive' END,
                timestamptz '2025-01-01 00:00:00+00' + n * interval '1 minute'
         FROM generate_series(0, 2999) AS n;
         INSERT INTO orders (id, user_id, status, total, created_at)
         SELECT md5('o' || n || '-' || j)::uuid, md5('u' || n)::uuid, 'paid', n + j / 100.0,
                timestamptz '2025-02-01 00:00:00+00' + n * interval '1 second' + j * interval '1 millisecond'
         FROM generate_series(0, 2999) AS n, generate_series(1, 60) AS j;
         ANALYZE;",
    )
    .execute(pool)
    .await
    .unwrap();
    let query = || {
        User::query()
            .filter(User::STATUS.eq(UserStatus::Active))
            .left_join(Order::USER)
            .group_by(User::ID)
            .select((columns_of::<User>(), count(Order::ID)))
            .order_by(User::CREATED_AT.desc())
            .limit(20)
    };
    let plan = query().explain(pool).await.unwrap();
    assert!(
        plan_uses_index(&plan, "orders_2025_q1_user_id_created_at_idx"),
        "{plan}"
    );
    let rows = query().fetch_all(pool).await.unwrap();
    assert_eq!(rows.len(), 20);
    assert!(rows
        .iter()
        .all(|(u, n)| u.status == UserStatus::Active && *n == 60));
    assert_eq!(rows[0].0.email, "user-2900@example.com");
}
