//! The SQL of one entity, rendered once from its [`TableDef`] and kept in a `static`.
//!
//! The derive puts a `OnceLock<TableSql>` inside each entity's [`Table::sql`](super::Table::sql),
//! so every statement text is built on first use and then shared for the life of the process
//! (sqlx then caches the prepared statement per connection under that same text).

use crate::ddl::{fulltext_document, ident, literal};
use crate::model::{BaseType, ColumnDef, ColumnRole, DefaultValue, IndexKind, SqlType, TableDef};

/// A full-text index of the table, with the exact document expression its DDL uses.
#[derive(Debug, Clone)]
pub struct FullTextSql {
    /// The index name.
    pub index: &'static str,
    /// The text search configuration (`english`).
    pub language: &'static str,
    /// `to_tsvector('english', name || ' ' || description)`: identical to the index's text.
    pub document: String,
    /// `<document> @@ websearch_to_tsquery('english', ` (the placeholder and `)` follow).
    pub predicate_head: String,
}

/// Every statement dbpat runs for one entity, with the column positions it binds.
#[derive(Debug)]
pub struct TableSql {
    /// The table model.
    pub table: &'static TableDef<'static>,
    /// The select list: every column in declaration order (`id, email, ...`).
    pub columns: String,
    /// `SELECT <columns> FROM <table>`.
    pub select: String,
    /// `INSERT INTO t (<insert columns>) VALUES ($1, ...) RETURNING <columns>`.
    pub insert: String,
    /// `INSERT INTO t (<every column>) VALUES ($1, ...) RETURNING <columns>`: the row exactly
    /// as given, server-owned columns included (backfills, restores).
    pub insert_exact: String,
    /// One-round-trip batch insert over `UNNEST` of one array per column.
    pub insert_many: String,
    /// `SELECT <columns> FROM t WHERE <key> = $1 ...`.
    pub find_by_key: String,
    /// `SELECT EXISTS (SELECT 1 FROM t WHERE <key>)`.
    pub exists_by_key: String,
    /// `SELECT count(*) FROM t`.
    pub count: String,
    /// Whole-row update; with a version column also `version = version + 1` and
    /// `AND version = $n`.
    pub update: String,
    /// For versioned entities: `update` wrapped so that one round trip tells a stale version
    /// (the current row comes back with `dbpat_applied = FALSE`) from a missing row (no row).
    pub update_checked: Option<String>,
    /// `insert_many` without `RETURNING` (the batch is written, only the count comes back).
    pub insert_many_count: String,
    /// `DELETE FROM t WHERE <key>`.
    pub delete: String,
    /// `SELECT <version> FROM t WHERE <key>` (versioned entities only).
    pub version_by_key: Option<String>,
    /// `(column index, SELECT ... WHERE col = $1)` for every single-column UNIQUE.
    pub find_by_unique: Vec<(usize, String)>,
    /// The table's full-text indexes, in model order.
    pub fulltext: Vec<FullTextSql>,
    /// The upserts of every unique key: the primary key first, then the UNIQUE constraints
    /// in model order.
    pub upserts: Vec<UpsertSql>,
    /// Positions of the primary-key columns.
    pub key_columns: Vec<usize>,
    /// Positions of the columns `insert` binds (all but the server-owned ones).
    pub insert_columns: Vec<usize>,
    /// Positions of the columns `update` sets (all but key, timestamps and version).
    pub update_columns: Vec<usize>,
    /// Position of the version column.
    pub version_column: Option<usize>,
    /// `WHERE`-less key predicate with placeholders `$1..$k`.
    key_predicate: String,
}

/// Whether the server fills the column on insert, so `insert` leaves it out: a primary key with
/// a generated default (`gen_random_uuid()`, identity), the `created_at`/`updated_at`
/// timestamps and the version.
pub fn server_owned(column: &ColumnDef) -> bool {
    let generated_key = column.primary_key
        && (column.generated.is_some() || matches!(column.default, Some(DefaultValue::Expr(_))));
    generated_key || column.role != ColumnRole::Plain
}

/// The type to cast an `UNNEST` array parameter to (`UUID[]`, `NUMERIC(19,4)[]`, ...), from the
/// element type of the column.
pub fn array_cast(sql_type: SqlType) -> String {
    format!("{}[]", sql_type.base)
}

