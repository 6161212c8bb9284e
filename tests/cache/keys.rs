//! Keys of free-text ids on real Redis + PostgreSQL: ids made of separators, braces, glob
//! characters and escapes each get keys of their own, and deleting one (tracked or SCAN sweep,
//! with and without hash tag) leaves every other id's row and attributes in place.

use crate::support::cache as cache_common;

use cache_common::*;
use dbpat::cache::redis::aio::MultiplexedConnection;
use dbpat::cache::{AttributeSweep, Decoded, SourceCache};
use dbpat::model::CachePolicy;
use dbpat::testing::{self, TestRedis};
use std::time::Duration;

/// Ids that are prefixes, globs or escapes of one another (with `:` as the separator).
const IDS: &[&str] = &[
    "a", "a:b", "a:*", "a:b:c", "a*", "a?", "[a]", "{a}", "a\\b", "a b", "*", "?", ":", "a:", ":a",
    "}{", "%", "%3A", "a%3Ab", "",
];

/// Attribute names, chosen so that under unescaped keys `a` + `b` is the row `a:b`, `a` + `*`
/// the row `a:*` and `a` + `b:c` the row `a:b:c`.
const ATTRIBUTES: &[&str] = &["profile", "b", "b:c", "*"];

/// Deleted one after the other; the broadest SCAN patterns first.
const VICTIMS: &[&str] = &["a", "*", "a:b", "", "%"];

const NAMED: CachePolicy = CachePolicy {
    key_prefix: "named",
    ..POLICY
};

fn name_of(id: &str) -> String {
    format!("row {id}")
}

/// The JSON every (id, attribute) holds, unique to that pair.
fn attribute_value(id: &str, attribute: &str) -> String {
    format!("{id:?} / {attribute:?}")
}

/// A raw key no cache call wrote, under the id's attribute format: only the SCAN sweep finds it.
fn foreign(cache: &SourceCache<Named, PgNamed>, id: &str) -> String {
    cache.attribute_key(&id.to_owned(), "written-elsewhere")
}

async fn raw_set(conn: &mut MultiplexedConnection, key: &str, value: &str) {
    let _: () = dbpat::cache::redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("EX")
        .arg(120)
        .query_async(conn)
        .await
        .unwrap();
}

/// The row and every attribute of `id` are in Redis, each with its own value, and `find`
/// returns the row (from Redis: `loads` does not move).
async fn assert_intact(
    cache: &SourceCache<Named, PgNamed>,
    raw: &mut MultiplexedConnection,
    id: &str,
    sweep: AttributeSweep,
    what: &str,
) {
    let key = cache.key(&id.to_owned());
    let bytes = raw_get(raw, &key)
        .await
        .unwrap_or_else(|| panic!("{what}: the row of {id:?} ({key:?}) is gone"));
    let expected = Named {
        id: id.to_owned(),
        name: name_of(id),
    };
    assert_eq!(
        cache.decode_value(&bytes),
        Decoded::Value(expected.clone()),
        "{what}: {key:?} holds the row of {id:?}"
    );
    for attribute in ATTRIBUTES {
        let key = cache.attribute_key(&id.to_owned(), attribute);
        let json = serde_json::to_vec(&attribute_value(id, attribute)).unwrap();
        assert_eq!(
            raw_get(raw, &key).await,
            Some(json),
            "{what}: the attribute {attribute:?} of {id:?} ({key:?})"
        );
    }
    if sweep == AttributeSweep::Scan {
        let key = foreign(cache, id);
        assert_eq!(
            raw_get(raw, &key).await.as_deref(),
            Some(&b"x"[..]),
            "{what}: the foreign attribute of {id:?} ({key:?})"
        );
    }
    let loads = cache.source().loads();
    assert_eq!(
        cache.find(&id.to_owned()).await.unwrap(),
        Some(expected),
        "{what}: find {id:?}"
    );
    assert_eq!(
        cache.source().loads(),
        loads,
        "{what}: find {id:?} is a hit"
    );
}

