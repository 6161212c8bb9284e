//! Archiving against PostgreSQL: whole partitions and batches, concurrent inserts while it
//! runs, one archiver at a time, an unpartitioned table, and reads across both tiers.

use crate::support::tiers as tiers_support;

use dbpat::model::*;
use dbpat::query::ReadTiers;
use dbpat::testing::TestDatabase;
use dbpat::tiers::{self, ArchiveEvent, ArchiveHook, ArchiveOptions, ArchiveStep, Tiers};
use dbpat::{Error, Table};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tiers_support::shop::Order;
use tiers_support::{both_tiers, count, load_orders, orders, shop_db, utc};
use uuid::Uuid;

/// 2024 q1..q4 with `per_quarter` rows each, plus the current quarter's partition.
async fn four_quarters(pool: &sqlx::PgPool, user: Uuid, per_quarter: i64) {
    orders()
        .ensure_partitions_at(pool, utc(2024, 1, 1), 3)
        .await
        .unwrap();
    orders().ensure_partitions(pool, 0).await.unwrap();
    for q in 0..4 {
        let from = utc(2024, 1 + 3 * q, 1);
        let to = if q == 3 {
            utc(2025, 1, 1)
        } else {
            utc(2024, 4 + 3 * q, 1)
        };
        load_orders(pool, user, from, to, per_quarter).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_moves_old_partitions_whole_and_the_straddling_one_in_batches() {
    let (db, user) = shop_db().await;
    let pool = db.pool();
    four_quarters(pool, user, 2_000).await;
    let before = both_tiers(pool).await;
    let cutoff = utc(2024, 8, 16);
    let old = count(
        pool,
        "SELECT count(*) FROM orders WHERE created_at < '2024-08-16'",
    )
    .await;
    let partial = count(
        pool,
        "SELECT count(*) FROM orders_2024_q3 WHERE created_at < '2024-08-16'",
    )
    .await;
    assert_eq!(before.0, 8_000);
    // The data files and indexes of the partitions that move whole.
    let files = "SELECT string_agg(c.relfilenode::text || ':' || i.indexrelid::text || ':' || ic.relfilenode::text, ',' ORDER BY c.relfilenode, i.indexrelid)
         FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE c.relname IN ('orders_2024_q1', 'orders_2024_q2', 'orders_archive_2024_q1', 'orders_archive_2024_q2')";
    let files_before: String = sqlx::query_scalar(files).fetch_one(pool).await.unwrap();

    let options = ArchiveOptions {
        batch_size: 300,
        ..ArchiveOptions::default()
    };
    let report = orders().archive_with(pool, cutoff, &options).await.unwrap();
    assert_eq!(report.partitions, ["orders_2024_q1", "orders_2024_q2"]);
    // Moved without copying: the same data files and index files, now partitions of the
    // archive (its indexes attached, not rebuilt), renamed to the archive's naming.
    assert_eq!(report.attached, report.partitions);
    assert_eq!(
        report.archive_partitions_created,
        ["orders_archive_2024_q3"]
    );
    let files_after: String = sqlx::query_scalar(files).fetch_one(pool).await.unwrap();
    assert_eq!(files_after, files_before);
    let archived = crate::support::catalog::partitions_of(pool, "orders_archive").await;
    assert_eq!(
        archived,
        [
            "orders_archive_2024_q1",
            "orders_archive_2024_q2",
            "orders_archive_2024_q3"
        ]
    );
    let unattached: i64 = count(
        pool,
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
         WHERE c.relname IN ('orders_archive_2024_q1', 'orders_archive_2024_q2')
           AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)",
    )
    .await;
    assert_eq!(
        unattached, 0,
        "every index of a moved partition is attached"
    );
    assert_eq!(report.partition_rows, 4_000);
    assert_eq!(report.batch_rows, partial as u64);
    assert_eq!(report.batches, (partial as u64).div_ceil(300));
    assert_eq!(report.rows, old as u64);

    // Both tiers together hold exactly the original rows, each once.
    assert_eq!(both_tiers(pool).await, before);
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM orders WHERE created_at < '2024-08-16'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM orders_archive WHERE created_at >= '2024-08-16'"
        )
        .await,
        0
    );
    // The old partitions left the table (moved whole, not emptied row by row); the rest stay.
    let names: Vec<String> = orders()
        .partitions(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(!names
        .iter()
        .any(|n| n == "orders_2024_q1" || n == "orders_2024_q2"));
    assert!(names.iter().any(|n| n == "orders_2024_q3"));
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'orders_2024_q_'"
        )
        .await,
        2
    );

    // Nothing left to do: a second run moves nothing.
    let again = orders().archive(pool, cutoff).await.unwrap();
    assert_eq!((again.rows, again.partitions.len()), (0, 0));

    // Reads: hot by default, archive or both on request, with a bound predicate and a tail.
    let hot = count(pool, "SELECT count(*) FROM orders").await;
    let ids = |tiers| {
        Order::filter(Order::USER_ID.eq(user) & Order::CREATED_AT.ge(utc(2024, 1, 1)))
            .tiers(tiers)
            .order_by(Order::CREATED_AT.asc())
            .limit(100_000)
            .fetch_all(pool)
    };
    assert_eq!(ids(ReadTiers::default()).await.unwrap().len() as i64, hot);
    assert_eq!(
        ids(ReadTiers::Archive).await.unwrap().len() as u64,
        report.rows
    );
    assert_eq!(ids(ReadTiers::All).await.unwrap().len() as i64, before.0);
    // The union is ordered as a whole by the tail.
    let first = Order::query()
        .with_archive()
        .order_by(Order::CREATED_AT.asc())
        .limit(1)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!((first.len(), first[0].created_at), (1, utc(2024, 1, 1)));
    // Aggregates over both tiers take the same typed filters.
    let old_both = Order::filter(Order::CREATED_AT.lt(utc(2024, 8, 16)))
        .with_archive()
        .count(pool)
        .await
        .unwrap();
    assert_eq!(old_both, old);

    // Later, q3 is wholly old, but the archive already holds its first half (moved in
    // batches): it cannot be attached beside it, so its rest is copied in.
    let later = orders().archive(pool, utc(2024, 10, 1)).await.unwrap();
    assert_eq!(later.partitions, ["orders_2024_q3"]);
    assert!(later.attached.is_empty(), "{later:?}");
    assert_eq!(later.rows as i64, 2_000 - partial);
    assert_eq!(both_tiers(pool).await, before);
    assert_eq!(
        count(pool, "SELECT count(*) FROM orders_archive_2024_q3").await,
        2_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inserts_into_the_current_partition_keep_succeeding_while_archive_runs() {
    let (db, user) = shop_db().await;
    let pool = db.pool();
    four_quarters(pool, user, 10_000).await;
    let before = both_tiers(pool).await;
    let done = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let inserters: Vec<_> = (0..4)
        .map(|_| {
            let (pool, done, ok) = (pool.clone(), done.clone(), ok.clone());
            tokio::spawn(async move {
                let mut errors = Vec::new();
                let mut worst = Duration::ZERO;
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match sqlx::query("INSERT INTO orders (user_id, total) VALUES ($1, 1)")
                        .bind(user)
                        .execute(&pool)
                        .await
                    {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                    worst = worst.max(t.elapsed());
                }
                (errors, worst)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let during = ok.load(Ordering::Relaxed);
    let options = ArchiveOptions {
        batch_size: 500,
        ..ArchiveOptions::default()
    };
    let report = orders()
        .archive_with(pool, utc(2024, 11, 15), &options)
        .await
        .unwrap();
    let inserted_while_archiving = ok.load(Ordering::Relaxed) - during;
    done.store(true, Ordering::Relaxed);
    let mut worst = Duration::ZERO;
    for task in inserters {
        let (errors, w) = task.await.unwrap();
        assert!(
            errors.is_empty(),
            "inserts failed during archive: {errors:?}"
        );
        worst = worst.max(w);
    }
    let inserted = ok.load(Ordering::Relaxed) as i64;
    assert_eq!(report.partitions.len(), 3);
    assert!(report.batches > 1, "{report:?}");
    assert!(
        inserted_while_archiving > 0,
        "no insert ran during the archive"
    );
    eprintln!(
        "archive moved {} rows in {} batches + {} partitions; {} inserts succeeded during it, \
         slowest {:?}",
        report.rows,
        report.batches,
        report.partitions.len(),
        inserted_while_archiving,
        worst
    );
    let after = both_tiers(pool).await;
    assert_eq!(after.0, before.0 + inserted);
    assert_eq!(after.0, after.1, "a row is in both tiers");
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM orders WHERE created_at >= now() - interval '1 hour'"
        )
        .await,
        inserted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_archiver_at_a_time() {
    let (db, user) = shop_db().await;
    let pool = db.pool();
    four_quarters(pool, user, 100).await;
    let entered = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let hook: ArchiveHook = {
        let (entered, release) = (entered.clone(), release.clone());
        Arc::new(move |event: ArchiveEvent| {
            let (entered, release) = (entered.clone(), release.clone());
            Box::pin(async move {
                if event.step == ArchiveStep::Locked {
                    entered.notify_one();
                    release.notified().await;
                }
            })
        })
    };
    let first = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let options = ArchiveOptions {
                hook: Some(hook),
                ..ArchiveOptions::default()
            };
            orders()
                .archive_with(&pool, utc(2025, 1, 1), &options)
                .await
        })
    };
    entered.notified().await;
    let app: String = sqlx::query_scalar(
        "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'dbpat-archive:%' AND datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(app, tiers::archiver_application_name(orders().table()));
    let second = orders().archive(pool, utc(2025, 1, 1)).await;
    assert!(
        matches!(&second, Err(Error::ArchiverBusy { table }) if table == "orders"),
        "{second:?}"
    );
    release.notify_one();
    let report = first.await.unwrap().unwrap();
    assert_eq!((report.rows, report.partitions.len()), (400, 4));
    // The lock went with the session: the next run is free to start.
    assert_eq!(
        orders().archive(pool, utc(2025, 1, 1)).await.unwrap().rows,
        0
    );
}

const NOTE_COLUMNS: &[ColumnDef] = &[
    ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt))
        .primary_key()
        .generated(Generated::Identity),
    ColumnDef::new("body", "body", SqlType::scalar(BaseType::Text)),
    ColumnDef::new(
        "created_at",
        "created_at",
        SqlType::scalar(BaseType::TimestampTz),
    )
    .role(ColumnRole::CreatedAt)
    .default(DefaultValue::Expr("NOW()")),
];
static NOTES: TableDef = TableDef {
    archive: true,
    ..TableDef::new("notes", "Note", NOTE_COLUMNS, &["id"])
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpartitioned_table_archives_in_batches_by_created_at() {
    let db = TestDatabase::new().await;
    let pool = db.pool();
    sqlx::raw_sql(&dbpat::ddl::render_schema(&[&NOTES]).unwrap())
        .execute(pool)
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO notes (body, created_at)
         SELECT 'note ' || i, '2024-01-01'::timestamptz + i * interval '1 hour'
         FROM generate_series(1, 1000) AS i",
    )
    .execute(pool)
    .await
    .unwrap();
    let notes = Tiers::new(&NOTES);
    let options = ArchiveOptions {
        batch_size: 128,
        ..ArchiveOptions::default()
    };
    // 2024-01-11 00:00 is hour 240: rows 1..=239 are older.
    let report = notes
        .archive_with(pool, utc(2024, 1, 11), &options)
        .await
        .unwrap();
    assert_eq!((report.rows, report.batches), (239, 2));
    assert!(report.partitions.is_empty());
    assert_eq!(count(pool, "SELECT count(*) FROM notes").await, 761);
    assert_eq!(
        count(pool, "SELECT max(id) FROM notes_archive").await,
        239,
        "identity values are kept"
    );
    assert!(matches!(
        notes.ensure_partitions(pool, 1).await,
        Err(Error::NotPartitioned { .. })
    ));
}
