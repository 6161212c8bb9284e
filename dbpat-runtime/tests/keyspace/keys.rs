//! Key builder + SCAN listing against the real Redis.

use crate::support::keys;
use crate::support::{Backend, TestConn};
use dbpat_runtime::keyspace::{hash_slot, scan_keys, ScanOptions};

async fn set<C: redis::aio::ConnectionLike + Send>(conn: &mut C, key: &str) {
    let () = redis::cmd("SET")
        .arg(key)
        .arg(1)
        .query_async(conn)
        .await
        .unwrap();
}

on_each_deployment!(#[tokio::test] fn scan_lists_exactly_the_matching_keys_under_the_prefix);
async fn scan_lists_exactly_the_matching_keys_under_the_prefix<C: TestConn>(redis: Backend<C>) {
    let other = redis.another().await;
    let mut conn = redis.connection();
    let k = keys(&redis);
    for id in 0..250 {
        set(
            &mut conn,
            &k.key("user", &id.to_string(), "profile").unwrap(),
        )
        .await;
        set(
            &mut conn,
            &k.key("user", &id.to_string(), "settings").unwrap(),
        )
        .await;
    }
    set(&mut conn, &k.key("order", "456", "items").unwrap()).await;
    // Same shape under another prefix: must not be listed.
    set(
        &mut conn,
        &keys(&other).key("user", "1", "profile").unwrap(),
    )
    .await;

    let pattern = k.pattern("user", None, Some("profile")).unwrap();
    let small_batches = ScanOptions {
        count: 10,
        limit: 10_000,
    };
    let found = scan_keys(&mut conn, &pattern, small_batches).await.unwrap();
    assert_eq!(found.len(), 250);
    if redis.is_cluster() {
        // The listing really gathered the keys of every primary.
        let primaries = redis.primaries().await;
        let owners: std::collections::BTreeSet<String> = found
            .iter()
            .map(|key| {
                let slot = hash_slot(key);
                primaries.iter().find(|p| p.owns(slot)).unwrap().address()
            })
            .collect();
        assert_eq!(owners.len(), 3, "keys of all three primaries: {owners:?}");
    }
    assert!(found
        .iter()
        .all(|key| key.starts_with(redis.prefix()) && key.ends_with(":profile")));

    let one_user = k.pattern("user", Some("7"), None).unwrap();
    let found = scan_keys(&mut conn, &one_user, ScanOptions::default())
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![
            k.key("user", "7", "profile").unwrap(),
            k.key("user", "7", "settings").unwrap()
        ]
    );

    let everything = scan_keys(&mut conn, &k.pattern_all(), ScanOptions::default())
        .await
        .unwrap();
    assert_eq!(everything.len(), 501);

    let bounded = ScanOptions {
        count: 50,
        limit: 30,
    };
    assert_eq!(
        scan_keys(&mut conn, &pattern, bounded).await.unwrap().len(),
        30
    );
    assert!(
        scan_keys(&mut conn, &pattern, ScanOptions { count: 0, limit: 1 })
            .await
            .is_err()
    );
}

on_each_deployment!(#[tokio::test] fn tagged_keys_are_listed_by_tagged_patterns_only);
async fn tagged_keys_are_listed_by_tagged_patterns_only<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let k = keys(&redis);
    set(&mut conn, &k.tagged_key("user", "1", "views").unwrap()).await;
    set(&mut conn, &k.tagged_key("user", "2", "views").unwrap()).await;
    set(&mut conn, &k.key("user", "3", "views").unwrap()).await;
    let tagged = k.tagged_pattern("user", None, Some("views")).unwrap();
    let found = scan_keys(&mut conn, &tagged, ScanOptions::default())
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|key| key.contains(":{")));
}
