//! One worker process: writes its own rows and reads them back through the pool set
//! (read-your-writes) and through the cache (every worker's cached rows), logging what it saw.

use dbpat::cache::{redis, Cache, CacheConfig};
use dbpat::query::{Lsn, PoolSet, ReadPolicy, ReadStats};
use dbpat::{PoolConfig, Table};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A row one worker writes: `n` counts its writes.
#[derive(Debug, Clone, PartialEq, dbpat::Entity, Serialize, Deserialize)]
#[dbpat(table = "marks", cache(ttl = "15m"))]
pub struct Mark {
    #[dbpat(primary_key)]
    pub id: i64,
    pub n: i64,
}

/// The row worker `i` writes through the pool set (and reads back with its tokens).
pub fn direct_row(i: usize) -> i64 {
    1 + i as i64
}

/// The row worker `i` writes through the cache (every worker reads every such row cached).
pub fn cached_row(i: usize) -> i64 {
    1001 + i as i64
}

/// Which run a worker takes part in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Read-your-writes through the pool set, and the cache in front of it (`&PoolSet`).
    PoolSet,
    /// The control: the cache is handed the replica's own `PgPool`, so it fills from it.
    CacheOnReplica,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerConfig {
    pub name: String,
    pub index: usize,
    pub workers: usize,
    pub mode: Mode,
    pub primary_url: String,
    pub replica_url: String,
    pub redis_url: String,
    pub prefix: String,
    pub duration_ms: u64,
    pub out: PathBuf,
}

/// One line of a worker's log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    /// A committed cached write of `row` to `n`, finished at `t_end`.
    Commit { row: i64, n: i64, t_end: u64 },
    /// A cached read of `row` that started at `t_start` and returned `n` (or failed).
    CacheRead {
        row: i64,
        n: Option<i64>,
        t_start: u64,
        error: Option<String>,
    },
    /// A read through the pool set with a token: served by a replica or not, at `t`.
    TokenRead { replica: bool, t: u64 },
}

/// A worker's totals, printed as its last stdout line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Reads with a token through the pool set.
    pub token_reads: u64,
    /// Of those, reads that returned the row as it was before the token's write.
    pub violations: u64,
    /// Reads (with a token, or cached) that failed.
    pub failed_reads: u64,
    /// Writes that failed.
    pub failed_writes: u64,
    /// The pool set's counters at the end.
    pub replica: u64,
    pub primary: u64,
    pub waited: u64,
    pub lagging: u64,
    pub replica_failures: u64,
    pub retried_on_primary: u64,
    /// The first failure seen, if any.
    pub first_error: Option<String>,
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as u64
}

struct Log(BufWriter<std::fs::File>);

impl Log {
    fn push(&mut self, e: &Event) {
        serde_json::to_writer(&mut self.0, e).expect("worker log write");
        self.0.write_all(b"\n").expect("worker log write");
    }
}

