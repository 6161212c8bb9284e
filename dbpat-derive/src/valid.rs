//! Every rule of the derives, in one place: the seed's checklist and the model's own
//! consistency, as methods on the AST.
//!
//! [`Container::validate`] and [`Enum::validate`] report each broken rule at the offending
//! field or attribute, with what to write instead. The parser ([`crate::attr`]) only reads and
//! the expansion ([`crate::expand`]) only emits.
//!
//! A few rules need the field types, which a derive cannot see (`ColumnType` decides them
//! after macro expansion). [`Container::type_rules`] decides which of them apply and with
//! what message; the expansion turns each into a `const` assertion spanned at the attribute
//! it is about, so a violation is a compile error there:
//!
//! | [`Requirement`] | asserted of the field's SQL type |
//! | --- | --- |
//! | `EnumValue` | a text default is one of `ColumnType::ENUM_VALUES` (any text without) |
//! | `SingleColumnKey` | the referenced entity has a one-column primary key |
//! | `SameKeyType` | the column's type is the referenced entity's `KEY_SQL_TYPE` |
//! | `TimestampTz` | scalar TIMESTAMPTZ (`created_at`, `updated_at`, partition key) |
//! | `Integer` | scalar integer (`version`) |
//! | `GinOperand` | JSONB or an array (a GIN index without `ops`) |
//! | `Text` | scalar TEXT (a full-text index column) |

use crate::ast::{Container, Enum, Field};
use crate::attr::{
    DefaultAttr, IndexTarget, Interval, OnDeleteAttr, ReferencesAttr, SqlTypeAttr, SqlTypeName,
};
use crate::ctxt::Ctxt;
use crate::names::index_name;
use crate::suggest::hint;
use crate::types;
use proc_macro2::Span;
use quote::ToTokens;
use std::collections::BTreeMap;
use syn::{Fields, Ident};

/// The first segments of the cache's own keys (`lease:<entity>:<id>`, ...) and one to come:
/// no entity may have them as its key prefix. The runtime's `cache::key::RESERVED_KEY_PREFIXES`
/// holds the same names (for policies written by hand).
const RESERVED_CACHE_KEY_PREFIXES: &[&str] = &["lease", "writers", "subkeys", "dataset"];

impl<'a> Container<'a> {
    /// Reports every broken rule of the entity to `cx`.
    pub fn validate(&self, cx: &Ctxt) {
        if !self.generics.params.is_empty() {
            cx.error_spanned_by(
                self.generics,
                "an entity cannot be generic: a table has one fixed set of column types",
            );
        }
        if !self.named {
            // Already reported: there are no fields to check.
            return;
        }
        for field in &self.fields {
            field.validate_type(cx);
            field.validate_defaults(cx);
            field.validate_references(cx);
        }
        self.validate_primary_key(cx);
        self.validate_columns_unique(cx);
        self.validate_roles(cx);
        self.validate_indexes(cx);
        self.validate_no_index(cx);
        self.validate_uniques(cx);
        self.validate_partition(cx);
        self.validate_cache(cx);
        self.validate_identifiers(cx);
    }

