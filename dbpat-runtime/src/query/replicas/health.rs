//! A replica's health: skipped for a while after a failure, the pause doubling with each
//! failure in a row.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row and when the replica may be tried again.
#[derive(Debug, Default)]
struct State {
    failures: u32,
    retry_at: Option<Instant>,
}

/// The health of one replica, shared by every clone of its pool set.
#[derive(Debug, Default)]
pub(super) struct Health {
    state: Mutex<State>,
}

impl Health {
    /// Whether the replica may be tried now.
    pub(super) fn usable(&self, now: Instant) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.retry_at.is_none_or(|at| now >= at)
    }

    /// Records a success: the replica is usable again.
    pub(super) fn succeeded(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.failures != 0 {
            tracing::info!(failures = state.failures, "replica is back");
        }
        *state = State::default();
    }

    /// Records a failure: the replica is skipped for `min * 2^(failures - 1)`, at most `max`.
    /// Returns that pause.
    pub(super) fn failed(&self, now: Instant, min: Duration, max: Duration) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.failures = state.failures.saturating_add(1);
        let pause = min
            .saturating_mul(1u32 << (state.failures - 1).min(16))
            .min(max);
        state.retry_at = Some(now + pause);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_and_recovers() {
        let h = Health::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert!(h.usable(t0));
        assert_eq!(h.failed(t0, ms(100), ms(350)), ms(100));
        assert!(!h.usable(t0 + ms(99)));
        assert!(h.usable(t0 + ms(100)));
        assert_eq!(h.failed(t0, ms(100), ms(350)), ms(200));
        assert_eq!(h.failed(t0, ms(100), ms(350)), ms(350));
        assert!(!h.usable(t0 + ms(349)));
        h.succeeded();
        assert!(h.usable(t0));
        assert_eq!(h.failed(t0, ms(100), ms(350)), ms(100));
    }
}
