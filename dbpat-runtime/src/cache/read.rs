//! Single reads: [`EntityCache::read`] and its miss path (the fill lease, the wait for another
//! holder, the guarded fill).

use super::codec::Decoded;
use super::handle::{new_token, EntityCache, ReadResult};
use super::key::EntityKeys;
use super::lease::Acquire;
use super::metrics::Counters;
use super::scripts::{ACQUIRE, FILL, RELEASE};
use super::single_flight::{self, Entry, Stamped};
use super::source::{CacheEntity, CacheSource};
use crate::error::Error;
use redis::{AsyncCommands, Value};
use std::sync::Arc;
use std::time::Instant;

/// What the read's first GET found.
#[derive(Debug, Clone, Copy)]
enum First {
    /// Nothing cached.
    Missed,
    /// An undecodable value (to be replaced).
    Corrupt,
    /// Redis unavailable, or an invalidation of this row is owed: use the database only.
    NoCache,
}

impl<E: CacheEntity> EntityCache<E> {
    /// Cache-aside read: the cached row, else one database load (from `source`) shared by
    /// every concurrent reader of `id` (in this process and, through the lease, in all
    /// others), filled back only if no write intervened. `Ok(None)`: no such row (cached as a
    /// negative entry). Redis problems never surface here; database errors do.
    pub(crate) async fn read<S: CacheSource<E>>(
        &self,
        source: &S,
        id: &E::Id,
    ) -> Result<Option<E>, Error> {
        let c = self.c();
        let value_key = self.inner.keys.entity(id);
        // The hit path: one GET, no single-flight bookkeeping.
        let first = if c.health.is_deferred(&value_key) {
            First::NoCache
        } else {
            let mut conn = c.conn();
            match c
                .redis("get", conn.get::<_, Option<Vec<u8>>>(&value_key))
                .await
            {
                Some(Some(bytes)) => match self.decode(&bytes) {
                    Some(v) => return Ok(v),
                    None => First::Corrupt,
                },
                Some(None) => First::Missed,
                None => First::NoCache,
            }
        };
        Counters::inc(&self.counters().misses);
        loop {
            match self.inner.flights.enter(&value_key) {
                Entry::Leader(leader) => {
                    let keys = self.inner.keys.keys(id);
                    let stamped = Arc::new(self.fetch(source, id, &keys, first).await);
                    let result = stamped.value.clone();
                    leader.finish(stamped);
                    return result;
                }
                Entry::Joiner { slot, joined_at } => {
                    Counters::inc(&self.counters().single_flight_joins);
                    if let Some(r) = single_flight::wait(slot, joined_at).await {
                        return r.value.clone();
                    }
                }
            }
        }
    }

    pub(super) fn decode(&self, bytes: &[u8]) -> Option<Option<E>> {
        match self.inner.codec.decode(bytes) {
            Decoded::Value(v) => {
                Counters::inc(&self.counters().hits);
                Some(Some(v))
            }
            Decoded::Negative => {
                Counters::inc(&self.counters().negative_hits);
                Some(None)
            }
            Decoded::Corrupt => {
                Counters::inc(&self.counters().decode_errors);
                None
            }
        }
    }

