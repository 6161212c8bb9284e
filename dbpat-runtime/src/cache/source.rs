//! What the cache needs from the entity and from the database.

use crate::error::Error;
use crate::model::CachePolicy;
use crate::query::{Table, TableRow};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::future::Future;

/// A row type the cache can store: serde for the value, and the id that names its key.
///
/// `#[derive(Entity)]` emits it for an entity with `#[dbpat(cache(...))]` and a single-column
/// primary key; implement it by hand for a type served by a custom [`CacheSource`].
pub trait CacheEntity: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The primary key; its `Display` form, percent-escaped (`:` `{` `}` `*` `?` `[` `]` `\`
    /// `^` `%`, space and control characters become `%XX`; numbers and UUIDs stay as they are),
    /// is the `<id>` of `<entity>:<id>`.
    type Id: Display + Clone + Send + Sync + 'static;

    /// This row's id.
    fn cache_id(&self) -> Self::Id;

    /// The name errors use for this entity ([`Error::NotFound`]); the type's own name by
    /// default.
    fn entity_name() -> &'static str {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full)
    }
}

/// The `#[dbpat(cache(...))]` policy of a derived entity. Emitted by `#[derive(Entity)]` only
/// for entities that have one (it has no supertraits, so a model with other errors reports
/// each once).
pub trait HasCachePolicy {
    /// The entity's `#[dbpat(cache(...))]` policy.
    const POLICY: CachePolicy;
}

/// A derived entity with a cache policy: what [`Cache::entity`] needs, so asking for the cached
/// handle of an entity without `#[dbpat(cache(...))]` does not compile. Implemented for every
/// [`Table`] that is a [`CacheEntity`] keyed by its primary key and [`HasCachePolicy`].
///
/// [`Cache::entity`]: super::Cache::entity
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no cache policy, so it has no cached handle",
    label = "not a cached entity",
    note = "add `#[dbpat(cache(ttl = \"15m\"))]` to `{Self}` (it must also derive `Serialize`, `Deserialize` and `Clone` and have a single-column primary key)"
)]
pub trait CachedEntity: Table + CacheEntity<Id = <Self as TableRow>::Key> + HasCachePolicy {}

impl<T> CachedEntity for T where T: Table + CacheEntity<Id = <T as TableRow>::Key> + HasCachePolicy {}

/// The database side of a cached entity: loads committed rows by id.
///
/// ```
/// # use dbpat_runtime::cache::{CacheEntity, CacheSource};
/// # use dbpat_runtime::Error;
/// # #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// # struct Item { id: i64, name: String }
/// # impl CacheEntity for Item { type Id = i64; fn cache_id(&self) -> i64 { self.id } }
/// struct Items(sqlx::PgPool);
///
/// impl CacheSource<Item> for Items {
///     async fn load(&self, id: &i64) -> Result<Option<Item>, Error> {
///         let row: Option<(i64, String)> =
///             sqlx::query_as("SELECT id, name FROM items WHERE id = $1")
///                 .bind(id)
///                 .fetch_optional(&self.0)
///                 .await?;
///         Ok(row.map(|(id, name)| Item { id, name }))
///     }
///
///     async fn load_many(&self, ids: &[i64]) -> Result<Vec<Item>, Error> {
///         let rows: Vec<(i64, String)> =
///             sqlx::query_as("SELECT id, name FROM items WHERE id = ANY($1)")
///                 .bind(ids)
///                 .fetch_all(&self.0)
///                 .await?;
///         Ok(rows.into_iter().map(|(id, name)| Item { id, name }).collect())
///     }
/// }
/// ```
///
/// Errors are [`dbpat::Error`](crate::Error)s: `?` converts sqlx errors (classified as usual),
/// and [`Error::from_source`] wraps any other.
pub trait CacheSource<E: CacheEntity>: Send + Sync {
    /// The committed row with this id, or `None`.
    fn load(&self, id: &E::Id) -> impl Future<Output = Result<Option<E>, Error>> + Send;

    /// The committed rows among `ids` (any order; missing ids are simply absent), in one query.
    fn load_many(&self, ids: &[E::Id]) -> impl Future<Output = Result<Vec<E>, Error>> + Send;
}
