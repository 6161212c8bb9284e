//! Upserts and writes by filter through the cached handle (real Redis and PostgreSQL): after
//! the write returns, a read through the cache sees the new row — never the cached old one,
//! including under concurrent readers — negative entries of new ids are gone, versions are
//! bumped, and a write whose registration Redis cannot confirm writes nothing.

use crate::support::query as query_common;
use crate::support::shop as models;

use dbpat::cache::{Cache, CacheConfig};
use dbpat::testing::TestRedis;
use dbpat::{Error, Table};
use models::{Product, User};
use query_common::*;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

async fn cache_for(redis: &TestRedis) -> Cache {
    let client = dbpat::cache::redis::Client::open(dbpat::testing::redis_url()).unwrap();
    let mut config = CacheConfig::new(redis.prefix());
    config.restart_grace = Duration::ZERO;
    Cache::connect(client, config).await
}

async fn cached_value(redis: &TestRedis, key: &str) -> Option<String> {
    let mut conn = redis.connection();
    dbpat::cache::redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn cached_upserts_never_leave_the_old_row_or_a_negative_entry() {
    let db = shop_db().await;
    let pool = db.pool();
    let redis = TestRedis::new().await;
    let cache = cache_for(&redis).await;
    let users = cache.entity::<User>();

    let ann = users.insert(pool, &user("ann@example.com")).await.unwrap();
    assert_eq!(users.get(pool, &ann.id).await.unwrap().name, ann.name);
    let key = format!("{}user:{}", redis.prefix(), ann.id);
    assert!(cached_value(&redis, &key).await.is_some(), "filled");

    // By a unique field: the id is only known from RETURNING.
    let mut again = user("ann@example.com");
    again.name = "Ann Again".into();
    let stored = users
        .upsert(pool, &again)
        .on(User::EMAIL_KEY)
        .do_update(User::NAME)
        .await
        .unwrap();
    assert_eq!(stored.id, ann.id);
    assert_eq!(cached_value(&redis, &key).await, None, "invalidated");
    assert_eq!(users.get(pool, &ann.id).await.unwrap().name, "Ann Again");

    // DO NOTHING on the existing email changes nothing and returns None.
    assert!(users
        .upsert(pool, &again)
        .on(User::EMAIL_KEY)
        .do_nothing()
        .await
        .unwrap()
        .is_none());

    // A new id that was read before (a negative entry): the upsert inserts it and the next
    // cached read finds it.
    let mut bob = user("bob@example.com");
    bob.id = Uuid::new_v4();
    assert!(users.find(pool, &bob.id).await.unwrap().is_none());
    let negative_hits = users.metrics().negative_hits;
    assert!(users.find(pool, &bob.id).await.unwrap().is_none());
    assert_eq!(
        users.metrics().negative_hits,
        negative_hits + 1,
        "cached negatively"
    );
    let rows = users
        .upsert_many(pool, std::slice::from_ref(&bob))
        .on(User::PKEY)
        .do_nothing()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        users.find(pool, &bob.id).await.unwrap().map(|u| u.email),
        Some("bob@example.com".to_owned()),
        "the negative entry is gone"
    );
    redis.cleanup().await;
}

