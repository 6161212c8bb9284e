//! A web app's Redis side: sessions, rate limits, online users and a leaderboard.
//!
//! `cargo run -p dbpat-runtime --example keyspace_web`
//!
//! Needs the local Redis (`scripts/services`). Uses a random key prefix, removed at the end.

use dbpat_runtime::keyspace::{
    scan_keys, FixedWindow, KeyBuilder, Leaderboard, ScanOptions, SessionStore, SlidingWindow,
    UniqueSet,
};
use dbpat_runtime::testing::redis_url;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct WebSession {
    user_id: i64,
    role: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let conn = ConnectionManager::new(redis::Client::open(redis_url())?).await?;
    let keys =
        KeyBuilder::with_prefix(&format!("dbpat-example:{}", uuid::Uuid::new_v4().simple()))?;

    // Sessions: `session:<id>` hashes, 24 h sliding TTL.
    let sessions = SessionStore::new(conn.clone(), keys.clone());
    let sid = sessions
        .create(&WebSession {
            user_id: 7,
            role: "admin".into(),
        })
        .await?;
    let s: Option<WebSession> = sessions.load(&sid).await?;
    println!("session {sid}: {s:?}, ttl {:?}", sessions.ttl(&sid).await?);

    // Rate limits: 5 logins per minute (fixed), 3 searches per sliding minute.
    let logins = FixedWindow::new(conn.clone(), keys.clone(), "login", 5)?;
    let searches = SlidingWindow::new(conn.clone(), keys.clone(), "search", 3)?;
    for i in 1..=6 {
        let d = logins.check("ip-10.0.0.1").await?;
        println!(
            "login attempt {i}: allowed={} remaining={} retry_after={:?}",
            d.allowed, d.remaining, d.retry_after
        );
    }
    for i in 1..=4 {
        let d = searches.check("user-7").await?;
        println!(
            "search {i}: allowed={} retry_after={:?}",
            d.allowed, d.retry_after
        );
    }

    // Online users: a set with a TTL.
    let online = UniqueSet::new(conn.clone(), &keys, "online_users")?;
    for u in ["u1", "u2", "u1"] {
        online.add(u).await?;
    }
    println!(
        "online: {} users, u2 online: {}",
        online.len().await?,
        online.contains("u2").await?
    );

    // Leaderboard: top-N and around-me.
    let board = Leaderboard::new(conn.clone(), &keys, "weekly")?;
    for (who, pts) in [
        ("ann", 120.0),
        ("bob", 80.0),
        ("cid", 200.0),
        ("dee", 95.0),
        ("eve", 60.0),
    ] {
        board.incr(who, pts).await?;
    }
    println!("top 3: {:?}", board.top(3).await?);
    println!("around dee: {:?}", board.around("dee", 1).await?);

    let mut c = conn.clone();
    let mine = scan_keys(&mut c, &keys.pattern_all(), ScanOptions::default()).await?;
    println!("keys written (listed with SCAN): {}", mine.len());
    if !mine.is_empty() {
        let () = redis::cmd("DEL").arg(&mine).query_async(&mut c).await?;
    }
    Ok(())
}
