//! [`ColdStore`]: where the cold tier's files live (a local directory, or any S3-compatible
//! object store), and the few object operations the tier uses, each failure a
//! [`ColdError::Store`] naming the object.

use crate::error::{ColdError, Error};
use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use std::ops::Range;
use std::sync::Arc;

/// An object store and a prefix under which the cold tier writes: `<prefix>/<table>/<period>/`.
///
/// ```
/// # fn demo() -> Result<(), dbpat_runtime::Error> {
/// use dbpat_runtime::tiers::cold::ColdStore;
/// // A local directory (created if missing):
/// let dir = std::env::temp_dir().join("dbpat-cold-doc");
/// let local = ColdStore::local(&dir)?;
/// // Any S3-compatible store, configured by URL and options (keys as `object_store` names
/// // them: aws_endpoint, aws_access_key_id, aws_secret_access_key, aws_region, aws_allow_http):
/// let s3 = ColdStore::from_url(
///     "s3://archive-bucket/dbpat",
///     [("aws_endpoint", "http://127.0.0.1:9000"), ("aws_allow_http", "true"),
///      ("aws_access_key_id", "key"), ("aws_secret_access_key", "secret"),
///      ("aws_region", "us-east-1")],
/// )?;
/// # let _ = (local, s3); Ok(()) }
/// ```
#[derive(Clone)]
pub struct ColdStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
}

impl std::fmt::Debug for ColdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdStore").field("url", &self.url).finish()
    }
}

impl ColdStore {
    /// Files under the local directory `dir`, created if missing.
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let shown = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| store_error("create", &shown, e))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| store_error("open", &shown, e))?;
        Ok(ColdStore {
            store: Arc::new(store),
            prefix: Path::default(),
            url: format!("file://{shown}"),
        })
    }

    /// The store named by `url` (`s3://bucket/prefix`, `file:///dir`, `memory:///`), with
    /// `options` as [`object_store::parse_url_opts`] takes them (for S3: `aws_endpoint`,
    /// `aws_region`, `aws_access_key_id`, `aws_secret_access_key`, `aws_allow_http`, ...).
    pub fn from_url<I, K, V>(url: &str, options: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let parsed = url::Url::parse(url).map_err(|e| store_error("parse", url, e))?;
        let (store, prefix) = object_store::parse_url_opts(&parsed, options)
            .map_err(|e| store_error("open", url, e))?;
        Ok(ColdStore {
            store: Arc::from(store),
            prefix,
            url: url.to_owned(),
        })
    }

    /// A store from an `object_store` implementation you built, files under `prefix`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        ColdStore {
            url: format!("{store}/{prefix}"),
            store,
            prefix: Path::from(prefix),
        }
    }

    /// The store's URL (for logs).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The full path of `relative` (`<table>/<period>/<file>`) under the prefix.
    pub(crate) fn path(&self, relative: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in relative.split('/') {
            path = path.child(part);
        }
        path
    }

    pub(crate) async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), Error> {
        self.store
            .put(path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| store_error("put", path.as_ref(), e))
    }

    pub(crate) async fn get(&self, path: &Path) -> Result<Bytes, Error> {
        let got = self
            .store
            .get(path)
            .await
            .map_err(|e| store_error("get", path.as_ref(), e))?;
        got.bytes()
            .await
            .map_err(|e| store_error("get", path.as_ref(), e))
    }

    pub(crate) async fn get_range(&self, path: &Path, range: Range<u64>) -> Result<Bytes, Error> {
        self.store
            .get_range(path, range)
            .await
            .map_err(|e| store_error("get", path.as_ref(), e))
    }

    /// Deletes `path`; a missing object is not an error.
    pub(crate) async fn delete(&self, path: &Path) -> Result<(), Error> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error("delete", path.as_ref(), e)),
        }
    }

    /// The objects under `dir`.
    pub(crate) async fn list(&self, dir: &Path) -> Result<Vec<Path>, Error> {
        self.store
            .list(Some(dir))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| store_error("list", dir.as_ref(), e))
    }
}

fn store_error(
    operation: &'static str,
    path: &str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Cold(ColdError::Store {
        operation,
        path: path.to_owned(),
        source: Arc::new(err),
    })
}
