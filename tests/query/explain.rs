//! Index use on realistic data: 10,000 users and 10,000 products loaded with `insert_many`,
//! `ANALYZE`d, then the EXPLAIN (ANALYZE) plans of `find_by_email`'s statement, a JSONB
//! containment, a full-text search and a `->>` equality must read the expected index. No
//! planner settings are changed: each predicate matches 1% of the rows or less.

use crate::support::query as query_common;
use crate::support::shop as models;
use dbpat::TableRow as _;

use dbpat::query::plan_uses_index;
use dbpat::{Json, Table};
use models::{Product, User, UserMetadata};
use query_common::*;
use serde_json::json;

const ROWS: usize = 10_000;
const WORDS: &[&str] = &[
    "amber", "basalt", "cedar", "dune", "ember", "fjord", "garnet", "harbor", "indigo", "jasper",
];

#[tokio::test]
async fn lookups_on_ten_thousand_rows_use_their_indexes() {
    let db = shop_db().await;
    let pool = db.pool();
    let users: Vec<User> = (0..ROWS)
        .map(|n| {
            let mut u = user(&format!("user-{n}@example.com"));
            u.metadata = Json(UserMetadata {
                role: Some(format!("role-{}", n % 200)),
                ..Default::default()
            });
            u
        })
        .collect();
    assert_eq!(
        User::insert_many_count(pool, &users).await.unwrap(),
        ROWS as u64
    );
    let products: Vec<Product> = (0..ROWS)
        .map(|n| {
            // Brand: 1 in 100; the rare word: 1 in 1000 products.
            let word = if n % 1000 == 7 {
                WORDS[n / 1000]
            } else {
                "standard"
            };
            product(
                &format!("Item {n} {word}"),
                &format!("category-{}", n % 20),
                100 + n as i64,
                json!({"brand": format!("brand-{}", n % 100), "size": n % 7}),
            )
        })
        .collect();
    let stored = Product::insert_many(pool, &products).await.unwrap();
    assert_eq!(stored.len(), ROWS);
    sqlx::query("ANALYZE").execute(pool).await.unwrap();

    let plan = User::filter(User::EMAIL.eq("user-4321@example.com"))
        .explain(pool)
        .await
        .unwrap();
    assert!(plan_uses_index(&plan, "users_email_key"), "{plan}");
    // That is the statement find_by_email runs.
    assert_eq!(
        User::filter(User::EMAIL.eq("x")).to_sql(),
        User::sql().find_by_unique(User::EMAIL.index()).unwrap()
    );
    let found = User::find_by_email(pool, "user-4321@example.com")
        .await
        .unwrap();
    assert_eq!(found.unwrap().email, "user-4321@example.com");

    let containment = Product::filter(Product::ATTRIBUTES.contains(json!({"brand": "brand-42"})));
    let plan = containment.explain(pool).await.unwrap();
    assert!(
        plan_uses_index(&plan, "idx_products_attributes_gin"),
        "{plan}"
    );
    assert!(
        plan.contains("rows=100 "),
        "100 of 10,000 rows match: {plan}"
    );

    let plan = Product::filter(Product::search("garnet"))
        .explain(pool)
        .await
        .unwrap();
    assert!(
        plan_uses_index(&plan, "idx_products_name_description_fts"),
        "{plan}"
    );
    let hits = Product::filter(Product::search("garnet"))
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].name, "Item 6007 garnet");

    let plan = User::filter(User::METADATA.field("role").eq("role-17"))
        .explain(pool)
        .await
        .unwrap();
    assert!(plan_uses_index(&plan, "idx_users_metadata_role"), "{plan}");
}