    /// A field named in a struct attribute must exist; suggests the closest field otherwise.
    fn require_field(&self, cx: &Ctxt, ident: &Ident, what: &str) -> Option<&Field<'a>> {
        let found = self.field(ident);
        if found.is_none() {
            let names: Vec<String> = self.field_names().collect();
            let mut help = hint(&ident.to_string(), names.iter().map(String::as_str));
            if help.is_empty() {
                help = format!("; its fields are: {}", names.join(", "));
            }
            cx.error_spanned_by(
                ident,
                format!(
                    "{what} names `{ident}`, which is not a field of {}{help}",
                    self.ident
                ),
            );
        }
        found
    }

    fn validate_primary_key(&self, cx: &Ctxt) {
        let keys: Vec<&Field> = self.primary_key().collect();
        // A misspelled `primary_key` is already reported with a "did you mean".
        if keys.is_empty() && !self.fields.iter().any(|f| f.attrs.primary_key_typo) {
            cx.error_spanned_by(
                self.ident,
                format!(
                    "{} has no primary key; mark its id field #[dbpat(primary_key)] (a Uuid, or an i64 for a BIGINT identity)",
                    self.ident
                ),
            );
        }
        for key in keys {
            if types::is_narrow_int(key.ty) {
                cx.error_spanned_by(
                    key.ty,
                    "a 32-bit (or smaller) primary key runs out; use uuid::Uuid (UUID DEFAULT gen_random_uuid()) or i64 (BIGINT identity)",
                );
            }
            if types::option_inner(key.ty).is_some() {
                cx.error_spanned_by(
                    key.ty,
                    "a primary-key column cannot be NULL; remove the Option",
                );
            }
            if let Some(sql) = &key.attrs.sql_type {
                if matches!(sql.base(), Some(("Integer" | "SmallInt", _))) {
                    cx.error_at(
                        sql.span,
                        "a 32-bit (or smaller) primary key runs out; use a UUID or BIGINT primary key",
                    );
                }
            }
        }
    }

    fn validate_columns_unique(&self, cx: &Ctxt) {
        let mut seen: BTreeMap<&str, &Field> = BTreeMap::new();
        for field in &self.fields {
            if let Some(first) = seen.insert(field.column.as_str(), field) {
                let at = field
                    .attrs
                    .column
                    .as_ref()
                    .map(|c| c.span)
                    .unwrap_or(field.ident.span());
                cx.error_at(
                    at,
                    format!(
                        "column `{}` is already defined by field `{}`; give one of them another `column = \"...\"`",
                        field.column, first.ident
                    ),
                );
            }
        }
    }

    fn validate_roles(&self, cx: &Ctxt) {
        let mut created = None;
        let mut updated = None;
        let mut version = None;
        for field in &self.fields {
            let a = &field.attrs;
            let roles = [a.created_at, a.updated_at, a.version]
                .iter()
                .flatten()
                .count();
            if roles > 1 {
                cx.error_spanned_by(
                    field.ident,
                    "a column has at most one of created_at, updated_at and version",
                );
            }
            for (span, slot, name) in [
                (a.created_at, &mut created, "created_at"),
                (a.updated_at, &mut updated, "updated_at"),
                (a.version, &mut version, "version"),
            ] {
                let Some(span) = span else { continue };
                if slot.replace(field.ident).is_some() {
                    cx.error_at(span, format!("only one field can be `{name}`"));
                }
                if name == "version" {
                    if !types::is_integer(field.ty) || types::option_inner(field.ty).is_some() {
                        cx.error_spanned_by(field.ty, "a version column is an integer (i32 or i64, not Option); it starts at 1 and each versioned update adds 1");
                    }
                } else if !types::is_datetime(field.ty) || types::option_inner(field.ty).is_some() {
                    cx.error_spanned_by(field.ty, format!("`{name}` is a TIMESTAMPTZ set by the server; declare it as chrono::DateTime<Utc>"));
                }
                if let Some(d) = &a.default {
                    cx.error_at(
                        d.span,
                        format!("`{name}` sets its own default; remove this one"),
                    );
                }
            }
        }
    }

    fn validate_indexes(&self, cx: &Ctxt) {
        let mut names = BTreeMap::new();
        for index in &self.attrs.indexes {
            match &index.target {
                IndexTarget::Columns(cols) if cols.is_empty() => cx.error_at(
                    index.span,
                    "an index needs fields, e.g. `index(user_id, created_at desc)`, or gin(field), expr = \"...\", fulltext(field, ...)",
                ),
                IndexTarget::Columns(cols) => {
                    for (c, _) in cols {
                        self.require_field(cx, c, "this index");
                    }
                }
                IndexTarget::Gin { column, .. } => {
                    self.require_field(cx, column, "this GIN index");
                }
                IndexTarget::FullText { columns, .. } => {
                    for c in columns {
                        self.require_field(cx, c, "this full-text index");
                    }
                }
                IndexTarget::Expr(_) => {}
            }
            if let Some(span) = index.stray_column {
                cx.error_at(
                    span,
                    "an index is either over fields, or gin(...), expr = \"...\" or fulltext(...), not both",
                );
            }
            if let Some(language) = &index.language {
                if !matches!(index.target, IndexTarget::FullText { .. }) {
                    cx.error_at(
                        language.span,
                        "`language` is the text search configuration of a fulltext(...) index; remove it or add fulltext(field, ...)",
                    );
                }
            }
            let name = index_name(self, index);
            if names.insert(name.clone(), ()).is_some() {
                let at = index.name.as_ref().map(|n| n.span).unwrap_or(index.span);
                cx.error_at(
                    at,
                    format!("two indexes are named `{name}`; give this one `name = \"...\"`"),
                );
            }
        }
    }

    /// `references(..., no_index)` opts out of the foreign-key index (see [`crate::fk_index`]);
    /// on a column an index of the model already leads with, it would do nothing.
    fn validate_no_index(&self, cx: &Ctxt) {
        for field in &self.fields {
            let Some(span) = field.attrs.references.as_ref().and_then(|r| r.no_index) else {
                continue;
            };
            if let Some(covering) = self.covering_index(field) {
                cx.error_at(
                    span,
                    format!(
                        "`no_index` does nothing here: {} `{}` already starts with `{}`, and PostgreSQL uses it for the foreign key; remove `no_index`",
                        covering.what, covering.name, field.column
                    ),
                );
            }
        }
    }

    fn validate_uniques(&self, cx: &Ctxt) {
        for unique in &self.attrs.uniques {
            for c in &unique.columns {
                self.require_field(cx, c, "this unique constraint");
            }
            match unique.columns.len() {
                0 => cx.error_at(unique.span, "`unique(...)` needs at least one field"),
                1 => cx.error_at(
                    unique.span,
                    "for one field write #[dbpat(unique)] on the field itself",
                ),
                _ => {}
            }
        }
    }

    fn validate_partition(&self, cx: &Ctxt) {
        let Some(p) = &self.attrs.partition else {
            return;
        };
        if p.interval == Interval::Quarter && (p.from.value.1 - 1) % 3 != 0 {
            cx.error_at(
                p.from.span,
                "quarterly partitions start in January, April, July or October",
            );
        }
        if p.count.value == 0 {
            cx.error_at(p.count.span, "`count` must be at least 1");
        }
        let Some(field) = self.require_field(cx, &p.column, "`partition(by = ...)`") else {
            return;
        };
        if !types::is_datetime(field.ty) || types::option_inner(field.ty).is_some() {
            cx.error_spanned_by(
                &p.column,
                format!("the partition key `{}` must be a NOT NULL TIMESTAMPTZ column (chrono::DateTime<Utc>)", p.column),
            );
        }
        if field.attrs.primary_key.is_none() {
            cx.error_spanned_by(
                &p.column,
                format!(
                    "a partitioned table's primary key must include the partition key: add #[dbpat(primary_key)] to `{}` too (composite key)",
                    p.column
                ),
            );
        }
    }

    fn validate_cache(&self, cx: &Ctxt) {
        let Some(cache) = &self.attrs.cache else {
            return;
        };
        if cache.ttl.is_none() && !cache.ttl_attempted {
            cx.error_at(
                cache.span,
                "a cache policy needs a TTL so no key lives forever: write `cache(ttl = \"15m\")`",
            );
        }
        for (key, ttl) in [("ttl", &cache.ttl), ("negative_ttl", &cache.negative_ttl)] {
            if let Some(ttl) = ttl.as_ref().filter(|t| t.value == 0) {
                cx.error_at(ttl.span, format!("`{key}` must be longer than 0 s"));
            }
        }
        if self.primary_key().count() > 1 {
            cx.error_at(
                cache.span,
                "a cached entity needs a single-column primary key (it is the <id> of `<entity>:<id>`)",
            );
        }
        let prefix = self.cache_key_prefix().unwrap_or_default();
        if RESERVED_CACHE_KEY_PREFIXES.contains(&prefix.as_str()) {
            let (at, origin) = match &cache.prefix {
                Some(p) => (p.span, String::new()),
                None => (
                    cache.span,
                    format!(" (the name of {} in snake_case)", self.ident),
                ),
            };
            cx.error_at(
                at,
                format!(
                    "the cache key prefix `{prefix}`{origin} is reserved for the cache's own keys (`lease:<entity>:<id>`, `writers:`, `subkeys:`, `dataset:`), which `{prefix}:<id>:<attribute>` would collide with; write another one, e.g. `prefix = \"{prefix}_entry\"`"
                ),
            );
        }
    }

    fn validate_identifiers(&self, cx: &Ctxt) {
        if let Some(t) = &self.attrs.table {
            if !is_plain_identifier(&t.value) {
                cx.error_at(
                    t.span,
                    "table names are lower-case letters, digits and `_` (at most 63 bytes)",
                );
            }
        }
        for field in &self.fields {
            if let Some(c) = &field.attrs.column {
                if !is_plain_identifier(&c.value) {
                    cx.error_at(
                        c.span,
                        "column names are lower-case letters, digits and `_` (at most 63 bytes)",
                    );
                }
            }
        }
        if let Some(prefix) = self.attrs.cache.as_ref().and_then(|c| c.prefix.as_ref()) {
            if prefix.value.is_empty() || prefix.value.contains([':', '{', '}', ' ', '*']) {
                cx.error_at(
                    prefix.span,
                    "a cache key prefix is one key segment: no `:`, `{`, `}`, `*` or spaces",
                );
            }
        }
    }

    /// The rules that need the field types, decided here and asserted in generated code
    /// (see the module docs). Only meaningful for a model that passed [`Container::validate`].
    pub fn type_rules(&self) -> Vec<TypeRule<'_, 'a>> {
        let mut out = Vec::new();
        for field in &self.fields {
            let fname = field.ident.to_string();
            if let Some(d) = &field.attrs.default {
                if let DefaultAttr::Text(value) = &d.value {
                    let ty = types::strip_option(field.ty)
                        .to_token_stream()
                        .to_string()
                        .replace(' ', "");
                    out.push(TypeRule {
                        span: d.span,
                        message: format!(
                            "the default {value:?} of `{fname}` is not a value of `{ty}`; its values are: "
                        ),
                        requirement: Requirement::EnumValue {
                            field,
                            value: value.clone(),
                        },
                    });
                }
            }
            if let Some(r) = &field.attrs.references {
                let target = r.target.to_token_stream().to_string().replace(' ', "");
                out.push(TypeRule {
                    span: r.target_span(),
                    message: format!("`{fname}` references `{target}`, whose primary key has several columns; reference an entity with a single-column key"),
                    requirement: Requirement::SingleColumnKey(r),
                });
                out.push(TypeRule {
                    span: r.target_span(),
                    message: format!(
                        "the type of `{fname}` differs from the primary key of `{target}`; declare `{fname}` with the same type as that key (or an Option of it)"
                    ),
                    requirement: Requirement::SameKeyType { field, references: r },
                });
            }
            if field.attrs.created_at.is_some() || field.attrs.updated_at.is_some() {
                out.push(TypeRule {
                    span: syn::spanned::Spanned::span(field.ty),
                    message: format!("`{fname}` must be a TIMESTAMPTZ (chrono::DateTime<Utc>)"),
                    requirement: Requirement::TimestampTz(field),
                });
            }
            if field.attrs.version.is_some() {
                out.push(TypeRule {
                    span: syn::spanned::Spanned::span(field.ty),
                    message: format!("the version column `{fname}` must be an integer"),
                    requirement: Requirement::Integer(field),
                });
            }
        }
        for index in &self.attrs.indexes {
            match &index.target {
                IndexTarget::Gin { column, ops: None } => {
                    if let Some(field) = self.field(column) {
                        out.push(TypeRule {
                            span: column.span(),
                            message: format!("a GIN index on `{column}` needs a JSONB or array column; for a TEXT column use fulltext({column}), for equality and ranges a plain index({column})"),
                            requirement: Requirement::GinOperand(field),
                        });
                    }
                }
                IndexTarget::FullText { columns, .. } => {
                    for c in columns {
                        if let Some(field) = self.field(c) {
                            out.push(TypeRule {
                                span: c.span(),
                                message: format!("full-text search needs TEXT columns; `{c}` is not TEXT: remove it from fulltext(...) and give it its own index({c})"),
                                requirement: Requirement::Text(field),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(p) = &self.attrs.partition {
            if let Some(field) = self.field(&p.column) {
                out.push(TypeRule {
                    span: p.column.span(),
                    message: format!(
                        "the partition key `{}` of {} must be TIMESTAMPTZ",
                        p.column, self.ident
                    ),
                    requirement: Requirement::TimestampTz(field),
                });
            }
        }
        out
    }
}

/// A rule that needs a field's type, asserted by the generated code.
pub struct TypeRule<'c, 'a> {
    /// Where the error points.
    pub span: Span,
    /// The error; for [`Requirement::EnumValue`] the enum's values are appended to it.
    pub message: String,
    /// What is asserted.
    pub requirement: Requirement<'c, 'a>,
}

/// What a [`TypeRule`] asserts; see the module docs.
pub enum Requirement<'c, 'a> {
    /// The text default `value` is one of the field type's enum values (if it has any).
    EnumValue { field: &'c Field<'a>, value: String },
    /// The referenced entity has a single-column primary key.
    SingleColumnKey(&'c ReferencesAttr),
    /// The field's SQL type is the referenced entity's key type.
    SameKeyType {
        field: &'c Field<'a>,
        references: &'c ReferencesAttr,
    },
    /// The field's SQL type is a scalar TIMESTAMPTZ.
    TimestampTz(&'c Field<'a>),
    /// The field's SQL type is a scalar integer.
    Integer(&'c Field<'a>),
    /// The field's SQL type has a default GIN operator class (JSONB) or is an array.
    GinOperand(&'c Field<'a>),
    /// The field's SQL type is a scalar TEXT.
    Text(&'c Field<'a>),
}

impl Field<'_> {
    fn validate_type(&self, cx: &Ctxt) {
        if types::option_inner(self.ty)
            .and_then(types::option_inner)
            .is_some()
        {
            cx.error_spanned_by(
                self.ty,
                "a column is either nullable or not: `Option<Option<T>>` has no SQL meaning; use `Option<T>`",
            );
        }
        if let Some(name) = types::naive_timestamp(self.ty) {
            cx.error_spanned_by(
                self.ty,
                format!("`{name}` has no time zone (TIMESTAMP); use chrono::DateTime<Utc>, which maps to TIMESTAMPTZ"),
            );
        }
        let a = &self.attrs;
        if let Some(n) = &a.numeric {
            check_numeric_range(cx, n.value, n.span, true);
        }
        if let Some(span) = a.money.or(a.numeric.as_ref().map(|n| n.span)) {
            if types::is_float(self.ty) {
                cx.error_spanned_by(
                    self.ty,
                    "floats lose precision on money and NUMERIC values; use rust_decimal::Decimal",
                );
            }
            if let Some(sql) = &a.sql_type {
                cx.error_at(
                    sql.span,
                    "`sql_type` and `money`/`numeric(...)` both set the type; keep one",
                );
            }
            if a.money.is_some() && a.numeric.is_some() {
                cx.error_at(
                    span,
                    "`money` is NUMERIC(19,4); drop it or `numeric(...)`, not both",
                );
            }
        }
        if let Some(sql) = &a.sql_type {
            sql.validate(cx);
            if types::is_float(self.ty) && matches!(sql.base(), Some(("Numeric", _))) {
                cx.error_at(
                    sql.span,
                    "a float field cannot hold NUMERIC exactly; use rust_decimal::Decimal",
                );
            }
        }
    }

    fn validate_defaults(&self, cx: &Ctxt) {
        let a = &self.attrs;
        if let (Some(span), None) = (a.no_default, a.primary_key) {
            cx.error_at(
                span,
                "`no_default` only applies to a primary key (it turns off the generated id)",
            );
        }
        if let (Some(d), Some(_), Some(_)) = (&a.default, a.primary_key, a.no_default) {
            cx.error_at(d.span, "`no_default` and a default contradict each other");
        }
    }

    fn validate_references(&self, cx: &Ctxt) {
        let Some(r) = &self.attrs.references else {
            return;
        };
        match &r.on_delete {
            None => cx.error_at(
                r.span,
                "a foreign key needs an ON DELETE action: write `references(Target, on_delete = cascade)` (or restrict, set_null, set_default, no_action)",
            ),
            Some(action) => {
                if matches!(action.value, OnDeleteAttr::SetNull)
                    && types::option_inner(self.ty).is_none()
                {
                    cx.error_at(action.span, "ON DELETE SET NULL needs a nullable column: make the field an Option<...>");
                }
                if matches!(action.value, OnDeleteAttr::SetDefault) && self.attrs.default.is_none()
                {
                    cx.error_at(action.span, "ON DELETE SET DEFAULT needs a `default` on this field");
                }
            }
        }
    }
}

impl SqlTypeAttr {
    /// The types the seed's checklist refuses, each with what to use instead.
    fn validate(&self, cx: &Ctxt) {
        let refusal = match self.name {
            SqlTypeName::Base(_, Some(ps)) => {
                check_numeric_range(cx, ps, self.span, false);
                return;
            }
            SqlTypeName::Base(_, None) => return,
            SqlTypeName::Json => "JSON keeps no index and re-parses on every read: use sql_type = \"jsonb\" (or just a serde_json::Value / Json<T> field, which is JSONB)",
            SqlTypeName::Timestamp => "TIMESTAMP has no time zone: use sql_type = \"timestamptz\" (or a chrono::DateTime<Utc> field)",
            SqlTypeName::Serial => "SERIAL is a 32-bit integer that runs out: use a Uuid or an i64 (BIGINT identity) primary key",
            SqlTypeName::Money => "PostgreSQL's MONEY depends on lc_monetary: use `#[dbpat(money)]` on a rust_decimal::Decimal (NUMERIC(19,4))",
            SqlTypeName::Varchar => "use sql_type = \"text\" (add a CHECK for a length limit)",
        };
        cx.error_at(self.span, refusal);
    }
}

/// `numeric(precision = P, scale = S)` caps P at 100; `sql_type = "numeric(p,s)"` takes any
/// precision PostgreSQL does.
fn check_numeric_range(cx: &Ctxt, (p, s): (u8, u8), span: Span, capped: bool) {
    if capped && (p == 0 || p > 100 || s > p) {
        cx.error_at(
            span,
            "NUMERIC needs 1 <= precision <= 100 and scale <= precision",
        );
    } else if p == 0 || s > p {
        cx.error_at(
            span,
            "NUMERIC needs a precision of at least 1 and a scale no larger: e.g. sql_type = \"numeric(19,4)\"",
        );
    }
}

fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

impl Enum<'_> {
    /// Reports every broken rule of the `DbEnum` to `cx`.
    pub fn validate(&self, cx: &Ctxt) {
        if !self.generics.params.is_empty() {
            cx.error_spanned_by(self.generics, "a DbEnum cannot be generic");
        }
        let mut seen: BTreeMap<&str, &Ident> = BTreeMap::new();
        for v in &self.variants {
            if !matches!(v.fields, Fields::Unit) {
                cx.error_spanned_by(
                    v.fields,
                    "DbEnum variants cannot carry data: each is one TEXT value",
                );
            }
            if let Some(first) = seen.insert(&v.value, v.ident) {
                cx.error_at(
                    v.ident.span(),
                    format!(
                        "`{}` and `{first}` are both stored as {:?}",
                        v.ident, v.value
                    ),
                );
            }
        }
        // `was = "..."` names a value the enum no longer has, mapped to one variant only.
        let mut mapped: BTreeMap<&str, &Ident> = BTreeMap::new();
        for v in &self.variants {
            for was in &v.was {
                if let Some(current) = self.variants.iter().find(|o| o.value == was.value) {
                    cx.error_at(
                        was.span,
                        format!(
                            "{:?} is still the value of `{}`: `was` names a value removed from the enum, whose rows a migration moves to `{}`",
                            was.value, current.ident, v.ident
                        ),
                    );
                } else if let Some(first) = mapped.insert(&was.value, v.ident) {
                    cx.error_at(
                        was.span,
                        format!(
                            "{:?} is already mapped to `{first}`: rows holding an old value move to one variant",
                            was.value
                        ),
                    );
                }
            }
        }
        if self.variants.is_empty() {
            cx.error_spanned_by(self.ident, "a DbEnum needs at least one variant");
        }
    }
}
