//! `emit-sql pull`: Rust models for the tables of a live schema.
//!
//! A table is written only when its `#[derive(Entity)]` model creates exactly what the database
//! has — every column, default, constraint (by name), index (by name and definition), the
//! `updated_at` trigger and the partitioning — so `emit-sql check --database` on the pulled
//! models is clean from the first run. Anything else is listed as [`Unrepresented`]: the table
//! (and column), why, and the SQL or model change that makes it representable; the table is
//! then left out (and so is a table whose foreign key points at a table left out), and the
//! rest is still written.

use super::introspect::{RawColumn, RawConstraint, RawIndex, RawSchema, RawTable};
use crate::ddl::ident;
use heck::ToUpperCamelCase;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The result of `pull`: the Rust source and what it could not represent.
#[derive(Debug, Clone)]
pub struct PulledSchema {
    /// The generated Rust source (one module: enums and entities).
    pub source: String,
    /// The entities written, in source order.
    pub entities: Vec<PulledEntity>,
    /// What was left out, and why.
    pub unrepresented: Vec<Unrepresented>,
}

/// One entity written by `pull`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledEntity {
    /// The table.
    pub table: String,
    /// The Rust struct's name.
    pub entity: String,
}

/// Something of the database no model can say; its table is left out of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrepresented {
    /// The table (or view, sequence, ...).
    pub table: String,
    /// The column, when it is about one.
    pub column: Option<String>,
    /// Why it cannot be represented.
    pub why: String,
    /// What to do.
    pub fix: String,
}

impl fmt::Display for Unrepresented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "{}.{c}: {}; fix: {}", self.table, self.why, self.fix),
            None => write!(f, "{}: {}; fix: {}", self.table, self.why, self.fix),
        }
    }
}

/// The tables of `raw` as Rust models, and the list of what cannot be represented.
pub fn pull(raw: &RawSchema) -> PulledSchema {
    let mut problems: Vec<Unrepresented> = Vec::new();
    for (name, kind) in &raw.other_relations {
        problems.push(Unrepresented {
            table: name.clone(),
            column: None,
            why: format!("a {kind} is not a table; dbpat models tables only"),
            fix: format!("keep creating the {kind} in a hand-written migration"),
        });
    }
    let archives = archive_tables(raw);
    let mut plans: BTreeMap<String, Result<TablePlan, Vec<Unrepresented>>> = BTreeMap::new();
    for table in raw
        .tables
        .iter()
        .filter(|t| !archives.contains_key(&t.name))
    {
        let archived = archives.values().any(|parent| *parent == table.name);
        plans.insert(table.name.clone(), plan_table(raw, table, archived));
    }
    for (archive, parent) in &archives {
        if let Some(Err(_)) = plans.get(parent) {
            problems.push(Unrepresented {
                table: archive.clone(),
                column: None,
                why: format!("the archive table of `{parent}`, which is left out"),
                fix: format!("make `{parent}` representable"),
            });
        }
    }
    // A table referencing a table left out is left out too, until nothing changes.
    loop {
        let skipped: BTreeSet<String> = plans
            .iter()
            .filter(|(_, p)| p.is_err())
            .map(|(n, _)| n.clone())
            .collect();
        let mut changed = false;
        for (name, plan) in plans.iter_mut() {
            let Ok(p) = plan else { continue };
            let bad: Vec<(String, String)> = p
                .fields
                .iter()
                .filter_map(|f| {
                    f.references
                        .as_ref()
                        .map(|r| (f.column.clone(), r.table.clone()))
                })
                .filter(|(_, t)| skipped.contains(t))
                .collect();
            if !bad.is_empty() {
                *plan = Err(bad
                    .into_iter()
                    .map(|(column, target)| Unrepresented {
                        table: name.clone(),
                        column: Some(column),
                        why: format!("references `{target}`, which is left out"),
                        fix: format!("make `{target}` representable first"),
                    })
                    .collect());
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut written: Vec<TablePlan> = Vec::new();
    for (_, plan) in plans {
        match plan {
            Ok(p) => written.push(p),
            Err(mut list) => problems.append(&mut list),
        }
    }
    name_entities(&mut written);
    let entity_of: BTreeMap<String, String> = written
        .iter()
        .map(|p| (p.table.clone(), p.entity.clone()))
        .collect();
    let source = render_source(raw, &written, &entity_of, &problems);
    PulledSchema {
        source: format_source(source),
        entities: written
            .iter()
            .map(|p| PulledEntity {
                table: p.table.clone(),
                entity: p.entity.clone(),
            })
            .collect(),
        unrepresented: problems,
    }
}

/// `<t>_archive` tables that are exactly `CREATE TABLE <t>_archive (LIKE <t> INCLUDING ALL)`
/// (what the model's `archive` creates; for a partitioned `<t>`, `... PARTITION BY` the same
/// key): the same columns with their defaults, the same primary key, UNIQUE and CHECK
/// constraints and indexes (names aside), no foreign key, no trigger. Any other `<t>_archive`
/// (an unpartitioned archive of a partitioned table among them, as the DDL created before
/// archives were partitioned) is pulled as a table of its own.
fn archive_tables(raw: &RawSchema) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in &raw.tables {
        let Some(parent) = t.name.strip_suffix("_archive") else {
            continue;
        };
        let Some(p) = raw.tables.iter().find(|p| p.name == parent) else {
            continue;
        };
        let same_partitioning = t.partitioned == p.partitioned
            && t.partition_key == p.partition_key
            && t.partition_strategy == p.partition_strategy;
        if same_partitioning && is_like_including_all(t, p) {
            out.insert(t.name.clone(), parent.to_owned());
        }
    }
    out
}

fn is_like_including_all(archive: &RawTable, parent: &RawTable) -> bool {
    type Column = (String, String, bool, Option<String>, Option<char>);
    let columns = |t: &RawTable| -> Vec<Column> {
        t.columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.type_sql.clone(),
                    c.not_null,
                    c.default.clone(),
                    c.identity,
                )
            })
            .collect()
    };
    let constraints = |t: &RawTable| -> Vec<String> {
        let mut v: Vec<String> = t
            .constraints
            .iter()
            .filter(|c| matches!(c.kind, 'p' | 'u' | 'c'))
            .map(|c| format!("{} {}", c.kind, c.definition))
            .collect();
        v.sort();
        v
    };
    let (a, p) = (ident(&archive.name), ident(&parent.name));
    let indexes = |t: &RawTable| -> Vec<String> {
        let mut v: Vec<String> = t
            .indexes
            .iter()
            .map(|i| {
                i.shape
                    .replacen(&format!(" ON ONLY {p} "), &format!(" ON {p} "), 1)
                    .replacen(&format!(" ON ONLY {a} "), &format!(" ON {p} "), 1)
                    .replacen(&format!(" ON {a} "), &format!(" ON {p} "), 1)
            })
            .collect();
        v.sort();
        v
    };
    columns(archive) == columns(parent)
        && constraints(archive) == constraints(parent)
        && indexes(archive) == indexes(parent)
        && archive.triggers.is_empty()
        && !archive.constraints.iter().any(|c| c.kind == 'f')
}

