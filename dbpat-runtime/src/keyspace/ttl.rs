//! The TTL policy of the seed, as named constants.
//!
//! ```text
//! const TTL = { SESSION: 24 * 60 * 60, CACHE: 15 * 60, RATE_LIMIT: 60, LOCK: 30 };
//! ```
//!
//! Every building block takes one of these as its default and lets the caller override it.

use std::time::Duration;

/// Sessions: 24 hours, renewed on every access (sliding expiry).
pub const SESSION: Duration = Duration::from_secs(24 * 60 * 60);
/// Cached objects: 15 minutes.
pub const CACHE: Duration = Duration::from_secs(15 * 60);
/// Rate-limit windows: 60 seconds.
pub const RATE_LIMIT: Duration = Duration::from_secs(60);
/// Distributed locks: 30 seconds.
pub const LOCK: Duration = Duration::from_secs(30);
/// Negative ("not found") cache entries: 60 seconds, as in the seed's penetration guard.
pub const NEGATIVE_CACHE: Duration = Duration::from_secs(60);

/// Milliseconds of a duration as the `u64` Redis expects for `PX`/`PEXPIRE`, at least 1.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_values() {
        assert_eq!(SESSION.as_secs(), 86_400);
        assert_eq!(CACHE.as_secs(), 900);
        assert_eq!(RATE_LIMIT.as_secs(), 60);
        assert_eq!(LOCK.as_secs(), 30);
    }

    #[test]
    fn millis_is_never_zero() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1500)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
    }
}
