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
    assert_eq!(q.delivery_count(&id).await.unwrap(), 2);
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
    println!("per-worker deliveries: {per_worker:?}");
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
