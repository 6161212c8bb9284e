//! One worker process: a writer (owns a hot row and some cold rows and increments them in a
//! loop, a few ms apart, each row through every write path in turn) or a reader (loops `find`
//! over the rows). Each has its own `Cache` handle to the private Redis and its own
//! PostgreSQL pool, and appends one JSON line per operation to its own file, which the
//! orchestrator reads after the run.
//!
//! Protocol with the orchestrator: the worker sets up, prints `ready` on stdout, reads the
//! start time (µs since the epoch) from stdin, runs until `start + duration`, writes its final
//! counters and exits.

use crate::mode::{self, Mode};
use dbpat::cache::{redis, Cache, Cached};
use dbpat::Table;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A row one writer increments: `n` counts its committed writes.
#[derive(Debug, Clone, PartialEq, dbpat::Entity, Serialize, Deserialize)]
#[dbpat(table = "counters", cache(ttl = "15m"))]
pub struct Counter {
    #[dbpat(primary_key)]
    pub id: i64,
    pub n: i64,
    #[dbpat(version)]
    pub version: i64,
}

/// The id every writer also reads each iteration; the orchestrator made its Redis value key a
/// hash, so the read gets `WRONGTYPE` (a reply error in the writer's process). No such row.
pub const PROBE_ID: i64 = 1_000_000;

/// Pause between a writer's iterations.
const WRITE_GAP: Duration = Duration::from_millis(3);
/// Pause between a reader's rounds over the rows.
const READ_GAP: Duration = Duration::from_millis(1);
/// A writer writes one of its cold rows when this long passed since the last one (and the
/// last write was not one): each cold row is written about every `interval x cold rows`,
/// and is cached in between. During a fault, when each write is slow, every other write is a
/// cold one.
pub const COLD_WRITE_INTERVAL: Duration = Duration::from_millis(150);
/// Cold rows a reader reads per round (after every hot row).
const COLD_READS_PER_ROUND: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Writer,
    Reader,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "writer" => Some(Role::Writer),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }
}

/// Everything a worker needs, passed as JSON on its command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerConfig {
    pub name: String,
    pub db_url: String,
    pub redis_url: String,
    /// The seed URLs of a Redis Cluster; when not empty the worker connects to it (and
    /// `redis_url` is unused).
    #[serde(default)]
    pub redis_cluster: Vec<String>,
    pub prefix: String,
    pub mode: Mode,
    /// Writer: its hot row (written every other iteration). Reader: every hot row (read
    /// every round).
    pub hot: Vec<i64>,
    /// Writer: its cold rows (written in turn, one every other iteration). Reader: every
    /// cold row (read in turn, [`COLD_READS_PER_ROUND`] a round).
    pub cold: Vec<i64>,
    pub duration_ms: u64,
    pub out: PathBuf,
}

/// The write paths users have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WritePath {
    /// `begin_write`, own transaction `UPDATE ... SET n = n + 1 RETURNING *`, commit,
    /// `intent.committed(&row)`; the time is taken right after the commit.
    Intent,
    /// The cached handle's `update(&pool, &mut row)`; the time is taken when it returned.
    Update,
    /// The cached handle's `patch(&id).add(N, 1).execute(&pool)`; likewise.
    Patch,
    /// The cached handle's `upsert(&pool, &row).on(Counter::PKEY).do_update(Counter::N)`
    /// (every returned key registered before COMMIT); likewise.
    Upsert,
    /// The cached handle's `filter(ID = id).update().add(N, 1).fetch_all(&pool)`; likewise.
    FilteredUpdate,
}

/// One line of a worker's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Read {
        row: i64,
        /// The `n` returned (`None` on error or when the row was missing).
        n: Option<i64>,
        t_start: u64,
        t_end: u64,
        error: Option<String>,
        /// The writer's read of [`PROBE_ID`] (expected: `Ok(None)`).
        probe: bool,
    },
    Write {
        row: i64,
        /// The row's `n` after the write (the new value when it committed).
        n: i64,
        /// Commit time (intent path) or return time (cached writes), µs since the epoch.
        t: u64,
        path: WritePath,
        ok: bool,
        error: Option<String>,
        /// Redis confirmed the registration ([`mode::registration_confirmed`]).
        confirmed: bool,
        /// The write is in PostgreSQL (for a failed write: found by re-reading the row).
        committed: bool,
    },
    /// The worker's cache counters at the end.
    Metrics {
        hits: u64,
        misses: u64,
        db_loads: u64,
        redis_errors: u64,
        redis_skipped: u64,
        invalidations_deferred: u64,
    },
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as u64
}

