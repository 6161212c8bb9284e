//! The cold tier on real PostgreSQL, real files and a real S3-protocol server (moto, from
//! `scripts/services`): export, history reads over every tier, restore, and what a corrupted
//! object or a move into a cold period gets. The exporter killed mid-run is `tests/cold_kill`.

#[path = "../support/mod.rs"]
mod support;

use dbpat::query::ReadTiers;
use dbpat::tiers::cold::{ColdOptions, ColdStore};
use dbpat::{ColdError, Error, Table};
use sqlx::PgPool;
use support::cold::*;

/// Rows of the data set (a quarter is 2,500).
const ROWS: i64 = 10_000;

/// Loads the readings, archives 2024 Q1-Q3 (three archive partitions, attached whole) and
/// returns each archive partition's rows as text.
async fn archived(pool: &PgPool) -> Vec<(String, Vec<String>)> {
    load_readings(pool, ROWS).await;
    let moved = readings().archive(pool, utc(2024, 10, 1)).await.unwrap();
    assert_eq!(moved.attached.len(), 3, "{moved:?}");
    let mut out = Vec::new();
    for p in [
        "readings_archive_2024_q1",
        "readings_archive_2024_q2",
        "readings_archive_2024_q3",
    ] {
        out.push((p.to_owned(), archive_partition_texts(pool, p).await));
    }
    out
}

/// The same rows, field by field (by `Debug`: `ratio` holds NaN, which `==` never equals).
fn assert_same_rows(got: &[Reading], want: &[Reading]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            format!("{g:?}"),
            format!("{w:?}"),
            "a row read from the cold tier differs"
        );
    }
}

