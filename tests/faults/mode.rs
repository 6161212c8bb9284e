//! The write guarantee a run asks for, and the only places that touch the parts of the cache
//! API that issue 11's core rewrite changes: the cache config, `begin_write`, and how a worker
//! tells that a write's registration reached Redis.
//!

use dbpat::cache::{
    CacheConfig, CacheMetrics, CachedEntity, EntityCache, WriteGuarantee, WriteIntent,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a write does when Redis does not confirm its registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// The write fails (`Error::CacheUnavailable`) before touching PostgreSQL. Expected:
    /// 0 stale reads in every fault; writes may fail.
    Strict,
    /// The write proceeds. Expected: 0 stale reads, except reads that start after an
    /// unconfirmed write and before the fault ended plus [`AVAILABLE_STALENESS_BOUND`].
    Available,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Strict, Mode::Available];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Available => "available",
        }
    }
}

/// The staleness `available` mode allows after a fault: reads that start up to this long
/// after the fault ended may still return a row older than an unconfirmed write.
pub const AVAILABLE_STALENESS_BOUND: Duration = Duration::from_secs(1);

/// Whether [`cache_config`] gives both modes the same settings, so that one run per fault
/// shows what the code does and is checked against both modes' expectations (true only for
/// a core without a write-guarantee setting; each mode gets its own run).
pub const MODES_SHARE_A_CONFIG: bool = false;

/// The cache settings of every worker process: the defaults of `CacheConfig::new` (the
/// 250 ms op timeout, not the generous timeouts of the other cache tests), plus the mode.
pub fn cache_config(prefix: &str, mode: Mode) -> CacheConfig {
    let mut config = CacheConfig::new(prefix);
    config.write_guarantee = match mode {
        Mode::Strict => WriteGuarantee::Strict,
        Mode::Available => WriteGuarantee::Available,
    };
    // After a restart nobody fills for `restart_grace` while every process re-registers its
    // writes in flight. 1 s instead of the default 5 s: it still covers a live process
    // noticing the restart (a 200 ms heartbeat, a reconnect), and leaves the seconds after a
    // restart to show that caching resumed without stale reads.
    config.restart_grace = Duration::from_secs(1);
    config
}

/// Announces a write of `id` (the `begin_write` of the explicit write path).
pub async fn begin_write<E: CachedEntity>(
    cache: &EntityCache<E>,
    id: &E::Key,
) -> Result<WriteIntent<E>, dbpat::Error> {
    cache.begin_write(id).await
}

/// Whether Redis confirmed a write's registration, from the writer's own cache counters read
/// just before and just after the call: a write whose registration Redis did not confirm is
/// counted as refused (`Strict`) or unregistered (`Available`).
pub fn registration_confirmed(before: &CacheMetrics, after: &CacheMetrics) -> bool {
    after.writes_unregistered == before.writes_unregistered
        && after.writes_refused == before.writes_refused
}
