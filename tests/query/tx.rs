//! Transactions and the pool: the patterns document's transferFunds (an overdraft is a typed
//! CheckViolation and leaves both balances unchanged), retries on real serialization failures
//! and deadlocks, no retry on other errors, the attempt bound, and slow-statement WARN logs.

use crate::support::query as query_common;
use crate::support::shop as models;
use crate::support::trace::{capture_on_this_thread, Sink};
use crate::support::transfer;

use dbpat::query::{transaction_with, RetryPolicy};
use dbpat::{Error, PoolConfig, Table};
use models::Account;
use query_common::*;
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Barrier;
use transfer::transfer_funds;
use uuid::Uuid;

async fn two_accounts(pool: &sqlx::PgPool, a: i64, b: i64) -> (Uuid, Uuid) {
    let u = Table::insert(pool, &user(&format!("{}@example.com", Uuid::new_v4())))
        .await
        .unwrap();
    let x = Table::insert(pool, &account(u.id, a)).await.unwrap();
    let y = Table::insert(pool, &account(u.id, b)).await.unwrap();
    (x.id, y.id)
}

async fn balances(pool: &sqlx::PgPool, a: Uuid, b: Uuid) -> (Decimal, Decimal) {
    (
        Account::get(pool, &a).await.unwrap().balance,
        Account::get(pool, &b).await.unwrap().balance,
    )
}

#[tokio::test]
async fn transfer_moves_money_and_an_overdraft_changes_nothing() {
    let db = shop_db().await;
    let pool = db.pool();
    let (a, b) = two_accounts(pool, 100, 5).await;
    let (from, to) = transfer_funds(pool, a, b, Decimal::new(40, 0))
        .await
        .unwrap();
    assert_eq!(
        (from.balance, to.balance),
        (Decimal::new(60, 0), Decimal::new(45, 0))
    );

    match transfer_funds(pool, a, b, Decimal::new(61, 0)).await {
        Err(Error::CheckViolation { constraint }) => {
            assert_eq!(constraint, "accounts_balance_check")
        }
        other => panic!("expected CheckViolation, got {other:?}"),
    }
    assert_eq!(
        balances(pool, a, b).await,
        (Decimal::new(60, 0), Decimal::new(45, 0))
    );

    // The credit fails (no such account) after the debit succeeded: rolled back too.
    let err = transfer_funds(pool, a, Uuid::new_v4(), Decimal::new(10, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(balances(pool, a, b).await.0, Decimal::new(60, 0));
}

/// Runs two transactions that collide on their first attempt (both wait at a barrier in the
/// middle), retried by `transaction_with`; returns the total number of attempts.
async fn collide(pool: &sqlx::PgPool, policy: RetryPolicy, a: Uuid, b: Uuid, crossed: bool) -> u32 {
    let barrier = Arc::new(Barrier::new(2));
    let attempts = Arc::new(AtomicU32::new(0));
    let mut handles = Vec::new();
    for (first, second) in [(a, b), (b, a)] {
        let (pool, barrier, attempts, policy) = (
            pool.clone(),
            barrier.clone(),
            attempts.clone(),
            policy.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut mine = 0u32;
            transaction_with(&pool, &policy, |conn| {
                mine += 1;
                attempts.fetch_add(1, Ordering::SeqCst);
                let (barrier, attempt) = (barrier.clone(), mine);
                Box::pin(async move {
                    if crossed {
                        // Deadlock: each locks its first row, then wants the other's.
                        Account::patch(&first)
                            .add(Account::BALANCE, Decimal::ONE)
                            .execute(&mut *conn)
                            .await?;
                    } else {
                        // Write skew under SERIALIZABLE: both read both rows, then write one.
                        sqlx::query("SELECT sum(balance) FROM accounts")
                            .execute(&mut *conn)
                            .await?;
                    }
                    if attempt == 1 {
                        barrier.wait().await;
                    }
                    Account::patch(&second)
                        .add(Account::BALANCE, Decimal::ONE)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .await
        }));
    }
    for h in handles {
        h.await.unwrap().expect("the retried transaction commits");
    }
    attempts.load(Ordering::SeqCst)
}

#[tokio::test]
async fn serialization_failures_are_retried() {
    let db = shop_db().await;
    let pool = db.pool();
    let (a, b) = two_accounts(pool, 10, 10).await;
    let attempts = collide(pool, RetryPolicy::serializable(), a, b, false).await;
    assert!(
        attempts >= 3,
        "one of the two was retried ({attempts} attempts)"
    );
    assert_eq!(
        balances(pool, a, b).await,
        (Decimal::new(11, 0), Decimal::new(11, 0))
    );
}

#[tokio::test]
async fn deadlocks_are_retried() {
    let db = shop_db().await;
    let pool = db.pool();
    let (a, b) = two_accounts(pool, 10, 10).await;
    let attempts = collide(pool, RetryPolicy::default(), a, b, true).await;
    assert!(
        attempts >= 3,
        "the deadlock victim was retried ({attempts} attempts)"
    );
    assert_eq!(
        balances(pool, a, b).await,
        (Decimal::new(12, 0), Decimal::new(12, 0))
    );
}

#[tokio::test]
async fn other_errors_are_not_retried_and_retries_are_bounded() {
    let db = shop_db().await;
    let pool = db.pool();
    let attempts = AtomicU32::new(0);
    let err = dbpat::transaction(pool, |conn| {
        attempts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            sqlx::query("SELECT 1/0").execute(&mut *conn).await?;
            Ok(())
        })
    })
    .await
    .unwrap_err();
    assert_eq!(err.sqlstate().as_deref(), Some("22012"));
    assert_eq!(attempts.load(Ordering::SeqCst), 1);

    let attempts = AtomicU32::new(0);
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let err = transaction_with(pool, &policy, |conn| {
        attempts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            sqlx::query("DO $$ BEGIN RAISE EXCEPTION 'always' USING ERRCODE = 'serialization_failure'; END $$")
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    })
    .await
    .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "bounded by max_attempts"
    );
}

/// Records the level and message of every event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl Sink for Capture {
    fn event(&self, event: &tracing::Event<'_>) {
        struct Msg(String);
        impl tracing::field::Visit for Msg {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?} ", field.name(), value));
            }
        }
        let mut msg = Msg(String::new());
        event.record(&mut msg);
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), msg.0));
    }
}

#[tokio::test]
async fn slow_statements_are_logged_at_warn() {
    let db = shop_db().await;
    let pool = PoolConfig::default()
        .max_connections(2)
        .slow_statement_threshold(Duration::from_millis(50))
        .connect(db.url())
        .await
        .unwrap();
    let capture = Capture::default();
    let _guard = capture_on_this_thread(Arc::new(capture.clone()));
    sqlx::query("SELECT 1").execute(&pool).await.unwrap();
    sqlx::query("SELECT pg_sleep(0.2)")
        .execute(&pool)
        .await
        .unwrap();
    let events = capture.0.lock().unwrap().clone();
    let warns: Vec<&String> = events
        .iter()
        .filter(|(l, _)| *l == tracing::Level::WARN)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(warns.len(), 1, "only the slow statement: {events:?}");
    assert!(
        warns[0].contains("slow statement") && warns[0].contains("pg_sleep"),
        "{}",
        warns[0]
    );
    assert!(
        warns[0].contains("elapsed="),
        "with its duration: {}",
        warns[0]
    );
    pool.close().await;
}
