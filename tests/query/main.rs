//! Typed queries on real PostgreSQL (CRUD of every column kind, filters, EXPLAIN, transactions, versioned updates) and the cached entity handle on real Redis.

#[path = "../support/mod.rs"]
mod support;

mod crud;
#[cfg(feature = "cache")]
mod entity_cache;
mod explain;
mod filters;
mod tx;
mod versioned;