#[derive(Debug, Clone)]
struct TablePlan {
    table: String,
    entity: String,
    struct_attrs: Vec<String>,
    fields: Vec<FieldPlan>,
    enums: Vec<EnumPlan>,
}

#[derive(Debug, Clone)]
struct FieldPlan {
    field: String,
    column: String,
    ty: String,
    /// Attributes other than `references(...)`.
    attrs: Vec<String>,
    references: Option<Reference>,
}

#[derive(Debug, Clone)]
struct Reference {
    table: String,
    on_delete: &'static str,
    no_index: bool,
}

#[derive(Debug, Clone)]
struct EnumPlan {
    /// The column it types (the enum's name is derived from the entity's).
    column: String,
    values: Vec<String>,
    name: String,
}

struct Ctx<'r> {
    raw: &'r RawSchema,
    table: &'r RawTable,
    problems: Vec<Unrepresented>,
    extensions: BTreeSet<String>,
}

impl Ctx<'_> {
    fn problem(&mut self, column: Option<&str>, why: impl Into<String>, fix: impl Into<String>) {
        self.problems.push(Unrepresented {
            table: self.table.name.clone(),
            column: column.map(str::to_owned),
            why: why.into(),
            fix: fix.into(),
        });
    }

    /// Notes the extensions whose functions `sql` calls.
    fn uses(&mut self, sql: &str) {
        for (ext, func) in &self.raw.extension_functions {
            if sql.contains(&format!("{func}(")) {
                self.extensions.insert(ext.clone());
            }
        }
    }

    fn field_of(&self, column: &str) -> String {
        field_name(column)
    }
}

