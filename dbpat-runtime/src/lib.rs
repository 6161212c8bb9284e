//! dbpat runtime: the table model the derive emits, and everything that runs from it.
//!
//! Users depend on the `dbpat` facade crate, which re-exports this crate and the derives.

#![warn(missing_docs)]

pub mod cache;
pub mod column_type;
pub mod ddl;
pub mod emit_sql;
pub mod entity;
pub mod enum_value;
pub mod error;
pub mod keyspace;
pub mod migrate;
pub mod model;
pub mod query;
mod redis_key;
pub mod testing;
pub mod tiers;

pub use column_type::{ArrayElement, ColumnType};
pub use entity::{registered_tables, Entity, EntityRegistration};
pub use enum_value::UnknownEnumValue;
pub use error::{Error, Result};
pub use query::{
    transaction, transaction_with, Column, Filter, Patch, PoolConfig, RetryPolicy, Select, Table,
    TableRow,
};
/// A JSONB column holding a typed value (sqlx's `Json<T>`): `metadata: Json<Metadata>`.
pub use sqlx::types::Json;

/// Items the derive's generated code refers to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::query::read::find_by_unique;
    pub use crate::query::value::{
        unnest_nullable_scalars, unnest_scalars, BindValue, UnnestColumn, UnnestScalar,
    };
    pub use inventory;
    pub use sqlx;
}

/// `use dbpat::prelude::*;` brings the derives' traits into scope.
pub mod prelude {
    pub use crate::entity::Entity;
    pub use crate::query::{Filter, Table, TableRow};
}
