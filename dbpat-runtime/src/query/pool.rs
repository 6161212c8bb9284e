//! A PostgreSQL pool with the patterns document's defaults and slow-statement logging.
//!
//! The patterns document configures `max: 20, idleTimeoutMillis: 30000, connectionTimeoutMillis: 2000`;
//! [`PoolConfig::default`] is exactly that, and every value can be overridden. Statements that
//! run longer than [`PoolConfig::slow_statement_threshold`] are logged through `tracing` at WARN
//! (target `sqlx::query`, message "slow statement", with `elapsed` and the SQL).
//!
//! ```no_run
//! # async fn demo() -> Result<(), dbpat_runtime::Error> {
//! use std::time::Duration;
//! let pool = dbpat_runtime::PoolConfig::default()
//!     .max_connections(50)
//!     .slow_statement_threshold(Duration::from_millis(50))
//!     .connect("postgres://root@127.0.0.1:5432/postgres")
//!     .await?;
//! # drop(pool); Ok(()) }
//! ```

use crate::error::Error;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// Pool settings. `Default` gives the patterns document's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Maximum open connections (patterns document: 20).
    pub max_connections: u32,
    /// Connections kept open even when idle (default 0).
    pub min_connections: u32,
    /// Idle connections above `min_connections` are closed after this long (patterns document: 30 s).
    pub idle_timeout: Option<Duration>,
    /// How long `acquire` waits for a free connection before failing (patterns document: 2 s).
    pub acquire_timeout: Duration,
    /// Statements slower than this are logged at WARN (default 200 ms).
    pub slow_statement_threshold: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 20,
            min_connections: 0,
            idle_timeout: Some(Duration::from_secs(30)),
            acquire_timeout: Duration::from_secs(2),
            slow_statement_threshold: Duration::from_millis(200),
        }
    }
}

impl PoolConfig {
    /// The patterns document's defaults (same as `Default`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the maximum number of connections.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets the minimum number of connections.
    pub fn min_connections(mut self, n: u32) -> Self {
        self.min_connections = n;
        self
    }

    /// Sets the idle timeout (`None`: idle connections are never closed).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets the acquire timeout.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Sets the slow-statement threshold.
    pub fn slow_statement_threshold(mut self, threshold: Duration) -> Self {
        self.slow_statement_threshold = threshold;
        self
    }

    /// The sqlx pool options these settings stand for.
    pub fn pool_options(&self) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .min_connections(self.min_connections)
            .idle_timeout(self.idle_timeout)
            .acquire_timeout(self.acquire_timeout)
    }

    /// Connection options for `url` with slow-statement logging at WARN (every statement is
    /// logged at DEBUG, as sqlx does by default).
    pub fn connect_options(&self, url: &str) -> Result<PgConnectOptions, Error> {
        Ok(PgConnectOptions::from_str(url)?
            .log_statements(log::LevelFilter::Debug)
            .log_slow_statements(log::LevelFilter::Warn, self.slow_statement_threshold))
    }

    /// Opens a pool (connecting once to check the URL).
    pub async fn connect(&self, url: &str) -> Result<PgPool, Error> {
        Ok(self
            .pool_options()
            .connect_with(self.connect_options(url)?)
            .await?)
    }

    /// Creates a pool that connects on first use.
    pub fn connect_lazy(&self, url: &str) -> Result<PgPool, Error> {
        Ok(self
            .pool_options()
            .connect_lazy_with(self.connect_options(url)?))
    }
}

/// Opens a pool with the patterns document's defaults: `PoolConfig::default().connect(url)`.
pub async fn connect(url: &str) -> Result<PgPool, Error> {
    PoolConfig::default().connect(url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let c = PoolConfig::default();
        assert_eq!(c.max_connections, 20);
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.acquire_timeout, Duration::from_secs(2));
        let o = c.pool_options();
        assert_eq!(o.get_max_connections(), 20);
        assert_eq!(o.get_idle_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(o.get_acquire_timeout(), Duration::from_secs(2));
    }

    #[test]
    fn every_value_is_overridable() {
        let c = PoolConfig::new()
            .max_connections(5)
            .min_connections(1)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_millis(500))
            .slow_statement_threshold(Duration::from_millis(10));
        let o = c.pool_options();
        assert_eq!(o.get_max_connections(), 5);
        assert_eq!(o.get_min_connections(), 1);
        assert_eq!(o.get_idle_timeout(), None);
        assert_eq!(o.get_acquire_timeout(), Duration::from_millis(500));
        assert_eq!(c.slow_statement_threshold, Duration::from_millis(10));
    }
}
