//! Joins, aggregates and projections against hand-written sqlx, side by side in one criterion
//! run, on a fresh database (`TestDatabase`) holding 1,000 users (two thirds active) and 1,500
//! orders (0 to 3 per user):
//!
//! - `left_join`: active users with their orders, newest users first, 50 rows
//!   (`Vec<(User, Option<Order>)>`);
//! - `patterns_query`: the patterns document's `SELECT u.*, COUNT(o.id) ... GROUP BY u.id
//!   ORDER BY u.created_at DESC LIMIT 20` (`Vec<(User, i64)>`);
//! - `projection`: `(email, name)` of 100 active users (`Vec<(String, String)>`).
//!
//! The hand-written side runs the same SQL text dbpat renders (`to_sql()`), binds the same
//! values, and decodes each row by position into structs of its own, as a sqlx program reading
//! two tables' colliding column names would. `cargo bench --bench joins`.

#[path = "../examples/shop/models.rs"]
#[allow(dead_code)]
mod models;
#[path = "support/take_turns.rs"]
mod take_turns;

use chrono::{DateTime, Utc};
#[path = "support/config.rs"]
mod config;

use criterion::{criterion_group, criterion_main, Criterion};
use dbpat::query::{columns_of, count};
use dbpat::{Entity, Json, Table};
use dbpat_runtime::testing::TestDatabase;
use models::{Order, User, UserMetadata, UserStatus};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::Row;
use take_turns::take_turns;
use uuid::Uuid;

/// A user as a hand-written sqlx program declares it.
#[allow(dead_code)]
struct RawUser {
    id: Uuid,
    email: String,
    name: String,
    status: String,
    metadata: Json<UserMetadata>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[allow(dead_code)]
struct RawOrder {
    id: Uuid,
    user_id: Uuid,
    status: String,
    total: Decimal,
    created_at: DateTime<Utc>,
}

fn raw_user(row: &PgRow, at: usize) -> RawUser {
    RawUser {
        id: row.get(at),
        email: row.get(at + 1),
        name: row.get(at + 2),
        status: row.get(at + 3),
        metadata: row.get(at + 4),
        created_at: row.get(at + 5),
        updated_at: row.get(at + 6),
    }
}

fn raw_order(row: &PgRow, at: usize) -> Option<RawOrder> {
    let id: Option<Uuid> = row.get(at);
    Some(RawOrder {
        id: id?,
        user_id: row.get(at + 1),
        status: row.get(at + 2),
        total: row.get(at + 3),
        created_at: row.get(at + 4),
    })
}

fn left_join() -> dbpat::query::Join<User, Order, dbpat::query::LeftOuter> {
    User::query()
        .filter(User::STATUS.eq(UserStatus::Active))
        .order_by(User::CREATED_AT.desc())
        .left_join(Order::USER)
        .limit(50)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(TestDatabase::new());
    let pool = db.pool().clone();
    rt.block_on(async {
        let schema = dbpat::ddl::render_schema(&[&User::TABLE, &Order::TABLE]).unwrap();
        sqlx::raw_sql(&schema).execute(&pool).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO users (id, email, name, status, created_at)
             SELECT md5('u' || n)::uuid, 'user-' || n || '@example.com', 'Name ' || n,
                    CASE WHEN n % 3 = 0 THEN 'inactive' ELSE 'active' END,
                    timestamptz '2025-01-01 00:00:00+00' + n * interval '1 minute'
             FROM generate_series(0, 999) AS n;
             INSERT INTO orders (id, user_id, status, total, created_at)
             SELECT md5('o' || n || '-' || j)::uuid, md5('u' || n)::uuid, 'paid', n + j / 100.0,
                    timestamptz '2025-02-01 00:00:00+00' + n * interval '1 minute' + j * interval '1 second'
             FROM generate_series(0, 999) AS n, generate_series(1, 3) AS j WHERE j <= n % 4;
             ANALYZE;",
        )
        .execute(&pool)
        .await
        .unwrap();
    });

