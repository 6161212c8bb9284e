//! Read replicas, with several OS processes, against the real streaming replica that
//! `scripts/services` starts (`scripts/services.d/pg-replica.sh`: a private primary and a
//! replica of it made with `pg_basebackup -R`, `recovery_min_apply_delay` 500 ms).
//!
//! A `harness = false` test: `main` is the orchestrator and, with `--worker <json>`, one worker
//! process (it spawns itself, `std::env::current_exe()`). Two runs:
//!
//! - `pool_set`: [`WORKERS`] processes for [`RUN`]; each writes its own row through the pool
//!   set and reads it back with the write's token (at once: the primary, the replica being
//!   behind; every 8th time waiting up to 1 s for the replica; and a write of 0.7 s ago: the
//!   replica), and writes its own cached row and reads every worker's cached row through the
//!   cache handed the pool set. Mid-run the replica is stopped (`pg_ctl stop -m immediate`)
//!   and started again. Checked: 0 read-your-writes violations, 0 stale cache reads, 0 failed
//!   reads, reads served by the replica before the stop and after the restart, and by the
//!   primary.
//! - `control_cache_on_replica`: the same cache run with the cache handed the replica's own
//!   `PgPool`: it must show stale reads, or the check above could not see them.
//!
//! `cargo test --test replicas` runs both; `cargo test --test replicas -- control` only the
//! runs whose name contains `control`.

#[path = "../support/mod.rs"]
mod support;

mod worker;

use dbpat::testing::{TestDatabase, TestRedis};
use dbpat::Entity;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use worker::{cached_row, direct_row, now_us, Event, Mark, Mode, Summary, WorkerConfig};

/// Worker processes per run.
const WORKERS: usize = 3;
/// Length of the `pool_set` run, and when the replica is stopped and started again in it.
const RUN: Duration = Duration::from_millis(6000);
const STOP_AT: Duration = Duration::from_millis(2000);
const START_AT: Duration = Duration::from_millis(3500);
/// Length of the control run.
const CONTROL_RUN: Duration = Duration::from_millis(2500);

const HINT: &str = "run `scripts/services` from the repository root: it starts the private \
primary and its streaming replica (scripts/services.d/pg-replica.sh)";

fn services_dir() -> PathBuf {
    match std::env::var_os("DBPAT_SERVICES_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dbpat-services"),
    }
}

fn read_url(name: &str) -> String {
    let path = services_dir().join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => panic!(
            "{} is missing: the replica service is not set up; {HINT}",
            path.display()
        ),
    }
}

fn replica_ctl(action: &str) {
    let ctl = services_dir().join("pg-replica-ctl");
    let status = Command::new(&ctl)
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {HINT}", ctl.display()));
    assert!(
        status.success(),
        "{} {action} failed: {status}",
        ctl.display()
    );
}

