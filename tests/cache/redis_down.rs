//! Redis slow, then stopped mid-test, then back: every read is still answered (from
//! PostgreSQL), `Available` writes still commit (`Strict` ones are refused), nothing is returned to the caller, and caching resumes.
//! Uses a private redis-server on its own port (`support::redis_server`), killed by a drop guard.

use crate::support::cache as cache_common;
use crate::support::redis_server::PrivateRedis;

use cache_common::*;
use dbpat::testing::TestRedis;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_survive_a_slow_then_dead_redis_and_caching_resumes() {
    let prefix = TestRedis::new().await.prefix().to_owned();
    let db = database(3).await;
    let pool = db.pool().clone();
    let mut server = PrivateRedis::start().await;
    let mut config = config(&prefix);
    config.op_timeout = Duration::from_millis(100);
    config.connect_timeout = Duration::from_millis(100);
    config.breaker_cooldown = Duration::from_millis(200);
    config.restart_grace = Duration::from_millis(300);
    // The write below commits while Redis is dead: the `Available` guarantee. A `Strict`
    // handle (the default) refuses it, and writes nothing.
    let strict = handle_at(&server.url(), config.clone())
        .await
        .with_source(POLICY, PgItems::new(db.pool()));
    config.write_guarantee = dbpat::cache::WriteGuarantee::Available;
    let items = handle_at(&server.url(), config)
        .await
        .with_source(POLICY, PgItems::new(db.pool()));

    // The private server's dataset is born now: no fills during the restart grace.
    tokio::time::sleep(Duration::from_millis(350)).await;
    // Healthy: the read fills the private server.
    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "item-1");
    let mut raw_conn = raw(&server.url()).await;
    assert!(raw_get(&mut raw_conn, &items.key(&1)).await.is_some());

    // Slow: the server sleeps 600 ms; reads time out after 100 ms and use the database.
    let sleeping = tokio::spawn(server.debug_sleep(Duration::from_millis(600)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    assert_eq!(items.find(&2).await.unwrap().unwrap().name, "item-2");
    let slow_read = start.elapsed();
    assert!(slow_read < Duration::from_millis(450), "{slow_read:?}");
    assert!(items.metrics().redis_errors >= 1);
    sleeping.await.unwrap();

    // Dead: every read still succeeds, an `Available` write still commits, no read error
    // reaches the caller.
    server.kill9();
    let mut slowest = Duration::ZERO;
    for round in 0..30 {
        let id = round % 3 + 1;
        let start = Instant::now();
        let item = items.find(&id).await.unwrap().unwrap();
        slowest = slowest.max(start.elapsed());
        assert_eq!(item.id, id);
        if round == 10 {
            let refused = strict
                .write_with(&1, || update_name(&pool, 1, "refused-while-down"))
                .await
                .unwrap_err();
            assert!(
                matches!(refused, dbpat::Error::CacheUnavailable { .. }),
                "{refused:?}"
            );
            let version: i64 = sqlx::query_scalar("SELECT version FROM items WHERE id = 1")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(
                version, 1,
                "a strict write Redis did not register wrote nothing"
            );
            let row = items
                .write_with(&1, || update_name(&pool, 1, "written-while-down"))
                .await
                .unwrap();
            assert_eq!(row.version, 2);
        }
        if round > 10 && id == 1 {
            assert_eq!(item.name, "written-while-down");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let down = items.metrics();
    eprintln!("redis down: 30 reads ok, slowest {slowest:?}; {down:?}");
    assert!(down.redis_errors >= 1, "{down:?}");
    assert!(down.redis_skipped >= 1, "breaker skipped Redis: {down:?}");
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
    let version: i64 = sqlx::query_scalar("SELECT version FROM items WHERE id = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 2, "the write committed");

    // Back on the same port (empty): caching resumes.
    server.restart_empty().await;
    let mut raw_conn = raw(&server.url()).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let item = items.find(&1).await.unwrap().unwrap();
        assert_eq!(item.name, "written-while-down");
        if raw_get(&mut raw_conn, &items.key(&1)).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "caching did not resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let loads = items.source().loads();
    let before = items.metrics().hits;
    assert_eq!(
        items.find(&1).await.unwrap().unwrap().name,
        "written-while-down"
    );
    assert_eq!(items.source().loads(), loads, "served from Redis again");
    assert_eq!(items.metrics().hits, before + 1);
}
