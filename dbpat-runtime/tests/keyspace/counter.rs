//! Counters and their flush into PostgreSQL, against the real Redis and PostgreSQL.

use crate::support::{exists, keys, pttl, Backend, TestConn};
use dbpat_runtime::keyspace::{
    hash_slot, Counter, CounterFlusher, FlushTarget, IdType, KeyspaceConnection, KeyspaceError,
};
use dbpat_runtime::testing::TestDatabase;
use redis::cluster_async::ClusterConnection;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `articles(id, view_count)` with rows 1..=3, plus a switchable failure: while `flush_faults`
/// holds an id, any UPDATE of that article raises, like a real database error mid-flush.
async fn articles(db: &TestDatabase) {
    sqlx::raw_sql(
        "CREATE TABLE articles (id BIGINT PRIMARY KEY, view_count BIGINT NOT NULL DEFAULT 0);
         INSERT INTO articles (id) VALUES (1), (2), (3);
         CREATE TABLE flush_faults (id BIGINT PRIMARY KEY);
         CREATE FUNCTION fail_flagged() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF EXISTS (SELECT 1 FROM flush_faults WHERE id = NEW.id) THEN
             RAISE EXCEPTION 'injected flush failure for article %', NEW.id;
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER articles_fault BEFORE UPDATE ON articles
           FOR EACH ROW EXECUTE FUNCTION fail_flagged();",
    )
    .execute(db.pool())
    .await
    .unwrap();
    CounterFlusher::ensure_ledger(db.pool()).await.unwrap();
}

