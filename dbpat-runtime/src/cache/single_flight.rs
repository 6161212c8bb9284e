//! In-process single-flight: concurrent misses on one key share one load.
//!
//! A joiner may only take the leader's result if that result is *fresh as of a moment after
//! the joiner arrived*: the leader stamps its result with the tick it took just before the
//! operation that established it (the cache GET, the accepted fill, or the start of the database
//! read). A joiner that arrived later (a write may have committed in between) loads again.
//! Ticks come from one atomic counter, so their order is the real-time order of the events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The outcome of a load, with the tick it is fresh as of.
#[derive(Debug)]
pub(crate) struct Stamped<V> {
    pub(crate) value: V,
    pub(crate) fresh_as_of: u64,
}

type Slot<V> = watch::Receiver<Option<Arc<Stamped<V>>>>;

/// The in-flight loads of one entity cache, by key.
pub(crate) struct SingleFlight<V> {
    flights: Mutex<HashMap<String, (u64, Slot<V>)>>,
    ticks: AtomicU64,
}

/// What a caller of [`SingleFlight::enter`] must do.
pub(crate) enum Entry<'a, V> {
    /// Load, then [`Leader::finish`].
    Leader(Leader<'a, V>),
    /// Wait for the leader.
    Joiner { slot: Slot<V>, joined_at: u64 },
}

/// The task that loads. Dropping it without `finish` (cancelled, panicked) releases the joiners,
/// who then load themselves.
pub(crate) struct Leader<'a, V> {
    owner: &'a SingleFlight<V>,
    key: String,
    id: u64,
    tx: watch::Sender<Option<Arc<Stamped<V>>>>,
}

impl<V> Default for SingleFlight<V> {
    fn default() -> Self {
        SingleFlight {
            flights: Mutex::new(HashMap::new()),
            ticks: AtomicU64::new(1),
        }
    }
}

impl<V> SingleFlight<V> {
    /// A new tick, later than every tick taken before.
    pub(crate) fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::SeqCst)
    }

    /// Joins the flight on `key`, or becomes its leader.
    pub(crate) fn enter(&self, key: &str) -> Entry<'_, V> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, slot)) = flights.get(key) {
            let slot = slot.clone();
            let joined_at = self.tick();
            return Entry::Joiner { slot, joined_at };
        }
        let id = self.tick();
        let (tx, rx) = watch::channel(None);
        flights.insert(key.to_owned(), (id, rx));
        Entry::Leader(Leader {
            owner: self,
            key: key.to_owned(),
            id,
            tx,
        })
    }
}

impl<V> Leader<'_, V> {
    /// Hands the result to the joiners and closes the flight.
    pub(crate) fn finish(self, result: Arc<Stamped<V>>) {
        self.close();
        self.tx.send_replace(Some(result));
    }

    fn close(&self) {
        let mut flights = self.owner.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            flights.remove(&self.key);
        }
    }
}

impl<V> Drop for Leader<'_, V> {
    fn drop(&mut self) {
        self.close();
    }
}

/// Waits for a leader's result. `None`: the leader went away, or its result is older than the
/// joiner's arrival; the joiner must load itself.
pub(crate) async fn wait<V>(mut slot: Slot<V>, joined_at: u64) -> Option<Arc<Stamped<V>>> {
    let got = slot.wait_for(|v| v.is_some()).await.ok().map(|v| v.clone());
    let result = match got {
        Some(v) => v,
        None => slot.borrow().clone(),
    }?;
    (result.fresh_as_of > joined_at).then_some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn joiners_take_fresh_results_only() {
        let sf = SingleFlight::<i32>::default();
        let Entry::Leader(leader) = sf.enter("k") else {
            panic!("first is leader")
        };
        let Entry::Joiner { slot, joined_at } = sf.enter("k") else {
            panic!("second joins")
        };
        let late = sf.enter("k");
        let fresh = sf.tick();
        let Entry::Joiner {
            slot: late_slot,
            joined_at: late_at,
        } = late
        else {
            panic!("third joins")
        };
        let _ = late_at;
        leader.finish(Arc::new(Stamped {
            value: 7,
            fresh_as_of: fresh,
        }));
        assert_eq!(wait(slot, joined_at).await.map(|r| r.value), Some(7));
        // Joined before the stamp too (late_at < fresh), so it is accepted.
        assert_eq!(wait(late_slot, late_at).await.map(|r| r.value), Some(7));
        assert!(matches!(sf.enter("k"), Entry::Leader(_)), "flight closed");
    }

    #[tokio::test]
    async fn stale_result_and_dropped_leader_release_joiners() {
        let sf = SingleFlight::<i32>::default();
        let Entry::Leader(leader) = sf.enter("k") else {
            panic!()
        };
        let stamp = sf.tick();
        let Entry::Joiner { slot, joined_at } = sf.enter("k") else {
            panic!()
        };
        leader.finish(Arc::new(Stamped {
            value: 1,
            fresh_as_of: stamp,
        }));
        assert!(
            wait(slot, joined_at).await.is_none(),
            "joined after the stamp"
        );

        let Entry::Leader(leader) = sf.enter("k") else {
            panic!()
        };
        let Entry::Joiner { slot, joined_at } = sf.enter("k") else {
            panic!()
        };
        drop(leader);
        assert!(wait(slot, joined_at).await.is_none());
    }
}
