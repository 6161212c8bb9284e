//! The layers meet at the entity: the cached API over `#[derive(Entity)]` models (real Redis
//! and PostgreSQL), history reads through typed queries, and typed errors for partitions.

use crate::support::query as query_common;
use crate::support::shop as models;

use chrono::{TimeZone, Utc};
use dbpat::cache::{Cache, CacheConfig};
use dbpat::query::ReadTiers;
use dbpat::testing::TestRedis;
use dbpat::tiers::Tiers;
use dbpat::{Entity, Error, Table};
use models::{Order, OrderStatus, Product, User};
use query_common::{product, shop_db, user};
use rust_decimal::Decimal;
use uuid::Uuid;

async fn cache_for(redis: &TestRedis) -> Cache {
    let client = dbpat::cache::redis::Client::open(dbpat::testing::redis_url()).unwrap();
    // No restart grace: the test's key prefix is a dataset born now.
    let mut config = CacheConfig::new(redis.prefix());
    config.restart_grace = std::time::Duration::ZERO;
    Cache::connect(client, config).await
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

    let ann = users
        .insert(db.pool(), &user("ann@example.com"))
        .await
        .unwrap();
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
    assert_eq!(
        users.find(db.pool(), &ann.id).await.unwrap().unwrap().name,
        "Ann B."
    );

    // One MGET + one query for the misses; a missing id is None and cached negatively.
    let bob = users
        .insert(db.pool(), &user("bob@example.com"))
        .await
        .unwrap();
    let nobody = Uuid::new_v4();
    let many = users
        .find_many(db.pool(), &[bob.id, nobody, ann.id])
        .await
        .unwrap();
    let emails: Vec<Option<&str>> = many
        .iter()
        .map(|u| u.as_ref().map(|u| u.email.as_str()))
        .collect();
    assert_eq!(
        emails,
        [Some("bob@example.com"), None, Some("ann@example.com")]
    );
    assert_eq!(
        users.find(db.pool(), &nobody).await.unwrap().map(|u| u.id),
        None
    );
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
    let lamp = Table::insert(
        db.pool(),
        &product("Lamp", "home", 1999, serde_json::json!({"color": "red"})),
    )
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

    let patched = products
        .patch(&lamp.id)
        .add(Product::STOCK, -2)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(patched.stock, 5);
    assert_eq!(
        products
            .find(db.pool(), &lamp.id)
            .await
            .unwrap()
            .unwrap()
            .stock,
        5
    );

    // A CHECK violation from the database comes back typed through the cache.
    let err = products
        .patch(&lamp.id)
        .add(Product::STOCK, -100)
        .execute(db.pool())
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

/// Runs `fut` inside `tokio::spawn`: this only compiles if the future is `Send + 'static`.
async fn spawned<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    tokio::spawn(fut).await.expect("the spawned task finished")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cached_and_table_operation_runs_in_spawned_tasks() {
    let db = shop_db().await;
    let redis = TestRedis::new().await;
    let cache = cache_for(&redis).await;
    let users = cache.entity::<User>();
    let products = cache.entity::<Product>();
    let pool = db.pool().clone();

    // The cached handle, every public async method.
    let (u, p) = (users.clone(), pool.clone());
    let ann = spawned(async move { u.insert(&p, &user("s1@example.com")).await })
        .await
        .unwrap();
    let (u, p) = (users.clone(), pool.clone());
    let more = spawned(async move {
        u.insert_many(&p, &[user("s2@example.com"), user("s3@example.com")])
            .await
    })
    .await
    .unwrap();
    assert_eq!(more.len(), 2);
    let (u, p, id) = (users.clone(), pool.clone(), ann.id);
    assert!(spawned(async move { u.find(&p, &id).await })
        .await
        .unwrap()
        .is_some());
    let (u, p, id) = (users.clone(), pool.clone(), ann.id);
    assert_eq!(
        spawned(async move { u.get(&p, &id).await })
            .await
            .unwrap()
            .id,
        ann.id
    );
    let (u, p, ids) = (users.clone(), pool.clone(), vec![ann.id, more[0].id]);
    assert_eq!(
        spawned(async move { u.find_many(&p, &ids).await })
            .await
            .unwrap()
            .len(),
        2
    );
    let (u, p, id) = (users.clone(), pool.clone(), ann.id);
    assert!(spawned(async move { u.exists(&p, &id).await })
        .await
        .unwrap());
    let (u, p) = (users.clone(), pool.clone());
    assert_eq!(spawned(async move { u.count(&p).await }).await.unwrap(), 3);
    let (u, p) = (users.clone(), pool.clone());
    let filtered = spawned(async move {
        u.filter(User::EMAIL.eq("s1@example.com"))
            .fetch_all(&p)
            .await
    })
    .await
    .unwrap();
    assert_eq!(filtered.len(), 1);
    let (u, p, mut row) = (users.clone(), pool.clone(), ann.clone());
    let updated = spawned(async move {
        row.name = "Spawned".into();
        u.update(&p, &mut row).await.map(|()| row)
    })
    .await
    .unwrap();
    assert_eq!(updated.name, "Spawned");
    let (u, p, id) = (users.clone(), pool.clone(), ann.id);
    let patched = spawned(async move { u.patch(&id).set(User::NAME, "Patched").execute(&p).await })
        .await
        .unwrap();
    assert_eq!(patched.name, "Patched");
    let (u, id) = (users.clone(), ann.id);
    spawned(async move { u.invalidate(&id).await })
        .await
        .unwrap();
    let (u, id) = (users.clone(), ann.id);
    spawned(async move {
        let intent = u.begin_write(&id).await.unwrap();
        intent.abort().await
    })
    .await;
    let (u, p, id) = (users.clone(), pool.clone(), ann.id);
    spawned(async move { u.delete(&p, &id).await })
        .await
        .unwrap();

    // The table, every public async method, and a query.
    let p = pool.clone();
    let lamp = spawned(async move {
        Product::insert(&p, &product("Lamp", "home", 100, serde_json::json!({}))).await
    })
    .await
    .unwrap();
    let (p, id) = (pool.clone(), lamp.id);
    spawned(async move {
        let found = Product::find(&p, &id).await?;
        let got = Product::get(&p, &id).await?;
        let many = Product::find_many(&p, &[id]).await?;
        let exists = Product::exists(&p, &id).await?;
        let count = Product::count(&p).await?;
        let mut row = got.clone();
        row.stock = 3;
        Product::update(&p, &mut row).await?;
        let patched = Product::patch(&id)
            .add(Product::STOCK, 1)
            .execute(&p)
            .await?;
        let selected = Product::query().limit(5).fetch_all(&p).await?;
        assert!(found.is_some() && many.len() == 1 && exists && count == 1);
        assert_eq!((patched.stock, selected.len()), (4, 1));
        Product::delete(&p, &id).await
    })
    .await
    .unwrap();
    let _ = products;
    redis.cleanup().await;
}

#[tokio::test]
async fn a_row_that_does_not_decode_is_the_same_error_on_every_read_path() {
    let db = shop_db().await;
    let redis = TestRedis::new().await;
    let cache = cache_for(&redis).await;
    let users = cache.entity::<User>();
    let pool = db.pool();
    let ann = User::insert(pool, &user("bad@example.com")).await.unwrap();
    // A JSONB value that does not fit `UserMetadata` (its `role` is a string).
    sqlx::query("UPDATE users SET metadata = '{\"role\": 42}' WHERE id = $1")
        .bind(ann.id)
        .execute(pool)
        .await
        .unwrap();
    let table_get = User::get(pool, &ann.id).await.unwrap_err();
    let table_many = User::find_many(pool, &[ann.id]).await.unwrap_err();
    let cached_find = users.find(pool, &ann.id).await.unwrap_err();
    let cached_many = users.find_many(pool, &[ann.id]).await.unwrap_err();
    for (path, err) in [
        ("Table::get", &table_get),
        ("Table::find_many", &table_many),
        ("Cached::find", &cached_find),
        ("Cached::find_many", &cached_many),
    ] {
        assert!(matches!(err, Error::Decode(_)), "{path}: {err:?}");
    }
    // NotFound names the entity and the key, on the table and through the cache.
    let nobody = Uuid::new_v4();
    for err in [
        User::get(pool, &nobody).await.unwrap_err(),
        users.get(pool, &nobody).await.unwrap_err(),
    ] {
        match err {
            Error::NotFound { entity, key } => {
                assert_eq!(entity, "User");
                assert_eq!(key, format!("{nobody:?}"));
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
    redis.cleanup().await;
}

#[tokio::test]
async fn values_that_do_not_encode_are_typed_errors_not_panics() {
    struct Unserializable;
    impl serde::Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refuses to serialize"))
        }
    }
    let db = shop_db().await;
    let pool = db.pool();
    let lamp = Product::insert(pool, &product("Lamp", "home", 100, serde_json::json!({})))
        .await
        .unwrap();
    let err = Product::filter(Product::ATTRIBUTES.contains(Unserializable))
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Encode(_)), "{err:?}");
    let err = Product::patch(&lamp.id)
        .merge(Product::ATTRIBUTES, Unserializable)
        .execute(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Encode(_)), "{err:?}");
    assert_eq!(
        Product::get(pool, &lamp.id).await.unwrap().attributes,
        lamp.attributes,
        "nothing was written"
    );
    // Keyset pagination without an ORDER BY is a typed error, not a panic.
    let err = Product::query()
        .after(&lamp)
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidQuery(_)), "{err:?}");
}