    /// The miss path of one flight leader: lease, load and fill, or wait for another holder.
    async fn fetch<S: CacheSource<E>>(
        &self,
        source: &S,
        id: &E::Id,
        keys: &EntityKeys,
        first: First,
    ) -> Stamped<ReadResult<E>> {
        let c = self.c();
        let flights = &self.inner.flights;
        let mut force = match first {
            First::NoCache => return self.load_direct(source, id).await,
            First::Corrupt => true,
            First::Missed => false,
        };
        // The caller's GET just missed: go straight to the lease script (which also returns a
        // value filled in the meantime).
        let mut skip_get = true;
        let mut waits = 0u32;
        let give_up = Instant::now() + c.config.max_wait;
        loop {
            if !force && !skip_get {
                let t = flights.tick();
                let mut conn = c.conn();
                let got: Option<Option<Vec<u8>>> = c.redis("get", conn.get(&keys.value)).await;
                match got {
                    None => return self.load_direct(source, id).await,
                    Some(Some(bytes)) => match self.decode(&bytes) {
                        Some(v) => return stamped(Ok(v), t),
                        None => force = true,
                    },
                    Some(None) => {}
                }
            }
            skip_get = false;
            // Register for the wake-up before asking, so a fill that lands right after the
            // answer still wakes us.
            let notified = c.wake.shard(&keys.value).notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let token = new_token();
            let t = flights.tick();
            let mut conn = c.conn();
            let answer = c
                .redis("acquire", async {
                    ACQUIRE
                        .key(&keys.value)
                        .key(&keys.lease)
                        .key(&keys.writers)
                        .arg(&token)
                        .arg(c.config.lease_ttl.as_millis() as u64)
                        .arg(if force { "1" } else { "0" })
                        .invoke_async::<Value>(&mut conn)
                        .await
                })
                .await
                .and_then(Acquire::parse_all)
                .and_then(|mut v| v.pop());
            match answer {
                None => return self.load_direct(source, id).await,
                Some(Acquire::Cached(bytes)) => match self.decode(&bytes) {
                    Some(v) => return stamped(Ok(v), t),
                    None => force = true,
                },
                Some(Acquire::WritersInFlight) => {
                    Counters::inc(&self.counters().write_bypasses);
                    return self.load_direct(source, id).await;
                }
                Some(Acquire::Leased) => return self.load_and_fill(source, id, keys, &token).await,
                Some(Acquire::Held { pttl_ms }) => {
                    let now = Instant::now();
                    if now >= give_up {
                        return self.load_direct(source, id).await;
                    }
                    Counters::inc(&self.counters().stampede_waits);
                    let wait = c.wake.max_wait(pttl_ms, waits).min(give_up - now);
                    waits += 1;
                    let _ = tokio::time::timeout(wait, notified).await;
                    force = false;
                }
            }
        }
    }

    /// Reads the database without touching the cache.
    async fn load_direct<S: CacheSource<E>>(
        &self,
        source: &S,
        id: &E::Id,
    ) -> Stamped<ReadResult<E>> {
        let t = self.inner.flights.tick();
        Counters::inc(&self.counters().db_loads);
        stamped(source.load(id).await, t)
    }

    async fn load_and_fill<S: CacheSource<E>>(
        &self,
        source: &S,
        id: &E::Id,
        keys: &EntityKeys,
        token: &str,
    ) -> Stamped<ReadResult<E>> {
        let c = self.c();
        let t_load = self.inner.flights.tick();
        Counters::inc(&self.counters().db_loads);
        let row = match source.load(id).await {
            Ok(row) => row,
            Err(e) => {
                self.release(keys, token).await;
                return stamped(Err(e), t_load);
            }
        };
        let hook = self
            .inner
            .after_load
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(hook) = hook {
            hook(keys.value.clone()).await;
        }
        let Some((bytes, ttl_ms)) = self.entry_bytes(row.as_ref()) else {
            self.release(keys, token).await;
            return stamped(Ok(row), t_load);
        };
        let t_fill = self.inner.flights.tick();
        let mut conn = c.conn();
        let filled: Option<Vec<i64>> = c
            .redis("fill", async {
                FILL.key(&keys.value)
                    .key(&keys.lease)
                    .arg(token)
                    .arg(&c.channel)
                    .arg(bytes)
                    .arg(ttl_ms)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
        match filled.as_deref() {
            Some([1]) => {
                Counters::inc(&self.counters().fills);
                stamped(Ok(row), t_fill)
            }
            Some(_) => {
                Counters::inc(&self.counters().fills_rejected);
                stamped(Ok(row), t_load)
            }
            None => stamped(Ok(row), t_load),
        }
    }

    pub(super) async fn release(&self, keys: &EntityKeys, token: &str) {
        let c = self.c();
        let mut conn = c.conn();
        let _: Option<i64> = c
            .redis("release", async {
                RELEASE
                    .key(&keys.value)
                    .key(&keys.lease)
                    .arg(token)
                    .arg(&c.channel)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
    }
}

fn stamped<V>(value: V, fresh_as_of: u64) -> Stamped<V> {
    Stamped { value, fresh_as_of }
}
