//! dbpat runtime: the table model the derive emits, and everything that runs from it.
//!
//! Users depend on the `dbpat` facade crate, which re-exports this crate and the derives.
//!
//! # Cargo features
//!
//! | Feature | Default | What it adds |
//! |---|---|---|
//! | `cache` | yes | `cache`: the Redis cache-aside layer (depends on `redis`) |
//! | `keyspace` | yes | `keyspace`: typed Redis keyspaces (depends on `redis`) |
//! | `cli` | yes | `emit_sql`: the clap-based `emit-sql` command line (depends on `clap`) |
//! | `testing` | no | `testing`: `TestDatabase` / `TestRedis` helpers (depends on `redis`) |
//! | `tls-rustls` | no | TLS via rustls: sqlx `tls-rustls`, redis `tokio-rustls-comp` |
//! | `tls-native-tls` | no | TLS via the platform's library: sqlx `tls-native-tls`, redis `tokio-native-tls-comp` |
//!
//! With `default-features = false` only the DDL, migrations, typed queries and tiers are
//! compiled: no `redis`, no `clap`.

#![warn(missing_docs)]

#[cfg(feature = "cache")]
pub mod cache;
pub mod column_type;
pub mod ddl;
#[cfg(feature = "cli")]
pub mod emit_sql;
pub mod entity;
pub mod enum_value;
pub mod error;
pub mod inspect;
#[cfg(feature = "keyspace")]
pub mod keyspace;
pub mod migrate;
pub mod model;
pub mod query;
#[cfg(any(feature = "cache", feature = "keyspace"))]
mod redis_key;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tiers;

pub use column_type::{ArrayElement, ColumnType};
pub use entity::{registered_tables, Entity, EntityRegistration};
pub use enum_value::UnknownEnumValue;
pub use error::{ColdError, Error, Result};
pub use query::{
    transaction, transaction_with, BelongsTo, Column, Filter, Lsn, Patch, PoolConfig, PoolSet,
    ReadPolicy, Relation, RetryPolicy, Select, Table, TableRow,
};
/// A JSONB column holding a typed value (sqlx's `Json<T>`): `metadata: Json<Metadata>`.
pub use sqlx::types::Json;

// The crates whose types appear in dbpat's API and in entities' columns, at the versions dbpat
// was built with (see the version table in `docs/operations.md`).
pub use chrono;
#[cfg(any(feature = "cache", feature = "keyspace", feature = "testing"))]
pub use redis;
pub use rust_decimal;
pub use serde_json;
pub use sqlx;
pub use uuid;

/// Items the derive's generated code refers to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::query::read::find_by_unique;
    pub use crate::query::value::{
        unnest_nullable_scalars, unnest_scalars, BindValue, UnnestColumn, UnnestScalar,
    };
    pub use inventory;
    pub use sqlx;

    /// Wraps the derive's `CacheEntity` impl: kept with the `cache` feature, dropped without
    /// it (the derive cannot see this crate's features).
    #[cfg(feature = "cache")]
    #[macro_export]
    #[doc(hidden)]
    macro_rules! __dbpat_if_cache {
        ($($item:tt)*) => { $($item)* };
    }

    /// Wraps the derive's `CacheEntity` impl: kept with the `cache` feature, dropped without
    /// it (the derive cannot see this crate's features).
    #[cfg(not(feature = "cache"))]
    #[macro_export]
    #[doc(hidden)]
    macro_rules! __dbpat_if_cache {
        ($($item:tt)*) => {};
    }

    pub use crate::__dbpat_if_cache as if_cache;
}

/// `use dbpat::prelude::*;` brings the derives' traits into scope.
pub mod prelude {
    pub use crate::entity::Entity;
    pub use crate::query::{BelongsTo, Filter, Table, TableRow};
}
