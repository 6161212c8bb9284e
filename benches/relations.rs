//! Eager loading against hand-written sqlx and the N+1 loop, side by side in one criterion run,
//! on a fresh database (`TestDatabase`) with the shop's `users` and `orders`: 100 users with
//! 10 orders each, the orders of all 100 users loaded
//!
//! - `dbpat/load_children`: `Order::USER.load_children(&pool, &users)`, one statement;
//! - `sqlx/same_sql_grouped`: `sqlx::query_as` of the same SQL text
//!   (`SELECT ... FROM orders WHERE user_id = ANY($1) ORDER BY id, created_at`) into a
//!   `#[derive(sqlx::FromRow)]` struct, grouped by user in a `HashMap` the way a hand-written
//!   program would (the same result shape: one `Vec` per user);
//! - `sqlx/same_sql_fetch_only`: the same statement without grouping (for reference);
//! - `dbpat/n_plus_one_loop`: one `Order::USER.children_of(&user)` query per user, 100
//!   statements.
//!
//! The number of statements of each is counted once at setup (sqlx's `sqlx::query` events) and
//! printed, and dbpat's statement text is checked to be the hand-written one.
//! `cargo bench --bench relations`; `cargo test --all-targets` runs each once.

#[path = "../examples/shop/models.rs"]
#[allow(dead_code)]
mod models;
#[path = "support/take_turns.rs"]
mod take_turns;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dbpat::tiers::Tiers;
use dbpat::TableRow as _;
use dbpat::{Entity, Table};
use dbpat_runtime::testing::TestDatabase;
use models::{Order, OrderStatus, User, UserMetadata, UserStatus};
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use take_turns::take_turns;
use uuid::Uuid;

const USERS: usize = 100;
const ORDERS_PER_USER: usize = 10;

/// The order row as a hand-written sqlx program would declare it.
#[derive(Debug, sqlx::FromRow)]
#[allow(dead_code)]
struct RawOrder {
    id: Uuid,
    user_id: Uuid,
    status: String,
    total: Decimal,
    created_at: DateTime<Utc>,
}

/// The statement dbpat's `load_children` runs for `Order::USER`. Checked at setup: the text of
/// the statement dbpat sends (from sqlx's `sqlx::query` event) is this string, and the rows match.
fn same_sql() -> String {
    format!(
        "{} WHERE user_id = ANY($1) ORDER BY id, created_at",
        Order::sql().select
    )
}

async fn sqlx_fetch(pool: &PgPool, sql: &str, ids: &[Uuid]) -> Vec<RawOrder> {
    sqlx::query_as::<_, RawOrder>(sql)
        .bind(ids)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The hand-written eager load: one statement, grouped by user in the users' order.
async fn sqlx_grouped(pool: &PgPool, sql: &str, ids: &[Uuid]) -> Vec<Vec<RawOrder>> {
    let rows = sqlx_fetch(pool, sql, ids).await;
    let mut by_user: HashMap<Uuid, Vec<RawOrder>> = HashMap::with_capacity(ids.len());
    for row in rows {
        by_user.entry(row.user_id).or_default().push(row);
    }
    ids.iter()
        .map(|id| by_user.remove(id).unwrap_or_default())
        .collect()
}

async fn n_plus_one(pool: &PgPool, users: &[User]) -> Vec<Vec<Order>> {
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        out.push(
            Order::USER
                .children_of(u)
                .order_by(Order::ID.asc())
                .order_by(Order::CREATED_AT.asc())
                .fetch_all(pool)
                .await
                .unwrap(),
        );
    }
    out
}

/// Counts the statements sqlx executes on this thread, and keeps their text.
#[derive(Clone, Default)]
struct Statements(Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>);

/// The `db.statement` field of a `sqlx::query` event: the SQL text, between blank lines.
struct StatementText(Option<String>);

