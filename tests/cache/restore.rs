//! The database restored to an earlier state: the cache must not keep serving rows newer than
//! the database. Each test dumps its database with row 1 as `item-1`, then commits
//! `after-dump` and reads it into the cache, then restores the dump.
//!
//! - Into a recreated database: [`Cache::watch_database`] sees another database and starts
//!   a new generation. The restored row is served within a bound, by the watching handle and
//!   by another handle of the same app prefix that does not watch.
//! - In place (`pg_restore --clean`): the database keeps its identity, so the watch cannot
//!   tell. The cache still serves `after-dump`, which is why `docs/cache.md` says to call
//!   [`Cache::start_new_generation`] after such a restore. After that call the restored row is
//!   served.

use crate::support::cache::*;
use crate::support::pg_tools;
use dbpat::cache::{Cache, SourceCache};
use dbpat::testing::{TestDatabase, TestRedis};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long the restored row may take to be served once the restore finished: a few
/// heartbeats of 200 ms, plus the pool's reconnect, on a loaded CI machine.
const NOTICED_WITHIN: Duration = Duration::from_secs(3);

struct Fixture {
    db: TestDatabase,
    cache: Cache,
    items: SourceCache<Item, PgItems>,
    dump: PathBuf,
    _dir: tempfile::TempDir,
    _redis: TestRedis,
}

/// The dump holds `item-1`; the database and the cache hold `after-dump`.
async fn cached_past_the_dump() -> Fixture {
    let redis = TestRedis::new().await;
    let db = database(3).await;
    let cache = handle(redis.prefix()).await;
    cache.watch_database(db.pool().clone()).await.unwrap();
    let items = cache.with_source(POLICY, PgItems::new(db.pool())).unwrap();
    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "item-1");

    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("items.dump");
    pg_tools::dump(&db, &dump);

    items
        .write_with(&1, || update_name(db.pool(), 1, "after-dump"))
        .await
        .unwrap();
    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "after-dump");
    let hits = items.metrics().hits;
    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "after-dump");
    assert_eq!(
        items.metrics().hits,
        hits + 1,
        "the row after the dump is cached"
    );
    Fixture {
        db,
        cache,
        items,
        dump,
        _dir: dir,
        _redis: redis,
    }
}

/// Reads row 1 until it is the restored `item-1`; returns how long that took. Once it is, it
/// must stay so.
async fn until_restored_row(items: &SourceCache<Item, PgItems>) -> Duration {
    let start = Instant::now();
    loop {
        // A read may fail while the pool reconnects to the recreated database.
        if let Ok(Some(item)) = items.find(&1).await {
            if item.name == "item-1" {
                break;
            }
            assert_eq!(item.name, "after-dump");
        }
        assert!(
            start.elapsed() < NOTICED_WITHIN,
            "the cache still serves the row committed after the dump"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = start.elapsed();
    for _ in 0..20 {
        assert_eq!(items.find(&1).await.unwrap().unwrap().name, "item-1");
    }
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restored_into_a_new_database_is_noticed_by_every_handle() {
    let f = cached_past_the_dump().await;
    // Another process's handle on the same app prefix, which does not watch the database.
    let other = handle(f.cache.config().app_prefix.as_str())
        .await
        .with_source(POLICY, PgItems::new(f.db.pool()))
        .unwrap();
    assert_eq!(other.find(&1).await.unwrap().unwrap().name, "after-dump");
    let generation = f.cache.generation().unwrap();

    pg_tools::recreate(&f.db).await;
    pg_tools::restore(&f.db, &f.dump, false);

    let watching = until_restored_row(&f.items).await;
    let not_watching = until_restored_row(&other).await;
    assert_ne!(f.cache.generation().unwrap(), generation);
    assert_eq!(f.items.metrics().database_changes, 1);
    // The other handle ignored the old generation's values at once (they carry it) and
    // adopts the new generation at its next heartbeat.
    let start = Instant::now();
    while other.cache().generation() != f.cache.generation() {
        assert!(
            start.elapsed() < NOTICED_WITHIN,
            "the other handle kept its generation"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("restored row served after {watching:?} (watching) and {not_watching:?} more (not)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_in_place_needs_a_new_generation_by_hand() {
    let f = cached_past_the_dump().await;
    let generation = f.cache.generation().unwrap();
    pg_tools::restore(&f.db, &f.dump, true);
    let restored: String = sqlx::query_scalar("SELECT name FROM items WHERE id = 1")
        .fetch_one(f.db.pool())
        .await
        .unwrap();
    assert_eq!(restored, "item-1");

    // Same database, WAL moved forward: the watch cannot tell, for several heartbeats.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(f.items.find(&1).await.unwrap().unwrap().name, "after-dump");
    assert_eq!(f.cache.generation().unwrap(), generation);

    let started = f.cache.start_new_generation().await.unwrap();
    assert_ne!(started, generation);
    assert_eq!(f.cache.generation().unwrap(), started);
    assert!(until_restored_row(&f.items).await < Duration::from_millis(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_database_keeps_its_generation() {
    let redis = TestRedis::new().await;
    let db = database(3).await;
    let cache = handle(redis.prefix()).await;
    cache.watch_database(db.pool().clone()).await.unwrap();
    let items = cache.with_source(POLICY, PgItems::new(db.pool())).unwrap();
    let generation = cache.generation().unwrap();
    // Writes move the WAL forward; heartbeats pass.
    for round in 0..10 {
        let name = format!("round-{round}");
        items
            .write_with(&1, || update_name(db.pool(), 1, &name))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(cache.generation().unwrap(), generation);
    assert_eq!(items.metrics().database_changes, 0);
    let hits = items.metrics().hits;
    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "round-9");
    items.find(&1).await.unwrap();
    assert!(items.metrics().hits > hits);
}
