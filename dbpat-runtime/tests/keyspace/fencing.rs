//! Fenced locks (tokens from a PostgreSQL sequence), against the real Redis and PostgreSQL.

use crate::support::{keys, Backend, TestConn};
use dbpat_runtime::keyspace::{
    check_fence, FencedLockManager, KeyspaceError, LockManager, RetryDelay,
};
use dbpat_runtime::testing::TestDatabase;
use sqlx::PgPool;
use std::time::Duration;

async fn fenced<C: TestConn>(
    conn: C,
    redis: &Backend<C>,
    pool: &PgPool,
    ttl: Duration,
) -> FencedLockManager<C> {
    let locks = LockManager::new(conn, keys(redis))
        .with_ttl(ttl)
        .with_retry(RetryDelay {
            min: Duration::ZERO,
            max: Duration::from_millis(2),
        })
        .unwrap();
    let f = FencedLockManager::new(locks, pool.clone(), "app_fencing").unwrap();
    f.ensure_schema().await.unwrap();
    f
}

async fn ledger(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE invoices (id BIGINT PRIMARY KEY, status TEXT NOT NULL, writes INT NOT NULL DEFAULT 0);
         INSERT INTO invoices (id, status) VALUES (42, 'open');",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// The protected write: fence check and update in one transaction.
async fn write_status(
    pool: &PgPool,
    resource: &str,
    token: i64,
    status: &str,
) -> Result<(), KeyspaceError> {
    let mut tx = pool.begin().await?;
    check_fence(&mut tx, resource, token).await?;
    sqlx::query("UPDATE invoices SET status = $1, writes = writes + 1 WHERE id = 42")
        .bind(status)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

on_each_deployment!(#[tokio::test] fn a_paused_holder_whose_lock_expired_is_fenced_off);
async fn a_paused_holder_whose_lock_expired_is_fenced_off<C: TestConn>(redis: Backend<C>) {
    let db = TestDatabase::new().await;
    ledger(db.pool()).await;
    let locks = fenced(
        redis.connection(),
        &redis,
        db.pool(),
        Duration::from_millis(150),
    )
    .await;

    let a = locks.try_acquire("invoice", "42").await.unwrap().unwrap();
    write_status(db.pool(), a.resource(), a.token(), "a-1")
        .await
        .unwrap();
    // A pauses past its TTL; B acquires with a larger token and writes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b = locks
        .try_acquire("invoice", "42")
        .await
        .unwrap()
        .expect("A's lock expired");
    assert!(
        b.token() > a.token(),
        "tokens increase: {} then {}",
        a.token(),
        b.token()
    );
    assert_eq!(a.resource(), b.resource());
    write_status(db.pool(), b.resource(), b.token(), "b")
        .await
        .unwrap();
    // A wakes up and tries to write with its old token: refused, B's write stands.
    let err = write_status(db.pool(), a.resource(), a.token(), "a-late")
        .await
        .unwrap_err();
    println!(
        "fencing [{}]: A (token {}) paused past its 150 ms TTL, B took token {}; A's late write: {err}",
        redis.deployment(),
        a.token(),
        b.token()
    );
    match err {
        KeyspaceError::StaleFencingToken { token, current, .. } => {
            assert_eq!((token, current), (a.token(), b.token()));
        }
        other => panic!("expected a stale token, got {other}"),
    }
    let (status, writes): (String, i32) =
        sqlx::query_as("SELECT status, writes FROM invoices WHERE id = 42")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!((status.as_str(), writes), ("b", 2));
    // The same holder may write several times with its token.
    write_status(db.pool(), b.resource(), b.token(), "b-2")
        .await
        .unwrap();
    assert!(!a.release().await.unwrap(), "A no longer owns the lock");
    assert!(b.release().await.unwrap());
}

on_each_deployment!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] fn contending_fenced_holders_all_write_with_increasing_tokens);
async fn contending_fenced_holders_all_write_with_increasing_tokens<C: TestConn>(
    redis: Backend<C>,
) {
    let db = TestDatabase::new().await;
    ledger(db.pool()).await;
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let locks = fenced(
            redis.own_connection().await,
            &redis,
            db.pool(),
            Duration::from_secs(30),
        )
        .await;
        let pool = db.pool().clone();
        tasks.push(tokio::spawn(async move {
            let mut tokens = Vec::new();
            for _ in 0..50 {
                let g = locks
                    .acquire("invoice", "42", Duration::from_secs(10))
                    .await
                    .unwrap();
                write_status(&pool, g.resource(), g.token(), "x")
                    .await
                    .unwrap();
                tokens.push(g.token());
                assert!(g.release().await.unwrap());
            }
            tokens
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let tokens = t.await.unwrap();
        assert!(tokens.windows(2).all(|w| w[0] < w[1]));
        all.extend(tokens);
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 100, "every acquisition drew a distinct token");
    let writes: i32 = sqlx::query_scalar("SELECT writes FROM invoices WHERE id = 42")
        .fetch_one(db.pool())
        .await
        .unwrap();
    println!(
        "fencing [{}]: 2 holders x 50 acquisitions: {} distinct tokens, {writes} writes",
        redis.deployment(),
        all.len()
    );
    assert_eq!(writes, 100, "no holder was wrongly fenced off");
}

on_each_deployment!(#[tokio::test] fn sequence_names_are_validated);
async fn sequence_names_are_validated<C: TestConn>(redis: Backend<C>) {
    let db = TestDatabase::new().await;
    let locks = LockManager::new(redis.connection(), keys(&redis));
    assert!(matches!(
        FencedLockManager::new(locks, db.pool().clone(), "seq; DROP TABLE x"),
        Err(KeyspaceError::InvalidIdentifier(_))
    ));
}

on_each_deployment!(#[tokio::test] fn a_token_failure_releases_the_redis_lock);
async fn a_token_failure_releases_the_redis_lock<C: TestConn>(redis: Backend<C>) {
    let db = TestDatabase::new().await;
    let locks = fenced(
        redis.connection(),
        &redis,
        db.pool(),
        Duration::from_secs(30),
    )
    .await;
    sqlx::query("DROP SEQUENCE app_fencing")
        .execute(db.pool())
        .await
        .unwrap();
    let err = locks
        .try_acquire("invoice", "42")
        .await
        .err()
        .expect("no sequence, no token");
    assert!(matches!(err, KeyspaceError::Database(_)), "{err}");
    // The Redis lock taken before the failure was given back at once, not after 30 s.
    let plain = LockManager::new(redis.connection(), keys(&redis));
    assert!(plain.try_acquire("invoice", "42").await.unwrap().is_some());
}
