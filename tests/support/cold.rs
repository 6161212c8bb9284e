//! Shared setup of the cold-tier tests (`tests/cold`, `tests/cold_kill`): a model with every
//! column type the model supports (partitioned by quarter, with an archive), rows with NULLs,
//! NaN, -0, quotes and non-ASCII text spread over 2024, the archive's rows as PostgreSQL's text
//! form of each row (the byte-equality oracle), and the two stores: a temporary directory and
//! the S3 server of `scripts/services.d/s3.sh`, under a key prefix of the test's own.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use dbpat::tiers::cold::ColdStore;
use dbpat::tiers::Tiers;
use dbpat::{DbEnum, Entity, Json};
use dbpat_runtime::testing::TestDatabase;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, DbEnum)]
pub enum Kind {
    Widget,
    Gizmo,
    DooHickey,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub color: String,
    pub size: u32,
}

/// Every column type, nullable and not; `device` is the key histories are read by.
#[derive(Debug, Clone, PartialEq, Entity)]
#[dbpat(table = "readings", archive)]
#[dbpat(partition(by = created_at, interval = quarter, from = "2024-01-01", count = 4))]
#[dbpat(index(device, created_at))]
pub struct Reading {
    #[dbpat(primary_key)]
    pub id: i64,
    pub device: i64,
    pub code: Uuid,
    pub kind: Kind,
    pub spec: Json<Spec>,
    pub extra: Option<serde_json::Value>,
    #[dbpat(money)]
    pub price: Decimal,
    pub discount: Option<Decimal>,
    pub tags: Vec<String>,
    pub scores: Option<Vec<i64>>,
    pub note: Option<String>,
    pub ratio: f64,
    pub ratio32: Option<f32>,
    pub active: bool,
    pub small: i16,
    pub medium: Option<i32>,
    pub day: NaiveDate,
    pub seen_at: Option<DateTime<Utc>>,
    pub blob: Vec<u8>,
    pub ref_id: Option<Uuid>,
    #[dbpat(primary_key)]
    pub created_at: DateTime<Utc>,
}

pub fn readings() -> Tiers {
    Tiers::of::<Reading>()
}

pub fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

/// Devices the rows cycle through.
pub const DEVICES: i64 = 50;

/// A fresh database with `readings` (+ `readings_archive`, partitioned like it).
pub async fn readings_db() -> TestDatabase {
    let db = TestDatabase::new().await;
    let ddl = dbpat::ddl::render_schema(&[&Reading::TABLE]).unwrap();
    sqlx::raw_sql(&ddl).execute(db.pool()).await.unwrap();
    db
}

/// `n` readings spread evenly over 2024 (ids 1..=n).
pub async fn load_readings(pool: &PgPool, n: i64) {
    sqlx::query(
        r#"INSERT INTO readings (id, device, code, kind, spec, extra, price, discount, tags,
               scores, note, ratio, ratio32, active, small, medium, day, seen_at, blob, ref_id,
               created_at)
           SELECT i, i % 50, md5(i::text)::uuid, (ARRAY['widget','gizmo','doo_hickey'])[1 + i % 3],
                  jsonb_build_object('color', 'c' || (i % 7), 'size', i % 100),
                  CASE WHEN i % 5 = 0 THEN NULL
                       ELSE jsonb_build_object('k', i, 'a', jsonb_build_array(i, 'x"y\z', 1.5e300, null)) END,
                  (i * 1.37)::numeric(12,2),
                  CASE WHEN i % 3 = 0 THEN NULL ELSE (i % 100) / 7.0 END,
                  ARRAY['t' || (i % 3), 'quote"d', 'comma,', '', 'ünï{code}'],
                  CASE WHEN i % 4 = 0 THEN NULL ELSE ARRAY[i, -i, 9223372036854775807] END,
                  CASE WHEN i % 2 = 0 THEN NULL ELSE E'note ' || i || E' ünïcode\ttab ''q''' END,
                  CASE WHEN i % 11 = 0 THEN 'NaN'::float8 WHEN i % 13 = 0 THEN '-0'::float8
                       WHEN i % 17 = 0 THEN '-Infinity'::float8 ELSE i / 3.0 END,
                  CASE WHEN i % 7 = 0 THEN NULL ELSE (i / 7.0)::real END,
                  i % 2 = 0, (i % 30000)::smallint,
                  CASE WHEN i % 9 = 0 THEN NULL ELSE i * 3 END,
                  date '2020-01-01' + (i % 2000)::int,
                  CASE WHEN i % 6 = 0 THEN NULL
                       ELSE timestamptz '2024-01-01 00:00:00.123456+00' + i * interval '1 second' END,
                  decode(md5(i::text), 'hex') || '\x00ff'::bytea,
                  CASE WHEN i % 2 = 0 THEN NULL ELSE md5('r' || i)::uuid END,
                  timestamptz '2024-01-01 00:00:00+00'
                    + ((i - 1)::float8 / $1) * (timestamptz '2025-01-01+00' - timestamptz '2024-01-01+00')
           FROM generate_series(1, $1) AS i"#,
    )
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
}

