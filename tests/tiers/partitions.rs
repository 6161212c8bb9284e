//! Partition maintenance against PostgreSQL: `ensure_partitions` (current + ahead, idempotent,
//! concurrent, leaves existing partitions alone) and the typed missing-partition error.

use crate::support::tiers as tiers_support;

use chrono::{DateTime, Utc};
use dbpat::ddl::partition_containing;
use dbpat::model::*;
use dbpat::testing::TestDatabase;
use dbpat::tiers::Tiers;
use dbpat::Error;
use tiers_support::{count, orders, shop_db, utc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_creates_current_and_ahead_once() {
    let (db, user) = shop_db().await;
    let pool = db.pool();
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(pool)
        .await
        .unwrap();
    // Before: an order placed now has no partition (the DDL only made 2025 q1 and q2).
    let insert = || {
        sqlx::query("INSERT INTO orders (user_id, total) VALUES ($1, 10)")
            .bind(user)
            .execute(pool)
    };
    let err = Error::from_write(orders().table(), insert().await.unwrap_err());
    let current = partition_containing("orders", PartitionInterval::Quarter, now);
    assert!(
        matches!(&err, Error::MissingPartition { table, from, .. }
            if table == "orders" && Some(*from) == current.from.start()),
        "{err:?}"
    );

    let first = orders().ensure_partitions(pool, 2).await.unwrap();
    let expected: Vec<String> = (0..3)
        .map(|k| {
            partition_containing(
                "orders",
                PartitionInterval::Quarter,
                current.from.add_months(3 * k).start().unwrap(),
            )
            .name
        })
        .collect();
    assert_eq!(first.created, expected);
    assert!(first.present.is_empty());

    let second = orders().ensure_partitions(pool, 2).await.unwrap();
    assert!(second.created.is_empty(), "{second:?}");
    assert_eq!(second.present, expected);

    let names: Vec<String> = orders()
        .partitions(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    let mut all = vec!["orders_2025_q1".to_owned(), "orders_2025_q2".to_owned()];
    all.extend(expected);
    assert_eq!(names, all);
    insert().await.unwrap();
    assert_eq!(count(pool, "SELECT count(*) FROM orders").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_leaves_existing_partitions_and_their_rows_alone() {
    let (db, user) = shop_db().await;
    let pool = db.pool();
    // A hand-made partition with another name covering 2027 q1, holding a row.
    sqlx::raw_sql(
        "CREATE TABLE orders_legacy PARTITION OF orders
             FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-04-01 00:00:00+00')",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO orders (user_id, total, created_at) VALUES ($1, 5, '2027-02-02')")
        .bind(user)
        .execute(pool)
        .await
        .unwrap();
    let report = orders()
        .ensure_partitions_at(pool, utc(2026, 11, 26), 2)
        .await
        .unwrap();
    assert_eq!(report.created, ["orders_2026_q4", "orders_2027_q2"]);
    assert_eq!(report.present, ["orders_2027_q1"]);
    let parts = orders().partitions(pool).await.unwrap();
    let legacy = parts.iter().find(|p| p.name == "orders_legacy").unwrap();
    assert_eq!(
        (legacy.from, legacy.to),
        (Some(utc(2027, 1, 1)), Some(utc(2027, 4, 1)))
    );
    assert_eq!(count(pool, "SELECT count(*) FROM orders_legacy").await, 1);
    // A period already covered by an older partition (2025 q1 from the DDL) is present too.
    let report = orders()
        .ensure_partitions_at(pool, utc(2025, 2, 1), 0)
        .await
        .unwrap();
    assert_eq!((report.created.len(), report.present.len()), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ensure_creates_each_partition_exactly_once() {
    let (db, _) = shop_db().await;
    let pool = db.pool().clone();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                orders()
                    .ensure_partitions_at(&pool, utc(2026, 8, 1), 3)
                    .await
            })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        created.extend(task.await.unwrap().unwrap().created);
    }
    created.sort();
    assert_eq!(
        created,
        [
            "orders_2026_q3",
            "orders_2026_q4",
            "orders_2027_q1",
            "orders_2027_q2"
        ]
    );
    assert_eq!(orders().partitions(&pool).await.unwrap().len(), 6);
}

/// A monthly-partitioned table, written by hand as the derive would.
static EVENTS: TableDef = TableDef {
    partition: Some(PartitionDef {
        column: "at",
        interval: PartitionInterval::Month,
        first: (2026, 1),
        count: 1,
    }),
    archive: true,
    ..TableDef::new("events", "Event", EVENT_COLUMNS, &["id", "at"])
};
const EVENT_COLUMNS: &[ColumnDef] = &[
    ColumnDef::new("id", "id", SqlType::scalar(BaseType::BigInt))
        .primary_key()
        .generated(Generated::Identity),
    ColumnDef::new("at", "at", SqlType::scalar(BaseType::TimestampTz)).primary_key(),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_partitions_and_the_typed_missing_partition_error() {
    let db = TestDatabase::new().await;
    let pool = db.pool();
    let ddl = dbpat::ddl::render_schema(&[&EVENTS]).unwrap();
    sqlx::raw_sql(&ddl).execute(pool).await.unwrap();
    let events = Tiers::new(&EVENTS);
    let report = events
        .ensure_partitions_at(pool, utc(2026, 12, 15), 2)
        .await
        .unwrap();
    assert_eq!(
        report.created,
        ["events_2026_12", "events_2027_01", "events_2027_02"]
    );

    let insert = |at: &'static str| {
        sqlx::query("INSERT INTO events (at) VALUES ($1::timestamptz)")
            .bind(at)
            .execute(pool)
    };
    insert("2027-02-28 23:59:59.999+00").await.unwrap();
    let err = Error::from_write(&EVENTS, insert("2027-03-01 00:00:00+00").await.unwrap_err());
    match &err {
        Error::MissingPartition { table, from, to } => {
            assert_eq!(table, "events");
            assert_eq!((*from, *to), (utc(2027, 3, 1), utc(2027, 4, 1)));
        }
        other => panic!("expected MissingPartition, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "table `events` has no partition for [2027-03-01 00:00:00 UTC, 2027-04-01 00:00:00 UTC): \
         create it with `ensure_partitions` (or the row belongs in the archive)"
    );
    // In another session time zone, the key is printed with an offset and still maps right.
    let mut tx = pool.begin().await.unwrap();
    sqlx::raw_sql("SET LOCAL TIME ZONE 'Asia/Kolkata'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("INSERT INTO events (at) VALUES ('2025-06-30 23:00:00+00')")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    drop(tx);
    assert!(matches!(
        Error::from_write(&EVENTS, err),
        Error::MissingPartition { from, .. } if from == utc(2025, 6, 1)
    ));
    // Other errors are classified as usual.
    let err =
        sqlx::query("INSERT INTO events (id, at) VALUES (1, '2026-12-01'), (1, '2026-12-01')")
            .execute(pool)
            .await
            .unwrap_err();
    assert!(matches!(
        Error::from_write(&EVENTS, err),
        Error::UniqueViolation { .. }
    ));
    // An unpartitioned model is told so.
    assert!(matches!(
        Tiers::new(&ACCOUNTS)
            .ensure_partitions_at(pool, utc(2026, 1, 1), 1)
            .await,
        Err(Error::NotPartitioned { .. })
    ));
}

static ACCOUNTS: TableDef = <tiers_support::shop::Account as dbpat::Entity>::TABLE;
