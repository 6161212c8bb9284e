//! Locks: an efficiency lock (Redis only) and a fenced lock for a correctness-critical write.
//!
//! `cargo run -p dbpat-runtime --example keyspace_locks`
//!
//! Needs the local PostgreSQL and Redis (`scripts/services`). Uses a scratch database and a
//! random key prefix, both removed at the end.

use dbpat_runtime::keyspace::{
    check_fence, scan_keys, FencedLockManager, KeyBuilder, KeyspaceError, LockManager, ScanOptions,
};
use dbpat_runtime::testing::{redis_url, TestDatabase};
use redis::aio::ConnectionManager;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let conn = ConnectionManager::new(redis::Client::open(redis_url())?).await?;
    let keys =
        KeyBuilder::with_prefix(&format!("dbpat-example:{}", uuid::Uuid::new_v4().simple()))?;

    // 1. Efficiency lock: only one worker rebuilds the cache entry of user 123.
    let locks = LockManager::new(conn.clone(), keys.clone());
    let guard = locks.acquire("user", "123", Duration::from_secs(2)).await?;
    println!(
        "holding {} (token {}), {:?} left",
        guard.key(),
        guard.token(),
        guard.remaining()
    );
    println!(
        "second try while held: {}",
        locks.try_acquire("user", "123").await?.is_some()
    );
    println!("released: {}", guard.release().await?);

    // 2. Fenced lock: a holder paused past its TTL cannot overwrite its successor.
    let db = TestDatabase::new().await;
    sqlx::raw_sql(
        "CREATE TABLE invoices (id BIGINT PRIMARY KEY, status TEXT NOT NULL);
                   INSERT INTO invoices VALUES (42, 'open');",
    )
    .execute(db.pool())
    .await?;
    let short = LockManager::new(conn.clone(), keys.clone()).with_ttl(Duration::from_millis(200));
    let fenced = FencedLockManager::new(short, db.pool().clone(), "invoice_fencing")?;
    fenced.ensure_schema().await?;
    let slow = fenced
        .acquire("invoice", "42", Duration::from_secs(1))
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await; // a long GC pause...
    let fast = fenced
        .acquire("invoice", "42", Duration::from_secs(1))
        .await?;
    for (who, g, status) in [("fast", &fast, "paid"), ("slow", &slow, "cancelled")] {
        let mut tx = db.pool().begin().await?;
        match check_fence(&mut tx, g.resource(), g.token()).await {
            Ok(()) => {
                sqlx::query("UPDATE invoices SET status = $1 WHERE id = 42")
                    .bind(status)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                println!("{who} (token {}) wrote {status}", g.token());
            }
            Err(e @ KeyspaceError::StaleFencingToken { .. }) => println!("{who} refused: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    let status: String = sqlx::query_scalar("SELECT status FROM invoices WHERE id = 42")
        .fetch_one(db.pool())
        .await?;
    println!("invoice 42 is {status}");
    fast.release().await?;
    db.drop_now().await;

    let mut c = conn.clone();
    let mine = scan_keys(&mut c, &keys.pattern_all(), ScanOptions::default()).await?;
    if !mine.is_empty() {
        let () = redis::cmd("DEL").arg(&mine).query_async(&mut c).await?;
    }
    Ok(())
}
