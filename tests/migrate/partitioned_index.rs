//! Indexes added to an existing partitioned table are built online: `CREATE INDEX ... ON ONLY`
//! the parent, one `CREATE INDEX CONCURRENTLY` per partition of the model in a
//! `-- no-transaction` file, then every partition's copy attached (a partition the model does
//! not list is built at the end). Checked against whatever partitions exist when the migration
//! runs (one archived away by `dbpat::tiers`, two created by it), against a fresh build, and
//! measured: inserts into a 1,000,000-row table go on while the migration runs, compared with
//! the blocking `CREATE INDEX` dbpat wrote before.

use crate::support::migrate as migrate_support;

use dbpat::ddl::partition_containing;
use dbpat::migrate::{self, FileKind, MigrationOutcome};
use dbpat::model::PartitionInterval;
use dbpat::testing::TestDatabase;
use dbpat::tiers::Tiers;
use migrate_support::*;
use sqlx::{Connection, PgConnection, PgPool};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod before {
    use chrono::{DateTime, Utc};
    use dbpat::Entity;
    use uuid::Uuid;

    #[derive(Entity)]
    #[dbpat(table = "readings", archive)]
    #[dbpat(partition(by = at, interval = month, from = "2025-01-01", count = 3))]
    pub struct Reading {
        #[dbpat(primary_key)]
        pub id: Uuid,
        #[dbpat(primary_key)]
        pub at: DateTime<Utc>,
        pub sensor: i64,
        pub note: String,
    }

    pub fn tables() -> [&'static dbpat::model::TableDef<'static>; 1] {
        [&Reading::TABLE]
    }
}

mod after {
    use chrono::{DateTime, Utc};
    use dbpat::Entity;
    use uuid::Uuid;

    #[derive(Entity)]
    #[dbpat(table = "readings", archive)]
    #[dbpat(partition(by = at, interval = month, from = "2025-01-01", count = 3))]
    #[dbpat(index(sensor, at desc))]
    #[dbpat(index(unique, sensor, at))]
    #[dbpat(index(note, where = "note <> '%'"))]
    pub struct Reading {
        #[dbpat(primary_key)]
        pub id: Uuid,
        #[dbpat(primary_key)]
        pub at: DateTime<Utc>,
        pub sensor: i64,
        pub note: String,
    }

    pub fn tables() -> [&'static dbpat::model::TableDef<'static>; 1] {
        [&Reading::TABLE]
    }
}

