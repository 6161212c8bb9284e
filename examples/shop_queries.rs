//! The typed query API on the patterns document's shop: `cargo run --example shop_queries`.
//!
//! Connects to `DATABASE_URL` (default `postgres://root@127.0.0.1:5432/postgres`), creates a
//! scratch database, applies the shop's schema, runs inserts, lookups, filters, a keyset page,
//! a versioned update with a conflict, a JSONB merge and the patterns document's transferFunds; then the
//! tiers (partitions, an order, the archive, a history read) and the Redis cache (`REDIS_URL`,
//! default `redis://127.0.0.1:6379/`, under a key prefix of its own); then drops the scratch
//! database and its keys.

#[path = "shop/models.rs"]
mod models;
#[path = "shop/transfer.rs"]
mod transfer;

use chrono::{DateTime, Utc};
use dbpat::prelude::*;
use dbpat::{Error, Json, PoolConfig};
use models::{Account, Product, User, UserMetadata, UserStatus};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

fn product(name: &str, category: &str, cents: i64, attributes: serde_json::Value) -> Product {
    Product {
        id: Uuid::nil(), // server-owned: gen_random_uuid()
        name: name.into(),
        description: format!("{name}, a fine {category} product"),
        price: Decimal::new(cents, 2),
        category: category.into(),
        attributes,
        stock: 10,
        version: 0,                       // server-owned: DEFAULT 1
        created_at: DateTime::UNIX_EPOCH, // server-owned: DEFAULT NOW()
        updated_at: DateTime::UNIX_EPOCH,
    }
}

