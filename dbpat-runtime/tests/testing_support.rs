//! The test-support module itself: databases and prefixes are isolated and cleaned up.

use dbpat_runtime::testing::{TestDatabase, TestRedis};

#[tokio::test]
async fn test_database_is_fresh_and_dropped() {
    let db = TestDatabase::new().await;
    let name = db.name().to_owned();
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(tables, 0);
    db.drop_now().await;
    let mut admin =
        <sqlx::PgConnection as sqlx::Connection>::connect(&dbpat_runtime::testing::pg_admin_url())
            .await
            .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "database {name} should be gone");
}

#[tokio::test]
async fn test_redis_cleanup_removes_only_its_prefix() {
    let a = TestRedis::new().await;
    let b = TestRedis::new().await;
    assert_ne!(a.prefix(), b.prefix());
    let mut conn = a.connection();
    let _: () = redis::cmd("SET")
        .arg(format!("{}k", a.prefix()))
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("{}k", b.prefix()))
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    a.cleanup().await;
    let a_left: bool = redis::cmd("EXISTS")
        .arg(format!("{}k", a.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    let b_left: bool = redis::cmd("EXISTS")
        .arg(format!("{}k", b.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!a_left);
    assert!(b_left);
    b.cleanup().await;
}
