//! Typed Redis keyspaces: the data-structure patterns of the patterns document as building
//! blocks.
//!
//! | Block | Structure | Key | Default TTL |
//! |---|---|---|---|
//! | [`Counter`] (+ [`CounterFlusher`] into PostgreSQL) | string, INCRBY | `article:{456}:views` | none |
//! | [`SessionStore`] | hash, sliding expiry | `session:<id>` | [`ttl::SESSION`] 24 h |
//! | [`Leaderboard`] | sorted set | `leaderboard:<name>:scores` | none |
//! | [`FixedWindow`], [`SlidingWindow`] | string / sorted set, Lua | `ratelimit:<subject>:<name>` | [`ttl::RATE_LIMIT`] 60 s |
//! | [`StreamQueue`] | stream + consumer group | `queue:{<name>}:stream` | none |
//! | [`LockManager`] | string, SET NX PX + Lua | `lock:<entity>:<id>` | [`ttl::LOCK`] 30 s |
//! | [`FencedLockManager`] | lock + PostgreSQL sequence | `lock:<entity>:<id>` | [`ttl::LOCK`] 30 s |
//! | [`Channel`] | Pub/Sub, serde JSON | `user:123:notifications` | — |
//! | [`UniqueSet`] | set | `online_users` | [`ttl::SESSION`] 24 h |
//!
//! Every key is built by [`KeyBuilder`] (`<prefix><entity>:<id>:<attribute>`, optional Cluster
//! hash tags) and listed with [`scan_keys`] (SCAN on every primary, never KEYS). Every block
//! works on a single node (`ConnectionManager` by default, or `MultiplexedConnection`) and on a
//! Redis Cluster (`redis::cluster_async::ClusterConnection`): see [`KeyspaceConnection`]. User data never enters script or SQL
//! text: it travels as KEYS/ARGV or bind parameters; the few SQL identifiers are validated.
//! See `docs/keyspaces.md` for a guided tour.

#![warn(missing_docs)]

pub mod conn;
pub mod counter;
pub mod error;
pub mod fencing;
pub mod ident;
pub mod key;
pub mod leaderboard;
pub mod lock;
pub mod pubsub;
pub mod queue;
pub mod rate_limit;
pub mod session;
pub mod ttl;
pub mod unique_set;

pub use conn::{KeyspaceConnection, Primary};
pub use counter::{Counter, CounterFlusher, FlushReport, FlushTarget, IdType};
pub use error::{KeyspaceError, Result};
pub use fencing::{check_fence, FencedGuard, FencedLockManager};
pub use ident::Ident;
pub use key::{ensure_same_slot, hash_slot, scan_keys, KeyBuilder, ScanOptions};
pub use leaderboard::{Entry, Leaderboard};
pub use lock::{LockGuard, LockManager, RetryDelay};
pub use pubsub::{Channel, Subscription};
pub use queue::{Consumer, Delivery, StreamQueue, DEFAULT_MAX_BLOCK, DEFAULT_VISIBILITY_TIMEOUT};
pub use rate_limit::{Decision, FixedWindow, SlidingWindow};
pub use session::SessionStore;
pub use unique_set::UniqueSet;