fn at(y: i32, m: u32, d: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

async fn scalar_i64(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The names of the indexes attached to the parent index `index`, by partition.
async fn attached(pool: &PgPool, index: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT c.indrelid::regclass::text, c.indexrelid::regclass::text
         FROM pg_inherits x JOIN pg_index c ON c.indexrelid = x.inhrelid
         WHERE x.inhparent = $1::regclass ORDER BY 1",
    )
    .bind(index)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn valid(pool: &PgPool, index: &str) -> bool {
    sqlx::query_scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = $1::regclass")
        .bind(index)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_indexes_are_built_per_partition_whatever_partitions_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    migrate::write_migration(
        &dir,
        "init",
        &before::tables(),
        migrate::WriteOptions::default(),
    )
    .unwrap();
    let db = TestDatabase::new().await;
    apply_folder(&dir, db.pool()).await;
    sqlx::raw_sql(
        "INSERT INTO readings (at, sensor, note)
         SELECT '2025-01-01Z'::timestamptz + g * interval '1 hour', g, 'n' || g
         FROM generate_series(0, 24 * 89) g;",
    )
    .execute(db.pool())
    .await
    .unwrap();
    // What the day of the migration holds, not the model: January archived away (its
    // partition dropped), April and May created by the tiers maintenance.
    let tiers = Tiers::of::<before::Reading>();
    let moved = tiers.archive(db.pool(), at(2025, 2, 1)).await.unwrap();
    assert_eq!(moved.partitions, ["readings_2025_01"]);
    tiers
        .ensure_partitions_at(db.pool(), at(2025, 4, 10), 1)
        .await
        .unwrap();
    // And the current month's, where the writes go: the migration is written for it.
    let now = chrono::Utc::now();
    tiers.ensure_partitions_at(db.pool(), now, 0).await.unwrap();
    let current = partition_containing("readings", PartitionInterval::Month, now).name;
    sqlx::raw_sql(
        "INSERT INTO readings (at, sensor, note)
         SELECT '2025-04-01Z'::timestamptz + g * interval '1 hour', 100000 + g, 'n' || g
         FROM generate_series(0, 24 * 30) g;
         INSERT INTO readings (at, sensor, note)
         SELECT now() - g * interval '1 second', 200000 + g, 'now' FROM generate_series(0, 99) g;",
    )
    .execute(db.pool())
    .await
    .unwrap();

    let new = after::tables();
    let MigrationOutcome::Written { files, plan } =
        migrate::write_migration(&dir, "indexes", &new, migrate::WriteOptions::default()).unwrap()
    else {
        panic!("the new indexes are a change");
    };
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for (i, n) in names.iter().enumerate() {
        eprintln!("==== {n}\n{}", texts[i]);
    }
    // File 1: the parent indexes ON ONLY; a concurrent file per index and partition of the
    // model or of the four months around today (3 x 7), plus the archive's three copies; then
    // the validation file attaching them.
    let main = &texts[0];
    assert_eq!(plan.files[0].kind, FileKind::Main);
    for index in [
        "idx_readings_sensor_at",
        "idx_readings_sensor_at_uniq",
        "idx_readings_note_where_note",
    ] {
        assert!(
            main.contains(&format!("INDEX {index} ON ONLY readings ")),
            "{index}: {main}"
        );
    }
    assert!(!main.contains("CONCURRENTLY"), "{main}");
    let concurrent: Vec<usize> = (0..files.len())
        .filter(|&i| plan.files[i].kind == FileKind::ConcurrentIndex)
        .collect();
    assert_eq!(concurrent.len(), 24, "{names:#?}");
    for &i in &concurrent {
        assert!(texts[i].starts_with("-- no-transaction\n"), "{}", texts[i]);
        assert_eq!(plan.files[i].statements.len(), 1);
        let sql: String = texts[i].lines().filter(|l| !l.starts_with("--")).collect();
        assert_eq!(sql.matches(';').count(), 1, "{}", texts[i]);
        if names[i].contains("_index_readings_archive_") {
            // The archive is partitioned like its table: PostgreSQL builds no index on it
            // concurrently, so its copy is built plainly, in a file of its own.
            assert!(
                !sql.contains("CONCURRENTLY") && sql.contains("INDEX ON readings_archive "),
                "{}",
                texts[i]
            );
        } else {
            assert!(sql.contains("CONCURRENTLY"), "{}", texts[i]);
        }
    }
    for partition in [
        "readings_2025_01",
        "readings_2025_02",
        "readings_2025_03",
        current.as_str(),
    ] {
        let file = names
            .iter()
            .position(|n| n.ends_with(&format!("_index_{partition}_idx_readings_sensor_at.sql")))
            .unwrap_or_else(|| panic!("{partition}: {names:#?}"));
        assert!(texts[file].contains(&format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {partition}_idx_readings_sensor_at ON {partition} (sensor, at DESC);"
        )), "{}", texts[file]);
    }
    let last = texts.last().unwrap();
    assert_eq!(plan.files.last().unwrap().kind, FileKind::Validate);
    assert!(last.contains("ATTACH PARTITION"), "{last}");

    // sqlx's migrator applies them; the database then equals the models.
    apply_folder(&dir, db.pool()).await;
    assert_eq!(
        migrate::check_database(db.url(), &new).await.unwrap(),
        vec![]
    );
    assert_eq!(
        scalar_i64(
            db.pool(),
            "SELECT count(*) FROM pg_class WHERE relname = 'readings_2025_01'
                OR (relname ~ '^readings_20[0-9]{2}_[0-9]{2}$' AND NOT relispartition)"
        )
        .await,
        0,
        "the placeholders (archived January, months around today not created) are dropped"
    );
    for index in [
        "idx_readings_sensor_at",
        "idx_readings_sensor_at_uniq",
        "idx_readings_note_where_note",
    ] {
        assert!(valid(db.pool(), index).await, "{index} is invalid");
        let copies = attached(db.pool(), index).await;
        let partitions: Vec<&str> = copies.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            partitions,
            [
                "readings_2025_02",
                "readings_2025_03",
                "readings_2025_04",
                "readings_2025_05",
                current.as_str(),
            ],
            "{index}"
        );
        // The model's partitions and the current month's got the concurrently built copies;
        // April and May, created by tiers, got theirs from the validation file.
        assert_eq!(copies[0].1, format!("readings_2025_02_{index}"));
        assert_eq!(copies[1].1, format!("readings_2025_03_{index}"));
        assert!(
            !copies[2].1.starts_with("readings_2025_04_idx"),
            "{copies:?}"
        );
        assert!(
            !copies[3].1.starts_with("readings_2025_05_idx"),
            "{copies:?}"
        );
        assert_eq!(copies[4].1, format!("{current}_{index}"));
    }
    // The unique index holds.
    let dup = sqlx::raw_sql(
        "INSERT INTO readings (at, sensor, note) VALUES ('2025-02-01Z', 24 * 31, 'dup')",
    )
    .execute(db.pool())
    .await
    .unwrap_err();
    assert!(
        dup.to_string().contains("idx_readings_sensor_at_uniq"),
        "{dup}"
    );
    // A partition created after the migration gets its copies as it is created.
    tiers
        .ensure_partitions_at(db.pool(), at(2025, 6, 10), 0)
        .await
        .unwrap();
    assert_eq!(attached(db.pool(), "idx_readings_sensor_at").await.len(), 6);

    // The same folder on a fresh database (every model partition there), and the full DDL.
    let migrated = migrated_database(&dir).await;
    assert_eq!(
        migrate::check_database(migrated.url(), &new).await.unwrap(),
        vec![]
    );
    assert_eq!(
        attached(migrated.pool(), "idx_readings_sensor_at")
            .await
            .len(),
        3
    );
    let fresh = full_ddl_database(&new).await;
    let fresh_fp = fingerprint(fresh.pool()).await;
    assert_same_schema(
        &fresh_fp,
        &fingerprint(db.pool()).await,
        "fresh vs migrated",
    );
    assert_same_schema(
        &fresh_fp,
        &fingerprint(migrated.pool()).await,
        "fresh vs migrated folder",
    );

    // Later steps: drop the indexes, add them back; the partition copies' names never clash.
    migrate::write_migration(
        &dir,
        "drop indexes",
        &before::tables(),
        migrate::WriteOptions::default(),
    )
    .unwrap();
    migrate::write_migration(
        &dir,
        "indexes again",
        &new,
        migrate::WriteOptions::default(),
    )
    .unwrap();
    apply_folder(&dir, db.pool()).await;
    apply_folder(&dir, migrated.pool()).await;
    for pool in [db.pool(), migrated.pool()] {
        assert!(valid(pool, "idx_readings_sensor_at_uniq").await);
    }
    assert_eq!(
        attached(db.pool(), "idx_readings_note_where_note")
            .await
            .len(),
        6
    );
    assert_eq!(
        migrate::check_database(db.url(), &new).await.unwrap(),
        vec![]
    );
    assert_same_schema(&fresh_fp, &fingerprint(db.pool()).await, "after re-adding");

    db.pool().close().await;
    migrated.pool().close().await;
    fresh.pool().close().await;
    drop_all(vec![db, migrated, fresh]);
}