/// The test database's URL on another server (same database name).
fn db_url(server: &str, db: &str) -> String {
    let mut url = server
        .rsplit_once('/')
        .expect("a URL with a database")
        .0
        .to_owned();
    url.push('/');
    url.push_str(db);
    url
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--worker") {
        let config = serde_json::from_str(args.get(i + 1).expect("--worker <config-json>"))
            .expect("worker config JSON");
        worker::run(config);
        return ExitCode::SUCCESS;
    }
    let runs: [(&str, Mode, Duration); 2] = [
        ("pool_set", Mode::PoolSet, RUN),
        (
            "control_cache_on_replica",
            Mode::CacheOnReplica,
            CONTROL_RUN,
        ),
    ];
    if args.iter().any(|a| a == "--list") {
        for (name, _, _) in runs {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut failed = 0;
    for (name, mode, length) in runs {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        match rt.block_on(run(name, mode, length)) {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                println!("test {name} ... FAILED\n{why}");
                failed += 1;
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(name: &str, mode: Mode, length: Duration) -> Result<(), String> {
    let primary = read_url("pg-primary.url");
    let replica = read_url("pg-replica.url");
    for (what, url) in [("primary", &primary), ("replica", &replica)] {
        if let Err(e) = sqlx::PgPool::connect(url).await {
            panic!("the private {what} at {url} is not reachable: {e}; {HINT}");
        }
    }
    let db = TestDatabase::on_server(&primary, 4).await;
    let schema = dbpat::ddl::render_schema(&[&Mark::TABLE]).expect("schema renders");
    sqlx::raw_sql(&schema)
        .execute(db.pool())
        .await
        .expect("schema");
    let rows: Vec<i64> = (0..WORKERS)
        .flat_map(|i| [direct_row(i), cached_row(i)])
        .collect();
    sqlx::query("INSERT INTO marks (id, n) SELECT unnest($1::bigint[]), 0")
        .bind(&rows)
        .execute(db.pool())
        .await
        .expect("rows");
    let replica_db = db_url(&replica, db.name());
    wait_for_rows(&replica_db, rows.len() as i64).await;
    let redis = TestRedis::new().await;

    let dir = tempfile::tempdir().expect("temp dir");
    let mut workers: Vec<(String, Child, PathBuf)> = (0..WORKERS)
        .map(|index| {
            let out = dir.path().join(format!("w{index}.jsonl"));
            let config = WorkerConfig {
                name: format!("{name}/w{index}"),
                index,
                workers: WORKERS,
                mode,
                primary_url: db.url().to_owned(),
                replica_url: replica_db.clone(),
                redis_url: dbpat::testing::redis_url(),
                prefix: redis.prefix().to_owned(),
                duration_ms: length.as_millis() as u64,
                out: out.clone(),
            };
            let child = Command::new(std::env::current_exe().expect("test binary"))
                .arg("--worker")
                .arg(serde_json::to_string(&config).expect("config JSON"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("worker process");
            (config.name, child, out)
        })
        .collect();
    let mut stdouts = Vec::new();
    for (wname, child, _) in &mut workers {
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("worker stdout");
        assert_eq!(line.trim(), "ready", "worker {wname} did not start");
        stdouts.push(out);
    }
    let t0 = now_us() + 200_000;
    for (_, child, _) in &mut workers {
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{t0}").expect("worker stdin");
    }
    let start = Instant::now() + Duration::from_micros(t0.saturating_sub(now_us()));
    let (mut stopped_at, mut started_at) = (0u64, 0u64);
    if mode == Mode::PoolSet {
        tokio::time::sleep_until((start + STOP_AT).into()).await;
        stopped_at = now_us();
        replica_ctl("stop");
        tokio::time::sleep_until((start + START_AT).into()).await;
        replica_ctl("start");
        started_at = now_us();
    }
    let mut summaries = Vec::new();
    for ((wname, child, _), mut out) in workers
        .iter_mut()
        .map(|w| (w.0.clone(), &mut w.1, w.2.clone()))
        .zip(stdouts)
    {
        let mut line = String::new();
        out.read_line(&mut line).expect("worker stdout");
        let status = child.wait().expect("worker exit");
        if !status.success() {
            return Err(format!("worker {wname} failed: {status}"));
        }
        let sum: Summary = serde_json::from_str(line.trim())
            .map_err(|e| format!("worker {wname}: bad summary {line:?}: {e}"))?;
        summaries.push((wname, sum));
    }
    let events = read_events(workers.iter().map(|w| w.2.as_path()));
    let report = analyse(&summaries, &events, stopped_at, started_at);
    println!("{}", report.table(name));
    redis.cleanup().await;
    db.drop_now().await;
    report.check(mode)
}

async fn wait_for_rows(url: &str, rows: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(pool) = sqlx::PgPool::connect(url).await {
            let n: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM marks")
                .fetch_one(&pool)
                .await;
            pool.close().await;
            if n.ok() == Some(rows) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not replay the test database within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_events<'a>(paths: impl Iterator<Item = &'a Path>) -> Vec<Event> {
    let mut events = Vec::new();
    for path in paths {
        let file = std::fs::File::open(path).expect("worker log");
        for line in BufReader::new(file).lines() {
            events.push(serde_json::from_str(&line.expect("log line")).expect("log event"));
        }
    }
    events
}

/// What one run measured.
#[derive(Debug, Default)]
struct Report {
    totals: Summary,
    cache_reads: u64,
    stale_cache_reads: u64,
    first_stale: Option<String>,
    /// Token reads served by the replica before the stop, while stopped, after the restart.
    replica_before: u64,
    replica_down: u64,
    replica_after: u64,
    token_primary: u64,
    first_error: Option<String>,
}

fn analyse(
    summaries: &[(String, Summary)],
    events: &[Event],
    stopped: u64,
    started: u64,
) -> Report {
    let mut r = Report::default();
    for (wname, s) in summaries {
        let t = &mut r.totals;
        t.token_reads += s.token_reads;
        t.violations += s.violations;
        t.failed_reads += s.failed_reads;
        t.failed_writes += s.failed_writes;
        t.replica += s.replica;
        t.primary += s.primary;
        t.waited += s.waited;
        t.lagging += s.lagging;
        t.replica_failures += s.replica_failures;
        t.retried_on_primary += s.retried_on_primary;
        if r.first_error.is_none() {
            r.first_error = s.first_error.as_ref().map(|e| format!("{wname}: {e}"));
        }
    }
    // Commits per row, by end time; a cached read is stale if a commit of a larger n ended
    // before it started.
    let mut commits: HashMap<i64, Vec<(u64, i64)>> = HashMap::new();
    for e in events {
        if let Event::Commit { row, n, t_end } = e {
            commits.entry(*row).or_default().push((*t_end, *n));
        }
    }
    for list in commits.values_mut() {
        list.sort_unstable();
    }
    for e in events {
        match e {
            Event::CacheRead {
                row,
                n,
                t_start,
                error: None,
            } => {
                r.cache_reads += 1;
                let list = commits.get(row).map(Vec::as_slice).unwrap_or(&[]);
                let before = list.partition_point(|(t, _)| t < t_start);
                let latest = list[..before].iter().map(|(_, n)| *n).max().unwrap_or(0);
                if n.unwrap_or(0) < latest {
                    r.stale_cache_reads += 1;
                    r.first_stale.get_or_insert_with(|| {
                        format!("row {row}: read {n:?} after n = {latest} had committed")
                    });
                }
            }
            Event::TokenRead { replica: true, t } => {
                if stopped == 0 || *t < stopped {
                    r.replica_before += 1;
                } else if *t < started {
                    r.replica_down += 1;
                } else {
                    r.replica_after += 1;
                }
            }
            Event::TokenRead { replica: false, .. } => r.token_primary += 1,
            _ => {}
        }
    }
    r
}

impl Report {
    fn table(&self, name: &str) -> String {
        let t = &self.totals;
        format!(
            "{name}: {WORKERS} processes\n\
             | token reads | violations | served by replica (before stop / while stopped / after restart) | by primary | waited for replica | lagging checks | replica failures | retried on primary | failed reads | failed writes | cached reads | stale cached reads |\n\
             | {} | {} | {} ({} / {} / {}) | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.token_reads, t.violations,
            self.replica_before + self.replica_down + self.replica_after,
            self.replica_before, self.replica_down, self.replica_after,
            self.token_primary, t.waited, t.lagging, t.replica_failures, t.retried_on_primary,
            t.failed_reads, t.failed_writes, self.cache_reads, self.stale_cache_reads,
        )
    }

    fn check(&self, mode: Mode) -> Result<(), String> {
        let t = &self.totals;
        let mut why = Vec::new();
        let mut expect = |ok: bool, what: String| {
            if !ok {
                why.push(what);
            }
        };
        expect(
            self.cache_reads > 100,
            format!("only {} cached reads", self.cache_reads),
        );
        expect(
            t.failed_writes == 0,
            format!("{} failed writes", t.failed_writes),
        );
        match mode {
            Mode::PoolSet => {
                expect(
                    t.token_reads > 100,
                    format!("only {} token reads", t.token_reads),
                );
                expect(
                    t.violations == 0,
                    format!("{} read-your-writes violations", t.violations),
                );
                expect(
                    t.failed_reads == 0,
                    format!("{} failed reads", t.failed_reads),
                );
                expect(
                    self.stale_cache_reads == 0,
                    format!(
                        "{} stale cached reads ({:?})",
                        self.stale_cache_reads, self.first_stale
                    ),
                );
                expect(
                    self.replica_before > 0,
                    "no read served by the replica before it stopped".into(),
                );
                expect(
                    self.replica_after > 0,
                    "no read served by the replica after it restarted".into(),
                );
                expect(
                    self.token_primary > 0,
                    "no token read served by the primary".into(),
                );
                expect(t.waited > 0, "no read waited for the replica".into());
                expect(
                    t.replica_failures > 0,
                    "the stopped replica was never noticed".into(),
                );
            }
            Mode::CacheOnReplica => expect(
                self.stale_cache_reads > 0,
                "the cache filled from the replica showed no stale read: the check cannot see them"
                    .into(),
            ),
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}\nfirst error: {:?}",
                why.join("\n"),
                self.first_error
            ))
        }
    }
}
