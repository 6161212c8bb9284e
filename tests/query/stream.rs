//! `Select::stream` on the real PostgreSQL: the same rows as `fetch_all` (hot table, archive,
//! both tiers), the same error classification per row (`Decode`) and for a query that cannot
//! run (`InvalidQuery`, `NoArchive`), and constant memory: 1,000,000 rows over both tiers,
//! streamed in one child process and collected by `fetch_all` in another, each reporting its
//! peak RSS (`VmHWM`) growth.

use crate::support::query as query_common;

use dbpat::{Entity, Error, Table};
use futures_util::{StreamExt, TryStreamExt};
use query_common::*;
use sqlx::PgPool;
use std::time::Instant;

/// A small entity with an archive tier: about 100 bytes per decoded row (48 inline, the label's
/// 26 bytes on the heap plus the allocator's overhead).
#[derive(Debug, Clone, PartialEq, Entity)]
#[dbpat(table = "readings", archive)]
pub struct Reading {
    #[dbpat(primary_key)]
    pub id: i64,
    pub sensor: i32,
    pub value: f64,
    pub label: String,
}

/// The rows of the memory test, half in `readings`, half in `readings_archive`.
const ROWS: i64 = 1_000_000;
/// Every label is `sensor-NNN/reading-NNNNNNN`: 26 bytes.
const LABEL_LEN: usize = 26;

async fn readings_db() -> dbpat::testing::TestDatabase {
    let db = dbpat::testing::TestDatabase::new().await;
    let ddl = dbpat::ddl::render_schema(&[&Reading::TABLE]).unwrap();
    sqlx::raw_sql(&ddl).execute(db.pool()).await.unwrap();
    db
}

/// Rows `1..=n`, the first half in the hot table and the rest in the archive, in one statement.
async fn seed(pool: &PgPool, n: i64) {
    sqlx::query(
        "WITH s AS (
             SELECT i, (i % 1000)::int AS sensor, i * 0.5 AS value,
                    format('sensor-%s/reading-%s', lpad((i % 1000)::text, 3, '0'),
                           lpad(i::text, 7, '0')) AS label
             FROM generate_series(1, $1::bigint) AS i),
         hot AS (INSERT INTO readings (id, sensor, value, label)
                 SELECT * FROM s WHERE i <= $1 / 2)
         INSERT INTO readings_archive (id, sensor, value, label)
         SELECT * FROM s WHERE i > $1 / 2",
    )
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn streams_the_rows_fetch_all_returns_over_every_tier() {
    let db = readings_db().await;
    let pool = db.pool();
    seed(pool, 1_000).await;
    for tiers in [
        dbpat::query::ReadTiers::Hot,
        dbpat::query::ReadTiers::Archive,
        dbpat::query::ReadTiers::All,
    ] {
        let query = || {
            Reading::filter(Reading::SENSOR.lt(500))
                .tiers(tiers)
                .order_by(Reading::ID.desc())
                .limit(700)
        };
        let all = query().fetch_all(pool).await.unwrap();
        let streamed: Vec<Reading> = query().stream(pool).try_collect().await.unwrap();
        assert!(!all.is_empty());
        assert_eq!(streamed, all, "{tiers:?}");
    }
    // Keyset pagination and a connection in a transaction work the same.
    let mut tx = pool.begin().await.unwrap();
    let first = Reading::get(&mut *tx, &10).await.unwrap();
    let page: Vec<Reading> = Reading::query()
        .order_by(Reading::ID.asc())
        .after(&first)
        .limit(3)
        .stream(&mut *tx)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [11, 12, 13]);
    tx.rollback().await.unwrap();
    // Dropping a stream early gives its connection back to the pool.
    for _ in 0..20 {
        let mut rows = Reading::query().with_archive().stream(pool);
        rows.next().await.unwrap().unwrap();
    }
    assert_eq!(
        Reading::query().with_archive().count(pool).await.unwrap(),
        1_000
    );
}

#[tokio::test]
async fn streamed_errors_are_classified_like_fetch_all() {
    let db = shop_db().await;
    let pool = db.pool();
    Gadget::insert_many(pool, &(0..5).map(gadget).collect::<Vec<_>>())
        .await
        .unwrap();
    // Row 2's JSONB does not fit `Spec`.
    sqlx::query("UPDATE gadgets SET spec = '{\"color\": 1}' WHERE small = 2")
        .execute(pool)
        .await
        .unwrap();
    let query = || Gadget::query().order_by(Gadget::SMALL.asc());
    let err = query().fetch_all(pool).await.unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    let items: Vec<_> = query().stream(pool).collect().await;
    assert_eq!(items.len(), 5, "one item per row");
    for (i, item) in items.iter().enumerate() {
        match item {
            Err(Error::Decode(_)) if i == 2 => {}
            Ok(g) if i != 2 => assert_eq!(g.small, i as i16),
            other => panic!("row {i}: {other:?}"),
        }
    }

    // A query that cannot run is the stream's only item, with fetch_all's error.
    let items: Vec<_> = Gadget::query()
        .after(&items[0].as_ref().unwrap().clone())
        .stream(pool)
        .collect()
        .await;
    assert!(
        matches!(items[..], [Err(Error::InvalidQuery(_))]),
        "{items:?}"
    );
    let items: Vec<_> = Gadget::query().with_archive().stream(pool).collect().await;
    assert!(
        matches!(items[..], [Err(Error::NoArchive { .. })]),
        "{items:?}"
    );
}

