//! TLS end to end, with `--features tls-rustls` or `--features tls-native-tls` (the body of this
//! file is compiled only then): dbpat's pool over `sslmode=require`, checked in `pg_stat_ssl`,
//! and the cache and a keyspace over `rediss://` to a TLS-only Redis whose certificate is
//! verified against the test CA.
//!
//! `scripts/services` provides both: it writes the CA and server certificate to
//! `target/dbpat-services/tls/`, starts the TLS-only redis-server (127.0.0.1:6390) and checks
//! that PostgreSQL accepts `sslmode=require`; the URLs it settled on are in
//! `target/dbpat-services/{redis-tls,pg-tls}.url`. `DBPAT_SERVICES_DIR`,
//! `DBPAT_TEST_PG_TLS_URL` and `DBPAT_TEST_REDIS_TLS_URL` override them. A service that is not
//! reachable fails the test with what to start; nothing is skipped.
#![cfg(any(feature = "tls-rustls", feature = "tls-native-tls"))]

use dbpat::cache::{Cache, CacheConfig};
use dbpat::keyspace::{Counter, KeyBuilder};
use dbpat::redis::aio::ConnectionManager;
use dbpat::redis::{Client, TlsCertificates};
use dbpat::sqlx::{self, Connection, PgConnection, PgPool};
use dbpat::uuid::Uuid;
use dbpat::{Entity, PoolConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const HINT: &str = "run `scripts/services` from the repository root: it generates the test CA \
and server certificate (openssl) under target/dbpat-services/tls/, starts the TLS-only \
redis-server (`redis-server --port 0 --tls-port 6390 --tls-cert-file ... --tls-key-file ... \
--tls-auth-clients no`) and makes sure PostgreSQL accepts sslmode=require (`ssl = on`), \
starting a private cluster with ssl on port 5440 if the system's has ssl off";

/// Which TLS implementation each client uses in this build.
const STACKS: &str = if cfg!(feature = "tls-native-tls") {
    if cfg!(feature = "tls-rustls") {
        "sqlx: native-tls, redis: rustls"
    } else {
        "sqlx: native-tls, redis: native-tls"
    }
} else {
    "sqlx: rustls, redis: rustls"
};

fn services_dir() -> PathBuf {
    std::env::var_os("DBPAT_SERVICES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dbpat-services"))
}

/// The env var, else the first line of the file `scripts/services` wrote, else `default`.
fn setting(var: &str, file: &str, default: &str) -> String {
    if let Ok(value) = std::env::var(var) {
        return value;
    }
    match std::fs::read_to_string(services_dir().join(file)) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => default.to_owned(),
    }
}

fn pg_tls_url() -> String {
    setting(
        "DBPAT_TEST_PG_TLS_URL",
        "pg-tls.url",
        "postgres://root@127.0.0.1:5432/postgres?sslmode=require",
    )
}

fn redis_tls_url() -> String {
    setting(
        "DBPAT_TEST_REDIS_TLS_URL",
        "redis-tls.url",
        "rediss://127.0.0.1:6390/",
    )
}

fn ca_pem() -> Vec<u8> {
    let path = services_dir().join("tls/ca.pem");
    std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "the test CA certificate {} is missing ({err}).\nTo fix: {HINT}",
            path.display()
        )
    })
}

/// A client for the TLS Redis that trusts only the test CA (the server's certificate is
/// verified, host name included).
fn tls_client() -> Client {
    let url = redis_tls_url();
    assert!(url.starts_with("rediss://"), "not a TLS URL: {url}");
    Client::build_with_tls(
        url.as_str(),
        TlsCertificates {
            client_tls: None,
            root_cert: Some(ca_pem()),
        },
    )
    .unwrap_or_else(|err| panic!("cannot build a TLS Redis client for {url}: {err}"))
}

/// A connection to the TLS Redis, or a failure that says what to start.
async fn tls_connection(client: &Client) -> ConnectionManager {
    let url = redis_tls_url();
    let mut conn = match ConnectionManager::new(client.clone()).await {
        Ok(conn) => conn,
        Err(err) => {
            panic!("the TLS Redis is not reachable at {url} ({STACKS}): {err}\nTo fix: {HINT}")
        }
    };
    let pong: String = dbpat::redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|err| panic!("PING over TLS to {url} failed: {err}\nTo fix: {HINT}"));
    assert_eq!(pong, "PONG");
    conn
}

async fn tls_pool(url: &str) -> PgPool {
    match PoolConfig::default().max_connections(2).connect(url).await {
        Ok(pool) => pool,
        Err(err) => panic!(
            "PostgreSQL does not accept sslmode=require at {url} ({STACKS}): {err}\nTo fix: {HINT}"
        ),
    }
}

/// `(ssl, version)` of the backend serving this connection, from `pg_stat_ssl`.
async fn backend_ssl(pool: &PgPool) -> (bool, Option<String>) {
    sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .expect("pg_stat_ssl is readable")
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
    if query.is_empty() {
        format!("{base}/{database}")
    } else {
        format!("{base}/{database}?{query}")
    }
}

