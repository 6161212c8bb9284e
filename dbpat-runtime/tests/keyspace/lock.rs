//! Distributed locks (SET NX PX + owner-only Lua release/extend), against the real Redis.

use crate::support::{keys, pttl};
use crate::support::{Backend, TestConn};
use dbpat_runtime::keyspace::{KeyspaceError, LockManager, RetryDelay};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds; in each, both holders race for the lock at the same instant (a barrier).
const ROUNDS: u32 = 1000;

on_each_deployment!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] fn two_holders_never_hold_the_lock_at_once_over_1000_contended_rounds);
async fn two_holders_never_hold_the_lock_at_once_over_1000_contended_rounds<C: TestConn>(
    redis: Backend<C>,
) {
    let inside = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicU32::new(0));
    let contended = Arc::new(AtomicU32::new(0));
    let counter_key = keys(&redis).key("test", "1", "unsafe_counter").unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let started = Instant::now();
    let mut holders = Vec::new();
    for _ in 0..2 {
        let locks = LockManager::new(redis.own_connection().await, keys(&redis))
            .with_retry(RetryDelay {
                min: Duration::ZERO,
                max: Duration::from_millis(1),
            })
            .unwrap();
        let mut conn = redis.own_connection().await;
        let (inside, overlaps, contended) = (inside.clone(), overlaps.clone(), contended.clone());
        let counter_key = counter_key.clone();
        let barrier = barrier.clone();
        holders.push(tokio::spawn(async move {
            let mut done_rounds = 0u32;
            for _ in 0..ROUNDS {
                barrier.wait().await;
                // First a single attempt, to measure contention, then the retrying acquire.
                let guard = match locks.try_acquire("account", "42").await.unwrap() {
                    Some(g) => g,
                    None => {
                        contended.fetch_add(1, Ordering::SeqCst);
                        locks
                            .acquire("account", "42", Duration::from_secs(10))
                            .await
                            .unwrap()
                    }
                };
                if inside.swap(true, Ordering::SeqCst) {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                // A read-modify-write that is only correct under mutual exclusion.
                let v: Option<u64> = redis::cmd("GET")
                    .arg(&counter_key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
                let () = redis::cmd("SET")
                    .arg(&counter_key)
                    .arg(v.unwrap_or(0) + 1)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                inside.store(false, Ordering::SeqCst);
                assert!(guard.release().await.unwrap(), "released by its owner");
                done_rounds += 1;
            }
            done_rounds
        }));
    }
    let mut rounds = 0;
    for h in holders {
        rounds += h.await.unwrap();
    }
    let total: u64 = redis::cmd("GET")
        .arg(&counter_key)
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    println!(
        "lock [{}]: {ROUNDS} rounds, {rounds} acquisitions by 2 holders in {:?}, {} found the lock taken, overlaps {}, counter {total}",
        redis.deployment(),
        started.elapsed(),
        contended.load(Ordering::SeqCst),
        overlaps.load(Ordering::SeqCst)
    );
    assert!(
        contended.load(Ordering::SeqCst) > 0,
        "the holders really contended"
    );
    assert_eq!(
        rounds,
        2 * ROUNDS,
        "each holder got the lock once per round"
    );
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "two holders inside at once"
    );
    assert_eq!(total, u64::from(2 * ROUNDS), "no lost update");
}

on_each_deployment!(#[tokio::test] fn only_the_owner_releases_or_extends);
async fn only_the_owner_releases_or_extends<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let short =
        LockManager::new(redis.connection(), keys(&redis)).with_ttl(Duration::from_millis(100));
    let mut a = short.try_acquire("user", "123").await.unwrap().unwrap();
    assert_eq!(a.key(), format!("{}lock:user:123", redis.prefix()));
    assert!(
        short.try_acquire("user", "123").await.unwrap().is_none(),
        "held"
    );
    assert!(a.remaining() <= Duration::from_millis(100));
    // A's lock expires (A is "paused"); B takes it.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let b = short
        .try_acquire("user", "123")
        .await
        .unwrap()
        .expect("expired lock is free");
    assert_ne!(a.token(), b.token());
    assert!(!a.is_held().await.unwrap());
    assert!(
        !a.extend(Duration::from_secs(10)).await.unwrap(),
        "A cannot extend B's lock"
    );
    assert!(!a.release().await.unwrap(), "A cannot release B's lock");
    assert!(b.is_held().await.unwrap(), "B's lock survived A's attempts");
    assert!(b.release().await.unwrap());
    assert!(short.try_acquire("user", "123").await.unwrap().is_some());
    // Extending by the owner works.
    let mut c = short.try_acquire("user", "456").await.unwrap().unwrap();
    assert!(c.extend(Duration::from_secs(5)).await.unwrap());
    assert!(pttl(&mut conn, c.key()).await > 4_000);
    assert!(c.remaining() > Duration::from_secs(4));
}

on_each_deployment!(#[tokio::test] fn default_ttl_timeout_and_bad_input);
async fn default_ttl_timeout_and_bad_input<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let locks = LockManager::new(redis.connection(), keys(&redis));
    assert_eq!(locks.ttl(), Duration::from_secs(30));
    let held = locks
        .acquire("report", "daily", Duration::from_millis(10))
        .await
        .unwrap();
    let ms = pttl(&mut conn, held.key()).await;
    assert!(
        (29_000..=30_000).contains(&ms),
        "the patterns document's 30 s lock TTL, got {ms}"
    );
    let started = Instant::now();
    let err = locks
        .acquire("report", "daily", Duration::from_millis(120))
        .await
        .err()
        .expect("held by someone else");
    assert!(matches!(err, KeyspaceError::LockTimeout { .. }), "{err}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(120) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    assert!(matches!(
        locks.try_acquire("a:b", "1").await,
        Err(KeyspaceError::InvalidKeyPart { .. })
    ));
    assert!(LockManager::new(redis.connection(), keys(&redis))
        .with_retry(RetryDelay {
            min: Duration::from_secs(2),
            max: Duration::from_secs(1)
        })
        .is_err());
    held.release().await.unwrap();
}

on_each_deployment!(#[tokio::test] fn extreme_ttls_and_retry_delays_neither_panic_nor_fail);
async fn extreme_ttls_and_retry_delays_neither_panic_nor_fail<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    // A TTL beyond what Redis accepts is clamped to a century.
    let forever = LockManager::new(redis.connection(), keys(&redis)).with_ttl(Duration::MAX);
    let mut guard = forever
        .acquire("job", "1", Duration::from_secs(1))
        .await
        .unwrap();
    let ms = pttl(&mut conn, guard.key()).await;
    assert!(ms > 3_000_000_000_000, "about 100 years, got {ms}");
    assert!(guard.remaining() > Duration::from_secs(86_400 * 365));
    assert!(guard.extend(Duration::MAX).await.unwrap());
    // Retry pauses drawn from the widest possible range stay within the wait.
    let wide = LockManager::new(redis.connection(), keys(&redis))
        .with_retry(RetryDelay {
            min: Duration::ZERO,
            max: Duration::MAX,
        })
        .unwrap();
    let started = Instant::now();
    assert!(matches!(
        wide.acquire("job", "1", Duration::from_millis(100)).await,
        Err(KeyspaceError::LockTimeout { .. })
    ));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the pauses are bounded by the wait, not by RetryDelay::max"
    );
    assert!(guard.release().await.unwrap());
}