impl tracing::field::Visit for StatementText {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "db.statement" {
            self.0 = Some(value.trim().to_owned());
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl tracing::Subscriber for Statements {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target() == "sqlx::query"
    }
    fn new_span(&self, _: &tracing_core::span::Attributes<'_>) -> tracing_core::span::Id {
        tracing_core::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing_core::span::Id, _: &tracing_core::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing_core::span::Id, _: &tracing_core::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        let mut text = StatementText(None);
        event.record(&mut text);
        self.1.lock().unwrap().extend(text.0);
    }
    fn enter(&self, _: &tracing_core::span::Id) {}
    fn exit(&self, _: &tracing_core::span::Id) {}
}

/// What `f` returns, the number of statements it ran and the text of the first one.
fn statements_of<T>(
    rt: &tokio::runtime::Runtime,
    f: impl std::future::Future<Output = T>,
) -> (T, usize, String) {
    let counter = Statements::default();
    let _guard = tracing::subscriber::set_default(counter.clone());
    let out = rt.block_on(f);
    let first = counter
        .1
        .lock()
        .unwrap()
        .first()
        .cloned()
        .unwrap_or_default();
    (out, counter.0.load(Ordering::SeqCst), first)
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(40)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(TestDatabase::new());
    let pool = db.pool().clone();
    let users: Vec<User> = rt.block_on(async {
        let schema = dbpat::ddl::render_schema(&[&User::TABLE, &Order::TABLE]).unwrap();
        sqlx::raw_sql(&schema).execute(&pool).await.unwrap();
        Tiers::new(&Order::TABLE)
            .ensure_partitions(&pool, 1)
            .await
            .unwrap();
        let users = User::insert_many(
            &pool,
            &(0..USERS)
                .map(|i| User {
                    id: Uuid::nil(),
                    email: format!("user{i}@example.com"),
                    name: format!("User {i}"),
                    status: UserStatus::Active,
                    metadata: dbpat::Json(UserMetadata::default()),
                    created_at: DateTime::UNIX_EPOCH,
                    updated_at: DateTime::UNIX_EPOCH,
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
        let orders: Vec<Order> = users
            .iter()
            .flat_map(|u| {
                (0..ORDERS_PER_USER).map(|n| Order {
                    id: Uuid::nil(),
                    user_id: u.id,
                    status: OrderStatus::Paid,
                    total: Decimal::new(1000 + n as i64, 2),
                    created_at: DateTime::UNIX_EPOCH,
                })
            })
            .collect();
        Order::insert_many_count(&pool, &orders).await.unwrap();
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
        users
    });
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let sql = same_sql();

    // Same rows, same grouping, and the statements each one sends.
    let (eager, eager_statements, eager_sql) = statements_of(&rt, async {
        Order::USER.load_children(&pool, &users).await.unwrap()
    });
    let (by_hand, sqlx_statements, sqlx_sql) = statements_of(&rt, sqlx_grouped(&pool, &sql, &ids));
    let (looped, loop_statements, _) = statements_of(&rt, n_plus_one(&pool, &users));
    assert_eq!(
        eager_sql, sql,
        "dbpat runs exactly the hand-written SQL text"
    );
    assert_eq!(sqlx_sql, sql);
    let eager_ids: Vec<Vec<Uuid>> = eager
        .iter()
        .map(|g| g.iter().map(|o| o.id).collect())
        .collect();
    let hand_ids: Vec<Vec<Uuid>> = by_hand
        .iter()
        .map(|g| g.iter().map(|o| o.id).collect())
        .collect();
    let loop_ids: Vec<Vec<Uuid>> = looped
        .iter()
        .map(|g| g.iter().map(|o| o.id).collect())
        .collect();
    assert_eq!(eager_ids, hand_ids, "dbpat and sqlx load the same rows");
    assert_eq!(eager_ids, loop_ids, "and so does the N+1 loop");
    assert!(eager_ids.iter().all(|g| g.len() == ORDERS_PER_USER));
    println!(
        "relations: {USERS} users x {ORDERS_PER_USER} orders; statements per load: \
         dbpat load_children {eager_statements}, sqlx same SQL {sqlx_statements}, \
         N+1 loop {loop_statements}"
    );

    // A paired check that load changes on a shared machine cannot skew: the two loads
    // take turns, 1,000 times each under `cargo bench` (10 under `cargo test`), and the
    // medians are compared.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        1000
    } else {
        10
    };
    rt.block_on(take_turns(
        "relations: load_children vs sqlx same SQL grouped",
        rounds,
        || async { Order::USER.load_children(&pool, &users).await.unwrap() },
        || sqlx_grouped(&pool, &sql, &ids),
    ));

    let mut g = c.benchmark_group("eager_100x10");
    g.bench_function(BenchmarkId::new("dbpat", "load_children"), |b| {
        b.to_async(&rt)
            .iter(|| async { Order::USER.load_children(&pool, &users).await.unwrap() })
    });
    g.bench_function(BenchmarkId::new("sqlx", "same_sql_grouped"), |b| {
        b.to_async(&rt)
            .iter(|| async { sqlx_grouped(&pool, &sql, &ids).await })
    });
    g.bench_function(BenchmarkId::new("sqlx", "same_sql_fetch_only"), |b| {
        b.to_async(&rt)
            .iter(|| async { sqlx_fetch(&pool, &sql, &ids).await })
    });
    g.bench_function(BenchmarkId::new("dbpat", "n_plus_one_loop"), |b| {
        b.to_async(&rt)
            .iter(|| async { n_plus_one(&pool, &users).await })
    });
    g.finish();

    drop(pool);
    rt.block_on(db.drop_now());
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
