//! Test support shared by every test binary: the shop models, the fixtures of each area, and
//! the schema fingerprint. Databases and Redis prefixes come from `dbpat::testing` (one fresh
//! database and one key prefix per test, so tests run in parallel).
#![allow(dead_code)]

#[path = "../../examples/shop/models.rs"]
pub mod shop;
#[path = "../../examples/shop/transfer.rs"]
pub mod transfer;
// `examples/shop/transfer.rs` refers to the models as `super::models`.
use shop as models;

#[cfg(feature = "cache")]
pub mod cache;
pub mod catalog;
#[cfg(feature = "cold")]
pub mod cold;
pub mod features;
pub mod migrate;
pub mod pg_tools;
pub mod query;
#[cfg(feature = "cache")]
pub mod redis_cluster;
#[cfg(feature = "cache")]
pub mod redis_server;
pub mod tiers;
pub mod trace;
