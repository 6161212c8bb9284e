//! Read replicas: a [`PoolSet`] of one primary and any number of streaming replicas, with
//! read-your-writes through write tokens ([`Lsn`]), health with backoff, and the
//! [`PrimaryPool`] the cached handle loads its misses from. See [`PoolSet`].

mod health;
mod lsn;
mod policy;
mod primary;
mod reader;
mod set;
mod stats;

pub use lsn::{Lsn, ParseLsnError};
pub use policy::ReadPolicy;
pub use primary::PrimaryPool;
pub use reader::{Reader, Served};
pub use set::PoolSet;
pub use stats::ReadStats;