fn plan_table(
    raw: &RawSchema,
    table: &RawTable,
    archived: bool,
) -> Result<TablePlan, Vec<Unrepresented>> {
    let mut cx = Ctx {
        raw,
        table,
        problems: Vec::new(),
        extensions: BTreeSet::new(),
    };
    let t = table.name.as_str();
    if !is_plain_identifier(t) {
        cx.problem(
            None,
            "the name is not a plain lower-case identifier (the derive's table names are)",
            format!("ALTER TABLE {} RENAME TO <lower_case_name>", ident(t)),
        );
        return Err(cx.problems);
    }
    if table.inherits {
        cx.problem(
            None,
            "inherits from another table (INHERITS)",
            "replace inheritance with a foreign key or declarative partitioning",
        );
    }
    let mut struct_attrs = vec![format!("table = {t:?}")];
    if archived {
        struct_attrs.push("archive".to_owned());
    }

    // Primary key.
    let pk: Vec<String> = match table.primary_key() {
        None => {
            cx.problem(
                None,
                "has no primary key (every entity has one)",
                format!(
                    "ALTER TABLE {} ADD COLUMN id UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY (or a BIGINT identity)",
                    ident(t)
                ),
            );
            Vec::new()
        }
        Some(c) => {
            if c.name != format!("{t}_pkey") {
                cx.problem(
                    None,
                    format!(
                        "the primary key is named `{}`; the model names it `{t}_pkey`",
                        c.name
                    ),
                    format!(
                        "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                        ident(t),
                        ident(&c.name),
                        ident(&format!("{t}_pkey"))
                    ),
                );
            }
            if c.deferrable {
                cx.problem(None, "the primary key is DEFERRABLE", "drop DEFERRABLE");
            }
            c.columns.clone()
        }
    };

    // Enum CHECKs (`<t>_<c>_check` of the `IN (...)` form on a TEXT column).
    let mut enum_values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut consumed: BTreeSet<String> = BTreeSet::new();
    for c in table.constraints.iter().filter(|c| c.kind == 'c') {
        let Some(expr) = &c.expr else { continue };
        let Some((column, values)) = parse_enum_check(expr) else {
            continue;
        };
        let Some(col) = table.column(&column) else {
            continue;
        };
        if col.base == "text"
            && !col.array
            && c.name == format!("{t}_{column}_check")
            && c.validated
        {
            enum_values.insert(column, values);
            consumed.insert(c.name.clone());
        }
    }

    // updated_at trigger.
    let mut updated_at: Option<String> = None;
    for trig in &table.triggers {
        match updated_at_trigger(table, trig) {
            Some(col) if updated_at.is_none() => updated_at = Some(col),
            _ => cx.problem(
                None,
                format!(
                    "trigger `{}` is not dbpat's `updated_at` trigger ({})",
                    trig.name, trig.definition
                ),
                "keep it in a hand-written migration and drop it here, or make it `CREATE TRIGGER <table>_<column> BEFORE UPDATE ... FOR EACH ROW EXECUTE FUNCTION update_<column>()` with dbpat's function",
            ),
        }
    }

    // Columns.
    let mut fields: Vec<FieldPlan> = Vec::new();
    let mut enums: Vec<EnumPlan> = Vec::new();
    let mut created_at_taken = false;
    let mut version_taken = false;
    for col in &table.columns {
        let is_pk = pk.contains(&col.name);
        let Some(mut field) = plan_column(&mut cx, col, is_pk) else {
            continue;
        };
        if let Some(values) = enum_values.get(&col.name) {
            let name = format!("{}Enum", col.name.to_upper_camel_case());
            enums.push(EnumPlan {
                column: col.name.clone(),
                values: values.clone(),
                name: name.clone(),
            });
            field.ty = wrap_option(col, &format!("{{enum:{}}}", col.name));
        }
        // Roles and defaults.
        let default = col.default.as_deref();
        let timestamptz_now =
            col.base == "timestamptz" && !col.array && col.not_null && default == Some("now()");
        if updated_at.as_deref() == Some(col.name.as_str()) {
            if timestamptz_now {
                field.attrs.push("updated_at".to_owned());
            } else {
                cx.problem(
                    Some(&col.name),
                    "has the updated_at trigger but is not TIMESTAMPTZ NOT NULL DEFAULT now()",
                    format!(
                        "ALTER TABLE {} ALTER COLUMN {c} TYPE TIMESTAMPTZ, ALTER COLUMN {c} SET NOT NULL, ALTER COLUMN {c} SET DEFAULT now()",
                        ident(t),
                        c = ident(&col.name)
                    ),
                );
            }
        } else if col.name == "created_at" && timestamptz_now && !created_at_taken {
            created_at_taken = true;
            field.attrs.push("created_at".to_owned());
        } else if col.name == "version"
            && !version_taken
            && !is_pk
            && col.not_null
            && !col.array
            && matches!(col.base.as_str(), "int4" | "int8")
            && default == Some("1")
        {
            version_taken = true;
            field.attrs.push("version".to_owned());
        } else if is_pk {
            plan_key_default(&mut cx, col, &mut field);
        } else if let Some(d) = default {
            cx.uses(d);
            let attr = default_attr(col, d, enum_values.get(&col.name));
            field.attrs.push(attr);
        }
        fields.push(field);
    }

    // Primary-key fields in key order (the model's composite key is in field order).
    let slots: Vec<usize> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| pk.contains(&f.column))
        .map(|(i, _)| i)
        .collect();
    if slots.len() == pk.len() {
        let mut keyed: Vec<FieldPlan> = pk
            .iter()
            .filter_map(|c| fields.iter().find(|f| &f.column == c).cloned())
            .collect();
        for (slot, f) in slots.iter().zip(keyed.drain(..)) {
            fields[*slot] = f;
        }
        for slot in &slots {
            fields[*slot].attrs.insert(0, "primary_key".to_owned());
        }
    }

    // Unique constraints.
    for c in table.constraints.iter().filter(|c| c.kind == 'u') {
        if c.deferrable {
            cx.problem(
                None,
                format!("unique constraint `{}` is DEFERRABLE", c.name),
                "drop DEFERRABLE",
            );
        }
        if let Some(index) = table
            .indexes
            .iter()
            .find(|i| i.constraint.as_deref() == Some(c.name.as_str()))
        {
            if index.nulls_not_distinct {
                cx.problem(
                    None,
                    format!("unique constraint `{}` is NULLS NOT DISTINCT", c.name),
                    "drop NULLS NOT DISTINCT, or keep it in a hand-written migration",
                );
            }
        }
        let default_name = truncate_ident(format!("{t}_{}_key", c.columns.join("_")));
        if c.columns.len() == 1 {
            if c.name != default_name {
                cx.problem(
                    Some(&c.columns[0]),
                    format!("unique constraint `{}`: a one-column UNIQUE is named `{default_name}` by the model", c.name),
                    format!("ALTER TABLE {} RENAME CONSTRAINT {} TO {}", ident(t), ident(&c.name), ident(&default_name)),
                );
            } else if let Some(f) = fields.iter_mut().find(|f| f.column == c.columns[0]) {
                if !f.attrs.iter().any(|a| a == "unique") {
                    f.attrs.push("unique".to_owned());
                }
            }
        } else {
            let cols: Vec<String> = c.columns.iter().map(|col| cx.field_of(col)).collect();
            let mut attr = format!("unique({}", cols.join(", "));
            if c.name != default_name {
                attr.push_str(&format!(", name = {:?}", c.name));
            }
            attr.push(')');
            struct_attrs.push(attr);
        }
    }

    // CHECK constraints.
    let mut field_checks: BTreeMap<String, usize> = BTreeMap::new();
    for c in table
        .constraints
        .iter()
        .filter(|c| c.kind == 'c' && !consumed.contains(&c.name))
    {
        let expr = c.expr.clone().unwrap_or_default();
        if !c.validated {
            cx.problem(
                None,
                format!("CHECK `{}` is NOT VALID", c.name),
                format!(
                    "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                    ident(t),
                    ident(&c.name)
                ),
            );
            continue;
        }
        cx.uses(&expr);
        let body = strip_parens(&expr).to_owned();
        if c.columns.len() == 1 {
            let column = &c.columns[0];
            let first = usize::from(enum_values.contains_key(column));
            let n = field_checks.get(column).copied().unwrap_or(first);
            let suffix = if n == 0 { String::new() } else { n.to_string() };
            if c.name == truncate_ident(format!("{t}_{column}_check{suffix}")) {
                if let Some(f) = fields.iter_mut().find(|f| &f.column == column) {
                    f.attrs.push(format!("check = {body:?}"));
                    field_checks.insert(column.clone(), n + 1);
                    continue;
                }
            }
        }
        struct_attrs.push(format!("check(name = {:?}, expr = {body:?})", c.name));
    }

    // Foreign keys.
    for c in table.constraints.iter().filter(|c| c.kind == 'f') {
        plan_foreign_key(&mut cx, c, &mut fields, &pk);
    }
    for c in table
        .constraints
        .iter()
        .filter(|c| matches!(c.kind, 'x' | 't'))
    {
        let what = if c.kind == 'x' {
            "exclusion constraint"
        } else {
            "constraint trigger"
        };
        cx.problem(
            None,
            format!("{what} `{}` ({}) has no model", c.name, c.definition),
            "keep it in a hand-written migration and drop it here",
        );
    }

    // Indexes.
    let mut index_attrs = Vec::new();
    for index in table.indexes.iter().filter(|i| i.constraint.is_none()) {
        if let Some(attr) = plan_index(&mut cx, index, &pk) {
            index_attrs.push(attr);
        }
    }

    // Foreign keys the model would index: `no_index` where no index of the model covers them.
    let uniques: Vec<Vec<String>> = table
        .constraints
        .iter()
        .filter(|c| c.kind == 'u')
        .map(|c| c.columns.clone())
        .collect();
    for f in fields.iter_mut() {
        let Some(r) = &mut f.references else { continue };
        let covered = pk.first() == Some(&f.column)
            || uniques.iter().any(|u| u.first() == Some(&f.column))
            || table.indexes.iter().any(|i| {
                i.constraint.is_none()
                    && i.method == "btree"
                    && i.predicate.is_none()
                    && i.keys.first().and_then(|k| k.column.as_ref()) == Some(&f.column)
            });
        r.no_index = !covered;
    }

    // Partitioning.
    if table.partitioned {
        if let Some(attr) = plan_partition(&mut cx, &pk) {
            struct_attrs.push(attr);
        }
    }
    struct_attrs.extend(index_attrs);
    for ext in &cx.extensions {
        struct_attrs.push(format!("extension = {ext:?}"));
    }

    if !cx.problems.is_empty() {
        return Err(cx.problems);
    }
    Ok(TablePlan {
        table: t.to_owned(),
        entity: String::new(),
        struct_attrs,
        fields,
        enums,
    })
}

fn wrap_option(col: &RawColumn, ty: &str) -> String {
    if col.not_null {
        ty.to_owned()
    } else {
        format!("Option<{ty}>")
    }
}

