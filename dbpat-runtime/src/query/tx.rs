//! Transactions that retry on serialization failure and deadlock.

use crate::error::{Error, Result};
use sqlx::{PgConnection, PgPool};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future borrowing for `'a` (what a transaction closure returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The isolation level of a retried transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// PostgreSQL's default.
    ReadCommitted,
    /// `REPEATABLE READ`
    RepeatableRead,
    /// `SERIALIZABLE`
    Serializable,
}

/// How [`transaction_with`] retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (default 5).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time (default 10 ms).
    pub base_delay: Duration,
    /// Upper bound of one delay (default 500 ms).
    pub max_delay: Duration,
    /// Isolation level (default: the server's, READ COMMITTED).
    pub isolation: Option<Isolation>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(500),
            isolation: None,
        }
    }
}

impl RetryPolicy {
    /// SERIALIZABLE with the default retry bounds.
    pub fn serializable() -> Self {
        RetryPolicy {
            isolation: Some(Isolation::Serializable),
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1-based): exponential, capped, with jitter in
    /// `[delay/2, delay]` so that colliding transactions spread out.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let nanos = uuid::Uuid::new_v4().as_u128() as u64;
        let jitter = (nanos % 1000) as f64 / 1000.0;
        capped.mul_f64(0.5 + jitter / 2.0)
    }
}

/// Runs `work` in a transaction with [`RetryPolicy::default`]. See [`transaction_with`].
pub async fn transaction<T, F>(pool: &PgPool, work: F) -> Result<T>
where
    T: Send,
    F: for<'c> FnMut(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send,
{
    transaction_with(pool, &RetryPolicy::default(), work).await
}

/// Runs `work` inside `BEGIN ... COMMIT`; commits if it returns `Ok`, rolls back if it returns
/// `Err`. When the closure or the commit fails with a serialization failure (40001) or a
/// deadlock (40P01), the transaction is rolled back and the closure runs again on a new
/// transaction, up to `policy.max_attempts` times with exponential backoff. Any other error is
/// returned at once. The closure may run several times: keep side effects outside the database
/// out of it.
///
/// ```no_run
/// # async fn demo(pool: &sqlx::PgPool) -> Result<(), dbpat_runtime::Error> {
/// let moved: u64 = dbpat_runtime::query::transaction(pool, |conn| {
///     Box::pin(async move {
///         let done = sqlx::query("UPDATE accounts SET balance = balance - 10 WHERE id = $1")
///             .bind(uuid::Uuid::nil())
///             .execute(&mut *conn)
///             .await?;
///         Ok(done.rows_affected())
///     })
/// })
/// .await?;
/// # let _ = moved; Ok(()) }
/// ```
pub async fn transaction_with<T, F>(pool: &PgPool, policy: &RetryPolicy, mut work: F) -> Result<T>
where
    T: Send,
    F: for<'c> FnMut(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send,
{
    let mut attempt = 1;
    loop {
        let outcome = run_once(pool, policy.isolation, &mut work).await;
        match outcome {
            Err(err) if err.is_retryable() && attempt < policy.max_attempts => {
                let delay = policy.delay(attempt);
                tracing::debug!(
                    attempt,
                    sqlstate = err.sqlstate().unwrap_or_default(),
                    ?delay,
                    "transaction retried after a serialization failure or deadlock"
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn run_once<T, F>(pool: &PgPool, isolation: Option<Isolation>, work: &mut F) -> Result<T>
where
    F: for<'c> FnMut(&'c mut PgConnection) -> BoxFuture<'c, Result<T>>,
{
    let mut tx = pool.begin().await?;
    if let Some(level) = isolation {
        let sql = match level {
            Isolation::ReadCommitted => "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
            Isolation::RepeatableRead => "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            Isolation::Serializable => "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        };
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    match work(&mut tx).await {
        Ok(value) => {
            tx.commit().await.map_err(Error::from)?;
            Ok(value)
        }
        Err(err) => {
            // A failed rollback leaves the connection to the pool, which discards it.
            let _ = tx.rollback().await;
            Err(err)
        }
    }
}
