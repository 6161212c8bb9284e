//! The cached data API against real Redis + PostgreSQL: keys and TTLs, cache-aside reads,
//! negative entries, get_many batching, write-through / invalidation, deletes with attribute
//! keys, undecodable values, write intents around an outer transaction.

use crate::support::cache as cache_common;

use cache_common::*;
use dbpat::cache::{AttributeSweep, CacheEntity, Codec};
use dbpat::model::CachePolicy;

on_both!(
#[tokio::test]
keys_ttls_hits_and_negative_entries(on) {
    let redis = TestKeys::new(on).await;
    let db = database(3).await;
    let items = items_on(on, redis.prefix(), db.pool(), POLICY).await;
    let mut raw = raw_on(on).await;
    let key = format!("{}item:{}", redis.prefix(), on.id(1));
    assert_eq!(items.key(&1), key);
    assert_eq!(items.attribute_key(&1, "profile"), format!("{key}:profile"));

    let first = items.find(&1).await.unwrap().unwrap();
    assert_eq!(first.name, "item-1");
    let again = items.find(&1).await.unwrap().unwrap();
    assert_eq!(again, first);
    assert_eq!(items.source().loads(), 1, "second read is a hit");
    let pttl = raw_pttl(&mut raw, &key).await;
    assert!(
        (899_000..=990_000).contains(&pttl),
        "ttl 900 s + jitter: {pttl}"
    );

    // Penetration: a missing row is cached as a negative entry with the short TTL.
    assert_eq!(items.find(&42).await.unwrap(), None);
    assert_eq!(items.find(&42).await.unwrap(), None);
    assert_eq!(items.source().loads(), 2);
    let neg_key = items.key(&42);
    assert_eq!(
        raw_get(&mut raw, &neg_key).await.unwrap(),
        Codec::negative(&items.cache().generation().unwrap())
    );
    let pttl = raw_pttl(&mut raw, &neg_key).await;
    assert!(
        (59_000..=66_000).contains(&pttl),
        "negative ttl 60 s + jitter: {pttl}"
    );

    // Inserting that id clears it.
    let pool = db.pool().clone();
    let inserted = items
        .insert_with(|| async {
            sqlx::query("INSERT INTO items (id, name) VALUES (42, 'new')")
                .execute(&pool)
                .await?;
            Ok::<_, dbpat::Error>(Item {
                id: 42,
                name: "new".into(),
                version: 1,
            })
        })
        .await
        .unwrap();
    assert_eq!(inserted.cache_id(), 42);
    assert_eq!(items.find(&42).await.unwrap().unwrap().name, "new");

    let m = items.metrics();
    assert_eq!((m.hits, m.negative_hits), (1, 1), "{m:?}");
    assert_eq!(m.misses, 3, "{m:?}");
    assert_eq!(m.fills, 3, "{m:?}");
    assert_eq!(m.redis_errors, 0, "{m:?}");
    // Every key written has a TTL (none is left at -1).
    let keys = keys_under(on, redis.prefix()).await;
    for k in keys {
        assert!(raw_pttl(&mut raw, &k).await > 0, "{k} has no TTL");
    }
});

on_both!(
#[tokio::test]
hash_tag_keys_share_a_slot(on) {
    let redis = TestKeys::new(on).await;
    let db = database(1).await;
    let policy = CachePolicy {
        hash_tag: true,
        ..POLICY
    };
    let items = items_on(on, redis.prefix(), db.pool(), policy).await;
    assert_eq!(items.key(&1), format!("{}item:{{1}}", redis.prefix()));
    assert_eq!(
        items.attribute_key(&1, "profile"),
        format!("{}item:{{1}}:profile", redis.prefix())
    );
    assert_eq!(items.find(&1).await.unwrap().unwrap().id, 1);
    let mut raw = raw_on(on).await;
    assert!(raw_get(&mut raw, &items.key(&1)).await.is_some());
});

on_both!(
#[tokio::test]
get_many_uses_one_mget_and_one_query(on) {
    let redis = TestKeys::new(on).await;
    let db = database(5).await;
    let items = items_on(on, redis.prefix(), db.pool(), POLICY).await;
    items.find(&2).await.unwrap();
    items.find(&4).await.unwrap();
    let before = items.metrics();
    let got = items.find_many(&[1, 2, 3, 4, 99, 1]).await.unwrap();
    let names: Vec<Option<String>> = got.into_iter().map(|i| i.map(|i| i.name)).collect();
    assert_eq!(
        names,
        [
            Some("item-1"),
            Some("item-2"),
            Some("item-3"),
            Some("item-4"),
            None,
            Some("item-1")
        ]
        .map(|n| n.map(String::from))
    );
    assert_eq!(items.source().batch_loads(), 1, "one query for all misses");
    let m = items.metrics();
    assert_eq!(m.hits - before.hits, 2);
    assert_eq!(m.fills - before.fills, 3, "1, 3 and the negative 99");
    // Everything is cached now: no database work at all.
    let all = items.find_many(&[1, 2, 3, 4, 99]).await.unwrap();
    assert_eq!(all.iter().flatten().count(), 4);
    assert_eq!(items.source().batch_loads(), 1);
    assert_eq!(items.find_many(&[]).await.unwrap(), vec![]);
});