#[tokio::test]
async fn every_id_has_its_own_keys_and_a_delete_sweeps_only_its_own() {
    let redis = TestRedis::new().await;
    let db = named_database().await;
    let mut raw = raw(&testing::redis_url()).await;
    for sweep in [AttributeSweep::Tracked, AttributeSweep::Scan] {
        for hash_tag in [false, true] {
            let what = format!("{sweep:?} sweep, hash_tag {hash_tag}");
            sqlx::query(
                "INSERT INTO named_items (id, name) SELECT id, 'row ' || id \
                 FROM unnest($1::text[]) id ON CONFLICT (id) DO NOTHING",
            )
            .bind(IDS)
            .execute(db.pool())
            .await
            .unwrap();
            let mut config = config(&format!("{}{sweep:?}-{hash_tag}:", redis.prefix()));
            config.attribute_sweep = sweep;
            let cache = handle_at(&testing::redis_url(), config)
                .await
                .with_source(CachePolicy { hash_tag, ..NAMED }, PgNamed::new(db.pool()))
                .unwrap();

            // Every row cached, then every attribute written (and a foreign one for SCAN).
            for id in IDS {
                let row = cache.find(&id.to_string()).await.unwrap();
                assert_eq!(row.map(|r| r.name), Some(name_of(id)), "{what}: {id:?}");
            }
            for id in IDS {
                for attribute in ATTRIBUTES {
                    cache
                        .put_attribute(
                            &id.to_string(),
                            attribute,
                            &attribute_value(id, attribute),
                            Duration::from_secs(120),
                        )
                        .await;
                }
                if sweep == AttributeSweep::Scan {
                    raw_set(&mut raw, &foreign(&cache, id), "x").await;
                }
            }
            for id in IDS {
                assert_intact(&cache, &mut raw, id, sweep, &format!("{what}, before")).await;
            }

            let mut deleted = Vec::new();
            for victim in VICTIMS {
                let pool = db.pool().clone();
                let removed = cache
                    .delete_with(&victim.to_string(), || async move {
                        sqlx::query("DELETE FROM named_items WHERE id = $1")
                            .bind(*victim)
                            .execute(&pool)
                            .await
                            .map(|r| r.rows_affected())
                            .map_err(dbpat::Error::from)
                    })
                    .await
                    .unwrap();
                assert_eq!(removed, 1, "{what}: delete {victim:?}");
                deleted.push(*victim);
                let after = format!("{what}, after deleting {deleted:?}");

                // The victim's own keys are gone ...
                let id = victim.to_string();
                assert_eq!(raw_get(&mut raw, &cache.key(&id)).await, None, "{after}");
                for attribute in ATTRIBUTES {
                    let key = cache.attribute_key(&id, attribute);
                    assert_eq!(raw_get(&mut raw, &key).await, None, "{after}: {key:?}");
                }
                if sweep == AttributeSweep::Scan {
                    let key = foreign(&cache, victim);
                    assert_eq!(raw_get(&mut raw, &key).await, None, "{after}: {key:?}");
                }
                assert_eq!(cache.find(&id).await.unwrap(), None, "{after}");
                // ... and nobody else's.
                for id in IDS.iter().filter(|id| !deleted.contains(id)) {
                    assert_intact(&cache, &mut raw, id, sweep, &after).await;
                }
            }
        }
    }
}

/// A hand-written policy whose key prefix could collide with the cache's own keys (or is not
/// one segment) is a typed error, not a panic, and no handle is built.
#[tokio::test]
async fn a_hand_written_policy_with_a_reserved_or_malformed_prefix_is_refused() {
    let redis = TestRedis::new().await;
    let db = database(1).await;
    let cache = handle(redis.prefix()).await;
    for bad in [
        "lease", "writers", "subkeys", "dataset", "", "a:b", "a b", "{x}", "x*",
    ] {
        let err = cache
            .with_source(
                CachePolicy {
                    key_prefix: bad,
                    ..POLICY
                },
                PgItems::new(db.pool()),
            )
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        match err {
            dbpat::Error::InvalidPolicy { key_prefix, .. } => assert_eq!(key_prefix, bad),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(cache.with_source(POLICY, PgItems::new(db.pool())).is_ok());
}