/// The field of a column, or `None` (with the problem noted) when its type has no model.
fn plan_column(cx: &mut Ctx, col: &RawColumn, is_pk: bool) -> Option<FieldPlan> {
    let t = cx.table.name.clone();
    let c = col.name.as_str();
    let alter = |ty: &str, using: &str| {
        format!(
            "ALTER TABLE {} ALTER COLUMN {} TYPE {ty}{using}",
            ident(&t),
            ident(c)
        )
    };
    if !is_plain_identifier(c) {
        cx.problem(
            Some(c),
            "the name is not a plain lower-case identifier (the derive's column names are)",
            format!(
                "ALTER TABLE {} RENAME COLUMN {} TO <lower_case_name>",
                ident(&t),
                ident(c)
            ),
        );
        return None;
    }
    if col.generated {
        cx.problem(
            Some(c),
            "a generated (computed) column has no model",
            "compute it in a view or in the application, or keep it in a hand-written migration",
        );
        return None;
    }
    if col.custom_collation {
        cx.problem(
            Some(c),
            "has a non-default collation",
            format!(
                "{} (the default collation)",
                alter(&col.base.to_uppercase(), "")
            ),
        );
        return None;
    }
    if col.is_serial() {
        let (why, fix) = if matches!(col.base.as_str(), "int2" | "int4") {
            (
                "SERIAL: a 32-bit key from a sequence runs out (the derive refuses INT keys)".to_owned(),
                format!(
                    "ALTER TABLE {tt} ALTER COLUMN {cc} TYPE BIGINT, ALTER COLUMN {cc} DROP DEFAULT; DROP SEQUENCE <its sequence>; ALTER TABLE {tt} ALTER COLUMN {cc} ADD GENERATED BY DEFAULT AS IDENTITY (RESTART WITH <max + 1>) — or migrate to UUID",
                    tt = ident(&t),
                    cc = ident(c)
                ),
            )
        } else {
            (
                "takes its default from a sequence (BIGSERIAL); the model's integer keys are identity columns".to_owned(),
                format!(
                    "ALTER TABLE {tt} ALTER COLUMN {cc} DROP DEFAULT; DROP SEQUENCE <its sequence>; ALTER TABLE {tt} ALTER COLUMN {cc} ADD GENERATED BY DEFAULT AS IDENTITY (RESTART WITH <max + 1>)",
                    tt = ident(&t),
                    cc = ident(c)
                ),
            )
        };
        cx.problem(Some(c), why, fix);
        return None;
    }
    let base = match col.base.as_str() {
        "uuid" => "Uuid".to_owned(),
        "int2" | "int4" if is_pk => {
            cx.problem(
                Some(c),
                format!(
                    "a {} primary key runs out (the derive refuses 32-bit keys)",
                    col.type_sql
                ),
                format!("{} (or migrate the key to UUID)", alter("BIGINT", "")),
            );
            return None;
        }
        "int2" => "i16".to_owned(),
        "int4" => "i32".to_owned(),
        "int8" => "i64".to_owned(),
        "bool" => "bool".to_owned(),
        "text" => "String".to_owned(),
        "numeric" => match col.numeric() {
            Some(_) => "Decimal".to_owned(),
            None => {
                cx.problem(
                    Some(c),
                    "NUMERIC without precision and scale",
                    alter("NUMERIC(19,4)", " (or the precision it needs)"),
                );
                return None;
            }
        },
        "timestamptz" if col.typmod < 0 => "DateTime<Utc>".to_owned(),
        "timestamptz" => {
            cx.problem(
                Some(c),
                format!(
                    "{}: a fractional-seconds precision has no model",
                    col.type_sql
                ),
                alter("TIMESTAMPTZ", ""),
            );
            return None;
        }
        "date" => "NaiveDate".to_owned(),
        "float4" => "f32".to_owned(),
        "float8" => "f64".to_owned(),
        "jsonb" if !col.array => "dbpat::serde_json::Value".to_owned(),
        "bytea" if !col.array => "u8".to_owned(),
        "timestamp" => {
            cx.problem(
                Some(c),
                "TIMESTAMP without time zone (the derive refuses it)",
                alter(
                    "TIMESTAMPTZ",
                    &format!(" USING {} AT TIME ZONE 'UTC'", ident(c)),
                ),
            );
            return None;
        }
        "json" => {
            cx.problem(
                Some(c),
                "JSON instead of JSONB (the derive refuses it)",
                alter("JSONB", &format!(" USING {}::jsonb", ident(c))),
            );
            return None;
        }
        "varchar" | "bpchar" => {
            cx.problem(
                Some(c),
                format!("{} has no model (dbpat uses TEXT)", col.type_sql),
                format!(
                    "{}, plus a CHECK (length({}) <= n) if the limit matters",
                    alter("TEXT", ""),
                    ident(c)
                ),
            );
            return None;
        }
        "money" => {
            cx.problem(
                Some(c),
                "MONEY depends on lc_monetary (the derive refuses it)",
                alter("NUMERIC(19,4)", ""),
            );
            return None;
        }
        _ if col.base_kind == 'e' => {
            cx.problem(
                Some(c),
                format!(
                    "PostgreSQL enum type `{}`; a DbEnum is TEXT + CHECK",
                    col.base
                ),
                format!(
                    "{}, then ADD CONSTRAINT {} CHECK ({} IN (...its values...))",
                    alter("TEXT", ""),
                    ident(&format!("{t}_{c}_check")),
                    ident(c)
                ),
            );
            return None;
        }
        _ => {
            cx.problem(
                Some(c),
                format!("type {} has no dbpat column type", col.type_sql),
                "convert it to one of uuid, smallint, integer, bigint, boolean, text, numeric(p,s), timestamptz, date, real, double precision, jsonb, bytea (or an array of a scalar one), or keep the table out of the models",
            );
            return None;
        }
    };
    if col.identity.is_some()
        && !(is_pk && col.identity == Some('d') && col.base == "int8" && col.default.is_none())
    {
        cx.problem(
            Some(c),
            "an identity column other than a BIGINT primary key GENERATED BY DEFAULT",
            format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP IDENTITY (or make it the BIGINT key, GENERATED BY DEFAULT)",
                ident(&t),
                ident(c)
            ),
        );
        return None;
    }
    let mut attrs = Vec::new();
    if let Some((p, s)) = col.numeric() {
        if col.array {
            if (p, s) != (19, 4) {
                attrs.push(format!("sql_type = \"numeric({p},{s})[]\""));
            }
        } else if (p, s) == (19, 4) {
            attrs.push("money".to_owned());
        } else if (1..=100).contains(&p) {
            attrs.push(format!("numeric(precision = {p}, scale = {s})"));
        } else if p <= 255 {
            attrs.push(format!("sql_type = \"numeric({p},{s})\""));
        } else {
            cx.problem(
                Some(c),
                "NUMERIC precision above 255 has no model",
                alter("NUMERIC(255, s)", ""),
            );
            return None;
        }
    }
    let ty = if base == "u8" {
        "Vec<u8>".to_owned()
    } else if col.array {
        format!("Vec<{base}>")
    } else {
        base
    };
    let field = field_name(c);
    if field != c {
        attrs.push(format!("column = {c:?}"));
    }
    Some(FieldPlan {
        field,
        column: c.to_owned(),
        ty: wrap_option(col, &ty),
        attrs,
        references: None,
    })
}