fn sleep_until_us(t: u64) -> Duration {
    Duration::from_micros(t.saturating_sub(now_us()))
}

struct Log(BufWriter<std::fs::File>);

impl Log {
    fn push(&mut self, e: &Event) {
        serde_json::to_writer(&mut self.0, e).expect("worker log write");
        self.0.write_all(b"\n").expect("worker log write");
    }
}

/// The worker's entry point (`--worker <role> <config-json>`): runs it and returns.
pub fn run(role: Role, config: WorkerConfig) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&config.db_url)
            .await
            .unwrap_or_else(|e| panic!("{}: cannot connect to PostgreSQL: {e}", config.name));
        let cache_config = mode::cache_config(&config.prefix, config.mode);
        let cache = if config.redis_cluster.is_empty() {
            let client = redis::Client::open(config.redis_url.as_str()).expect("redis URL");
            Cache::connect(client, cache_config).await
        } else {
            Cache::connect_cluster(
                config.redis_cluster.iter().map(String::as_str),
                cache_config,
            )
            .await
            .expect("cluster URLs")
        };
        let counters = cache.entity::<Counter>();
        let file = std::fs::File::create(&config.out)
            .unwrap_or_else(|e| panic!("{}: cannot create {:?}: {e}", config.name, config.out));
        let mut log = Log(BufWriter::new(file));

        // Ready; wait for the common start time.
        println!("ready");
        std::io::stdout().flush().expect("stdout");
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .expect("start time on stdin");
        let start: u64 = line.trim().parse().unwrap_or_else(|_| {
            panic!("{}: bad start time {line:?} on stdin", config.name);
        });
        tokio::time::sleep(sleep_until_us(start)).await;
        let stop = start + config.duration_ms * 1000;

        match role {
            Role::Writer => write_loop(&config, &pool, &cache, &counters, stop, &mut log).await,
            Role::Reader => read_loop(&config, &pool, &counters, stop, &mut log).await,
        }

        let m = cache.metrics();
        log.push(&Event::Metrics {
            hits: m.hits,
            misses: m.misses,
            db_loads: m.db_loads,
            redis_errors: m.redis_errors,
            redis_skipped: m.redis_skipped,
            invalidations_deferred: m.invalidations_deferred,
        });
        log.0.flush().expect("worker log flush");
        pool.close().await;
    });
}

async fn timed_find(pool: &PgPool, counters: &Cached<Counter>, id: i64, probe: bool) -> Event {
    let t_start = now_us();
    let found = counters.find(pool, &id).await;
    let t_end = now_us();
    let (n, error) = match found {
        Ok(Some(row)) => (Some(row.n), None),
        Ok(None) if probe => (None, None),
        Ok(None) => (None, Some("row missing".to_owned())),
        Err(e) => (None, Some(e.to_string())),
    };
    Event::Read {
        row: id,
        n,
        t_start,
        t_end,
        error,
        probe,
    }
}

async fn read_loop(
    config: &WorkerConfig,
    pool: &PgPool,
    counters: &Cached<Counter>,
    stop: u64,
    log: &mut Log,
) {
    let mut cold = config.cold.iter().cycle();
    while now_us() < stop {
        let round = config
            .hot
            .iter()
            .chain(cold.by_ref().take(COLD_READS_PER_ROUND));
        for &id in round.collect::<Vec<_>>() {
            log.push(&timed_find(pool, counters, id, false).await);
        }
        tokio::time::sleep(READ_GAP).await;
    }
}

