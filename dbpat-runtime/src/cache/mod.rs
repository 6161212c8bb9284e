//! The Redis cache layer: cache-aside reads with a consistency contract.
//!
//! An entity with a [`CachePolicy`](crate::model::CachePolicy) gets an [`EntityCache`]:
//! [`get`](EntityCache::get) / [`get_many`](EntityCache::get_many) read Redis first and the
//! database (through a [`CacheSource`]) on a miss; [`update`](EntityCache::update),
//! [`patch`](EntityCache::patch), [`update_versioned`](EntityCache::update_versioned),
//! [`insert`](EntityCache::insert) and [`delete`](EntityCache::delete) wrap the caller's
//! database write and keep Redis correct (write-through or invalidation, per the policy).
//!
//! # The guarantee
//!
//! Once a write made through the API has **committed** in PostgreSQL, no read that starts
//! afterwards returns the row as it was before that write, from any process — provided the
//! write transaction is shorter than [`CacheConfig::write_ttl`] and Redis did not lose the
//! write's registration. Reads that overlap the write may return either version.
//!
//! # The protocol
//!
//! Per id there are three keys: the value `K`, a reader's fill lease `L`, and the writers
//! hash `W` (`token -> deadline`). All transitions are Lua scripts (atomic on the server):
//!
//! 1. **Read**: `GET K`; on a miss, [`ACQUIRE`](scripts) returns the value if one appeared,
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
//! In one process, concurrent misses of one key share one load ([`single_flight`]), and a
//! joiner only takes a result that was current after it joined. Redis errors and timeouts are
//! logged, counted ([`CacheMetrics::redis_errors`]) and answered from the database; a short
//! circuit breaker then skips Redis; invalidations that could not be delivered are retried in
//! the background while this process reads those rows from the database.
//!
//! See `docs/cache.md` for the key format, the options and the measured figures.

mod attributes;
mod codec;
mod error;
mod handle;
mod health;
mod intent;
pub mod key;
mod lease;
mod metrics;
mod read;
mod read_many;
mod scripts;
pub(crate) mod single_flight;
mod source;
mod table;
mod write;

pub use attributes::AttributeSweep;
pub use codec::{layout_of_columns, Codec, Decoded};
pub use error::{BoxError, CacheError};
pub use handle::{Cache, CacheConfig, EntityCache};
pub use intent::WriteIntent;
pub use key::{EntityKeys, KeyBuilder};
pub use metrics::CacheMetrics;
/// The `redis` crate this layer is built on (for `redis::Client::open`).
pub use redis;
pub use source::{CacheEntity, CacheSource};
pub use table::TableSource;
