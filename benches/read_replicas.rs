//! Reads from a streaming replica against reads from the primary, side by side in one run, on
//! the private primary and replica that `scripts/services` starts (127.0.0.1:5441 and :5442,
//! `scripts/services.d/pg-replica.sh`; both on this machine).
//!
//! Latency of one read by key (`Item::find`), the sides taking turns:
//! - `primary`: on the primary's pool;
//! - `replica_direct`: on a pool of the replica, no check (the floor of a replica read);
//! - `pool_set_any`: `PoolSet::reader(Lsn::ZERO)` then the read: the replica (a read that
//!   needs no particular write has no replay check to make);
//! - `pool_set_token`: `PoolSet::reader(token)` with the token of a write the replica has
//!   replayed, then the read: the read-your-writes path when the replica has caught up (one
//!   more round trip, `pg_last_wal_replay_lsn()`, on the connection the read then uses).
//!
//! Throughput of each server alone: 16 tasks reading by key for one second (the figure the
//! throughput model in docs/scaling-out.md starts from; client and server share 2 cores here,
//! so it is a floor).
//!
//! Server CPU per read: the CPU time all processes of each server used (their
//! `/proc/<pid>/stat`: the postmaster and its children) over 20,000 reads by key, divided by the
//! reads — what a replica host spends per read, the throughput model's unit.
//!
//! `cargo bench --bench read_replicas`; `cargo test --all-targets` runs each once.

#[path = "support/config.rs"]
mod config;

use criterion::{criterion_group, criterion_main, Criterion};
use dbpat::{Entity, Table};
use dbpat::{Lsn, PoolSet};
use dbpat_runtime::testing::TestDatabase;
use sqlx::PgPool;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const ROWS: i64 = 1000;
const HINT: &str = "run scripts/services (it starts the private primary and replica, \
scripts/services.d/pg-replica.sh)";

#[derive(Entity, Debug, Clone)]
#[dbpat(table = "bench_items")]
struct Item {
    #[dbpat(primary_key, no_default)]
    id: i64,
    name: String,
    n: i64,
}

struct Fixture {
    _db: TestDatabase,
    primary: PgPool,
    replica: PgPool,
    pools: PoolSet,
    token: Lsn,
}

fn services_url(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/dbpat-services")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => panic!("{} is missing; {HINT}", path.display()),
    }
}

fn with_database(server: &str, db: &str) -> String {
    let base = server.rsplit_once('/').expect("a URL with a database").0;
    format!("{base}/{db}")
}

