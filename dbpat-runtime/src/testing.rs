//! Test support: an isolated PostgreSQL database and an isolated Redis key prefix per test.
//!
//! Every test that talks to a real server takes its own [`TestDatabase`] (a fresh database,
//! dropped afterwards) and its own [`TestRedis`] (a unique key prefix, whose keys are removed
//! afterwards), so tests run in parallel and never see each other's data. Nothing here ever
//! flushes a shared server.
//!
//! The servers are found through `DBPAT_TEST_PG_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`, an admin connection used to create and drop the
//! test databases) and `DBPAT_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/`). When a server
//! is not reachable the call panics with a message that says how to start it: tests never skip.
//!
//! With `DBPAT_TEST_PG_POOL_URL` set (a connection pooler in front of that server, such as
//! PgBouncer in transaction pooling mode: `scripts/test` sets it to
//! `target/dbpat-services/pgbouncer.url`), the databases are still created and dropped on the
//! admin connection, but each test's pool — and [`TestDatabase::url`] — connect through the
//! pooler. sqlx's statement cache stays on: PgBouncer (1.21 and later, with
//! `max_prepared_statements`) keeps track of sqlx's named statements and prepares each on
//! whichever server connection a transaction gets.
//!
//! ```no_run
//! # async fn demo() {
//! let db = dbpat_runtime::testing::TestDatabase::new().await;
//! sqlx::query("CREATE TABLE t (id BIGINT)").execute(db.pool()).await.unwrap();
//! db.drop_now().await; // or just let it go out of scope
//! # }
//! ```

use redis::aio::ConnectionManager;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use std::str::FromStr;

const DEFAULT_PG_URL: &str = "postgres://root@127.0.0.1:5432/postgres";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";
const START_HINT: &str = "run `scripts/services` from the repository root (it starts the local \
PostgreSQL and Redis, installing them if needed), or start them by hand: \
`pg_ctlcluster --skip-systemctl-redirect 15 main start` and \
`redis-server --daemonize yes --port 6379 --save '' --appendonly no`";

