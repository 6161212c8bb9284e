//! Typed queries over sqlx/PostgreSQL: the [`Table`] API the derive implements, typed
//! [`Column`] filters, [`Relation`]s from foreign keys and their eager loads, [`Select`] with
//! keyset pagination, joins, aggregates and projections ([`Projection`]), reads over the
//! archive tier, row
//! streams ([`RowStream`]) and row locks ([`Locked`]), versioned updates, [`Patch`], upserts
//! ([`Upsert`]), updates and deletes by filter ([`Update`]), retried
//! transactions, the pool, read replicas ([`PoolSet`]) and `EXPLAIN`.
//!
//! Every statement text is rendered once per entity from its model ([`TableSql`]); every value
//! is a bound parameter; every identifier comes from the model.

mod aggregate;
pub(crate) mod eager;
mod explain;
mod filter;
mod history;
mod join;
mod lock;
mod patch;
mod pool;
mod projection;
pub(crate) mod read;
mod relation;
mod replicas;
mod row;
mod select;
mod sql;
mod stream;
mod table;
mod tx;
pub(crate) mod update;
pub(crate) mod upsert;
pub(crate) mod value;
mod write;
mod writer;

pub use aggregate::{
    avg, count, count_all, count_distinct, max, min, sum, Agg, AggFn, AggOrder, Averageable, AvgFn,
    CountAll, CountAllOrder, CountDistinctFn, CountFn, Having, HavingCountAll, HavingIn, MaxFn,
    MinFn, Ordered, SumFn, Summable,
};
pub use eager::LoadKey;
pub use explain::plan_uses_index;
#[cfg(feature = "cold")]
pub(crate) use filter::{days_since_epoch, ColumnBound, Scalar};
pub use filter::{Column, Filter, JsonField, Order};
#[cfg(feature = "cold")]
pub(crate) use history::select_sql;
pub use history::ReadTiers;
pub use join::{
    ChildrenPath, Inner, Join, JoinFilter, JoinKind, JoinPath, LeftOuter, ParentPath, ToChildren,
    ToParent, Two,
};
pub use lock::{LockStrength, LockWait, Locked, NoWait, SkipLocked, Wait};
pub use patch::{Direct, Patch};
pub use pool::{connect, PoolConfig};
pub use projection::{
    base, columns_of, joined, Aliased, AllColumns, AllowsAggregates, AllowsColumns, As, Base,
    ColumnOutput, FilterIn, GroupKey, Grouping, Groups, HasSide, Item, Joined, Nullity, OnSide,
    One, OrderIn, Projection, Rows, Selection, Total,
};
pub use relation::{BelongsTo, Relation};
pub use replicas::{
    Lsn, ParseLsnError, PoolSet, PrimaryPool, ReadPolicy, ReadStats, Reader, Served,
};
pub use row::TableRow;
pub use select::Select;
#[cfg(feature = "cold")]
pub(crate) use select::{fetch_all, ColdParts};
pub use sql::{FullTextSql, TableSql, UpsertSql};
pub use stream::RowStream;
pub use table::Table;
pub use tx::{transaction, transaction_with, BoxFuture, Isolation, RetryPolicy};
pub use update::Update;
pub use upsert::{
    AnyColumn, ConflictTarget, IntoConflictTarget, OnConflict, UpdateColumns, Upsert,
};
pub use value::{BindValue, IntoValue, JsonColumn, Numeric, SqlValue, UnnestColumn, UnnestScalar};
