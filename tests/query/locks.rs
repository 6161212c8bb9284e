//! Row locks on the real PostgreSQL: the rendered locking clauses; SKIP LOCKED leaves out the
//! row another transaction holds; NOWAIT fails at once with the lock error (55P03); the four
//! strengths conflict as PostgreSQL documents; a lock over both tiers is `InvalidQuery`;
//! `find_many_for_update` locks in key order; and the transfer of `docs/queries.md`, run by 16 tasks
//! moving money in opposite directions, completes every transfer without a deadlock
//! (`pg_stat_database.deadlocks` before/after) and conserves the total balance.

use crate::support::query as query_common;
use crate::support::shop as models;
use crate::support::transfer::transfer_funds;

use dbpat::query::ReadTiers;
use dbpat::{Error, PoolConfig, Table, TableRow};
use models::{Account, Order};
use query_common::*;
use rust_decimal::Decimal;
use sqlx::{PgPool, Postgres, Transaction};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;
use uuid::Uuid;

/// `n` accounts of one user, each with `balance`, sorted by id.
async fn accounts(pool: &PgPool, n: usize, balance: i64) -> Vec<Uuid> {
    let u = Table::insert(pool, &user(&format!("{}@example.com", Uuid::new_v4())))
        .await
        .unwrap();
    let rows = Account::insert_many(pool, &vec![account(u.id, balance); n])
        .await
        .unwrap();
    let mut ids: Vec<Uuid> = rows.iter().map(|a| a.id).collect();
    ids.sort();
    ids
}

async fn begin(pool: &PgPool) -> Transaction<'static, Postgres> {
    pool.begin().await.unwrap()
}

fn ids(rows: &[Account]) -> Vec<Uuid> {
    rows.iter().map(|a| a.id).collect()
}

#[test]
fn locking_clauses_render_at_the_end() {
    let q = || Account::filter(Account::BALANCE.gt(Decimal::ZERO)).order_by(Account::ID.asc());
    assert_eq!(
        q().limit(5).for_update().to_sql(),
        format!(
            "{} WHERE balance > $1 ORDER BY id LIMIT $2 FOR UPDATE",
            Account::sql().select
        )
    );
    assert!(q()
        .for_update()
        .skip_locked()
        .to_sql()
        .ends_with(" ORDER BY id FOR UPDATE SKIP LOCKED"));
    assert!(q()
        .for_share()
        .nowait()
        .to_sql()
        .ends_with(" ORDER BY id FOR SHARE NOWAIT"));
    assert!(q()
        .for_no_key_update()
        .to_sql()
        .ends_with(" FOR NO KEY UPDATE"));
    assert!(q()
        .for_key_share()
        .skip_locked()
        .to_sql()
        .ends_with(" FOR KEY SHARE SKIP LOCKED"));
    // The archive alone is one relation: it can be locked.
    assert_eq!(
        Order::query()
            .tiers(ReadTiers::Archive)
            .limit(1)
            .for_update()
            .to_sql(),
        "SELECT id, user_id, status, total, created_at FROM orders_archive LIMIT $1 FOR UPDATE"
    );
    // Both tiers are a UNION ALL, which cannot be locked: no SQL.
    assert_eq!(Order::query().with_archive().for_update().to_sql(), "");
}

#[tokio::test]
async fn a_lock_over_both_tiers_is_an_invalid_query() {
    let db = shop_db().await;
    let pool = db.pool();
    let err = Order::query()
        .with_archive()
        .for_update()
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidQuery(_)), "{err:?}");
    assert!(err.to_string().contains("UNION ALL"), "{err}");
    let err = Order::query()
        .with_archive()
        .for_share()
        .skip_locked()
        .fetch_optional(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidQuery(_)), "{err:?}");
    // Each tier alone locks (and runs).
    let mut tx = begin(pool).await;
    for tiers in [ReadTiers::Hot, ReadTiers::Archive] {
        let rows = Order::query()
            .tiers(tiers)
            .for_update()
            .nowait()
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert!(rows.is_empty());
    }
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn skip_locked_leaves_out_the_row_another_transaction_holds() {
    use futures_util::TryStreamExt;
    let db = shop_db().await;
    let pool = db.pool();
    let all = accounts(pool, 3, 10).await;
    let free_rows = || {
        Account::query()
            .order_by(Account::ID.asc())
            .for_update()
            .skip_locked()
    };

    let mut first = begin(pool).await;
    let held = Account::filter(Account::ID.eq(all[0]))
        .for_update()
        .fetch_one(&mut *first)
        .await
        .unwrap();
    assert_eq!(held.id, all[0]);

    let mut second = begin(pool).await;
    let free = free_rows().fetch_all(&mut *second).await.unwrap();
    assert_eq!(
        ids(&free),
        all[1..],
        "the held row is skipped, not waited for"
    );
    second.rollback().await.unwrap();

    // The stream of a locked select skips it too.
    let mut second = begin(pool).await;
    let streamed: Vec<Account> = free_rows()
        .stream(&mut *second)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&streamed), all[1..]);
    second.rollback().await.unwrap();

    // A queue pop: the first row nobody holds; with the LIMIT only that row is locked, so a
    // third transaction still gets the last one.
    let mut second = begin(pool).await;
    let next = Account::query()
        .order_by(Account::ID.asc())
        .limit(1)
        .for_update()
        .skip_locked()
        .fetch_optional(&mut *second)
        .await
        .unwrap();
    assert_eq!(next.map(|a| a.id), Some(all[1]));
    let mut third = begin(pool).await;
    let free = free_rows().fetch_all(&mut *third).await.unwrap();
    assert_eq!(ids(&free), all[2..]);
    third.rollback().await.unwrap();
    second.rollback().await.unwrap();

    first.rollback().await.unwrap();
    let mut third = begin(pool).await;
    let free = free_rows().fetch_all(&mut *third).await.unwrap();
    assert_eq!(ids(&free), all, "released at rollback");
    third.rollback().await.unwrap();
}

