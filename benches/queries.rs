//! dbpat against hand-written sqlx, side by side in one criterion run, on a fresh database
//! (`TestDatabase`): find_by_id, insert, versioned update, and a 1,000-row batch insert
//! (dbpat's UNNEST `insert_many` vs a loop of single inserts vs `COPY`), and upserts (one row,
//! and a 100-row `upsert_many`, `ON CONFLICT (id) DO UPDATE` of existing versioned rows).
//!
//! The hand-written side uses `#[derive(sqlx::FromRow)]` and `sqlx::query_as(...).bind(...)`
//! with the same SQL text dbpat renders, so the difference is dbpat's own overhead.
//! `cargo bench --bench queries`; `cargo test --all-targets` runs each function once.

#[path = "../examples/shop/models.rs"]
#[allow(dead_code)]
mod models;
#[path = "support/take_turns.rs"]
mod take_turns;

use chrono::{DateTime, Utc};
#[path = "support/config.rs"]
mod config;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dbpat::TableRow as _;
use dbpat::{Entity, Table};
use dbpat_runtime::testing::TestDatabase;
use models::Product;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use take_turns::take_turns;
use uuid::Uuid;

/// The same row, as a hand-written sqlx program would declare it.
#[derive(Debug, sqlx::FromRow)]
#[allow(dead_code)]
struct RawProduct {
    id: Uuid,
    name: String,
    description: String,
    price: Decimal,
    category: String,
    attributes: serde_json::Value,
    stock: i32,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn product(n: usize) -> Product {
    Product {
        id: Uuid::nil(),
        name: format!("Product {n}"),
        description: format!("A product numbered {n}, with a description"),
        price: Decimal::new(1999 + n as i64, 2),
        category: format!("category-{}", n % 10),
        attributes: json!({"brand": format!("brand-{}", n % 50), "color": "black"}),
        stock: 100,
        version: 0,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    }
}

/// The hand-written find by key: the same statement text as dbpat's.
async fn sqlx_find(pool: &PgPool, id: Uuid) -> RawProduct {
    sqlx::query_as::<_, RawProduct>(&Product::sql().find_by_key)
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap()
}

async fn sqlx_insert(pool: impl sqlx::PgExecutor<'_>, p: &Product) -> RawProduct {
    sqlx::query_as::<_, RawProduct>(&Product::sql().insert)
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.price)
        .bind(&p.category)
        .bind(&p.attributes)
        .bind(p.stock)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// One COPY row in CSV: fields quoted, quotes doubled.
fn csv_row(out: &mut String, p: &Product) {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    out.push_str(&format!(
        "{},{},{},{},{},{}\n",
        q(&p.name),
        q(&p.description),
        p.price,
        q(&p.category),
        q(&p.attributes.to_string()),
        p.stock
    ));
}

async fn copy_in(pool: &PgPool, rows: &[Product]) -> u64 {
    let mut data = String::with_capacity(rows.len() * 128);
    for p in rows {
        csv_row(&mut data, p);
    }
    let mut conn = pool.acquire().await.unwrap();
    let mut copy = conn
        .copy_in_raw(
            "COPY products (name, description, price, category, attributes, stock) FROM STDIN (FORMAT csv)",
        )
        .await
        .unwrap();
    copy.send(data.as_bytes()).await.unwrap();
    copy.finish().await.unwrap()
}

/// The upsert of one row, hand-written: dbpat's statement text, values bound by hand.
async fn sqlx_upsert_one(pool: &PgPool, sql: &str, p: &Product) -> RawProduct {
    sqlx::query_as::<_, RawProduct>(sql)
        .bind(p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.price)
        .bind(&p.category)
        .bind(&p.attributes)
        .bind(p.stock)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The UNNEST upsert of a batch, hand-written: one array per column.
async fn sqlx_upsert_many(pool: &PgPool, sql: &str, rows: &[Product]) -> usize {
    let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
    let names: Vec<&str> = rows.iter().map(|p| p.name.as_str()).collect();
    let descriptions: Vec<&str> = rows.iter().map(|p| p.description.as_str()).collect();
    let prices: Vec<Decimal> = rows.iter().map(|p| p.price).collect();
    let categories: Vec<&str> = rows.iter().map(|p| p.category.as_str()).collect();
    let attributes: Vec<&serde_json::Value> = rows.iter().map(|p| &p.attributes).collect();
    let stocks: Vec<i32> = rows.iter().map(|p| p.stock).collect();
    sqlx::query_as::<_, RawProduct>(sql)
        .bind(ids)
        .bind(names)
        .bind(descriptions)
        .bind(prices)
        .bind(categories)
        .bind(attributes)
        .bind(stocks)
        .fetch_all(pool)
        .await
        .unwrap()
        .len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(TestDatabase::new());
    let pool = db.pool().clone();
    rt.block_on(async {
        let schema = dbpat::ddl::render_schema(&[&models::User::TABLE, &Product::TABLE]).unwrap();
        sqlx::raw_sql(&schema).execute(&pool).await.unwrap();
        Product::insert_many_count(&pool, &(0..1000).map(product).collect::<Vec<_>>())
            .await
            .unwrap();
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    });
    let target = rt
        .block_on(Table::insert(&pool, &product(5_000_000)))
        .unwrap();
    let id = target.id;

    let mut g = c.benchmark_group("find");
    g.bench_function("dbpat", |b| {
        b.to_async(&rt)
            .iter(|| async { Product::find(&pool, &id).await.unwrap().unwrap() })
    });
    g.bench_function("sqlx", |b| b.to_async(&rt).iter(|| sqlx_find(&pool, id)));
    g.finish();

    let row = product(7);
    let mut g = c.benchmark_group("insert");
    g.bench_function("dbpat", |b| {
        b.to_async(&rt)
            .iter(|| async { Table::insert(&pool, &row).await.unwrap() })
    });
    g.bench_function("sqlx", |b| {
        b.to_async(&rt)
            .iter(|| async { sqlx_insert(&pool, &row).await })
    });
    g.finish();

    // Versioned update: each side updates its own row, carrying the version forward.
    let mut g = c.benchmark_group("versioned_update");
    g.bench_function("dbpat", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let pool = pool.clone();
            async move {
                let mut p = Table::insert(&pool, &product(1)).await.unwrap();
                let start = Instant::now();
                for _ in 0..iters {
                    p.stock += 1;
                    Table::update(&pool, &mut p).await.unwrap();
                }
                start.elapsed()
            }
        })
    });
    for (name, sql) in [
        // The same statement text dbpat runs (it tells a stale version from a missing row).
        (
            "sqlx_same_sql",
            Product::sql().update_checked.clone().unwrap(),
        ),
        // The patterns document's plain `UPDATE ... WHERE id = $1 AND version = $2 RETURNING *`.
        ("sqlx_plain_update", Product::sql().update.clone()),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (pool, sql) = (pool.clone(), sql.clone());
                async move {
                    let p = sqlx_insert(&pool, &product(2)).await;
                    let (mut stock, mut version) = (p.stock, p.version);
                    let start = Instant::now();
                    for _ in 0..iters {
                        stock += 1;
                        let row: RawProduct = sqlx::query_as(&sql)
                            .bind(p.id)
                            .bind(&p.name)
                            .bind(&p.description)
                            .bind(p.price)
                            .bind(&p.category)
                            .bind(&p.attributes)
                            .bind(stock)
                            .bind(version)
                            .fetch_one(&pool)
                            .await
                            .unwrap();
                        version = row.version;
                    }
                    start.elapsed()
                }
            })
        });
    }
    g.finish();

    let batch: Vec<Product> = (0..1000).map(product).collect();
    let mut g = c.benchmark_group("insert_1000");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function(BenchmarkId::new("dbpat", "insert_many"), |b| {
        b.to_async(&rt)
            .iter(|| async { Product::insert_many(&pool, &batch).await.unwrap().len() })
    });
    g.bench_function(BenchmarkId::new("dbpat", "insert_many_count"), |b| {
        b.to_async(&rt)
            .iter(|| async { Product::insert_many_count(&pool, &batch).await.unwrap() })
    });
    g.bench_function(BenchmarkId::new("sqlx", "copy"), |b| {
        b.to_async(&rt)
            .iter(|| async { copy_in(&pool, &batch).await })
    });
    // The naive loop: each insert is its own statement, round trip and commit.
    g.bench_function(BenchmarkId::new("sqlx", "loop_autocommit"), |b| {
        b.to_async(&rt).iter(|| async {
            for p in &batch {
                sqlx_insert(&pool, p).await;
            }
        })
    });
    // The same loop inside one transaction: round trips only, one commit.
    g.bench_function(BenchmarkId::new("sqlx", "loop_in_tx"), |b| {
        b.to_async(&rt).iter(|| async {
            let mut tx = pool.begin().await.unwrap();
            for p in &batch {
                sqlx_insert(&mut *tx, p).await;
            }
            tx.commit().await.unwrap();
        })
    });
    g.finish();

    // Upserts that update existing rows (the version is bumped each time): one row, and 100
    // rows in one UNNEST statement. Each side has its own rows; the sqlx side runs the text
    // dbpat renders (`TableSql::upserts`) with the values bound by hand.
    let existing: Vec<Product> = rt
        .block_on(
            Product::query()
                .order_by(Product::NAME.asc())
                .limit(202)
                .fetch_all(&pool),
        )
        .unwrap();
    let upsert_sql = Product::sql().upsert(&["id"]).unwrap();
    let one_sql = format!("{}{}", upsert_sql.one_head, upsert_sql.update_all);
    let many_sql = format!("{}{}", upsert_sql.many_head, upsert_sql.update_all);
    let (dbpat_one, sqlx_one) = (existing[0].clone(), existing[1].clone());
    let (dbpat_many, sqlx_many) = (existing[2..102].to_vec(), existing[102..202].to_vec());
    let mut g = c.benchmark_group("upsert");
    g.bench_function("dbpat", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, row) = (pool.clone(), dbpat_one.clone());
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    Product::upsert(&pool, &row)
                        .on(Product::PKEY)
                        .do_update_all()
                        .await
                        .unwrap();
                }
                start.elapsed()
            }
        })
    });
    g.bench_function("sqlx", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, p, sql) = (pool.clone(), sqlx_one.clone(), one_sql.clone());
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    sqlx_upsert_one(&pool, &sql, &p).await;
                }
                start.elapsed()
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("upsert_many_100");
    g.bench_function("dbpat", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, rows) = (pool.clone(), dbpat_many.clone());
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let stored = Product::upsert_many(&pool, &rows)
                        .on(Product::PKEY)
                        .do_update_all()
                        .await
                        .unwrap();
                    assert_eq!(stored.len(), 100);
                }
                start.elapsed()
            }
        })
    });
    g.bench_function("sqlx", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, rows, sql) = (pool.clone(), sqlx_many.clone(), many_sql.clone());
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    assert_eq!(sqlx_upsert_many(&pool, &sql, &rows).await, 100);
                }
                start.elapsed()
            }
        })
    });
    g.finish();

    // Side by side in one loop, taking turns (as `benches/cache.rs` does): the groups above
    // run one side after the other, so the dead row versions the first side's updates leave
    // on the shared pages, and any change of load on a shared machine, fall on the second.
    // Here each round runs both sides, in alternating order; medians of every round.
    rt.block_on(async {
        // Every dbpat statement runs inside a `dbpat.query` span and records its duration
        // (`dbpat_query_duration_seconds`); with no tracing subscriber and no metrics recorder
        // installed (as here) that must cost nothing measurable against the sqlx floor.
        take_turns(
            "find (no subscriber, no recorder)",
            5000,
            || async { Product::find(&pool, &id).await.unwrap().unwrap() },
            || sqlx_find(&pool, id),
        )
        .await;
        take_turns(
            "upsert (one row)",
            2000,
            || async {
                Product::upsert(&pool, &dbpat_one)
                    .on(Product::PKEY)
                    .do_update_all()
                    .await
                    .unwrap()
            },
            || sqlx_upsert_one(&pool, &one_sql, &sqlx_one),
        )
        .await;
        take_turns(
            "upsert_many (100 rows)",
            400,
            || async {
                let n = Product::upsert_many(&pool, &dbpat_many)
                    .on(Product::PKEY)
                    .do_update_all()
                    .await
                    .unwrap()
                    .len();
                assert_eq!(n, 100);
            },
            || async {
                let n = sqlx_upsert_many(&pool, &many_sql, &sqlx_many).await;
                assert_eq!(n, 100);
            },
        )
        .await;
    });

    drop(pool);
    rt.block_on(db.drop_now());
}

criterion_group! {
    name = benches;
    config = config::criterion_config();
    targets = bench
}
criterion_main!(benches);
