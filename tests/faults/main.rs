//! The cache's guarantee under Redis faults (issue 11), with several OS processes: once a
//! write made through the cache API has committed, no read that starts afterwards, in any
//! process, returns the row as it was before.
//!
//! A `harness = false` test: `main` is the orchestrator and, with `--worker <role> <json>`,
//! one worker process (the orchestrator spawns itself, `std::env::current_exe()`). For each
//! fault the orchestrator starts a private `redis-server` and a fresh PostgreSQL database of
//! `counters` rows, starts 2 writer and 3 reader processes, injects the fault, then reads the
//! workers' records and counts reads, stale reads and failed operations (`analysis`). It
//! prints one table and exits non-zero if any check failed.
//!
//! Each writer owns a hot row, incremented a few ms apart, and [`COLD_ROWS_PER_WRITER`] cold
//! rows, one incremented every [`worker::COLD_WRITE_INTERVAL`] in turn (so each about every
//! 2.4 s, and cached in between). The hot rows alone would prove little: written every few ms,
//! they are rarely cached, and the next write repairs a lost invalidation within ms. A cold
//! row written during a fault and not again for a while is where a lost registration, or an
//! older dataset, shows as stale reads. Readers read every hot row and a few cold rows in turn
//! per round. Each writer takes every write path of the cached handle in turn
//! ([`worker::WritePath`]: intent, update, patch, upsert, update by filter).
//!
//! `cargo test --test faults` runs every fault; `cargo test --test faults -- frozen` only the
//! runs whose name contains `frozen` (`--exact`, `--skip`, `--list`, `--ignored` work as in
//! libtest; other flags are ignored). With `DBPAT_FAULTS_KEEP=1` the workers' files (one JSON
//! line per read and write) are kept and their directory printed.

#[path = "../support/mod.rs"]
mod support;

mod analysis;
mod mode;
mod scenarios;
mod worker;

use analysis::Report;
use dbpat::cache::{redis, Cache};
use dbpat::testing::TestDatabase;
use dbpat::Entity;
use mode::{Mode, MODES_SHARE_A_CONFIG};
use scenarios::Fault;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use support::redis_cluster::PrivateCluster;
use support::redis_server::PrivateRedis;
use worker::{Event, Role, WorkerConfig, PROBE_ID};

/// Writer processes and reader processes.
const WRITERS: usize = 2;
const READERS: usize = 3;
/// Rows per writer besides its hot row: see [`worker::WorkerConfig::cold`].
const COLD_ROWS_PER_WRITER: usize = 16;
/// How long after its planned end a worker may take to exit before it counts as hung.
const EXIT_GRACE: Duration = Duration::from_secs(20);

/// One run: a fault under one cache config, checked as each of `checks`.
struct Run {
    fault: Fault,
    config_mode: Mode,
    checks: Vec<Mode>,
}

impl Run {
    fn name(&self) -> String {
        let modes: Vec<&str> = self.checks.iter().map(|m| m.name()).collect();
        format!("{}/{}", modes.join("+"), self.fault.name())
    }
}

fn runs() -> Vec<Run> {
    if MODES_SHARE_A_CONFIG {
        Fault::ALL
            .iter()
            .map(|&fault| Run {
                fault,
                config_mode: Mode::Strict,
                checks: Mode::ALL.to_vec(),
            })
            .collect()
    } else {
        Mode::ALL
            .iter()
            .flat_map(|&mode| {
                Fault::ALL
                    .iter()
                    // The failover is checked in strict mode only (CI time).
                    .filter(move |f| !(f.on_cluster() && mode == Mode::Available))
                    .map(move |&fault| Run {
                        fault,
                        config_mode: mode,
                        checks: vec![mode],
                    })
            })
            .collect()
    }
}

/// The libtest-style arguments `cargo test` may pass; everything else is ignored.
#[derive(Default)]
struct Args {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
}

