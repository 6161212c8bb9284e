//! [`KeyspaceError`]: the error type shared by every keyspace building block.

use std::time::Duration;

/// Everything a keyspace operation can fail with.
///
/// Callers can match on the variant: bad input ([`KeyspaceError::InvalidKeyPart`],
/// [`KeyspaceError::InvalidIdentifier`], [`KeyspaceError::InvalidArgument`]) is reported
/// before any command is sent; server failures carry the underlying client error
/// ([`KeyspaceError::Redis`], [`KeyspaceError::Database`]); the remaining variants are outcomes
/// a caller is expected to handle (a lock not acquired, a stale fencing token, ...).
///
/// No keyspace operation panics on user input: values it cannot accept come back as one of
/// these variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyspaceError {
    /// A key segment (prefix, entity, id, attribute, name) was rejected.
    #[error("invalid key part {part:?}: {reason}")]
    InvalidKeyPart {
        /// The rejected text (its first 80 characters).
        part: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A SQL identifier (table, column, sequence) does not match `[a-z_][a-z0-9_]*`.
    #[error("invalid SQL identifier {0:?}: expected [a-z_][a-z0-9_]* (at most 63 bytes)")]
    InvalidIdentifier(String),
    /// An argument is out of range (zero limit, zero window, non-finite score...).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The keys of one script or transaction would hash to different Redis Cluster slots, which
    /// a cluster refuses (`CROSSSLOT`). Reported before anything is sent, on every deployment,
    /// so a key layout that works on a single node also works on a cluster. Keys of one id or
    /// name share a hash tag ([`KeyBuilder::tagged_key`](super::KeyBuilder::tagged_key)).
    #[error("keys {keys:?} are in different Redis Cluster slots {slots:?}: give them one hash tag (KeyBuilder::tagged_key)")]
    CrossSlot {
        /// The keys of the refused operation.
        keys: Vec<String>,
        /// Their slots, in the same order.
        slots: Vec<u16>,
    },
    /// A write was not acknowledged by as many replicas as required within the timeout
    /// (`WAIT`), so a failover could still lose it. Nothing that depends on it was done.
    #[error("write to {key:?} reached {acked} of {wanted} required replicas")]
    NotReplicated {
        /// The key written.
        key: String,
        /// Replicas that acknowledged the write.
        acked: u64,
        /// Replicas required.
        wanted: u64,
    },
    /// Redis returned an error or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// PostgreSQL returned an error or could not be reached. [`KeyspaceError::sqlstate`] gives
    /// the SQLSTATE of a server-side error.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A value could not be encoded to or decoded from JSON.
    #[error("codec: {0}")]
    Codec(#[from] serde_json::Error),
    /// Redis answered with a shape this module did not expect.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
    /// A sum of counter values left the range of `i64` (Redis' own integer range).
    #[error("integer overflow: {0}")]
    Overflow(&'static str),
    /// A counter flush's UPDATE touched `updated` rows instead of exactly one: the target
    /// table has no row with that id (or the id column is not unique). The transaction was
    /// rolled back and the delta stays in Redis.
    #[error("flush target updated {updated} rows for id {id:?} (expected 1)")]
    FlushTargetRows {
        /// The counter id.
        id: String,
        /// How many rows the UPDATE matched.
        updated: u64,
    },
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
pub type Result<T, E = KeyspaceError> = std::result::Result<T, E>;

impl KeyspaceError {
    /// The SQLSTATE of an error PostgreSQL reported (e.g. `42P01` for a missing ledger or
    /// fence table), if this is one.
    pub fn sqlstate(&self) -> Option<String> {
        match self {
            KeyspaceError::Database(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// Whether the caller's input was rejected before anything was sent: a bad key part,
    /// SQL identifier or argument. Retrying the same call cannot succeed.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            KeyspaceError::InvalidKeyPart { .. }
                | KeyspaceError::InvalidIdentifier(_)
                | KeyspaceError::InvalidArgument(_)
        )
    }
}

impl From<redis::ParsingError> for KeyspaceError {
    fn from(e: redis::ParsingError) -> Self {
        KeyspaceError::UnexpectedReply(e.to_string())
    }
}

impl From<crate::redis_key::InvalidSegment> for KeyspaceError {
    fn from(e: crate::redis_key::InvalidSegment) -> Self {
        KeyspaceError::InvalidKeyPart {
            part: e.part,
            reason: e.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(KeyspaceError::InvalidArgument("x").is_invalid_input());
        assert!(KeyspaceError::InvalidIdentifier("X".into()).is_invalid_input());
        let db = KeyspaceError::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(db, KeyspaceError::Database(_)));
        assert!(!db.is_invalid_input());
        assert_eq!(db.sqlstate(), None);
        let rows = KeyspaceError::FlushTargetRows {
            id: "7".into(),
            updated: 0,
        };
        assert_eq!(
            rows.to_string(),
            "flush target updated 0 rows for id \"7\" (expected 1)"
        );
    }
}