/// A fresh database, created and dropped over TLS.
struct TlsDatabase {
    admin_url: String,
    name: String,
    pool: PgPool,
}

impl TlsDatabase {
    async fn new() -> Self {
        let admin_url = pg_tls_url();
        let name = format!("dbpat_tls_{}", &Uuid::new_v4().simple().to_string()[..16]);
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "PostgreSQL is not reachable at {admin_url} ({STACKS}): {err}\nTo fix: {HINT}"
                )
            });
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        admin.close().await.ok();
        let pool = tls_pool(&with_database(&admin_url, &name)).await;
        TlsDatabase {
            admin_url,
            name,
            pool,
        }
    }

    async fn drop_now(self) {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("admin connection");
        sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .expect("DROP DATABASE");
    }
}

#[derive(Debug, Clone, PartialEq, Entity, Serialize, Deserialize)]
#[dbpat(table = "tls_notes", cache(ttl = "1m"))]
struct Note {
    #[dbpat(primary_key)]
    id: Uuid,
    body: String,
}

#[tokio::test]
async fn pool_connects_with_sslmode_require() {
    let url = pg_tls_url();
    assert!(url.contains("sslmode=require"), "not a TLS URL: {url}");
    let pool = tls_pool(&url).await;
    let (ssl, version) = backend_ssl(&pool).await;
    assert!(
        ssl,
        "pg_stat_ssl says this backend is not encrypted ({STACKS})"
    );
    let version = version.expect("an encrypted backend reports its TLS version");
    assert!(version.starts_with("TLSv1."), "{version}");
    pool.close().await;
}

#[tokio::test]
async fn redis_port_is_tls_only() {
    // The same port without TLS must not answer: the round trips below really are encrypted.
    let url = redis_tls_url();
    let plain = url.replacen("rediss://", "redis://", 1);
    let _ = tls_connection(&tls_client()).await; // reachable at all, or a clear failure
    let client = Client::open(plain.as_str()).unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        dbpat::redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
    })
    .await;
    assert!(
        !matches!(answer, Ok(Ok(_))),
        "{plain} answered a plain-text PING: the TLS Redis also listens without TLS"
    );
}

#[tokio::test]
async fn cache_and_keyspace_round_trip_over_tls() {
    let client = tls_client();
    let mut raw = tls_connection(&client).await;
    let prefix = format!("dbpat-tls-test:{}:", Uuid::new_v4().simple());

    // Keyspace: a counter over the TLS connection.
    let keys = KeyBuilder::with_prefix(&prefix).unwrap();
    let counter = Counter::new(raw.clone(), keys, "article", "views").unwrap();
    assert_eq!(counter.incr("42").await.unwrap(), 1);
    assert_eq!(counter.incr_by("42", 4).await.unwrap(), 5);
    assert_eq!(counter.get("42").await.unwrap(), 5);

    // Cache: an entity read from PostgreSQL over TLS, filled into and then read from the TLS
    // Redis.
    let db = TlsDatabase::new().await;
    assert!(
        backend_ssl(&db.pool).await.0,
        "the entity's pool is encrypted"
    );
    let schema = dbpat::ddl::render_schema(&[&Note::TABLE]).expect("schema renders");
    sqlx::raw_sql(&schema)
        .execute(&db.pool)
        .await
        .expect("schema applies");
    // No restart grace: the test's key prefix is a dataset born now.
    let mut config = CacheConfig::new(prefix.as_str());
    config.restart_grace = std::time::Duration::ZERO;
    let cache = Cache::connect(client.clone(), config).await;
    assert!(
        cache.is_subscribed(),
        "the cache's wake-up subscription did not connect over TLS"
    );
    let notes = cache.entity::<Note>();
    let note = notes
        .insert(
            &db.pool,
            &Note {
                id: Uuid::nil(),
                body: "sent over TLS".into(),
            },
        )
        .await
        .unwrap();
    let found = notes
        .find(&db.pool, &note.id)
        .await
        .unwrap()
        .expect("the row");
    assert_eq!(found, note);
    let key = notes.key(&note.id);
    let cached: Option<String> = dbpat::redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(
        cached.is_some_and(|v| v.contains("sent over TLS")),
        "the miss filled {key} in the TLS Redis"
    );
    let before = notes.metrics();
    assert_eq!(notes.find(&db.pool, &note.id).await.unwrap(), Some(note));
    let after = notes.metrics();
    assert_eq!(
        after.hits,
        before.hits + 1,
        "the second read is a cache hit"
    );
    assert_eq!(after.redis_errors, 0, "{after:?}");

    // Clean up: this test's keys, then its database.
    let mut conn = raw.clone();
    let ours = dbpat::keyspace::scan_keys(
        &mut conn,
        &format!("{prefix}*"),
        dbpat::keyspace::ScanOptions::default(),
    )
    .await
    .unwrap();
    if !ours.is_empty() {
        let _: () = dbpat::redis::cmd("DEL")
            .arg(&ours)
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    drop(cache);
    db.drop_now().await;
}
