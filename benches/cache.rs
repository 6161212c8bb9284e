//! Cache figures, side by side in one run (real Redis + PostgreSQL, as the tests use):
//!
//! - a cache hit (`Cached::find`) vs a raw `redis GET` + serde decode of the same bytes
//!   (goal: ≤ 1.10×);
//! - a cache hit vs the entity's `find` on PostgreSQL (goal: ≥ 3× faster);
//! - a cold-key burst (50 concurrent gets through 2 handles) vs a single miss (goal: p99 ≤ 3×);
//! - a cache hit on the shared Redis Cluster (`Cache::connect_cluster`, `scripts/services`) vs
//!   on the single server, and a raw `GET` on each, interleaved; plus the server-side cost
//!   of each command (`INFO commandstats`) for the throughput model of
//!   `docs/scaling-out.md`.
//!
//! `cargo bench --bench cache` measures; `cargo test --all-targets` runs everything once.

#[path = "support/config.rs"]
mod config;

use criterion::{criterion_group, criterion_main, Criterion};
use dbpat::cache::redis::cluster::ClusterClient;
use dbpat::cache::redis::cluster_async::ClusterConnection;
use dbpat::cache::redis::{self, aio::ConnectionLike, aio::ConnectionManager};
use dbpat::cache::{Cache, CacheConfig, Cached};
use dbpat::testing::{self, TestDatabase, TestRedis};
use dbpat::{Entity, Table};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// The benched entity: cached by its derive (`CacheEntity`), loaded by its own `find`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Entity)]
#[dbpat(table = "items", cache(ttl = "15m"))]
struct Item {
    #[dbpat(primary_key, no_default)]
    id: i64,
    name: String,
    email: String,
    #[dbpat(version)]
    version: i64,
}

struct Fixture {
    _db: TestDatabase,
    redis: TestRedis,
    pool: PgPool,
    items: Cached<Item>,
    second: Cached<Item>,
    raw: ConnectionManager,
    /// The same entity through a handle on the Redis Cluster (the same key prefix).
    cluster: Cached<Item>,
    cluster_raw: ClusterConnection,
    cluster_urls: Vec<String>,
}

/// The shared cluster's seed URLs (`DBPAT_TEST_REDIS_CLUSTER_URLS`, or the file
/// `scripts/services` writes).
fn cluster_urls() -> Vec<String> {
    let text = std::env::var("DBPAT_TEST_REDIS_CLUSTER_URLS").unwrap_or_else(|_| {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/dbpat-services/redis-cluster.url"
        );
        std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("{file}: {e}: run scripts/services (the Redis Cluster)"))
    });
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect()
}

async fn fixture() -> Fixture {
    let db = TestDatabase::new().await;
    let redis = TestRedis::new().await;
    let pool = db.pool().clone();
    let ddl = dbpat::ddl::render_schema(&[&Item::TABLE]).unwrap();
    sqlx::raw_sql(&ddl).execute(&pool).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO items (id, name, email) \
         SELECT g, 'name ' || g, 'user' || g || '@example.com' FROM generate_series(1, 1000) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    let handle = || async {
        let client = redis::Client::open(testing::redis_url()).unwrap();
        // No restart grace: the bench's key prefix is a dataset born now.
        let mut config = CacheConfig::new(redis.prefix());
        config.restart_grace = std::time::Duration::ZERO;
        Cache::connect(client, config).await
    };
    let items = handle().await.entity::<Item>();
    let second = handle().await.entity::<Item>();
    let raw = redis.connection();
    items.find(&pool, &1).await.unwrap().unwrap();
    let cluster_urls = cluster_urls();
    let mut config = CacheConfig::new(redis.prefix());
    config.restart_grace = Duration::ZERO;
    let cluster_cache = Cache::connect_cluster(cluster_urls.iter().map(String::as_str), config)
        .await
        .unwrap();
    assert!(
        cluster_cache.generation().is_some(),
        "the Redis Cluster at {cluster_urls:?} is not reachable: run scripts/services"
    );
    let cluster = cluster_cache.entity::<Item>();
    cluster.find(&pool, &1).await.unwrap().unwrap();
    let cluster_raw = ClusterClient::new(cluster_urls.clone())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    Fixture {
        _db: db,
        redis,
        pool,
        items,
        second,
        raw,
        cluster,
        cluster_raw,
        cluster_urls,
    }
}

