//! What dbpat tells the outside about its work: a `tracing` span around every statement, with
//! the attributes of OpenTelemetry's database conventions, and its duration in the `metrics`
//! facade (any exporter works: Prometheus, StatsD, OTLP...).
//!
//! A statement's span is `dbpat.query`, at INFO level. Its fields:
//!
//! | field | value |
//! |---|---|
//! | `otel.name` | `<operation> <table>`, e.g. `SELECT users` (the OpenTelemetry span name) |
//! | `otel.kind` | `client` |
//! | `db.system.name` | `postgresql` |
//! | `db.operation.name` | the SQL command: `SELECT`, `INSERT`, `UPDATE`, `DELETE` |
//! | `db.collection.name` | the table |
//! | `db.query.text` | the statement with `$n` placeholders: never a bound value |
//! | `dbpat.entity`, `dbpat.operation` | the entity's Rust name and the dbpat call (`find`, `insert_many`, ...) |
//! | `error.type` | on failure, the error's kind (`unique_violation`, `conflict`, `not_found`, ...) |
//!
//! The metrics:
//! - `dbpat_query_duration_seconds` is a histogram labelled `entity`, `operation` (the dbpat
//!   call) and `outcome` (`ok` or `error`).
//! - `dbpat_query_errors_total` is a counter labelled `entity`, `operation` and `error_type`.
//!
//! With no subscriber and no recorder installed, both cost a callsite check and a clock read.
//!
//! Pool usage is sampled by [`record_pool`] (once) or [`sample_pool`] (every interval, in a
//! task):
//! - `dbpat_pool_connections` is a gauge labelled `pool` and `state` (`idle` or `in_use`);
//! - `dbpat_pool_max_connections` is a gauge labelled `pool`.
//!
//! The cache's counters are `dbpat_cache_<counter>_total`, and the circuit breaker is
//! `dbpat_cache_breaker_open` (see `dbpat::cache`).

use crate::entity::Entity;
use crate::error::Error;
use crate::model::TableDef;
use sqlx::PgPool;
use std::future::Future;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// One statement dbpat sends: the dbpat call it serves, the SQL command and the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Statement {
    /// The dbpat call (`find`, `insert_many`, `update_by_filter`, ...).
    pub(crate) operation: &'static str,
    /// The SQL command (`SELECT`, `INSERT`, `UPDATE`, `DELETE`).
    pub(crate) command: &'static str,
    /// The entity's Rust name.
    pub(crate) entity: &'static str,
    /// The table (the first one a join names).
    pub(crate) table: &'static str,
}

impl Statement {
    /// The statement `operation` sends to `E`'s table with the SQL `command`.
    pub(crate) fn of<E: Entity>(operation: &'static str, command: &'static str) -> Self {
        Self::on(operation, command, &E::TABLE)
    }

    /// The statement `operation` sends to `table` with the SQL `command`.
    pub(crate) fn on(
        operation: &'static str,
        command: &'static str,
        table: &TableDef<'static>,
    ) -> Self {
        Statement {
            operation,
            command,
            entity: table.entity,
            table: table.name,
        }
    }

    /// Runs `send` (the statement `text` on its way to PostgreSQL) inside the statement's span,
    /// and records its duration and outcome.
    pub(crate) async fn run<T, F>(self, text: &str, send: F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>>,
    {
        let span = tracing::info_span!(
            "dbpat.query",
            otel.name = format_args!("{} {}", self.command, self.table),
            otel.kind = "client",
            db.system.name = "postgresql",
            db.operation.name = self.command,
            db.collection.name = self.table,
            db.query.text = text,
            dbpat.entity = self.entity,
            dbpat.operation = self.operation,
            error.type = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = send.instrument(span.clone()).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(err) => {
                let kind = err.kind_name();
                span.record("error.type", kind);
                metrics::counter!(
                    "dbpat_query_errors_total",
                    "entity" => self.entity,
                    "operation" => self.operation,
                    "error_type" => kind,
                )
                .increment(1);
                "error"
            }
        };
        metrics::histogram!(
            "dbpat_query_duration_seconds",
            "entity" => self.entity,
            "operation" => self.operation,
            "outcome" => outcome,
        )
        .record(started.elapsed().as_secs_f64());
        result
    }
}

/// Sets the pool gauges of `pool` once: `dbpat_pool_connections{pool = name, state = "idle" |
/// "in_use"}` and `dbpat_pool_max_connections{pool = name}`.
pub fn record_pool(pool: &PgPool, name: &'static str) {
    let size = pool.size() as f64;
    let idle = pool.num_idle() as f64;
    metrics::gauge!("dbpat_pool_connections", "pool" => name, "state" => "idle").set(idle);
    metrics::gauge!("dbpat_pool_connections", "pool" => name, "state" => "in_use")
        .set((size - idle).max(0.0));
    metrics::gauge!("dbpat_pool_max_connections", "pool" => name)
        .set(pool.options().get_max_connections() as f64);
}

/// Samples `pool` into the pool gauges every `every`, until the pool is closed (or the task
/// aborted).
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) {
/// let sampler = dbpat_runtime::telemetry::sample_pool(pool.clone(), "primary", std::time::Duration::from_secs(5));
/// # drop(sampler); }
/// ```
pub fn sample_pool(
    pool: PgPool,
    name: &'static str,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !pool.is_closed() {
            record_pool(&pool, name);
            tokio::time::sleep(every).await;
        }
    })
}
