//! Cache counters: lock-free atomics, read as a [`CacheMetrics`] snapshot. Each increment is
//! also sent to the `metrics` facade as `dbpat_cache_<counter>_total` (for example
//! `dbpat_cache_hits_total`), so any installed exporter sees it; with no recorder installed
//! the facade call does nothing. The counters that say how an operation went (a hit, a fill,
//! a bypass, a write-through, ...) also record it as `dbpat.cache.outcome` on the operation's
//! span ([`spans`](super::spans)); the last one recorded wins.

use std::sync::atomic::{AtomicU64, Ordering};

/// One counter: its value, the name it has in the `metrics` facade, and the operation outcome
/// it stands for, if any.
#[derive(Debug)]
pub(crate) struct Count {
    value: AtomicU64,
    metric: &'static str,
    outcome: Option<&'static str>,
}

impl Count {
    const fn named(metric: &'static str, outcome: Option<&'static str>) -> Self {
        Count {
            value: AtomicU64::new(0),
            metric,
            outcome,
        }
    }
}

macro_rules! outcome {
    () => {
        None
    };
    ($outcome:literal) => {
        Some($outcome)
    };
}

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident $(=> $outcome:literal)? ),* $(,)?) => {
        /// The live counters of one [`Cache`](super::Cache) handle.
        #[derive(Debug)]
        pub(crate) struct Counters {
            $( pub(crate) $name: Count, )*
        }

        impl Default for Counters {
            fn default() -> Self {
                Counters {
                    $( $name: Count::named(
                        concat!("dbpat_cache_", stringify!($name), "_total"),
                        outcome!($($outcome)?),
                    ), )*
                }
            }
        }

        /// A snapshot of the counters of one [`Cache`](super::Cache) handle (all its entities).
        /// Each is also exported through the `metrics` facade as `dbpat_cache_<name>_total`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct CacheMetrics {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> CacheMetrics {
                CacheMetrics { $( $name: self.$name.value.load(Ordering::Relaxed), )* }
            }
        }
    };
}

counters! {
    /// Reads answered by a cached row.
    hits => "hit",
    /// Reads answered by a negative entry (the row is known to be missing).
    negative_hits => "negative_hit",
    /// Reads that found no usable cached entry.
    misses => "miss",
    /// Rows (or negative entries) stored by a reader holding a valid lease.
    fills => "fill",
    /// Fills refused because a write invalidated the reader's lease meanwhile (the stale-set
    /// race, closed).
    fills_rejected => "fill_rejected",
    /// Times a reader waited for another process's lease holder (cross-process stampede).
    stampede_waits => "lease_wait",
    /// Reads that joined another task's in-flight load in this process (single-flight).
    single_flight_joins => "joined",
    /// Database loads (`load` and `load_many` calls).
    db_loads,
    /// Reads sent straight to the database because a write on the row was in flight.
    write_bypasses => "bypass",
    /// Redis commands that failed or timed out (each logged at WARN).
    redis_errors,
    /// Reads that skipped Redis: the circuit breaker was open after an outage, or no verified
    /// connection was up.
    redis_skipped => "bypass",
    /// Cached values that did not decode (corrupt or older layout), treated as misses.
    decode_errors,
    /// Writes that ended by deleting the cached row.
    invalidations => "invalidated",
    /// Writes that ended by storing the new row (write-through).
    write_throughs => "write_through",
    /// Invalidations that could not reach Redis and were queued for retry.
    invalidations_deferred,
    /// Writes refused with [`Error::CacheUnavailable`](crate::Error::CacheUnavailable) because
    /// Redis did not confirm their registration ([`WriteGuarantee::Strict`](super::WriteGuarantee::Strict)).
    writes_refused => "refused",
    /// Writes that went ahead although Redis did not confirm their registration
    /// ([`WriteGuarantee::Available`](super::WriteGuarantee::Available)).
    writes_unregistered => "unregistered",
    /// Times this handle found Redis holding another dataset than before (a restart, a
    /// restore, a failover, a flush).
    dataset_changes,
    /// Times this handle started a new generation because the database behind the cache went
    /// back in time or was replaced ([`Cache::watch_database`](super::Cache::watch_database)),
    /// or by hand ([`Cache::start_new_generation`](super::Cache::start_new_generation)).
    database_changes,
    /// Cached values of an older dataset generation, ignored and replaced.
    other_generation_values,
    /// Reads sent to the database without filling because the dataset was younger than
    /// [`CacheConfig::restart_grace`](super::CacheConfig::restart_grace).
    grace_bypasses => "bypass",
}

impl Counters {
    pub(crate) fn inc(counter: &Count) {
        counter.value.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(counter.metric).increment(1);
        if let Some(outcome) = counter.outcome {
            super::spans::outcome(outcome);
        }
    }
}
