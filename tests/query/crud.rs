//! The write and lookup API on the real PostgreSQL: insert (server defaults come back),
//! insert_many, find_by_id/get/find_by_<unique>, update, patch (set, add, JSONB merge),
//! delete, count, exists; every executor kind; every error variant; row mapping of every
//! column kind; SQL rendered once.

use crate::support::query as query_common;
use crate::support::shop as models;
use dbpat::TableRow as _;

use dbpat::{Error, Table};
use models::{Account, Product, User, UserStatus};
use query_common::*;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn insert_returns_server_defaults_and_finds_by_key() {
    let db = shop_db().await;
    let pool = db.pool();
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let u = Table::insert(pool, &user("a@example.com")).await.unwrap();
    assert_ne!(u.id, Uuid::nil(), "gen_random_uuid() filled the key");
    assert!(u.created_at > before && u.updated_at > before);
    assert_eq!(u.email, "a@example.com");
    assert_eq!(u.status, UserStatus::Active);

    let p = Table::insert(
        pool,
        &product("Phone", "electronics", 49900, json!({"brand": "Apple"})),
    )
    .await
    .unwrap();
    assert_eq!(p.version, 1, "version DEFAULT 1");
    assert_eq!(p.price, Decimal::new(49900, 2));

    assert_eq!(
        User::find(pool, &u.id).await.unwrap().unwrap().email,
        u.email
    );
    assert!(User::find(pool, &Uuid::new_v4()).await.unwrap().is_none());
    assert!(matches!(
        User::get(pool, &Uuid::new_v4()).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(User::get(pool, &u.id).await.unwrap().id, u.id);

    let by_email = User::find_by_email(pool, "a@example.com").await.unwrap();
    assert_eq!(by_email.map(|x| x.id), Some(u.id));
    let owned = String::from("nobody@example.com");
    assert!(User::find_by_email(pool, &owned).await.unwrap().is_none());

    assert_eq!(User::count(pool).await.unwrap(), 1);
    assert!(User::exists(pool, &u.id).await.unwrap());
    assert!(!User::exists(pool, &Uuid::new_v4()).await.unwrap());
}

#[tokio::test]
async fn update_patch_merge_delete() {
    let db = shop_db().await;
    let pool = db.pool();
    let mut u = Table::insert(pool, &user("b@example.com")).await.unwrap();
    let created = u.created_at;
    u.name = "Renamed".into();
    u.status = UserStatus::Suspended;
    u.metadata.0.role = Some("admin".into());
    Table::update(pool, &mut u).await.unwrap();
    assert_eq!(u.name, "Renamed");
    assert_eq!(
        u.created_at, created,
        "created_at is never written by update"
    );
    assert!(u.updated_at >= created, "the trigger set updated_at");
    let stored = User::get(pool, &u.id).await.unwrap();
    assert_eq!(stored.status, UserStatus::Suspended);
    assert_eq!(stored.metadata.0.role.as_deref(), Some("admin"));

    // patch: only the chosen columns; add is atomic on the server; merge is `col || $n`.
    let p = Table::insert(
        pool,
        &product("Lamp", "home", 1500, json!({"color": "black"})),
    )
    .await
    .unwrap();
    let patched = Product::patch(&p.id)
        .set(Product::NAME, "Desk lamp")
        .add(Product::STOCK, -3)
        .merge(Product::ATTRIBUTES, json!({"featured": true}))
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(patched.name, "Desk lamp");
    assert_eq!(patched.stock, 7);
    assert_eq!(
        patched.attributes,
        json!({"color": "black", "featured": true})
    );
    assert_eq!(patched.description, p.description, "untouched column kept");
    assert_eq!(patched.version, p.version + 1, "a patch bumps the version");
    assert!(matches!(
        Product::patch(&Uuid::new_v4())
            .set(Product::STOCK, 1)
            .execute(pool)
            .await,
        Err(Error::NotFound { .. })
    ));

    let mut missing = user("ghost@example.com");
    missing.id = Uuid::new_v4();
    assert!(matches!(
        Table::update(pool, &mut missing).await,
        Err(Error::NotFound { .. })
    ));

    Product::delete(pool, &p.id).await.unwrap();
    assert!(matches!(
        Product::delete(pool, &p.id).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(Product::count(pool).await.unwrap(), 0);
}

#[tokio::test]
async fn runs_on_pool_connection_and_transaction() {
    let db = shop_db().await;
    let pool = db.pool();
    let mut conn = pool.acquire().await.unwrap();
    let u = Table::insert(&mut *conn, &user("conn@example.com"))
        .await
        .unwrap();
    assert!(User::exists(&mut *conn, &u.id).await.unwrap());
    drop(conn);

    let mut tx = pool.begin().await.unwrap();
    let v = Table::insert(&mut *tx, &user("tx@example.com"))
        .await
        .unwrap();
    assert!(User::find(&mut *tx, &v.id).await.unwrap().is_some());
    assert_eq!(User::query().count(&mut *tx).await.unwrap(), 2);
    assert!(
        !User::exists(pool, &v.id).await.unwrap(),
        "not visible before commit"
    );
    tx.rollback().await.unwrap();
    assert!(!User::exists(pool, &v.id).await.unwrap(), "rolled back");

    let mut tx = pool.begin().await.unwrap();
    let w = Table::insert(&mut *tx, &user("tx2@example.com"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(User::exists(pool, &w.id).await.unwrap());
}

#[tokio::test]
async fn constraint_errors_are_typed_with_their_names() {
    let db = shop_db().await;
    let pool = db.pool();
    let u = Table::insert(pool, &user("dup@example.com")).await.unwrap();
    match Table::insert(pool, &user("dup@example.com")).await {
        Err(Error::UniqueViolation { constraint }) => assert_eq!(constraint, "users_email_key"),
        other => panic!("expected UniqueViolation, got {other:?}"),
    }
    let mut p = product("Chair", "home", 100, json!({}));
    p.stock = -1;
    match Table::insert(pool, &p).await {
        Err(Error::CheckViolation { constraint }) => assert_eq!(constraint, "products_stock_check"),
        other => panic!("expected CheckViolation, got {other:?}"),
    }
    match Table::insert(pool, &account(Uuid::new_v4(), 0)).await {
        Err(Error::ForeignKeyViolation { constraint }) => {
            assert_eq!(constraint, "accounts_user_id_fkey")
        }
        other => panic!("expected ForeignKeyViolation, got {other:?}"),
    }
    // ON DELETE RESTRICT: the user still has an account.
    Table::insert(pool, &account(u.id, 5)).await.unwrap();
    let err = User::delete(pool, &u.id).await.unwrap_err();
    assert!(
        matches!(&err, Error::ForeignKeyViolation { constraint } if constraint == "accounts_user_id_fkey"),
        "{err:?}"
    );
    assert_eq!(err.constraint(), Some("accounts_user_id_fkey"));
    // A value the entity cannot decode.
    let sql = format!(
        "SELECT {} FROM users",
        User::sql().columns.replace("status", "'unknown' AS status")
    );
    let err: Error = sqlx::query_as::<_, User>(&sql)
        .fetch_one(pool)
        .await
        .unwrap_err()
        .into();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("unknown"), "{err}");
    // Anything else stays a database error.
    let err: Error = sqlx::query("SELECT * FROM no_such_table")
        .execute(pool)
        .await
        .unwrap_err()
        .into();
    assert!(matches!(err, Error::Database(_)));
    assert_eq!(err.sqlstate().as_deref(), Some("42P01"));
    assert!(!err.is_retryable());
    let _ = Account::count(pool).await.unwrap();
}

#[tokio::test]
async fn every_column_kind_round_trips() {
    let db = shop_db().await;
    let pool = db.pool();
    let one = Table::insert(pool, &gadget(4)).await.unwrap();
    assert!(one.id > 0, "identity key filled");
    assert_eq!(one.version, 1);
    let expected = Gadget {
        id: one.id,
        version: 1,
        created_at: one.created_at,
        ..gadget(4)
    };
    assert_eq!(one, expected);

    let batch: Vec<Gadget> = (10..40).map(gadget).collect();
    let stored = Gadget::insert_many(pool, &batch).await.unwrap();
    assert_eq!(stored.len(), batch.len());
    for (got, want) in stored.iter().zip(&batch) {
        let want = Gadget {
            id: got.id,
            version: 1,
            created_at: got.created_at,
            ..want.clone()
        };
        assert_eq!(
            got, &want,
            "array slices, NULL arrays and empty arrays survive UNNEST"
        );
    }
    assert_eq!(Gadget::count(pool).await.unwrap(), 31);
    assert!(Gadget::insert_many(pool, &[]).await.unwrap().is_empty());
    let n = Gadget::insert_many_count(pool, &(100..110).map(gadget).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(n, 10);
    let found = Gadget::find_by_code(pool, "G-00017")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.tags, gadget(17).tags);
}

#[test]
fn sql_is_rendered_once_per_entity() {
    let a = Product::sql();
    let b = Product::sql();
    assert!(std::ptr::eq(a, b), "one TableSql per entity");
    assert!(std::ptr::eq(a.insert.as_ptr(), b.insert.as_ptr()));
    assert!(!std::ptr::eq(
        Product::sql() as *const _ as *const u8,
        User::sql() as *const _ as *const u8
    ));
    assert_eq!(
        Product::sql().update,
        "UPDATE products SET name = $2, description = $3, price = $4, category = $5, \
         attributes = $6, stock = $7, version = version + 1 WHERE id = $1 AND version = $8 \
         RETURNING id, name, description, price, category, attributes, stock, version, \
         created_at, updated_at"
    );
    // find_by_<unique> runs exactly the statement a filter on that column renders.
    assert_eq!(
        User::sql().find_by_unique(User::EMAIL.index()).unwrap(),
        User::filter(User::EMAIL.eq("x")).to_sql()
    );
}