async fn write_loop(
    config: &WorkerConfig,
    pool: &PgPool,
    cache: &Cache,
    counters: &Cached<Counter>,
    stop: u64,
    log: &mut Log,
) {
    let mut rows = std::collections::HashMap::new();
    for &id in config.hot.iter().chain(&config.cold) {
        let row = Counter::get(pool, &id)
            .await
            .unwrap_or_else(|e| panic!("{}: row {id}: {e}", config.name));
        rows.insert(id, row);
    }
    let mut cold = config.cold.iter().cycle();
    // Each path in turn, per row: the hot row and the cold rows see all of them.
    let paths = [
        WritePath::Intent,
        WritePath::Update,
        WritePath::Intent,
        WritePath::Patch,
        WritePath::Upsert,
        WritePath::FilteredUpdate,
    ];
    let mut writes_of: std::collections::HashMap<i64, usize> = Default::default();
    let mut last_cold = now_us();
    let mut last_was_cold = false;
    while now_us() < stop {
        // The reply error in this process: a read of a key that holds a hash.
        log.push(&timed_find(pool, counters, PROBE_ID, true).await);

        let cold_due = now_us() >= last_cold + COLD_WRITE_INTERVAL.as_micros() as u64;
        let id = if cold_due && !last_was_cold && !config.cold.is_empty() {
            last_cold = now_us();
            last_was_cold = true;
            *cold.next().expect("cold rows")
        } else {
            last_was_cold = false;
            config.hot[0]
        };
        let count = writes_of.entry(id).or_default();
        let path = paths[*count % paths.len()];
        *count += 1;
        let row = rows.get_mut(&id).expect("an owned row");
        let before = cache.metrics();
        let (result, t, confirmed) = match path {
            WritePath::Intent => match mode::begin_write(counters, &id).await {
                Err(e) => (Err(e), now_us(), false),
                Ok(intent) => {
                    let confirmed = mode::registration_confirmed(&before, &cache.metrics());
                    match increment_in_transaction(pool, id).await {
                        Ok(new) => {
                            let t = now_us();
                            intent.committed(&new).await;
                            (Ok(new), t, confirmed)
                        }
                        Err(e) => {
                            intent.abort().await;
                            (Err(e), now_us(), confirmed)
                        }
                    }
                }
            },
            WritePath::Update => {
                let mut next = row.clone();
                next.n += 1;
                let r = counters.update(pool, &mut next).await.map(|()| next);
                let t = now_us();
                (
                    r,
                    t,
                    mode::registration_confirmed(&before, &cache.metrics()),
                )
            }
            WritePath::Patch => {
                let r = counters
                    .patch(&id)
                    .add(Counter::N, 1i64)
                    .execute(pool)
                    .await;
                let t = now_us();
                (
                    r,
                    t,
                    mode::registration_confirmed(&before, &cache.metrics()),
                )
            }
            WritePath::Upsert => {
                let mut next = row.clone();
                next.n += 1;
                let r = counters
                    .upsert(pool, &next)
                    .on(Counter::PKEY)
                    .do_update(Counter::N)
                    .await;
                let t = now_us();
                (
                    r,
                    t,
                    mode::registration_confirmed(&before, &cache.metrics()),
                )
            }
            WritePath::FilteredUpdate => {
                let r = counters
                    .filter(Counter::ID.eq(id))
                    .update()
                    .add(Counter::N, 1i64)
                    .fetch_all(pool)
                    .await
                    .and_then(|rows| {
                        rows.into_iter().next().ok_or(dbpat::Error::NotFound {
                            entity: "Counter",
                            key: id.to_string(),
                        })
                    });
                let t = now_us();
                (
                    r,
                    t,
                    mode::registration_confirmed(&before, &cache.metrics()),
                )
            }
        };
        let event = match result {
            Ok(new) => {
                assert_eq!(new.n, row.n + 1, "{}: the row has one writer", config.name);
                *row = new;
                Event::Write {
                    row: id,
                    n: row.n,
                    t,
                    path,
                    ok: true,
                    error: None,
                    confirmed,
                    committed: true,
                }
            }
            Err(e) => {
                // Did it commit anyway? Re-read the row from PostgreSQL (not the cache).
                let fresh = Counter::get(pool, &id)
                    .await
                    .unwrap_or_else(|e| panic!("{}: row {id}: {e}", config.name));
                let committed = fresh.n > row.n;
                *row = fresh;
                Event::Write {
                    row: id,
                    n: row.n,
                    t,
                    path,
                    ok: false,
                    error: Some(e.to_string()),
                    confirmed,
                    committed,
                }
            }
        };
        log.push(&event);
        tokio::time::sleep(WRITE_GAP).await;
    }
}

/// The explicit path's own transaction: `UPDATE ... SET n = n + 1 ... RETURNING *`, commit.
async fn increment_in_transaction(pool: &PgPool, id: i64) -> Result<Counter, dbpat::Error> {
    let mut tx = pool.begin().await?;
    let row: Counter = sqlx::query_as(
        "UPDATE counters SET n = n + 1, version = version + 1 WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}
