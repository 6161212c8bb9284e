//! Optimistic locking: the versioned update bumps the version and refreshes the caller's
//! value; a stale version is `Error::Conflict` (with the key and the caller's version) and
//! changes nothing; concurrent updaters with the same version: exactly one wins per round, no
//! update is ever lost.

use crate::support::query as query_common;
use crate::support::shop as models;

use dbpat::{Entity, Error, Table};
use models::Product;
use query_common::*;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::Barrier;
use uuid::Uuid;

#[tokio::test]
async fn versioned_update_and_stale_conflict() {
    let db = shop_db().await;
    let pool = db.pool();
    let mut p = Table::insert(pool, &product("Mug", "kitchen", 900, json!({})))
        .await
        .unwrap();
    assert_eq!(p.version, 1);
    let stale = p.clone();

    p.stock -= 1;
    Table::update(pool, &mut p).await.unwrap();
    assert_eq!(p.version, 2, "the caller's value carries the new version");
    assert_eq!(p.stock, 9);

    let mut late = stale.clone();
    late.stock = 0;
    match Table::update(pool, &mut late).await {
        Err(Error::Conflict {
            entity,
            key,
            version,
        }) => {
            assert_eq!(entity, "Product");
            assert_eq!(key, format!("{:?}", p.id));
            assert_eq!(version, 1, "the version the caller had");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        late.stock, 0,
        "a failed update leaves the caller's value alone"
    );
    let stored = Product::get(pool, &p.id).await.unwrap();
    assert_eq!((stored.stock, stored.version), (9, 2), "nothing changed");

    // Conditional patch.
    let err = Product::patch(&p.id)
        .add(Product::STOCK, -1)
        .expect_version(1)
        .execute(pool)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { version: 1, .. }), "{err:?}");
    let ok = Product::patch(&p.id)
        .add(Product::STOCK, -1)
        .expect_version(2)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!((ok.stock, ok.version), (8, 3));

    // A deleted row is NotFound, not Conflict.
    Product::delete(pool, &p.id).await.unwrap();
    assert!(matches!(
        Table::update(pool, &mut p).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        Product::patch(&p.id)
            .set(Product::STOCK, 1)
            .expect_version(3)
            .execute(pool)
            .await,
        Err(Error::NotFound { .. })
    ));
    let _ = Uuid::nil();
}

#[tokio::test]
async fn same_version_race_has_exactly_one_winner_per_round() {
    const TASKS: usize = 8;
    const ROUNDS: usize = 25;
    let db = dbpat_runtime::testing::TestDatabase::with_max_connections(TASKS as u32).await;
    let schema = dbpat::ddl::render_schema(&[&Product::TABLE]).unwrap();
    sqlx::raw_sql(&schema).execute(db.pool()).await.unwrap();
    let pool = db.pool().clone();
    let start = Table::insert(&pool, &product("Contended", "hot", 100, json!({})))
        .await
        .unwrap();
    let id = start.id;
    for round in 0..ROUNDS {
        let current = Product::get(&pool, &id).await.unwrap();
        let barrier = Arc::new(Barrier::new(TASKS));
        let mut handles = Vec::new();
        for task in 0..TASKS {
            let (pool, barrier, mut mine) = (pool.clone(), barrier.clone(), current.clone());
            handles.push(tokio::spawn(async move {
                mine.stock += 1;
                mine.name = format!("round {round} task {task}");
                barrier.wait().await;
                Table::update(&pool, &mut mine).await.map(|()| mine)
            }));
        }
        let mut winners = Vec::new();
        for h in handles {
            match h.await.unwrap() {
                Ok(row) => winners.push(row),
                Err(Error::Conflict { version, .. }) => {
                    assert_eq!(version, i64::from(current.version))
                }
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one update applies"
        );
        let stored = Product::get(&pool, &id).await.unwrap();
        assert_eq!(stored.version, current.version + 1);
        assert_eq!(stored.stock, current.stock + 1);
        assert_eq!(
            stored.name, winners[0].name,
            "the winner's write is the stored one"
        );
    }
    let end = Product::get(&pool, &id).await.unwrap();
    assert_eq!(end.stock, start.stock + ROUNDS as i32, "no lost update");
    assert_eq!(end.version, start.version + ROUNDS as i32);
}

#[tokio::test]
async fn retry_on_conflict_loses_no_increment() {
    const TASKS: usize = 6;
    const EACH: usize = 15;
    let db = dbpat_runtime::testing::TestDatabase::with_max_connections(TASKS as u32).await;
    let schema = dbpat::ddl::render_schema(&[&Product::TABLE]).unwrap();
    sqlx::raw_sql(&schema).execute(db.pool()).await.unwrap();
    let pool = db.pool().clone();
    let id = Table::insert(&pool, &product("Counter", "hot", 100, json!({})))
        .await
        .unwrap()
        .id;
    let mut handles = Vec::new();
    for _ in 0..TASKS {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..EACH {
                loop {
                    let mut p = Product::get(&pool, &id).await.unwrap();
                    p.stock += 1;
                    match Table::update(&pool, &mut p).await {
                        Ok(()) => break,
                        Err(Error::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for h in handles {
        conflicts += h.await.unwrap();
    }
    let end = Product::get(&pool, &id).await.unwrap();
    assert_eq!(
        end.stock,
        10 + (TASKS * EACH) as i32,
        "every increment landed"
    );
    assert_eq!(end.version, 1 + (TASKS * EACH) as i32);
    eprintln!("{conflicts} conflicts were retried");
}
