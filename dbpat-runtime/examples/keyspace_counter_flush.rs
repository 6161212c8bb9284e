//! Article view counters in Redis, flushed into `articles.view_count` in PostgreSQL.
//!
//! `cargo run -p dbpat-runtime --example keyspace_counter_flush`
//!
//! Needs the local PostgreSQL and Redis (`scripts/services`). Uses a scratch database and a
//! random key prefix, both removed at the end.

use dbpat_runtime::keyspace::{
    scan_keys, Counter, CounterFlusher, FlushTarget, IdType, KeyBuilder, ScanOptions,
};
use dbpat_runtime::testing::{redis_url, TestDatabase};
use redis::aio::ConnectionManager;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let conn = ConnectionManager::new(redis::Client::open(redis_url())?).await?;
    let keys =
        KeyBuilder::with_prefix(&format!("dbpat-example:{}", uuid::Uuid::new_v4().simple()))?;
    let db = TestDatabase::new().await; // a throwaway database for the demo
    sqlx::raw_sql(
        "CREATE TABLE articles (id BIGINT PRIMARY KEY, title TEXT NOT NULL, view_count BIGINT NOT NULL DEFAULT 0);
         INSERT INTO articles (id, title) VALUES (456, 'Hello'), (457, 'World');",
    )
    .execute(db.pool())
    .await?;

    // Hot path: one Redis round trip per view, no database write.
    let views = Counter::new(conn.clone(), keys.clone(), "article", "views")?.with_pending();
    for _ in 0..120 {
        views.incr("456").await?;
    }
    views.incr_by("457", 30).await?;
    println!("live views of 456 in Redis: {}", views.get("456").await?);

    // Periodically (here: once), move the deltas into PostgreSQL.
    CounterFlusher::ensure_ledger(db.pool()).await?;
    let target = FlushTarget::new("articles", "view_count", "id", IdType::BigInt)?;
    let flusher = CounterFlusher::new(views.clone(), db.pool().clone(), target);
    let report = flusher.flush().await?;
    println!("flush report: {report:?}");
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, view_count FROM articles ORDER BY id")
        .fetch_all(db.pool())
        .await?;
    println!("articles in PostgreSQL: {rows:?}");
    // In a service: `let handle = flusher.spawn_periodic(Duration::from_secs(10));`

    let mut c = conn.clone();
    let mine = scan_keys(&mut c, &keys.pattern_all(), ScanOptions::default()).await?;
    if !mine.is_empty() {
        let () = redis::cmd("DEL").arg(&mine).query_async(&mut c).await?;
    }
    db.drop_now().await;
    Ok(())
}
