//! Three ways to archive, side by side, on the shop's `orders` (quarterly partitions), while one
//! task keeps inserting single orders into the current partition:
//!
//! - `archive` into a partitioned archive (what the DDL creates): whole partitions detached
//!   from `orders` and attached to `orders_archive` (zero-copy), the straddling one in batches;
//! - `archive` into an unpartitioned archive (what the DDL created before; `archive` still
//!   handles it): whole partitions copied, detached and dropped, the straddling one in batches;
//! - the patterns document's single `WITH moved AS (DELETE ... RETURNING *) INSERT INTO archive
//!   SELECT * FROM moved` (into the unpartitioned archive).
//!
//! `cargo bench --bench tiers` loads 1,000,000 orders over 8 quarters (2024 q1 .. 2025 q4) once
//! into a template database, then for each run clones it (`CREATE DATABASE ... TEMPLATE`) and
//! archives everything before 2025-08-15 (6 whole quarters and half of 2025 q3, ~81% of the
//! rows) with each method, in rotating order. It prints wall time (median, min, max over the
//! runs), the longest `ACCESS EXCLUSIVE` hold on `orders` (from the archive hook's timestamps:
//! from just before the `DETACH` is sent to the commit, so it includes any wait for the lock),
//! the dead tuples left in `orders` and `orders_archive` and their partitions (`n_dead_tup` of
//! `pg_stat_user_tables`, read once the moving session has ended and flushed its counters,
//! before any vacuum), the `VACUUM` that follows, and the latency of the concurrent inserts
//! (p50, p99, max, pooled over the runs).
//! `DBPAT_BENCH_ROWS` and `DBPAT_BENCH_RUNS` (default 3) change the size. Without `--bench` (as
//! `cargo test --all-targets` runs it) it does one run on 10,000 rows, to keep CI fast.

#[path = "../examples/shop/models.rs"]
#[allow(dead_code)]
mod shop;

use chrono::{DateTime, TimeZone, Utc};
use dbpat::model::TableDef;
use dbpat::testing::{pg_admin_url, TestDatabase};
use dbpat::tiers::{ArchiveEvent, ArchiveHook, ArchiveOptions, ArchiveStep, Tiers};
use dbpat::Entity;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static ORDERS: TableDef = shop::Order::TABLE;

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    ZeroCopy,
    Copy,
    SeedDelete,
}

const METHODS: [Method; 3] = [Method::ZeroCopy, Method::Copy, Method::SeedDelete];

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::ZeroCopy => "dbpat archive, zero-copy (DETACH + ATTACH + batches)",
            Method::Copy => "dbpat archive, copy (unpartitioned archive)",
            Method::SeedDelete => "patterns document: one DELETE ... RETURNING",
        }
    }
}

