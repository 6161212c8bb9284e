//! Single reads: [`EntityCache::read`] and its miss path (the fill lease, the wait for another
//! holder, the guarded fill).

use super::codec::{Codec, Decoded};
use super::handle::{new_token, EntityCache, ReadResult};
use super::key::EntityKeys;
use super::lease::Acquire;
use super::link::Link;
use super::metrics::Counters;
use super::scripts::{ACQUIRE, FILL, RELEASE};
use super::single_flight::{self, Entry, Stamped};
use super::source::{CacheEntity, CacheSource};
use super::spans;
use crate::error::Error;
use redis::{AsyncCommands, Value};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

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
        let link = if c.health.is_deferred(&value_key) {
            None
        } else {
            c.read_link()
        };
        let first = match &link {
            None => First::NoCache,
            Some(link) => {
                let mut conn = link.conn.clone();
                match c
                    .redis(link, "get", conn.get::<_, Option<Vec<u8>>>(&value_key))
                    .await
                {
                    Some(Some(bytes)) => match self.decode(&link.generation, &bytes) {
                        Some(v) => return Ok(v),
                        None => First::Corrupt,
                    },
                    Some(None) => First::Missed,
                    None => First::NoCache,
                }
            }
        };
        Counters::inc(&self.counters().misses);
        loop {
            match self.inner.flights.enter(&value_key) {
                Entry::Leader(leader) => {
                    let keys = self.inner.keys.keys(id);
                    let stamped = match (&link, first) {
                        (Some(link), First::Missed | First::Corrupt) => {
                            let force = matches!(first, First::Corrupt);
                            self.fetch(source, id, &keys, link, force).await
                        }
                        _ => self.load_direct(source, id).await,
                    };
                    let stamped = Arc::new(stamped);
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

    /// Decodes a cached value of the dataset `generation`: `Some(row or None)` for a usable
    /// entry, `None` for one to replace (corrupt, another layout, another generation).
    pub(super) fn decode(&self, generation: &str, bytes: &[u8]) -> Option<Option<E>> {
        match self.inner.codec.decode(generation, bytes) {
            Decoded::Value(v) => {
                Counters::inc(&self.counters().hits);
                Some(Some(v))
            }
            Decoded::Negative => {
                Counters::inc(&self.counters().negative_hits);
                Some(None)
            }
            Decoded::OtherGeneration => {
                Counters::inc(&self.counters().other_generation_values);
                None
            }
            Decoded::Corrupt => {
                Counters::inc(&self.counters().decode_errors);
                None
            }
        }
    }

    /// The miss path of one flight leader: lease, load and fill, or wait for another holder.
    /// `force`: the cached value is to be replaced (do not return it).
    async fn fetch<S: CacheSource<E>>(
        &self,
        source: &S,
        id: &E::Id,
        keys: &EntityKeys,
        link: &Link,
        mut force: bool,
    ) -> Stamped<ReadResult<E>> {
        let c = self.c();
        let flights = &self.inner.flights;
        // The caller's GET just missed: go straight to the lease script (which also returns a
        // value filled in the meantime).
        let mut skip_get = true;
        let mut waits = 0u32;
        let give_up = Instant::now() + c.config.max_wait;
        loop {
            if !link.fills_allowed() {
                // Redis lost its dataset a moment ago: writers registered in the old one are
                // unknown until every process has re-registered its own.
                Counters::inc(&self.counters().grace_bypasses);
                return self.load_direct(source, id).await;
            }
            if !force && !skip_get {
                let t = flights.tick();
                let mut conn = link.conn.clone();
                let got: Option<Option<Vec<u8>>> =
                    c.redis(link, "get", conn.get(&keys.value)).await;
                match got {
                    None => return self.load_direct(source, id).await,
                    Some(Some(bytes)) => match self.decode(&link.generation, &bytes) {
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
            let mut conn = link.conn.clone();
            let answer = c
                .attempt(link, "acquire", async {
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
                .await;
            let answer = match answer {
                Ok(value) => Acquire::parse_all(value).and_then(|mut v| v.pop()),
                Err(unanswered) => {
                    if unanswered.may_run_later {
                        // The script may still run and grant a lease nobody fills: give it
                        // back (after it, on the same connection).
                        self.release_later(link, vec![keys.clone()], token.clone());
                    }
                    None
                }
            };
            match answer {
                None => return self.load_direct(source, id).await,
                Some(Acquire::Cached(bytes)) => match self.decode(&link.generation, &bytes) {
                    Some(v) => return stamped(Ok(v), t),
                    None => force = true,
                },
                Some(Acquire::WritersInFlight) => {
                    Counters::inc(&self.counters().write_bypasses);
                    return self.load_direct(source, id).await;
                }
                Some(Acquire::Leased) => {
                    return self.load_and_fill(source, id, keys, link, &token).await
                }
                Some(Acquire::Held { pttl_ms }) => {
                    let now = Instant::now();
                    if now >= give_up {
                        return self.load_direct(source, id).await;
                    }
                    Counters::inc(&self.counters().stampede_waits);
                    let wait = c.wake.max_wait(pttl_ms, waits).min(give_up - now);
                    waits += 1;
                    let _ = tokio::time::timeout(wait, notified)
                        .instrument(spans::lease_wait())
                        .await;
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
        link: &Link,
        token: &str,
    ) -> Stamped<ReadResult<E>> {
        let c = self.c();
        let t_load = self.inner.flights.tick();
        Counters::inc(&self.counters().db_loads);
        let row = match source.load(id).await {
            Ok(row) => row,
            Err(e) => {
                self.release(link, std::slice::from_ref(keys), token).await;
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
        let Some((body, ttl_ms)) = self.entry_body(row.as_ref()) else {
            self.release(link, std::slice::from_ref(keys), token).await;
            return stamped(Ok(row), t_load);
        };
        let t_fill = self.inner.flights.tick();
        let mut conn = link.conn.clone();
        let filled: Option<Vec<i64>> = c
            .redis(link, "fill", async {
                FILL.key(&keys.value)
                    .key(&keys.lease)
                    .arg(token)
                    .arg(&c.channel)
                    .arg(Codec::envelope(&link.generation, &body))
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

    /// Gives back the leases `token` holds on `keys` (a failed load, or nothing to fill).
    pub(super) async fn release(&self, link: &Link, keys: &[EntityKeys], token: &str) {
        let c = self.c();
        let mut conn = link.conn.clone();
        let _: Option<i64> = c
            .redis(link, "release", async {
                let mut inv = RELEASE.prepare_invoke();
                inv.arg(token).arg(&c.channel);
                for k in keys {
                    inv.key(&k.value).key(&k.lease);
                }
                inv.invoke_async(&mut conn).await
            })
            .await;
    }

    /// [`release`](Self::release) in the background, for an acquire that timed out but may
    /// still run on the server: sent on the same connection, so it runs after it.
    pub(super) fn release_later(&self, link: &Link, keys: Vec<EntityKeys>, token: String) {
        let this = self.clone();
        let link = link.clone();
        tokio::spawn(async move { this.release(&link, &keys, &token).await });
    }
}

fn stamped<V>(value: V, fresh_as_of: u64) -> Stamped<V> {
    Stamped { value, fresh_as_of }
}