on_both!(
#[tokio::test]
invalidate_and_write_through_policies(on) {
    let redis = TestKeys::new(on).await;
    let db = database(2).await;
    let mut raw = raw_on(on).await;
    let pool = db.pool().clone();

    let inv = items_on(on, &format!("{}inv:", redis.prefix()), db.pool(), POLICY).await;
    inv.find(&1).await.unwrap();
    let row = inv
        .write_with(&1, || update_name(&pool, 1, "renamed"))
        .await
        .unwrap();
    assert_eq!(row.version, 2);
    assert!(
        raw_get(&mut raw, &inv.key(&1)).await.is_none(),
        "invalidated"
    );
    assert_eq!(inv.find(&1).await.unwrap().unwrap().name, "renamed");

    let wt = items_on(on, &format!("{}wt:", redis.prefix()), db.pool(), WRITE_THROUGH).await;
    wt.find(&2).await.unwrap();
    let row = wt
        .write_with(&2, || update_name(&pool, 2, "patched"))
        .await
        .unwrap();
    let cached = raw_get(&mut raw, &wt.key(&2))
        .await
        .expect("written through");
    assert!(String::from_utf8_lossy(&cached).contains("\"patched\""));
    let loads = wt.source().loads();
    assert_eq!(wt.find(&2).await.unwrap().unwrap(), row);
    assert_eq!(
        wt.source().loads(),
        loads,
        "served from the written-through value"
    );
    let m = wt.metrics();
    assert_eq!(m.write_throughs, 1, "{m:?}");

    // A failed write (versioned update conflict) is returned unchanged and invalidates.
    let err = wt
        .write_with(&2, || async {
            Err::<Item, _>(dbpat::Error::InvalidQuery("conflict"))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, dbpat::Error::InvalidQuery("conflict")),
        "{err:?}"
    );
    assert!(raw_get(&mut raw, &wt.key(&2)).await.is_none());
});

on_both!(
#[tokio::test]
delete_removes_the_row_and_its_attribute_keys(on) {
    let redis = TestKeys::new(on).await;
    let db = database(3).await;
    let mut raw = raw_on(on).await;
    let pool = db.pool().clone();
    let delete = |id: i64| {
        let pool = pool.clone();
        move || async move {
            sqlx::query("DELETE FROM items WHERE id = $1")
                .bind(id)
                .execute(&pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(dbpat::Error::from)
        }
    };

    // Tracked attribute keys, invalidate policy.
    let items = items_on(on, redis.prefix(), db.pool(), POLICY).await;
    items.find(&1).await.unwrap();
    items
        .put_attribute(&1, "profile", &"p", std::time::Duration::from_secs(60))
        .await;
    items
        .put_attribute(&1, "settings", &[1, 2], std::time::Duration::from_secs(60))
        .await;
    assert_eq!(
        items
            .get_attribute::<String>(&1, "profile")
            .await
            .as_deref(),
        Some("p")
    );
    assert_eq!(items.delete_with(&1, delete(1)).await.unwrap(), 1);
    assert!(raw_get(&mut raw, &items.key(&1)).await.is_none());
    assert!(raw_get(&mut raw, &items.attribute_key(&1, "profile"))
        .await
        .is_none());
    assert!(raw_get(&mut raw, &items.attribute_key(&1, "settings"))
        .await
        .is_none());
    assert_eq!(items.find(&1).await.unwrap(), None);

    // SCAN sweep also finds attribute keys written by other code; write-through leaves a
    // negative entry.
    let mut config = config(&format!("{}scan:", redis.prefix()));
    config.attribute_sweep = AttributeSweep::Scan;
    let scan = handle_on(on, config)
        .await
        .with_source(WRITE_THROUGH, PgItems::new(db.pool()))
        .unwrap();
    let foreign = scan.attribute_key(&2, "by-someone-else");
    let _: () = dbpat::cache::redis::cmd("SET")
        .arg(&foreign)
        .arg("x")
        .arg("EX")
        .arg(60)
        .query_async(&mut raw)
        .await
        .unwrap();
    scan.find(&2).await.unwrap();
    scan.delete_with(&2, delete(2)).await.unwrap();
    assert!(raw_get(&mut raw, &foreign).await.is_none());
    assert_eq!(
        raw_get(&mut raw, &scan.key(&2)).await.as_deref(),
        Some(&Codec::negative(&scan.cache().generation().unwrap())[..])
    );
    let loads = scan.source().loads();
    assert_eq!(scan.find(&2).await.unwrap(), None);
    assert_eq!(
        scan.source().loads(),
        loads,
        "negative entry written through"
    );
});

on_both!(
#[tokio::test]
undecodable_values_are_misses_and_replaced(on) {
    let redis = TestKeys::new(on).await;
    let db = database(2).await;
    let items = items_on(on, redis.prefix(), db.pool(), POLICY).await;
    let mut raw = raw_on(on).await;
    let set = |key: String, value: Vec<u8>| async move {
        let mut conn = cache_common::raw_on(on).await;
        let _: () = dbpat::cache::redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EX")
            .arg(60)
            .query_async(&mut conn)
            .await
            .unwrap();
    };
    set(items.key(&1), b"\xff garbage".to_vec()).await;
    // Written by an older build whose struct had another layout.
    let old = Codec::new(7).encode(
        &items.cache().generation().unwrap(),
        &Item {
            id: 2,
            name: "stale layout".into(),
            version: 1,
        },
    );
    set(items.key(&2), old.unwrap()).await;

    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "item-1");
    assert_eq!(items.find(&2).await.unwrap().unwrap().name, "item-2");
    assert_eq!(items.metrics().decode_errors, 2);
    for id in [1, 2] {
        let replaced = raw_get(&mut raw, &items.key(&id)).await.unwrap();
        assert!(String::from_utf8_lossy(&replaced).contains(&format!("item-{id}")));
    }
    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "item-1");
    assert_eq!(items.source().loads(), 2);
});

