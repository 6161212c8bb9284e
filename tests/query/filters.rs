//! Typed filters, ordering and pagination on the real PostgreSQL: every comparison, IN /
//! NOT IN, IS [NOT] NULL, AND/OR/NOT, enum filters, JSONB containment and `->>` equality,
//! full-text search, ORDER BY, LIMIT/OFFSET, keyset pagination (uniform and mixed
//! directions), and count/exists/delete of a filtered query.

use crate::support::query as query_common;
use crate::support::shop as models;

use dbpat::{Filter, Table};
use models::{Product, User, UserMetadata, UserStatus};
use query_common::*;
use rust_decimal::Decimal;
use serde_json::json;

fn codes(rows: &[Gadget]) -> Vec<String> {
    rows.iter().map(|g| g.code.clone()).collect()
}

fn smalls(rows: &[Gadget]) -> Vec<i16> {
    rows.iter().map(|g| g.small).collect()
}

#[tokio::test]
async fn comparisons_sets_nulls_and_boolean_logic() {
    let db = shop_db().await;
    let pool = db.pool();
    Gadget::insert_many(pool, &(0..20).map(gadget).collect::<Vec<_>>())
        .await
        .unwrap();
    let run = |f: Filter<Gadget>| {
        Gadget::filter(f)
            .order_by(Gadget::SMALL.asc())
            .fetch_all(pool)
    };
    assert_eq!(smalls(&run(Gadget::SMALL.eq(3)).await.unwrap()), [3]);
    assert_eq!(run(Gadget::SMALL.ne(3)).await.unwrap().len(), 19);
    assert_eq!(smalls(&run(Gadget::SMALL.lt(2)).await.unwrap()), [0, 1]);
    assert_eq!(smalls(&run(Gadget::SMALL.le(2)).await.unwrap()), [0, 1, 2]);
    assert_eq!(smalls(&run(Gadget::SMALL.gt(17)).await.unwrap()), [18, 19]);
    assert_eq!(
        smalls(&run(Gadget::SMALL.ge(17)).await.unwrap()),
        [17, 18, 19]
    );
    assert_eq!(
        smalls(&run(Gadget::SMALL.in_([1, 5, 7, 99])).await.unwrap()),
        [1, 5, 7]
    );
    assert_eq!(run(Gadget::SMALL.not_in(0..10)).await.unwrap().len(), 10);
    assert_eq!(
        smalls(&run(Gadget::CODE.in_(["G-00002", "G-00004"])).await.unwrap()),
        [2, 4]
    );
    // NULLs: note is NULL for every 5th row.
    assert_eq!(
        smalls(&run(Gadget::NOTE.is_null()).await.unwrap()),
        [0, 5, 10, 15]
    );
    assert_eq!(run(Gadget::NOTE.is_not_null()).await.unwrap().len(), 16);
    assert_eq!(smalls(&run(Gadget::NOTE.eq("note 7")).await.unwrap()), [7]);
    // Decimal, date, bool, enum (also Option<enum>) columns.
    assert_eq!(
        smalls(&run(Gadget::PRICE.ge(Decimal::new(2017, 2))).await.unwrap()),
        [18, 19]
    );
    assert_eq!(run(Gadget::ACTIVE.eq(true)).await.unwrap().len(), 10);
    assert_eq!(
        smalls(
            &run(Gadget::KIND.eq(GadgetKind::DooHickey) & Gadget::SMALL.lt(9))
                .await
                .unwrap()
        ),
        [2, 5, 8]
    );
    assert_eq!(
        run(Gadget::KIND.in_([GadgetKind::Widget, GadgetKind::Gizmo]))
            .await
            .unwrap()
            .len(),
        14
    );
    assert_eq!(
        run(Gadget::ALT_KIND.eq(GadgetKind::Gizmo))
            .await
            .unwrap()
            .len(),
        10
    );
    // AND / OR / NOT, with the operators and the methods.
    let f = (Gadget::SMALL.lt(3) | Gadget::SMALL.gt(17)) & !Gadget::SMALL.eq(1);
    assert_eq!(smalls(&run(f).await.unwrap()), [0, 2, 18, 19]);
    let f = Gadget::SMALL
        .eq(4)
        .or(Gadget::SMALL.eq(6))
        .and(Gadget::ACTIVE.eq(true).not().not());
    assert_eq!(smalls(&run(f).await.unwrap()), [4, 6]);
    assert_eq!(run(Filter::all()).await.unwrap().len(), 20);

    // count / exists / delete of a filtered query.
    assert_eq!(
        Gadget::filter(Gadget::SMALL.lt(5))
            .count(pool)
            .await
            .unwrap(),
        5
    );
    assert!(Gadget::filter(Gadget::CODE.eq("G-00019"))
        .exists(pool)
        .await
        .unwrap());
    assert!(!Gadget::filter(Gadget::CODE.eq("G-99999"))
        .exists(pool)
        .await
        .unwrap());
    assert_eq!(
        Gadget::filter(Gadget::SMALL.ge(15))
            .delete(pool)
            .await
            .unwrap(),
        5
    );
    assert_eq!(Gadget::count(pool).await.unwrap(), 15);
    let one = Gadget::filter(Gadget::SMALL.eq(2))
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(one.small, 2);
    assert!(matches!(
        Gadget::filter(Gadget::SMALL.eq(99)).fetch_one(pool).await,
        Err(dbpat::Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn jsonb_containment_field_equality_and_fulltext_search() {
    let db = shop_db().await;
    let pool = db.pool();
    let rows = vec![
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
    Product::insert_many(pool, &rows).await.unwrap();
    let names = |v: Vec<Product>| {
        let mut n: Vec<String> = v.into_iter().map(|p| p.name).collect();
        n.sort();
        n
    };
    // The patterns document's query: category = 'electronics' AND attributes @> '{"brand": "Apple"}'.
    let apple = Product::filter(
        Product::CATEGORY.eq("electronics")
            & Product::ATTRIBUTES.contains(json!({"brand": "Apple"})),
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(names(apple), ["MacBook Air", "iPhone 15"]);
    // attributes->>'color' = 'black'
    let black = Product::filter(Product::ATTRIBUTES.field("color").eq("black"))
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(names(black), ["Galaxy S24", "iPhone 15"]);
    assert_eq!(
        Product::filter(Product::ATTRIBUTES.field("color").ne("black"))
            .count(pool)
            .await
            .unwrap(),
        1,
        "->> of a missing key is NULL, which <> does not match"
    );
    // Full-text over name || ' ' || description, web-search syntax.
    let found = Product::filter(Product::search("macbook"))
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(names(found), ["MacBook Air"]);
    let found = Product::filter(Product::search("electronics -macbook -iphone"))
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(names(found), ["Galaxy S24"]);
    let found = Product::filter(Product::search("tables"))
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(names(found), ["Oak table"], "stemmed: tables matches table");
    assert!(Product::search("x").to_sql().starts_with(
        "to_tsvector('english', name || ' ' || description) @@ websearch_to_tsquery('english', $1)"
    ));
    // Typed JSON columns (Json<T>) get containment too.
    let mut u = user("role@example.com");
    u.metadata = dbpat::Json(UserMetadata {
        role: Some("admin".into()),
        ..Default::default()
    });
    Table::insert(pool, &u).await.unwrap();
    Table::insert(pool, &user("plain@example.com"))
        .await
        .unwrap();
    let admins = User::filter(User::METADATA.contains(json!({"role": "admin"})))
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(admins.len(), 1);
    let admins = User::filter(
        User::METADATA.field("role").eq("admin") & User::STATUS.eq(UserStatus::Active),
    )
    .count(pool)
    .await
    .unwrap();
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn order_limit_offset_and_keyset_pages() {
    let db = shop_db().await;
    let pool = db.pool();
    Gadget::insert_many(pool, &(0..25).map(gadget).collect::<Vec<_>>())
        .await
        .unwrap();
    let page = Gadget::query()
        .order_by(Gadget::SMALL.desc())
        .limit(3)
        .offset(2)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(smalls(&page), [22, 21, 20]);

    // Keyset, uniform direction: (kind, code) > ($1, $2).
    let q = || {
        Gadget::filter(Gadget::SMALL.lt(20))
            .order_by(Gadget::KIND.asc())
            .order_by(Gadget::CODE.asc())
            .limit(7)
    };
    let mut all = Vec::new();
    let mut page = q().fetch_all(pool).await.unwrap();
    while !page.is_empty() {
        all.extend(codes(&page));
        let last = page.last().unwrap().clone();
        let next = q().after(&last);
        assert!(
            next.to_sql().contains("AND (kind, code) > ($2, $3)"),
            "{}",
            next.to_sql()
        );
        page = next.fetch_all(pool).await.unwrap();
    }
    let mut expected: Vec<Gadget> = (0..20).map(gadget).collect();
    expected.sort_by(|a, b| (a.kind.as_str(), &a.code).cmp(&(b.kind.as_str(), &b.code)));
    assert_eq!(all, codes(&expected), "every row once, in order");

    // Mixed directions: active DESC, small ASC.
    let q = || {
        Gadget::query()
            .order_by(Gadget::ACTIVE.desc())
            .order_by(Gadget::SMALL.asc())
            .limit(4)
    };
    let mut seen = Vec::new();
    let mut page = q().fetch_all(pool).await.unwrap();
    while let Some(last) = page.last().cloned() {
        seen.extend(smalls(&page));
        page = q().after(&last).fetch_all(pool).await.unwrap();
    }
    let mut expected: Vec<i16> = (0..25).filter(|n| n % 2 == 0).collect();
    expected.extend((0..25).filter(|n| n % 2 == 1));
    assert_eq!(seen, expected);
    assert!(q()
        .after(&gadget(3))
        .to_sql()
        .contains("((active < $1) OR (active = $1 AND small > $2))"));
}
