//! The criterion settings the benches share: 30 samples over 5 s after a 1 s warm-up. Shared
//! with `#[path = "support/config.rs"] mod config;`.

use criterion::Criterion;
use std::time::Duration;

/// 30 samples, 5 s of measurement, 1 s of warm-up.
pub fn criterion_config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
}