struct RunResult {
    rows: u64,
    wall: Duration,
    latencies: Vec<Duration>,
    /// The longest ACCESS EXCLUSIVE hold on `orders` (`None`: the method takes none).
    hold: Option<Duration>,
    /// `n_dead_tup` summed over both tiers' tables, before any vacuum.
    dead_tuples: i64,
    /// `VACUUM orders, orders_archive` right after: the cleanup left to (auto)vacuum.
    vacuum: Duration,
    /// `archive`'s (whole partitions, batches) phases, from its hook.
    phases: Option<(Duration, Duration)>,
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
        let mut order = METHODS;
        order.rotate_left(run % METHODS.len());
        for method in order {
            let clone = Clone::of(template.name()).await;
            if method != Method::ZeroCopy {
                // The archive as the DDL created it before archives were partitioned.
                sqlx::raw_sql(
                    "DROP TABLE orders_archive;
                     CREATE TABLE orders_archive (LIKE orders INCLUDING ALL)",
                )
                .execute(&clone.pool)
                .await
                .unwrap();
            }
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
                "run {} {:<55} {:>8.2?}  hold {:?}  dead {}  {} inserts",
                run + 1,
                method.label(),
                result.wall,
                result.hold,
                result.dead_tuples,
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
        "| method | wall median | wall min..max | longest ACCESS EXCLUSIVE on orders (max over runs) | dead tuples (median) | VACUUM after (median) | concurrent inserts | insert p50 | insert p99 | insert max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    for method in METHODS {
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
        let hold = match mine.iter().filter_map(|r| r.hold).max() {
            Some(h) => ms(h),
            None => "none (ROW EXCLUSIVE only)".to_owned(),
        };
        let mut dead: Vec<i64> = mine.iter().map(|r| r.dead_tuples).collect();
        dead.sort();
        println!(
            "| {} | {} | {}..{} | {} | {} | {} | {} | {} | {} | {} |",
            method.label(),
            ms(median),
            ms(walls[0]),
            ms(*walls.last().unwrap()),
            hold,
            dead[dead.len() / 2],
            ms(vacuums[vacuums.len() / 2]),
            lat.len(),
            ms(pct(&lat, 0.50)),
            ms(pct(&lat, 0.99)),
            ms(*lat.last().unwrap_or(&Duration::ZERO)),
        );
    }
    idle.sort();
    println!(
        "| (no archive running) | | | | | | {} | {} | {} | {} |",
        idle.len(),
        ms(pct(&idle, 0.50)),
        ms(pct(&idle, 0.99)),
        ms(*idle.last().unwrap_or(&Duration::ZERO)),
    );
    println!(
        "wall-time ratios (median): copy / zero-copy {:.1}x, patterns-document DELETE / zero-copy {:.1}x",
        medians[1].as_secs_f64() / medians[0].as_secs_f64(),
        medians[2].as_secs_f64() / medians[0].as_secs_f64()
    );
    println!();
    println!("| method | whole-partition phase (median) | batch phase (median) |");
    println!("|---|---|---|");
    for method in [Method::ZeroCopy, Method::Copy] {
        let mut whole: Vec<Duration> = Vec::new();
        let mut batches: Vec<Duration> = Vec::new();
        for (_, r) in results.iter().filter(|(m, _)| *m == method) {
            if let Some((w, b)) = r.phases {
                whole.push(w);
                batches.push(b);
            }
        }
        whole.sort();
        batches.sort();
        if !whole.is_empty() {
            println!(
                "| {} | {} | {} |",
                method.label(),
                ms(whole[whole.len() / 2]),
                ms(batches[batches.len() / 2])
            );
        }
    }
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
    let holds = Arc::new(Mutex::new(HoldClock::default()));
    let options = ArchiveOptions {
        hook: Some(hold_hook(holds.clone())),
        ..ArchiveOptions::default()
    };
    let (wall_rows, latencies) = insert_latencies(pool, async {
        let t = Instant::now();
        let rows = match method {
            Method::ZeroCopy | Method::Copy => {
                Tiers::new(&ORDERS)
                    .archive_with(pool, cutoff, &options)
                    .await
                    .unwrap()
                    .rows
            }
            Method::SeedDelete => {
                // Its own session, ended right after, so its counters are flushed.
                let mut conn = pool.acquire().await.unwrap().detach();
                let rows = sqlx::query(
                    "WITH moved AS (DELETE FROM orders WHERE created_at < $1 RETURNING *)
                     INSERT INTO orders_archive SELECT * FROM moved",
                )
                .bind(cutoff)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected();
                conn.close().await.unwrap();
                rows
            }
        };
        (t.elapsed(), rows)
    })
    .await;
    let dead_tuples = dead_tuples(pool).await;
    let t = Instant::now();
    sqlx::raw_sql("VACUUM orders, orders_archive")
        .execute(pool)
        .await
        .unwrap();
    let hold = holds.lock().unwrap().longest;
    let phases = holds.lock().unwrap().phases();
    RunResult {
        rows: wall_rows.1,
        wall: wall_rows.0,
        latencies,
        hold: if method == Method::SeedDelete {
            None
        } else {
            hold
        },
        dead_tuples,
        vacuum: t.elapsed(),
        phases,
    }
}

/// When each whole-partition move started asking for `orders`' ACCESS EXCLUSIVE lock, and the
/// longest interval from there to its commit.
#[derive(Default)]
struct HoldClock {
    since: Option<Instant>,
    longest: Option<Duration>,
    /// `Locked`; the last whole partition's `PartitionMoved`; the last step.
    locked: Option<Instant>,
    whole_done: Option<Instant>,
    last: Option<Instant>,
}

impl HoldClock {
    /// (whole partitions, batches): from `Locked` to the last whole partition's commit, and
    /// from there to the last step (the batches, with the archive partition they need).
    fn phases(&self) -> Option<(Duration, Duration)> {
        let (locked, last) = (self.locked?, self.last?);
        let from = self.whole_done.unwrap_or(locked);
        Some((from - locked, last - from))
    }
}

fn hold_hook(clock: Arc<Mutex<HoldClock>>) -> ArchiveHook {
    Arc::new(move |event: ArchiveEvent| {
        let now = Instant::now();
        let mut c = clock.lock().unwrap();
        c.last = Some(now);
        match event.step {
            ArchiveStep::Locked => c.locked = Some(now),
            // Zero-copy: the DETACH is sent next. Copy: the copy is done, DETACH + DROP next.
            ArchiveStep::PartitionDetaching { .. } | ArchiveStep::PartitionCopied { .. } => {
                c.since = Some(now)
            }
            ArchiveStep::PartitionMoved { .. } => {
                c.whole_done = Some(now);
                if let Some(since) = c.since.take() {
                    let held = now - since;
                    c.longest = Some(c.longest.map_or(held, |l| l.max(held)));
                }
            }
            _ => {}
        }
        Box::pin(async {})
    })
}

/// `n_dead_tup` over both tiers' tables and partitions, once the moving session's counters
/// are flushed (it has ended; the counts are polled until two reads 300 ms apart agree).
async fn dead_tuples(pool: &PgPool) -> i64 {
    let read = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT coalesce(sum(n_dead_tup), 0)::int8 FROM pg_stat_user_tables
             WHERE relname LIKE 'orders%'",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let mut last = read().await;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = read().await;
        if now == last {
            break;
        }
        last = now;
    }
    last
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
