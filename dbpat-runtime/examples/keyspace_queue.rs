//! A job queue on a Redis Stream (at-least-once) plus live Pub/Sub notifications.
//!
//! `cargo run -p dbpat-runtime --example keyspace_queue`
//!
//! Needs the local Redis (`scripts/services`). Uses a random key prefix, removed at the end.

use dbpat_runtime::keyspace::{scan_keys, Channel, KeyBuilder, ScanOptions, StreamQueue};
use dbpat_runtime::testing::redis_url;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SendEmail {
    to: String,
    template: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct EmailSent {
    to: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = redis::Client::open(redis_url())?;
    let conn = ConnectionManager::new(client.clone()).await?;
    let keys =
        KeyBuilder::with_prefix(&format!("dbpat-example:{}", uuid::Uuid::new_v4().simple()))?;

    let queue: StreamQueue<SendEmail> = StreamQueue::new(conn.clone(), &keys, "emails", "senders")?;
    queue.ensure_group().await?;
    let events: Channel<EmailSent> = Channel::new(keys.key("user", "7", "notifications")?);
    let mut live = events.subscribe(&client).await?;

    for to in ["a@example.com", "b@example.com"] {
        let job = SendEmail {
            to: to.into(),
            template: "welcome".into(),
        };
        println!("enqueued {}", queue.enqueue(&job).await?);
    }

    // Worker 1 takes a job and crashes before acknowledging it.
    let crashed = queue.consumer("worker-1")?;
    let lost = crashed.receive(1, Some(Duration::from_millis(200))).await?;
    println!("worker-1 took {} and died", lost[0].id);

    // Worker 2 processes new jobs and, after the visibility timeout, worker-1's job too.
    let worker = queue.consumer("worker-2")?;
    let timeout = Duration::from_millis(300);
    let mut done = 0;
    for _ in 0..20 {
        let mut batch = worker.receive(10, Some(Duration::from_millis(100))).await?;
        batch.extend(worker.claim_stale(timeout, 10).await?);
        for d in batch {
            println!("worker-2 sends {:?} ({})", d.message, d.id);
            events
                .publish(
                    &mut conn.clone(),
                    &EmailSent {
                        to: d.message.to.clone(),
                    },
                )
                .await?;
            worker.ack(&d).await?;
            done += 1;
        }
        if done == 2 {
            break;
        }
    }
    println!("pending after processing: {}", queue.pending_count().await?);
    for _ in 0..done {
        if let Ok(Some(Ok(n))) = tokio::time::timeout(Duration::from_secs(1), live.next()).await {
            println!("live notification: {n:?}");
        }
    }

    let mut c = conn.clone();
    let mine = scan_keys(&mut c, &keys.pattern_all(), ScanOptions::default()).await?;
    if !mine.is_empty() {
        let () = redis::cmd("DEL").arg(&mine).query_async(&mut c).await?;
    }
    Ok(())
}