/// `VmHWM` (peak resident set) of this process, in kB.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The child side of [`streaming_a_million_rows_runs_in_constant_memory`]: with
/// `DBPAT_STREAM_CHILD=stream|fetch_all` and `DBPAT_STREAM_URL`, reads every row of both
/// tiers one way and prints `rss mode=.. rows=.. sum=.. before_kb=.. after_kb=.. ms=..`.
/// Run on its own (no child variables) it checks on 1,000 seeded rows that the stream and
/// `fetch_all` return the same rows.
#[test]
fn rss_child() {
    let (Ok(mode), Ok(url)) = (
        std::env::var("DBPAT_STREAM_CHILD"),
        std::env::var("DBPAT_STREAM_URL"),
    ) else {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let db = readings_db().await;
            seed(db.pool(), 1_000).await;
            let query = Reading::query().with_archive();
            let streamed: Vec<Reading> = query.stream(db.pool()).try_collect().await.unwrap();
            let fetched = Reading::query()
                .with_archive()
                .fetch_all(db.pool())
                .await
                .unwrap();
            assert_eq!(streamed.len(), 1_000);
            let ids = |rows: &[Reading]| {
                let mut v: Vec<i64> = rows.iter().map(|r| r.id).collect();
                v.sort_unstable();
                v
            };
            assert_eq!(ids(&streamed), ids(&fetched));
        });
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        // Warm up the connection and the statement path before the baseline.
        Reading::query().limit(1).fetch_all(&pool).await.unwrap();
        let before = peak_rss_kb();
        let started = Instant::now();
        let query = Reading::query().with_archive();
        let (rows, sum) = match mode.as_str() {
            "stream" => {
                let mut rows = query.stream(&pool);
                let (mut n, mut sum) = (0i64, 0i64);
                while let Some(row) = rows.try_next().await.unwrap() {
                    n += 1;
                    sum += row.id + row.label.len() as i64;
                }
                (n, sum)
            }
            "fetch_all" => {
                let rows = query.fetch_all(&pool).await.unwrap();
                let sum = rows.iter().map(|r| r.id + r.label.len() as i64).sum();
                (rows.len() as i64, sum)
            }
            other => panic!("unknown mode {other}"),
        };
        let after = peak_rss_kb();
        println!(
            "rss mode={mode} rows={rows} sum={sum} before_kb={before} after_kb={after} ms={}",
            started.elapsed().as_millis()
        );
    });
}

/// Starts a child that reads every row with `mode` (see [`rss_child`]).
fn spawn_child(mode: &str, url: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stream::rss_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DBPAT_STREAM_CHILD", mode)
        .env("DBPAT_STREAM_URL", url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A child's report: (rows, sum, peak RSS growth in kB, milliseconds).
fn child_report(mode: &str, child: std::process::Child) -> (i64, i64, u64, u64) {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{mode} child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("rss mode=").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no report from the {mode} child:\n{stdout}"));
    let field = |name: &str| -> i64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    let growth = (field("after_kb") - field("before_kb")) as u64;
    (field("rows"), field("sum"), growth, field("ms") as u64)
}

#[tokio::test]
async fn streaming_a_million_rows_runs_in_constant_memory() {
    let db = readings_db().await;
    let started = Instant::now();
    seed(db.pool(), ROWS).await;
    let seeded = started.elapsed();

    // What holding every decoded row takes at the least: the rows themselves and their
    // labels' bytes (no allocator overhead, no Vec slack).
    let need_kb = ROWS as u64 * (std::mem::size_of::<Reading>() + LABEL_LEN) as u64 / 1024;
    let expected_sum = ROWS * (ROWS + 1) / 2 + ROWS * LABEL_LEN as i64;

    // One process each, so that one's peak does not hide the other's; run side by side.
    let streaming = spawn_child("stream", db.url());
    let collecting = spawn_child("fetch_all", db.url());
    let (rows, sum, stream_kb, stream_ms) = child_report("stream", streaming);
    assert_eq!((rows, sum), (ROWS, expected_sum), "every row, once");
    let (rows, sum, fetch_kb, fetch_ms) = child_report("fetch_all", collecting);
    assert_eq!((rows, sum), (ROWS, expected_sum));
    eprintln!(
        "{ROWS} rows over both tiers (seeded in {seeded:?}); the decoded rows need at least \
         {} MB: stream peak RSS +{:.1} MB in {stream_ms} ms, fetch_all +{:.1} MB in {fetch_ms} ms",
        need_kb / 1024,
        stream_kb as f64 / 1024.0,
        fetch_kb as f64 / 1024.0,
    );
    assert!(
        fetch_kb >= need_kb,
        "the measurement sees rows that are held: fetch_all grew {fetch_kb} kB < {need_kb} kB"
    );
    assert!(
        stream_kb < need_kb / 8 && stream_kb < 16 * 1024,
        "streaming grew {stream_kb} kB: not constant memory (the rows need {need_kb} kB)"
    );
}
