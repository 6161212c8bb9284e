//! The error type shared by every keyspace building block.

use std::time::Duration;

/// Everything a keyspace operation can fail with.
///
/// Callers can match on the variant: bad input ([`Error::InvalidKeyPart`],
/// [`Error::InvalidIdentifier`], [`Error::InvalidArgument`]) is reported before any command is
/// sent; server failures carry the underlying client error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key segment (prefix, entity, id, attribute, name) was rejected.
    #[error("invalid key part {part:?}: {reason}")]
    InvalidKeyPart {
        /// The rejected text.
        part: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A SQL identifier (table, column, sequence) does not match `[a-z_][a-z0-9_]*`.
    #[error("invalid SQL identifier {0:?}: expected [a-z_][a-z0-9_]* (at most 63 bytes)")]
    InvalidIdentifier(String),
    /// An argument is out of range (zero limit, zero window, negative count...).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// Redis returned an error or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// PostgreSQL returned an error or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A value could not be encoded to or decoded from JSON.
    #[error("codec: {0}")]
    Codec(#[from] serde_json::Error),
    /// Redis answered with a shape this module did not expect.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
    /// A lock could not be acquired before the deadline.
    #[error("lock {key:?} not acquired within {waited:?}")]
    LockTimeout {
        /// The lock key.
        key: String,
        /// How long the caller waited.
        waited: Duration,
    },
    /// A fencing token was older than the one already recorded for the resource: another
    /// holder has taken the lock since, so this write must not happen.
    #[error("stale fencing token {token} for {resource:?} (current is {current})")]
    StaleFencingToken {
        /// The fenced resource.
        resource: String,
        /// The token that was presented.
        token: i64,
        /// The token currently recorded.
        current: i64,
    },
}

/// Result alias for keyspace operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<redis::ParsingError> for Error {
    fn from(e: redis::ParsingError) -> Self {
        Error::UnexpectedReply(e.to_string())
    }
}