mod big_before {
    use chrono::{DateTime, Utc};
    use dbpat::Entity;

    #[derive(Entity)]
    #[dbpat(table = "samples")]
    #[dbpat(partition(by = at, interval = month, from = "2025-01-01", count = 2))]
    pub struct Sample {
        #[dbpat(primary_key)]
        pub id: uuid::Uuid,
        #[dbpat(primary_key)]
        pub at: DateTime<Utc>,
        pub sensor: i64,
        pub value: i64,
    }

    pub fn tables() -> [&'static dbpat::model::TableDef<'static>; 1] {
        [&Sample::TABLE]
    }
}

mod big_after {
    use chrono::{DateTime, Utc};
    use dbpat::Entity;

    #[derive(Entity)]
    #[dbpat(table = "samples")]
    #[dbpat(partition(by = at, interval = month, from = "2025-01-01", count = 2))]
    #[dbpat(index(sensor, value))]
    pub struct Sample {
        #[dbpat(primary_key)]
        pub id: uuid::Uuid,
        #[dbpat(primary_key)]
        pub at: DateTime<Utc>,
        pub sensor: i64,
        pub value: i64,
    }

    pub fn tables() -> [&'static dbpat::model::TableDef<'static>; 1] {
        [&Sample::TABLE]
    }
}

/// What an inserter saw while an index was built.
#[derive(Debug)]
struct Inserts {
    ok: u64,
    failed: u64,
    longest: Duration,
    /// Inserts that completed between the start and the end of the build.
    during: u64,
    build: Duration,
}

