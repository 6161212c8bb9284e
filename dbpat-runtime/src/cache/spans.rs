//! The cache's `tracing` spans, next to the statement spans of the query layer
//! (`dbpat.query`, see `dbpat::telemetry`):
//!
//! - `dbpat.cache`: one per cached operation (`find`, `find_many`, `insert`, `update`, `patch`,
//!   `delete`, `upsert`, `update_by_filter`, ...), with `dbpat.entity`, `dbpat.operation` and
//!   `dbpat.cache.outcome`. The outcome is `hit`, `negative_hit`, `miss`, `fill`,
//!   `fill_rejected`, `joined` (another task's load in this process), `bypass` (a write in
//!   flight, the restart grace, or Redis skipped), `write_through`, `invalidated`, `refused`
//!   or `unregistered`, the last step taken.
//! - `dbpat.redis`: one per Redis round trip, a child of the operation's span.
//!   `db.system.name = "redis"`, and `db.operation.name` is the step: `get`, `mget`,
//!   `acquire`, `fill`, `release`, `begin_write` (the write's registration), `end_write`,
//!   `ping`. A failure sets `error.type`.
//! - `dbpat.cache.lease_wait`: the wait for another process's lease holder.
//!
//! The database load of a miss is its own `dbpat.query` child. Key names and values never
//! appear in a span: ids are user data.

use tracing::field::Empty;
use tracing::Span;

/// The span of one cached operation of `entity`.
pub(super) fn operation(entity: &'static str, operation: &'static str) -> Span {
    tracing::info_span!(
        "dbpat.cache",
        otel.name = format_args!("cache {operation} {entity}"),
        dbpat.entity = entity,
        dbpat.operation = operation,
        dbpat.cache.outcome = Empty,
    )
}

/// Records how the current operation went (see the module docs).
pub(super) fn outcome(outcome: &'static str) {
    Span::current().record("dbpat.cache.outcome", outcome);
}

/// The span of one Redis round trip, the step `what`.
pub(super) fn redis(what: &'static str) -> Span {
    tracing::info_span!(
        "dbpat.redis",
        otel.name = what,
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = what,
        error.type = Empty,
    )
}

/// The span of a wait for another process's lease holder.
pub(super) fn lease_wait() -> Span {
    tracing::info_span!("dbpat.cache.lease_wait")
}
