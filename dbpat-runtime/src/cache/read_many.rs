//! Batch reads: [`EntityCache::read_many`] (`MGET`, the lease script and the fill in chunks of
//! [`CHUNK`] ids, one database load for all the misses).

use super::codec::Codec;
use super::handle::{new_token, EntityCache};
use super::key::EntityKeys;
use super::lease::Acquire;
use super::link::Link;
use super::metrics::Counters;
use super::scripts::{ACQUIRE, FILL};
use super::source::{CacheEntity, CacheSource};
use crate::error::Error;
use redis::Value;
use std::collections::HashMap;

/// Ids per Redis call of a batch read. Bounds the work of one script call (a script runs to
/// its end even after the client gave up waiting), so any batch size is safe: a chunk takes
/// about a millisecond, far below the op timeout.
pub(crate) const CHUNK: usize = 500;

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
            for start in (0..n).step_by(CHUNK) {
                let end = (start + CHUNK).min(n);
                let values: Vec<&str> = uniq[start..end]
                    .iter()
                    .map(|(_, k)| k.value.as_str())
                    .collect();
                let mut conn = link.conn.clone();
                let got: Option<Vec<Option<Vec<u8>>>> = c
                    .redis(link, "mget", async {
                        redis::cmd("MGET").arg(&values).query_async(&mut conn).await
                    })
                    .await;
                let Some(got) = got else {
                    redis_ok = false;
                    break;
                };
                for (i, bytes) in (start..end).zip(got) {
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
                for chunk in misses.chunks(CHUNK) {
                    let Some(answers) =
                        self.acquire_chunk(link, &uniq, chunk, &force, &token).await
                    else {
                        break;
                    };
                    for (&i, answer) in chunk.iter().zip(answers) {
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
                        let keys: Vec<EntityKeys> =
                            leased.iter().map(|&i| uniq[i].1.clone()).collect();
                        for chunk in keys.chunks(CHUNK) {
                            self.release(link, chunk, &token).await;
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
                for chunk in leased.chunks(CHUNK) {
                    self.fill_chunk(link, &uniq, &found, chunk, &token).await;
                }
            }
        }
        Ok(positions
            .into_iter()
            .map(|i| found[i].clone().flatten())
            .collect())
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
