//! Unique sets (`online_users`) with TTL, against the real Redis.

use crate::support::{exists, keys};
use crate::support::{Backend, TestConn};
use dbpat_runtime::keyspace::UniqueSet;
use std::time::Duration;

on_each_deployment!(#[tokio::test] fn add_contains_len_remove_with_the_default_ttl);
async fn add_contains_len_remove_with_the_default_ttl<C: TestConn>(redis: Backend<C>) {
    let online = UniqueSet::new(redis.connection(), &keys(&redis), "online_users").unwrap();
    assert_eq!(online.key(), format!("{}online_users", redis.prefix()));
    assert_eq!(online.ttl().await.unwrap(), None);
    assert!(online.add("u1").await.unwrap());
    assert!(!online.add("u1").await.unwrap(), "second add is a no-op");
    assert!(online.add("u2").await.unwrap());
    assert!(online.contains("u1").await.unwrap());
    assert!(!online.contains("u3").await.unwrap());
    assert_eq!(online.len().await.unwrap(), 2);
    let ttl = online.ttl().await.unwrap().unwrap();
    assert!(ttl > Duration::from_secs(86_000) && ttl <= Duration::from_secs(86_400));
    assert!(online.remove("u1").await.unwrap());
    assert!(!online.remove("u1").await.unwrap());
    assert_eq!(online.members(10).await.unwrap(), vec!["u2"]);
    assert!(online.members(0).await.is_err());
}

on_each_deployment!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] fn concurrent_adds_count_each_member_once_and_ttl_expires_the_set);
async fn concurrent_adds_count_each_member_once_and_ttl_expires_the_set<C: TestConn>(
    redis: Backend<C>,
) {
    let mut tasks = Vec::new();
    for t in 0..8 {
        let s =
            UniqueSet::new(redis.own_connection().await, &keys(&redis), "online_users").unwrap();
        tasks.push(tokio::spawn(async move {
            let mut added = 0;
            for i in 0..100 {
                // Every task adds the same 100 members, in a different order.
                if s.add(&format!("user-{}", (i * 7 + t * 13) % 100))
                    .await
                    .unwrap()
                {
                    added += 1;
                }
            }
            added
        }));
    }
    let mut newly_added = 0;
    for t in tasks {
        newly_added += t.await.unwrap();
    }
    let online = UniqueSet::new(redis.connection(), &keys(&redis), "online_users").unwrap();
    assert_eq!(
        newly_added, 100,
        "exactly one SADD per member reported it as new"
    );
    assert_eq!(online.len().await.unwrap(), 100);
    assert_eq!(online.members(1000).await.unwrap().len(), 100);
    assert_eq!(online.members(30).await.unwrap().len(), 30);

    let short = UniqueSet::new(redis.connection(), &keys(&redis), "flash")
        .unwrap()
        .with_ttl(Duration::from_millis(100));
    short.add("x").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!short.contains("x").await.unwrap());
    assert!(!exists(&mut redis.connection(), short.key()).await);
}
