//! [`PoolSet`]: one primary and any number of streaming replicas, with read-your-writes.

use super::health::Health;
use super::lsn::Lsn;
use super::policy::ReadPolicy;
use super::reader::{Reader, Served};
use super::stats::{Counters, ReadStats};
use crate::error::{Error, Result};
use crate::query::BoxFuture;
use crate::query::PoolConfig;
use sqlx::{PgConnection, PgPool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// One replica: its pool and its health.
#[derive(Debug)]
struct Replica {
    pool: PgPool,
    health: Health,
}

/// One primary and any number of streaming replicas. Writes and transactions go to the
/// primary ([`PoolSet::primary`], [`PoolSet::write`], [`PoolSet::transaction`]); reads may go
/// to a replica ([`PoolSet::reader`], [`PoolSet::read`]).
///
/// **Read-your-writes.** A write yields a token, the primary's WAL position after its commit
/// ([`Lsn`]). A read made with that token is served by a replica only once the replica has
/// replayed the log up to it (`pg_last_wal_replay_lsn()`, checked on the connection the read
/// then uses), else by the primary: the read waits up to [`ReadPolicy::max_wait`] for a
/// replica, then goes to the primary. So a read with the token of a write always sees that
/// write (and every write committed before it). A read with [`Lsn::ZERO`] may be served by any
/// usable replica, however far behind.
///
/// **Failing replicas are skipped.** A replica that fails to answer the check within
/// [`ReadPolicy::probe_timeout`] is skipped for a pause that doubles with each failure in a
/// row; the read goes to another replica or the primary, so an unreachable replica costs no
/// failed read. With [`PoolSet::read`] a replica that fails *during* the read is also covered:
/// the read runs again on the primary.
///
/// Cheap to clone (pools and health are shared).
///
/// ```no_run
/// # use dbpat_runtime::Table;
/// # async fn demo<User: Table>(user: User) -> Result<(), dbpat_runtime::Error> {
/// use dbpat_runtime::query::{PoolSet, ReadPolicy};
/// use dbpat_runtime::PoolConfig;
/// use std::time::Duration;
///
/// let pools = PoolSet::connect(
///     &PoolConfig::default(),
///     "postgres://app@db-primary/shop",
///     &["postgres://app@db-replica-1/shop", "postgres://app@db-replica-2/shop"],
/// )
/// .await?
/// .with_policy(ReadPolicy::new().max_wait(Duration::from_millis(20)));
///
/// // A write on the primary, and its token (read in the same session after the commit).
/// let (row, token) = pools
///     .write(move |conn| Box::pin(async move { User::insert(conn, &user).await }))
///     .await?;
///
/// // Read it back on a connection from a replica that has replayed `token` (else the primary).
/// let mut reader = pools.reader(token).await?;
/// let again = User::find(&mut *reader, &row.key()).await?;
/// assert!(again.is_some());
/// let n = User::count(&mut *reader).await?;   // the same connection: the same guarantee
/// drop(reader);
///
/// // The same read, run again on the primary if the replica fails during it. The closure
/// // may run twice, so it owns what it needs (as with `dbpat::transaction`).
/// let key = row.key();
/// let again = pools
///     .read(token, move |conn| {
///         let key = key.clone();
///         Box::pin(async move { User::find(conn, &key).await })
///     })
///     .await?;
///
/// // After a write made elsewhere (the cached handle, say): a token of everything so far.
/// let token = pools.token().await?;
/// # let _ = (n, again, token); Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PoolSet {
    primary: PgPool,
    replicas: Vec<Arc<Replica>>,
    policy: ReadPolicy,
    next: Arc<AtomicUsize>,
    counters: Arc<Counters>,
}

impl PoolSet {
    /// A set of `primary` alone (add replicas with [`PoolSet::with_replica`]).
    pub fn new(primary: PgPool) -> Self {
        PoolSet {
            primary,
            replicas: Vec::new(),
            policy: ReadPolicy::default(),
            next: Arc::new(AtomicUsize::new(0)),
            counters: Arc::new(Counters::default()),
        }
    }

    /// Connects to the primary (once, to check its URL) and creates the replicas' pools
    /// lazily, so a replica that is down when the application starts is only skipped. The
    /// replicas' pools do not ping a connection before handing it out: the token check is the
    /// ping.
    pub async fn connect(config: &PoolConfig, primary: &str, replicas: &[&str]) -> Result<Self> {
        let mut set = PoolSet::new(config.connect(primary).await?);
        for url in replicas {
            let pool = config
                .pool_options()
                .test_before_acquire(false)
                .connect_lazy_with(config.connect_options(url)?);
            set = set.with_replica(pool);
        }
        Ok(set)
    }

    /// Adds a replica (index: the number of replicas added before it).
    pub fn with_replica(mut self, pool: PgPool) -> Self {
        self.replicas.push(Arc::new(Replica {
            pool,
            health: Health::default(),
        }));
        self
    }

