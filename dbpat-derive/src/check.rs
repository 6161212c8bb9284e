//! The seed's checklist and the model's own consistency rules, checked at compile time.
//! Every rule reports at the offending field or attribute, with what to write instead.

use crate::ast::{Container, Field};
use crate::attr::{IndexTarget, OnDeleteAttr};
use crate::ctxt::Ctxt;
use crate::names::index_name;
use crate::suggest::hint;
use crate::types;
use std::collections::BTreeMap;
use syn::Ident;

pub fn check(cx: &Ctxt, cont: &Container) {
    check_field_types(cx, cont);
    check_primary_key(cx, cont);
    check_columns_unique(cx, cont);
    check_roles(cx, cont);
    check_defaults(cx, cont);
    check_references(cx, cont);
    check_field_refs(cx, cont);
    check_index_names(cx, cont);
    check_partition(cx, cont);
    check_cache(cx, cont);
    check_identifiers(cx, cont);
}

/// A field named in a struct attribute must exist; suggests the closest field otherwise.
fn require_field<'c, 'a>(
    cx: &Ctxt,
    cont: &'c Container<'a>,
    ident: &Ident,
    what: &str,
) -> Option<&'c Field<'a>> {
    let found = cont.field(ident);
    if found.is_none() {
        let names: Vec<String> = cont.field_names().collect();
        let mut help = hint(&ident.to_string(), names.iter().map(String::as_str));
        if help.is_empty() {
            help = format!("; its fields are: {}", names.join(", "));
        }
        cx.error_spanned_by(
            ident,
            format!(
                "{what} names `{ident}`, which is not a field of {}{help}",
                cont.ident
            ),
        );
    }
    found
}

fn check_field_types(cx: &Ctxt, cont: &Container) {
    for field in &cont.fields {
        if types::option_inner(field.ty)
            .and_then(types::option_inner)
            .is_some()
        {
            cx.error_spanned_by(
                field.ty,
                "a column is either nullable or not: `Option<Option<T>>` has no SQL meaning; use `Option<T>`",
            );
        }
        if let Some(name) = types::naive_timestamp(field.ty) {
            cx.error_spanned_by(
                field.ty,
                format!("`{name}` has no time zone (TIMESTAMP); use chrono::DateTime<Utc>, which maps to TIMESTAMPTZ"),
            );
        }
        let money = field
            .attrs
            .money
            .or(field.attrs.numeric.as_ref().map(|n| n.span));
        if let Some(span) = money {
            if types::is_float(field.ty) {
                cx.error_spanned_by(
                    field.ty,
                    "floats lose precision on money and NUMERIC values; use rust_decimal::Decimal",
                );
            }
            if let Some(sql) = &field.attrs.sql_type {
                cx.error_at(
                    sql.span,
                    "`sql_type` and `money`/`numeric(...)` both set the type; keep one",
                );
            }
            if field.attrs.money.is_some() && field.attrs.numeric.is_some() {
                cx.error_at(
                    span,
                    "`money` is NUMERIC(19,4); drop it or `numeric(...)`, not both",
                );
            }
        }
        if let Some(sql) = &field.attrs.sql_type {
            if types::is_float(field.ty) && sql.base == "Numeric" {
                cx.error_at(
                    sql.span,
                    "a float field cannot hold NUMERIC exactly; use rust_decimal::Decimal",
                );
            }
        }
    }
}