/// The admin URL of the test PostgreSQL server.
pub fn pg_admin_url() -> String {
    std::env::var("DBPAT_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// The URL test pools connect through instead of the admin server, if any
/// (`DBPAT_TEST_PG_POOL_URL`: a pooler such as PgBouncer; its database name is replaced by
/// each test's).
pub fn pg_pool_url() -> Option<String> {
    std::env::var("DBPAT_TEST_PG_POOL_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether test pools connect through a pooler in transaction mode ([`pg_pool_url`] is set):
/// tests of session features (advisory locks held across transactions, `LISTEN`, session
/// `SET`s, temporary tables) do not hold there.
pub fn through_pooler() -> bool {
    pg_pool_url().is_some()
}

/// The URL of the test Redis server.
pub fn redis_url() -> String {
    std::env::var("DBPAT_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

async fn admin_connection(url: &str) -> PgConnection {
    match PgConnection::connect(url).await {
        Ok(conn) => conn,
        Err(err) => panic!("PostgreSQL is not reachable at {url}: {err}\nTo fix: {START_HINT}"),
    }
}

/// A fresh, empty PostgreSQL database that belongs to one test and is dropped after it.
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
    pool: Option<PgPool>,
}

impl TestDatabase {
    /// Creates a database named `dbpat_t_<random>` and a pool of up to 10 connections to it.
    pub async fn new() -> Self {
        Self::with_max_connections(10).await
    }

    /// Like [`TestDatabase::new`], with a chosen pool size.
    pub async fn with_max_connections(max: u32) -> Self {
        let options = match pg_pool_url() {
            Some(url) => PgConnectOptions::from_str(&url)
                .expect("DBPAT_TEST_PG_POOL_URL is not a valid PostgreSQL URL"),
            None => PgConnectOptions::from_str(&pg_admin_url())
                .expect("DBPAT_TEST_PG_URL is not a valid PostgreSQL URL"),
        };
        Self::create(&pg_admin_url(), options, max).await
    }

    /// A fresh database on the server of `admin_url` (created and dropped there, the pool
    /// connected there directly): for tests of another server than the default one, such as
    /// a private primary whose replica then holds the database too.
    pub async fn on_server(admin_url: &str, max: u32) -> Self {
        let options = PgConnectOptions::from_str(admin_url)
            .unwrap_or_else(|e| panic!("{admin_url} is not a valid PostgreSQL URL: {e}"));
        Self::create(admin_url, options, max).await
    }

    async fn create(admin_url: &str, options: PgConnectOptions, max: u32) -> Self {
        let name = format!("dbpat_t_{}", unique_suffix());
        let mut admin = admin_connection(admin_url).await;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        admin.close().await.ok();
        let options = options.database(&name);
        let url = options.to_url_lossy().to_string();
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to test database {name}: {e}"));
        TestDatabase {
            name,
            url,
            admin_url: admin_url.to_owned(),
            pool: Some(pool),
        }
    }

    /// The pool connected to this test's database.
    pub fn pool(&self) -> &PgPool {
        self.pool.as_ref().expect("test database already dropped")
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL that connects to this test's database (through the pooler, when
    /// `DBPAT_TEST_PG_POOL_URL` is set).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A URL of this test's database on the server itself, never through a pooler: for
    /// session-level tools (`pg_dump`, `pg_restore`, `LISTEN`, session `SET`s), which a
    /// pooler in transaction mode would mix up with other clients' transactions.
    pub fn server_url(&self) -> String {
        PgConnectOptions::from_str(&self.admin_url)
            .expect("the admin URL is a valid PostgreSQL URL")
            .database(&self.name)
            .to_url_lossy()
            .to_string()
    }

    /// Closes the pool and drops the database now.
    pub async fn drop_now(mut self) {
        if let Some(pool) = self.pool.take() {
            pool.close().await;
        }
        drop_database(&self.admin_url, &self.name).await;
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    let mut admin = admin_connection(admin_url).await;
    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    admin.close().await.ok();
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.pool.is_none() {
            return;
        }
        let name = self.name.clone();
        let admin_url = self.admin_url.clone();
        // Drop runs inside or outside a runtime; a private thread with its own runtime works in both.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(drop_database(&admin_url, &name));
        })
        .join();
    }
}

/// A Redis connection plus a key prefix unique to one test; its keys are removed afterwards.
pub struct TestRedis {
    prefix: String,
    manager: ConnectionManager,
}

impl TestRedis {
    /// Connects to the test Redis and picks a prefix `dbpat-test:<random>:`.
    pub async fn new() -> Self {
        let url = redis_url();
        let client = redis::Client::open(url.as_str())
            .unwrap_or_else(|e| panic!("DBPAT_TEST_REDIS_URL {url} is invalid: {e}"));
        let manager = match ConnectionManager::new(client).await {
            Ok(m) => m,
            Err(err) => panic!("Redis is not reachable at {url}: {err}\nTo fix: {START_HINT}"),
        };
        TestRedis {
            prefix: format!("dbpat-test:{}:", unique_suffix()),
            manager,
        }
    }

    /// The prefix every key of this test must start with (ends with `:`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection manager to the test Redis (cheap to clone).
    pub fn connection(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// Removes every key under this test's prefix (SCAN + DEL, never KEYS or FLUSH*).
    pub async fn cleanup(&self) {
        delete_prefix(self.manager.clone(), &self.prefix).await;
    }
}

async fn delete_prefix(mut conn: ConnectionManager, prefix: &str) {
    let pattern = format!("{prefix}*");
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = match redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await
        {
            Ok(r) => r,
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let url = redis_url();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(async move {
                    if let Ok(client) = redis::Client::open(url.as_str()) {
                        if let Ok(conn) = ConnectionManager::new(client).await {
                            delete_prefix(conn, &prefix).await;
                        }
                    }
                });
        })
        .join();
    }
}