#[tokio::test]
async fn nowait_fails_at_once_with_the_lock_error() {
    let db = shop_db().await;
    let pool = db.pool();
    let all = accounts(pool, 1, 10).await;

    let mut first = begin(pool).await;
    Account::filter(Account::ID.eq(all[0]))
        .for_update()
        .fetch_all(&mut *first)
        .await
        .unwrap();

    let mut second = begin(pool).await;
    let started = Instant::now();
    let err = Account::filter(Account::ID.eq(all[0]))
        .for_update()
        .nowait()
        .fetch_all(&mut *second)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Database(_)), "{err:?}");
    assert!(err.is_lock_timeout(), "{err:?}");
    assert_eq!(err.sqlstate().as_deref(), Some("55P03"));
    assert!(!err.is_retryable(), "a busy row is not retried");
    assert!(started.elapsed() < Duration::from_secs(1), "did not wait");
    second.rollback().await.unwrap();

    // fetch_one and the stream classify it the same way.
    let mut second = begin(pool).await;
    let err = Account::filter(Account::ID.eq(all[0]))
        .for_share()
        .nowait()
        .fetch_one(&mut *second)
        .await
        .unwrap_err();
    assert!(err.is_lock_timeout(), "{err:?}");
    second.rollback().await.unwrap();
    let mut second = begin(pool).await;
    use futures_util::StreamExt;
    let items: Vec<_> = Account::query()
        .for_update()
        .nowait()
        .stream(&mut *second)
        .collect()
        .await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(items[0].as_ref().unwrap_err().is_lock_timeout());
    second.rollback().await.unwrap();
    first.rollback().await.unwrap();
}

#[tokio::test]
async fn lock_strengths_conflict_as_postgres_documents() {
    let db = shop_db().await;
    let pool = db.pool();
    let all = accounts(pool, 1, 10).await;
    let row = || Account::filter(Account::ID.eq(all[0]));

    // FOR NO KEY UPDATE (what a plain UPDATE takes) lets FOR KEY SHARE (a foreign-key check)
    // through, and blocks FOR SHARE.
    let mut first = begin(pool).await;
    row()
        .for_no_key_update()
        .fetch_one(&mut *first)
        .await
        .unwrap();
    let mut second = begin(pool).await;
    row()
        .for_key_share()
        .nowait()
        .fetch_one(&mut *second)
        .await
        .unwrap();
    let err = row()
        .for_share()
        .nowait()
        .fetch_one(&mut *second)
        .await
        .unwrap_err();
    assert!(err.is_lock_timeout(), "{err:?}");
    second.rollback().await.unwrap();
    first.rollback().await.unwrap();

    // FOR SHARE is shared; FOR UPDATE conflicts with it.
    let mut first = begin(pool).await;
    row().for_share().fetch_one(&mut *first).await.unwrap();
    let mut second = begin(pool).await;
    row()
        .for_share()
        .nowait()
        .fetch_one(&mut *second)
        .await
        .unwrap();
    second.rollback().await.unwrap();
    let mut second = begin(pool).await;
    let err = row()
        .for_update()
        .nowait()
        .fetch_one(&mut *second)
        .await
        .unwrap_err();
    assert!(err.is_lock_timeout(), "{err:?}");
    second.rollback().await.unwrap();
    first.rollback().await.unwrap();
}

