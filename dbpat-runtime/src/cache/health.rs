//! Redis health: a circuit breaker after errors, and invalidations owed to Redis.
//!
//! After a Redis error (or timeout) the breaker opens for a short cool-down during which the
//! cache does not touch Redis at all: reads go to the database at full speed instead of each
//! paying a timeout. A write whose invalidation cannot reach Redis is recorded here; while such
//! a record exists, this process reads that row from the database, and a background task keeps
//! retrying the invalidation until Redis accepts it.

use super::key::EntityKeys;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One invalidation owed to Redis.
#[derive(Debug, Clone)]
pub(crate) struct Deferred {
    pub(crate) keys: EntityKeys,
    /// The writer's token (so the retry also unregisters it).
    pub(crate) token: String,
    /// The writer has not finished yet: do not retry before it does.
    pub(crate) in_flight: bool,
}

pub(crate) struct Health {
    epoch: Instant,
    open_until_ms: AtomicU64,
    cooldown: Duration,
    has_deferred: AtomicBool,
    deferred: Mutex<HashMap<String, Vec<Deferred>>>,
    /// The breaker state last sent to the `dbpat_cache_breaker_open` gauge.
    reported_open: AtomicBool,
}

impl Health {
    pub(crate) fn new(cooldown: Duration) -> Self {
        Health {
            epoch: Instant::now(),
            open_until_ms: AtomicU64::new(0),
            cooldown,
            has_deferred: AtomicBool::new(false),
            deferred: Mutex::new(HashMap::new()),
            reported_open: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether Redis is being skipped after a recent error.
    pub(crate) fn is_open(&self) -> bool {
        let open = self.now_ms() < self.open_until_ms.load(Ordering::Relaxed);
        self.report(open);
        open
    }

    /// Sets the `dbpat_cache_breaker_open` gauge (1 open, 0 closed) when the state changed.
    fn report(&self, open: bool) {
        if self.reported_open.load(Ordering::Relaxed) != open
            && self.reported_open.swap(open, Ordering::Relaxed) != open
        {
            metrics::gauge!("dbpat_cache_breaker_open").set(if open { 1.0 } else { 0.0 });
        }
    }

    /// Records an error: skip Redis for the cool-down.
    pub(crate) fn trip(&self) {
        let until = self.now_ms() + self.cooldown.as_millis() as u64;
        self.open_until_ms.fetch_max(until, Ordering::Relaxed);
        self.report(true);
    }

    /// Whether an invalidation of `value_key` is owed (reads of it must use the database).
    pub(crate) fn is_deferred(&self, value_key: &str) -> bool {
        self.has_deferred.load(Ordering::Acquire) && self.lock().contains_key(value_key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Deferred>>> {
        self.deferred.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn defer(&self, d: Deferred) {
        let mut map = self.lock();
        let list = map.entry(d.keys.value.clone()).or_default();
        match list.iter_mut().find(|x| x.token == d.token) {
            Some(x) => *x = d,
            None => list.push(d),
        }
        self.has_deferred.store(true, Ordering::Release);
    }

    /// Forgets the writer `token`'s owed invalidation of `value_key` (it reached Redis).
    pub(crate) fn settle(&self, value_key: &str, token: &str) {
        if !self.has_deferred.load(Ordering::Acquire) {
            return;
        }
        let mut map = self.lock();
        if let Some(list) = map.get_mut(value_key) {
            list.retain(|d| d.token != token);
            if list.is_empty() {
                map.remove(value_key);
            }
        }
        self.has_deferred.store(!map.is_empty(), Ordering::Release);
    }

    /// The owed invalidations whose writers have finished.
    pub(crate) fn due(&self) -> Vec<Deferred> {
        if !self.has_deferred.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.lock()
            .values()
            .flatten()
            .filter(|d| !d.in_flight)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &str) -> EntityKeys {
        EntityKeys {
            value: v.into(),
            lease: String::new(),
            writers: String::new(),
            subkeys: String::new(),
            attribute_pattern: String::new(),
        }
    }

    #[test]
    fn breaker_and_deferred_invalidations() {
        let h = Health::new(Duration::from_millis(50));
        assert!(!h.is_open());
        h.trip();
        assert!(h.is_open());
        h.defer(Deferred {
            keys: keys("a"),
            token: "t".into(),
            in_flight: true,
        });
        assert!(h.is_deferred("a") && !h.is_deferred("b"));
        assert!(h.due().is_empty(), "in-flight writers are not retried");
        h.defer(Deferred {
            keys: keys("a"),
            token: "t".into(),
            in_flight: false,
        });
        assert_eq!(h.due().len(), 1);
        h.settle("a", "t");
        assert!(!h.is_deferred("a"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!h.is_open());
    }
}
