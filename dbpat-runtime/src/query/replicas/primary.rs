//! [`PrimaryPool`]: what the cached handle loads misses from and writes to.

use super::PoolSet;
use sqlx::PgPool;

/// A source of the primary's pool: a plain [`PgPool`] (one server) or a [`PoolSet`] (its
/// primary). The cached handle (`dbpat::cache::Cached`) takes one for every read and write, so
/// a cache miss is always loaded from the primary, never from a replica that may not have
/// replayed the last write to the row yet, and the cache's guarantee holds with replicas.
///
/// A [`Reader`](super::Reader) (a replica's connection) is not a `PrimaryPool`, so
/// `users.find(&mut *reader, &id)` does not compile. Do not hand the cache a replica's own
/// `PgPool` either: a `PgPool` is taken to be the primary.
pub trait PrimaryPool: Send + Sync {
    /// The primary's pool.
    fn primary_pool(&self) -> &PgPool;
}

impl PrimaryPool for PgPool {
    fn primary_pool(&self) -> &PgPool {
        self
    }
}

impl PrimaryPool for PoolSet {
    fn primary_pool(&self) -> &PgPool {
        self.primary()
    }
}
