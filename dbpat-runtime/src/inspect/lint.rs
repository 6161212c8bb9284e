//! `emit-sql lint`: the patterns document's checklist against a live schema.
//!
//! Each [`Finding`] names the table (and column), the [`Rule`] and the SQL that fixes it. What
//! cannot be checked is said in [`LintReport::notes`], never guessed: `@>` containment queries
//! are known only from `pg_stat_statements` (when it is installed and preloaded); without it
//! the JSONB columns that have no GIN index are listed as a note, not as findings.

use super::introspect::{RawIndex, RawSchema, RawTable, Statements};
use crate::ddl::ident;
use std::collections::BTreeMap;
use std::fmt;

/// A checklist rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// An INTEGER / SMALLINT (or SERIAL) primary-key column.
    IntKey,
    /// `TIMESTAMP` without time zone.
    TimestampWithoutTimeZone,
    /// `REAL` / `DOUBLE PRECISION` for a money-like column.
    FloatMoney,
    /// `JSON` instead of `JSONB`.
    JsonNotJsonb,
    /// A foreign key whose `ON DELETE` is the default `NO ACTION`.
    FkWithoutOnDelete,
    /// A foreign key no index leads with.
    FkWithoutIndex,
    /// An integer column named like a status.
    StatusInt,
    /// A table without a primary key.
    NoPrimaryKey,
    /// An index another index (or constraint) already provides.
    DuplicateIndex,
    /// A JSONB column queried with `@>` (per `pg_stat_statements`) without a GIN index.
    JsonbContainmentWithoutGin,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 10] = [
        Rule::IntKey,
        Rule::TimestampWithoutTimeZone,
        Rule::FloatMoney,
        Rule::JsonNotJsonb,
        Rule::FkWithoutOnDelete,
        Rule::FkWithoutIndex,
        Rule::StatusInt,
        Rule::NoPrimaryKey,
        Rule::DuplicateIndex,
        Rule::JsonbContainmentWithoutGin,
    ];

    /// The rule's id as printed (`int-key`, ...).
    pub const fn id(self) -> &'static str {
        match self {
            Rule::IntKey => "int-key",
            Rule::TimestampWithoutTimeZone => "timestamp-without-time-zone",
            Rule::FloatMoney => "float-money",
            Rule::JsonNotJsonb => "json-not-jsonb",
            Rule::FkWithoutOnDelete => "fk-without-on-delete",
            Rule::FkWithoutIndex => "fk-without-index",
            Rule::StatusInt => "status-int",
            Rule::NoPrimaryKey => "no-primary-key",
            Rule::DuplicateIndex => "duplicate-index",
            Rule::JsonbContainmentWithoutGin => "jsonb-containment-without-gin",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One violation of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The table.
    pub table: String,
    /// The column, when the finding is about one.
    pub column: Option<String>,
    /// The rule.
    pub rule: Rule,
    /// What is wrong.
    pub message: String,
    /// The SQL (or step) that fixes it.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "{}.{c}", self.table)?,
            None => write!(f, "{}", self.table)?,
        }
        write!(f, ": {}: {}; fix: {}", self.rule, self.message, self.fix)
    }
}

/// Findings, and what could not be checked.
#[derive(Debug, Clone, Default)]
pub struct LintReport {
    /// The findings, by table, then rule.
    pub findings: Vec<Finding>,
    /// What could not be checked, and why.
    pub notes: Vec<String>,
}

const MONEY_WORDS: &[&str] = &[
    "price", "amount", "total", "subtotal", "balance", "cost", "fee", "fees", "money", "salary",
    "tax", "revenue", "payment", "discount", "charge", "refund", "wage", "budget",
];
const STATUS_WORDS: &[&str] = &["status", "state", "kind", "type", "stage", "phase"];

