//! Sessions as hashes with sliding expiry, against the real Redis.

use crate::support::{exists, keys, pttl};
use crate::support::{Backend, TestConn};
use dbpat_runtime::keyspace::{KeyspaceError, SessionStore};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Web {
    user_id: i64,
    role: String,
    cart: Vec<u32>,
}

on_each_deployment!(#[tokio::test] fn typed_session_round_trip_with_the_default_24_h_ttl);
async fn typed_session_round_trip_with_the_default_24_h_ttl<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let sessions = SessionStore::new(redis.connection(), keys(&redis));
    let value = Web {
        user_id: 7,
        role: "admin".into(),
        cart: vec![1, 2],
    };
    let id = sessions.create(&value).await.unwrap();
    assert_eq!(id.len(), 32);
    let key = sessions.key(&id).unwrap();
    assert_eq!(key, format!("{}session:{id}", redis.prefix()));
    let ms = pttl(&mut conn, &key).await;
    assert!(
        (86_000_000..=86_400_000).contains(&ms),
        "24 h TTL, got {ms} ms"
    );
    assert_eq!(sessions.load::<Web>(&id).await.unwrap(), Some(value));
    // Stored as one hash field per struct field (JSON-encoded).
    let role: Option<String> = sessions.get_field(&id, "role").await.unwrap();
    assert_eq!(role.as_deref(), Some("admin"));
    let stored = sessions.get_all(&id).await.unwrap().unwrap();
    assert_eq!(stored["role"], "\"admin\"", "the hash holds the JSON text");
    assert_eq!(
        sessions.get_field::<String>(&id, "missing").await.unwrap(),
        None
    );
    let other = sessions
        .create(&Web {
            user_id: 8,
            role: "x".into(),
            cart: vec![],
        })
        .await
        .unwrap();
    assert_ne!(id, other);

    assert!(sessions.destroy(&id).await.unwrap());
    assert!(!sessions.destroy(&id).await.unwrap());
    assert_eq!(sessions.load::<Web>(&id).await.unwrap(), None);
    assert!(matches!(
        sessions.create(&42).await,
        Err(KeyspaceError::InvalidArgument(_))
    ));
    assert!(matches!(
        sessions.get_all("a:b").await,
        Err(KeyspaceError::InvalidKeyPart { .. })
    ));
    assert!(matches!(
        sessions.create_fields::<&str>(&[]).await,
        Err(KeyspaceError::InvalidArgument(_))
    ));
}

on_each_deployment!(#[tokio::test] fn every_access_renews_the_ttl);
async fn every_access_renews_the_ttl<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let sessions = SessionStore::new(redis.connection(), keys(&redis));
    let id = sessions.create_fields(&[("user_id", 7)]).await.unwrap();
    let key = sessions.key(&id).unwrap();
    let shrink = |mut c: C, k: String| async move {
        let () = redis::cmd("PEXPIRE")
            .arg(k)
            .arg(5_000)
            .query_async(&mut c)
            .await
            .unwrap();
    };
    // get_all, get_field, set_fields and touch each restore the full 24 h.
    shrink(conn.clone(), key.clone()).await;
    assert!(sessions.get_all(&id).await.unwrap().is_some());
    assert!(pttl(&mut conn, &key).await > 86_000_000);
    shrink(conn.clone(), key.clone()).await;
    sessions.get_field::<i64>(&id, "user_id").await.unwrap();
    assert!(pttl(&mut conn, &key).await > 86_000_000);
    shrink(conn.clone(), key.clone()).await;
    assert!(sessions
        .set_fields(&id, &[("theme", "dark")])
        .await
        .unwrap());
    assert!(pttl(&mut conn, &key).await > 86_000_000);
    shrink(conn.clone(), key.clone()).await;
    assert!(sessions.touch(&id).await.unwrap());
    assert!(pttl(&mut conn, &key).await > 86_000_000);
    let all = sessions.get_all(&id).await.unwrap().unwrap();
    assert_eq!(all.get("theme").map(String::as_str), Some("\"dark\""));
    assert_eq!(all.get("user_id").map(String::as_str), Some("7"));
}

on_each_deployment!(#[tokio::test] fn sliding_expiry_in_real_time_and_no_resurrection);
async fn sliding_expiry_in_real_time_and_no_resurrection<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let sessions =
        SessionStore::new(redis.connection(), keys(&redis)).with_ttl(Duration::from_millis(400));
    let id = sessions.create_fields(&[("user_id", 7)]).await.unwrap();
    // Active for 4 x 150 ms = 600 ms > TTL: still alive thanks to sliding expiry.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            sessions.get_all(&id).await.unwrap().is_some(),
            "expired while active"
        );
    }
    // Idle longer than the TTL: gone.
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(sessions.get_all(&id).await.unwrap(), None);
    // A late write does not resurrect a partial session.
    assert!(!sessions
        .set_fields(&id, &[("theme", "dark")])
        .await
        .unwrap());
    assert!(!sessions.touch(&id).await.unwrap());
    assert!(!exists(&mut conn, &sessions.key(&id).unwrap()).await);
    assert_eq!(sessions.ttl(&id).await.unwrap(), None);
}