    /// Sets how reads pick their server.
    pub fn with_policy(mut self, policy: ReadPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The read policy.
    pub fn policy(&self) -> &ReadPolicy {
        &self.policy
    }

    /// The primary's pool: for writes, transactions, and reads that must see the latest
    /// commit of anyone. Any table operation takes it (`User::insert(pools.primary(), &u)`).
    pub fn primary(&self) -> &PgPool {
        &self.primary
    }

    /// The replicas' pools, in the order they were added.
    pub fn replicas(&self) -> impl ExactSizeIterator<Item = &PgPool> {
        self.replicas.iter().map(|r| &r.pool)
    }

    /// Counts of the reads this set (and its clones) served, by where.
    pub fn stats(&self) -> ReadStats {
        self.counters.snapshot()
    }

    /// A token covering every write committed on the primary so far (its current WAL insert
    /// position). Take it after a write made elsewhere — through the cached handle, say —
    /// has returned: a read with it sees that write.
    pub async fn token(&self) -> Result<Lsn> {
        let mut conn = self.primary.acquire().await?;
        Lsn::current(&mut conn).await
    }

    /// Runs `work` on a connection of the primary, then reads the token on that same session:
    /// `work`'s statements (autocommit, or a transaction it committed) are all before it.
    pub async fn write<T, F>(&self, work: F) -> Result<(T, Lsn)>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send,
    {
        let mut conn = self.primary.acquire().await?;
        let value = work(&mut conn).await?;
        let token = Lsn::current(&mut conn).await?;
        Ok((value, token))
    }

    /// [`transaction`](crate::transaction) on the primary (retried on serialization failure
    /// and deadlock), and the token of its commit.
    pub async fn transaction<T, F>(&self, work: F) -> Result<(T, Lsn)>
    where
        T: Send,
        F: for<'c> FnMut(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send,
    {
        let value = crate::query::transaction(&self.primary, work).await?;
        Ok((value, self.token().await?))
    }

    /// A connection for reads that see every write up to `after`: a replica that has
    /// replayed `after` (checked on this connection), else — once [`ReadPolicy::max_wait`]
    /// has passed — the primary. Fails only when the primary cannot give a connection.
    pub async fn reader(&self, after: Lsn) -> Result<Reader> {
        let started = Instant::now();
        let deadline = started + self.policy.max_wait;
        let mut waited = false;
        loop {
            if let Some(reader) = self.try_replicas(after).await {
                self.counters.replica(waited);
                return Ok(reader);
            }
            let now = Instant::now();
            if now >= deadline || self.replicas.is_empty() {
                break;
            }
            waited = true;
            tokio::time::sleep(self.policy.poll_interval.min(deadline - now)).await;
        }
        let conn = self.primary.acquire().await?;
        self.counters.primary();
        Ok(Reader {
            conn,
            served: Served::Primary,
        })
    }

    /// Runs the read `work` on [`PoolSet::reader`]`(after)`. If it fails on a replica with a
    /// connection error, a shutdown (SQLSTATE class 57, 08) or a recovery conflict (40001),
    /// that replica is skipped from now on (with backoff) and `work` runs again on the
    /// primary: a replica failing mid-read costs no failed read. `work` may therefore run
    /// twice; it should only read.
    pub async fn read<T, F>(&self, after: Lsn, mut work: F) -> Result<T>
    where
        T: Send,
        F: for<'c> FnMut(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send,
    {
        let mut reader = self.reader(after).await?;
        let outcome = work(&mut reader).await;
        match (outcome, reader.served) {
            (Err(err), Served::Replica(index)) if replica_failure(&err) => {
                tracing::warn!(replica = index, error = %err, "read failed on a replica; reading from the primary");
                self.mark_failed(index);
                reader.discard();
                self.counters.retried_on_primary();
                let mut conn = self.primary.acquire().await?;
                work(&mut conn).await
            }
            (outcome, _) => outcome,
        }
    }

    /// Tries each usable replica once, in turn from a rotating start: the first one that
    /// has replayed `after` gives the reader.
    async fn try_replicas(&self, after: Lsn) -> Option<Reader> {
        let n = self.replicas.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..n {
            let index = (start + offset) % n;
            let replica = &self.replicas[index];
            if !replica.health.usable(Instant::now()) {
                self.counters.skipped();
                continue;
            }
            let probe = tokio::time::timeout(self.policy.probe_timeout, probe(replica, after));
            match probe.await {
                Ok(Ok(Some(conn))) => {
                    replica.health.succeeded();
                    return Some(Reader {
                        conn,
                        served: Served::Replica(index),
                    });
                }
                Ok(Ok(None)) => {
                    replica.health.succeeded();
                    self.counters.lagging();
                }
                Ok(Err(err)) => {
                    tracing::warn!(replica = index, error = %err, "replica check failed; skipping it");
                    self.mark_failed(index);
                }
                Err(_elapsed) => {
                    tracing::warn!(replica = index, timeout = ?self.policy.probe_timeout, "replica check timed out; skipping it");
                    self.mark_failed(index);
                }
            }
        }
        None
    }

    fn mark_failed(&self, index: usize) {
        self.counters.failed();
        self.replicas[index].health.failed(
            Instant::now(),
            self.policy.backoff_min,
            self.policy.backoff_max,
        );
    }
}

/// A connection to `replica` that has replayed `after`; `None` if it has not yet.
async fn probe(
    replica: &Replica,
    after: Lsn,
) -> Result<Option<sqlx::pool::PoolConnection<sqlx::Postgres>>> {
    let mut conn = replica.pool.acquire().await?;
    if after == Lsn::ZERO {
        return Ok(Some(conn));
    }
    match Lsn::replayed(&mut conn).await {
        Ok(Some(replayed)) if replayed >= after => Ok(Some(conn)),
        Ok(Some(_)) => Ok(None),
        Ok(None) => Err(Error::InvalidQuery(
            "a replica of the pool set is not in recovery (a primary, or promoted)",
        )),
        Err(err) => {
            conn.close_on_drop();
            Err(err)
        }
    }
}

/// Whether a read failed because of the server it ran on, rather than because of the read:
/// the replica went away, is shutting down or starting, or cancelled the read to replay.
fn replica_failure(err: &Error) -> bool {
    let Error::Database(inner) = err else {
        return false;
    };
    match inner.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("57") || c.starts_with("08") || c == "40001"),
        _ => false,
    }
}
