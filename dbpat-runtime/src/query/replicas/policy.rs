//! [`ReadPolicy`]: how long a read with a token waits for a replica, and how failing replicas
//! are skipped.

use std::time::Duration;

/// How a [`PoolSet`](super::PoolSet) picks the server of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPolicy {
    /// How long a read with a token waits for a replica to replay it before it goes to the
    /// primary (default 0: a replica that has not replayed the token yet is skipped at once).
    pub max_wait: Duration,
    /// While waiting, how often the replicas are asked again (default 5 ms).
    pub poll_interval: Duration,
    /// How long a replica may take to hand out a connection and answer the token check
    /// before it counts as failed (default 250 ms; sqlx's own acquire timeout is longer).
    pub probe_timeout: Duration,
    /// A failed replica is skipped for this long, doubling with each failure in a row
    /// (default 200 ms)...
    pub backoff_min: Duration,
    /// ... up to this long (default 5 s).
    pub backoff_max: Duration,
}

impl Default for ReadPolicy {
    fn default() -> Self {
        ReadPolicy {
            max_wait: Duration::ZERO,
            poll_interval: Duration::from_millis(5),
            probe_timeout: Duration::from_millis(250),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl ReadPolicy {
    /// The defaults (same as `Default`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ReadPolicy::max_wait`].
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Sets [`ReadPolicy::poll_interval`].
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets [`ReadPolicy::probe_timeout`].
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Sets [`ReadPolicy::backoff_min`] and [`ReadPolicy::backoff_max`].
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max.max(min);
        self
    }
}
