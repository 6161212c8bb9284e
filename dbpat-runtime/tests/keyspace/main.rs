//! The keyspace building blocks against the real Redis and PostgreSQL: one test binary, one
//! module per block.
//!
//! Every test takes its own Redis key prefix (`TestRedis`) and, when it needs PostgreSQL, its
//! own database (`TestDatabase`), so the tests run in parallel within this binary and never
//! flush a whole Redis database.

#[macro_use]
mod support;

mod counter;
mod fencing;
mod keys;
mod leaderboard;
mod lock;
mod pubsub;
mod queue;
mod rate_limit;
mod session;
mod unique_set;
