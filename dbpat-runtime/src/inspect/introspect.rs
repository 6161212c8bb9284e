//! Reads a live schema into a raw, structured description ([`RawSchema`]): the facts `pull`
//! and `lint` both work from, read once.
//!
//! Structured facts come from the catalog tables themselves (`pg_attribute`, `pg_constraint`'s
//! `conkey` / `confkey` / `confdeltype`, `pg_index`'s keys and options, `pg_partitioned_table`,
//! `pg_trigger`); expressions and definitions are printed by PostgreSQL (`format_type`,
//! `pg_get_expr`, `pg_get_indexdef`, `pg_get_constraintdef`, `pg_get_triggerdef`), with the
//! `search_path` set to the schema so they are unqualified, as [`crate::migrate::Catalog`]
//! prints them, and the time zone set to UTC (partition bounds). Every value is bound; the
//! reads run in one transaction that is rolled back. Partitions are described under their
//! parent, not as tables.

use super::InspectError;
use sqlx::{Connection, PgConnection, Row};
use std::collections::BTreeMap;

/// A schema as the catalog describes it.
#[derive(Debug, Clone, Default)]
pub struct RawSchema {
    /// The schema read (`public` by default).
    pub schema: String,
    /// Ordinary and partitioned tables, partitions excluded, by name.
    pub tables: Vec<RawTable>,
    /// Views, materialized views, foreign tables and sequences not owned by a column:
    /// `(name, kind)`.
    pub other_relations: Vec<(String, &'static str)>,
    /// Installed extensions (`plpgsql` excluded).
    pub extensions: Vec<String>,
    /// `(extension, function)` for every function an installed extension provides.
    pub extension_functions: Vec<(String, String)>,
    /// What `pg_stat_statements` offers for the `@>` check.
    pub statements: Statements,
}

/// The statements `pg_stat_statements` has recorded, if it can be read.
#[derive(Debug, Clone, Default)]
pub enum Statements {
    /// The extension is not installed in this database.
    #[default]
    NotInstalled,
    /// Installed but unreadable (e.g. not in `shared_preload_libraries`): the error.
    Unavailable(String),
    /// The recorded query texts.
    Available(Vec<String>),
}

/// One table (ordinary or partitioned).
#[derive(Debug, Clone, Default)]
pub struct RawTable {
    /// Table name.
    pub name: String,
    /// `true` for a partitioned table.
    pub partitioned: bool,
    /// `PARTITION BY ...` as PostgreSQL prints it (`RANGE (created_at)`).
    pub partition_key: Option<String>,
    /// Partition strategy (`r`, `l`, `h`) and key columns (empty for an expression key).
    pub partition_strategy: Option<char>,
    /// The partition key's columns.
    pub partition_columns: Vec<String>,
    /// Partitions: name and bound (`FOR VALUES FROM (...) TO (...)`, `DEFAULT`).
    pub partitions: Vec<(String, String)>,
    /// Columns in `attnum` order.
    pub columns: Vec<RawColumn>,
    /// Constraints (inherited copies on partitions left out).
    pub constraints: Vec<RawConstraint>,
    /// Indexes, those behind constraints included (see [`RawIndex::constraint`]).
    pub indexes: Vec<RawIndex>,
    /// User triggers.
    pub triggers: Vec<RawTrigger>,
    /// Whether the table inherits from another (old-style inheritance).
    pub inherits: bool,
}

impl RawTable {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&RawColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The primary key constraint, if any.
    pub fn primary_key(&self) -> Option<&RawConstraint> {
        self.constraints.iter().find(|c| c.kind == 'p')
    }
}

/// One column.
#[derive(Debug, Clone, Default)]
pub struct RawColumn {
    /// Column name.
    pub name: String,
    /// The type as `format_type` prints it (`timestamp with time zone`, `numeric(19,4)`).
    pub type_sql: String,
    /// The (element) type's name in `pg_type` (`int4`, `timestamptz`, `numeric`).
    pub base: String,
    /// The (element) type's `typtype`: `b` base, `e` enum, `d` domain, `c` composite, ...
    pub base_kind: char,
    /// A one-dimensional array of `base`.
    pub array: bool,
    /// `atttypmod` (-1 when none).
    pub typmod: i32,
    /// `NOT NULL`.
    pub not_null: bool,
    /// The default, as `pg_get_expr` prints it.
    pub default: Option<String>,
    /// `attidentity`: `a` (ALWAYS), `d` (BY DEFAULT) or none.
    pub identity: Option<char>,
    /// A generated (computed) column.
    pub generated: bool,
    /// A collation other than the type's default.
    pub custom_collation: bool,
}

impl RawColumn {
    /// NUMERIC precision and scale from the type modifier.
    pub fn numeric(&self) -> Option<(i32, i32)> {
        (self.base == "numeric" && self.typmod >= 4).then(|| {
            let m = self.typmod - 4;
            ((m >> 16) & 0xffff, m & 0xffff)
        })
    }