#[tokio::test]
async fn find_many_for_update_locks_in_key_order_and_answers_in_the_order_asked() {
    let db = shop_db().await;
    let pool = db.pool();
    let all = accounts(pool, 3, 10).await;
    let missing = Uuid::new_v4();
    let asked = [all[2], missing, all[0], all[2]];

    let mut tx = begin(pool).await;
    let rows = Account::find_many_for_update(&mut *tx, &asked)
        .await
        .unwrap();
    let got: Vec<Option<Uuid>> = rows.iter().map(|r| r.as_ref().map(|a| a.id)).collect();
    assert_eq!(got, [Some(all[2]), None, Some(all[0]), Some(all[2])]);
    assert!(Account::find_many_for_update(&mut *tx, &[])
        .await
        .unwrap()
        .is_empty());

    // The two asked rows are held; the third is free.
    let mut other = begin(pool).await;
    let free = Account::query()
        .for_update()
        .skip_locked()
        .fetch_all(&mut *other)
        .await
        .unwrap();
    assert_eq!(ids(&free), [all[1]]);
    other.rollback().await.unwrap();

    // The statement sorts by the key before it locks: the plan's LockRows reads a sorted
    // input (a Sort, or the primary-key index in key order).
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM accounts WHERE (id) IN (($1), ($2)) ORDER BY id FOR UPDATE",
    )
    .bind(all[2])
    .bind(all[0])
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert!(plan[0].starts_with("LockRows"), "{plan:?}");
    assert!(
        plan[1].contains("Sort") || plan[1].contains("Index Scan using accounts_pkey"),
        "{plan:?}"
    );
    tx.rollback().await.unwrap();
}

/// `pg_stat_database.deadlocks` of `db`, once every backend of `application_name` has exited
/// (a backend flushes its counters to the shared statistics when it exits). Backends still
/// there after a second (sqlx's `close` can miss a connection returned while it closes) are
/// terminated, which flushes them too.
async fn deadlocks_after_exit(admin: &PgPool, db: &str, application_name: &str) -> i64 {
    let started = Instant::now();
    loop {
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
        )
        .bind(db)
        .bind(application_name)
        .fetch_one(admin)
        .await
        .unwrap();
        if live == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{live} backends stay"
        );
        if started.elapsed() > Duration::from_secs(1) {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND application_name = $2",
            )
            .bind(db)
            .bind(application_name)
            .execute(admin)
            .await
            .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(admin)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = $1")
        .bind(db)
        .fetch_one(admin)
        .await
        .unwrap()
}

#[tokio::test]
async fn opposite_transfers_lock_in_key_order_without_deadlocks() {
    const TASKS: usize = 16;
    const TRANSFERS: usize = 10;
    let db = shop_db().await;
    let admin = db.pool();
    let all = accounts(admin, 3, 1_000).await;
    let before = deadlocks_after_exit(admin, db.name(), "dbpat_transfers").await;

    // One connection per task, so every task is in a transaction at the same time.
    let config = PoolConfig::default()
        .max_connections(TASKS as u32)
        .acquire_timeout(Duration::from_secs(30));
    let options = config
        .connect_options(db.url())
        .unwrap()
        .application_name("dbpat_transfers");
    let pool = config.pool_options().connect_with(options).await.unwrap();
    let barrier = Arc::new(Barrier::new(TASKS));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (pool, barrier, all) = (pool.clone(), barrier.clone(), all.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut failed = Vec::new();
            for k in 0..TRANSFERS {
                // Even tasks go around the accounts one way, odd tasks the other way.
                let (a, b) = (all[(t + k) % 3], all[(t + k + 1) % 3]);
                let (from, to) = if t % 2 == 0 { (a, b) } else { (b, a) };
                let amount = Decimal::from(1 + (t * TRANSFERS + k) % 7);
                if let Err(err) = transfer_funds(&pool, from, to, amount).await {
                    failed.push(err.to_string());
                }
            }
            failed
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        failures.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    pool.close().await;
    drop(pool);
    let after = deadlocks_after_exit(admin, db.name(), "dbpat_transfers").await;
    eprintln!(
        "{} transfers by {TASKS} tasks in {elapsed:?}: {} failed; pg_stat_database.deadlocks \
         {before} -> {after}",
        TASKS * TRANSFERS,
        failures.len(),
    );
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(after - before, 0, "deadlocks detected");
    let total: Decimal = sqlx::query_scalar("SELECT sum(balance) FROM accounts")
        .fetch_one(admin)
        .await
        .unwrap();
    assert_eq!(total, Decimal::from(3_000), "money is conserved");
}
