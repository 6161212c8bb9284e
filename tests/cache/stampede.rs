//! Stampede protection: concurrent misses on one key load the database once, in one process
//! (single-flight) and across processes (the Redis lease), waiters are woken promptly, and a
//! lease holder that died blocks the others for at most the lease TTL.

use crate::support::cache as cache_common;

use cache_common::*;
use dbpat::testing::{self, TestRedis};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

/// 200 concurrent `get` on a cold key through 4 independent handles (separate Redis
/// connections, separate single-flight maps, no shared memory but the counter) → one load.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_gets_through_four_handles_load_once() {
    let redis = TestRedis::new().await;
    let db = database(1).await;
    const LOAD_TIME: Duration = Duration::from_millis(50);
    let source = PgItems::new(db.pool()).with_delay(LOAD_TIME);
    let mut caches = Vec::new();
    for _ in 0..4 {
        let h = handle(redis.prefix()).await;
        assert!(h.is_subscribed(), "wake-up subscription is live");
        caches.push(h.with_source(POLICY, source.clone()).unwrap());
    }
    let barrier = Arc::new(Barrier::new(200));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let items = caches[i % 4].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                let item = items.find(&1).await.unwrap().unwrap();
                (item, start.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let (item, took) = t.await.unwrap();
        assert_eq!(item.name, "item-1");
        slowest = slowest.max(took);
    }
    let metrics: Vec<_> = caches.iter().map(|c| c.metrics()).collect();
    let sum = |f: fn(&dbpat::cache::CacheMetrics) -> u64| metrics.iter().map(f).sum::<u64>();
    eprintln!(
        "stampede: 200 gets, {} database load(s), slowest {slowest:?} (load takes {LOAD_TIME:?}); \
         fills {}, lease waits {}, single-flight joins {}, hits {}",
        source.loads(),
        sum(|m| m.fills),
        sum(|m| m.stampede_waits),
        sum(|m| m.single_flight_joins),
        sum(|m| m.hits),
    );
    assert_eq!(source.loads(), 1, "exactly one database load");
    assert_eq!(sum(|m| m.fills), 1);
    assert_eq!(sum(|m| m.redis_errors), 0);
    // Woken by the fill's message, not by the 5 s lease TTL.
    assert!(
        slowest < LOAD_TIME + Duration::from_millis(500),
        "waiters woke late: {slowest:?}"
    );
}

/// A lease whose holder died (never fills, never releases) delays readers by at most its TTL.
#[tokio::test]
async fn a_dead_lease_holder_blocks_only_until_the_lease_ttl() {
    let redis = TestRedis::new().await;
    let db = database(1).await;
    let items = items(redis.prefix(), db.pool(), POLICY).await;
    let mut raw = raw(&testing::redis_url()).await;
    let _: () = dbpat::cache::redis::cmd("SET")
        .arg(format!("{}lease:item:1", redis.prefix()))
        .arg("token-of-a-dead-process")
        .arg("PX")
        .arg(400)
        .query_async(&mut raw)
        .await
        .unwrap();
    let start = Instant::now();
    let item = items.find(&1).await.unwrap().unwrap();
    let took = start.elapsed();
    eprintln!("dead holder: read completed after {took:?} (lease TTL 400 ms)");
    assert_eq!(item.id, 1);
    assert!(
        took >= Duration::from_millis(350),
        "waited for the lease: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1400),
        "not beyond the TTL: {took:?}"
    );
    assert_eq!(items.source().loads(), 1);
    assert_eq!(
        items.metrics().fills,
        1,
        "the waiter took the lease and filled"
    );
}

/// A live holder in another process wakes a waiter as soon as it fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_wake_when_the_holder_fills() {
    let redis = TestRedis::new().await;
    let db = database(1).await;
    let slow = handle(redis.prefix())
        .await
        .with_source(
            POLICY,
            PgItems::new(db.pool()).with_delay(Duration::from_millis(300)),
        )
        .unwrap();
    let other = items(redis.prefix(), db.pool(), POLICY).await;
    let holder = tokio::spawn({
        let slow = slow.clone();
        async move { slow.find(&1).await }
    });
    // Let the holder take the lease.
    let mut raw = raw(&testing::redis_url()).await;
    let lease = format!("{}lease:item:1", redis.prefix());
    while raw_get(&mut raw, &lease).await.is_none() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let start = Instant::now();
    let item = other.find(&1).await.unwrap().unwrap();
    let waited = start.elapsed();
    holder.await.unwrap().unwrap();
    eprintln!("waiter woke {waited:?} after it started (holder load 300 ms, lease TTL 5 s)");
    assert_eq!(item.id, 1);
    assert_eq!(other.source().loads(), 0, "the waiter did not load");
    assert_eq!(other.metrics().stampede_waits, 1);
    assert!(waited < Duration::from_millis(800), "{waited:?}");
}

/// A cached `find_many` of 100,000 ids (with the default 250 ms op timeout) returns every row,
/// leaves no lease behind, and the next `find` of one of them is a plain miss: no wait for a
/// lease nobody fills. (Before the lease script ran in chunks, one script call for 100,000
/// ids outlived the timeout, ran anyway, and left 100,000 leases; the next `find` waited for
/// one of them for seconds.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_many_of_100_000_ids_leaves_no_lease() {
    const N: i64 = 100_000;
    let redis = TestRedis::new().await;
    let db = database(N).await;
    let mut config = dbpat::cache::CacheConfig::new(redis.prefix());
    config.restart_grace = Duration::ZERO;
    let items = handle_at(&testing::redis_url(), config)
        .await
        .with_source(POLICY, PgItems::new(db.pool()))
        .unwrap();
    let ids: Vec<i64> = (1..=N).collect();
    let start = Instant::now();
    let rows = items.find_many(&ids).await.unwrap();
    let took = start.elapsed();
    assert_eq!(rows.len(), N as usize);
    assert!(rows
        .iter()
        .zip(&ids)
        .all(|(row, id)| row.as_ref().map(|r| r.id) == Some(*id)));
    let m = items.metrics();
    eprintln!("find_many of {N} cold ids: {took:?}; {m:?}");

    let mut raw = raw(&testing::redis_url()).await;
    let mut leases = 0usize;
    let mut cursor: u64 = 0;
    loop {
        let (next, found): (u64, Vec<String>) = dbpat::cache::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}lease:*", redis.prefix()))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut raw)
            .await
            .unwrap();
        leases += found.len();
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(leases, 0, "leases left behind; {m:?}");
    assert_eq!(
        m.redis_errors, 0,
        "no script outlived the op timeout: {m:?}"
    );

    // The next read of a row that is not cached is a plain miss: one load, no lease wait.
    items.invalidate(&77_777).await.unwrap();
    let before = items.metrics();
    let start = Instant::now();
    assert_eq!(items.find(&77_777).await.unwrap().unwrap().id, 77_777);
    let took = start.elapsed();
    let after = items.metrics();
    assert_eq!(after.stampede_waits, before.stampede_waits, "{after:?}");
    assert_eq!(after.fills, before.fills + 1, "{after:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}
