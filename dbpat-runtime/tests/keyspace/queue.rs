//! Stream queues with consumer groups (at-least-once), against the real Redis.

use crate::support::keys;
use crate::support::{Backend, TestConn};
use dbpat_runtime::keyspace::{KeyspaceError, StreamQueue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Job {
    n: u32,
    email: String,
}

fn job(n: u32) -> Job {
    Job {
        n,
        email: format!("user{n}@example.com"),
    }
}

fn queue<C: TestConn>(conn: C, redis: &Backend<C>) -> StreamQueue<Job, C> {
    StreamQueue::new(conn, &keys(redis), "emails", "senders").unwrap()
}

on_each_deployment!(#[tokio::test] fn receive_in_order_and_ack);
async fn receive_in_order_and_ack<C: TestConn>(redis: Backend<C>) {
    let q = queue(redis.connection(), &redis);
    assert_eq!(
        q.stream_key(),
        format!("{}queue:{{emails}}:stream", redis.prefix())
    );
    q.ensure_group().await.unwrap();
    q.ensure_group().await.unwrap(); // idempotent
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(q.enqueue(&job(n)).await.unwrap());
    }
    let worker = q.consumer("w1").unwrap();
    let got = worker
        .receive(10, Some(Duration::from_millis(100)))
        .await
        .unwrap();
    assert_eq!(got.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(
        got.iter().map(|d| d.message.n).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(
        q.pending_count().await.unwrap(),
        3,
        "delivered, not yet acknowledged"
    );
    for d in &got {
        assert!(worker.ack(d).await.unwrap());
    }
    assert!(!worker.ack(&got[0]).await.unwrap(), "double ack is a no-op");
    assert_eq!(q.pending_count().await.unwrap(), 0);
    // Nothing new: a non-blocking read returns at once, a blocking one after its timeout.
    assert!(worker.receive(10, None).await.unwrap().is_empty());
    let started = Instant::now();
    assert!(worker
        .receive(10, Some(Duration::from_millis(100)))
        .await
        .unwrap()
        .is_empty());
    assert!(started.elapsed() >= Duration::from_millis(90));
    assert!(matches!(
        worker.receive(0, None).await,
        Err(KeyspaceError::InvalidArgument(_))
    ));
}

on_each_deployment!(#[tokio::test] fn a_consumer_that_dies_without_ack_has_its_message_redelivered);
async fn a_consumer_that_dies_without_ack_has_its_message_redelivered<C: TestConn>(
    redis: Backend<C>,
) {
    let q = queue(redis.connection(), &redis);
    q.ensure_group().await.unwrap();
    let id = q.enqueue(&job(7)).await.unwrap();

    // Worker A, on its own connection, takes the message and dies before acknowledging.
    let (took, took_rx) = tokio::sync::oneshot::channel();
    let a_queue = queue(redis.own_connection().await, &redis);
    let doomed = tokio::spawn(async move {
        let a = a_queue.consumer("worker-a").unwrap();
        let got = a
            .receive(1, Some(Duration::from_millis(200)))
            .await
            .unwrap();
        took.send(got[0].id.clone()).unwrap();
        std::future::pending::<()>().await; // "processing" forever
    });
    assert_eq!(took_rx.await.unwrap(), id);
    doomed.abort();
    assert!(doomed.await.unwrap_err().is_cancelled());

    let b = q.consumer("worker-b").unwrap();
    // Not new any more: a plain read does not see it.
    assert!(b.receive(10, None).await.unwrap().is_empty());
    // Before the visibility timeout it is not claimable.
    let timeout = Duration::from_millis(200);
    assert!(b.claim_stale(timeout, 10).await.unwrap().is_empty());
    tokio::time::sleep(timeout + Duration::from_millis(20)).await;
    let claimed = b.claim_stale(timeout, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "re-delivered after the timeout");
    assert_eq!(claimed[0].id, id);
    assert_eq!(claimed[0].message, job(7));
    let deliveries = q.delivery_count(&id).await.unwrap();
    println!(
        "queue [{}]: consumer died without ack; claimed by another after {timeout:?}, deliveries {deliveries}",
        redis.deployment()
    );
    assert_eq!(deliveries, 2);
    assert!(b.ack(&claimed[0]).await.unwrap());
    assert_eq!(q.pending_count().await.unwrap(), 0);
    assert!(b.claim_stale(Duration::ZERO, 10).await.unwrap().is_empty());
}

on_each_deployment!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] fn two_consumers_share_the_work_and_poison_messages_are_dead_lettered);
async fn two_consumers_share_the_work_and_poison_messages_are_dead_lettered<C: TestConn>(
    redis: Backend<C>,
) {
    let q = queue(redis.connection(), &redis);
    q.ensure_group().await.unwrap();
    for n in 0..200 {
        q.enqueue(&job(n)).await.unwrap();
        if n == 100 {
            let _: String = redis::cmd("XADD")
                .arg(q.stream_key())
                .arg("*")
                .arg("payload")
                .arg("{not json")
                .query_async(&mut redis.connection())
                .await
                .unwrap();
        }
    }
    let mut workers = Vec::new();
    for w in 0..2 {
        let wq = queue(redis.own_connection().await, &redis);
        workers.push(tokio::spawn(async move {
            let c = wq.consumer(&format!("w{w}")).unwrap();
            let mut seen = Vec::new();
            for _ in 0..1000 {
                let batch = c.receive(7, Some(Duration::from_millis(50))).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                for d in batch {
                    seen.push(d.message.n);
                    assert!(c.ack(&d).await.unwrap());
                }
            }
            seen
        }));
    }
    let mut all = Vec::new();
    let mut per_worker = Vec::new();
    for w in workers {
        let seen = w.await.unwrap();
        per_worker.push(seen.len());
        all.extend(seen);
    }
    let distinct: BTreeSet<u32> = all.iter().copied().collect();
    println!(
        "queue [{}]: 200 messages + 1 poison, 2 consumers, per-worker deliveries: {per_worker:?}, \
         distinct {}",
        redis.deployment(),
        distinct.len()
    );
    assert_eq!(
        all.len(),
        200,
        "each message delivered once in the normal path"
    );
    assert_eq!(distinct, (0..200).collect());
    assert_eq!(q.pending_count().await.unwrap(), 0);
    let dead: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(q.dead_letter_key())
        .arg("-")
        .arg("+")
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1[0], ("payload".to_owned(), "{not json".to_owned()));
}

/// The response timeout of the consumer connections of
/// [`a_receive_longer_than_the_response_timeout_waits_it_out`]: the redis crate's default for a
/// `ConnectionManager` or `MultiplexedConnection`.
const SHORT_TIMEOUT: Duration = Duration::from_millis(500);

// Issue 17: a blocking receive longer than the connection's response timeout used to return
// "timed out" while Redis had already handed the message to the consumer.
async fn a_receive_longer_than_the_response_timeout_waits_it_out<C: TestConn>(
    redis: Backend<C>,
    short: C,
) {
    let q = queue(short, &redis);
    assert_eq!(q.max_block(), dbpat_runtime::keyspace::DEFAULT_MAX_BLOCK);
    q.ensure_group().await.unwrap();
    let producer = queue(redis.own_connection().await, &redis);
    let worker = q.consumer("w1").unwrap();

    // A message that arrives after 2.4 response timeouts, within a 3 s receive.
    let late = {
        let producer = producer.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            producer.enqueue(&job(1)).await.unwrap()
        })
    };
    let started = Instant::now();
    let got = worker
        .receive(1, Some(Duration::from_secs(3)))
        .await
        .expect("a 3 s receive on a 500 ms connection");
    let waited = started.elapsed();
    let id = late.await.unwrap();
    println!(
        "queue [{}]: receive(1, 3 s) on a {SHORT_TIMEOUT:?} connection: message after {waited:?}",
        redis.deployment()
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, id);
    assert!(waited >= Duration::from_millis(1150), "{waited:?}");
    assert!(worker.ack(&got[0]).await.unwrap());

    // Nothing arrives: an empty Vec after the whole wait, not a timeout error.
    let started = Instant::now();
    let got = worker
        .receive(1, Some(Duration::from_millis(1200)))
        .await
        .unwrap();
    let waited = started.elapsed();
    println!(
        "queue [{}]: receive(1, 1.2 s) on a {SHORT_TIMEOUT:?} connection, no message: empty after {waited:?}",
        redis.deployment()
    );
    assert!(got.is_empty());
    assert!(waited >= Duration::from_millis(1190), "{waited:?}");
    assert_eq!(producer.pending_count().await.unwrap(), 0);

    // The documented consequence of a max block above the response timeout: the client gives
    // up, the message is pending on this consumer, and only claim_stale recovers it.
    // (The checks use the producer's connection: the consumer's is still blocked on the
    // server until the message arrives.)
    let unsafe_q = q.clone().with_max_block(Duration::from_secs(2)).unwrap();
    let unsafe_worker = unsafe_q.consumer("w-unsafe").unwrap();
    let late = {
        let producer = producer.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            producer.enqueue(&job(2)).await.unwrap()
        })
    };
    let err = unsafe_worker
        .receive(1, Some(Duration::from_secs(2)))
        .await
        .unwrap_err();
    let id = late.await.unwrap();
    println!(
        "queue [{}]: max_block 2 s on a {SHORT_TIMEOUT:?} connection: {err}",
        redis.deployment()
    );
    match &err {
        KeyspaceError::Redis(e) => assert!(e.is_timeout(), "{e}"),
        other => panic!("expected a timeout, got {other}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        producer.delivery_count(&id).await.unwrap(),
        1,
        "handed over although receive failed"
    );
    assert_eq!(producer.pending_count().await.unwrap(), 1);
    let rescuer = producer.consumer("rescuer").unwrap();
    let claimed = rescuer.claim_stale(Duration::ZERO, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].message, job(2));
    assert!(rescuer.ack(&claimed[0]).await.unwrap());

    assert!(matches!(
        q.clone().with_max_block(Duration::ZERO),
        Err(KeyspaceError::InvalidArgument(_))
    ));
}

mod a_receive_longer_than_the_response_timeout_waits_it_out {
    use super::*;
    use crate::support::cluster_urls;
    use redis::aio::{ConnectionManager, ConnectionManagerConfig};

    #[tokio::test]
    async fn single_node() {
        let redis = crate::support::single_node().await;
        let client = redis::Client::open(dbpat_runtime::testing::redis_url()).unwrap();
        let config = ConnectionManagerConfig::new().set_response_timeout(Some(SHORT_TIMEOUT));
        let short = ConnectionManager::new_with_config(client, config)
            .await
            .unwrap();
        super::a_receive_longer_than_the_response_timeout_waits_it_out(redis, short).await
    }

    #[tokio::test]
    async fn cluster() {
        let redis = crate::support::cluster().await;
        let short = redis::cluster::ClusterClient::builder(cluster_urls())
            .response_timeout(SHORT_TIMEOUT)
            .build()
            .unwrap()
            .get_async_connection()
            .await
            .unwrap();
        super::a_receive_longer_than_the_response_timeout_waits_it_out(redis, short).await
    }
}