/// Inserts into both partitions of `samples`, one row at a time on a connection of its own,
/// while `build` runs; counts and times them.
async fn measure<F: std::future::Future<Output = ()>>(url: &str, build: F) -> Inserts {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(tokio::sync::Notify::new());
    let inserter = {
        let (stop, started, url) = (stop.clone(), started.clone(), url.to_owned());
        tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            let mut out = Vec::new();
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = sqlx::query(
                    "INSERT INTO samples (at, sensor, value)
                     VALUES ('2025-01-01Z'::timestamptz + $1 * interval '1 minute', $1, 7)",
                )
                .bind(i % 80_000)
                .execute(&mut conn)
                .await;
                out.push((t, t.elapsed(), r.is_ok()));
                if i == 0 {
                    started.notify_one();
                }
                i += 1;
            }
            out
        })
    };
    started.notified().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    build.await;
    let build = t0.elapsed();
    let t1 = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let out = inserter.await.unwrap();
    Inserts {
        ok: out.iter().filter(|(_, _, ok)| *ok).count() as u64,
        failed: out.iter().filter(|(_, _, ok)| !ok).count() as u64,
        longest: out.iter().map(|(_, d, _)| *d).max().unwrap(),
        during: out
            .iter()
            .filter(|(t, d, ok)| *ok && *t + *d > t0 && *t + *d < t1)
            .count() as u64,
        build,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_go_on_while_an_index_is_built_on_a_million_row_partitioned_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    migrate::write_migration(
        &dir,
        "init",
        &big_before::tables(),
        migrate::WriteOptions::default(),
    )
    .unwrap();
    let db = TestDatabase::new().await;
    apply_folder(&dir, db.pool()).await;
    let t = Instant::now();
    sqlx::raw_sql(
        "INSERT INTO samples (at, sensor, value)
         SELECT '2025-01-01Z'::timestamptz + (g % 5000000) * interval '1 second', g, g % 1000
         FROM generate_series(1, 1000000) g;
         ANALYZE samples;",
    )
    .execute(db.pool())
    .await
    .unwrap();
    assert_eq!(
        scalar_i64(db.pool(), "SELECT count(*) FROM samples_2025_01").await
            + scalar_i64(db.pool(), "SELECT count(*) FROM samples_2025_02").await,
        1_000_000
    );
    eprintln!("seeded 1,000,000 rows in {:?}", t.elapsed());

    // Before: the plain CREATE INDEX dbpat wrote for a partitioned table.
    let blocking = measure(db.url(), async {
        sqlx::raw_sql("CREATE INDEX samples_blocking_idx ON samples (sensor, value)")
            .execute(db.pool())
            .await
            .unwrap();
    })
    .await;
    sqlx::raw_sql("DROP INDEX samples_blocking_idx")
        .execute(db.pool())
        .await
        .unwrap();

    // Now: the migration's files, applied by sqlx's migrator.
    let MigrationOutcome::Written { files, .. } = migrate::write_migration(
        &dir,
        "index",
        &big_after::tables(),
        migrate::WriteOptions::default(),
    )
    .unwrap() else {
        panic!("the index is a change");
    };
    // ON ONLY; the 2 partitions, and 4 months around today (placeholders here); attach.
    assert_eq!(files.len(), 1 + 2 + 4 + 1, "{files:#?}");
    let online = measure(db.url(), apply_folder(&dir, db.pool())).await;

    eprintln!(
        "blocking CREATE INDEX: build {:?}, inserts ok {} failed {}, {} during the build, longest insert {:?}",
        blocking.build, blocking.ok, blocking.failed, blocking.during, blocking.longest
    );
    eprintln!(
        "online migration:     run {:?}, inserts ok {} failed {}, {} during the run, longest insert {:?}",
        online.build, online.ok, online.failed, online.during, online.longest
    );
    assert!(valid(db.pool(), "idx_samples_sensor_value").await);
    assert_eq!(
        migrate::check_database(db.url(), &big_after::tables())
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(online.failed, 0);
    assert_eq!(blocking.failed, 0);
    // Inserts went on through the online build, and no insert waited for a whole build.
    assert!(online.during >= 20, "{online:?}");
    assert!(
        online.longest < online.build / 2,
        "an insert waited for most of the migration: {online:?}"
    );
    // The baseline blocked: one insert waited for most of its build.
    assert!(
        blocking.longest > blocking.build / 2,
        "the blocking build did not block: {blocking:?}"
    );
    db.pool().close().await;
    drop_all(vec![db]);
}