    /// Whether the default takes values from a sequence (`serial`, `bigserial`).
    pub fn is_serial(&self) -> bool {
        self.default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("))
    }
}

/// One constraint.
#[derive(Debug, Clone, Default)]
pub struct RawConstraint {
    /// Constraint name.
    pub name: String,
    /// `p` primary key, `u` unique, `c` check, `f` foreign key, `x` exclusion, `t` trigger.
    pub kind: char,
    /// The constrained columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table (foreign keys), unqualified when in the same schema.
    pub ref_table: Option<String>,
    /// Whether the referenced table is in the schema read.
    pub ref_same_schema: bool,
    /// The referenced columns, in key order.
    pub ref_columns: Vec<String>,
    /// `confdeltype`: `a` no action, `r` restrict, `c` cascade, `n` set null, `d` set default.
    pub on_delete: char,
    /// `confupdtype`, same letters.
    pub on_update: char,
    /// `confmatchtype`: `s` simple, `f` full, `p` partial.
    pub match_type: char,
    /// DEFERRABLE.
    pub deferrable: bool,
    /// Validated (not `NOT VALID`).
    pub validated: bool,
    /// The CHECK expression (`pg_get_expr(conbin)`), for checks.
    pub expr: Option<String>,
    /// `pg_get_constraintdef`.
    pub definition: String,
    /// `ON DELETE SET NULL (cols)` / `SET DEFAULT (cols)` column lists (PostgreSQL 15).
    pub on_delete_columns: bool,
}

/// One index.
#[derive(Debug, Clone, Default)]
pub struct RawIndex {
    /// Index name.
    pub name: String,
    /// UNIQUE.
    pub unique: bool,
    /// The constraint it implements (primary key, unique, exclusion), if any.
    pub constraint: Option<String>,
    /// Access method (`btree`, `gin`, `gist`, `hash`, `brin`, ...).
    pub method: String,
    /// Key columns or expressions, in order (INCLUDE columns excluded).
    pub keys: Vec<RawIndexKey>,
    /// Number of INCLUDE columns.
    pub include: usize,
    /// The predicate of a partial index.
    pub predicate: Option<String>,
    /// `indisvalid`.
    pub valid: bool,
    /// `NULLS NOT DISTINCT`.
    pub nulls_not_distinct: bool,
    /// `pg_get_indexdef` with the index name replaced by `?` (to compare definitions).
    pub shape: String,
    /// `pg_get_indexdef`.
    pub definition: String,
}

/// One key of an index.
#[derive(Debug, Clone, Default)]
pub struct RawIndexKey {
    /// The column, for a column key.
    pub column: Option<String>,
    /// The key as `pg_get_indexdef(index, n, false)` prints it (the expression, or the column).
    pub expr: String,
    /// DESC.
    pub desc: bool,
    /// NULLS FIRST / LAST other than the direction's default.
    pub nulls_non_default: bool,
    /// The operator class.
    pub opclass: String,
    /// Whether it is its type's default class for the method.
    pub opclass_default: bool,
    /// A collation other than the column's.
    pub custom_collation: bool,
}

/// One trigger.
#[derive(Debug, Clone, Default)]
pub struct RawTrigger {
    /// Trigger name.
    pub name: String,
    /// `pg_get_triggerdef`, the schema qualifier left out.
    pub definition: String,
    /// The function called.
    pub function: String,
    /// The function's body (`prosrc`).
    pub function_source: String,
    /// The function's `pg_get_functiondef`, the schema qualifier left out.
    pub function_definition: String,
    /// Number of arguments passed to the function.
    pub nargs: i16,
}

const TABLES: &str = "SELECT c.oid::int8, c.relname::text, c.relkind::text, \
        coalesce(pg_get_partkeydef(c.oid), ''), coalesce(pt.partstrat::text, ''), \
        coalesce(ARRAY(SELECT a.attname::text FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY k(n, o) \
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n ORDER BY k.o), '{}'), \
        EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) \
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
    LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid \
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
      AND c.relname <> '_sqlx_migrations' \
    ORDER BY c.relname";

const PARTITIONS: &str =
    "SELECT i.inhparent::int8, c.relname::text, pg_get_expr(c.relpartbound, c.oid) \
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE n.nspname = $1 AND c.relispartition ORDER BY c.relname";

const COLUMNS: &str =
    "SELECT a.attrelid::int8, a.attname::text, format_type(a.atttypid, a.atttypmod), \
        coalesce(et.typname, t.typname)::text, coalesce(et.typtype, t.typtype)::text, \
        (t.typcategory = 'A' AND et.oid IS NOT NULL), a.atttypmod, a.attnotnull, \
        pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text, \
        (a.attcollation <> 0 AND a.attcollation <> t.typcollation) \
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    JOIN pg_type t ON t.oid = a.atttypid \
    LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A' \
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
      AND a.attnum > 0 AND NOT a.attisdropped \
    ORDER BY a.attrelid, a.attnum";

const CONSTRAINTS: &str = "SELECT co.conrelid::int8, co.conname::text, co.contype::text, \
        ARRAY(SELECT a.attname::text FROM unnest(co.conkey) WITH ORDINALITY k(n, o) \
            JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.n ORDER BY k.o), \
        rc.relname::text, (rn.nspname = $1), \
        ARRAY(SELECT a.attname::text FROM unnest(co.confkey) WITH ORDINALITY k(n, o) \
            JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.n ORDER BY k.o), \
        co.confdeltype::text, co.confupdtype::text, co.confmatchtype::text, co.condeferrable, \
        co.convalidated, pg_get_expr(co.conbin, co.conrelid), pg_get_constraintdef(co.oid), \
        (co.confdelsetcols IS NOT NULL) \
    FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    LEFT JOIN pg_class rc ON rc.oid = co.confrelid \
    LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace \
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
      AND co.conparentid = 0 \
    ORDER BY co.conrelid, co.conname";

const INDEXES: &str = "SELECT i.indrelid::int8, ic.relname::text, i.indisunique, \
        (SELECT co.conname::text FROM pg_constraint co \
            WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x') \
            LIMIT 1), \
        am.amname::text, (i.indnatts - i.indnkeyatts)::int4, pg_get_expr(i.indpred, i.indrelid), \
        i.indisvalid, i.indnullsnotdistinct, pg_get_indexdef(i.indexrelid), i.indexrelid::int8 \
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
    JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
    JOIN pg_am am ON am.oid = ic.relam \
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
    ORDER BY i.indrelid, ic.relname";

const INDEX_KEYS: &str = "SELECT i.indexrelid::int8, k.o, a.attname::text, \
        pg_get_indexdef(i.indexrelid, k.o + 1, false), \
        (i.indoption[k.o] & 1) = 1, \
        CASE WHEN am.amname = 'btree' THEN ((i.indoption[k.o] & 1) = 1) <> ((i.indoption[k.o] & 2) = 2) ELSE false END, \
        opc.opcname::text, opc.opcdefault, \
        (i.indcollation[k.o] <> 0 AND a.attnum IS NOT NULL AND i.indcollation[k.o] <> a.attcollation) \
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
    JOIN pg_am am ON am.oid = ic.relam \
    JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
    CROSS JOIN LATERAL generate_series(0, i.indnkeyatts - 1) AS k(o) \
    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.o] AND i.indkey[k.o] <> 0 \
    LEFT JOIN pg_opclass opc ON opc.oid = i.indclass[k.o] \
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
    ORDER BY i.indexrelid, k.o";

const TRIGGERS: &str =
    "SELECT t.tgrelid::int8, t.tgname::text, pg_get_triggerdef(t.oid), p.proname::text, \
        p.prosrc, pg_get_functiondef(p.oid), t.tgnargs \
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid \
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
      AND NOT t.tgisinternal AND t.tgparentid = 0 \
    ORDER BY t.tgrelid, t.tgname";

const OTHER_RELATIONS: &str = "SELECT c.relname::text, c.relkind::text \
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE n.nspname = $1 AND (c.relkind IN ('v', 'm', 'f') OR (c.relkind = 'S' AND NOT EXISTS \
        (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
         AND d.deptype IN ('a', 'i')))) \
    ORDER BY c.relname";

