//! Typed queries on real PostgreSQL (CRUD of every column kind, filters, EXPLAIN, row locks,
//! streams, transactions, versioned updates, relations and their eager loads) and the cached entity handle on real Redis.

#[path = "../support/mod.rs"]
mod support;

mod aggregates;
mod crud;
mod eager;
#[cfg(feature = "cache")]
mod entity_cache;
mod explain;
mod filters;
mod joins;
mod locks;
mod projections;
mod relations;
mod stream;
mod telemetry;
mod tx;
mod update_by_filter;
mod upsert;
#[cfg(feature = "cache")]
mod upsert_cache;
mod versioned;