/// Export, read over every tier, restore, for one store: every row comes back byte-equal.
async fn round_trip(pool: &PgPool, store: &ColdStore) {
    let before = archived(pool).await;
    let all_before: Vec<Reading> = Reading::query()
        .with_archive()
        .order_by(Reading::ID.asc())
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(all_before.len() as i64, ROWS);

    // Q1 and Q2 go cold; Q3 stays in the archive (not wholly before the second cutoff).
    let report = readings()
        .export_cold_with(
            pool,
            store,
            utc(2024, 7, 1),
            &ColdOptions::default().sort_by(["device", "id"]),
        )
        .await
        .unwrap();
    let exported: Vec<&str> = report
        .periods
        .iter()
        .map(|p| p.partition.as_str())
        .collect();
    assert_eq!(
        exported,
        ["readings_archive_2024_q1", "readings_archive_2024_q2"]
    );
    assert_eq!(report.rows, (before[0].1.len() + before[1].1.len()) as u64);
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'readings_archive'::regclass ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        left,
        ["readings_archive_2024_q3"],
        "exported partitions are dropped"
    );
    let periods = readings().cold_periods(pool).await.unwrap();
    assert_eq!(periods.len(), 2);
    assert_eq!(periods[0].period_from, utc(2024, 1, 1));
    assert_eq!(periods[0].row_count as usize, before[0].1.len());

    // The same typed rows over every tier, as before the export.
    let all_after: Vec<Reading> = Reading::query()
        .order_by(Reading::ID.asc())
        .with_cold(store)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_same_rows(&all_after, &all_before);
    // Archive + cold only.
    let archived_only = Reading::query()
        .tiers(ReadTiers::Archive)
        .with_cold(store)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(
        archived_only.len(),
        before.iter().map(|(_, r)| r.len()).sum::<usize>()
    );

    // Restore both periods: byte-equal rows, the register empty, the objects gone.
    for ((partition, texts), from) in before
        .iter()
        .take(2)
        .zip([utc(2024, 1, 1), utc(2024, 4, 1)])
    {
        let restored = readings().restore_cold(pool, store, from).await.unwrap();
        assert_eq!(&restored.partition, partition);
        assert_eq!(restored.rows as usize, texts.len());
        let after = archive_partition_texts(pool, partition).await;
        assert_eq!(after.len(), texts.len());
        for (a, b) in after.iter().zip(texts) {
            assert_eq!(a, b, "a restored row differs from the exported one");
        }
    }
    assert!(readings().cold_periods(pool).await.unwrap().is_empty());
    let again = Reading::query()
        .order_by(Reading::ID.asc())
        .with_cold(store)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_same_rows(&again, &all_before);
    // A period that is not cold.
    let err = readings()
        .restore_cold(pool, store, utc(2024, 1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Cold(ColdError::NoColdPeriod { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_round_trip_through_a_local_directory_is_byte_equal_for_every_column_type() {
    let db = readings_db().await;
    let (dir, store) = local_store();
    round_trip(db.pool(), &store).await;
    // The restore deleted the period's objects.
    assert!(
        files_under(dir.path()).is_empty(),
        "{:?}",
        files_under(dir.path())
    );
}

#[tokio::test]
async fn a_round_trip_through_s3_is_byte_equal_for_every_column_type() {
    let db = readings_db().await;
    let s3 = s3_store();
    round_trip(db.pool(), &s3.store).await;
    let left = s3.objects().await;
    s3.cleanup().await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_history_read_touches_only_the_periods_and_row_groups_that_can_match() {
    let db = readings_db().await;
    let pool = db.pool();
    let (_dir, store) = local_store();
    archived(pool).await;
    let options = ColdOptions {
        row_group_rows: 256,
        ..ColdOptions::default()
    }
    .sort_by(["device", "id"]);
    let archived_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM readings_archive")
        .fetch_one(pool)
        .await
        .unwrap();
    readings()
        .export_cold_with(pool, &store, utc(2024, 10, 1), &options)
        .await
        .unwrap();
    let all_cold: i64 = readings()
        .cold_periods(pool)
        .await
        .unwrap()
        .iter()
        .map(|p| p.row_count)
        .sum();
    assert_eq!(all_cold, archived_rows);

    // One device's history over every tier: every cold file opened, few row groups read.
    let (rows, report) = Reading::query()
        .filter(Reading::DEVICE.eq(7))
        .order_by(Reading::CREATED_AT.desc())
        .with_cold(&store)
        .fetch_all_with_report(pool)
        .await
        .unwrap();
    assert_eq!(rows.len() as i64, ROWS / DEVICES);
    assert!(rows.iter().all(|r| r.device == 7));
    assert!(
        rows.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "ordered by the union"
    );
    assert_eq!(report.periods, 3);
    assert_eq!(report.files_opened, 3);
    assert!(
        report.row_groups_read * 5 < report.row_groups,
        "statistics pruned few row groups: {report:?}"
    );
    assert_eq!(
        report.rows_bound as usize,
        rows.iter()
            .filter(|r| r.created_at < utc(2024, 10, 1))
            .count()
    );

    // The same device in one quarter: one file opened.
    let (q2, report) = Reading::query()
        .filter(Reading::DEVICE.eq(7))
        .filter(Reading::CREATED_AT.ge(utc(2024, 4, 1)))
        .filter(Reading::CREATED_AT.lt(utc(2024, 7, 1)))
        .with_cold(&store)
        .fetch_all_with_report(pool)
        .await
        .unwrap();
    assert_eq!(report.files_opened, 1, "{report:?}");
    assert_eq!(
        q2.len(),
        rows.iter()
            .filter(|r| r.created_at >= utc(2024, 4, 1) && r.created_at < utc(2024, 7, 1))
            .count()
    );

    // A filter the pruning cannot read (OR) still gets exactly the matching rows.
    let either = Reading::query()
        .filter(Reading::DEVICE.eq(7).or(Reading::DEVICE.eq(8)))
        .with_cold(&store)
        .count_rows(pool)
        .await;
    assert_eq!(either, 2 * ROWS / DEVICES);
    // LIMIT applies to the union.
    let first = Reading::query()
        .order_by(Reading::ID.asc())
        .limit(3)
        .with_cold(&store)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3]);
}

/// `ColdSelect` has no `count`; the tests count the rows they fetch.
trait CountRows {
    async fn count_rows(self, pool: &PgPool) -> i64;
}

impl CountRows for dbpat::tiers::cold::ColdSelect<'_, Reading> {
    async fn count_rows(self, pool: &PgPool) -> i64 {
        self.fetch_all(pool).await.unwrap().len() as i64
    }
}

/// A read over every tier fails with `ColdError::Checksum`.
async fn assert_checksum_error(pool: &PgPool, store: &ColdStore) {
    let err = Reading::query()
        .with_cold(store)
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Cold(ColdError::Checksum { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_corrupted_file_is_a_checksum_error_and_never_rows() {
    let db = readings_db().await;
    let pool = db.pool();
    let (dir, store) = local_store();
    archived(pool).await;
    readings()
        .export_cold(pool, &store, utc(2024, 4, 1))
        .await
        .unwrap();
    let files = files_under(dir.path());
    let data = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "parquet"))
        .unwrap()
        .clone();
    let manifest = files
        .iter()
        .find(|f| f.to_string_lossy().ends_with(".manifest.json"))
        .unwrap()
        .clone();

    // One byte flipped in the middle of the data (a row group).
    let original = std::fs::read(&data).unwrap();
    let mut bytes = original.clone();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(&data, &bytes).unwrap();
    assert_checksum_error(pool, &store).await;
    let err = readings()
        .restore_cold(pool, &store, utc(2024, 1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Cold(ColdError::Checksum { .. })),
        "{err:?}"
    );
    assert_eq!(
        readings().cold_periods(pool).await.unwrap().len(),
        1,
        "nothing restored"
    );

    // The footer corrupted.
    let mut bytes = original.clone();
    let end = bytes.len() - 12;
    bytes[end] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();
    assert_checksum_error(pool, &store).await;

    // The manifest edited (its hash is in the database).
    std::fs::write(&data, &original).unwrap();
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replacen("\"rows\": ", "\"rows\": 1", 1)).unwrap();
    assert_checksum_error(pool, &store).await;
    std::fs::write(&manifest, &text).unwrap();

    // Put back, the period reads and restores.
    let rows = Reading::query()
        .with_cold(&store)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(rows.len() as i64, ROWS);
    readings()
        .restore_cold(pool, &store, utc(2024, 1, 1))
        .await
        .unwrap();
}

#[tokio::test]
async fn moving_rows_into_a_cold_period_is_refused() {
    let db = readings_db().await;
    let pool = db.pool();
    let (_dir, store) = local_store();
    archived(pool).await;
    readings()
        .export_cold(pool, &store, utc(2024, 4, 1))
        .await
        .unwrap();
    // A late row for 2024 Q1 in the table (its partition made again by hand).
    sqlx::raw_sql(
        "CREATE TABLE readings_late PARTITION OF readings FOR VALUES FROM ('2024-01-01+00') TO ('2024-04-01+00')",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO readings_late SELECT * FROM (SELECT 999999::bigint) AS x(id) \
         CROSS JOIN LATERAL (SELECT 0::bigint, gen_random_uuid(), 'gizmo', '{\"color\":\"x\",\"size\":1}'::jsonb, \
         NULL::jsonb, 1.00, NULL::numeric, ARRAY['a'], NULL::bigint[], NULL, 1.0, NULL::real, true, 1::smallint, \
         NULL::int, date '2024-02-02', NULL::timestamptz, '\\x00'::bytea, NULL::uuid, timestamptz '2024-02-02+00') AS y",
    )
    .execute(pool)
    .await
    .unwrap();
    let err = readings()
        .archive(pool, utc(2024, 10, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Cold(ColdError::PeriodIsCold { .. })),
        "{err:?}"
    );
    let still: i64 = sqlx::query_scalar("SELECT count(*) FROM readings_late")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(still, 1, "the row stays where it was");
}

#[tokio::test]
async fn an_unpartitioned_archive_has_no_periods_to_export() {
    let db = readings_db().await;
    let pool = db.pool();
    let (_dir, store) = local_store();
    sqlx::raw_sql(
        "DROP TABLE readings_archive; CREATE TABLE readings_archive (LIKE readings INCLUDING ALL)",
    )
    .execute(pool)
    .await
    .unwrap();
    let err = readings()
        .export_cold(pool, &store, utc(2024, 4, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Cold(ColdError::UnpartitionedArchive { .. })),
        "{err:?}"
    );
}
