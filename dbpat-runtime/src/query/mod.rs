//! Typed queries over sqlx/PostgreSQL: the [`Table`] API the derive implements, typed
//! [`Column`] filters, [`Select`] with keyset pagination, versioned updates, [`Patch`],
//! retried transactions, the pool and `EXPLAIN`.
//!
//! Every statement text is rendered once per entity from its model ([`TableSql`]); every value
//! is a bound parameter; every identifier comes from the model.

pub mod error;
pub mod explain;
pub mod filter;
pub mod pool;
pub mod select;
pub mod sql;
pub mod table;
pub mod tx;
pub mod value;
pub mod write;

pub use error::{Error, Result};
pub use explain::{explain_analyze, plan_uses_index};
pub use filter::{Column, Filter, JsonField, Order};
pub use pool::{connect, PoolConfig};
pub use select::Select;
pub use sql::TableSql;
pub use table::Table;
pub use tx::{transaction, transaction_with, BoxFuture, Isolation, RetryPolicy};
pub use value::{IntoValue, SqlValue, UnnestColumn, UnnestScalar};
pub use write::Patch;