/// Wraps an `UPDATE ... RETURNING <columns>` so the statement also returns the unchanged
/// current row, flagged `dbpat_applied = FALSE`, when the update matched nothing but the key
/// exists (a stale version). The second branch reads the statement's snapshot, so it never
/// sees the concurrent change that made the version stale, only whether the row exists.
pub fn checked_update(table: &str, update: &str, columns: &str, key_predicate: &str) -> String {
    format!(
        "WITH u AS ({update}) SELECT {columns}, TRUE AS dbpat_applied FROM u \
         UNION ALL SELECT {columns}, FALSE FROM {table} WHERE {key_predicate} \
         AND NOT EXISTS (SELECT 1 FROM u)"
    )
}

/// `INSERT INTO t (<columns>) SELECT ... FROM UNNEST($1::T[], ...) AS u(...)`, without
/// `RETURNING`: one array parameter per scalar column, in the order of `columns`.
///
/// An array column is passed flattened plus the lower and upper bound of each row's slice
/// (PostgreSQL arrays of arrays must be rectangular, so ragged `Vec<Vec<T>>` cannot be one
/// 2-D parameter).
pub(crate) fn unnest_insert(table: &TableDef, columns: &[usize]) -> String {
    let cols = &table.columns;
    let mut unnest_args = Vec::new();
    let mut unnest_names = Vec::new();
    let mut select_exprs = Vec::new();
    let mut param = 0usize;
    for (n, &i) in columns.iter().enumerate() {
        let c = &cols[i];
        if c.sql_type.array {
            let elems = param + 1;
            let (lo, hi) = (param + 2, param + 3);
            param += 3;
            unnest_args.push(format!("${lo}::INT4[]"));
            unnest_args.push(format!("${hi}::INT4[]"));
            unnest_names.push(format!("l{n}"));
            unnest_names.push(format!("h{n}"));
            select_exprs.push(format!(
                "(${elems}::{})[u.l{n}:u.h{n}]",
                array_cast(c.sql_type)
            ));
        } else {
            param += 1;
            unnest_args.push(format!("${param}::{}", array_cast(c.sql_type)));
            unnest_names.push(format!("c{n}"));
            select_exprs.push(format!("u.c{n}"));
        }
    }
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM UNNEST({}) AS u({})",
        ident(table.name),
        column_names(table, columns),
        select_exprs.join(", "),
        unnest_args.join(", "),
        unnest_names.join(", ")
    )
}

