//! Shared helpers of the integration tests.
#![allow(dead_code)]

use sqlx::PgPool;

/// What a schema fingerprint says about object names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Names are dropped from index and trigger definitions, `uuid_generate_v4()` counts as
    /// `gen_random_uuid()`: the Rust twin of `shared/tools/schema-fingerprint`, for comparing
    /// with the reference schema.
    Ignored,
    /// Every name, constraint validity, index validity and the public functions' source are
    /// included: two migrated databases must agree exactly.
    Included,
}

/// A sorted description of a database's public schema: tables, columns, constraints, indexes
/// and triggers (partitions are left out: which exist depends on the day; so is sqlx's
/// `_sqlx_migrations` bookkeeping table).
pub async fn schema_fingerprint(pool: &PgPool, names: Names) -> Vec<String> {
    const RELS: &str =
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND c.relname <> '_sqlx_migrations'";
    let included = names == Names::Included;
    let (constraint, index, trigger) = if included {
        (
            "co.conname || ' ' || co.contype::text || ' ' || pg_get_constraintdef(co.oid)
                || ' validated=' || co.convalidated::text",
            "pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid::text",
            "pg_get_triggerdef(t.oid)",
        )
    } else {
        (
            "co.contype::text || ' ' || pg_get_constraintdef(co.oid)",
            "regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \\S+ ON (ONLY )?', 'INDEX ON ')",
            "regexp_replace(regexp_replace(pg_get_triggerdef(t.oid), 'TRIGGER \\S+ ', 'TRIGGER '),
                            'FUNCTION \\S+\\(', 'FUNCTION f(')",
        )
    };
    let mut queries = vec![
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
            "WITH r AS ({RELS}) SELECT 'constraint ' || r.relname || ' ' || {constraint}
             FROM r JOIN pg_constraint co ON co.conrelid = r.oid"
        ),
        format!(
            "WITH r AS ({RELS}) SELECT 'index ' || r.relname || ' ' || {index}
             FROM r JOIN pg_index i ON i.indrelid = r.oid"
        ),
        format!(
            "WITH r AS ({RELS}) SELECT 'trigger ' || r.relname || ' ' || {trigger}
             FROM r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal"
        ),
    ];
    if included {
        queries.push(
            "SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
                .to_owned(),
        );
    }
    let mut lines = Vec::new();
    for q in queries {
        let rows: Vec<String> = sqlx::query_scalar(&q).fetch_all(pool).await.unwrap();
        lines.extend(rows.into_iter().map(|l| {
            match names {
                Names::Included => l,
                Names::Ignored => l
                    .replace("uuid_generate_v4()", "gen_random_uuid()")
                    .replace("CURRENT_TIMESTAMP", "now()"),
            }
        }));
    }
    lines.sort();
    lines
}

/// Panics with the lines only one side has when two fingerprints differ.
pub fn assert_same_schema(expected: &[String], found: &[String], context: &str) {
    if expected == found {
        return;
    }
    let missing: Vec<&str> = expected
        .iter()
        .filter(|l| !found.contains(l))
        .map(String::as_str)
        .collect();
    let extra: Vec<&str> = found
        .iter()
        .filter(|l| !expected.contains(l))
        .map(String::as_str)
        .collect();
    panic!(
        "{context}: schemas differ\n  only in the expected database:\n    {}\n  only in the other:\n    {}",
        missing.join("\n    "),
        extra.join("\n    "),
    );
}

/// Runs a multi-statement SQL script, panicking with the error and the script's name.
pub async fn apply(pool: &PgPool, what: &str, sql: &str) {
    if let Err(e) = sqlx::raw_sql(sql).execute(pool).await {
        panic!("applying {what} failed: {e}\n{sql}");
    }
}

/// The names of the partitions of the table `parent`, sorted.
pub async fn partitions_of(pool: &PgPool, parent: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = $1::regclass ORDER BY 1",
    )
    .bind(parent)
    .fetch_all(pool)
    .await
    .unwrap()
}
