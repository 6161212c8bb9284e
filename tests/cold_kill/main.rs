//! The exporter killed mid-run (`kill -9` of an OS process), at each step of an export and at
//! random instants: after every kill, a read over every tier returns exactly the original
//! rows, each once; the next run finishes the job and deletes the killed runs' leftovers.
//!
//! A `harness = false` test: `main` is the orchestrator and, with `--worker <db-url> <dir>
//! <point>`, the exporting process (the orchestrator spawns itself). The worker prints `AT
//! <step>` when it reaches the step it is to be killed at, then waits; the orchestrator kills
//! it with SIGKILL.

#[path = "../support/mod.rs"]
mod support;

use dbpat::tiers::cold::{ColdEvent, ColdHook, ColdOptions, ColdStep, ColdStore};
use dbpat::{Error, Table};
use sqlx::PgPool;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::cold::*;

const ROWS: i64 = 10_000;

/// The kill points, in the order they are tried (each run starts from the state the last
/// kill left).
const POINTS: &[&str] = &[
    "file:1",
    "manifest:1",
    "dropped:1",
    "exported:1",
    "file:1",
    "random:40",
    "random:150",
    "dropped:1",
];

fn step_name(step: &ColdStep) -> &'static str {
    match step {
        ColdStep::Locked => "locked",
        ColdStep::FileWritten { .. } => "file",
        ColdStep::ManifestWritten { .. } => "manifest",
        ColdStep::PartitionDropped { .. } => "dropped",
        ColdStep::Exported { .. } => "exported",
        _ => "other",
    }
}

/// The worker: export to the cutoff, stopping (to be killed) at the `nth` step named `point`.
fn worker(url: &str, dir: &str, point: &str) {
    let (name, nth) = point.split_once(':').unwrap();
    let (name, nth): (String, usize) = (name.to_owned(), nth.parse().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = PgPool::connect(url).await.unwrap();
        let store = ColdStore::local(dir).unwrap();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hook: ColdHook = Arc::new(move |event: ColdEvent| {
            let (name, seen) = (name.clone(), seen.clone());
            Box::pin(async move {
                if step_name(&event.step) == name
                    && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == nth
                {
                    println!("AT {:?}", event.step);
                    tokio::time::sleep(Duration::from_secs(120)).await;
                }
            })
        });
        let options = ColdOptions {
            row_group_rows: 512,
            hook: Some(hook),
            ..ColdOptions::default()
        };
        println!("STARTED");
        match readings()
            .export_cold_with(&pool, &store, utc(2024, 10, 1), &options)
            .await
        {
            Ok(report) => println!("DONE {}", report.rows),
            Err(e) => println!("FAILED {e}"),
        }
    });
}

/// Every row over every tier, as one digest of their `Debug` text in key order, and the count.
async fn all_tiers(pool: &PgPool, store: &ColdStore) -> Result<(usize, String), Error> {
    let rows = Reading::query()
        .order_by(Reading::ID.asc())
        .with_cold(store)
        .fetch_all(pool)
        .await?;
    let text: String = rows.iter().map(|r| format!("{r:?}\n")).collect();
    Ok((rows.len(), format!("{:x}", digest(text.as_bytes()))))
}

fn digest(bytes: &[u8]) -> u128 {
    // FNV-1a, 128-bit: a digest for equality, not for security.
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in bytes {
        h ^= u128::from(*b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

/// Waits until no session of the exporter is left (the server notices the dead client).
async fn exporter_gone(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbpat-cold:readings'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if n == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the killed exporter's session is still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn orchestrate() -> Result<(), String> {
    let db = readings_db().await;
    let pool = db.pool();
    let (dir, store) = local_store();
    load_readings(pool, ROWS).await;
    readings().archive(pool, utc(2024, 10, 1)).await.unwrap();
    let expected = all_tiers(pool, &store).await.unwrap();
    assert_eq!(expected.0 as i64, ROWS);
    let exe = std::env::current_exe().unwrap();
    let mut killed_at = Vec::new();
    for point in POINTS {
        let mut child = Command::new(&exe)
            .args(["--worker", db.url(), dir.path().to_str().unwrap(), point])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "STARTED");
        let at = if let Some(ms) = point.strip_prefix("random:") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
            format!("after {ms} ms")
        } else {
            let line = lines.next().unwrap().unwrap();
            if !line.starts_with("AT ") {
                child.kill().unwrap();
                child.wait().unwrap();
                return Err(format!("{point}: the worker did not stop there: {line}"));
            }
            line
        };
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        exporter_gone(pool).await;
        let got = all_tiers(pool, &store)
            .await
            .map_err(|e| format!("{point}: read failed: {e}"))?;
        let cold = readings().cold_periods(pool).await.unwrap().len();
        println!(
            "cold_kill: killed {point} ({at}): {} rows over every tier, {cold} periods cold",
            got.0
        );
        if got != expected {
            return Err(format!(
                "{point}: {got:?} over every tier, expected {expected:?}"
            ));
        }
        killed_at.push(at);
    }
    // The last run finishes the job and leaves exactly two objects per period.
    let report = readings()
        .export_cold(pool, &store, utc(2024, 10, 1))
        .await
        .unwrap();
    let periods = readings().cold_periods(pool).await.unwrap();
    println!(
        "cold_kill: final run exported {} periods, deleted {} leftovers",
        report.periods.len(),
        report.leftovers_deleted
    );
    assert_eq!(periods.len(), 3, "{periods:?}");
    let files = files_under(dir.path());
    assert_eq!(files.len(), 6, "leftovers remain: {files:?}");
    assert_eq!(all_tiers(pool, &store).await.unwrap(), expected);
    let archive_partitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings_archive'::regclass",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(archive_partitions, 0);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--worker") {
        worker(&args[i + 1], &args[i + 2], &args[i + 3]);
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--list") {
        println!("cold_kill: test");
        return ExitCode::SUCCESS;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    match rt.block_on(orchestrate()) {
        Ok(()) => {
            println!(
                "cold_kill: ok ({} kills, {:.1} s)",
                POINTS.len(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("cold_kill: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