/// Every row of `relation` as PostgreSQL's text form of the row, in key order: two sets of
/// rows are byte-equal when these are.
pub async fn row_texts(pool: &PgPool, relation: &str) -> Vec<String> {
    sqlx::query_scalar(&format!(
        "SELECT t::text FROM {relation} AS t ORDER BY id, created_at"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The rows of `readings_archive` as text, per archive partition.
pub async fn archive_partition_texts(pool: &PgPool, partition: &str) -> Vec<String> {
    row_texts(pool, partition).await
}

/// A fresh temporary directory as the cold store (removed when the guard drops).
pub fn local_store() -> (tempfile::TempDir, ColdStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ColdStore::local(dir.path()).unwrap();
    (dir, store)
}

/// The endpoint of the S3 server `scripts/services` starts (DBPAT_TEST_S3_URL, else
/// target/dbpat-services/s3.url).
pub fn s3_endpoint() -> String {
    if let Ok(url) = std::env::var("DBPAT_TEST_S3_URL") {
        return url;
    }
    let dir = std::env::var_os("DBPAT_SERVICES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dbpat-services"));
    let file = dir.join("s3.url");
    std::fs::read_to_string(&file)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| {
            panic!(
                "no S3 server for the cold tier's tests ({}: {e}). Start it with `scripts/services` \
                 (moto's S3 server on 127.0.0.1:9100, bucket dbpat-test) or set DBPAT_TEST_S3_URL",
                file.display()
            )
        })
}

/// The bucket `scripts/services.d/s3.sh` creates.
pub const S3_BUCKET: &str = "dbpat-test";

pub fn s3_options(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("aws_endpoint", endpoint.to_owned()),
        ("aws_allow_http", "true".to_owned()),
        ("aws_access_key_id", "dbpat".to_owned()),
        ("aws_secret_access_key", "dbpat".to_owned()),
        ("aws_region", "us-east-1".to_owned()),
    ]
}

/// A cold store on the S3 server under a prefix of this test's own; the guard deletes the
/// prefix's objects.
pub struct S3Prefix {
    pub store: ColdStore,
    pub prefix: String,
    endpoint: String,
}

pub fn s3_store() -> S3Prefix {
    let endpoint = s3_endpoint();
    let prefix = format!("dbpat-test-{}", Uuid::new_v4().simple());
    let store = ColdStore::from_url(&format!("s3://{S3_BUCKET}/{prefix}"), s3_options(&endpoint))
        .unwrap_or_else(|e| panic!("S3 store at {endpoint}: {e}"));
    S3Prefix {
        store,
        prefix,
        endpoint,
    }
}

impl S3Prefix {
    /// The object store itself (to list, corrupt and delete objects).
    pub fn raw(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(S3_BUCKET)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_access_key_id("dbpat")
            .with_secret_access_key("dbpat")
            .with_region("us-east-1")
            .build()
            .unwrap()
    }

    /// The objects under the prefix.
    pub async fn objects(&self) -> Vec<object_store::path::Path> {
        use futures_util::TryStreamExt;
        use object_store::ObjectStore;
        let prefix = object_store::path::Path::from(self.prefix.as_str());
        self.raw()
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .unwrap()
    }

    pub async fn cleanup(&self) {
        use object_store::ObjectStore;
        let raw = self.raw();
        for path in self.objects().await {
            raw.delete(&path).await.unwrap();
        }
    }
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
