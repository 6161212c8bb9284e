//! What the cache needs from the entity and from the database.

use super::error::BoxError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::future::Future;

/// A row type the cache can store: serde for the value, and the id that names its key.
///
/// After the query layer merges, `#[derive(Entity)]` can emit this for single-column primary
/// keys (`type Id = Uuid; fn cache_id(&self) -> Uuid { self.id }`).
pub trait CacheEntity: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The primary key; its `Display` form is the `<id>` of `<entity>:<id>`.
    type Id: Display + Clone + Send + Sync + 'static;

    /// This row's id.
    fn cache_id(&self) -> Self::Id;
}

/// The database side of a cached entity: loads committed rows by id.
///
/// ```
/// # use dbpat_runtime::cache::{BoxError, CacheEntity, CacheSource};
/// # #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// # struct Item { id: i64, name: String }
/// # impl CacheEntity for Item { type Id = i64; fn cache_id(&self) -> i64 { self.id } }
/// struct Items(sqlx::PgPool);
///
/// impl CacheSource<Item> for Items {
///     async fn load(&self, id: &i64) -> Result<Option<Item>, BoxError> {
///         let row: Option<(i64, String)> =
///             sqlx::query_as("SELECT id, name FROM items WHERE id = $1")
///                 .bind(id)
///                 .fetch_optional(&self.0)
///                 .await?;
///         Ok(row.map(|(id, name)| Item { id, name }))
///     }
///
///     async fn load_many(&self, ids: &[i64]) -> Result<Vec<Item>, BoxError> {
///         let rows: Vec<(i64, String)> =
///             sqlx::query_as("SELECT id, name FROM items WHERE id = ANY($1)")
///                 .bind(ids)
///                 .fetch_all(&self.0)
///                 .await?;
///         Ok(rows.into_iter().map(|(id, name)| Item { id, name }).collect())
///     }
/// }
/// ```
pub trait CacheSource<E: CacheEntity>: Send + Sync + 'static {
    /// The committed row with this id, or `None`.
    fn load(&self, id: &E::Id) -> impl Future<Output = Result<Option<E>, BoxError>> + Send;

    /// The committed rows among `ids` (any order; missing ids are simply absent), in one query.
    fn load_many(&self, ids: &[E::Id]) -> impl Future<Output = Result<Vec<E>, BoxError>> + Send;
}
