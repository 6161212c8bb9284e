//! The Redis cache layer: cache-aside reads with a consistency contract.
//!
//! A derived entity with `#[dbpat(cache(...))]` gets a [`Cached`] handle from
//! [`Cache::entity`], with the table's own vocabulary (`find`, `get`, `find_many`, `insert`,
//! `insert_many`, `update`, `patch`, `delete`, `count`, `exists`, `query`, `filter`, and the
//! eager loads `load_parents`, `load_children`, `with_children`): reads go
//! to Redis first and to PostgreSQL on a miss; writes run the entity's statements and keep
//! Redis correct (write-through or invalidation, per the policy). Rows that are not one derived
//! entity get the closure-based [`SourceCache`] over a [`CacheSource`] of your own, from
//! [`Cache::with_source`]. Both run through one [`EntityCache`].
//!
//! # The guarantee
//!
//! Once a write made through the API has **committed** in PostgreSQL, no read that starts
//! afterwards returns the row as it was before that write, from any process — provided the
//! write transaction is shorter than [`CacheConfig::write_ttl`]. Reads that overlap the write
//! may return either version. When Redis does not confirm a write's registration,
//! [`WriteGuarantee::Strict`] (the default) refuses the write before PostgreSQL sees it
//! ([`Error::CacheUnavailable`](crate::Error::CacheUnavailable)); [`WriteGuarantee::Available`]
//! lets it commit and bounds the staleness by the retry of its invalidation.
//!
//! When Redis loses its data (restart, restore from an older dump, failover, flush), the
//! handle notices at once — every connection is verified against the server's `run_id` and a
//! dataset marker — and starts a new dataset *generation*: values of older generations are
//! never served, writes in flight are re-registered, and nobody fills for
//! [`CacheConfig::restart_grace`].
//!
//! # The protocol
//!
//! Per id there are three keys: the value `K`, a reader's fill lease `L`, and the writers
//! hash `W` (`token -> deadline`). All transitions are Lua scripts (atomic on the server):
//!
//! 1. **Read**: `GET K`; on a miss, `ACQUIRE` returns the value if one appeared,
//!    *bypass* if `W` has a live writer, else `SET L token NX PX lease_ttl` — the winner loads
//!    the database, the others wait for a wake-up (pub/sub) or the lease's TTL.
//! 2. **Fill**: stores the loaded row only if `L` still holds the reader's token.
//! 3. **Write, before the database write**: register in `W`, delete `K` and `L` (so a fill in
//!    progress is refused) — from now on nobody fills `K` and misses read the database.
//! 4. **Write, after the commit**: unregister, delete `L`, then store the new row
//!    (write-through) only if no other writer overlapped this one, else delete `K`.
//! 5. The cache-aside race (reader loads v1, writer commits v2, reader sets v1) is closed by
//!    2 + 3: the writer deleted the reader's lease before committing, so the late fill is
//!    refused. A reader's lease can only be granted when no writer is registered, so a granted
//!    lease plus an accepted fill proves no commit happened between load and fill.
//!
//! In one process, concurrent misses of one key share one load (single-flight), and a
//! joiner only takes a result that was current after it joined. Redis errors and timeouts are
//! logged, counted ([`CacheMetrics::redis_errors`]) and answered from the database; after an
//! outage (not a reply error about one key) a short circuit breaker skips Redis for reads,
//! never for a write's registration; invalidations that could not be delivered are retried in
//! the background while this process reads those rows from the database.
//!
//! Module map: `config` (settings), `link` (the verified connection and the dataset
//! generation), `database` (the generation tied to the database), `inner` (what the handles share; one guarded Redis call), `scripts` (the Lua
//! protocol), `read` / `read_many` / `write` / `intent` / `attributes` (the operations), `eager` (eager
//! loads along relations through `find_many`),
//! `cached` / `source_cache` (the two front-ends), `codec`, `key`, `lease`, `health`,
//! `single_flight`, `metrics`, `spans` (the tracing spans).
//!
//! `docs/cache.md` has the key format, the options and the measured figures.

mod attributes;
mod cached;
mod cached_writes;
mod cluster;
mod codec;
mod config;
mod conn;
mod database;
mod eager;
mod handle;
mod health;
mod inner;
mod intent;
mod key;
mod lease;
mod link;
mod metrics;
mod read;
mod read_many;
mod scripts;
pub(crate) mod single_flight;
mod source;
mod source_cache;
mod spans;
mod write;

pub use cached::Cached;
pub use codec::{Codec, Decoded};
pub use config::{AttributeSweep, CacheConfig, WriteGuarantee};
pub use handle::{Cache, EntityCache};
pub use intent::WriteIntent;
pub use metrics::CacheMetrics;
/// The `redis` crate this layer is built on (for `redis::Client::open`).
pub use redis;
pub use source::{CacheEntity, CacheSource, CachedEntity, HasCachePolicy};
pub use source_cache::SourceCache;
