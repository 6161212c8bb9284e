//! `archive` versus the patterns document's single `WITH moved AS (DELETE ... RETURNING *) INSERT INTO
//! archive SELECT * FROM moved`, on the shop's `orders` (quarterly partitions), while one task
//! keeps inserting single orders into the current partition.
//!
//! `cargo bench --bench tiers` loads 1,000,000 orders over 8 quarters (2024 q1 .. 2025 q4) once
//! into a template database, then for each run clones it (`CREATE DATABASE ... TEMPLATE`) and
//! archives everything before 2025-08-15 (6 whole quarters and half of 2025 q3, ~81% of the
//! rows) with each method, in alternating order. It prints wall time (median, min, max over the
//! runs) and the latency of the concurrent inserts (p50, p99, max, pooled over the runs).
//! `DBPAT_BENCH_ROWS` and `DBPAT_BENCH_RUNS` (default 3) change the size. Without `--bench` (as
//! `cargo test --all-targets` runs it) it does one run on 10,000 rows, to keep CI fast.

#[path = "../examples/shop/models.rs"]
#[allow(dead_code)]
mod shop;

use chrono::{DateTime, TimeZone, Utc};
use dbpat::model::TableDef;
use dbpat::testing::{pg_admin_url, TestDatabase};
use dbpat::tiers::Tiers;
use dbpat::Entity;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

static ORDERS: TableDef = shop::Order::TABLE;

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Tiers,
    SeedDelete,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Tiers => "dbpat archive (partitions whole + batches)",
            Method::SeedDelete => "patterns document: one DELETE ... RETURNING into archive",
        }
    }
}

struct RunResult {
    rows: u64,
    wall: Duration,
    latencies: Vec<Duration>,
    /// `VACUUM orders` right after: the cleanup the move leaves to (auto)vacuum.
    vacuum: Duration,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (rows, runs) = if bench {
        (
            env_or("DBPAT_BENCH_ROWS", 1_000_000) as i64,
            env_or("DBPAT_BENCH_RUNS", 3) as usize,
        )
    } else {
        (10_000, 1)
    };
    let cutoff = utc(2025, 8, 15);