impl Args {
    fn parse(args: &[String]) -> Args {
        // libtest options that take a value (`--opt value`; `--opt=value` is one argument).
        const WITH_VALUE: &[&str] = &[
            "--test-threads",
            "--color",
            "--format",
            "--logfile",
            "--shuffle-seed",
            "-Z",
        ];
        let mut a = Args::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--list" => a.list = true,
                "--exact" => a.exact = true,
                "--ignored" => a.ignored_only = true,
                "--skip" => a.skips.extend(it.next().cloned()),
                s if WITH_VALUE.contains(&s) => {
                    it.next();
                }
                s if s.starts_with('-') => {}
                s => a.filters.push(s.to_owned()),
            }
        }
        a
    }

    fn selects(&self, name: &str) -> bool {
        let matches = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        !self.ignored_only
            && (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skips.iter().any(|s| name.contains(s.as_str()))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--worker") {
        let role = args
            .get(i + 1)
            .and_then(|r| Role::parse(r))
            .expect("--worker <writer|reader> <config-json>");
        let config: WorkerConfig = serde_json::from_str(
            args.get(i + 2)
                .expect("--worker <writer|reader> <config-json>"),
        )
        .expect("worker config JSON");
        worker::run(role, config);
        return ExitCode::SUCCESS;
    }

    let args = Args::parse(&args);
    let selected: Vec<Run> = runs()
        .into_iter()
        .filter(|r| args.selects(&r.name()))
        .collect();
    if args.list {
        for r in &selected {
            println!("{}: test", r.name());
        }
        return ExitCode::SUCCESS;
    }
    if selected.is_empty() {
        println!("faults: no run selected");
        return ExitCode::SUCCESS;
    }

    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut reports = Vec::new();
    for run in &selected {
        println!(
            "faults: {} — {} ({:?} of {WRITERS} writers + {READERS} readers)",
            run.name(),
            run.fault.describe(),
            run.fault.duration()
        );
        let run_started = Instant::now();
        reports.extend(rt.block_on(run_one(run)));
        println!("faults: {} took {:.1?}", run.name(), run_started.elapsed());
    }

    println!();
    println!(
        "faults: {} writer and {} reader processes per fault; stale = started after a \
         committed write of a larger n and returned a smaller one; disallowed = stale reads \
         the mode does not allow (available: after an unconfirmed write, up to {:?} after the \
         fault); max staleness = increments behind / time since the first missed commit; \
         last stale = start of the last stale read relative to the fault's end",
        WRITERS,
        READERS,
        mode::AVAILABLE_STALENESS_BOUND
    );
    if MODES_SHARE_A_CONFIG {
        println!(
            "faults: the cache has no write-guarantee setting yet: one run per fault, on \
             today's behaviour, checked against both modes' expectations"
        );
    }
    analysis::print_table(&reports);
    let failed: Vec<&Report> = reports.iter().filter(|r| !r.passed()).collect();
    for r in &failed {
        for f in &r.failures {
            println!("FAIL {}/{}: {f}", r.mode.name(), r.fault.name());
        }
    }
    println!(
        "faults: {} checks, {} failed, {:.1?}",
        reports.len(),
        failed.len(),
        started.elapsed()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One fault under one config: servers, workers, fault, analysis (one report per check mode).
async fn run_one(run: &Run) -> Vec<Report> {
    let fault = run.fault;
    let (mut server, cluster) = if fault.on_cluster() {
        let cluster = tokio::task::spawn_blocking(PrivateCluster::start)
            .await
            .expect("private cluster start");
        (None, Some(cluster))
    } else {
        (Some(PrivateRedis::start().await), None)
    };
    let db = TestDatabase::with_max_connections(2).await;
    let schema = dbpat::ddl::render_schema(&[&worker::Counter::TABLE]).expect("schema renders");
    sqlx::raw_sql(&schema)
        .execute(db.pool())
        .await
        .expect("counters table");
    sqlx::query(
        "INSERT INTO counters (id, n, version) SELECT g, 0, 1 FROM generate_series(1, $1) g",
    )
    .bind((WRITERS * (1 + COLD_ROWS_PER_WRITER)) as i64)
    .execute(db.pool())
    .await
    .expect("counters rows");
    sqlx::query("INSERT INTO counters (id, n, version) VALUES ($1, 0, 1)")
        .bind(RESUME_ID)
        .execute(db.pool())
        .await
        .expect("the resume probe's row");
    let prefix = format!("dbpat-faults:{:016x}:", rand::random::<u64>());

    // The probe id's value key (named by the cache itself) holds a hash. Connecting births the
    // private server's dataset; the workers start once its restart grace is over, so the
    // warm-up fills the cache.
    let config = mode::cache_config(&prefix, run.config_mode);
    let grace = config.restart_grace;
    let cache = match (&server, &cluster) {
        (Some(server), _) => {
            let client = redis::Client::open(server.url()).expect("redis URL");
            Cache::connect(client, config).await
        }
        (_, Some(cluster)) => {
            Cache::connect_cluster(cluster.urls().iter().map(String::as_str), config)
                .await
                .expect("cluster URLs")
        }
        _ => unreachable!(),
    };
    assert!(
        cache.generation().is_some(),
        "the cache did not reach the private Redis"
    );
    tokio::time::sleep(grace).await;
    let probe_key = cache.entity::<worker::Counter>().key(&PROBE_ID);
    match (&server, &cluster) {
        (Some(server), _) => scenarios::set_hash(server, &probe_key).await,
        (_, Some(cluster)) => scenarios::set_hash_on_cluster(cluster.urls(), &probe_key).await,
        _ => unreachable!(),
    }
    // The orchestrator's own handle stays only on a cluster (it measures when caching resumes).
    let cache = cluster.as_ref().map(|_| cache);

    let dir = tempfile::tempdir().expect("temporary directory for the worker files");
    // Hot rows 1..=WRITERS; then each writer's cold rows.
    let hot: Vec<i64> = (1..=WRITERS as i64).collect();
    let cold_of = |w: usize| -> Vec<i64> {
        let first = (WRITERS + w * COLD_ROWS_PER_WRITER) as i64 + 1;
        (first..first + COLD_ROWS_PER_WRITER as i64).collect()
    };
    let mut workers = Vec::new();
    for (role, count) in [(Role::Writer, WRITERS), (Role::Reader, READERS)] {
        for i in 0..count {
            let name = format!("{}-{}", role.name(), i + 1);
            let config = WorkerConfig {
                out: dir.path().join(format!("{name}.jsonl")),
                name,
                db_url: db.url().to_owned(),
                redis_url: server.as_ref().map(PrivateRedis::url).unwrap_or_default(),
                redis_cluster: cluster
                    .as_ref()
                    .map(|c| c.urls().to_vec())
                    .unwrap_or_default(),
                prefix: prefix.clone(),
                mode: run.config_mode,
                hot: match role {
                    Role::Writer => vec![hot[i]],
                    Role::Reader => hot.clone(),
                },
                cold: match role {
                    Role::Writer => cold_of(i),
                    Role::Reader => (0..WRITERS).flat_map(cold_of).collect(),
                },
                duration_ms: fault.duration().as_millis() as u64,
            };
            workers.push(spawn_worker(role, config));
        }
    }
    let workers = tokio::task::spawn_blocking(move || {
        for w in &mut workers {
            w.wait_ready();
        }
        workers
    })
    .await
    .expect("worker start");

    // The common start, shortly after every worker is ready.
    let t0 = worker::now_us() + 100_000;
    let mut workers = workers;
    for w in &mut workers {
        w.start(t0);
    }
    let stop = t0 + fault.duration().as_micros() as u64;
    let (window, resume) = match (&mut server, &cluster, &cache) {
        (Some(server), _, _) => (scenarios::inject(fault, server, t0, &probe_key).await, None),
        (_, Some(cluster), Some(cache)) => {
            let victim_key = cache.entity::<worker::Counter>().key(&hot[0]);
            let probe = tokio::spawn(resume_probe(cache.clone(), db.pool().clone(), stop));
            let (window, _) = scenarios::fail_over(cluster, t0, &victim_key).await;
            (window, Some(probe))
        }
        _ => unreachable!(),
    };
    let deadline = Instant::now()
        + Duration::from_micros(
            (t0 + fault.duration().as_micros() as u64).saturating_sub(worker::now_us()),
        )
        + EXIT_GRACE;
    let worker_failures = tokio::task::spawn_blocking(move || {
        workers
            .iter_mut()
            .filter_map(|w| w.wait_exit(deadline))
            .collect::<Vec<String>>()
    })
    .await
    .expect("worker exit");

    let mut events = Vec::new();
    let mut reader_metrics = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("worker files") {
        let path = entry.expect("worker file").path();
        let is_reader = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("reader"));
        for e in read_events(&path) {
            if is_reader && matches!(e, Event::Metrics { .. }) {
                reader_metrics.push(e.clone());
            }
            events.push(e);
        }
    }
    let resumed = match resume {
        Some(probe) => Some(resumed_after(&probe.await.expect("resume probe"), window)),
        None => None,
    };
    drop(cache);
    drop(server);
    drop(cluster);
    db.drop_now().await;
    if std::env::var_os("DBPAT_FAULTS_KEEP").is_some() {
        println!("faults: worker files kept in {}", dir.keep().display());
    }
    run.checks
        .iter()
        .map(|&mode| {
            let mut report = analysis::analyse(
                mode,
                fault,
                window,
                t0,
                &events,
                &reader_metrics,
                &worker_failures,
            );
            if let Some(resumed) = &resumed {
                match resumed {
                    Ok(text) => println!("faults: {}: {text}", run.name()),
                    Err(failure) => report.failures.push(failure.clone()),
                }
            }
            report
        })
        .collect()
}

/// A row nobody writes, read by the orchestrator's own handle every 10 ms on a cluster run.
const RESUME_ID: i64 = 999_999;

/// One read of [`RESUME_ID`]: when it started (µs), whether it was a cache hit, and the
/// handle's dataset generation after it.
type ResumeSample = (u64, bool, Option<String>);

/// Reads [`RESUME_ID`] through `cache` every 10 ms until `stop` (µs since the epoch).
async fn resume_probe(cache: Cache, pool: sqlx::PgPool, stop: u64) -> Vec<ResumeSample> {
    let counters = cache.entity::<worker::Counter>();
    let mut samples = Vec::new();
    while worker::now_us() < stop {
        let t = worker::now_us();
        let hits = cache.metrics().hits;
        let _ = counters.find(&pool, &RESUME_ID).await;
        samples.push((t, cache.metrics().hits > hits, cache.generation()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    samples
}

/// When caching resumed after the fault started: the first hit in a generation other than
/// the one before the fault (`Err`: a failure, it never did).
fn resumed_after(samples: &[ResumeSample], window: scenarios::Window) -> Result<String, String> {
    let before = samples
        .iter()
        .rev()
        .find(|(t, ..)| *t < window.start)
        .and_then(|(_, _, g)| g.clone());
    let after = |t: u64| (t.saturating_sub(window.start)) as f64 / 1000.0;
    let last_hit_before = samples
        .iter()
        .filter(|(t, hit, _)| *t < window.start && *hit)
        .count();
    let new_generation = samples
        .iter()
        .find(|(t, _, g)| *t >= window.start && g.is_some() && *g != before);
    let resumed = samples
        .iter()
        .find(|(t, hit, g)| *t >= window.start && *hit && g.is_some() && *g != before);
    let hits_in_old = samples
        .iter()
        .filter(|(t, hit, g)| *t >= window.start && *hit && *g == before)
        .count();
    match (resumed, new_generation) {
        (Some((t, ..)), Some((tg, ..))) if last_hit_before > 0 => Ok(format!(
            "caching resumed {:.0} ms after the kill (new dataset generation adopted after \
             {:.0} ms, cluster whole again after {:.0} ms; {hits_in_old} hits in the old \
             generation after the kill)",
            after(*t),
            after(*tg),
            after(window.end)
        )),
        _ => Err(format!(
            "caching did not resume in a new generation after the failover \
             ({last_hit_before} hits before it, {} samples)",
            samples.len()
        )),
    }
}

fn read_events(path: &Path) -> Vec<Event> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    BufReader::new(file)
        .lines()
        .map(|line| {
            let line = line.unwrap_or_else(|e| panic!("{path:?}: {e}"));
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{path:?}: {e}: {line}"))
        })
        .collect()
}

struct WorkerProcess {
    name: String,
    child: Child,
}

fn spawn_worker(role: Role, config: WorkerConfig) -> WorkerProcess {
    let exe = std::env::current_exe().expect("the test binary's path");
    let child = Command::new(exe)
        .arg("--worker")
        .arg(role.name())
        .arg(serde_json::to_string(&config).expect("worker config JSON"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start worker {}: {e}", config.name));
    WorkerProcess {
        name: config.name,
        child,
    }
}

impl WorkerProcess {
    /// Blocks until the worker printed `ready` (panics if it died first).
    fn wait_ready(&mut self) {
        let stdout = self.child.stdout.take().expect("worker stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("worker stdout");
        if line.trim() != "ready" {
            let status = self.child.wait();
            panic!("worker {} did not start: {status:?}", self.name);
        }
    }

    /// Sends the common start time.
    fn start(&mut self, t0: u64) {
        let mut stdin = self.child.stdin.take().expect("worker stdin");
        writeln!(stdin, "{t0}").expect("worker stdin");
    }

    /// Waits for the worker to exit; a failure message if it failed or hung (then killed).
    fn wait_exit(&mut self, deadline: Instant) -> Option<String> {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return None,
                Ok(Some(status)) => return Some(format!("worker {} failed: {status}", self.name)),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Some(format!("worker {} hung; killed", self.name));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Some(format!("worker {}: {e}", self.name)),
            }
        }
    }
}