/// Runs every rule over `raw`.
pub fn lint(raw: &RawSchema) -> LintReport {
    let mut report = LintReport::default();
    let mut unindexed_jsonb: Vec<String> = Vec::new();
    for table in &raw.tables {
        let t = table.name.as_str();
        let mut add = |column: Option<&str>, rule: Rule, message: String, fix: String| {
            report.findings.push(Finding {
                table: t.to_owned(),
                column: column.map(str::to_owned),
                rule,
                message,
                fix,
            });
        };
        let pk = table
            .primary_key()
            .map(|c| c.columns.clone())
            .unwrap_or_default();
        if table.primary_key().is_none() {
            add(
                None,
                Rule::NoPrimaryKey,
                "the table has no primary key".to_owned(),
                format!(
                    "ALTER TABLE {} ADD COLUMN id UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY (or a BIGINT identity key)",
                    ident(t)
                ),
            );
        }
        let fk_columns: Vec<&String> = table
            .constraints
            .iter()
            .filter(|c| c.kind == 'f')
            .flat_map(|c| c.columns.iter())
            .collect();
        for col in &table.columns {
            let c = col.name.as_str();
            let alter = |ty: &str, using: &str| {
                format!(
                    "ALTER TABLE {} ALTER COLUMN {} TYPE {ty}{using}",
                    ident(t),
                    ident(c)
                )
            };
            let integer = matches!(col.base.as_str(), "int2" | "int4") && !col.array;
            if integer && pk.iter().any(|k| k == c) {
                let what = if col.is_serial() {
                    "SERIAL"
                } else {
                    col.type_sql.as_str()
                };
                add(
                    Some(c),
                    Rule::IntKey,
                    format!("the primary key is {what}: 32 bits run out"),
                    format!(
                        "{} (and its sequence: ALTER SEQUENCE ... AS BIGINT, or an identity), or migrate the key to UUID",
                        alter("BIGINT", "")
                    ),
                );
            }
            if col.base == "timestamp" {
                add(
                    Some(c),
                    Rule::TimestampWithoutTimeZone,
                    "TIMESTAMP without time zone stores wall-clock times with no offset".to_owned(),
                    alter(
                        "TIMESTAMPTZ",
                        &format!(" USING {} AT TIME ZONE 'UTC'", ident(c)),
                    ),
                );
            }
            if matches!(col.base.as_str(), "float4" | "float8") && is_money_like(c) {
                add(
                    Some(c),
                    Rule::FloatMoney,
                    format!("{} for money loses precision", col.type_sql),
                    alter(
                        if col.array {
                            "NUMERIC(19,4)[]"
                        } else {
                            "NUMERIC(19,4)"
                        },
                        "",
                    ),
                );
            }
            if col.base == "json" {
                add(
                    Some(c),
                    Rule::JsonNotJsonb,
                    "JSON is re-parsed on every read and cannot be GIN-indexed".to_owned(),
                    alter(
                        if col.array { "JSONB[]" } else { "JSONB" },
                        &format!(
                            " USING {}::jsonb{}",
                            ident(c),
                            if col.array { "[]" } else { "" }
                        ),
                    ),
                );
            }
            let int_any = matches!(col.base.as_str(), "int2" | "int4" | "int8") && !col.array;
            if int_any
                && is_status_like(c)
                && !pk.iter().any(|k| k == c)
                && !fk_columns.iter().any(|k| *k == c)
            {
                add(
                    Some(c),
                    Rule::StatusInt,
                    format!("a status stored as {} is unreadable", col.type_sql),
                    format!(
                        "{}, then ADD CONSTRAINT {} CHECK ({} IN ('...', ...)) (a DbEnum in the model)",
                        alter("TEXT", &format!(" USING CASE {} WHEN 0 THEN '...' ... END", ident(c))),
                        ident(&format!("{t}_{c}_check")),
                        ident(c)
                    ),
                );
            }
            if col.base == "jsonb" && !col.array && !has_gin(table, c) {
                match &raw.statements {
                    Statements::Available(texts) => {
                        if let Some(q) = texts.iter().find(|q| queries_containment(q, t, c)) {
                            add(
                                Some(c),
                                Rule::JsonbContainmentWithoutGin,
                                format!(
                                    "queried with @> (pg_stat_statements: `{}`) but no GIN index covers it",
                                    shorten(q)
                                ),
                                format!(
                                    "CREATE INDEX CONCURRENTLY {} ON {} USING GIN ({} jsonb_path_ops)",
                                    ident(&format!("idx_{t}_{c}_gin")),
                                    ident(t),
                                    ident(c)
                                ),
                            );
                        }
                    }
                    _ => unindexed_jsonb.push(format!("{t}.{c}")),
                }
            }
        }
        for fk in table.constraints.iter().filter(|c| c.kind == 'f') {
            let column = (fk.columns.len() == 1).then(|| fk.columns[0].as_str());
            let parent = fk.ref_table.clone().unwrap_or_default();
            if fk.on_delete == 'a' {
                add(
                    column,
                    Rule::FkWithoutOnDelete,
                    format!(
                        "foreign key `{}` to `{parent}` has no ON DELETE action (NO ACTION, the default: an explicit NO ACTION reads the same in the catalog)",
                        fk.name
                    ),
                    format!(
                        "ALTER TABLE {t} DROP CONSTRAINT {n}, ADD CONSTRAINT {n} FOREIGN KEY ({cols}) REFERENCES {p} ({rcols}) ON DELETE <CASCADE | RESTRICT | SET NULL> NOT VALID; ALTER TABLE {t} VALIDATE CONSTRAINT {n}",
                        t = ident(t),
                        n = ident(&fk.name),
                        cols = idents(&fk.columns),
                        p = ident(&parent),
                        rcols = idents(&fk.ref_columns),
                    ),
                );
            }
            if !fk_indexed(table, &fk.columns) {
                add(
                    column,
                    Rule::FkWithoutIndex,
                    format!(
                        "no index leads with ({}): deleting from `{parent}` scans `{t}` for each row",
                        fk.columns.join(", ")
                    ),
                    format!(
                        "CREATE INDEX CONCURRENTLY {} ON {} ({})",
                        ident(&format!("idx_{t}_{}", fk.columns.join("_"))),
                        ident(t),
                        idents(&fk.columns)
                    ),
                );
            }
        }
        for (dup, kept) in duplicate_indexes(table) {
            add(
                None,
                Rule::DuplicateIndex,
                format!(
                    "index `{}` repeats `{}` ({})",
                    dup.name, kept.name, kept.definition
                ),
                match &dup.constraint {
                    Some(c) => format!("ALTER TABLE {} DROP CONSTRAINT {}", ident(t), ident(c)),
                    None => format!("DROP INDEX CONCURRENTLY {}", ident(&dup.name)),
                },
            );
        }
    }
    match &raw.statements {
        Statements::Available(_) => {}
        other => {
            let why = match other {
                Statements::Unavailable(e) => {
                    format!("pg_stat_statements is installed but cannot be read ({e})")
                }
                _ => "pg_stat_statements is not installed in this database".to_owned(),
            };
            let columns = if unindexed_jsonb.is_empty() {
                "every JSONB column has a GIN index".to_owned()
            } else {
                format!(
                    "JSONB columns without a GIN index, to index if they are queried with @>: {}",
                    unindexed_jsonb.join(", ")
                )
            };
            report.notes.push(format!(
                "{}: not checked ({why}; CREATE EXTENSION pg_stat_statements with it in shared_preload_libraries to check); {columns}",
                Rule::JsonbContainmentWithoutGin
            ));
        }
    }
    report.findings.sort_by(|a, b| {
        (&a.table, a.rule, &a.column, &a.message).cmp(&(&b.table, b.rule, &b.column, &b.message))
    });
    report
}