    // The template: users + orders, 8 quarters of rows, and the current quarter's partition.
    let template = TestDatabase::new().await;
    let pool = template.pool();
    let ddl = dbpat::ddl::render_schema(&[&shop::User::TABLE, &ORDERS]).unwrap();
    sqlx::raw_sql(&ddl).execute(pool).await.unwrap();
    let tiers = Tiers::new(&ORDERS);
    tiers
        .ensure_partitions_at(pool, utc(2024, 1, 1), 7)
        .await
        .unwrap();
    tiers.ensure_partitions(pool, 0).await.unwrap();
    let started = Instant::now();
    sqlx::raw_sql(&format!(
        "INSERT INTO users (id, email, name) VALUES ('00000000-0000-0000-0000-000000000001', 'a@b.c', 'A');
         INSERT INTO orders (user_id, status, total, created_at)
         SELECT '00000000-0000-0000-0000-000000000001',
                (ARRAY['pending','paid','shipped','cancelled'])[1 + i % 4], (i % 997) * 1.25,
                '2024-01-01'::timestamptz + (interval '731 days') * (i::float8 / {rows})
         FROM generate_series(0, {rows} - 1) AS i;"
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await.unwrap();
    let old: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE created_at < $1")
        .bind(cutoff)
        .fetch_one(pool)
        .await
        .unwrap();
    eprintln!(
        "loaded {rows} orders over 8 quarters in {:.1?}; {old} are older than {cutoff}",
        started.elapsed()
    );
    pool.close().await;

    let mut results: Vec<(Method, RunResult)> = Vec::new();
    let mut idle = Vec::new();
    for run in 0..runs {
        let order = if run % 2 == 0 {
            [Method::Tiers, Method::SeedDelete]
        } else {
            [Method::SeedDelete, Method::Tiers]
        };
        for method in order {
            let clone = Clone::of(template.name()).await;
            if idle.is_empty() {
                idle = insert_latencies(&clone.pool, async {
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                })
                .await
                .1;
            }
            let result = run_once(&clone.pool, method, cutoff).await;
            assert_eq!(result.rows as i64, old, "{method:?} moved the wrong rows");
            eprintln!(
                "run {} {:<45} {:>8.2?}  {} inserts",
                run + 1,
                method.label(),
                result.wall,
                result.latencies.len()
            );
            results.push((method, result));
            clone.drop().await;
        }
    }

    println!();
    println!(
        "archive of {old} of {rows} orders (8 quarters, cutoff {}), {runs} run(s) each",
        cutoff.date_naive()
    );
    println!(
        "| method | wall median | wall min..max | VACUUM after (median) | concurrent inserts | insert p50 | insert p99 | insert max |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    for method in [Method::Tiers, Method::SeedDelete] {
        let mine: Vec<&RunResult> = results
            .iter()
            .filter(|(m, _)| *m == method)
            .map(|(_, r)| r)
            .collect();
        let mut walls: Vec<Duration> = mine.iter().map(|r| r.wall).collect();
        walls.sort();
        let mut lat: Vec<Duration> = mine.iter().flat_map(|r| r.latencies.clone()).collect();
        lat.sort();
        let median = walls[walls.len() / 2];
        medians.push(median);
        let mut vacuums: Vec<Duration> = mine.iter().map(|r| r.vacuum).collect();
        vacuums.sort();
        println!(
            "| {} | {} | {}..{} | {} | {} | {} | {} | {} |",
            method.label(),
            ms(median),
            ms(walls[0]),
            ms(*walls.last().unwrap()),
            ms(vacuums[vacuums.len() / 2]),
            lat.len(),
            ms(pct(&lat, 0.50)),
            ms(pct(&lat, 0.99)),
            ms(*lat.last().unwrap_or(&Duration::ZERO)),
        );
    }
    idle.sort();
    println!(
        "| (no archive running) | | | | {} | {} | {} | {} |",
        idle.len(),
        ms(pct(&idle, 0.50)),
        ms(pct(&idle, 0.99)),
        ms(*idle.last().unwrap_or(&Duration::ZERO)),
    );
    println!(
        "patterns-document DELETE / dbpat archive wall-time ratio: {:.2}x",
        medians[1].as_secs_f64() / medians[0].as_secs_f64()
    );
    template.drop_now().await;
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn run_once(pool: &PgPool, method: Method, cutoff: DateTime<Utc>) -> RunResult {
    let (wall_rows, latencies) = insert_latencies(pool, async {
        let t = Instant::now();
        let rows = match method {
            Method::Tiers => {
                Tiers::new(&ORDERS)
                    .archive(pool, cutoff)
                    .await
                    .unwrap()
                    .rows
            }
            Method::SeedDelete => sqlx::query(
                "WITH moved AS (DELETE FROM orders WHERE created_at < $1 RETURNING *)
                 INSERT INTO orders_archive SELECT * FROM moved",
            )
            .bind(cutoff)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        };
        (t.elapsed(), rows)
    })
    .await;
    let t = Instant::now();
    sqlx::raw_sql("VACUUM orders").execute(pool).await.unwrap();
    RunResult {
        rows: wall_rows.1,
        wall: wall_rows.0,
        latencies,
        vacuum: t.elapsed(),
    }
}

/// Runs `work` while one task inserts single orders into the current partition; returns
/// `work`'s output and each insert's latency.
async fn insert_latencies<T>(
    pool: &PgPool,
    work: impl std::future::Future<Output = T>,
) -> (T, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let inserter = {
        let (pool, stop) = (pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut conn = pool.acquire().await.unwrap();
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                sqlx::query(
                    "INSERT INTO orders (user_id, total)
                     VALUES ('00000000-0000-0000-0000-000000000001', 1)",
                )
                .execute(&mut *conn)
                .await
                .expect("insert into the current partition failed");
                latencies.push(t.elapsed());
            }
            latencies
        })
    };
    let output = work.await;
    stop.store(true, Ordering::Relaxed);
    (output, inserter.await.unwrap())
}

/// A copy of the template database (`STRATEGY FILE_COPY`: a file copy, seconds for 1M rows).
struct Clone {
    name: String,
    pool: PgPool,
}

impl Clone {
    async fn of(template: &str) -> Self {
        let name = format!(
            "{template}_c{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut admin = PgConnection::connect(&pg_admin_url()).await.unwrap();
        let create = format!("CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY");
        // The template's sessions end asynchronously after its pool closes (and autovacuum
        // may visit it): end whatever is still connected, then retry a while.
        let mut attempts = 0;
        while let Err(e) = sqlx::raw_sql(&create).execute(&mut admin).await {
            attempts += 1;
            assert!(attempts < 50, "cannot clone {template}: {e}");
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(template)
            .execute(&mut admin)
            .await
            .ok();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        admin.close().await.ok();
        let options = PgConnectOptions::from_str(&pg_admin_url())
            .unwrap()
            .database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        Clone { name, pool }
    }

    async fn drop(self) {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&pg_admin_url()).await.unwrap();
        sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .unwrap();
        admin.close().await.ok();
    }
}
