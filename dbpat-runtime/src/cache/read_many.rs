//! Batch reads: [`EntityCache::read_many`] (`MGET`, the lease script and the fill in chunks of
//! [`CHUNK`] ids — on a Redis Cluster, chunks of one slot each, run concurrently — and one
//! database load for all the misses).

use super::cluster::slot_of;
use super::codec::Codec;
use super::handle::{new_token, EntityCache};
use super::key::EntityKeys;
use super::lease::Acquire;
use super::link::Link;
use super::metrics::Counters;
use super::scripts::{ACQUIRE, FILL};
use super::source::{CacheEntity, CacheSource};
use crate::error::Error;
use futures_util::future::join_all;
use redis::cluster_routing::Slot;
use redis::Value;
use std::collections::HashMap;

/// Ids per Redis call of a batch read. Bounds the work of one script call (a script runs to
/// its end even after the client gave up waiting), so any batch size is safe: a chunk takes
/// about a millisecond, far below the op timeout.
pub(crate) const CHUNK: usize = 500;

/// Batches in flight at once on a cluster (each of one slot: they spread over the primaries,
/// and each is small); the calls run in windows of this many. On a single server the batches run one after the other, so that no batch
/// waits behind the others for longer than the op timeout.
const CLUSTER_CONCURRENCY: usize = 32;

fn concurrency(link: &Link) -> usize {
    if link.cluster.is_some() {
        CLUSTER_CONCURRENCY
    } else {
        1
    }
}

/// Splits the ids `idx` (positions in `uniq`) into the batches of one Redis call: chunks of
/// [`CHUNK`]; on a cluster, each of one slot (an `MGET` or a script must not cross slots),
/// in the order the slots first appear.
fn batches(link: &Link, uniq: &[(impl Sized, EntityKeys)], idx: Vec<usize>) -> Vec<Vec<usize>> {
    if link.cluster.is_none() {
        return idx.chunks(CHUNK).map(<[usize]>::to_vec).collect();
    }
    let mut order: Vec<Slot> = Vec::new();
    let mut by_slot: HashMap<Slot, Vec<usize>> = HashMap::new();
    for i in idx {
        let slot = slot_of(&uniq[i].1.value);
        by_slot
            .entry(slot)
            .or_insert_with(|| {
                order.push(slot);
                Vec::new()
            })
            .push(i);
    }
    order
        .into_iter()
        .flat_map(|slot| {
            let ids = by_slot.remove(&slot).unwrap_or_default();
            ids.chunks(CHUNK).map(<[usize]>::to_vec).collect::<Vec<_>>()
        })
        .collect()
}

impl<E: CacheEntity> EntityCache<E> {
    /// Reads many ids: `MGET`, then one `load_many` of `source` for all the misses. Misses
    /// whose lease this call obtains are filled (lease-guarded); the others are read from the
    /// database without waiting. The result is in the order of `ids`.
    pub(crate) async fn read_many<S: CacheSource<E>>(
        &self,
        source: &S,
        ids: &[E::Id],
    ) -> Result<Vec<Option<E>>, Error> {
        let c = self.c();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut uniq: Vec<(E::Id, EntityKeys)> = Vec::new();
        let positions: Vec<usize> = ids
            .iter()
            .map(|id| {
                let keys = self.inner.keys.keys(id);
                *index.entry(keys.value.clone()).or_insert_with(|| {
                    uniq.push((id.clone(), keys));
                    uniq.len() - 1
                })
            })
            .collect();
        let n = uniq.len();
        let mut found: Vec<Option<Option<E>>> = vec![None; n];
        let mut force = vec![false; n];
        let link = if n > 0 { c.read_link() } else { None };
        let mut redis_ok = link.is_some();
        if let Some(link) = &link {
            let batches = batches(link, &uniq, (0..n).collect());
            let mut got: Vec<Option<Vec<Option<Vec<u8>>>>> = Vec::with_capacity(batches.len());
            for window in batches.chunks(concurrency(link)) {
                let calls: Vec<_> = window
                    .iter()
                    .map(|batch| self.mget_chunk(link, &uniq, batch))
                    .collect();
                got.extend(join_all(calls).await);
            }
            for (batch, got) in batches.iter().zip(got) {
                let Some(got) = got else {
                    redis_ok = false;
                    continue;
                };
                for (&i, bytes) in batch.iter().zip(got) {
                    match bytes.map(|b| self.decode(&link.generation, &b)) {
                        Some(Some(v)) => found[i] = Some(v),
                        Some(None) => force[i] = true,
                        None => {}
                    }
                }
            }
        }
        for _ in 0..(0..n).filter(|&i| found[i].is_none()).count() {
            Counters::inc(&self.counters().misses);
        }
        let token = new_token();
        let mut leased: Vec<usize> = Vec::new();
        if let Some(link) = link.as_ref().filter(|_| redis_ok) {
            if link.fills_allowed() {
                let misses: Vec<usize> = (0..n)
                    .filter(|&i| found[i].is_none() && !c.health.is_deferred(&uniq[i].1.value))
                    .collect();
                let batches = batches(link, &uniq, misses);
                let mut answers: Vec<Option<Vec<Acquire>>> = Vec::with_capacity(batches.len());
                for window in batches.chunks(concurrency(link)) {
                    let calls: Vec<_> = window
                        .iter()
                        .map(|batch| self.acquire_chunk(link, &uniq, batch, &force, &token))
                        .collect();
                    answers.extend(join_all(calls).await);
                }
                for (batch, answers) in batches.iter().zip(answers) {
                    for (&i, answer) in batch.iter().zip(answers.into_iter().flatten()) {
                        match answer {
                            Acquire::Cached(bytes) => {
                                found[i] = self.decode(&link.generation, &bytes)
                            }
                            Acquire::Leased => leased.push(i),
                            Acquire::WritersInFlight => {
                                Counters::inc(&self.counters().write_bypasses)
                            }
                            Acquire::Held { .. } => {}
                        }
                    }
                }
            } else {
                Counters::inc(&self.counters().grace_bypasses);
            }
        }
        let to_load: Vec<usize> = (0..n).filter(|&i| found[i].is_none()).collect();
        if !to_load.is_empty() {
            Counters::inc(&self.counters().db_loads);
            let load_ids: Vec<E::Id> = to_load.iter().map(|&i| uniq[i].0.clone()).collect();
            let rows = match source.load_many(&load_ids).await {
                Ok(rows) => rows,
                Err(e) => {
                    if let Some(link) = &link {
                        for batch in batches(link, &uniq, leased) {
                            let keys: Vec<EntityKeys> =
                                batch.iter().map(|&i| uniq[i].1.clone()).collect();
                            self.release(link, &keys, &token).await;
                        }
                    }
                    return Err(e);
                }
            };
            for &i in &to_load {
                found[i] = Some(None);
            }
            for row in rows {
                if let Some(&i) = index.get(&self.inner.keys.entity(&row.cache_id())) {
                    found[i] = Some(Some(row));
                }
            }
            if let Some(link) = &link {
                let batches = batches(link, &uniq, leased);
                for window in batches.chunks(concurrency(link)) {
                    let calls: Vec<_> = window
                        .iter()
                        .map(|batch| self.fill_chunk(link, &uniq, &found, batch, &token))
                        .collect();
                    join_all(calls).await;
                }
            }
        }
        Ok(positions
            .into_iter()
            .map(|i| found[i].clone().flatten())
            .collect())
    }