/// The worker's entry point (`--worker <config-json>`).
pub fn run(config: WorkerConfig) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let pool_config = PoolConfig::default().max_connections(4);
        let pools = PoolSet::connect(&pool_config, &config.primary_url, &[&config.replica_url])
            .await
            .unwrap_or_else(|e| panic!("{}: cannot connect to the primary: {e}", config.name))
            .with_policy(
                ReadPolicy::new().backoff(Duration::from_millis(100), Duration::from_secs(1)),
            );
        // The same pools and counters; this one waits for the replica (longer than its delay).
        let waiting = pools
            .clone()
            .with_policy(pools.policy().clone().max_wait(Duration::from_secs(1)));
        let replica_pool = pools.replicas().next().expect("one replica").clone();
        let client = redis::Client::open(config.redis_url.as_str()).expect("redis URL");
        let mut cache_config = CacheConfig::new(config.prefix.clone());
        cache_config.restart_grace = Duration::ZERO;
        cache_config.op_timeout = Duration::from_secs(2);
        let cache = Cache::connect(client, cache_config).await;
        let marks = cache.entity::<Mark>();
        let file = std::fs::File::create(&config.out)
            .unwrap_or_else(|e| panic!("{}: cannot create {:?}: {e}", config.name, config.out));
        let mut log = Log(BufWriter::new(file));
        let mut sum = Summary::default();

        println!("ready");
        std::io::stdout().flush().expect("stdout");
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .expect("start time on stdin");
        let start: u64 = line.trim().parse().expect("start time");
        tokio::time::sleep(Duration::from_micros(start.saturating_sub(now_us()))).await;
        let stop = start + config.duration_ms * 1000;

        let direct = direct_row(config.index);
        let own_cached = cached_row(config.index);
        // (commit time, token, n) of this worker's direct writes.
        let mut history: Vec<(u64, Lsn, i64)> = Vec::new();
        let mut n: i64 = 0;
        while now_us() < stop {
            n += 1;
            if config.mode == Mode::PoolSet {
                // Read-your-writes: write, then read back with the token at once (no wait: the
                // primary, the replica being 500 ms behind; every 8th time waiting for the
                // replica), and read back a write of >= 0.7 s ago with its token (the replica).
                let wrote = pools
                    .write(move |c| {
                        Box::pin(
                            async move { Mark::patch(&direct).set(Mark::N, n).execute(c).await },
                        )
                    })
                    .await;
                match wrote {
                    Ok((_, token)) => history.push((now_us(), token, n)),
                    Err(e) => {
                        sum.failed_writes += 1;
                        fail(&mut sum, "direct write", &e);
                    }
                }
                if let Some(&(_, token, wrote_n)) = history.last() {
                    let set = if n % 8 == 0 { &waiting } else { &pools };
                    token_read(set, direct, token, wrote_n, &mut sum, &mut log).await;
                }
                let old = history
                    .iter()
                    .rev()
                    .find(|(t, _, _)| *t + 700_000 < now_us())
                    .copied();
                if let Some((_, token, wrote_n)) = old {
                    token_read(&pools, direct, token, wrote_n, &mut sum, &mut log).await;
                }
            }

            // The cache in front: write own row, read every worker's row.
            let wrote = match config.mode {
                Mode::PoolSet => {
                    marks
                        .patch(&own_cached)
                        .set(Mark::N, n)
                        .execute(&pools)
                        .await
                }
                Mode::CacheOnReplica => {
                    marks
                        .patch(&own_cached)
                        .set(Mark::N, n)
                        .execute(pools.primary())
                        .await
                }
            };
            match wrote {
                Ok(row) => log.push(&Event::Commit {
                    row: own_cached,
                    n: row.n,
                    t_end: now_us(),
                }),
                Err(e) => {
                    sum.failed_writes += 1;
                    fail(&mut sum, "cached write", &e);
                }
            }
            for i in 0..config.workers {
                let row = cached_row(i);
                let t_start = now_us();
                let found = match config.mode {
                    Mode::PoolSet => marks.find(&pools, &row).await,
                    Mode::CacheOnReplica => marks.find(&replica_pool, &row).await,
                };
                let (seen, error) = match found {
                    Ok(Some(m)) => (Some(m.n), None),
                    Ok(None) => (None, Some("row missing".to_owned())),
                    Err(e) => (None, Some(e.to_string())),
                };
                if let Some(e) = &error {
                    sum.failed_reads += 1;
                    fail(&mut sum, "cached read", e);
                }
                log.push(&Event::CacheRead {
                    row,
                    n: seen,
                    t_start,
                    error,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ReadStats {
            replica,
            primary,
            waited,
            lagging,
            replica_failures,
            retried_on_primary,
            ..
        } = pools.stats();
        sum.replica = replica;
        sum.primary = primary;
        sum.waited = waited;
        sum.lagging = lagging;
        sum.replica_failures = replica_failures;
        sum.retried_on_primary = retried_on_primary;
        log.0.flush().expect("worker log flush");
        println!("{}", serde_json::to_string(&sum).expect("summary JSON"));
        std::io::stdout().flush().expect("stdout");
    });
}

fn fail(sum: &mut Summary, what: &str, e: &dyn std::fmt::Display) {
    if sum.first_error.is_none() {
        sum.first_error = Some(format!("{what}: {e}"));
    }
}

/// Reads `row` with `token` through `set`: it must show `wrote_n` or later.
async fn token_read(
    set: &PoolSet,
    row: i64,
    token: Lsn,
    wrote_n: i64,
    sum: &mut Summary,
    log: &mut Log,
) {
    let before = set.stats();
    let read = set
        .read(token, move |c| {
            Box::pin(async move { Mark::find(c, &row).await })
        })
        .await;
    let after = set.stats();
    // A read retried on the primary counts as the primary's.
    let replica =
        after.replica > before.replica && after.retried_on_primary == before.retried_on_primary;
    sum.token_reads += 1;
    match read {
        Ok(Some(m)) if m.n >= wrote_n => {}
        Ok(found) => {
            sum.violations += 1;
            if sum.first_error.is_none() {
                sum.first_error = Some(format!(
                    "read-your-writes violated: wrote n = {wrote_n}, read {found:?} (replica: {replica})"
                ));
            }
        }
        Err(e) => {
            sum.failed_reads += 1;
            if sum.first_error.is_none() {
                sum.first_error = Some(format!("token read: {e}"));
            }
        }
    }
    log.push(&Event::TokenRead {
        replica,
        t: now_us(),
    });
}
