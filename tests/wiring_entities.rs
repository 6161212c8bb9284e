//! The layers meet at the entity: the cached API over `#[derive(Entity)]` models (real Redis
//! and PostgreSQL), history reads through typed queries, and typed errors for partitions.

#[path = "../examples/shop/models.rs"]
#[allow(dead_code)]
mod models;
mod query_common;

use chrono::{TimeZone, Utc};
use dbpat::cache::{Cache, CacheConfig};
use dbpat::testing::TestRedis;
use dbpat::query::ReadTiers;
use dbpat::tiers::Tiers;
use dbpat::{Entity, Error, Table};
use models::{Order, OrderStatus, Product, User};
use query_common::{product, shop_db, user};
use rust_decimal::Decimal;
use uuid::Uuid;

async fn cache_for(redis: &TestRedis) -> Cache {
    let client = dbpat::cache::redis::Client::open(dbpat::testing::redis_url()).unwrap();
    Cache::connect(client, CacheConfig::new(redis.prefix())).await
}

async fn redis_get(redis: &TestRedis, key: &str) -> Option<String> {
    let mut conn = redis.connection();
    dbpat::cache::redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn cached_entity_reads_and_writes_through_the_query_layer() {
    let db = shop_db().await;
    let redis = TestRedis::new().await;
    let cache = cache_for(&redis).await;
    let users = cache.entity::<User>();

    let ann = users.insert(db.pool(), &user("ann@example.com")).await.unwrap();
    let key = format!("{}user:{}", redis.prefix(), ann.id);
    assert_eq!(
        redis_get(&redis, &key).await,
        None,
        "an insert fills nothing"
    );

    let found = users.find(db.pool(), &ann.id).await.unwrap().expect("row");
    assert_eq!(found.email, "ann@example.com");
    assert!(
        redis_get(&redis, &key).await.is_some(),
        "the miss filled the cache"
    );
    let before = users.metrics();
    users.find(db.pool(), &ann.id).await.unwrap().expect("row");
    assert_eq!(
        users.metrics().hits,
        before.hits + 1,
        "second read is a hit"
    );

    // A write through the cached API: the next read sees it, never the old cached row.
    let mut changed = found.clone();
    changed.name = "Ann B.".into();
    users.update(db.pool(), &mut changed).await.unwrap();
    assert!(
        changed.updated_at > found.updated_at,
        "the row came back from RETURNING"
    );
    assert_eq!(users.find(db.pool(), &ann.id).await.unwrap().unwrap().name, "Ann B.");

    // One MGET + one query for the misses; a missing id is None and cached negatively.
    let bob = users.insert(db.pool(), &user("bob@example.com")).await.unwrap();
    let nobody = Uuid::new_v4();
    let many = users.find_many(db.pool(), &[bob.id, nobody, ann.id]).await.unwrap();
    let emails: Vec<Option<&str>> = many
        .iter()
        .map(|u| u.as_ref().map(|u| u.email.as_str()))
        .collect();
    assert_eq!(
        emails,
        [Some("bob@example.com"), None, Some("ann@example.com")]
    );
    assert_eq!(users.find(db.pool(), &nobody).await.unwrap().map(|u| u.id), None);
    assert!(users.metrics().negative_hits >= 1);

    users.delete(db.pool(), &ann.id).await.unwrap();
    assert!(
        users.find(db.pool(), &ann.id).await.unwrap().is_none(),
        "deleted rows are gone from the cache too"
    );
    assert!(matches!(
        users.delete(db.pool(), &ann.id).await,
        Err(Error::NotFound { .. })
    ));
    redis.cleanup().await;
}

#[tokio::test]
async fn cached_versioned_update_reports_conflicts_and_keeps_the_cache_correct() {
    let db = shop_db().await;
    let redis = TestRedis::new().await;
    let cache = cache_for(&redis).await;
    let products = cache.entity::<Product>();
    let lamp = Table::insert(db.pool(), &product("Lamp", "home", 1999, serde_json::json!({"color": "red"})))
        .await
        .unwrap();
    let mut first = products.find(db.pool(), &lamp.id).await.unwrap().unwrap();
    let mut stale = first.clone();
    first.stock = 7;
    products.update(db.pool(), &mut first).await.unwrap();
    assert_eq!(first.version, lamp.version + 1);

    stale.stock = 1;
    match products.update(db.pool(), &mut stale).await {
        Err(Error::Conflict { version, .. }) => assert_eq!(version, i64::from(lamp.version)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let cached = products.find(db.pool(), &lamp.id).await.unwrap().unwrap();
    assert_eq!(
        (cached.stock, cached.version),
        (7, first.version),
        "the committed row wins"
    );

    let patched = products.patch(&lamp.id).add(Product::STOCK, -2).execute(db.pool())
        .await
        .unwrap();
    assert_eq!(patched.stock, 5);
    assert_eq!(products.find(db.pool(), &lamp.id).await.unwrap().unwrap().stock, 5);

    // A CHECK violation from the database comes back typed through the cache.
    let err = products.patch(&lamp.id).add(Product::STOCK, -100).execute(db.pool())
        .await
        .unwrap_err();
    assert_eq!(err.constraint(), Some("products_stock_check"), "{err}");
    redis.cleanup().await;
}

fn order(user_id: Uuid, cents: i64) -> Order {
    Order {
        id: Uuid::nil(),
        user_id,
        status: OrderStatus::Pending,
        total: Decimal::new(cents, 2),
        created_at: chrono::DateTime::UNIX_EPOCH,
    }
}

#[tokio::test]
async fn inserts_without_a_partition_are_a_typed_error_until_ensured() {
    let db = shop_db().await;
    let pool = db.pool();
    let ann = Table::insert(pool, &user("ann@example.com")).await.unwrap();
    // The shop's DDL creates 2025's first two quarters; orders are stamped NOW().
    let now: chrono::DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(pool)
        .await
        .unwrap();
    let err = Table::insert(pool, &order(ann.id, 100)).await.unwrap_err();
    match &err {
        Error::MissingPartition { table, from, to } => {
            assert_eq!(table, "orders");
            assert!(*from <= now && now < *to, "[{from}, {to}) must hold {now}");
        }
        other => panic!("expected MissingPartition, got {other:?}"),
    }
    let batch = [order(ann.id, 1), order(ann.id, 2)];
    assert!(matches!(
        Order::insert_many(pool, &batch).await,
        Err(Error::MissingPartition { .. })
    ));

    let report = Tiers::new(&Order::TABLE)
        .ensure_partitions(pool, 1)
        .await
        .unwrap();
    assert_eq!(report.created.len(), 2, "current and next quarter");
    let placed = Table::insert(pool, &order(ann.id, 100)).await.unwrap();
    assert_eq!(Order::count(pool).await.unwrap(), 1);
    assert!(placed.created_at >= now);

    // A backfill writes the row exactly as given: its key and past created_at route it to the
    // 2025 q1 partition the DDL created.
    let past = Order {
        id: Uuid::new_v4(),
        created_at: Utc.with_ymd_and_hms(2025, 2, 1, 8, 30, 0).unwrap(),
        ..order(ann.id, 700)
    };
    let restored = Table::insert_exact(pool, &past).await.unwrap();
    assert_eq!(
        (restored.id, restored.created_at),
        (past.id, past.created_at)
    );
    let partition: String =
        sqlx::query_scalar("SELECT tableoid::regclass::text FROM orders WHERE id = $1")
            .bind(past.id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(partition, "orders_2025_q1");
    let too_old = Order {
        created_at: Utc.with_ymd_and_hms(2019, 5, 5, 0, 0, 0).unwrap(),
        ..order(ann.id, 1)
    };
    match Table::insert_exact(pool, &too_old).await {
        Err(Error::MissingPartition { from, to, .. }) => {
            assert_eq!(from, Utc.with_ymd_and_hms(2019, 4, 1, 0, 0, 0).unwrap());
            assert_eq!(to, Utc.with_ymd_and_hms(2019, 7, 1, 0, 0, 0).unwrap());
        }
        other => panic!("expected MissingPartition, got {other:?}"),
    }
}

#[tokio::test]
async fn queries_can_read_the_archive_too() {
    let db = shop_db().await;
    let pool = db.pool();
    let ann = Table::insert(pool, &user("ann@example.com")).await.unwrap();
    for (quarter_start, cents) in [(1, 100), (1, 200), (4, 300)] {
        let at = Utc
            .with_ymd_and_hms(2025, quarter_start, 15, 12, 0, 0)
            .unwrap();
        sqlx::query("INSERT INTO orders (user_id, total, created_at) VALUES ($1, $2, $3)")
            .bind(ann.id)
            .bind(Decimal::new(cents, 2))
            .bind(at)
            .execute(pool)
            .await
            .unwrap();
    }
    let cutoff = Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).unwrap();
    let moved = Tiers::new(&Order::TABLE)
        .archive(pool, cutoff)
        .await
        .unwrap();
    assert_eq!(moved.rows, 2);

    // Filters clone (bound values are shared), so one condition serves several queries.
    let mine = Order::USER_ID.eq(ann.id);
    assert_eq!(
        Order::filter(mine.clone()).count(pool).await.unwrap(),
        1,
        "hot only by default"
    );
    let all = Order::filter(mine.clone())
        .with_archive()
        .order_by(Order::TOTAL.desc())
        .fetch_all(pool)
        .await
        .unwrap();
    let totals: Vec<i64> = all
        .iter()
        .map(|o| (o.total * Decimal::new(100, 0)).try_into().unwrap())
        .collect();
    assert_eq!(totals, [300, 200, 100]);
    let archived = Order::filter(mine.clone())
        .tiers(ReadTiers::Archive)
        .count(pool)
        .await
        .unwrap();
    assert_eq!(archived, 2);
    let page = Order::filter(mine.clone())
        .with_archive()
        .order_by(Order::TOTAL.asc())
        .limit(1)
        .offset(1)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(page.total, Decimal::new(200, 2));
    assert!(Order::filter(mine.clone())
        .with_archive()
        .exists(pool)
        .await
        .unwrap());

    // History reads need an archive; deletes never touch it.
    assert!(matches!(
        User::query().with_archive().count(pool).await,
        Err(Error::NoArchive { .. })
    ));
    assert!(matches!(
        Order::filter(mine.clone())
            .with_archive()
            .delete(pool)
            .await,
        Err(Error::InvalidQuery(_))
    ));
}