fn idents(names: &[String]) -> String {
    names
        .iter()
        .map(|n| ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn words(name: &str) -> impl Iterator<Item = &str> {
    name.split('_').filter(|w| !w.is_empty())
}

fn is_money_like(column: &str) -> bool {
    words(column).any(|w| MONEY_WORDS.contains(&w))
}

fn is_status_like(column: &str) -> bool {
    words(column)
        .last()
        .is_some_and(|w| STATUS_WORDS.contains(&w))
}

fn has_gin(table: &RawTable, column: &str) -> bool {
    table.indexes.iter().any(|i| {
        i.method == "gin" && i.valid && i.keys.iter().any(|k| k.column.as_deref() == Some(column))
    })
}

/// Whether an index (also one behind a constraint) leads with exactly `columns`, in any
/// order: PostgreSQL uses it for the foreign key's lookups.
fn fk_indexed(table: &RawTable, columns: &[String]) -> bool {
    table.indexes.iter().any(|i| {
        i.method == "btree"
            && i.valid
            && i.predicate.is_none()
            && i.keys.len() >= columns.len()
            && {
                let lead: Vec<&str> = i.keys[..columns.len()]
                    .iter()
                    .filter_map(|k| k.column.as_deref())
                    .collect();
                lead.len() == columns.len() && columns.iter().all(|c| lead.contains(&c.as_str()))
            }
    })
}

/// `(duplicate, kept)` pairs: indexes of the same definition (uniqueness aside); the one kept
/// is behind a constraint, else unique, else the first by name.
fn duplicate_indexes(table: &RawTable) -> Vec<(&RawIndex, &RawIndex)> {
    let mut groups: BTreeMap<String, Vec<&RawIndex>> = BTreeMap::new();
    for i in table.indexes.iter().filter(|i| i.valid) {
        groups
            .entry(i.shape.replacen("CREATE UNIQUE INDEX", "CREATE INDEX", 1))
            .or_default()
            .push(i);
    }
    let mut out = Vec::new();
    for (_, mut group) in groups {
        if group.len() < 2 {
            continue;
        }
        group.sort_by_key(|i| (i.constraint.is_none(), !i.unique, i.name.clone()));
        let kept = group[0];
        for dup in &group[1..] {
            // A non-unique index cannot stand in for a unique one.
            if dup.unique && !kept.unique {
                continue;
            }
            out.push((*dup, kept));
        }
    }
    out
}

/// Whether the query text applies `@>` to `column` of `table`.
fn queries_containment(query: &str, table: &str, column: &str) -> bool {
    let q = query.to_lowercase();
    if !q.contains(table) {
        return false;
    }
    let compact = q.replace('"', "");
    [
        format!(" {column} @>"),
        format!(".{column} @>"),
        format!("({column} @>"),
    ]
    .iter()
    .any(|p| compact.contains(p.as_str()))
}

fn shorten(q: &str) -> String {
    let one_line: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        format!("{}...", one_line.chars().take(80).collect::<String>())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_in_query_texts() {
        assert!(queries_containment(
            "SELECT * FROM products WHERE attributes @> $1",
            "products",
            "attributes"
        ));
        assert!(queries_containment(
            "select p.id from products p where p.\"attributes\" @> $1",
            "products",
            "attributes"
        ));
        assert!(!queries_containment(
            "SELECT * FROM products WHERE tags @> $1",
            "products",
            "attributes"
        ));
        assert!(!queries_containment(
            "SELECT * FROM users WHERE attributes @> $1",
            "products",
            "attributes"
        ));
    }

    #[test]
    fn column_words() {
        assert!(
            is_money_like("unit_price") && is_money_like("total") && !is_money_like("totals_count")
        );
        assert!(
            is_status_like("status") && is_status_like("order_state") && !is_status_like("stock")
        );
    }
}