async fn raw_get_decode(raw: &(impl ConnectionLike + Clone), key: &str) -> Item {
    let mut conn = raw.clone();
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    // The same bytes the cache reads: skip the envelope header
    // (`v2:<generation>:<layout>:`, 37 bytes), decode the JSON.
    serde_json::from_slice(&bytes[37..]).unwrap()
}

async fn find_by_id(pool: &PgPool, id: i64) -> Item {
    Item::find(pool, &id).await.unwrap().unwrap()
}

fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Interleaved medians of the three reads, and the cold-key burst vs single-miss latency.
async fn summary(f: &Fixture) {
    let rounds = if measuring() { 3000 } else { 20 };
    let key = f.items.key(&1);
    let (mut hit, mut raw, mut sql) = (Vec::new(), Vec::new(), Vec::new());
    // The three reads take turns, in rotating order, so each sees the same machine: on this VM
    // a loopback round trip flips between ~7 µs and ~65 µs regimes over seconds, and separate
    // loops would compare different regimes. PostgreSQL reads hold one connection for the
    // whole loop (no pool return task runs between the reads).
    let mut conn = f.pool.acquire().await.unwrap();
    for round in 0..rounds {
        for step in 0..3 {
            let t = Instant::now();
            match (round + step) % 3 {
                0 => {
                    black_box(f.items.find(&f.pool, &1).await.unwrap());
                    hit.push(t.elapsed());
                }
                1 => {
                    black_box(raw_get_decode(&f.raw, &key).await);
                    raw.push(t.elapsed());
                }
                _ => {
                    black_box(Item::find(&mut *conn, &1).await.unwrap().unwrap());
                    sql.push(t.elapsed());
                }
            }
        }
    }
    drop(conn);
    // How applications call it: through the pool (acquire + release per call). Its own loop:
    // the pool's connection return runs as a task and would be paid by the next Redis read.
    let mut pooled = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(find_by_id(&f.pool, 1).await);
        pooled.push(t.elapsed());
    }
    pooled.sort();
    for v in [&mut hit, &mut raw, &mut sql] {
        v.sort();
    }
    let (h, r, s) = (
        percentile(&hit, 0.5),
        percentile(&raw, 0.5),
        percentile(&sql, 0.5),
    );
    let p = percentile(&pooled, 0.5);
    println!(
        "summary: medians over {rounds} rounds: cache hit {:.1} µs, raw GET+decode \
         {:.1} µs, find on a held connection {:.1} µs, find(&pool) {:.1} µs; \
         hit/raw = {:.2}x (goal <= 1.10), find(&pool)/hit = {:.2}x (goal >= 3), \
         find(connection)/hit = {:.2}x",
        micros(h),
        micros(r),
        micros(s),
        micros(p),
        h.as_secs_f64() / r.as_secs_f64(),
        p.as_secs_f64() / h.as_secs_f64(),
        s.as_secs_f64() / h.as_secs_f64(),
    );
    telemetry_cost(h).await;

    // Cold keys: a single miss alone, then bursts of 50 concurrent gets over two handles.
    let (singles, bursts) = if measuring() { (300, 200) } else { (5, 2) };
    let mut single = Vec::new();
    for i in 0..singles {
        let id = 2 + i % 400;
        f.items.invalidate(&id).await.unwrap();
        let t = Instant::now();
        black_box(f.items.find(&f.pool, &id).await.unwrap());
        single.push(t.elapsed());
    }
    let mut burst = Vec::new();
    for i in 0..bursts {
        let id = 500 + i % 500;
        f.items.invalidate(&id).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|n| {
                let items = if n % 2 == 0 {
                    f.items.clone()
                } else {
                    f.second.clone()
                };
                let barrier = barrier.clone();
                let pool = f.pool.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let t = Instant::now();
                    black_box(items.find(&pool, &id).await.unwrap());
                    t.elapsed()
                })
            })
            .collect();
        for t in tasks {
            burst.push(t.await.unwrap());
        }
    }
    single.sort();
    burst.sort();
    let (a, b) = (f.items.metrics(), f.second.metrics());
    println!(
        "summary: cold phase: {} database loads for {} cold reads; lease waits {}, \
         single-flight joins {}",
        a.db_loads + b.db_loads,
        singles + bursts * 50,
        a.stampede_waits + b.stampede_waits,
        a.single_flight_joins + b.single_flight_joins,
    );
    let miss = percentile(&single, 0.5);
    let miss99 = percentile(&single, 0.99);
    let p99 = percentile(&burst, 0.99);
    println!(
        "summary: single miss median {:.1} µs (p99 {:.1} µs); cold-key burst ({bursts} x 50 gets, \
         2 handles) p50 {:.1} µs, p99 {:.1} µs; burst p99 / miss median = {:.2}x (goal <= 3), \
         burst p99 / miss p99 = {:.2}x",
        micros(miss),
        micros(miss99),
        micros(percentile(&burst, 0.5)),
        micros(p99),
        p99.as_secs_f64() / miss.as_secs_f64(),
        p99.as_secs_f64() / miss99.as_secs_f64(),
    );
}