    let join_sql = left_join().to_sql();
    let mut g = c.benchmark_group("left_join_50");
    g.bench_function("dbpat", |b| {
        b.to_async(&rt).iter(|| async {
            let rows: Vec<(User, Option<Order>)> = left_join().fetch_all(&pool).await.unwrap();
            rows
        })
    });
    g.bench_function("sqlx", |b| {
        b.to_async(&rt).iter(|| async {
            sqlx::query(&join_sql)
                .bind("active")
                .bind(50_i64)
                .map(|row: PgRow| (raw_user(&row, 0), raw_order(&row, 7)))
                .fetch_all(&pool)
                .await
                .unwrap()
        })
    });
    g.finish();

    let patterns = || {
        User::query()
            .filter(User::STATUS.eq(UserStatus::Active))
            .left_join(Order::USER)
            .group_by(User::ID)
            .select((columns_of::<User>(), count(Order::ID).alias("order_count")))
            .order_by(User::CREATED_AT.desc())
            .limit(20)
    };
    let patterns_sql = patterns().to_sql();
    let mut g = c.benchmark_group("patterns_query");
    g.bench_function("dbpat", |b| {
        b.to_async(&rt).iter(|| async {
            let rows: Vec<(User, i64)> = patterns().fetch_all(&pool).await.unwrap();
            rows
        })
    });
    g.bench_function("sqlx", |b| {
        b.to_async(&rt).iter(|| async {
            sqlx::query(&patterns_sql)
                .bind("active")
                .bind(20_i64)
                .map(|row: PgRow| (raw_user(&row, 0), row.get::<i64, _>(7)))
                .fetch_all(&pool)
                .await
                .unwrap()
        })
    });
    g.finish();

    let projection = || {
        User::query()
            .filter(User::STATUS.eq(UserStatus::Active))
            .order_by(User::CREATED_AT.desc())
            .limit(100)
            .select((User::EMAIL, User::NAME))
    };
    let projection_sql = projection().to_sql();
    let mut g = c.benchmark_group("projection_100");
    g.bench_function("dbpat", |b| {
        b.to_async(&rt).iter(|| async {
            let rows: Vec<(String, String)> = projection().fetch_all(&pool).await.unwrap();
            rows
        })
    });
    g.bench_function("sqlx", |b| {
        b.to_async(&rt).iter(|| async {
            sqlx::query_as::<_, (String, String)>(&projection_sql)
                .bind("active")
                .bind(100_i64)
                .fetch_all(&pool)
                .await
                .unwrap()
        })
    });
    g.finish();

    // Under `cargo test --all-targets` (criterion's test mode) run each side a few times only.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        2000
    } else {
        3
    };
    rt.block_on(take_turns(
        "left_join_50",
        rounds,
        || async { left_join().fetch_all(&pool).await.unwrap() },
        || async {
            sqlx::query(&join_sql)
                .bind("active")
                .bind(50_i64)
                .map(|row: PgRow| (raw_user(&row, 0), raw_order(&row, 7)))
                .fetch_all(&pool)
                .await
                .unwrap()
        },
    ));
    rt.block_on(take_turns(
        "patterns_query",
        rounds,
        || async { patterns().fetch_all(&pool).await.unwrap() },
        || async {
            sqlx::query(&patterns_sql)
                .bind("active")
                .bind(20_i64)
                .map(|row: PgRow| (raw_user(&row, 0), row.get::<i64, _>(7)))
                .fetch_all(&pool)
                .await
                .unwrap()
        },
    ));
    rt.block_on(take_turns(
        "projection_100",
        rounds,
        || async { projection().fetch_all(&pool).await.unwrap() },
        || async {
            sqlx::query_as::<_, (String, String)>(&projection_sql)
                .bind("active")
                .bind(100_i64)
                .fetch_all(&pool)
                .await
                .unwrap()
        },
    ));

    drop(pool);
    rt.block_on(db.drop_now());
}

criterion_group! {
    name = benches;
    config = config::criterion_config();
    targets = bench
}
criterion_main!(benches);