on_both!(
#[tokio::test]
write_intent_around_an_outer_transaction(on) {
    let redis = TestKeys::new(on).await;
    let db = database(1).await;
    let items = items_on(on, redis.prefix(), db.pool(), WRITE_THROUGH).await;
    let mut raw = raw_on(on).await;
    items.find(&1).await.unwrap();

    let intent = items.begin_write(&1).await.unwrap();
    let mut tx = db.pool().begin().await.unwrap();
    let row: (i64, String, i64) = sqlx::query_as(
        "UPDATE items SET name = 'in-tx', version = version + 1 WHERE id = 1 \
         RETURNING id, name, version",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    // While the write is in flight, reads go to the database and fill nothing.
    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "item-1");
    assert!(raw_get(&mut raw, &items.key(&1)).await.is_none());
    assert_eq!(items.metrics().write_bypasses, 1);
    tx.commit().await.unwrap();
    intent
        .committed(&Item {
            id: row.0,
            name: row.1,
            version: row.2,
        })
        .await;
    let loads = items.source().loads();
    assert_eq!(items.find(&1).await.unwrap().unwrap().name, "in-tx");
    assert_eq!(items.source().loads(), loads, "written through");

    // A dropped intent (the write path panicked or returned early) still invalidates.
    drop(items.begin_write(&1).await);
    for _ in 0..100 {
        if raw_get(&mut raw, &items.key(&1)).await.is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(raw_get(&mut raw, &items.key(&1)).await.is_none());
    let writers: i64 = dbpat::cache::redis::cmd("EXISTS")
        .arg(format!("{}writers:item:{}", redis.prefix(), on.id(1)))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(writers, 0, "the dropped writer unregistered");
});

// Issue 11, item 1: a reply error (here `WRONGTYPE`, from a key that holds a hash) is about one
// key, not an outage: it must not open the handle's breaker, and a write right after it must
// still register, so another handle never serves the row as it was before the write.
on_both!(
#[tokio::test]
a_reply_error_does_not_open_the_breaker_and_the_next_write_registers(on) {
    let redis = TestKeys::new(on).await;
    let db = database(3).await;
    let writer = items_on(on, redis.prefix(), db.pool(), POLICY).await;
    let reader = items_on(on, redis.prefix(), db.pool(), POLICY).await;
    assert_eq!(reader.find(&1).await.unwrap().unwrap().name, "item-1");
    assert_eq!(
        reader.source().loads(),
        1,
        "the reader now holds row 1 in Redis"
    );

    let mut raw = raw_on(on).await;
    let _: i64 = dbpat::cache::redis::cmd("HSET")
        .arg(writer.key(&2))
        .arg("field")
        .arg("value")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        writer.find(&2).await.unwrap().unwrap().name,
        "item-2",
        "a key Redis refuses is answered from the database"
    );
    assert!(writer.metrics().redis_errors >= 1, "the WRONGTYPE was seen");
    let skipped = writer.metrics().redis_skipped;

    writer
        .write_with(&1, || update_name(db.pool(), 1, "after"))
        .await
        .unwrap();
    assert_eq!(
        writer.metrics().redis_skipped,
        skipped,
        "the breaker stayed closed: nothing was skipped"
    );
    for round in 0..10 {
        assert_eq!(
            reader.find(&1).await.unwrap().unwrap().name,
            "after",
            "round {round}: the other handle must not serve the pre-write row"
        );
    }
    redis.cleanup().await;
});
