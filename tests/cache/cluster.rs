//! What only a Redis Cluster has: ids of many slots in one `find_many`, a `SCAN` sweep that
//! must visit every primary, keys tagged whatever the policy says, and the configuration
//! errors of `Cache::connect_cluster`.

use crate::support::cache as cache_common;

use cache_common::*;
use dbpat::cache::{redis, AttributeSweep, Cache, CacheConfig};

#[tokio::test]
async fn find_many_across_slots_reads_every_slot_group() {
    let keys = TestKeys::new(On::Cluster).await;
    let db = database(300).await;
    let items = items_on(On::Cluster, keys.prefix(), db.pool(), POLICY).await;
    assert!(items.policy().hash_tag, "keys are tagged on a cluster");
    let mut rc = raw_on(On::Cluster).await;
    // The ids' keys cover many slots and all three primaries.
    let ids: Vec<i64> = (1..=300).collect();
    let mut slots = std::collections::HashSet::new();
    for id in &ids {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(items.key(id))
            .query_async(&mut rc)
            .await
            .unwrap();
        slots.insert(slot);
    }
    assert!(slots.len() > 250, "{} slots", slots.len());
    for id in [5, 50, 150] {
        items.find(&id).await.unwrap();
    }
    let before = items.metrics();
    let mut asked = ids.clone();
    asked.push(9999);
    asked.push(7);
    let got = items.find_many(&asked).await.unwrap();
    assert_eq!(got.len(), asked.len());
    for (id, row) in asked.iter().zip(&got) {
        match row {
            Some(row) => assert_eq!((row.id, row.name.clone()), (*id, format!("item-{id}"))),
            None => assert_eq!(*id, 9999),
        }
    }
    let m = items.metrics();
    assert_eq!(m.hits - before.hits, 3, "{m:?}");
    assert_eq!(
        m.fills - before.fills,
        298,
        "297 rows and the negative 9999: {m:?}"
    );
    assert_eq!(m.redis_errors, 0, "no CROSSSLOT: {m:?}");
    assert_eq!(items.source().batch_loads(), 1, "one query for every miss");
    // Everything is cached now, on every primary.
    let again = items.find_many(&asked).await.unwrap();
    assert_eq!(again, got);
    assert_eq!(items.source().batch_loads(), 1);
    let mut per_primary = Vec::new();
    for url in primaries(On::Cluster).await {
        let mut conn = raw(&url).await;
        let (_, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(format!("{}item:*", keys.prefix()))
            .arg("COUNT")
            .arg(100_000)
            .query_async(&mut conn)
            .await
            .unwrap();
        per_primary.push(found.len());
    }
    assert_eq!(per_primary.len(), 3, "{per_primary:?}");
    assert!(per_primary.iter().all(|&n| n > 30), "{per_primary:?}");
    assert_eq!(per_primary.iter().sum::<usize>(), 301);
    keys.cleanup().await;
}

#[tokio::test]
async fn the_scan_sweep_visits_every_primary() {
    let keys = TestKeys::new(On::Cluster).await;
    let db = database(40).await;
    let mut config = config(keys.prefix());
    config.attribute_sweep = AttributeSweep::Scan;
    let items = handle_on(On::Cluster, config)
        .await
        .with_source(POLICY, PgItems::new(db.pool()))
        .unwrap();
    let mut rc = raw_on(On::Cluster).await;
    // Attribute keys written by other code, for ids whose slots are on every primary.
    let mut nodes_seen = std::collections::HashSet::new();
    for id in 1..=40i64 {
        let key = items.attribute_key(&id, "by-someone-else");
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg("x")
            .arg("EX")
            .arg(60)
            .query_async(&mut rc)
            .await
            .unwrap();
        nodes_seen.insert(owner_of(&key).await);
    }
    assert_eq!(nodes_seen.len(), 3, "the ids cover every primary");
    let pool = db.pool().clone();
    for id in 1..=40i64 {
        items.find(&id).await.unwrap();
        let pool = pool.clone();
        items
            .delete_with(&id, move || async move {
                sqlx::query("DELETE FROM items WHERE id = $1")
                    .bind(id)
                    .execute(&pool)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(dbpat::Error::from)
            })
            .await
            .unwrap();
        let key = items.attribute_key(&id, "by-someone-else");
        assert!(raw_get(&mut rc, &key).await.is_none(), "{key} swept");
    }
    assert_eq!(items.metrics().redis_errors, 0);
    keys.cleanup().await;
}

/// The primary that holds `key` (its URL).
async fn owner_of(key: &str) -> String {
    for url in primaries(On::Cluster).await {
        let mut conn = raw(&url).await;
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let n: i64 = redis::cmd("CLUSTER")
            .arg("COUNTKEYSINSLOT")
            .arg(slot)
            .query_async(&mut conn)
            .await
            .unwrap();
        let mine: redis::RedisResult<Vec<String>> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(n.max(1))
            .query_async(&mut conn)
            .await;
        if mine.is_ok_and(|keys| keys.iter().any(|k| k == key)) {
            return url;
        }
    }
    panic!("no primary holds {key}");
}

#[tokio::test]
async fn a_bad_cluster_configuration_is_a_typed_error() {
    let err = Cache::connect_cluster(Vec::<String>::new(), CacheConfig::new("app:"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, dbpat::Error::InvalidCacheConfig { .. }),
        "{err:?}"
    );
    let err = Cache::connect_cluster(["not a url"], CacheConfig::new("app:"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, dbpat::Error::InvalidCacheConfig { .. }),
        "{err:?}"
    );
    let urls = cluster_urls();
    let err = Cache::connect_cluster(urls.iter().map(String::as_str), CacheConfig::new("{app}:"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("hash tag"), "{err}");
}
