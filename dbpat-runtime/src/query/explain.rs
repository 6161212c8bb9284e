//! `EXPLAIN (ANALYZE)` of a built query, to check which index a query uses.

use crate::error::Result;
use sqlx::postgres::PgArguments;
use sqlx::{Executor, Postgres};

/// Runs `EXPLAIN (ANALYZE, BUFFERS) <sql>` with `args` bound and returns the plan text, one
/// line per row of the output. `sql` must come from dbpat or the program, never from input.
pub(crate) async fn explain_analyze<'e, X>(ex: X, sql: &str, args: PgArguments) -> Result<String>
where
    X: Executor<'e, Database = Postgres>,
{
    let statement = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
    let lines: Vec<String> = sqlx::query_scalar_with::<_, String, _>(&statement, args)
        .fetch_all(ex)
        .await?;
    Ok(lines.join("\n"))
}

/// Whether an EXPLAIN plan reads `index` (an `Index Scan`, `Index Only Scan` or
/// `Bitmap Index Scan` on it).
pub fn plan_uses_index(plan: &str, index: &str) -> bool {
    plan.lines().any(|l| {
        (l.contains("Index Scan using ") || l.contains("Index Only Scan using "))
            && l.contains(&format!(" using {index} "))
            || l.contains(&format!("Bitmap Index Scan on {index}"))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_index_nodes() {
        let plan = "Bitmap Heap Scan on products  (cost=1..2)\n  ->  Bitmap Index Scan on products_attributes_idx  (cost=0..1)";
        assert!(super::plan_uses_index(plan, "products_attributes_idx"));
        assert!(!super::plan_uses_index(plan, "products_pkey"));
        let plan = "Index Scan using users_email_key on users  (cost=0.29..8.30 rows=1 width=120)";
        assert!(super::plan_uses_index(plan, "users_email_key"));
    }
}
