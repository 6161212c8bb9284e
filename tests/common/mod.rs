//! Shared helpers of the integration tests.
#![allow(dead_code)]

use sqlx::PgPool;

/// A name-independent, sorted description of a database's public schema (the Rust twin of
/// `shared/tools/schema-fingerprint`): tables, columns, constraints, indexes and triggers.
/// Partitions are left out (which exist depends on the day), and object names are dropped
/// from index and trigger definitions, so two equal schemas with other names compare equal.
pub async fn schema_fingerprint(pool: &PgPool) -> Vec<String> {
    const RELS: &str =
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition";
    let queries = [
        format!(
            "WITH r AS ({RELS}) SELECT 'table ' || r.relname || ' kind=' || c.relkind::text
                || coalesce(' ' || pg_get_partkeydef(r.oid), '')
             FROM r JOIN pg_class c ON c.oid = r.oid"
        ),
        format!(
            "WITH r AS ({RELS}) SELECT 'column ' || r.relname || '.' || a.attname || ' '
                || format_type(a.atttypid, a.atttypmod)
                || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END
                || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
                || CASE WHEN a.attgenerated = 's' THEN ' generated' ELSE '' END
                || CASE WHEN a.attidentity <> '' THEN ' identity=' || a.attidentity::text ELSE '' END
             FROM r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        ),
        format!(
            "WITH r AS ({RELS}) SELECT 'constraint ' || r.relname || ' ' || co.contype::text || ' '
                || pg_get_constraintdef(co.oid)
             FROM r JOIN pg_constraint co ON co.conrelid = r.oid"
        ),
        format!(
            "WITH r AS ({RELS}) SELECT 'index ' || r.relname || ' '
                || regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \\S+ ON (ONLY )?', 'INDEX ON ')
             FROM r JOIN pg_index i ON i.indrelid = r.oid"
        ),
        format!(
            "WITH r AS ({RELS}) SELECT 'trigger ' || r.relname || ' '
                || regexp_replace(regexp_replace(pg_get_triggerdef(t.oid), 'TRIGGER \\S+ ', 'TRIGGER '),
                                  'FUNCTION \\S+\\(', 'FUNCTION f(')
             FROM r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal"
        ),
    ];
    let mut lines = Vec::new();
    for q in queries {
        let rows: Vec<String> = sqlx::query_scalar(&q).fetch_all(pool).await.unwrap();
        lines.extend(rows.into_iter().map(|l| {
            l.replace("uuid_generate_v4()", "gen_random_uuid()")
                .replace("CURRENT_TIMESTAMP", "now()")
        }));
    }
    lines.sort();
    lines
}

/// Runs a multi-statement SQL script, panicking with the error and the script's name.
pub async fn apply(pool: &PgPool, what: &str, sql: &str) {
    if let Err(e) = sqlx::raw_sql(sql).execute(pool).await {
        panic!("applying {what} failed: {e}\n{sql}");
    }
}