async fn demo(pool: &sqlx::PgPool) -> Result<(), Error> {
    // insert: RETURNING fills the key, timestamps and version.
    let alice = User {
        id: Uuid::nil(),
        email: "alice@example.com".into(),
        name: "Alice".into(),
        status: UserStatus::Active,
        metadata: Json(UserMetadata {
            role: Some("admin".into()),
            ..Default::default()
        }),
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    };
    let alice = User::insert(pool, &alice).await?;
    println!("inserted user {} at {}", alice.id, alice.created_at);

    // insert_many: one statement, one round trip (UNNEST of one array per column).
    let catalog = vec![
        product(
            "iPhone 15",
            "electronics",
            99900,
            json!({"brand": "Apple", "color": "black"}),
        ),
        product(
            "MacBook Air",
            "electronics",
            129900,
            json!({"brand": "Apple", "color": "silver"}),
        ),
        product(
            "Galaxy S24",
            "electronics",
            89900,
            json!({"brand": "Samsung", "color": "black"}),
        ),
        product("Oak table", "furniture", 45000, json!({"wood": "oak"})),
    ];
    let stored = Product::insert_many(pool, &catalog).await?;
    println!("inserted {} products", stored.len());

    // Lookups by key and by a UNIQUE column.
    let found = User::find_by_email(pool, "alice@example.com").await?;
    assert_eq!(found.map(|u| u.id), Some(alice.id));
    assert!(Product::exists(pool, &stored[0].id).await?);

    // Typed filters: the patterns document's `category = 'electronics' AND attributes @> '{"brand": "Apple"}'`.
    let apple = Product::filter(
        Product::CATEGORY.eq("electronics")
            & Product::ATTRIBUTES.contains(json!({"brand": "Apple"})),
    )
    .order_by(Product::PRICE.desc())
    .fetch_all(pool)
    .await?;
    println!(
        "Apple electronics: {:?}",
        apple.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    let black = Product::filter(Product::ATTRIBUTES.field("color").eq("black"))
        .count(pool)
        .await?;
    println!("black products: {black}");
    let hits = Product::filter(Product::search("macbook"))
        .fetch_all(pool)
        .await?;
    println!(
        "full-text 'macbook': {:?}",
        hits.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    let admins = User::filter(User::STATUS.in_([UserStatus::Active, UserStatus::Suspended]))
        .filter(User::METADATA.field("role").eq("admin"))
        .fetch_all(pool)
        .await?;
    println!("active or suspended admins: {}", admins.len());

    // Keyset pagination: ORDER BY price, id; the next page starts after the last row.
    let first = Product::query()
        .order_by(Product::PRICE.asc())
        .order_by(Product::ID.asc())
        .limit(2)
        .fetch_all(pool)
        .await?;
    let next = Product::query()
        .order_by(Product::PRICE.asc())
        .order_by(Product::ID.asc())
        .limit(2)
        .after(first.last().expect("a first page"))
        .fetch_all(pool)
        .await?;
    println!(
        "pages: {:?} then {:?}",
        first.iter().map(|p| &p.name).collect::<Vec<_>>(),
        next.iter().map(|p| &p.name).collect::<Vec<_>>()
    );

    // Versioned update: the second writer with the same version gets Conflict.
    let mut mine = stored[0].clone();
    let mut theirs = stored[0].clone();
    mine.stock -= 1;
    Product::update(pool, &mut mine).await?;
    println!("updated to version {}", mine.version);
    theirs.stock -= 5;
    match Product::update(pool, &mut theirs).await {
        Err(Error::Conflict { key, version, .. }) => {
            println!("conflict on {key}: version {version} is stale, reload and retry")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    // patch: chosen columns only; merge is `attributes = attributes || $1`.
    let featured = Product::patch(&mine.id)
        .merge(Product::ATTRIBUTES, json!({"featured": true}))
        .add(Product::STOCK, 3)
        .execute(pool)
        .await?;
    println!("patched: {} stock {}", featured.attributes, featured.stock);

    // EXPLAIN (ANALYZE) of a built query.
    let plan = Product::filter(Product::CATEGORY.eq("furniture"))
        .explain(pool)
        .await?;
    println!("plan:\n{plan}");

    // The patterns document's transferFunds; an overdraft is a typed CheckViolation and changes nothing.
    let blank = |balance| Account {
        id: Uuid::nil(),
        user_id: alice.id,
        balance: Decimal::new(balance, 0),
        created_at: DateTime::<Utc>::UNIX_EPOCH,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
    };
    let a = Account::insert(pool, &blank(100)).await?;
    let b = Account::insert(pool, &blank(0)).await?;
    let (a2, b2) = transfer::transfer_funds(pool, a.id, b.id, Decimal::new(30, 0)).await?;
    println!("after transfer: {} / {}", a2.balance, b2.balance);
    match transfer::transfer_funds(pool, a.id, b.id, Decimal::new(1000, 0)).await {
        Err(Error::CheckViolation { constraint }) => println!("overdraft refused by {constraint}"),
        other => panic!("expected a CheckViolation, got {other:?}"),
    }
    let a3 = Account::get(pool, &a.id).await?;
    assert_eq!(a3.balance, a2.balance);
    Ok(())
}

/// Partitions, the archive and history reads; then cached reads of a user.
async fn tiers_and_cache(pool: &sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    use dbpat::cache::{redis, Cache, CacheConfig};
    use dbpat::tiers::Tiers;
    use models::{Order, OrderStatus};

    let alice = User::find_by_email(pool, "alice@example.com")
        .await?
        .ok_or_else(|| Error::not_found("User", &"alice@example.com"))?;
    let order = || Order {
        id: Uuid::nil(),
        user_id: alice.id,
        status: OrderStatus::Pending,
        total: Decimal::new(4999, 2),
        created_at: DateTime::UNIX_EPOCH, // server-owned: NOW()
    };
    // The DDL creates the model's first partitions; today's comes from ensure_partitions.
    if let Err(Error::MissingPartition { table, from, to }) = Order::insert(pool, &order()).await {
        println!("no partition of {table} for [{from}, {to}) yet");
    }
    let orders = Tiers::new(&Order::TABLE);
    let report = orders.ensure_partitions(pool, 1).await?;
    println!("created partitions: {:?}", report.created);
    let placed = Order::insert(pool, &order()).await?;
    println!("order {} placed at {}", placed.id, placed.created_at);
    let moved = orders
        .archive(pool, placed.created_at + chrono::Duration::seconds(1))
        .await?;
    println!("archived {} rows", moved.rows);
    let hot = Order::filter(Order::USER_ID.eq(alice.id))
        .count(pool)
        .await?;
    let all = Order::filter(Order::USER_ID.eq(alice.id))
        .with_archive()
        .count(pool)
        .await?;
    println!("alice's orders: {hot} hot, {all} with the archive");

    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    let client = redis::Client::open(redis_url)?;
    let prefix = format!("dbpat-example:{}:", Uuid::new_v4().simple());
    let mut config = CacheConfig::new(prefix.clone());
    // This demo's fresh key prefix is a Redis dataset born this second, and for
    // `restart_grace` (5 s) after a dataset is born nobody fills the cache (writers of a lost
    // dataset may still be re-registering). Keep the default in production.
    config.restart_grace = std::time::Duration::ZERO;
    let cache = Cache::connect(client.clone(), config).await;
    let users = cache.entity::<User>();
    users.find(pool, &alice.id).await?; // miss: loads PostgreSQL, fills Redis
    users.find(pool, &alice.id).await?; // hit
    let m = users.metrics();
    println!(
        "cache: {} miss(es), {} hit(s), {} fill(s)",
        m.misses, m.hits, m.fills
    );
    match users.delete(pool, &alice.id).await {
        Err(Error::ForeignKeyViolation { constraint }) => {
            println!("alice keeps her accounts: delete refused by {constraint}")
        }
        other => println!("delete: {other:?}"),
    }
    // Clean up this run's keys (SCAN, never KEYS).
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned());
    let scratch = format!(
        "dbpat_example_{}",
        &Uuid::new_v4().simple().to_string()[..12]
    );
    let mut admin = PgConnection::connect(&url).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {scratch}"))
        .execute(&mut admin)
        .await?;

    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    let scratch_url = sqlx::ConnectOptions::to_url_lossy(&options.database(&scratch)).to_string();
    let result = async {
        let pool = PoolConfig::default().connect(&scratch_url).await?;
        let schema = dbpat::ddl::render_schema(&[
            &User::TABLE,
            &Product::TABLE,
            &models::Order::TABLE,
            &Account::TABLE,
        ])?;
        sqlx::raw_sql(&schema).execute(&pool).await?;
        demo(&pool).await?;
        tiers_and_cache(&pool).await?;
        pool.close().await;
        Ok::<(), Box<dyn std::error::Error>>(())
    }
    .await;

    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    result
}
