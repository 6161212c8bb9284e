//! What dbpat tells the outside: a `dbpat.query` span per statement with OpenTelemetry's
//! database attributes and never a bound value, and the statement's duration and errors in the
//! `metrics` facade (a thread-local `metrics-util` recorder stands in for an exporter).

use crate::support::query::{product, shop_db};
use crate::support::shop::Product;
use crate::support::trace::{capture_on_this_thread, SpanData, SpanLog};
use dbpat::{Error, Table};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A value no span or metric may contain: it only travels as a bound parameter.
const SECRET: &str = "secret-lamp-7f3a";

fn field<'a>(span: &'a SpanData, name: &str) -> &'a str {
    span.fields
        .get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("span {} has no field {name}: {:?}", span.name, span.fields))
}

/// The `dbpat.query` spans, each as `(dbpat.operation, otel.name)`.
fn operations(log: &SpanLog) -> Vec<(String, String)> {
    log.named("dbpat.query")
        .iter()
        .map(|s| {
            (
                field(s, "dbpat.operation").to_owned(),
                field(s, "otel.name").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_statement_has_a_span_with_the_database_conventions_and_no_values() {
    let db = shop_db().await;
    let pool = db.pool();
    let log = Arc::new(SpanLog::default());
    let _guard = capture_on_this_thread(log.clone());

    let mut lamp = Product::insert(pool, &product(SECRET, "lamps", 1999, serde_json::json!({})))
        .await
        .unwrap();
    let stale = lamp.clone();
    lamp.stock = 3;
    Product::update(pool, &mut lamp).await.unwrap();
    let mut stale = stale;
    let conflict = Product::update(pool, &mut stale).await.unwrap_err();
    assert!(matches!(conflict, Error::Conflict { .. }), "{conflict:?}");
    Product::find(pool, &lamp.id).await.unwrap().unwrap();
    Product::find_many(pool, &[lamp.id]).await.unwrap();
    Product::filter(Product::NAME.eq(SECRET))
        .fetch_all(pool)
        .await
        .unwrap();
    Product::filter(Product::CATEGORY.eq("lamps"))
        .update()
        .add(Product::STOCK, 1)
        .execute(pool)
        .await
        .unwrap();
    Product::delete(pool, &lamp.id).await.unwrap();

    assert_eq!(
        operations(&log),
        [
            ("insert", "INSERT products"),
            ("update", "UPDATE products"),
            ("update", "UPDATE products"),
            ("find", "SELECT products"),
            ("find_many", "SELECT products"),
            ("select", "SELECT products"),
            ("update_by_filter", "UPDATE products"),
            ("delete", "DELETE products"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let spans = log.named("dbpat.query");
    let update = &spans[1];
    assert_eq!(field(update, "db.system.name"), "postgresql");
    assert_eq!(field(update, "db.operation.name"), "UPDATE");
    assert_eq!(field(update, "db.collection.name"), "products");
    assert_eq!(field(update, "dbpat.entity"), "Product");
    assert_eq!(field(update, "otel.kind"), "client");
    let text = field(update, "db.query.text");
    assert!(
        text.contains("UPDATE products SET")
            && text.contains("version = version + 1")
            && text.contains("AND version = $8"),
        "{text}"
    );
    assert!(
        !update.fields.contains_key("error.type"),
        "{:?}",
        update.fields
    );
    assert_eq!(field(&spans[2], "error.type"), "conflict");
    for span in log.spans() {
        for value in span.fields.values() {
            assert!(!value.contains(SECRET), "a bound value in a span: {span:?}");
        }
    }
}

/// `(name, labels) -> value` of a metrics snapshot.
type Snapshot = BTreeMap<(String, Vec<String>), DebugValue>;

fn snapshot(recorder: &DebuggingRecorder) -> Snapshot {
    recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value): (CompositeKey, _, _, _)| {
            let labels = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let kind = match key.kind() {
                MetricKind::Counter => "counter",
                MetricKind::Gauge => "gauge",
                MetricKind::Histogram => "histogram",
            };
            ((format!("{kind} {}", key.key().name()), labels), value)
        })
        .collect()
}

fn labels(pairs: &[&str]) -> Vec<String> {
    pairs.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn statement_durations_and_errors_reach_the_metrics_recorder() {
    let db = shop_db().await;
    let pool = db.pool();
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);

    let lamp = Product::insert(pool, &product(SECRET, "lamps", 1999, serde_json::json!({})))
        .await
        .unwrap();
    for _ in 0..3 {
        Product::find(pool, &lamp.id).await.unwrap();
    }
    let mut twin = product("twin", "lamps", 1, serde_json::json!({}));
    twin.id = lamp.id;
    let duplicate = Product::insert_exact(pool, &twin).await.unwrap_err();
    assert!(
        matches!(duplicate, Error::UniqueViolation { .. }),
        "{duplicate:?}"
    );
    dbpat::telemetry::record_pool(pool, "test");

    let found = snapshot(&recorder);
    let histogram = |operation: &str, outcome: &str| match found.get(&(
        "histogram dbpat_query_duration_seconds".to_owned(),
        labels(&[
            "entity=Product",
            &format!("operation={operation}"),
            &format!("outcome={outcome}"),
        ]),
    )) {
        Some(DebugValue::Histogram(samples)) => samples.clone(),
        other => panic!("no {operation}/{outcome} histogram: {other:?} in {found:#?}"),
    };
    assert_eq!(histogram("find", "ok").len(), 3);
    assert!(histogram("find", "ok").iter().all(|s| s.into_inner() > 0.0));
    assert_eq!(histogram("insert", "ok").len(), 1);
    assert_eq!(histogram("insert_exact", "error").len(), 1);
    assert_eq!(
        found.get(&(
            "counter dbpat_query_errors_total".to_owned(),
            labels(&[
                "entity=Product",
                "operation=insert_exact",
                "error_type=unique_violation"
            ]),
        )),
        Some(&DebugValue::Counter(1))
    );
    let max = found.get(&(
        "gauge dbpat_pool_max_connections".to_owned(),
        labels(&["pool=test"]),
    ));
    assert_eq!(max, Some(&DebugValue::Gauge(10.0.into())));
    for (_, labels) in found.keys() {
        assert!(labels.iter().all(|l| !l.contains(SECRET)), "{labels:?}");
    }
}

#[cfg(feature = "cache")]
mod cache {
    use super::*;
    use crate::support::shop::User;
    use dbpat::cache::{Cache, CacheConfig};
    use dbpat::testing::TestRedis;

    /// `(name, db.operation.name or dbpat.operation)` of the children of `parent`, in order.
    fn children(log: &SpanLog, parent: &SpanData) -> Vec<(String, String)> {
        log.children(parent.id)
            .iter()
            .map(|s| {
                let what = s
                    .fields
                    .get("db.operation.name")
                    .or_else(|| s.fields.get("dbpat.operation"))
                    .cloned()
                    .unwrap_or_default();
                (s.name.to_owned(), what)
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_miss_then_fill_and_a_versioned_update_have_their_span_trees() {
        let db = shop_db().await;
        let pool = db.pool();
        let redis = TestRedis::new().await;
        let mut config = CacheConfig::new(redis.prefix());
        config.restart_grace = std::time::Duration::ZERO;
        let client = dbpat::cache::redis::Client::open(dbpat::testing::redis_url()).unwrap();
        let cache = Cache::connect(client, config).await;
        let users = cache.entity::<User>();
        let products = cache.entity::<Product>();
        let ann = User::insert(pool, &crate::support::query::user("ann@example.com"))
            .await
            .unwrap();
        let mut lamp =
            Product::insert(pool, &product(SECRET, "lamps", 1999, serde_json::json!({})))
                .await
                .unwrap();

        let log = Arc::new(SpanLog::default());
        let _guard = capture_on_this_thread(log.clone());
        users.find(pool, &ann.id).await.unwrap().unwrap(); // miss, then fill
        users.find(pool, &ann.id).await.unwrap().unwrap(); // hit
        lamp.stock = 4;
        products.update(pool, &mut lamp).await.unwrap(); // versioned, through the cache

        let ops = log.named("dbpat.cache");
        let outcomes: Vec<(&str, &str)> = ops
            .iter()
            .map(|s| (field(s, "dbpat.operation"), field(s, "dbpat.cache.outcome")))
            .collect();
        assert_eq!(
            outcomes,
            [("find", "fill"), ("find", "hit"), ("update", "invalidated")]
        );
        assert_eq!(field(&ops[0], "dbpat.entity"), "User");
        assert_eq!(
            children(&log, &ops[0]),
            pairs(&[
                ("dbpat.redis", "get"),
                ("dbpat.redis", "acquire"),
                ("dbpat.query", "SELECT"),
                ("dbpat.redis", "fill"),
            ])
        );
        assert_eq!(children(&log, &ops[1]), pairs(&[("dbpat.redis", "get")]));
        assert_eq!(
            children(&log, &ops[2]),
            pairs(&[
                ("dbpat.redis", "begin_write"),
                ("dbpat.query", "UPDATE"),
                ("dbpat.redis", "end_write"),
            ])
        );
        for redis_span in log.named("dbpat.redis") {
            assert_eq!(field(&redis_span, "db.system.name"), "redis");
            assert!(!redis_span.fields.contains_key("error.type"));
        }
        for span in log.spans() {
            for value in span.fields.values() {
                assert!(!value.contains(SECRET), "a bound value in a span: {span:?}");
                assert!(
                    !value.contains(&ann.id.to_string()),
                    "a key in a span: {span:?}"
                );
            }
        }
    }
}
