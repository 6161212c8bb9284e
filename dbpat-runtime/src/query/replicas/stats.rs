//! [`ReadStats`]: where a pool set's reads were served.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of a [`PoolSet`](super::PoolSet)'s reads (all its clones together) since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Readers handed out on a replica.
    pub replica: u64,
    /// Readers handed out on the primary (no replica had replayed the token in time, or none
    /// was usable).
    pub primary: u64,
    /// Of `replica`, those that waited for the replica to replay the token.
    pub waited: u64,
    /// Token checks that found a replica behind the token.
    pub lagging: u64,
    /// Replica failures: a check that failed or timed out, or a read that failed on it.
    pub replica_failures: u64,
    /// Times a replica was skipped because it had failed recently.
    pub skipped: u64,
    /// Reads ([`PoolSet::read`](super::PoolSet::read)) that failed on a replica and ran
    /// again on the primary (also counted in `primary`).
    pub retried_on_primary: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    replica: AtomicU64,
    primary: AtomicU64,
    waited: AtomicU64,
    lagging: AtomicU64,
    replica_failures: AtomicU64,
    skipped: AtomicU64,
    retried_on_primary: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(super) fn replica(&self, waited: bool) {
        bump(&self.replica);
        if waited {
            bump(&self.waited);
        }
    }
    pub(super) fn primary(&self) {
        bump(&self.primary);
    }
    pub(super) fn lagging(&self) {
        bump(&self.lagging);
    }
    pub(super) fn failed(&self) {
        bump(&self.replica_failures);
    }
    pub(super) fn skipped(&self) {
        bump(&self.skipped);
    }
    pub(super) fn retried_on_primary(&self) {
        bump(&self.retried_on_primary);
        bump(&self.primary);
    }

    pub(super) fn snapshot(&self) -> ReadStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ReadStats {
            replica: get(&self.replica),
            primary: get(&self.primary),
            waited: get(&self.waited),
            lagging: get(&self.lagging),
            replica_failures: get(&self.replica_failures),
            skipped: get(&self.skipped),
            retried_on_primary: get(&self.retried_on_primary),
        }
    }
}