async fn fixture() -> Fixture {
    let (primary_url, replica_url) = (
        services_url("pg-primary.url"),
        services_url("pg-replica.url"),
    );
    for (what, url) in [("primary", &primary_url), ("replica", &replica_url)] {
        if let Err(e) = PgPool::connect(url).await {
            panic!("the private {what} at {url} is not reachable: {e}; {HINT}");
        }
    }
    let db = TestDatabase::on_server(&primary_url, 17).await;
    let schema = dbpat::ddl::render_schema(&[&Item::TABLE]).expect("schema renders");
    sqlx::raw_sql(&schema)
        .execute(db.pool())
        .await
        .expect("schema");
    sqlx::query(
        "INSERT INTO bench_items (id, name, n) SELECT i, 'item ' || i, i FROM generate_series(1, $1) i",
    )
    .bind(ROWS)
    .execute(db.pool())
    .await
    .expect("rows");
    let primary = db.pool().clone();
    let pools = PoolSet::new(primary.clone());
    let token = pools.token().await.expect("token");
    // The replica replays with a fixed delay (recovery_min_apply_delay): wait for the rows.
    let replica_db = with_database(&replica_url, db.name());
    let deadline = Instant::now() + Duration::from_secs(20);
    let replica = loop {
        if let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
            .max_connections(17)
            .connect(&replica_db)
            .await
        {
            let n: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM bench_items")
                .fetch_one(&pool)
                .await;
            if n.ok() == Some(ROWS) {
                break pool;
            }
            pool.close().await;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not replay the bench rows within 20 s; {HINT}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pools = pools.with_replica(replica.clone());
    // The replica must serve both pool-set sides (it has replayed `token`).
    let reader = pools.reader(token).await.expect("reader");
    assert!(
        reader.served().is_replica(),
        "the replica did not serve a replayed token"
    );
    drop(reader);
    Fixture {
        _db: db,
        primary,
        replica,
        pools,
        token,
    }
}

fn key(i: u64) -> i64 {
    (i % ROWS as u64) as i64 + 1
}

async fn find(pool: &PgPool, id: i64) -> Item {
    Item::find(pool, &id).await.unwrap().expect("row")
}

async fn find_through(pools: &PoolSet, after: Lsn, id: i64) -> Item {
    let mut reader = pools.reader(after).await.unwrap();
    assert!(reader.served().is_replica());
    Item::find(&mut *reader, &id).await.unwrap().expect("row")
}

/// The sides run in turns, `rounds` times (the order rotates each round); prints each
/// median and its ratio to the first side's.
async fn in_turns(f: &Fixture, rounds: usize) {
    let names = [
        "primary",
        "replica_direct",
        "pool_set_any",
        "pool_set_token",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); names.len()];
    for round in 0..rounds {
        for turn in 0..names.len() {
            let side = (round + turn) % names.len();
            let id = key(round as u64);
            let start = Instant::now();
            match side {
                0 => drop(std::hint::black_box(find(&f.primary, id).await)),
                1 => drop(std::hint::black_box(find(&f.replica, id).await)),
                2 => drop(std::hint::black_box(
                    find_through(&f.pools, Lsn::ZERO, id).await,
                )),
                _ => drop(std::hint::black_box(
                    find_through(&f.pools, f.token, id).await,
                )),
            }
            times[side].push(start.elapsed());
        }
    }
    let medians: Vec<f64> = times
        .iter_mut()
        .map(|t| {
            t.sort_unstable();
            t[rounds / 2].as_secs_f64() * 1e6
        })
        .collect();
    let line: Vec<String> = names
        .iter()
        .zip(&medians)
        .map(|(name, m)| format!("{name} {m:.1} µs ({:.2}x)", m / medians[0]))
        .collect();
    println!(
        "summary: read by key, medians over {rounds} rounds in turns: {}",
        line.join(", ")
    );
}

/// Reads by key per second with 16 concurrent tasks for `length`.
async fn throughput<F, Fut>(what: &str, length: Duration, read: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..16u64)
        .map(|t| {
            let (stop, done, read) = (stop.clone(), done.clone(), read.clone());
            tokio::spawn(async move {
                let mut i = t * 7919;
                while !stop.load(Ordering::Relaxed) {
                    read(i).await;
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let start = Instant::now();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let per_second = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!("summary: throughput {what}: {per_second:.0} reads/s (16 tasks, {length:?})");
    per_second
}

async fn throughputs(f: &Fixture, length: Duration) {
    let primary = f.primary.clone();
    let on_primary = throughput("primary", length, move |i| {
        let pool = primary.clone();
        async move { drop(find(&pool, key(i)).await) }
    })
    .await;
    let replica = f.replica.clone();
    let on_replica = throughput("replica_direct", length, move |i| {
        let pool = replica.clone();
        async move { drop(find(&pool, key(i)).await) }
    })
    .await;
    let pools = f.pools.clone();
    let through_set = throughput("pool_set_any", length, move |i| {
        let pools = pools.clone();
        async move { drop(find_through(&pools, Lsn::ZERO, key(i)).await) }
    })
    .await;
    let (pools, token) = (f.pools.clone(), f.token);
    let with_token = throughput("pool_set_token (check + read)", length, move |i| {
        let pools = pools.clone();
        async move { drop(find_through(&pools, token, key(i)).await) }
    })
    .await;
    println!(
        "summary: throughput ratios: replica_direct/primary = {:.2}x, pool_set_any/primary = \
         {:.2}x, pool_set_token/primary = {:.2}x",
        on_replica / on_primary,
        through_set / on_primary,
        with_token / on_primary
    );
}

/// The CPU time (user + system) used so far by the server behind `pool`: its postmaster
/// (found through `data_directory`/postmaster.pid; the server runs on this machine) and
/// every child process.
async fn server_cpu(pool: &PgPool) -> Duration {
    let dir: String = sqlx::query_scalar("SELECT current_setting('data_directory')")
        .fetch_one(pool)
        .await
        .expect("data_directory (the bench connects as a superuser)");
    let pidfile = PathBuf::from(dir).join("postmaster.pid");
    let text = std::fs::read_to_string(&pidfile)
        .unwrap_or_else(|e| panic!("{}: {e}; {HINT}", pidfile.display()));
    let postmaster: u32 = text.lines().next().unwrap().trim().parse().unwrap();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command name in parentheses: state, ppid, ..., utime (14th), stime (15th).
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ppid: u32 = fields[1].parse().unwrap();
        if pid == postmaster || ppid == postmaster {
            ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        }
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}

/// Server CPU per read by key of `reads` reads on `pool`, 16 at a time.
async fn cpu_per_read(what: &str, pool: &PgPool, reads: u64) -> Duration {
    let before = server_cpu(pool).await;
    let per_task = reads / 16;
    let tasks: Vec<_> = (0..16u64)
        .map(|t| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    drop(find(&pool, key(t * per_task + i)).await);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let used = server_cpu(pool).await.saturating_sub(before);
    let per_read = used / (per_task * 16) as u32;
    println!(
        "summary: server CPU per read on the {what}: {:.1} µs ({:.2} s over {} reads): \
         {:.0} reads/s per core",
        per_read.as_secs_f64() * 1e6,
        used.as_secs_f64(),
        per_task * 16,
        1.0 / per_read.as_secs_f64().max(1e-9)
    );
    per_read
}

fn bench(c: &mut Criterion) {
    let rt: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(fixture());
    let mut group = c.benchmark_group("read_by_key");
    group.bench_function("primary", |b| b.to_async(&rt).iter(|| find(&f.primary, 42)));
    group.bench_function("replica_direct", |b| {
        b.to_async(&rt).iter(|| find(&f.replica, 42))
    });
    group.bench_function("pool_set_any", |b| {
        b.to_async(&rt)
            .iter(|| find_through(&f.pools, Lsn::ZERO, 42))
    });
    group.bench_function("pool_set_token", |b| {
        b.to_async(&rt).iter(|| find_through(&f.pools, f.token, 42))
    });
    group.finish();
    // `cargo test --all-targets` runs the bench once (criterion's test mode): keep it short.
    let quick = !std::env::args().any(|a| a == "--bench");
    rt.block_on(in_turns(&f, if quick { 20 } else { 4000 }));
    rt.block_on(throughputs(
        &f,
        Duration::from_millis(if quick { 100 } else { 2000 }),
    ));
    let reads = if quick { 320 } else { 20_000 };
    rt.block_on(cpu_per_read("primary", &f.primary, reads));
    rt.block_on(cpu_per_read("replica", &f.replica, reads));
    let stats = f.pools.stats();
    println!("summary: pool set stats: {stats:?}");
    drop(f);
}

criterion_group! {
    name = benches;
    config = config::criterion_config();
    targets = bench
}
criterion_main!(benches);