/// Cluster vs single server, interleaved: the cache hit and a raw `GET` + decode on each.
async fn cluster_summary(f: &Fixture) {
    let rounds = if measuring() { 3000 } else { 20 };
    let (key, cluster_key) = (f.items.key(&1), f.cluster.key(&1));
    let mut t: [Vec<Duration>; 4] = Default::default();
    for round in 0..rounds {
        for step in 0..4 {
            let which = (round + step) % 4;
            let start = Instant::now();
            match which {
                0 => drop(black_box(f.items.find(&f.pool, &1).await.unwrap())),
                1 => drop(black_box(f.cluster.find(&f.pool, &1).await.unwrap())),
                2 => drop(black_box(raw_get_decode(&f.raw, &key).await)),
                _ => drop(black_box(
                    raw_get_decode(&f.cluster_raw, &cluster_key).await,
                )),
            }
            t[which].push(start.elapsed());
        }
    }
    for v in &mut t {
        v.sort();
    }
    let m: Vec<Duration> = t.iter().map(|v| percentile(v, 0.5)).collect();
    let (ms, mc) = (f.items.metrics(), f.cluster.metrics());
    assert!(
        mc.hits > rounds as u64 && ms.hits > rounds as u64,
        "{ms:?} {mc:?}"
    );
    println!(
        "summary: cluster vs single server, medians over {rounds} interleaved rounds: cache hit \
         {:.1} µs on the cluster, {:.1} µs on the server (cluster/single = {:.2}x); raw GET + \
         decode {:.1} µs on the cluster, {:.1} µs on the server ({:.2}x)",
        micros(m[1]),
        micros(m[0]),
        m[1].as_secs_f64() / m[0].as_secs_f64(),
        micros(m[3]),
        micros(m[2]),
        m[3].as_secs_f64() / m[2].as_secs_f64(),
    );
    // The server's own time per command, for the throughput model: what one primary spends
    // on a hit (GET) and on the miss path's scripts (EVALSHA).
    let mut conn = f.raw.clone();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    for line in stats.lines().filter(|l| {
        ["cmdstat_get:", "cmdstat_evalsha:", "cmdstat_mget:"]
            .iter()
            .any(|c| l.starts_with(c))
    }) {
        println!("summary: server-side cost on the single server (since its start): {line}");
    }
}

/// What a cache hit's telemetry costs with no tracing subscriber and no metrics recorder
/// (as in this bench, and in an application that installs neither): the calls a hit makes —
/// the `dbpat.cache` span around the operation, the `dbpat.redis` span around its `GET`, the
/// `dbpat_cache_hits_total` counter and the outcome recorded on the span (the same macros
/// and fields as `dbpat-runtime/src/cache/spans.rs`) — timed alone, against the hit's median.
async fn telemetry_cost(hit_median: Duration) {
    use tracing::field::Empty;
    use tracing::Instrument;
    let n: u32 = if measuring() { 1_000_000 } else { 1_000 };
    let start = Instant::now();
    for _ in 0..n {
        async {
            async { black_box(1) }
                .instrument(tracing::info_span!(
                    "dbpat.redis",
                    otel.name = "get",
                    otel.kind = "client",
                    db.system.name = "redis",
                    db.operation.name = "get",
                    error.type = Empty,
                ))
                .await;
            metrics::counter!("dbpat_cache_hits_total").increment(1);
            tracing::Span::current().record("dbpat.cache.outcome", "hit");
        }
        .instrument(tracing::info_span!(
            "dbpat.cache",
            otel.name = format_args!("cache {} {}", "find", "item"),
            dbpat.entity = "item",
            dbpat.operation = "find",
            dbpat.cache.outcome = Empty,
        ))
        .await;
    }
    let per_hit = start.elapsed() / n;
    println!(
        "summary: a cache hit's telemetry with no subscriber and no recorder: {:.1} ns per hit \
         ({:.3}% of the hit's median {:.1} µs)",
        per_hit.as_secs_f64() * 1e9,
        100.0 * per_hit.as_secs_f64() / hit_median.as_secs_f64(),
        micros(hit_median)
    );
}

