//! Typed Pub/Sub notifications, against the real Redis.

use crate::support::{keys, Backend, TestConn};
use dbpat_runtime::keyspace::{hash_slot, Channel, KeyspaceError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::timeout;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Notification {
    OrderShipped { order_id: i64 },
    Message { from: String, text: String },
}

on_each_deployment!(#[tokio::test] fn typed_messages_reach_subscribers_in_order);
async fn typed_messages_reach_subscribers_in_order<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let ch: Channel<Notification> =
        Channel::new(keys(&redis).key("user", "123", "notifications").unwrap());
    let other: Channel<Notification> =
        Channel::new(keys(&redis).key("user", "456", "notifications").unwrap());
    let mut sub = redis.subscribe(&ch).await;
    let sent = vec![
        Notification::OrderShipped { order_id: 9 },
        Notification::Message {
            from: "ann".into(),
            text: "hi ✓".into(),
        },
        Notification::OrderShipped { order_id: 10 },
    ];
    for n in &sent {
        assert_eq!(ch.publish(&mut conn, n).await.unwrap(), 1, "one subscriber");
    }
    assert_eq!(
        other.publish(&mut conn, &sent[0]).await.unwrap(),
        0,
        "nobody listens on user 456"
    );
    for expected in &sent {
        let got = timeout(Duration::from_secs(2), sub.next())
            .await
            .expect("delivered");
        assert_eq!(&got.unwrap().unwrap(), expected);
    }

    // A payload that is not a Notification: a typed error, and the subscription goes on.
    let _: u64 = redis::cmd("PUBLISH")
        .arg(ch.name())
        .arg("{\"type\":\"Unknown\"}")
        .query_async(&mut conn)
        .await
        .unwrap();
    ch.publish(&mut conn, &sent[0]).await.unwrap();
    let bad = timeout(Duration::from_secs(2), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(bad, Err(KeyspaceError::Codec(_))));
    let good = timeout(Duration::from_secs(2), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(good.unwrap(), sent[0]);

    // Nothing else was delivered (the other channel's message in particular).
    assert!(timeout(Duration::from_millis(100), sub.next())
        .await
        .is_err());
    drop(sub);
    // After the subscriber is gone, publishing reaches nobody (fire-and-forget).
    let mut receivers = 1;
    for _ in 0..50 {
        receivers = ch.publish(&mut conn, &sent[0]).await.unwrap();
        if receivers == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(receivers, 0);
}

on_each_deployment!(#[tokio::test] fn every_subscriber_gets_every_message);
async fn every_subscriber_gets_every_message<C: TestConn>(redis: Backend<C>) {
    let ch: Channel<Notification> = Channel::new(keys(&redis).name("broadcast").unwrap());
    let mut a = redis.subscribe(&ch).await;
    let mut b = redis.subscribe(&ch).await;
    let n = Notification::OrderShipped { order_id: 1 };
    assert_eq!(ch.publish(&mut redis.connection(), &n).await.unwrap(), 2);
    for sub in [&mut a, &mut b] {
        let got = timeout(Duration::from_secs(2), sub.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.unwrap(), n);
    }
}

/// Which primary serves `channel`'s slot, and how many shard subscribers each primary counts
/// for it (`PUBSUB SHARDNUMSUB` on each node).
async fn shard_subscribers<C: TestConn>(redis: &Backend<C>, channel: &str) -> Vec<(bool, i64)> {
    let mut conn = redis.connection();
    let slot = hash_slot(channel);
    let mut out = Vec::new();
    for p in redis.primaries().await {
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg("SHARDNUMSUB").arg(channel);
        let reply = conn.query_on(Some(&p), &cmd).await.unwrap();
        let (_, n): (String, i64) = redis::from_redis_value(reply).unwrap();
        out.push((p.owns(slot), n));
    }
    out
}

on_each_deployment!(#[tokio::test] fn sharded_channel_round_trip);
async fn sharded_channel_round_trip<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let name = keys(&redis).key("user", "123", "notifications").unwrap();
    let ch: Channel<Notification> = Channel::sharded(name.clone());
    assert!(ch.is_sharded());
    let mut sub = redis.subscribe(&ch).await;
    let sent = [
        Notification::OrderShipped { order_id: 1 },
        Notification::Message {
            from: "bo".into(),
            text: "sharded".into(),
        },
    ];
    for n in &sent {
        assert_eq!(ch.publish(&mut conn, n).await.unwrap(), 1, "one subscriber");
    }
    for expected in &sent {
        let got = timeout(Duration::from_secs(2), sub.next())
            .await
            .expect("delivered");
        assert_eq!(&got.unwrap().unwrap(), expected);
    }
    // A classic channel of the same name is another channel: nothing crosses over.
    let classic: Channel<Notification> = Channel::new(name.clone());
    let crossed = classic.publish(&mut conn, &sent[0]).await.unwrap();
    if redis.is_cluster() {
        assert_eq!(crossed, 0, "PUBLISH does not reach SSUBSCRIBE subscribers");
        assert!(timeout(Duration::from_millis(200), sub.next())
            .await
            .is_err());
        // The subscription lives on the shard that owns the channel's slot, nowhere else.
        let counts = shard_subscribers(&redis, &name).await;
        println!("sharded subscribers per primary (owner, count): {counts:?}");
        assert_eq!(counts.len(), 3, "three primaries");
        for (owner, n) in counts {
            assert_eq!(
                n,
                i64::from(owner),
                "only the owning shard has the subscriber"
            );
        }
    } else {
        // One node is one shard: a sharded channel is plain Pub/Sub there.
        assert_eq!(crossed, 1);
        let got = timeout(Duration::from_secs(2), sub.next()).await.unwrap();
        assert_eq!(got.unwrap().unwrap(), sent[0]);
    }
    drop(sub);
    let mut receivers = 1;
    for _ in 0..50 {
        receivers = ch.publish(&mut conn, &sent[0]).await.unwrap();
        if receivers == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receivers, 0, "dropping the subscription unsubscribes");
}

on_each_deployment!(#[tokio::test] fn sharded_channels_of_many_entities_reach_their_own_subscribers);
/// Per-entity channels spread over the shards; each subscriber gets its entity's messages only.
async fn sharded_channels_of_many_entities_reach_their_own_subscribers<C: TestConn>(
    redis: Backend<C>,
) {
    let k = keys(&redis);
    let mut conn = redis.connection();
    let ids: Vec<String> = (0..6).map(|i| i.to_string()).collect();
    let mut subs = Vec::new();
    for id in &ids {
        let ch: Channel<Notification> =
            Channel::sharded(k.key("user", id, "notifications").unwrap());
        let sub = redis.subscribe(&ch).await;
        subs.push((ch, sub));
    }
    if redis.is_cluster() {
        let primaries = redis.primaries().await;
        let used: std::collections::BTreeSet<String> = subs
            .iter()
            .map(|(ch, _)| {
                let slot = hash_slot(ch.name());
                primaries.iter().find(|p| p.owns(slot)).unwrap().address()
            })
            .collect();
        assert!(used.len() >= 2, "the channels span shards: {used:?}");
    }
    for (i, (ch, _)) in subs.iter().enumerate() {
        let n = Notification::OrderShipped { order_id: i as i64 };
        assert_eq!(ch.publish(&mut conn, &n).await.unwrap(), 1);
    }
    for (i, (_, sub)) in subs.iter_mut().enumerate() {
        let got = timeout(Duration::from_secs(2), sub.next()).await.unwrap();
        assert_eq!(
            got.unwrap().unwrap(),
            Notification::OrderShipped { order_id: i as i64 }
        );
        assert!(timeout(Duration::from_millis(50), sub.next())
            .await
            .is_err());
    }
}
