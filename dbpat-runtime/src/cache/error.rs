//! The cache's error type. Redis failures never appear here: they are logged, counted and
//! answered from the database. Only the database source's own errors reach the caller.

use std::sync::Arc;

/// A boxed error from a [`CacheSource`](super::CacheSource).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of a cached read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// The database source failed (shared by every reader that joined the same load).
    #[error("cache source failed: {0}")]
    Source(Arc<dyn std::error::Error + Send + Sync + 'static>),
}

impl CacheError {
    pub(crate) fn source(err: BoxError) -> Self {
        CacheError::Source(Arc::from(err))
    }
}