/// `a, b, c`: the quoted names of the columns at these positions.
fn column_names(table: &TableDef, columns: &[usize]) -> String {
    columns
        .iter()
        .map(|&i| ident(table.columns[i].name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The upsert statements of one unique key of an entity (its primary key, a `unique` field or
/// a `unique(a, b)` constraint): `INSERT ... ON CONFLICT (<key>)`, for one row and for a batch,
/// each followed by `DO NOTHING` or `DO UPDATE SET ...`, then `RETURNING <columns>`.
#[derive(Debug)]
pub struct UpsertSql {
    /// The constraint's name (`users_pkey`, `users_email_key`).
    pub constraint: String,
    /// The key's columns, as in the model.
    pub target: &'static [&'static str],
    /// Positions of the columns the insert writes: the ones `insert` writes, plus the key
    /// columns when the target is the primary key (a conflict on a generated key needs the key).
    pub insert_columns: Vec<usize>,
    /// `INSERT INTO t (...) VALUES ($1, ...) ON CONFLICT (<key>)`
    pub one_head: String,
    /// `INSERT INTO t (...) SELECT ... FROM UNNEST(...) AS u(...) ON CONFLICT (<key>)`
    pub many_head: String,
    /// ` DO UPDATE SET a = EXCLUDED.a, ..., version = t.version + 1 RETURNING <columns>` over
    /// every column `update` writes except the key's.
    pub update_all: String,
    /// ` DO NOTHING RETURNING <columns>`
    pub nothing: String,
    /// The whole statements of the fixed actions, `[one row, batch] x [DO NOTHING, DO UPDATE
    /// of every column]`, so those upserts build no text at all.
    pub full: [[String; 2]; 2],
    /// `version = t.version + 1` for a versioned entity.
    pub version_bump: Option<String>,
    /// The assignment used when there is nothing else to set, so the statement still returns
    /// the row: `<first key column> = EXCLUDED.<first key column>`.
    pub noop_set: String,
}

impl UpsertSql {
    fn render(sql: &TableSql, constraint: String, target: &'static [&'static str]) -> Option<Self> {
        let table = sql.table;
        let (plain_insert, key_columns, update_columns) =
            (&sql.insert_columns, &sql.key_columns, &sql.update_columns);
        let (version_column, columns) = (sql.version_column, sql.columns.as_str());
        let cols = &table.columns;
        let target_idx: Vec<usize> = target
            .iter()
            .map(|t| cols.iter().position(|c| c.name == *t))
            .collect::<Option<_>>()?;
        let mut insert_columns = plain_insert.to_vec();
        if target == table.primary_key {
            for &k in key_columns.iter() {
                if !insert_columns.contains(&k) {
                    insert_columns.push(k);
                }
            }
            insert_columns.sort_unstable();
        }
        let t = ident(table.name);
        let on = format!(" ON CONFLICT ({})", column_names(table, &target_idx));
        let one_head = format!(
            "INSERT INTO {t} ({}) VALUES ({}){on}",
            column_names(table, &insert_columns),
            (1..=insert_columns.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let many_head = format!("{}{on}", unnest_insert(table, &insert_columns));
        let version_bump = version_column.map(|v| {
            let v = ident(cols[v].name);
            format!("{v} = {t}.{v} + 1")
        });
        let noop_set = {
            let c = ident(cols[target_idx[0]].name);
            format!("{c} = EXCLUDED.{c}")
        };
        let sets: Vec<usize> = update_columns
            .iter()
            .copied()
            .filter(|i| !target_idx.contains(i))
            .collect();
        let update_all =
            Self::update_set(table, &sets, version_bump.as_deref(), &noop_set, columns);
        let full = [
            [
                format!("{one_head} DO NOTHING RETURNING {columns}"),
                format!("{one_head}{update_all}"),
            ],
            [
                format!("{many_head} DO NOTHING RETURNING {columns}"),
                format!("{many_head}{update_all}"),
            ],
        ];
        Some(UpsertSql {
            constraint,
            target,
            insert_columns,
            one_head,
            many_head,
            full,
            update_all,
            nothing: format!(" DO NOTHING RETURNING {columns}"),
            version_bump,
            noop_set,
        })
    }

    /// ` DO UPDATE SET c = EXCLUDED.c, ...[, version bump] RETURNING <columns>`.
    fn update_set(
        table: &TableDef,
        sets: &[usize],
        version_bump: Option<&str>,
        noop_set: &str,
        columns: &str,
    ) -> String {
        let mut parts: Vec<String> = sets
            .iter()
            .map(|&i| {
                let c = ident(table.columns[i].name);
                format!("{c} = EXCLUDED.{c}")
            })
            .collect();
        parts.extend(version_bump.map(str::to_owned));
        if parts.is_empty() {
            parts.push(noop_set.to_owned());
        }
        format!(" DO UPDATE SET {} RETURNING {columns}", parts.join(", "))
    }

    /// ` DO UPDATE SET` of the chosen columns (positions; already checked), plus the version.
    pub(crate) fn update_chosen(&self, table: &TableDef, sets: &[usize], columns: &str) -> String {
        Self::update_set(
            table,
            sets,
            self.version_bump.as_deref(),
            &self.noop_set,
            columns,
        )
    }
}

fn key_predicate(table: &TableDef, key: &[usize], first: usize) -> String {
    key.iter()
        .enumerate()
        .map(|(i, &c)| format!("{} = ${}", ident(table.columns[c].name), first + i))
        .collect::<Vec<_>>()
        .join(" AND ")
}

impl TableSql {
    /// Renders every statement of `table`.
    pub fn render(table: &'static TableDef) -> Self {
        let t = ident(table.name);
        let cols = &table.columns;
        let columns = cols
            .iter()
            .map(|c| ident(c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let select = format!("SELECT {columns} FROM {t}");
        let key_columns: Vec<usize> = table
            .primary_key
            .iter()
            .filter_map(|k| cols.iter().position(|c| c.name == *k))
            .collect();
        let insert_columns: Vec<usize> = (0..cols.len())
            .filter(|&i| !server_owned(&cols[i]))
            .collect();
        let update_columns: Vec<usize> = (0..cols.len())
            .filter(|&i| !cols[i].primary_key && cols[i].role == ColumnRole::Plain)
            .collect();
        let version_column = cols.iter().position(|c| c.role == ColumnRole::Version);
        let key_pred = key_predicate(table, &key_columns, 1);
        let k = key_columns.len();

        let names = |idx: &[usize]| {
            idx.iter()
                .map(|&i| ident(cols[i].name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let insert = format!(
            "INSERT INTO {t} ({}) VALUES ({}) RETURNING {columns}",
            names(&insert_columns),
            (1..=insert_columns.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );

        let all_columns: Vec<usize> = (0..cols.len()).collect();
        let insert_exact = format!(
            "INSERT INTO {t} ({}) VALUES ({}) RETURNING {columns}",
            names(&all_columns),
            (1..=cols.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );

        let insert_many = format!(
            "{} RETURNING {columns}",
            unnest_insert(table, &insert_columns)
        );

        let find_by_key = format!("{select} WHERE {key_pred}");
        let exists_by_key = format!("SELECT EXISTS (SELECT 1 FROM {t} WHERE {key_pred})");
        let count = format!("SELECT count(*) FROM {t}");
        let mut sets: Vec<String> = update_columns
            .iter()
            .enumerate()
            .map(|(n, &i)| format!("{} = ${}", ident(cols[i].name), k + 1 + n))
            .collect();
        let mut update_where = key_pred.clone();
        if let Some(v) = version_column {
            let v = ident(cols[v].name);
            sets.push(format!("{v} = {v} + 1"));
            update_where.push_str(&format!(" AND {v} = ${}", k + update_columns.len() + 1));
        }
        // A table with nothing to set (only key and server-owned columns): `update` reloads.
        let update = if sets.is_empty() {
            format!("{select} WHERE {key_pred}")
        } else {
            format!(
                "UPDATE {t} SET {} WHERE {update_where} RETURNING {columns}",
                sets.join(", ")
            )
        };
        let update_checked =
            version_column.map(|_| checked_update(&t, &update, &columns, &key_pred));
        let insert_many_count = insert_many
            .split(" RETURNING ")
            .next()
            .unwrap_or_default()
            .to_owned();
        let delete = format!("DELETE FROM {t} WHERE {key_pred}");
        let version_by_key = version_column
            .map(|v| format!("SELECT {} FROM {t} WHERE {key_pred}", ident(cols[v].name)));
        let mut unique_cols: Vec<usize> = table
            .uniques
            .iter()
            .filter(|u| u.columns.len() == 1)
            .filter_map(|u| cols.iter().position(|c| c.name == u.columns[0]))
            .collect();
        unique_cols.dedup();
        let find_by_unique = unique_cols
            .into_iter()
            .map(|i| (i, format!("{select} WHERE {} = $1", ident(cols[i].name))))
            .collect();
        let fulltext = table
            .indexes
            .iter()
            .filter_map(|index| match index.kind {
                IndexKind::FullText { language, columns } => {
                    let document = fulltext_document(table, language, columns);
                    let predicate_head =
                        format!("{document} @@ websearch_to_tsquery({}, ", literal(language));
                    Some(FullTextSql {
                        index: index.name,
                        language,
                        document,
                        predicate_head,
                    })
                }
                _ => None,
            })
            .collect();
        let mut sql = TableSql {
            upserts: Vec::new(),
            table,
            columns,
            select,
            insert,
            insert_exact,
            insert_many,
            find_by_key,
            exists_by_key,
            count,
            update,
            update_checked,
            insert_many_count,
            delete,
            version_by_key,
            find_by_unique,
            fulltext,
            key_columns,
            insert_columns,
            update_columns,
            version_column,
            key_predicate: key_pred,
        };
        sql.upserts = std::iter::once((format!("{}_pkey", table.name), table.primary_key))
            .chain(table.uniques.iter().map(|u| (u.name.to_owned(), u.columns)))
            .filter_map(|(name, target)| UpsertSql::render(&sql, name, target))
            .collect();
        sql
    }

    /// The upserts of the unique key with these columns, if the model has that key.
    pub fn upsert(&self, target: &[&str]) -> Option<&UpsertSql> {
        self.upserts.iter().find(|u| u.target == target)
    }

    /// The key predicate with placeholders starting at `$first`.
    pub fn key_predicate_from(&self, first: usize) -> String {
        if first == 1 {
            return self.key_predicate.clone();
        }
        key_predicate(self.table, &self.key_columns, first)
    }

    /// The `SELECT ... WHERE col = $1` of the single-column UNIQUE on column `index`.
    /// `None` if that column has none (the derive only calls it for columns that do).
    pub fn find_by_unique(&self, index: usize) -> Option<&str> {
        self.find_by_unique
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, sql)| sql.as_str())
    }

    /// Whether a column is an array (`T[]`) column.
    pub fn is_array(&self, index: usize) -> bool {
        self.table.columns[index].sql_type.array
    }

    /// Whether the column is JSONB.
    pub fn is_jsonb(&self, index: usize) -> bool {
        self.table.columns[index]
            .sql_type
            .is_scalar(BaseType::Jsonb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    const COLS: &[ColumnDef] = &[
        ColumnDef::new("id", "id", SqlType::scalar(BaseType::Uuid))
            .primary_key()
            .default(DefaultValue::Expr("gen_random_uuid()")),
        ColumnDef::new("name", "name", SqlType::scalar(BaseType::Text)),
        ColumnDef::new("tags", "tags", SqlType::array_of(BaseType::Text)),
        ColumnDef::new(
            "price",
            "price",
            SqlType::scalar(BaseType::Numeric {
                precision: 19,
                scale: 4,
            }),
        ),
        ColumnDef::new("version", "version", SqlType::scalar(BaseType::Integer))
            .role(ColumnRole::Version)
            .default(DefaultValue::Literal("1")),
        ColumnDef::new(
            "created_at",
            "created_at",
            SqlType::scalar(BaseType::TimestampTz),
        )
        .role(ColumnRole::CreatedAt),
    ];
    static ITEMS: TableDef = TableDef {
        uniques: &[UniqueDef {
            name: "items_name_key",
            columns: &["name"],
        }],
        ..TableDef::new("items", "Item", COLS, &["id"])
    };

    #[test]
    fn statements() {
        let s = TableSql::render(&ITEMS);
        assert_eq!(s.columns, "id, name, tags, price, version, created_at");
        assert_eq!(
            s.insert,
            "INSERT INTO items (name, tags, price) VALUES ($1, $2, $3) RETURNING id, name, tags, price, version, created_at"
        );
        assert_eq!(
            s.insert_many,
            "INSERT INTO items (name, tags, price) SELECT u.c0, ($2::TEXT[])[u.l1:u.h1], u.c2 \
             FROM UNNEST($1::TEXT[], $3::INT4[], $4::INT4[], $5::NUMERIC(19,4)[]) AS u(c0, l1, h1, c2) \
             RETURNING id, name, tags, price, version, created_at"
        );
        assert_eq!(
            s.update,
            "UPDATE items SET name = $2, tags = $3, price = $4, version = version + 1 \
             WHERE id = $1 AND version = $5 RETURNING id, name, tags, price, version, created_at"
        );
        assert_eq!(s.delete, "DELETE FROM items WHERE id = $1");
        assert_eq!(
            s.find_by_unique(1),
            Some("SELECT id, name, tags, price, version, created_at FROM items WHERE name = $1")
        );
        assert_eq!(
            s.version_by_key.as_deref(),
            Some("SELECT version FROM items WHERE id = $1")
        );
        assert_eq!(s.key_predicate_from(3), "id = $3");
    }

    #[test]
    fn upserts_of_every_unique_key() {
        let s = TableSql::render(&ITEMS);
        let names: Vec<&str> = s.upserts.iter().map(|u| u.constraint.as_str()).collect();
        assert_eq!(names, ["items_pkey", "items_name_key"]);
        let pk = s.upsert(&["id"]).unwrap();
        assert_eq!(
            pk.one_head,
            "INSERT INTO items (id, name, tags, price) VALUES ($1, $2, $3, $4) ON CONFLICT (id)",
            "the generated key is written when it is the target"
        );
        assert_eq!(
            pk.update_all,
            " DO UPDATE SET name = EXCLUDED.name, tags = EXCLUDED.tags, price = EXCLUDED.price, \
             version = items.version + 1 RETURNING id, name, tags, price, version, created_at"
        );
        let by_name = s.upsert(&["name"]).unwrap();
        assert_eq!(
            by_name.many_head,
            "INSERT INTO items (name, tags, price) SELECT u.c0, ($2::TEXT[])[u.l1:u.h1], u.c2 \
             FROM UNNEST($1::TEXT[], $3::INT4[], $4::INT4[], $5::NUMERIC(19,4)[]) AS u(c0, l1, h1, c2) \
             ON CONFLICT (name)"
        );
        assert_eq!(
            by_name.update_chosen(&ITEMS, &[3], &s.columns),
            " DO UPDATE SET price = EXCLUDED.price, version = items.version + 1 \
             RETURNING id, name, tags, price, version, created_at"
        );
        assert_eq!(
            by_name.nothing,
            " DO NOTHING RETURNING id, name, tags, price, version, created_at"
        );
        assert_eq!(pk.full[0][1], format!("{}{}", pk.one_head, pk.update_all));
        assert_eq!(
            by_name.full[1][0],
            format!("{}{}", by_name.many_head, by_name.nothing)
        );
        assert!(s.upsert(&["price"]).is_none());
    }
}
