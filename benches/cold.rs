//! One key's history read from the cold tier, on millions of rows: what the read touches
//! (files, row groups, bytes) and how long it takes, side by side in one run with the same
//! history read from the warm tiers (before the export, through the index on `device`) and
//! from the cold tier without pruning (a filter the pruning cannot read, so every row group of
//! every file is fetched, checked and decoded).
//!
//! `cargo bench --bench cold` loads `DBPAT_BENCH_ROWS` readings (default 2,000,000; the
//! every-column-type model of the cold tests) over 2024, archives Q1-Q3, reads device 7's
//! history (`device = 7 ORDER BY created_at DESC`, every tier) `DBPAT_BENCH_RUNS` times
//! (default 15), exports Q1-Q3 to a local directory sorted by `(device, id)`, then reads the
//! same history from every tier, pruned and unpruned, and one quarter of it. It prints median,
//! min and max wall time, and the cold read's report. Without `--bench` (as `cargo test
//! --all-targets` runs it) it does 3 runs on 20,000 rows.

#[path = "../tests/support/cold.rs"]
mod cold;

use cold::*;
use dbpat::tiers::cold::{ColdOptions, ColdReadReport, ColdStore};
use dbpat::Table;
use sqlx::PgPool;
use std::time::{Duration, Instant};

fn env_or(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(label: &str, mut times: Vec<Duration>, report: Option<&ColdReadReport>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    print!(
        "{label:<48} median {:>9.2} ms  min {:>9.2}  max {:>9.2}",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    if let Some(r) = report {
        print!(
            "  | files {}/{}, row groups {}/{}, {:.1} MiB fetched, {} rows decoded, {} bound",
            r.files_opened,
            r.periods,
            r.row_groups_read,
            r.row_groups,
            r.bytes_read as f64 / 1048576.0,
            r.rows_decoded,
            r.rows_bound
        );
    }
    println!();
}

async fn cold_history(
    pool: &PgPool,
    store: &ColdStore,
    runs: usize,
    query: impl Fn() -> dbpat::query::Select<'static, Reading>,
) -> (Vec<Duration>, ColdReadReport, usize) {
    let mut times = Vec::new();
    let mut last = (ColdReadReport::default(), 0);
    for _ in 0..runs {
        let started = Instant::now();
        let (rows, report) = query()
            .with_cold(store)
            .fetch_all_with_report(pool)
            .await
            .unwrap();
        times.push(started.elapsed());
        last = (report, rows.len());
    }
    (times, last.0, last.1)
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let rows = if benching {
        env_or("DBPAT_BENCH_ROWS", 2_000_000)
    } else {
        20_000
    } as i64;
    let runs = if benching {
        env_or("DBPAT_BENCH_RUNS", 15)
    } else {
        3
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = readings_db().await;
        let pool = db.pool();
        let (_dir, store) = local_store();
        let started = Instant::now();
        load_readings(pool, rows).await;
        readings().archive(pool, utc(2024, 10, 1)).await.unwrap();
        sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await.unwrap();
        println!(
            "cold bench: {rows} readings loaded and Q1-Q3 archived in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        let history = || {
            Reading::query()
                .filter(Reading::DEVICE.eq(7))
                .order_by(Reading::CREATED_AT.desc())
        };
        let mut warm = Vec::new();
        let mut warm_rows = 0;
        for _ in 0..runs {
            let started = Instant::now();
            warm_rows = history()
                .with_archive()
                .fetch_all(pool)
                .await
                .unwrap()
                .len();
            warm.push(started.elapsed());
        }

        let started = Instant::now();
        let options = ColdOptions::default().sort_by(["device", "id"]);
        let exported = readings()
            .export_cold_with(pool, &store, utc(2024, 10, 1), &options)
            .await
            .unwrap();
        let bytes: u64 = exported.periods.iter().map(|p| p.bytes).sum();
        println!(
            "cold bench: exported {} rows in {} periods ({:.1} MiB of Parquet) in {:.1} s",
            exported.rows,
            exported.periods.len(),
            bytes as f64 / 1048576.0,
            started.elapsed().as_secs_f64()
        );

        let (pruned, report, cold_rows) = cold_history(pool, &store, runs, history).await;
        assert_eq!(
            cold_rows, warm_rows,
            "the cold read returns the warm read's rows"
        );
        let (unpruned, unpruned_report, n) = cold_history(pool, &store, runs.min(5), || {
            Reading::query()
                .filter(Reading::DEVICE.eq(7).or(Reading::DEVICE.eq(7)))
                .order_by(Reading::CREATED_AT.desc())
        })
        .await;
        assert_eq!(n, warm_rows);
        let (quarter, quarter_report, _) = cold_history(pool, &store, runs, || {
            history()
                .filter(Reading::CREATED_AT.ge(utc(2024, 4, 1)))
                .filter(Reading::CREATED_AT.lt(utc(2024, 7, 1)))
        })
        .await;

        println!("one device's history ({warm_rows} rows of {rows}), {runs} runs:");
        summary("warm tiers (before the export; index scan)", warm, None);
        summary(
            "every tier, cold pruned by statistics",
            pruned,
            Some(&report),
        );
        summary(
            "every tier, cold unpruned (OR filter)",
            unpruned,
            Some(&unpruned_report),
        );
        summary(
            "one quarter (Q2) of it, every tier",
            quarter,
            Some(&quarter_report),
        );
    });
}