on_each_deployment!(#[tokio::test] fn an_overlong_ttl_is_clamped_and_the_session_still_expires);
async fn an_overlong_ttl_is_clamped_and_the_session_still_expires<C: TestConn>(redis: Backend<C>) {
    let mut conn = redis.connection();
    let sessions = SessionStore::new(redis.connection(), keys(&redis)).with_ttl(Duration::MAX);
    let id = sessions.create_fields(&[("user_id", 7)]).await.unwrap();
    let key = sessions.key(&id).unwrap();
    let ms = pttl(&mut conn, &key).await;
    assert!(ms > 3_000_000_000_000, "about 100 years, got {ms}");
    assert!(sessions.touch(&id).await.unwrap());
    assert!(sessions.ttl(&id).await.unwrap().unwrap() > Duration::from_secs(86_400 * 365));
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    user_id: i64,
    role: String,
}

#[derive(Debug, PartialEq, Deserialize)]
struct WithTheme {
    user_id: i64,
    theme: Option<String>,
}

// Issue 17: `set_fields(&id, &[("theme", "dark")])` used to store the raw text `dark`, and
// `load` then failed with `codec: expected value at line 1 column 1`.
on_each_deployment!(#[tokio::test] fn every_write_is_json_and_load_ignores_fields_the_struct_lacks);
async fn every_write_is_json_and_load_ignores_fields_the_struct_lacks<C: TestConn>(
    redis: Backend<C>,
) {
    let sessions = SessionStore::new(redis.connection(), keys(&redis));
    let value = Web {
        user_id: 7,
        role: "admin".into(),
        cart: vec![3],
    };
    let id = sessions.create(&value).await.unwrap();
    assert!(sessions
        .set_fields(&id, &[("theme", "dark")])
        .await
        .unwrap());
    // `Web` has no `theme`: ignored.
    assert_eq!(sessions.load::<Web>(&id).await.unwrap(), Some(value));
    // A struct that has it reads it back, typed.
    assert_eq!(
        sessions.load::<WithTheme>(&id).await.unwrap(),
        Some(WithTheme {
            user_id: 7,
            theme: Some("dark".into())
        })
    );
    let theme: Option<String> = sessions.get_field(&id, "theme").await.unwrap();
    assert_eq!(theme.as_deref(), Some("dark"));
    // Mixed types through serde_json::Value; set_fields overwrites a struct field.
    assert!(sessions
        .set_fields(
            &id,
            &[
                ("cart", serde_json::json!([1, 2])),
                ("font", serde_json::json!(14))
            ]
        )
        .await
        .unwrap());
    assert_eq!(
        sessions.load::<Web>(&id).await.unwrap().unwrap().cart,
        vec![1, 2]
    );
    assert_eq!(
        sessions.get_field::<u32>(&id, "font").await.unwrap(),
        Some(14)
    );
    // deny_unknown_fields: the unknown field is a Codec error naming it.
    let err = sessions.load::<Strict>(&id).await.unwrap_err();
    assert!(matches!(err, KeyspaceError::Codec(_)), "{err}");
    assert!(err.to_string().contains("unknown field"), "{err}");

    // A field written outside the store as non-JSON text: ignored when the struct lacks it,
    // a Codec error naming the field when the struct has it.
    let key = sessions.key(&id).unwrap();
    let () = redis::cmd("HSET")
        .arg(&key)
        .arg("theme")
        .arg("dark")
        .query_async(&mut redis.connection())
        .await
        .unwrap();
    assert_eq!(sessions.load::<Web>(&id).await.unwrap().unwrap().user_id, 7);
    let err = sessions.load::<WithTheme>(&id).await.unwrap_err();
    assert!(matches!(err, KeyspaceError::Codec(_)), "{err}");
    assert!(
        err.to_string()
            .starts_with("codec: session field \"theme\": "),
        "{err}"
    );
    let err = sessions
        .get_field::<String>(&id, "theme")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"theme\""), "{err}");
    // A wrong type is an error too, not a silent default.
    let err = sessions.get_field::<i64>(&id, "font").await;
    assert_eq!(err.unwrap(), Some(14));
    let err = sessions.get_field::<bool>(&id, "font").await.unwrap_err();
    assert!(err.to_string().contains("session field \"font\""), "{err}");
}
