//! A write announced before the database write: [`EntityCache::begin_write`] and the
//! [`WriteIntent`] finished after the commit.

use super::codec::Codec;
use super::config::WriteGuarantee;
use super::handle::{new_token, EntityCache};
use super::health::Deferred;
use super::inner::EndWrite;
use super::key::EntityKeys;
use super::metrics::Counters;
use super::scripts;
use super::source::CacheEntity;
use crate::error::Error;
use crate::model::CacheWrite;

impl<E: CacheEntity> EntityCache<E> {
    /// Announces a write of `id` before the database write begins. From now until the intent
    /// is finished, no reader stores a value for `id` and readers that miss go to the
    /// database. Finish it after the transaction **commits** ([`WriteIntent::committed`],
    /// [`WriteIntent::deleted`]) or fails ([`WriteIntent::abort`]). A dropped intent
    /// invalidates in the background.
    ///
    /// When Redis does not confirm the registration, the handle's
    /// [`WriteGuarantee`](super::WriteGuarantee) decides: `Strict` (the default) returns
    /// [`Error::CacheUnavailable`] — do not write; `Available` returns an intent whose
    /// invalidation is retried until Redis takes it.
    ///
    /// Use this when the write runs in a transaction the caller commits; otherwise the cached
    /// handles' writes ([`Cached::update`](super::Cached::update), ...) do it all.
    pub async fn begin_write(&self, id: &E::Id) -> Result<WriteIntent<E>, Error> {
        let c = self.c();
        let keys = self.inner.keys.keys(id);
        let token = new_token();
        // Tracked before it is sent, so a reconnect to a new dataset re-registers it.
        c.links.in_flight.track(&token, &keys);
        let registered = match c.write_link() {
            Ok(link) => {
                let mut conn = link.conn.clone();
                c.attempt(&link, "begin_write", async {
                    scripts::begin_write(
                        &keys,
                        &token,
                        c.config.write_ttl.as_millis() as u64,
                        &c.channel,
                    )
                    .invoke_async::<i64>(&mut conn)
                    .await
                })
                .await
            }
            Err(unanswered) => Err(unanswered),
        };
        let others = match registered {
            Ok(others) => others,
            Err(unanswered) => match c.config.write_guarantee {
                WriteGuarantee::Strict => {
                    c.links.in_flight.untrack(&token);
                    Counters::inc(&self.counters().writes_refused);
                    if unanswered.may_run_later {
                        // The registration may still land: take it back once Redis answers.
                        c.health.defer(Deferred {
                            keys,
                            token,
                            in_flight: false,
                        });
                    }
                    return Err(Error::CacheUnavailable {
                        entity: E::entity_name(),
                        key: id.to_string(),
                        reason: unanswered.reason,
                    });
                }
                WriteGuarantee::Available => {
                    // Redis did not hear about this write: this process reads the row from
                    // the database until the invalidation reaches Redis.
                    Counters::inc(&self.counters().writes_unregistered);
                    Counters::inc(&self.counters().invalidations_deferred);
                    c.health.defer(Deferred {
                        keys: keys.clone(),
                        token: token.clone(),
                        in_flight: true,
                    });
                    -1
                }
            },
        };
        Ok(WriteIntent {
            cache: Some(self.clone()),
            keys,
            token,
            solo: others == 0,
        })
    }
}

/// A write announced with [`EntityCache::begin_write`]; finish it after the commit.
#[must_use = "finish the intent after the commit (committed / deleted / abort)"]
pub struct WriteIntent<E: CacheEntity> {
    cache: Option<EntityCache<E>>,
    keys: EntityKeys,
    token: String,
    solo: bool,
}

impl<E: CacheEntity> WriteIntent<E> {
    /// The write committed and `row` is the committed row: store it (write-through, when no
    /// other writer overlapped) or invalidate.
    pub async fn committed(mut self, row: &E) {
        let Some(cache) = self.cache.take() else {
            return;
        };
        let end = match cache.inner.policy.write {
            CacheWrite::WriteThrough => match cache.entry_body(Some(row)) {
                Some((body, ttl_ms)) => EndWrite::Store {
                    body,
                    ttl_ms,
                    negative: false,
                    solo: self.solo,
                },
                None => EndWrite::Invalidate,
            },
            CacheWrite::Invalidate => EndWrite::Invalidate,
        };
        cache.finish_write(&self.keys, &self.token, end).await;
    }

    /// The row was deleted and the delete committed: invalidate (write-through: store a
    /// negative entry) and remove the id's attribute keys.
    pub async fn deleted(mut self) {
        let Some(cache) = self.cache.take() else {
            return;
        };
        let end = match cache.inner.policy.write {
            CacheWrite::WriteThrough => EndWrite::Store {
                body: Codec::negative_body().to_vec(),
                ttl_ms: cache.c().jittered_ms(cache.inner.policy.negative_ttl_secs),
                negative: true,
                solo: self.solo,
            },
            CacheWrite::Invalidate => EndWrite::Invalidate,
        };
        cache.finish_write(&self.keys, &self.token, end).await;
        cache.sweep_attributes(&self.keys).await;
    }

    /// The write failed or rolled back: invalidate.
    pub async fn abort(mut self) {
        if let Some(cache) = self.cache.take() {
            cache
                .finish_write(&self.keys, &self.token, EndWrite::Invalidate)
                .await;
        }
    }
}

impl<E: CacheEntity> Drop for WriteIntent<E> {
    fn drop(&mut self) {
        let Some(cache) = self.cache.take() else {
            return;
        };
        let keys = self.keys.clone();
        let token = std::mem::take(&mut self.token);
        cache.c().links.in_flight.untrack(&token);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    cache
                        .finish_write(&keys, &token, EndWrite::Invalidate)
                        .await;
                });
            }
            Err(_) => cache.c().health.defer(Deferred {
                keys,
                token,
                in_flight: false,
            }),
        }
    }
}