async fn views_in_db(pool: &PgPool, id: i64) -> i64 {
    sqlx::query_scalar("SELECT view_count FROM articles WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn set_fault(pool: &PgPool, id: i64, on: bool) {
    let sql = if on {
        "INSERT INTO flush_faults (id) VALUES ($1) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM flush_faults WHERE id = $1"
    };
    sqlx::query(sql).bind(id).execute(pool).await.unwrap();
}

fn target() -> FlushTarget {
    FlushTarget::new("articles", "view_count", "id", IdType::BigInt).unwrap()
}

on_each_deployment!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] fn incr_get_ttl_and_concurrent_increments_are_exact);
async fn incr_get_ttl_and_concurrent_increments_are_exact<C: TestConn>(redis: Backend<C>) {
    let views = Counter::new(redis.connection(), keys(&redis), "article", "views").unwrap();
    assert_eq!(views.get("456").await.unwrap(), 0);
    assert_eq!(views.incr("456").await.unwrap(), 1);
    assert_eq!(views.incr_by("456", 9).await.unwrap(), 10);
    assert_eq!(views.incr_by("456", -3).await.unwrap(), 7);
    assert_eq!(views.get("456").await.unwrap(), 7);
    let key = views.key("456").unwrap();
    assert_eq!(key, format!("{}article:{{456}}:views", redis.prefix()));
    assert_eq!(
        pttl(&mut redis.connection(), &key).await,
        -1,
        "no TTL by default"
    );
    assert!(matches!(
        views.incr("bad:id").await,
        Err(KeyspaceError::InvalidKeyPart { .. })
    ));

    let ttl_views = views.clone().with_ttl(Duration::from_secs(90));
    ttl_views.incr("456").await.unwrap();
    let ms = pttl(&mut redis.connection(), &key).await;
    assert!((80_000..=90_000).contains(&ms), "pttl {ms}");

    // 8 clients on their own connections x 125 increments.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = Counter::new(
            redis.own_connection().await,
            keys(&redis),
            "article",
            "views",
        )
        .unwrap();
        tasks.push(tokio::spawn(async move {
            for _ in 0..125 {
                c.incr("race").await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(views.get("race").await.unwrap(), 1000);
}

on_each_deployment!(#[tokio::test] fn flush_moves_deltas_into_postgres_once);
async fn flush_moves_deltas_into_postgres_once<C: TestConn>(redis: Backend<C>) {
    let db = TestDatabase::new().await;
    articles(&db).await;
    let views = Counter::new(redis.connection(), keys(&redis), "article", "views")
        .unwrap()
        .with_pending();
    for (id, n) in [("1", 3), ("2", 5), ("3", 7)] {
        for _ in 0..n {
            views.incr(id).await.unwrap();
        }
    }
    let flusher = CounterFlusher::new(views.clone(), db.pool().clone(), target());
    assert_eq!(flusher.dirty_ids().await.unwrap(), vec!["1", "2", "3"]);
    let report = flusher.flush().await.unwrap();
    assert_eq!((report.flushed, report.total_delta), (3, 15));
    assert!(report.failed.is_empty(), "{report:?}");
    for (id, n) in [(1, 3), (2, 5), (3, 7)] {
        assert_eq!(views_in_db(db.pool(), id).await, n);
        assert_eq!(views.unflushed(&id.to_string()).await.unwrap(), 0);
        assert_eq!(
            views.get(&id.to_string()).await.unwrap(),
            n,
            "Redis keeps the live value"
        );
    }
    // Nothing left: a second flush changes nothing.
    let again = flusher.flush().await.unwrap();
    assert_eq!((again.flushed, again.total_delta), (0, 0));
    assert_eq!(views_in_db(db.pool(), 2).await, 5);
    assert!(flusher.dirty_ids().await.unwrap().is_empty());
}

on_each_deployment!(#[tokio::test] fn injected_failure_midway_loses_nothing_and_is_retried);
async fn injected_failure_midway_loses_nothing_and_is_retried<C: TestConn>(redis: Backend<C>) {
    let db = TestDatabase::new().await;
    articles(&db).await;
    let views = Counter::new(redis.connection(), keys(&redis), "article", "views")
        .unwrap()
        .with_pending();
    let flusher = CounterFlusher::new(views.clone(), db.pool().clone(), target());
    for id in ["1", "2", "3"] {
        views.incr_by(id, 10).await.unwrap();
    }
    set_fault(db.pool(), 2, true).await;
    let report = flusher.flush().await.unwrap();
    assert_eq!(report.flushed, 2, "{report:?}");
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "2");
    assert!(
        report.failed[0].1.contains("injected flush failure"),
        "{report:?}"
    );
    assert_eq!(views_in_db(db.pool(), 1).await, 10);
    assert_eq!(
        views_in_db(db.pool(), 2).await,
        0,
        "the failed transaction rolled back"
    );
    assert_eq!(views_in_db(db.pool(), 3).await, 10);
    assert_eq!(
        views.unflushed("2").await.unwrap(),
        10,
        "delta kept in flight"
    );

    // Increments keep arriving while article 2's delta is in flight.
    views.incr_by("2", 4).await.unwrap();
    assert_eq!(views.unflushed("2").await.unwrap(), 14);
    // Still failing: nothing is lost, nothing applied.
    let report = flusher.flush().await.unwrap();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(views_in_db(db.pool(), 2).await, 0);

    set_fault(db.pool(), 2, false).await;
    let report = flusher.flush().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    // The in-flight 10 went first; the 4 that arrived meanwhile stay pending for the next tick.
    assert_eq!(views_in_db(db.pool(), 2).await, 10);
    assert_eq!(views.unflushed("2").await.unwrap(), 4);
    flusher.flush().await.unwrap();
    assert_eq!(views_in_db(db.pool(), 2).await, 14);
    assert_eq!(views.unflushed("2").await.unwrap(), 0);
}

/// The state a flusher leaves when it commits a flush of 5 views of article 1 and dies before
/// deleting its in-flight hash: PostgreSQL has the 5, and the in-flight hash still holds the
/// ledger's flush id and the delta. Returns the counter, its flusher and the in-flight key.
async fn died_after_commit<C: TestConn>(
    db: &TestDatabase,
    redis: &Backend<C>,
) -> (Counter<C>, CounterFlusher<C>, String) {
    let views = Counter::new(redis.connection(), keys(redis), "article", "views")
        .unwrap()
        .with_pending();
    let flusher = CounterFlusher::new(views.clone(), db.pool().clone(), target());
    views.incr_by("1", 5).await.unwrap();
    flusher.flush().await.unwrap();
    assert_eq!(views_in_db(db.pool(), 1).await, 5);
    let flush_id: uuid::Uuid = sqlx::query_scalar("SELECT flush_id FROM dbpat_counter_flushes")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let inflight = format!("{}:inflight", views.key("1").unwrap());
    let () = redis::cmd("HSET")
        .arg(&inflight)
        .arg("flush_id")
        .arg(flush_id.to_string())
        .arg("delta")
        .arg(5)
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    (views, flusher, inflight)
}

on_each_deployment!(#[tokio::test] fn a_flush_that_died_after_commit_is_not_applied_twice);
async fn a_flush_that_died_after_commit_is_not_applied_twice<C: TestConn>(redis: Backend<C>) {
    let db = TestDatabase::new().await;
    articles(&db).await;
    let (_views, flusher, inflight) = died_after_commit(&db, &redis).await;
    let mut conn = redis.connection();
    let report = flusher.flush().await.unwrap();
    println!(
        "counter [{}]: retry of a flush that died after COMMIT: {report:?}, PostgreSQL {}",
        redis.deployment(),
        views_in_db(db.pool(), 1).await
    );
    assert_eq!(report.already_applied, 1, "{report:?}");
    assert_eq!(report.flushed, 0);
    assert_eq!(views_in_db(db.pool(), 1).await, 5, "not applied twice");
    assert!(
        !exists(&mut conn, &inflight).await,
        "stale in-flight hash cleaned up"
    );
}

on_each_deployment!(#[tokio::test] fn missing_rows_and_bad_ids_are_reported_and_kept);
async fn missing_rows_and_bad_ids_are_reported_and_kept<C: TestConn>(redis: Backend<C>) {
    let db = TestDatabase::new().await;
    articles(&db).await;
    let views = Counter::new(redis.connection(), keys(&redis), "article", "views")
        .unwrap()
        .with_pending();
    views.incr("99").await.unwrap(); // no such article
    views.incr("abc").await.unwrap(); // not a BIGINT
    let flusher = CounterFlusher::new(views.clone(), db.pool().clone(), target());
    let report = flusher.flush().await.unwrap();
    assert_eq!(report.flushed, 0);
    assert_eq!(report.failed.len(), 2, "{report:?}");
    assert_eq!(views.unflushed("99").await.unwrap(), 1);
    assert_eq!(views.unflushed("abc").await.unwrap(), 1);
    let missing = report.failed.iter().find(|(id, _)| id == "99").unwrap();
    assert_eq!(
        missing.1, "flush target updated 0 rows for id \"99\" (expected 1)",
        "a missing row is FlushTargetRows"
    );
    let ledger: i64 = sqlx::query_scalar("SELECT count(*) FROM dbpat_counter_flushes")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(ledger, 0, "failed flushes leave no ledger row");
}

on_each_deployment!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] fn concurrent_increments_with_flushes_and_faults_lose_nothing);
async fn concurrent_increments_with_flushes_and_faults_lose_nothing<C: TestConn>(
    redis: Backend<C>,
) {
    let db = TestDatabase::new().await;
    articles(&db).await;
    let make = |conn| {
        Counter::new(conn, keys(&redis), "article", "views")
            .unwrap()
            .with_pending()
    };
    // Flush rounds completed so far. Each writer waits for one more round after every 50
    // increments, so at least 5 flushes interleave with the writes however loaded the machine
    // is (the other tests of this binary run alongside).
    let done = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..4 {
        let c = make(redis.own_connection().await);
        let done = done.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..250u32 {
                let id = ((w + i) % 3 + 1).to_string();
                c.incr(&id).await.unwrap();
                if i % 10 == 9 {
                    // Spread the writes out so that many flushes interleave with them.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                if i % 50 == 49 {
                    let chunk = usize::try_from(i / 50 + 1).unwrap();
                    while done.load(Ordering::SeqCst) < chunk {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
        }));
    }
    let flusher = CounterFlusher::new(
        make(redis.own_connection().await),
        db.pool().clone(),
        target(),
    );
    let mut rounds = 0;
    let mut failures = 0;
    while writers.iter().any(|w| !w.is_finished()) && rounds < 10_000 {
        // Every third round, article 3 fails to flush.
        set_fault(db.pool(), 3, rounds % 3 == 0).await;
        let report = flusher.flush().await.unwrap();
        failures += report.failed.len();
        rounds += 1;
        done.store(rounds, Ordering::SeqCst);
    }
    for w in writers {
        w.await.unwrap();
    }
    set_fault(db.pool(), 3, false).await;
    for _ in 0..3 {
        flusher.flush().await.unwrap();
    }
    let total: i64 = sqlx::query_scalar("SELECT sum(view_count)::BIGINT FROM articles")
        .fetch_one(db.pool())
        .await
        .unwrap();
    println!(
        "counter [{}]: 4 writers x 250 increments, flush rounds during writes: {rounds}, \
         injected failures hit: {failures}, PostgreSQL total {total}",
        redis.deployment()
    );
    assert!(rounds >= 5, "the flusher ran concurrently with the writers");
    assert_eq!(
        total, 1000,
        "every increment reached PostgreSQL exactly once"
    );
    let counter = make(redis.connection());
    for id in 1..=3 {
        let live = counter.get(&id.to_string()).await.unwrap();
        assert_eq!(views_in_db(db.pool(), id).await, live, "article {id}");
    }
}

async fn set_raw<C: redis::aio::ConnectionLike + Send>(conn: &mut C, key: &str, value: i64) {
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(conn)
        .await
        .unwrap();
}

on_each_deployment!(#[tokio::test] fn an_overflowing_increment_changes_nothing_and_sums_do_not_overflow);
async fn an_overflowing_increment_changes_nothing_and_sums_do_not_overflow<C: TestConn>(
    redis: Backend<C>,
) {
    let mut conn = redis.connection();
    let views = Counter::new(redis.connection(), keys(&redis), "article", "views")
        .unwrap()
        .with_pending();
    let value = views.key("1").unwrap();
    let pending = format!("{value}:pending");
    let inflight = format!("{value}:inflight");

    // The value would overflow: Redis refuses before anything is written.
    views.incr_by("1", i64::MAX).await.unwrap();
    assert!(matches!(
        views.incr_by("1", 1).await,
        Err(KeyspaceError::Redis(_))
    ));
    assert_eq!(views.get("1").await.unwrap(), i64::MAX);
    assert_eq!(views.unflushed("1").await.unwrap(), i64::MAX);

    // Only the pending delta would overflow: the value increment is undone too, with its TTL.
    set_raw(&mut conn, &value, 5).await;
    let () = redis::cmd("PEXPIRE")
        .arg(&value)
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        views.incr_by("1", 1).await,
        Err(KeyspaceError::Redis(_))
    ));
    assert_eq!(views.get("1").await.unwrap(), 5, "value put back");
    assert!(pttl(&mut conn, &value).await > 0, "its TTL kept");
    assert_eq!(views.unflushed("1").await.unwrap(), i64::MAX);
    // ... and a value key that did not exist does not appear.
    let () = redis::cmd("DEL")
        .arg(&value)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(views.incr_by("1", 1).await.is_err());
    assert!(!exists(&mut conn, &value).await);
    assert_eq!(views.unflushed("1").await.unwrap(), i64::MAX);

    // Pending plus in-flight beyond i64: a typed error, not an overflowing add.
    let () = redis::cmd("HSET")
        .arg(&inflight)
        .arg("delta")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        views.unflushed("1").await,
        Err(KeyspaceError::Overflow(_))
    ));
    assert!(exists(&mut conn, &pending).await);
}

on_each_deployment!(#[tokio::test] fn a_zero_flush_period_does_not_kill_the_periodic_flusher);
async fn a_zero_flush_period_does_not_kill_the_periodic_flusher<C: TestConn>(redis: Backend<C>) {
    let db = TestDatabase::new().await;
    articles(&db).await;
    let views = Counter::new(redis.connection(), keys(&redis), "article", "views")
        .unwrap()
        .with_pending();
    views.incr_by("1", 4).await.unwrap();
    let flusher = CounterFlusher::new(views.clone(), db.pool().clone(), target());
    let handle = flusher.spawn_periodic(Duration::ZERO);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while views_in_db(db.pool(), 1).await != 4 {
        assert!(!handle.is_finished(), "the periodic task died");
        assert!(std::time::Instant::now() < deadline, "never flushed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!handle.is_finished());
    handle.abort();
}

/// Pending keys of `ids` per primary: SCAN run on each primary by itself.
async fn pending_keys_per_primary(
    redis: &Backend<ClusterConnection>,
    pattern: &str,
) -> Vec<(String, usize)> {
    let mut conn = redis.connection();
    let mut out = Vec::new();
    for p in redis.primaries().await {
        let mut cursor = 0u64;
        let mut n = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(100);
            let reply = conn.query_on(Some(&p), &cmd).await.unwrap();
            let (next, keys): (u64, Vec<String>) = redis::from_redis_value(reply).unwrap();
            n += keys.len();
            if next == 0 {
                break;
            }
            cursor = next;
        }
        out.push((p.address(), n));
    }
    out
}

#[tokio::test]
async fn the_flusher_finds_dirty_counters_on_every_primary_of_the_cluster() {
    let redis = crate::support::cluster().await;
    let db = TestDatabase::new().await;
    articles(&db).await;
    sqlx::query("INSERT INTO articles (id) SELECT g FROM generate_series(4, 30) g")
        .execute(db.pool())
        .await
        .unwrap();
    let views = Counter::new(redis.connection(), keys(&redis), "article", "views")
        .unwrap()
        .with_pending();
    for id in 1..=30i64 {
        views.incr_by(&id.to_string(), id).await.unwrap();
    }
    // The 30 ids' keys really landed on all three primaries.
    let primaries = redis.primaries().await;
    assert_eq!(primaries.len(), 3, "{primaries:?}");
    let owners: BTreeSet<String> = (1..=30)
        .map(|id| {
            let slot = hash_slot(&views.key(&id.to_string()).unwrap());
            primaries.iter().find(|p| p.owns(slot)).unwrap().address()
        })
        .collect();
    assert_eq!(owners.len(), 3, "keys on every primary: {owners:?}");
    let pattern = format!("{}article:{{*}}:views:pending", redis.prefix());
    let per_primary = pending_keys_per_primary(&redis, &pattern).await;
    println!("pending keys per primary: {per_primary:?}");
    assert!(per_primary.iter().all(|(_, n)| *n > 0), "{per_primary:?}");
    assert_eq!(per_primary.iter().map(|(_, n)| n).sum::<usize>(), 30);
    assert!(
        per_primary.iter().all(|(_, n)| *n < 30),
        "a SCAN of one node alone would miss keys"
    );

    let flusher = CounterFlusher::new(views.clone(), db.pool().clone(), target());
    let mut dirty = flusher.dirty_ids().await.unwrap();
    dirty.sort_by_key(|id| id.parse::<i64>().unwrap());
    assert_eq!(dirty, (1..=30).map(|i| i.to_string()).collect::<Vec<_>>());
    let report = flusher.flush().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!((report.flushed, report.total_delta), (30, 465));
    let total: i64 = sqlx::query_scalar("SELECT sum(view_count)::BIGINT FROM articles")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(total, 465, "every primary's deltas reached PostgreSQL");
    assert!(flusher.dirty_ids().await.unwrap().is_empty());
    assert_eq!(views.get("30").await.unwrap(), 30);
}

on_each_deployment!(#[tokio::test] fn a_flush_that_requires_a_replica_waits_for_it_or_keeps_the_delta);
/// `with_replicas(1, ..)`: on the cluster every primary has a replica that acknowledges the
/// move; the single node has none, so the flush refuses and keeps the delta in flight, and a
/// flusher without the requirement later applies it exactly once.
async fn a_flush_that_requires_a_replica_waits_for_it_or_keeps_the_delta<C: TestConn>(
    redis: Backend<C>,
) {
    let db = TestDatabase::new().await;
    articles(&db).await;
    let views = Counter::new(redis.connection(), keys(&redis), "article", "views")
        .unwrap()
        .with_pending();
    for (id, n) in [("1", 2), ("2", 3)] {
        views.incr_by(id, n).await.unwrap();
    }
    let strict = CounterFlusher::new(views.clone(), db.pool().clone(), target())
        .with_replicas(1, Duration::from_millis(300));
    let report = strict.flush().await.unwrap();
    if redis.is_cluster() {
        assert!(report.failed.is_empty(), "{report:?}");
        assert_eq!((report.flushed, report.total_delta), (2, 5));
    } else {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut redis.connection())
            .await
            .unwrap();
        assert!(info.contains("connected_slaves:0"), "{info}");
        assert_eq!(report.flushed, 0);
        assert_eq!(report.failed.len(), 2, "{report:?}");
        assert!(
            report
                .failed
                .iter()
                .all(|(_, e)| e.contains("of 1 required replicas")),
            "{report:?}"
        );
        assert_eq!(views_in_db(db.pool(), 1).await, 0, "nothing applied");
        assert_eq!(views.unflushed("2").await.unwrap(), 3, "the delta is kept");
        let relaxed = CounterFlusher::new(views.clone(), db.pool().clone(), target());
        let report = relaxed.flush().await.unwrap();
        assert_eq!((report.flushed, report.total_delta), (2, 5));
    }
    assert_eq!(views_in_db(db.pool(), 1).await, 2);
    assert_eq!(views_in_db(db.pool(), 2).await, 3);
    assert_eq!(views.unflushed("1").await.unwrap(), 0);
}

// Issue 17: after a flusher died between its COMMIT and its cleanup, `Counter::unflushed`
// still counts the in-flight delta PostgreSQL already has; `CounterFlusher::unflushed` does
// not, and the next flush closes the window.
on_each_deployment!(#[tokio::test] fn unflushed_after_a_flusher_died_between_commit_and_cleanup);
async fn unflushed_after_a_flusher_died_between_commit_and_cleanup<C: TestConn>(redis: Backend<C>) {
    let db = TestDatabase::new().await;
    articles(&db).await;
    let (views, flusher, inflight) = died_after_commit(&db, &redis).await;
    views.incr_by("1", 2).await.unwrap();

    let live = views.get("1").await.unwrap();
    let in_db = views_in_db(db.pool(), 1).await;
    let counter_says = views.unflushed("1").await.unwrap();
    let flusher_says = flusher.unflushed("1").await.unwrap();
    println!(
        "counter [{}]: died between commit and cleanup: live {live}, PostgreSQL {in_db}, \
         Counter::unflushed {counter_says}, CounterFlusher::unflushed {flusher_says}",
        redis.deployment()
    );
    assert_eq!((live, in_db), (7, 5));
    assert_eq!(
        counter_says, 7,
        "the documented over-count: 5 in PostgreSQL and in flight"
    );
    assert_eq!(
        in_db + flusher_says,
        live,
        "the ledger-checked figure is exact"
    );

    // An in-flight delta the ledger does not know is unflushed for both.
    let flush_id: String = redis::cmd("HGET")
        .arg(&inflight)
        .arg("flush_id")
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    let stranger = uuid::Uuid::new_v4().to_string();
    let () = redis::cmd("HSET")
        .arg(&inflight)
        .arg("flush_id")
        .arg(&stranger)
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    assert_eq!(flusher.unflushed("1").await.unwrap(), 7);
    let () = redis::cmd("HSET")
        .arg(&inflight)
        .arg("flush_id")
        .arg(&flush_id)
        .query_async(&mut redis.connection())
        .await
        .unwrap();

    // The next flush drops the applied delta and writes the new one: both figures agree.
    let report = flusher.flush().await.unwrap();
    assert_eq!(
        (report.already_applied, report.flushed),
        (1, 0),
        "{report:?}"
    );
    let report = flusher.flush().await.unwrap();
    assert_eq!((report.flushed, report.total_delta), (1, 2), "{report:?}");
    assert_eq!(views_in_db(db.pool(), 1).await, 7);
    assert_eq!(views.unflushed("1").await.unwrap(), 0);
    assert_eq!(flusher.unflushed("1").await.unwrap(), 0);
    // With nothing in flight it needs no ledger; with a flush in flight and no ledger it is a
    // typed database error, not a guess.
    sqlx::query("DROP TABLE dbpat_counter_flushes")
        .execute(db.pool())
        .await
        .unwrap();
    views.incr("1").await.unwrap();
    assert_eq!(flusher.unflushed("1").await.unwrap(), 1);
    let () = redis::cmd("HSET")
        .arg(&inflight)
        .arg("flush_id")
        .arg(&stranger)
        .arg("delta")
        .arg(3)
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    let err = flusher.unflushed("1").await.unwrap_err();
    assert_eq!(err.sqlstate().as_deref(), Some("42P01"), "{err}");
    assert_eq!(views.unflushed("1").await.unwrap(), 4);
}
