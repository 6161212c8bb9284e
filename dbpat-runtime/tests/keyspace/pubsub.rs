//! Typed Pub/Sub notifications, against the real Redis.

use crate::support::{client, keys};
use dbpat_runtime::keyspace::{Channel, KeyspaceError};
use dbpat_runtime::testing::TestRedis;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::timeout;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Notification {
    OrderShipped { order_id: i64 },
    Message { from: String, text: String },
}

#[tokio::test]
async fn typed_messages_reach_subscribers_in_order() {
    let redis = TestRedis::new().await;
    let mut conn = redis.connection();
    let ch: Channel<Notification> =
        Channel::new(keys(&redis).key("user", "123", "notifications").unwrap());
    let other: Channel<Notification> =
        Channel::new(keys(&redis).key("user", "456", "notifications").unwrap());
    let mut sub = ch.subscribe(&client()).await.unwrap();
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

#[tokio::test]
async fn every_subscriber_gets_every_message() {
    let redis = TestRedis::new().await;
    let ch: Channel<Notification> = Channel::new(keys(&redis).name("broadcast").unwrap());
    let mut a = ch.subscribe(&client()).await.unwrap();
    let mut b = ch.subscribe(&client()).await.unwrap();
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