#[tokio::test]
async fn cached_versioned_upsert_many_bumps_and_is_read_back() {
    let db = shop_db().await;
    let pool = db.pool();
    let redis = TestRedis::new().await;
    let cache = cache_for(&redis).await;
    let products = cache.entity::<Product>();
    let seeded = Product::insert_many(
        pool,
        &(0..20)
            .map(|i| product(&format!("p{i}"), "home", 100 + i, json!({})))
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let ids: Vec<Uuid> = seeded.iter().map(|p| p.id).collect();
    assert!(products
        .find_many(pool, &ids)
        .await
        .unwrap()
        .iter()
        .all(|p| p.as_ref().unwrap().version == 1));

    let changed: Vec<Product> = seeded
        .iter()
        .map(|p| Product {
            stock: 99,
            ..p.clone()
        })
        .collect();
    let stored = products
        .upsert_many(pool, &changed)
        .on(Product::PKEY)
        .do_update(Product::STOCK)
        .await
        .unwrap();
    assert!(stored.iter().all(|p| p.version == 2 && p.stock == 99));
    let read = products.find_many(pool, &ids).await.unwrap();
    assert!(
        read.iter().all(|p| {
            let p = p.as_ref().unwrap();
            p.version == 2 && p.stock == 99
        }),
        "no stale cached row"
    );
    // The same for a one-row upsert.
    let one = products
        .upsert(pool, &changed[0])
        .on(Product::PKEY)
        .do_update_all()
        .await
        .unwrap();
    assert_eq!(one.version, 3);
    assert_eq!(products.get(pool, &ids[0]).await.unwrap().version, 3);
    redis.cleanup().await;
}

#[tokio::test]
async fn cached_update_and_delete_by_filter_invalidate_every_touched_row() {
    let db = shop_db().await;
    let pool = db.pool();
    let redis = TestRedis::new().await;
    let cache = cache_for(&redis).await;
    let members = cache.entity::<Membership>();
    let (team, other) = (Uuid::new_v4(), Uuid::new_v4());
    let rows: Vec<Membership> = (0..30)
        .map(|i| {
            membership(
                if i < 20 { team } else { other },
                Uuid::new_v4(),
                "member",
                i,
            )
        })
        .collect();
    let seeded = Membership::insert_many(pool, &rows).await.unwrap();
    let ids: Vec<Uuid> = seeded.iter().map(|m| m.id).collect();
    members.find_many(pool, &ids).await.unwrap(); // every row cached

    let n = members
        .filter(Membership::TEAM_ID.eq(team))
        .update()
        .add(Membership::SCORE, 1000)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(n, 20);
    let read = members.find_many(pool, &ids).await.unwrap();
    for (m, seeded) in read.iter().zip(&seeded) {
        let m = m.as_ref().unwrap();
        if seeded.team_id == team {
            assert_eq!(
                (m.score, m.version),
                (seeded.score + 1000, 2),
                "no stale row"
            );
        } else {
            assert_eq!((m.score, m.version), (seeded.score, 1), "untouched");
        }
    }
    let rows = members
        .filter(Membership::SCORE.ge(1010))
        .update()
        .set(Membership::ROLE, "lead")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(members.get(pool, &rows[0].id).await.unwrap().role, "lead");

    let deleted = members
        .filter(Membership::TEAM_ID.eq(other))
        .delete(pool)
        .await
        .unwrap();
    assert_eq!(deleted, 10);
    let read = members.find_many(pool, &ids[20..]).await.unwrap();
    assert!(
        read.iter().all(Option::is_none),
        "deleted rows are gone from the cache"
    );
    // Reads through the cached select go to PostgreSQL.
    assert_eq!(
        members
            .filter(Membership::ROLE.eq("lead"))
            .count(pool)
            .await
            .unwrap(),
        10
    );
    redis.cleanup().await;
}

/// Readers loop over the cache while a writer runs filtered updates and upserts through the
/// handle: a read that starts after a write returned never sees a smaller score.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_readers_never_see_a_row_older_than_the_last_committed_write() {
    let db = shop_db().await;
    let pool = db.pool().clone();
    let redis = TestRedis::new().await;
    let cache = cache_for(&redis).await;
    let members = cache.entity::<Membership>();
    let team = Uuid::new_v4();
    let rows: Vec<Membership> = (0..5)
        .map(|_| membership(team, Uuid::new_v4(), "member", 0))
        .collect();
    let seeded = Membership::insert_many(&pool, &rows).await.unwrap();
    let ids: Vec<Uuid> = seeded.iter().map(|m| m.id).collect();

    let committed = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (reads, stale) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut readers = Vec::new();
    for r in 0..6 {
        let (members, pool, ids) = (members.clone(), pool.clone(), ids.clone());
        let (committed, done) = (committed.clone(), done.clone());
        let (reads, stale) = (reads.clone(), stale.clone());
        readers.push(tokio::spawn(async move {
            let mut i = r;
            while !done.load(Ordering::SeqCst) {
                let floor = committed.load(Ordering::SeqCst);
                let id = ids[i % ids.len()];
                i += 1;
                let m = members.get(&pool, &id).await.unwrap();
                reads.fetch_add(1, Ordering::Relaxed);
                if m.score < floor {
                    stale.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // The writer runs in its own task: the cached writes' futures are `Send`.
    let writer = {
        let (members, pool, seeded, committed) = (
            members.clone(),
            pool.clone(),
            seeded.clone(),
            committed.clone(),
        );
        tokio::spawn(async move {
            for k in 1..=40_i64 {
                if k % 2 == 0 {
                    let n = members
                        .filter(Membership::TEAM_ID.eq(team))
                        .update()
                        .set(Membership::SCORE, k)
                        .execute(&pool)
                        .await
                        .unwrap();
                    assert_eq!(n, 5);
                } else {
                    let batch: Vec<Membership> = seeded
                        .iter()
                        .map(|m| membership(m.team_id, m.user_id, "member", k))
                        .collect();
                    members
                        .upsert_many(&pool, &batch)
                        .on(Membership::TEAM_ID_USER_ID_KEY)
                        .do_update(Membership::SCORE)
                        .await
                        .unwrap();
                }
                committed.store(k, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    writer.await.unwrap();
    done.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }
    let reads = reads.load(Ordering::Relaxed);
    eprintln!(
        "concurrent readers: {reads} reads, {} stale",
        stale.load(Ordering::Relaxed)
    );
    assert!(reads > 100, "the readers ran ({reads} reads)");
    assert_eq!(stale.load(Ordering::Relaxed), 0, "no stale read");
    assert!(
        members.metrics().hits > 0,
        "reads were served from Redis too"
    );
    let last = members.get(&pool, &ids[0]).await.unwrap();
    assert_eq!((last.score, last.version), (40, 41));
    // The table's own upsert and update by filter are `Send` as well.
    let direct = {
        let (pool, row) = (pool.clone(), seeded[0].clone());
        tokio::spawn(async move {
            let m = Membership::upsert(&pool, &row)
                .on(Membership::TEAM_ID_USER_ID_KEY)
                .do_update(Membership::SCORE)
                .await
                .unwrap();
            let n = Membership::filter(Membership::ID.eq(m.id))
                .update()
                .add(Membership::SCORE, 1)
                .execute(&pool)
                .await
                .unwrap();
            (m.score, n)
        })
    };
    assert_eq!(direct.await.unwrap(), (0, 1));
    redis.cleanup().await;
}

#[tokio::test]
async fn a_strict_write_redis_cannot_register_writes_nothing() {
    let db = shop_db().await;
    let pool = db.pool();
    // Nothing listens on port 1: every registration fails.
    let client = dbpat::cache::redis::Client::open("redis://127.0.0.1:1/").unwrap();
    let mut config = CacheConfig::new("dbpat-test-unreachable:");
    config.connect_timeout = Duration::from_millis(100);
    let cache = Cache::connect(client, config).await;
    let members = cache.entity::<Membership>();
    let m = Membership::insert(
        pool,
        &membership(Uuid::new_v4(), Uuid::new_v4(), "member", 1),
    )
    .await
    .unwrap();

    let mut changed = m.clone();
    changed.role = "admin".into();
    let upsert = members
        .upsert(pool, &changed)
        .on(Membership::TEAM_ID_USER_ID_KEY)
        .do_update(Membership::ROLE)
        .await;
    assert!(
        matches!(upsert, Err(Error::CacheUnavailable { .. })),
        "{upsert:?}"
    );
    let update = members
        .filter(Membership::ID.eq(m.id))
        .update()
        .set(Membership::ROLE, "admin")
        .execute(pool)
        .await;
    assert!(
        matches!(update, Err(Error::CacheUnavailable { .. })),
        "{update:?}"
    );
    let delete = members.filter(Membership::ID.eq(m.id)).delete(pool).await;
    assert!(
        matches!(delete, Err(Error::CacheUnavailable { .. })),
        "{delete:?}"
    );
    let now = Membership::get(pool, &m.id).await.unwrap();
    assert_eq!(
        (now.role.as_str(), now.version),
        ("member", 1),
        "rolled back"
    );
}