/// The default of a key column: the derive generates `gen_random_uuid()` (UUID) and an
/// identity (BIGINT) unless told otherwise.
fn plan_key_default(cx: &mut Ctx, col: &RawColumn, field: &mut FieldPlan) {
    let generated = match col.base.as_str() {
        "uuid" if !col.array => col.default.as_deref() == Some("gen_random_uuid()"),
        "int8" if !col.array => col.identity == Some('d'),
        _ => {
            if let Some(d) = &col.default {
                cx.uses(d);
                field.attrs.push(format!("default_sql = {d:?}"));
            }
            return;
        }
    };
    if generated {
        return;
    }
    match &col.default {
        Some(d) => {
            cx.uses(d);
            field.attrs.push(format!("default_sql = {d:?}"));
        }
        None => field.attrs.push("no_default".to_owned()),
    }
}

/// `default = ...` for a literal PostgreSQL prints back the same way, else `default_sql`.
fn default_attr(col: &RawColumn, printed: &str, enum_values: Option<&Vec<String>>) -> String {
    let numeric_type = matches!(
        col.base.as_str(),
        "int2" | "int4" | "int8" | "numeric" | "float4" | "float8"
    ) && !col.array;
    if numeric_type && is_number(printed) {
        return format!("default = {printed}");
    }
    if col.base == "bool" && !col.array && matches!(printed, "true" | "false") {
        return format!("default = {printed}");
    }
    if let Some((text, cast)) = split_literal(printed) {
        if numeric_type && text.starts_with('-') && is_number(&text) {
            return format!("default = {text}");
        }
        let text_like = !col.array
            && ((col.base == "text" && cast == "text") || (col.base == "jsonb" && cast == "jsonb"));
        if text_like && enum_values.is_none_or(|v| v.contains(&text)) {
            return format!("default = {text:?}");
        }
    }
    format!("default_sql = {printed:?}")
}

fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let mut parts = digits.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
}

/// `'it''s'::text` → (`it's`, `text`).
fn split_literal(printed: &str) -> Option<(String, String)> {
    let rest = printed.strip_prefix('\'')?;
    let mut value = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        if ch == '\'' {
            if chars.peek().map(|(_, c)| *c) == Some('\'') {
                chars.next();
                value.push('\'');
                continue;
            }
            let cast = rest[i + 1..].strip_prefix("::")?;
            return Some((value, cast.to_owned()));
        }
        value.push(ch);
    }
    None
}

fn plan_foreign_key(cx: &mut Ctx, c: &RawConstraint, fields: &mut [FieldPlan], pk: &[String]) {
    let t = cx.table.name.clone();
    let first = c.columns.first().cloned();
    let col = first.as_deref();
    if c.columns.len() != 1 {
        cx.problem(
            None,
            format!("foreign key `{}` has several columns ({})", c.name, c.definition),
            "reference a single-column key (e.g. the parent's UUID id), or keep the constraint in a hand-written migration",
        );
        return;
    }
    let column = first.clone().unwrap_or_default();
    let Some(target) = c.ref_table.clone().filter(|_| c.ref_same_schema) else {
        cx.problem(
            col,
            format!(
                "foreign key `{}` references a table of another schema",
                c.name
            ),
            "keep it in a hand-written migration",
        );
        return;
    };
    let Some(target_table) = cx.raw.tables.iter().find(|x| x.name == target) else {
        cx.problem(
            col,
            format!(
                "foreign key `{}` references `{target}`, which is not a table here",
                c.name
            ),
            "keep it in a hand-written migration",
        );
        return;
    };
    let target_pk = target_table
        .primary_key()
        .map(|k| k.columns.clone())
        .unwrap_or_default();
    if target_pk.len() != 1 || c.ref_columns != target_pk {
        cx.problem(
            col,
            format!(
                "foreign key `{}` references ({}) of `{target}`, not its single-column primary key",
                c.name,
                c.ref_columns.join(", ")
            ),
            "reference the parent's primary key, or keep the constraint in a hand-written migration",
        );
        return;
    }
    let this = cx.table.column(&column);
    let parent = target_table.column(&target_pk[0]);
    if let (Some(a), Some(b)) = (this, parent) {
        if a.type_sql != b.type_sql {
            cx.problem(
                col,
                format!(
                    "is {} but references {target}.{} of type {}",
                    a.type_sql, target_pk[0], b.type_sql
                ),
                format!(
                    "ALTER TABLE {} ALTER COLUMN {} TYPE {}",
                    ident(&t),
                    ident(&column),
                    b.type_sql
                ),
            );
            return;
        }
    }
    let default_name = truncate_ident(format!("{t}_{column}_fkey"));
    if c.name != default_name {
        cx.problem(
            col,
            format!(
                "foreign key `{}`: the model names it `{default_name}`",
                c.name
            ),
            format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                ident(&t),
                ident(&c.name),
                ident(&default_name)
            ),
        );
    }
    if c.on_update != 'a' || c.match_type == 'f' || c.deferrable || c.on_delete_columns {
        cx.problem(
            col,
            format!(
                "foreign key `{}` has options the model has not ({})",
                c.name, c.definition
            ),
            "drop ON UPDATE / MATCH FULL / DEFERRABLE / the column list of SET NULL",
        );
    }
    if !c.validated {
        cx.problem(
            col,
            format!("foreign key `{}` is NOT VALID", c.name),
            format!(
                "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                ident(&t),
                ident(&c.name)
            ),
        );
    }
    let nullable = this.is_some_and(|x| !x.not_null);
    let on_delete = match c.on_delete {
        'c' => "cascade",
        'r' => "restrict",
        'n' if nullable => "set_null",
        'n' => {
            cx.problem(
                col,
                "ON DELETE SET NULL on a NOT NULL column",
                "make the column nullable or choose another action",
            );
            return;
        }
        'd' if this.is_some_and(|x| x.default.is_some()) => "set_default",
        'd' => {
            cx.problem(
                col,
                "ON DELETE SET DEFAULT on a column without a default",
                "give the column a default or choose another action",
            );
            return;
        }
        _ => "no_action",
    };
    if let Some(f) = fields.iter_mut().find(|f| f.column == column) {
        // The derive generates no key default for a referencing key column.
        if pk.contains(&column) {
            f.attrs.retain(|a| a != "no_default");
            if let Some(d) = this.and_then(|x| x.default.as_deref()) {
                let attr = format!("default_sql = {d:?}");
                if !f.attrs.contains(&attr) {
                    f.attrs.push(attr);
                }
            }
        }
        f.references = Some(Reference {
            table: target,
            on_delete,
            no_index: false,
        });
    }
}