    /// `MGET` of one batch of ids; `None` if Redis did not answer.
    async fn mget_chunk(
        &self,
        link: &Link,
        uniq: &[(E::Id, EntityKeys)],
        batch: &[usize],
    ) -> Option<Vec<Option<Vec<u8>>>> {
        let values: Vec<&str> = batch.iter().map(|&i| uniq[i].1.value.as_str()).collect();
        let mut conn = link.conn.clone();
        self.c()
            .redis(link, "mget", async {
                redis::cmd("MGET").arg(&values).query_async(&mut conn).await
            })
            .await
    }

    /// The lease script for one chunk of misses; `None` if Redis did not answer (then the
    /// leases it may still grant are given back in the background).
    async fn acquire_chunk(
        &self,
        link: &Link,
        uniq: &[(E::Id, EntityKeys)],
        chunk: &[usize],
        force: &[bool],
        token: &str,
    ) -> Option<Vec<Acquire>> {
        let c = self.c();
        let mut conn = link.conn.clone();
        let answer = c
            .attempt(link, "acquire_many", async {
                let mut inv = ACQUIRE.prepare_invoke();
                inv.arg(token).arg(c.config.lease_ttl.as_millis() as u64);
                for &i in chunk {
                    let k = &uniq[i].1;
                    inv.key(&k.value).key(&k.lease).key(&k.writers);
                    inv.arg(if force[i] { "1" } else { "0" });
                }
                inv.invoke_async::<Value>(&mut conn).await
            })
            .await;
        match answer {
            Ok(value) => Acquire::parse_all(value),
            Err(unanswered) => {
                if unanswered.may_run_later {
                    let keys = chunk.iter().map(|&i| uniq[i].1.clone()).collect();
                    self.release_later(link, keys, token.to_owned());
                }
                None
            }
        }
    }

    /// The lease-guarded fill of one chunk of leased ids (rows that do not encode give their
    /// lease back instead).
    async fn fill_chunk(
        &self,
        link: &Link,
        uniq: &[(E::Id, EntityKeys)],
        found: &[Option<Option<E>>],
        chunk: &[usize],
        token: &str,
    ) {
        let c = self.c();
        let mut entries = Vec::with_capacity(chunk.len());
        let mut unencodable = Vec::new();
        for &i in chunk {
            let row = found[i].as_ref().and_then(|r| r.as_ref());
            match self.entry_body(row) {
                Some((body, ttl)) => {
                    entries.push((i, Codec::envelope(&link.generation, &body), ttl))
                }
                None => unencodable.push(uniq[i].1.clone()),
            }
        }
        if !unencodable.is_empty() {
            self.release(link, &unencodable, token).await;
        }
        if entries.is_empty() {
            return;
        }
        let mut conn = link.conn.clone();
        let filled: Option<Vec<i64>> = c
            .redis(link, "fill_many", async {
                let mut inv = FILL.prepare_invoke();
                inv.arg(token).arg(&c.channel);
                for (i, bytes, ttl) in &entries {
                    let k = &uniq[*i].1;
                    inv.key(&k.value).key(&k.lease).arg(bytes).arg(*ttl);
                }
                inv.invoke_async(&mut conn).await
            })
            .await;
        for ok in filled.into_iter().flatten() {
            if ok == 1 {
                Counters::inc(&self.counters().fills);
            } else {
                Counters::inc(&self.counters().fills_rejected);
            }
        }
    }
}
