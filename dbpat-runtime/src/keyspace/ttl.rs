//! The TTL policy of the patterns document, as named constants.
//!
//! ```text
//! const TTL = { SESSION: 24 * 60 * 60, CACHE: 15 * 60, RATE_LIMIT: 60, LOCK: 30 };
//! ```
//!
//! Every building block takes one of these as its default and lets the caller override it.
//! Durations longer than [`MAX`] (a century) are treated as [`MAX`]: Redis rejects expiries
//! past the range of its clock, and a script or transaction refused halfway would leave a key
//! without its expiry.

use std::time::{Duration, Instant};

/// Sessions: 24 hours, renewed on every access (sliding expiry).
pub const SESSION: Duration = Duration::from_secs(24 * 60 * 60);
/// Cached objects: 15 minutes.
pub const CACHE: Duration = Duration::from_secs(15 * 60);
/// Rate-limit windows: 60 seconds.
pub const RATE_LIMIT: Duration = Duration::from_secs(60);
/// Distributed locks: 30 seconds.
pub const LOCK: Duration = Duration::from_secs(30);
/// Negative ("not found") cache entries: 60 seconds, as in the patterns document's
/// penetration guard.
pub const NEGATIVE_CACHE: Duration = Duration::from_secs(60);
/// The longest TTL, window or timeout sent to Redis (100 years of 365.25 days); longer ones
/// are clamped to it.
pub const MAX: Duration = Duration::from_secs(100 * 31_557_600);

/// `d`, at most [`MAX`].
pub(crate) fn clamp(d: Duration) -> Duration {
    d.min(MAX)
}

/// Milliseconds of a duration as Redis expects them for `PX`/`PEXPIRE`/`BLOCK`: at least 1,
/// at most those of [`MAX`].
pub(crate) fn millis(d: Duration) -> u64 {
    // Lossless: MAX is about 3.2e12 ms.
    u64::try_from(clamp(d).as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// `start + d` (with `d` clamped to [`MAX`]); `start` itself if even that is past what
/// `Instant` can hold, so a deadline never panics and never lies on the long side.
pub(crate) fn deadline(start: Instant, d: Duration) -> Instant {
    start.checked_add(clamp(d)).unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_the_patterns_document() {
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

    #[test]
    fn long_durations_are_clamped_not_panicking() {
        assert_eq!(millis(Duration::MAX), 3_155_760_000_000);
        assert_eq!(millis(MAX), millis(Duration::MAX));
        let now = Instant::now();
        assert_eq!(deadline(now, Duration::MAX), deadline(now, MAX));
        assert!(deadline(now, Duration::MAX) >= now);
        assert_eq!(
            deadline(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }
}