fn plan_index(cx: &mut Ctx, index: &RawIndex, pk: &[String]) -> Option<String> {
    let t = cx.table.name.clone();
    let drop = format!("DROP INDEX CONCURRENTLY {}", ident(&index.name));
    let refuse = |cx: &mut Ctx, why: String| {
        cx.problem(
            None,
            format!("index `{}` ({}): {why}", index.name, index.definition),
            format!("{drop}, or keep the index in a hand-written migration"),
        );
        None
    };
    if !index.valid {
        return refuse(cx, "it is INVALID (a failed concurrent build)".to_owned());
    }
    if index.include > 0 {
        return refuse(cx, "INCLUDE columns have no model".to_owned());
    }
    if index.nulls_not_distinct {
        return refuse(cx, "NULLS NOT DISTINCT has no model".to_owned());
    }
    if let Some(p) = &index.predicate {
        cx.uses(p);
    }
    let mut parts: Vec<String> = Vec::new();
    let default_name;
    match index.method.as_str() {
        "btree" => {
            let all_columns = index.keys.iter().all(|k| k.column.is_some());
            if index.keys.iter().any(|k| k.nulls_non_default) {
                return refuse(
                    cx,
                    "NULLS FIRST / LAST other than the direction's default has no model".to_owned(),
                );
            }
            if index
                .keys
                .iter()
                .any(|k| !k.opclass_default || k.custom_collation)
            {
                return refuse(
                    cx,
                    "an operator class or collation other than the default has no model".to_owned(),
                );
            }
            if all_columns {
                let cols: Vec<String> =
                    index.keys.iter().filter_map(|k| k.column.clone()).collect();
                let uniform =
                    index.keys.iter().all(|k| !k.desc) || index.keys.iter().all(|k| k.desc);
                let uniques: Vec<&Vec<String>> = cx
                    .table
                    .constraints
                    .iter()
                    .filter(|c| c.kind == 'u')
                    .map(|c| &c.columns)
                    .collect();
                if index.predicate.is_none()
                    && uniform
                    && (cols.as_slice() == pk || uniques.iter().any(|u| **u == cols))
                {
                    return refuse(cx, "it repeats the primary key or a UNIQUE constraint (the model emits no such index)".to_owned());
                }
                if index.unique {
                    parts.push("unique".to_owned());
                }
                for k in &index.keys {
                    let f = field_name(k.column.as_deref().unwrap_or_default());
                    parts.push(if k.desc { format!("{f} desc") } else { f });
                }
                default_name = format!("idx_{t}_{}", cols.join("_"));
            } else if index.keys.len() == 1 {
                let key = &index.keys[0];
                if key.desc {
                    return refuse(cx, "a DESC expression key has no model".to_owned());
                }
                cx.uses(&key.expr);
                if index.unique {
                    parts.push("unique".to_owned());
                }
                parts.push(format!("expr = {:?}", key.expr));
                default_name = format!("idx_{t}_{}", slug(&key.expr));
            } else {
                return refuse(
                    cx,
                    "an index over several keys, some of them expressions, has no model".to_owned(),
                );
            }
        }
        "gin" if index.keys.len() == 1 => {
            let key = &index.keys[0];
            match &key.column {
                Some(column) => {
                    let col = cx.table.column(column);
                    let jsonb = col.is_some_and(|c| c.base == "jsonb" && !c.array);
                    let array = col.is_some_and(|c| c.array);
                    let f = field_name(column);
                    if jsonb && key.opclass == "jsonb_path_ops" || array && key.opclass_default {
                        parts.push(format!("gin({f})"));
                    } else {
                        parts.push(format!("gin({f}, ops = {:?})", key.opclass));
                    }
                    default_name = format!("idx_{t}_{column}_gin");
                }
                None => match parse_fulltext(cx.table, &key.expr) {
                    Some((language, columns)) => {
                        let fields: Vec<String> = columns.iter().map(|c| field_name(c)).collect();
                        parts.push(format!("fulltext({})", fields.join(", ")));
                        if language != "english" {
                            parts.push(format!("language = {language:?}"));
                        }
                        default_name = format!("idx_{t}_{}_fts", columns.join("_"));
                    }
                    None => {
                        return refuse(cx, "a GIN index over an expression other than dbpat's full-text document has no model".to_owned());
                    }
                },
            }
        }
        other => {
            return refuse(cx, format!("a {other} index over these keys has no model"));
        }
    }
    let mut default_name = default_name;
    if index.unique {
        default_name.push_str("_uniq");
    }
    if let Some(p) = &index.predicate {
        parts.push(format!("where = {:?}", p));
        default_name.push_str("_where_");
        default_name.push_str(&slug(p));
    }
    if truncate_ident(default_name) != index.name {
        parts.push(format!("name = {:?}", index.name));
    }
    Some(format!("index({})", parts.join(", ")))
}

fn plan_partition(cx: &mut Ctx, pk: &[String]) -> Option<String> {
    let table = cx.table;
    let key = table.partition_key.clone().unwrap_or_default();
    let column = match (table.partition_strategy, table.partition_columns.as_slice()) {
        (Some('r'), [c]) => c.clone(),
        _ => {
            cx.problem(
                None,
                format!("PARTITION BY {key}: only RANGE on one TIMESTAMPTZ column has a model"),
                "keep the table out of the models",
            );
            return None;
        }
    };
    let col_ok = table
        .column(&column)
        .is_some_and(|c| c.base == "timestamptz" && !c.array && c.not_null);
    if !col_ok || !pk.contains(&column) {
        cx.problem(
            Some(&column),
            "the partition key must be a NOT NULL TIMESTAMPTZ column of the primary key",
            "partition by such a column",
        );
        return None;
    }
    let mut periods: Vec<((i32, u32), u32)> = Vec::new();
    for (name, bound) in &table.partitions {
        match parse_bound(bound) {
            Some(p) => periods.push(p),
            None => {
                cx.problem(
                    None,
                    format!("partition `{name}` ({bound}) is not a whole UTC month or quarter"),
                    "re-create it with monthly or quarterly bounds at UTC midnight (dbpat's tiers create and archive those)",
                );
                return None;
            }
        }
    }
    periods.sort();
    let months: BTreeSet<u32> = periods.iter().map(|(_, m)| *m).collect();
    let (interval, first, count) = match months.iter().next() {
        None => {
            let now = chrono::Utc::now();
            use chrono::Datelike;
            let month = (now.month() - 1) / 3 * 3 + 1;
            ("quarter", (now.year(), month), 1)
        }
        Some(&m)
            if months.len() == 1
                && (m == 1 || (m == 3 && (periods[0].0 .1 - 1).is_multiple_of(3))) =>
        {
            let first = periods[0].0;
            (
                if m == 1 { "month" } else { "quarter" },
                first,
                periods.len(),
            )
        }
        _ => {
            cx.problem(
                None,
                "partitions of mixed or unaligned periods",
                "use one period (month or quarter) for every partition",
            );
            return None;
        }
    };
    Some(format!(
        "partition(by = {}, interval = {interval}, from = \"{:04}-{:02}-01\", count = {count})",
        field_name(&column),
        first.0,
        first.1
    ))
}