fn check_primary_key(cx: &Ctxt, cont: &Container) {
    let keys: Vec<&Field> = cont.primary_key().collect();
    // A misspelled `primary_key` is already reported with a "did you mean".
    if keys.is_empty() && !cont.fields.iter().any(|f| f.attrs.primary_key_typo) {
        cx.error_spanned_by(
            cont.ident,
            format!(
                "{} has no primary key; mark its id field #[dbpat(primary_key)] (a Uuid, or an i64 for a BIGINT identity)",
                cont.ident
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
        if key
            .attrs
            .sql_type
            .as_ref()
            .is_some_and(|s| s.base == "Integer" || s.base == "SmallInt")
        {
            cx.error_at(
                key.attrs.sql_type.as_ref().unwrap().span,
                "a 32-bit (or smaller) primary key runs out; use a UUID or BIGINT primary key",
            );
        }
    }
}

fn check_columns_unique(cx: &Ctxt, cont: &Container) {
    let mut seen: BTreeMap<&str, &Field> = BTreeMap::new();
    for field in &cont.fields {
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

fn check_roles(cx: &Ctxt, cont: &Container) {
    let mut created = None;
    let mut updated = None;
    let mut version = None;
    for field in &cont.fields {
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

fn check_defaults(cx: &Ctxt, cont: &Container) {
    for field in &cont.fields {
        if field.attrs.no_default && field.attrs.primary_key.is_none() {
            cx.error_spanned_by(
                field.ident,
                "`no_default` only applies to a primary key (it turns off the generated id)",
            );
        }
        if let (Some(d), Some(_)) = (&field.attrs.default, field.attrs.primary_key) {
            if field.attrs.no_default {
                cx.error_at(d.span, "`no_default` and a default contradict each other");
            }
        }
    }
}

fn check_references(cx: &Ctxt, cont: &Container) {
    for field in &cont.fields {
        let Some(r) = &field.attrs.references else {
            continue;
        };
        match &r.on_delete {
            None => cx.error_at(
                r.span,
                "a foreign key needs an ON DELETE action: write `references(Target, on_delete = cascade)` (or restrict, set_null, set_default, no_action)",
            ),
            Some(action) => {
                if matches!(action.value, OnDeleteAttr::SetNull) && types::option_inner(field.ty).is_none() {
                    cx.error_at(action.span, "ON DELETE SET NULL needs a nullable column: make the field an Option<...>");
                }
                if matches!(action.value, OnDeleteAttr::SetDefault) && field.attrs.default.is_none() {
                    cx.error_at(action.span, "ON DELETE SET DEFAULT needs a `default` on this field");
                }
            }
        }
    }
}

fn check_field_refs(cx: &Ctxt, cont: &Container) {
    for index in &cont.attrs.indexes {
        match &index.target {
            IndexTarget::Columns(cols) => {
                for (c, _) in cols {
                    require_field(cx, cont, c, "this index");
                }
            }
            IndexTarget::Gin { column, .. } => {
                require_field(cx, cont, column, "this GIN index");
            }
            IndexTarget::FullText { columns, .. } => {
                for c in columns {
                    require_field(cx, cont, c, "this full-text index");
                }
            }
            IndexTarget::Expr(_) => {}
        }
    }
    for unique in &cont.attrs.uniques {
        for c in &unique.columns {
            require_field(cx, cont, c, "this unique constraint");
        }
        if unique.columns.len() == 1 {
            cx.error_at(
                unique.span,
                "for one field write #[dbpat(unique)] on the field itself",
            );
        }
    }
}

fn check_index_names(cx: &Ctxt, cont: &Container) {
    let mut seen = BTreeMap::new();
    for index in &cont.attrs.indexes {
        let name = index_name(cont, index);
        if seen.insert(name.clone(), ()).is_some() {
            let at = index.name.as_ref().map(|n| n.span).unwrap_or(index.span);
            cx.error_at(
                at,
                format!("two indexes are named `{name}`; give this one `name = \"...\"`"),
            );
        }
    }
}

fn check_partition(cx: &Ctxt, cont: &Container) {
    let Some(p) = &cont.attrs.partition else {
        return;
    };
    let Some(field) = require_field(cx, cont, &p.column, "`partition(by = ...)`") else {
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
    let _ = p.span;
}

fn check_cache(cx: &Ctxt, cont: &Container) {
    let Some(cache) = &cont.attrs.cache else {
        return;
    };
    if cache.ttl.is_none() && !cache.ttl_attempted {
        cx.error_at(
            cache.span,
            "a cache policy needs a TTL so no key lives forever: write `cache(ttl = \"15m\")`",
        );
    }
    if cont.primary_key().count() > 1 {
        cx.error_at(
            cache.span,
            "a cached entity needs a single-column primary key (it is the <id> of `<entity>:<id>`)",
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

fn check_identifiers(cx: &Ctxt, cont: &Container) {
    if let Some(t) = &cont.attrs.table {
        if !is_plain_identifier(&t.value) {
            cx.error_at(
                t.span,
                "table names are lower-case letters, digits and `_` (at most 63 bytes)",
            );
        }
    }
    for field in &cont.fields {
        if let Some(c) = &field.attrs.column {
            if !is_plain_identifier(&c.value) {
                cx.error_at(
                    c.span,
                    "column names are lower-case letters, digits and `_` (at most 63 bytes)",
                );
            }
        }
    }
    if let Some(prefix) = cont.attrs.cache.as_ref().and_then(|c| c.prefix.as_ref()) {
        if prefix.value.is_empty() || prefix.value.contains([':', '{', '}', ' ', '*']) {
            cx.error_at(
                prefix.span,
                "a cache key prefix is one key segment: no `:`, `{`, `}`, `*` or spaces",
            );
        }
    }
}
