//! Batch reads: [`EntityCache::read_many`] (one `MGET`, one lease script, one database load).

use super::handle::{new_token, EntityCache};
use super::key::EntityKeys;
use super::lease::Acquire;
use super::metrics::Counters;
use super::scripts::{ACQUIRE, FILL};
use super::source::{CacheEntity, CacheSource};
use crate::error::Error;
use redis::Value;
use std::collections::HashMap;

impl<E: CacheEntity> EntityCache<E> {
    /// Reads many ids: one `MGET`, then one `load_many` of `source` for all the misses. Misses whose lease
    /// this call obtains are filled (lease-guarded); the others are read from the database
    /// without waiting. The result is in the order of `ids`.
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
        let mut redis_ok = false;
        if n > 0 {
            let mut conn = c.conn();
            let values: Vec<&str> = uniq.iter().map(|(_, k)| k.value.as_str()).collect();
            let got: Option<Vec<Option<Vec<u8>>>> = c
                .redis("mget", async {
                    redis::cmd("MGET").arg(&values).query_async(&mut conn).await
                })
                .await;
            if let Some(got) = got {
                redis_ok = true;
                for (i, bytes) in got.into_iter().enumerate().take(n) {
                    match bytes.map(|b| self.decode(&b)) {
                        Some(Some(v)) => found[i] = Some(v),
                        Some(None) => force[i] = true,
                        None => {}
                    }
                }
            }
        }
        let misses: Vec<usize> = (0..n)
            .filter(|&i| found[i].is_none() && !c.health.is_deferred(&uniq[i].1.value))
            .collect();
        for _ in 0..(0..n).filter(|&i| found[i].is_none()).count() {
            Counters::inc(&self.counters().misses);
        }
        let token = new_token();
        let mut leased: Vec<usize> = Vec::new();
        if redis_ok && !misses.is_empty() {
            let mut conn = c.conn();
            let answers = c
                .redis("acquire_many", async {
                    let mut inv = ACQUIRE.prepare_invoke();
                    inv.arg(&token).arg(c.config.lease_ttl.as_millis() as u64);
                    for &i in &misses {
                        let k = &uniq[i].1;
                        inv.key(&k.value).key(&k.lease).key(&k.writers);
                        inv.arg(if force[i] { "1" } else { "0" });
                    }
                    inv.invoke_async::<Value>(&mut conn).await
                })
                .await
                .and_then(Acquire::parse_all);
            for (&i, answer) in misses.iter().zip(answers.into_iter().flatten()) {
                match answer {
                    Acquire::Cached(bytes) => found[i] = self.decode(&bytes),
                    Acquire::Leased => leased.push(i),
                    Acquire::WritersInFlight => Counters::inc(&self.counters().write_bypasses),
                    Acquire::Held { .. } => {}
                }
            }
        }
        let to_load: Vec<usize> = (0..n).filter(|&i| found[i].is_none()).collect();
        if !to_load.is_empty() {
            Counters::inc(&self.counters().db_loads);
            let load_ids: Vec<E::Id> = to_load.iter().map(|&i| uniq[i].0.clone()).collect();
            let rows = match source.load_many(&load_ids).await {
                Ok(rows) => rows,
                Err(e) => {
                    for &i in &leased {
                        self.release(&uniq[i].1, &token).await;
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
            self.fill_many(&uniq, &found, &leased, &token).await;
        }
        Ok(positions
            .into_iter()
            .map(|i| found[i].clone().flatten())
            .collect())
    }

    async fn fill_many(
        &self,
        uniq: &[(E::Id, EntityKeys)],
        found: &[Option<Option<E>>],
        leased: &[usize],
        token: &str,
    ) {
        if leased.is_empty() {
            return;
        }
        let c = self.c();
        let mut conn = c.conn();
        let filled: Option<Vec<i64>> = c
            .redis("fill_many", async {
                let mut inv = FILL.prepare_invoke();
                inv.arg(token).arg(&c.channel);
                for &i in leased {
                    let k = &uniq[i].1;
                    let row = found[i].as_ref().and_then(|r| r.as_ref());
                    // An unencodable row keeps its lease until the TTL; nothing is stored.
                    let (bytes, ttl) = self.entry_bytes(row).unwrap_or_default();
                    inv.key(&k.value).key(&k.lease).arg(bytes).arg(ttl.max(1));
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