/// `FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-04-01 00:00:00+00')` →
/// ((2025, 1), 3 months).
fn parse_bound(bound: &str) -> Option<((i32, u32), u32)> {
    let rest = bound.strip_prefix("FOR VALUES FROM ('")?;
    let (from, rest) = rest.split_once("')")?;
    let rest = rest.strip_prefix(" TO ('")?;
    let (to, _) = rest.split_once("')")?;
    let ym = |s: &str| -> Option<(i32, u32)> {
        let (date, time) = s.split_once(' ')?;
        if time != "00:00:00+00" {
            return None;
        }
        let mut it = date.split('-');
        let y: i32 = it.next()?.parse().ok()?;
        let m: u32 = it.next()?.parse().ok()?;
        let d: u32 = it.next()?.parse().ok()?;
        (d == 1).then_some((y, m))
    };
    let (a, b) = (ym(from)?, ym(to)?);
    let months = (b.0 - a.0) * 12 + b.1 as i32 - a.1 as i32;
    matches!(months, 1 | 3).then_some((a, months as u32))
}

/// The column of dbpat's `updated_at` trigger, if `trig` is exactly one.
fn updated_at_trigger(table: &RawTable, trig: &super::introspect::RawTrigger) -> Option<String> {
    let column = trig.name.strip_prefix(&format!("{}_", table.name))?;
    let function = crate::ddl::trigger_function_name(column);
    let expected = format!(
        "CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}()",
        ident(&trig.name),
        ident(&table.name),
        ident(&function)
    );
    let body = format!(
        "\nBEGIN\n    NEW.{} = NOW();\n    RETURN NEW;\nEND;\n",
        ident(column)
    );
    let expected_function = format!(
        "CREATE OR REPLACE FUNCTION {}()\n RETURNS trigger\n LANGUAGE plpgsql\nAS $function${body}$function$\n",
        ident(&function)
    );
    (trig.definition == expected
        && trig.function == function
        && trig.nargs == 0
        && trig.function_source == body
        && trig.function_definition == expected_function
        && table.column(column).is_some())
    .then(|| column.to_owned())
}

/// `(status = ANY (ARRAY['a'::text, 'b'::text]))` or `(status = 'a'::text)` → the column and
/// its values.
fn parse_enum_check(expr: &str) -> Option<(String, Vec<String>)> {
    let inner = strip_parens(expr);
    let (column, rest) = inner.split_once(" = ")?;
    if !is_plain_identifier(column) {
        return None;
    }
    let list = match rest.strip_prefix("ANY (ARRAY[") {
        Some(l) => l.strip_suffix("])")?,
        None => rest,
    };
    let mut values = Vec::new();
    let mut rest = list;
    loop {
        let (value, after) = take_text_literal(rest)?;
        values.push(value);
        match after.strip_prefix(", ") {
            Some(r) => rest = r,
            None if after.is_empty() => break,
            None => return None,
        }
    }
    Some((column.to_owned(), values))
}

/// `'it''s'::text, ...` → (`it's`, `, ...`).
fn take_text_literal(s: &str) -> Option<(String, &str)> {
    let rest = s.strip_prefix('\'')?;
    let mut value = String::new();
    let mut iter = rest.char_indices().peekable();
    while let Some((i, ch)) = iter.next() {
        if ch == '\'' {
            if iter.peek().map(|(_, c)| *c) == Some('\'') {
                iter.next();
                value.push('\'');
                continue;
            }
            let after = rest[i + 1..].strip_prefix("::text")?;
            return Some((value, after));
        }
        value.push(ch);
    }
    None
}

/// The language and columns of a full-text key PostgreSQL printed, if it is exactly the
/// document dbpat renders for them.
fn parse_fulltext(table: &RawTable, printed: &str) -> Option<(String, Vec<String>)> {
    let rest = printed.strip_prefix("to_tsvector('")?;
    let (language, body) = rest.split_once("'::regconfig, ")?;
    let body = body.strip_suffix(')')?;
    let mut words = Vec::new();
    let cleaned = body.replace("''::text", " ").replace("' '::text", " ");
    for w in cleaned.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !w.is_empty() && w != "COALESCE" && w != "text" {
            words.push(w.to_owned());
        }
    }
    if words.is_empty()
        || words
            .iter()
            .any(|w| table.column(w).is_none_or(|c| c.base != "text" || c.array))
    {
        return None;
    }
    let term = |c: &str| {
        if table.column(c).is_some_and(|x| !x.not_null) {
            format!("COALESCE({}, ''::text)", ident(c))
        } else {
            ident(c)
        }
    };
    let mut doc = term(&words[0]);
    for w in &words[1..] {
        doc = format!("(({doc} || ' '::text) || {})", term(w));
    }
    (doc == body).then(|| (language.to_owned(), words))
}

/// Strips one pair of parentheses wrapping the whole expression.
fn strip_parens(expr: &str) -> &str {
    let e = expr.trim();
    if crate::ddl::is_parenthesized(e) {
        &e[1..e.len() - 1]
    } else {
        e
    }
}

fn is_plain_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The derive's generated-name rules (`dbpat-derive/src/case.rs`): lower-case slug of SQL.
fn slug(sql: &str) -> String {
    sql.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| p.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// Cut to 63 bytes as the derive cuts generated names.
fn truncate_ident(mut name: String) -> String {
    if name.len() > 63 {
        name.truncate(63);
        while name.ends_with('_') {
            name.pop();
        }
    }
    name
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield", "union",
];

/// A column's field name: the column itself unless it is a Rust keyword or starts with a
/// digit-like character the derive cannot take.
fn field_name(column: &str) -> String {
    if KEYWORDS.contains(&column) || column == "_" {
        format!("{column}_")
    } else {
        column.to_owned()
    }
}

/// UpperCamelCase singular entity names, unique and clear of the imported names.
fn name_entities(plans: &mut [TablePlan]) {
    const TAKEN: &[&str] = &[
        "DateTime",
        "Utc",
        "NaiveDate",
        "Decimal",
        "Uuid",
        "Entity",
        "DbEnum",
        "Option",
        "Vec",
        "String",
        "Self",
        "Box",
        "Result",
    ];
    let mut used: BTreeSet<String> = TAKEN.iter().map(|s| (*s).to_owned()).collect();
    for p in plans.iter_mut() {
        let mut name = singular(&p.table).to_upper_camel_case();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            name = format!("T{name}");
        }
        while used.contains(&name) {
            name.push_str("Row");
        }
        used.insert(name.clone());
        p.entity = name;
    }
    for p in plans.iter_mut() {
        for e in p.enums.iter_mut() {
            let mut name = format!("{}{}", p.entity, e.column.to_upper_camel_case());
            while used.contains(&name) {
                name.push_str("Value");
            }
            used.insert(name.clone());
            e.name = name;
        }
    }
}