const EXTENSION_FUNCTIONS: &str = "SELECT e.extname::text, p.proname::text \
    FROM pg_extension e JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass \
        AND d.refobjid = e.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e' \
    JOIN pg_proc p ON p.oid = d.objid \
    WHERE e.extname <> 'plpgsql' ORDER BY 1, 2";

/// Reads the schema `schema` of the database `conn` is connected to.
pub async fn read_schema(conn: &mut PgConnection, schema: &str) -> Result<RawSchema, InspectError> {
    let mut tx = conn.begin().await?;
    sqlx::query(
        "SELECT set_config('search_path', quote_ident($1) || ', public', true), \
         set_config('TimeZone', 'UTC', true)",
    )
    .bind(schema)
    .execute(&mut *tx)
    .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(&mut *tx)
            .await?;
    if !exists {
        return Err(InspectError::NoSchema(schema.to_owned()));
    }
    let qualifier = format!("{}.", crate::ddl::ident(schema));
    let unqualify = |s: String| {
        s.replacen(&format!(" ON {qualifier}"), " ON ", 1)
            .replacen(&format!(" ON ONLY {qualifier}"), " ON ONLY ", 1)
            .replacen(&format!("FUNCTION {qualifier}"), "FUNCTION ", 1)
    };

    let mut by_oid: BTreeMap<i64, RawTable> = BTreeMap::new();
    let mut order = Vec::new();
    for row in sqlx::query(TABLES).bind(schema).fetch_all(&mut *tx).await? {
        let oid: i64 = row.try_get(0)?;
        let key: String = row.try_get(3)?;
        let strat: String = row.try_get(4)?;
        order.push(oid);
        by_oid.insert(
            oid,
            RawTable {
                name: row.try_get(1)?,
                partitioned: row.try_get::<String, _>(2)? == "p",
                partition_key: (!key.is_empty()).then_some(key),
                partition_strategy: strat.chars().next(),
                partition_columns: row.try_get(5)?,
                inherits: row.try_get(6)?,
                ..RawTable::default()
            },
        );
    }
    for row in sqlx::query(PARTITIONS)
        .bind(schema)
        .fetch_all(&mut *tx)
        .await?
    {
        let parent: i64 = row.try_get(0)?;
        if let Some(t) = by_oid.get_mut(&parent) {
            t.partitions.push((row.try_get(1)?, row.try_get(2)?));
        }
    }
    for row in sqlx::query(COLUMNS)
        .bind(schema)
        .fetch_all(&mut *tx)
        .await?
    {
        let oid: i64 = row.try_get(0)?;
        let Some(t) = by_oid.get_mut(&oid) else {
            continue;
        };
        let identity: String = row.try_get(9)?;
        let generated: String = row.try_get(10)?;
        t.columns.push(RawColumn {
            name: row.try_get(1)?,
            type_sql: row.try_get(2)?,
            base: row.try_get(3)?,
            base_kind: row.try_get::<String, _>(4)?.chars().next().unwrap_or('b'),
            array: row.try_get(5)?,
            typmod: row.try_get(6)?,
            not_null: row.try_get(7)?,
            default: row.try_get(8)?,
            identity: identity.chars().next(),
            generated: !generated.is_empty(),
            custom_collation: row.try_get(11)?,
        });
    }
    for row in sqlx::query(CONSTRAINTS)
        .bind(schema)
        .fetch_all(&mut *tx)
        .await?
    {
        let oid: i64 = row.try_get(0)?;
        let Some(t) = by_oid.get_mut(&oid) else {
            continue;
        };
        let letter = |i: usize| -> Result<char, sqlx::Error> {
            Ok(row.try_get::<String, _>(i)?.chars().next().unwrap_or(' '))
        };
        t.constraints.push(RawConstraint {
            name: row.try_get(1)?,
            kind: letter(2)?,
            columns: row.try_get(3)?,
            ref_table: row.try_get(4)?,
            ref_same_schema: row.try_get::<Option<bool>, _>(5)?.unwrap_or(false),
            ref_columns: row.try_get(6)?,
            on_delete: letter(7)?,
            on_update: letter(8)?,
            match_type: letter(9)?,
            deferrable: row.try_get(10)?,
            validated: row.try_get(11)?,
            expr: row.try_get(12)?,
            definition: row.try_get(13)?,
            on_delete_columns: row.try_get(14)?,
        });
    }
    let mut index_owner: BTreeMap<i64, (i64, usize)> = BTreeMap::new();
    for row in sqlx::query(INDEXES)
        .bind(schema)
        .fetch_all(&mut *tx)
        .await?
    {
        let oid: i64 = row.try_get(0)?;
        let Some(t) = by_oid.get_mut(&oid) else {
            continue;
        };
        let name: String = row.try_get(1)?;
        let definition = unqualify(row.try_get(9)?);
        let shape = definition.replacen(
            &format!("INDEX {} ON", crate::ddl::ident(&name)),
            "INDEX ? ON",
            1,
        );
        let include: i32 = row.try_get(5)?;
        index_owner.insert(row.try_get(10)?, (oid, t.indexes.len()));
        t.indexes.push(RawIndex {
            name,
            unique: row.try_get(2)?,
            constraint: row.try_get(3)?,
            method: row.try_get(4)?,
            keys: Vec::new(),
            include: usize::try_from(include).unwrap_or(0),
            predicate: row.try_get(6)?,
            valid: row.try_get(7)?,
            nulls_not_distinct: row.try_get(8)?,
            shape,
            definition,
        });
    }
    for row in sqlx::query(INDEX_KEYS)
        .bind(schema)
        .fetch_all(&mut *tx)
        .await?
    {
        let index: i64 = row.try_get(0)?;
        let Some((table, i)) = index_owner.get(&index) else {
            continue;
        };
        let Some(t) = by_oid.get_mut(table) else {
            continue;
        };
        t.indexes[*i].keys.push(RawIndexKey {
            column: row.try_get(2)?,
            expr: row.try_get(3)?,
            desc: row.try_get(4)?,
            nulls_non_default: row.try_get(5)?,
            opclass: row.try_get::<Option<String>, _>(6)?.unwrap_or_default(),
            opclass_default: row.try_get::<Option<bool>, _>(7)?.unwrap_or(true),
            custom_collation: row.try_get::<Option<bool>, _>(8)?.unwrap_or(false),
        });
    }
    for row in sqlx::query(TRIGGERS)
        .bind(schema)
        .fetch_all(&mut *tx)
        .await?
    {
        let oid: i64 = row.try_get(0)?;
        let Some(t) = by_oid.get_mut(&oid) else {
            continue;
        };
        t.triggers.push(RawTrigger {
            name: row.try_get(1)?,
            definition: unqualify(row.try_get(2)?),
            function: row.try_get(3)?,
            function_source: row.try_get(4)?,
            function_definition: unqualify(row.try_get(5)?),
            nargs: row.try_get(6)?,
        });
    }
    let other_relations = sqlx::query(OTHER_RELATIONS)
        .bind(schema)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|row| {
            let kind = match row.try_get::<String, _>(1)?.as_str() {
                "v" => "view",
                "m" => "materialized view",
                "f" => "foreign table",
                _ => "sequence",
            };
            Ok((row.try_get(0)?, kind))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let extension_functions: Vec<(String, String)> = sqlx::query_as(EXTENSION_FUNCTIONS)
        .fetch_all(&mut *tx)
        .await?;
    let extensions: Vec<String> = sqlx::query_scalar(
        "SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
    )
    .fetch_all(&mut *tx)
    .await?;
    let statements = read_statements(&mut tx, &extensions).await?;
    tx.rollback().await?;
    let tables = order
        .into_iter()
        .filter_map(|oid| by_oid.remove(&oid))
        .collect();
    Ok(RawSchema {
        schema: schema.to_owned(),
        tables,
        other_relations,
        extensions,
        extension_functions,
        statements,
    })
}

/// The query texts of `pg_stat_statements` for this database, read inside a savepoint (the
/// view errors when the library is not preloaded).
async fn read_statements(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    extensions: &[String],
) -> Result<Statements, InspectError> {
    if !extensions.iter().any(|e| e == "pg_stat_statements") {
        return Ok(Statements::NotInstalled);
    }
    let mut sp = tx.begin().await?;
    let read: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(
        "SELECT s.query FROM pg_stat_statements s \
         JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() \
         AND s.query LIKE '%@>%'",
    )
    .fetch_all(&mut *sp)
    .await;
    sp.rollback().await?;
    Ok(match read {
        Ok(texts) => Statements::Available(texts),
        Err(sqlx::Error::Database(e)) => Statements::Unavailable(e.message().to_owned()),
        Err(e) => return Err(e.into()),
    })
}