/// `used_cpu_user + used_cpu_sys` of the server behind `conn` (`INFO cpu`), in seconds.
async fn redis_cpu<C: redis::aio::ConnectionLike>(conn: &mut C) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| {
            l.strip_prefix("used_cpu_user:")
                .or_else(|| l.strip_prefix("used_cpu_sys:"))
        })
        .map(|v| v.trim().parse::<f64>().unwrap())
        .sum()
}

/// The CPU all nodes of the cluster have used, in seconds.
async fn cluster_cpu(urls: &[String]) -> f64 {
    let mut total = 0.0;
    for url in urls {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        total += redis_cpu(&mut conn).await;
    }
    total
}

/// Server CPU per cache hit, on the single server and over the whole cluster: what a
/// primary spends per hit, the unit of the throughput model (docs/scaling-out.md). 16 hits
/// in flight at a time; the CPU is the servers' own (`INFO cpu`), so the client's share of
/// this machine's cores does not count.
async fn cpu_per_hit(f: &Fixture) {
    let hits: u64 = if measuring() { 20_000 } else { 160 };
    for (what, cluster) in [("single server", false), ("cluster (all 6 nodes)", true)] {
        let mut conn = f.raw.clone();
        let before = if cluster {
            cluster_cpu(&f.cluster_urls).await
        } else {
            redis_cpu(&mut conn).await
        };
        let started = Instant::now();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (items, pool) = (
                    if cluster {
                        f.cluster.clone()
                    } else {
                        f.items.clone()
                    },
                    f.pool.clone(),
                );
                tokio::spawn(async move {
                    for _ in 0..hits / 16 {
                        black_box(items.find(&pool, &1).await.unwrap());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed();
        let after = if cluster {
            cluster_cpu(&f.cluster_urls).await
        } else {
            redis_cpu(&mut conn).await
        };
        let per_hit = (after - before) / hits as f64;
        println!(
            "summary: server CPU per cache hit on the {what}: {:.1} µs ({:.3} s over {hits} hits, \
             {:.0} hits/s from this client): {:.0} hits/s per server core",
            per_hit * 1e6,
            after - before,
            hits as f64 / elapsed.as_secs_f64(),
            1.0 / per_hit.max(1e-9)
        );
    }
}

/// Removes the bench's keys from every primary of the cluster.
async fn cleanup_cluster(urls: &[String], prefix: &str) {
    for url in urls {
        let Ok(client) = redis::Client::open(url.as_str()) else {
            continue;
        };
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            continue;
        };
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if !info.contains("role:master") {
            continue;
        }
        let mut cursor = 0u64;
        loop {
            let Ok((next, keys)) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async::<(u64, Vec<String>)>(&mut conn)
                .await
            else {
                break;
            };
            for key in keys {
                let _: redis::RedisResult<i64> =
                    redis::cmd("UNLINK").arg(&key).query_async(&mut conn).await;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
}

fn bench(c: &mut Criterion) {
    // One thread: the figures measure the code paths, not cross-thread wake-ups (2 CPUs).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(fixture());
    let key = f.items.key(&1);
    let mut group = c.benchmark_group("read_by_id");
    group.bench_function("cache_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { f.items.find(&f.pool, &1).await.unwrap() })
    });
    group.bench_function("raw_redis_get_decode", |b| {
        b.to_async(&rt).iter(|| raw_get_decode(&f.raw, &key))
    });
    group.bench_function("find", |b| b.to_async(&rt).iter(|| find_by_id(&f.pool, 1)));
    group.bench_function("cache_hit_cluster", |b| {
        b.to_async(&rt)
            .iter(|| async { f.cluster.find(&f.pool, &1).await.unwrap() })
    });
    group.finish();
    rt.block_on(summary(&f));
    rt.block_on(cluster_summary(&f));
    rt.block_on(cpu_per_hit(&f));
    drop_fixture(&rt, f);
}

fn drop_fixture(rt: &Runtime, f: Fixture) {
    rt.block_on(cleanup_cluster(&f.cluster_urls, f.redis.prefix()));
    rt.block_on(f.redis.cleanup());
}

criterion_group! {
    name = benches;
    config = config::criterion_config();
    targets = bench
}
criterion_main!(benches);