/// `users` → `user`, `categories` → `category`, `addresses` → `address`, `order_items` →
/// `order_item`.
fn singular(table: &str) -> String {
    let (head, last) = match table.rsplit_once('_') {
        Some((h, l)) => (format!("{h}_"), l),
        None => (String::new(), table),
    };
    let one = if let Some(stem) = last.strip_suffix("ies") {
        format!("{stem}y")
    } else if ["sses", "xes", "ches", "shes", "zes"]
        .iter()
        .any(|s| last.ends_with(s))
    {
        last[..last.len() - 2].to_owned()
    } else if last.ends_with('s')
        && !last.ends_with("ss")
        && !last.ends_with("us")
        && last.len() > 1
    {
        last[..last.len() - 1].to_owned()
    } else {
        last.to_owned()
    };
    format!("{head}{one}")
}

/// The derive's snake_case of a variant name (`dbpat-derive/src/case.rs`).
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn render_source(
    raw: &RawSchema,
    plans: &[TablePlan],
    entity_of: &BTreeMap<String, String>,
    problems: &[Unrepresented],
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "//! Models pulled from schema `{}` by `emit-sql pull`: {} table(s).\n",
        raw.schema,
        plans.len()
    ));
    if problems.is_empty() {
        out.push_str("//! Every table of the schema is represented.\n");
    } else {
        out.push_str("//!\n//! Not represented (each table named here is left out):\n");
        for p in problems {
            out.push_str(&format!("//! - {p}\n"));
        }
    }
    out.push('\n');
    let all_types: String = plans
        .iter()
        .flat_map(|p| p.fields.iter().map(|f| f.ty.clone()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut chrono = Vec::new();
    if all_types.contains("DateTime<Utc>") {
        chrono.extend(["DateTime", "Utc"]);
    }
    if all_types.contains("NaiveDate") {
        chrono.push("NaiveDate");
    }
    chrono.sort_unstable();
    match chrono.len() {
        0 => {}
        1 => out.push_str(&format!("use dbpat::chrono::{};\n", chrono[0])),
        _ => out.push_str(&format!("use dbpat::chrono::{{{}}};\n", chrono.join(", "))),
    }
    if all_types.contains("Decimal") {
        out.push_str("use dbpat::rust_decimal::Decimal;\n");
    }
    if all_types.contains("Uuid") {
        out.push_str("use dbpat::uuid::Uuid;\n");
    }
    if plans.iter().any(|p| !p.enums.is_empty()) {
        out.push_str("use dbpat::{DbEnum, Entity};\n");
    } else if !plans.is_empty() {
        out.push_str("use dbpat::Entity;\n");
    }
    for p in plans {
        for e in &p.enums {
            out.push('\n');
            out.push_str(&format!(
                "/// The values of `{}.{}` (its CHECK constraint `{}_{}_check`).\n",
                p.table, e.column, p.table, e.column
            ));
            out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, DbEnum)]\n");
            out.push_str(&format!("pub enum {} {{\n", e.name));
            let mut seen = BTreeSet::new();
            for v in &e.values {
                let mut variant = v.to_upper_camel_case();
                if variant.is_empty() || variant.starts_with(|c: char| c.is_ascii_digit()) {
                    variant = format!("V{variant}");
                }
                if variant == "Self" {
                    variant = "SelfValue".to_owned();
                }
                while !seen.insert(variant.clone()) {
                    variant.push('_');
                    variant.push_str(&seen.len().to_string());
                }
                if snake_case(&variant) != *v {
                    out.push_str(&format!("    #[dbpat(rename = {v:?})]\n"));
                }
                out.push_str(&format!("    {variant},\n"));
            }
            out.push_str("}\n");
        }
        out.push('\n');
        out.push_str(&format!("/// Table `{}`.\n", p.table));
        if repeats_a_field(p) {
            // rust-clippy#12923 misreads a field named in two `index(...)` attributes.
            out.push_str("#[allow(clippy::duplicated_attributes)]\n");
        }
        out.push_str("#[derive(Debug, Clone, Entity)]\n");
        for a in &p.struct_attrs {
            out.push_str(&format!("#[dbpat({a})]\n"));
        }
        out.push_str(&format!("pub struct {} {{\n", p.entity));
        for f in &p.fields {
            let mut attrs = f.attrs.clone();
            if let Some(r) = &f.references {
                let target = if r.table == p.table {
                    "Self".to_owned()
                } else {
                    entity_of.get(&r.table).cloned().unwrap_or_default()
                };
                let no_index = if r.no_index { ", no_index" } else { "" };
                attrs.push(format!(
                    "references({target}, on_delete = {}{no_index})",
                    r.on_delete
                ));
            }
            if !attrs.is_empty() {
                out.push_str(&format!("    #[dbpat({})]\n", attrs.join(", ")));
            }
            let ty = match p.enums.iter().find(|e| e.column == f.column) {
                Some(e) => f.ty.replace(&format!("{{enum:{}}}", f.column), &e.name),
                None => f.ty.clone(),
            };
            out.push_str(&format!("    pub {}: {ty},\n", f.field));
        }
        out.push_str("}\n");
    }
    out
}

/// Whether a field is named in two struct attributes (clippy's `duplicated_attributes` noise).
fn repeats_a_field(p: &TablePlan) -> bool {
    p.fields.iter().any(|f| {
        p.struct_attrs
            .iter()
            .filter(|a| {
                a.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|w| w == f.field)
            })
            .count()
            > 1
    })
}

/// Runs the source through `rustfmt` when it is installed; as generated otherwise.
fn format_source(source: String) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return source;
    };
    if let Some(mut stdin) = child.stdin.take() {
        if stdin.write_all(source.as_bytes()).is_err() {
            return source;
        }
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            String::from_utf8(out.stdout).unwrap_or(source)
        }
        _ => source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_checks_parse() {
        assert_eq!(
            parse_enum_check("(status = ANY (ARRAY['active'::text, 'it''s'::text]))"),
            Some((
                "status".to_owned(),
                vec!["active".to_owned(), "it's".to_owned()]
            ))
        );
        assert_eq!(
            parse_enum_check("(kind = 'one'::text)"),
            Some(("kind".to_owned(), vec!["one".to_owned()]))
        );
        assert_eq!(parse_enum_check("(stock >= 0)"), None);
    }

    #[test]
    fn names() {
        assert_eq!(singular("users"), "user");
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("order_items"), "order_item");
        assert_eq!(singular("status"), "status");
        assert_eq!(field_name("type"), "type_");
    }

    #[test]
    fn bounds_and_defaults() {
        assert_eq!(
            parse_bound("FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-04-01 00:00:00+00')"),
            Some(((2025, 1), 3))
        );
        assert_eq!(parse_bound("DEFAULT"), None);
        assert_eq!(
            split_literal("'it''s'::text"),
            Some(("it's".to_owned(), "text".to_owned()))
        );
        assert!(is_number("-1.5") && is_number("0") && !is_number("1e5") && !is_number("-"));
    }
}
