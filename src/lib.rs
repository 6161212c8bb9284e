//! # dbpat
//!
//! PostgreSQL + Redis data patterns from `#[derive(Entity)]`: DDL, typed queries, versioned
//! updates and a cache-aside layer, all rendered from one `const` model per table.
//! See the README and `docs/` (the attribute reference is `docs/models.md`).
//!
//! # Cargo features
//!
//! `default = ["cache", "keyspace", "cli"]`. With `default-features = false` only the DDL,
//! migrations, typed queries and tiers are compiled (no `redis`, no `clap`).
//!
//! | Feature | Default | What it adds |
//! |---|---|---|
//! | `cache` | yes | `dbpat::cache`, the Redis cache-aside layer, and `dbpat::redis`; implies `keyspace` |
//! | `keyspace` | yes | `dbpat::keyspace`, typed Redis keyspaces, and `dbpat::redis` |
//! | `cli` | yes | `dbpat::emit_sql` (clap) and the `emit-sql` binary |
//! | `testing` | no | `dbpat::testing`: `TestDatabase` / `TestRedis` for your tests |
//! | `tls-rustls` | no | `sslmode=require` / `rediss://` through rustls |
//! | `tls-native-tls` | no | `sslmode=require` / `rediss://` through the platform's TLS library |
//!
//! # Re-exported crates
//!
//! Use these instead of adding your own dependency, so the versions always match:
//! [`sqlx`], [`uuid`], [`chrono`], [`rust_decimal`], [`serde_json`] and, with `cache`,
//! `keyspace` or `testing`, `redis`.

#![warn(missing_docs)]

#[cfg(doctest)]
mod docs;

pub use dbpat_derive::{DbEnum, Entity};
pub use dbpat_runtime::*;

#[cfg(any(feature = "cache", feature = "keyspace", feature = "testing"))]
pub use dbpat_runtime::redis;
pub use dbpat_runtime::{chrono, rust_decimal, serde_json, sqlx, uuid};
