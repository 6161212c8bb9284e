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
        .with_source(POLICY, PgItems::new(db.pool()))
        .unwrap();
    config.write_guarantee = dbpat::cache::WriteGuarantee::Available;
    let items = handle_at(&server.url(), config)
        .await
        .with_source(POLICY, PgItems::new(db.pool()))
        .unwrap();

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

/// Waits until `cache` talks to a dataset other than `old`.
async fn until_generation_changes(cache: &dbpat::cache::Cache, old: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(g) = cache.generation().filter(|g| g != old) {
            return g;
        }
        assert!(Instant::now() < deadline, "no new dataset generation seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A write in flight while Redis restarts empty: its registration is lost with the dataset,
/// and its process re-registers it in the new one as soon as it reconnects. With no restart
/// grace at all, only that re-registration stops another handle from filling the row it
/// loads before the commit — the read after the commit must see the new row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_flight_across_a_restart_is_re_registered() {
    let prefix = TestRedis::new().await.prefix().to_owned();
    let db = database(1).await;
    let mut server = PrivateRedis::start().await;
    let config = config(&prefix); // restart_grace: zero
    let writer = handle_at(&server.url(), config.clone())
        .await
        .with_source(POLICY, PgItems::new(db.pool()))
        .unwrap();
    let reader = handle_at(&server.url(), config)
        .await
        .with_source(POLICY, PgItems::new(db.pool()))
        .unwrap();
    assert_eq!(reader.find(&1).await.unwrap().unwrap().name, "item-1");
    let before = reader.cache().generation().unwrap();
    assert_eq!(writer.cache().generation().as_deref(), Some(&*before));

    let intent = writer.begin_write(&1).await.unwrap();
    server.kill9();
    server.restart_empty().await;
    let new = until_generation_changes(writer.cache(), &before).await;
    assert_eq!(until_generation_changes(reader.cache(), &before).await, new);
    assert_eq!(writer.metrics().dataset_changes, 1);

    // Before the commit the reader loads the old row; it must not cache it.
    assert_eq!(reader.find(&1).await.unwrap().unwrap().name, "item-1");
    let mut raw_conn = raw(&server.url()).await;
    assert!(
        raw_get(&mut raw_conn, &reader.key(&1)).await.is_none(),
        "the writer's re-registration refused the fill"
    );
    let row = update_name(db.pool(), 1, "committed").await.unwrap();
    // Committed, intent not finished yet: a read now must not return the old row.
    assert_eq!(reader.find(&1).await.unwrap().unwrap().name, "committed");
    intent.committed(&row).await;
    assert_eq!(reader.find(&1).await.unwrap().unwrap().name, "committed");
}

/// For `restart_grace` after a dataset is born nobody fills (writers of the lost dataset
/// may not have re-registered yet); afterwards caching resumes; values cached in an older
/// dataset are never served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fill_during_the_restart_grace_and_no_value_of_an_older_dataset() {
    let prefix = TestRedis::new().await.prefix().to_owned();
    let db = database(2).await;
    let mut server = PrivateRedis::start().await;
    let mut config = config(&prefix);
    config.restart_grace = Duration::from_millis(800);
    let items = handle_at(&server.url(), config)
        .await
        .with_source(POLICY, PgItems::new(db.pool()))
        .unwrap();
    let mut raw_conn = raw(&server.url()).await;
    // Born now: the first reads go to the database and fill nothing.
    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "item-1");
    assert!(raw_get(&mut raw_conn, &items.key(&1)).await.is_none());
    assert!(items.metrics().grace_bypasses >= 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    items.find(&1).await.unwrap();
    let old_value = raw_get(&mut raw_conn, &items.key(&1))
        .await
        .expect("filled after the grace");
    server.save_dump().await;

    // The row changes behind the dump's back; the server comes back from the dump.
    let before = items.cache().generation().unwrap();
    items
        .write_with(&1, || update_name(db.pool(), 1, "after-the-dump"))
        .await
        .unwrap();
    server.kill9();
    server.restart_from_saved_dump().await;
    until_generation_changes(items.cache(), &before).await;
    let mut raw_conn = raw(&server.url()).await;
    assert_eq!(
        raw_get(&mut raw_conn, &items.key(&1)).await.as_deref(),
        Some(&old_value[..]),
        "the dump brought the old value back"
    );
    let ignored = items.metrics().other_generation_values;
    assert_eq!(
        items.find(&1).await.unwrap().unwrap().name,
        "after-the-dump"
    );
    assert_eq!(items.metrics().other_generation_values, ignored + 1);
}
