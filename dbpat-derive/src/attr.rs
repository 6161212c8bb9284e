//! Parsing of `#[dbpat(...)]` attributes into plain data, with spans kept for errors.
//!
//! The grammar is documented in the README's attribute reference. Parsing never stops at the
//! first problem: each error goes into the [`Ctxt`] and parsing goes on with the next item.

use crate::ctxt::Ctxt;
use crate::suggest::{did_you_mean, hint};
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::spanned::Spanned as _;
use syn::{Attribute, Ident, Lit, LitInt, LitStr, Token};

/// Struct-level attribute keys.
pub const CONTAINER_KEYS: &[&str] = &[
    "table",
    "cache",
    "index",
    "unique",
    "check",
    "partition",
    "archive",
    "extension",
];
/// Field-level attribute keys.
pub const FIELD_KEYS: &[&str] = &[
    "primary_key",
    "no_default",
    "column",
    "unique",
    "default",
    "default_sql",
    "check",
    "references",
    "created_at",
    "updated_at",
    "version",
    "numeric",
    "money",
    "sql_type",
];
const CACHE_KEYS: &[&str] = &["ttl", "negative_ttl", "prefix", "write_through", "hash_tag"];
const INDEX_OPTIONS: &[&str] = &[
    "name", "where", "expr", "language", "unique", "gin", "fulltext",
];
const PARTITION_KEYS: &[&str] = &["by", "interval", "from", "count"];
const ON_DELETE: &[&str] = &[
    "cascade",
    "restrict",
    "set_null",
    "set_default",
    "no_action",
];

/// A string value with the span of its literal.
#[derive(Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

#[derive(Default)]
pub struct ContainerAttrs {
    pub table: Option<Spanned<String>>,
    pub cache: Option<CacheAttr>,
    pub indexes: Vec<IndexAttr>,
    pub uniques: Vec<UniqueAttr>,
    pub checks: Vec<CheckAttr>,
    pub partition: Option<PartitionAttr>,
    pub archive: bool,
    pub extensions: Vec<String>,
}

pub struct CacheAttr {
    pub span: Span,
    pub ttl: Option<u64>,
    /// A `ttl` was written (or a misspelling of it), even if its value was rejected: the
    /// "needs a TTL" error would only repeat the error already reported.
    pub ttl_attempted: bool,
    pub negative_ttl: Option<u64>,
    pub prefix: Option<Spanned<String>>,
    pub write_through: bool,
    pub hash_tag: bool,
}

pub enum IndexTarget {
    Columns(Vec<(Ident, bool)>),
    Gin {
        column: Ident,
        ops: Option<String>,
    },
    Expr(String),
    FullText {
        columns: Vec<Ident>,
        language: String,
    },
}

pub struct IndexAttr {
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub unique: bool,
    pub predicate: Option<String>,
    pub target: IndexTarget,
}

pub struct UniqueAttr {
    pub span: Span,
    pub name: Option<String>,
    pub columns: Vec<Ident>,
}

pub struct CheckAttr {
    pub name: Option<String>,
    pub expr: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Month,
    Quarter,
}

pub struct PartitionAttr {
    pub span: Span,
    pub column: Ident,
    pub interval: Interval,
    pub from: (i32, u32),
    pub count: u32,
}

#[derive(Clone)]
pub enum DefaultAttr {
    Text(String),
    Literal(String),
    Sql(String),
}

#[derive(Clone, Copy)]
pub enum OnDeleteAttr {
    Cascade,
    Restrict,
    SetNull,
    SetDefault,
    NoAction,
}

pub struct ReferencesAttr {
    pub span: Span,
    pub target: syn::Path,
    pub on_delete: Option<Spanned<OnDeleteAttr>>,
}

impl ReferencesAttr {
    /// The span of the referenced entity's path (where type errors about it point).
    pub fn target_span(&self) -> Span {
        self.target.span()
    }
}

/// A `sql_type = "..."` override, already mapped to the model's base type.
pub struct SqlTypeAttr {
    pub span: Span,
    pub base: String,
    pub precision_scale: Option<(u8, u8)>,
    pub array: bool,
}

#[derive(Default)]
pub struct FieldAttrs {
    pub primary_key: Option<Span>,
    /// An unknown key that is a misspelling of `primary_key` (suppresses "no primary key").
    pub primary_key_typo: bool,
    pub no_default: bool,
    pub column: Option<Spanned<String>>,
    pub unique: Option<Span>,
    pub default: Option<Spanned<DefaultAttr>>,
    pub checks: Vec<String>,
    pub references: Option<ReferencesAttr>,
    pub created_at: Option<Span>,
    pub updated_at: Option<Span>,
    pub version: Option<Span>,
    pub numeric: Option<Spanned<(u8, u8)>>,
    pub money: Option<Span>,
    pub sql_type: Option<SqlTypeAttr>,
}

/// Runs `f` on every item of every `#[dbpat(...)]` attribute; errors go to `cx`.
fn for_each_item(
    cx: &Ctxt,
    attrs: &[Attribute],
    mut f: impl FnMut(&str, &ParseNestedMeta) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("dbpat")) {
        let mut reported = false;
        let result = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.unraw().to_string())
                .unwrap_or_default();
            if let Err(err) = f(&key, &meta) {
                cx.syn_error(err);
                skip_rest(&meta);
                reported = true;
            }
            Ok(())
        });
        // An item that failed inside its `(...)` leaves tokens there, which syn reports as
        // "unexpected token" at the end; that only repeats the error already reported.
        if let Err(err) = result {
            if !reported {
                cx.syn_error(err);
            }
        }
    }
}

/// After an error in one item, consumes its value so the next item still gets parsed.
fn skip_rest(meta: &ParseNestedMeta) {
    let input = meta.input;
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt {
                if p.as_char() == ',' {
                    return Ok(((), rest));
                }
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn unknown(meta: &ParseNestedMeta, key: &str, what: &str, known: &[&str]) -> syn::Error {
    meta.error(format!(
        "unknown {what} attribute `{key}`{}; expected one of: {}",
        hint(key, known.iter().copied()),
        known.join(", ")
    ))
}

fn lit_str(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    meta.value()?.parse()
}

fn no_value(meta: &ParseNestedMeta, key: &str) -> syn::Result<()> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!("`{key}` is a flag and takes no value")));
    }
    Ok(())
}

pub fn parse_container(cx: &Ctxt, attrs: &[Attribute]) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for_each_item(cx, attrs, |key, meta| {
        match key {
            "table" => {
                let s = lit_str(meta)?;
                out.table = Some(Spanned {
                    value: s.value(),
                    span: s.span(),
                });
            }
            "cache" => out.cache = Some(parse_cache(cx, meta)?),
            "index" => out.indexes.push(parse_index(meta)?),
            "unique" => out.uniques.push(parse_unique(meta)?),
            "check" => out.checks.push(parse_check(meta)?),
            "partition" => out.partition = Some(parse_partition(meta)?),
            "archive" => {
                no_value(meta, key)?;
                out.archive = true;
            }
            "extension" => out.extensions.push(lit_str(meta)?.value()),
            _ => return Err(unknown(meta, key, "dbpat struct", CONTAINER_KEYS)),
        }
        Ok(())
    });
    out
}

/// Parses `15m`, `900s`, `1h30m`, `1d`; or a bare integer of seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let mut total = 0u64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        // The unit is the run of non-digits (so "15 minutes" names `minutes`, not ` `).
        let mut word = c.to_string();
        while let Some(&next) = chars.peek().filter(|n| !n.is_ascii_digit()) {
            word.push(next);
            chars.next();
        }
        let word = word.trim();
        let unit = match word {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            _ => return Err(format!("unknown unit `{word}` (units are s, m, h and d)")),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("a number must precede `{word}`"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() {
        return Err("the last number has no unit (s, m, h or d)".into());
    }
    Ok(total)
}

fn duration(meta: &ParseNestedMeta, key: &str) -> syn::Result<u64> {
    let value = meta.value()?;
    let lit: Lit = value.parse()?;
    let secs = match &lit {
        Lit::Int(i) => i.base10_parse::<u64>()?,
        Lit::Str(s) => parse_duration(&s.value()).map_err(|e| {
            syn::Error::new(
                s.span(),
                format!("invalid duration for `{key}`: {e}; write e.g. \"15m\", \"90s\", \"1h\", \"1d\""),
            )
        })?,
        _ => return Err(syn::Error::new(lit.span(), format!("`{key}` takes a duration like \"15m\""))),
    };
    if secs == 0 {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` must be longer than 0 s"),
        ));
    }
    Ok(secs)
}

fn parse_cache(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<CacheAttr> {
    let mut cache = CacheAttr {
        span: meta.path.span(),
        ttl: None,
        ttl_attempted: false,
        negative_ttl: None,
        prefix: None,
        write_through: false,
        hash_tag: false,
    };
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(
            "`cache` needs a TTL: write `cache(ttl = \"15m\")` (every cached key must expire)",
        ));
    }
    let result = meta.parse_nested_meta(|inner| {
        let key = inner
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let r = match key.as_str() {
            "ttl" => {
                cache.ttl_attempted = true;
                duration(&inner, "ttl").map(|s| cache.ttl = Some(s))
            }
            "negative_ttl" => {
                duration(&inner, "negative_ttl").map(|s| cache.negative_ttl = Some(s))
            }
            "prefix" => lit_str(&inner).map(|s| {
                cache.prefix = Some(Spanned {
                    value: s.value(),
                    span: s.span(),
                })
            }),
            "write_through" => no_value(&inner, &key).map(|_| cache.write_through = true),
            "hash_tag" => no_value(&inner, &key).map(|_| cache.hash_tag = true),
            _ => {
                cache.ttl_attempted |=
                    did_you_mean(&key, CACHE_KEYS.iter().copied()) == Some("ttl");
                Err(unknown(&inner, &key, "cache", CACHE_KEYS))
            }
        };
        if let Err(e) = r {
            cx.syn_error(e);
            skip_rest(&inner);
        }
        Ok(())
    });
    result?;
    Ok(cache)
}

/// Reads `name = "..."`-style options and column lists inside `index(...)`/`unique(...)`.
fn parse_index(meta: &ParseNestedMeta) -> syn::Result<IndexAttr> {
    let span = meta.path.span();
    let content;
    syn::parenthesized!(content in meta.input);
    let mut columns: Vec<(Ident, bool)> = Vec::new();
    let mut index = IndexAttr {
        span,
        name: None,
        unique: false,
        predicate: None,
        target: IndexTarget::Columns(Vec::new()),
    };
    let mut target: Option<IndexTarget> = None;
    let mut language: Option<String> = None;
    while !content.is_empty() {
        let ident = Ident::parse_any(&content)?;
        let key = ident.to_string();
        if content.peek(Token![=]) {
            content.parse::<Token![=]>()?;
            let value: LitStr = content.parse()?;
            match key.as_str() {
                "name" => {
                    index.name = Some(Spanned {
                        value: value.value(),
                        span: value.span(),
                    })
                }
                "where" => index.predicate = Some(value.value()),
                "expr" => target = Some(IndexTarget::Expr(value.value())),
                "language" => language = Some(value.value()),
                _ => {
                    return Err(syn::Error::new(
                        ident.span(),
                        format!(
                        "unknown index option `{key}`{}; options are name, where, expr, language",
                        hint(&key, INDEX_OPTIONS.iter().copied())
                    ),
                    ))
                }
            }
        } else if content.peek(syn::token::Paren) {
            let inner;
            syn::parenthesized!(inner in content);
            match key.as_str() {
                "gin" => {
                    let column: Ident = inner.parse()?;
                    let mut ops = None;
                    if inner.peek(Token![,]) {
                        inner.parse::<Token![,]>()?;
                        let k: Ident = inner.parse()?;
                        if k != "ops" {
                            return Err(syn::Error::new(k.span(), "expected `ops = \"...\"`"));
                        }
                        inner.parse::<Token![=]>()?;
                        ops = Some(inner.parse::<LitStr>()?.value());
                    }
                    target = Some(IndexTarget::Gin { column, ops });
                }
                "fulltext" => {
                    let cols = inner.parse_terminated(<Ident as syn::parse::Parse>::parse, Token![,])?;
                    target = Some(IndexTarget::FullText {
                        columns: cols.into_iter().collect(),
                        language: String::new(),
                    });
                }
                _ => {
                    return Err(syn::Error::new(
                        ident.span(),
                        format!(
                            "unknown index kind `{key}(...)`{}; kinds are gin(field) and fulltext(field, ...)",
                            hint(&key, ["gin", "fulltext"])
                        ),
                    ))
                }
            }
        } else if key == "unique" {
            index.unique = true;
        } else {
            let mut desc = false;
            if content.peek(Ident) {
                let order: Ident = content.parse()?;
                match order.to_string().as_str() {
                    "desc" => desc = true,
                    "asc" => {}
                    other => {
                        return Err(syn::Error::new(
                            order.span(),
                            format!("expected `asc`, `desc` or `,` after a field, found `{other}`"),
                        ))
                    }
                }
            }
            columns.push((ident, desc));
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    index.target = match target {
        Some(IndexTarget::FullText { columns: cols, .. }) => IndexTarget::FullText {
            columns: cols,
            language: language.unwrap_or_else(|| "english".to_owned()),
        },
        Some(t) => {
            if !columns.is_empty() {
                return Err(syn::Error::new(
                    columns[0].0.span(),
                    "an index is either over fields, or gin(...), expr = \"...\" or fulltext(...), not both",
                ));
            }
            t
        }
        None if columns.is_empty() => {
            return Err(syn::Error::new(
                span,
                "an index needs fields, e.g. `index(user_id, created_at desc)`, or gin(field), expr = \"...\", fulltext(field, ...)",
            ))
        }
        None => IndexTarget::Columns(columns),
    };
    Ok(index)
}

fn parse_unique(meta: &ParseNestedMeta) -> syn::Result<UniqueAttr> {
    let span = meta.path.span();
    let content;
    syn::parenthesized!(content in meta.input);
    let mut unique = UniqueAttr {
        span,
        name: None,
        columns: Vec::new(),
    };
    while !content.is_empty() {
        let ident = Ident::parse_any(&content)?;
        if content.peek(Token![=]) {
            if ident != "name" {
                return Err(syn::Error::new(
                    ident.span(),
                    "the only unique option is `name = \"...\"`",
                ));
            }
            content.parse::<Token![=]>()?;
            unique.name = Some(content.parse::<LitStr>()?.value());
        } else {
            unique.columns.push(ident);
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    if unique.columns.is_empty() {
        return Err(syn::Error::new(
            span,
            "`unique(...)` needs at least one field",
        ));
    }
    Ok(unique)
}

fn parse_check(meta: &ParseNestedMeta) -> syn::Result<CheckAttr> {
    if meta.input.peek(Token![=]) {
        return Ok(CheckAttr {
            name: None,
            expr: lit_str(meta)?.value(),
        });
    }
    let mut name = None;
    let mut expr = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("name") {
            name = Some(lit_str(&inner)?.value());
        } else if inner.path.is_ident("expr") {
            expr = Some(lit_str(&inner)?.value());
        } else {
            return Err(inner.error("check takes `name = \"...\"` and `expr = \"...\"`"));
        }
        Ok(())
    })?;
    let expr = expr
        .ok_or_else(|| meta.error("check needs `expr = \"...\"`, e.g. check = \"balance >= 0\""))?;
    Ok(CheckAttr { name, expr })
}

/// `"2025-01-01"` or `"2025-01"` → (2025, 1).
fn parse_year_month(s: &LitStr) -> syn::Result<(i32, u32)> {
    let text = s.value();
    let parts: Vec<&str> = text.split('-').collect();
    let bad = || syn::Error::new(s.span(), "expected a date \"YYYY-MM-01\" (or \"YYYY-MM\")");
    if !(parts.len() == 2 || (parts.len() == 3 && parts[2] == "01")) {
        return Err(bad());
    }
    let year: i32 = parts[0].parse().map_err(|_| bad())?;
    let month: u32 = parts[1].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok((year, month))
}

fn parse_partition(meta: &ParseNestedMeta) -> syn::Result<PartitionAttr> {
    let span = meta.path.span();
    let mut column = None;
    let mut interval = None;
    let mut from = None;
    let mut count = 1u32;
    meta.parse_nested_meta(|inner| {
        let key = inner
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        match key.as_str() {
            "by" => column = Some(inner.value()?.parse::<Ident>()?),
            "interval" => {
                let ident: Ident = inner.value()?.parse()?;
                interval = Some(match ident.to_string().as_str() {
                    "month" => Interval::Month,
                    "quarter" => Interval::Quarter,
                    other => {
                        return Err(syn::Error::new(
                            ident.span(),
                            format!(
                                "unknown interval `{other}`{}; use `month` or `quarter`",
                                hint(other, ["month", "quarter"])
                            ),
                        ))
                    }
                });
            }
            "from" => from = Some((parse_year_month(&lit_str(&inner)?)?, inner.path.span())),
            "count" => {
                let lit: LitInt = inner.value()?.parse()?;
                count = lit.base10_parse()?;
                if count == 0 {
                    return Err(syn::Error::new(lit.span(), "`count` must be at least 1"));
                }
            }
            _ => return Err(unknown(&inner, &key, "partition", PARTITION_KEYS)),
        }
        Ok(())
    })?;
    let example = "write e.g. `partition(by = created_at, interval = quarter, from = \"2025-01-01\", count = 2)`";
    let column = column.ok_or_else(|| {
        syn::Error::new(span, format!("partition needs `by = <field>`; {example}"))
    })?;
    let interval = interval.ok_or_else(|| {
        syn::Error::new(
            span,
            format!("partition needs `interval = month` or `interval = quarter`; {example}"),
        )
    })?;
    let ((year, month), from_span) = from.ok_or_else(|| {
        syn::Error::new(span, format!("partition needs `from = \"YYYY-MM-01\"`, the first partition the DDL creates; {example}"))
    })?;
    if interval == Interval::Quarter && (month - 1) % 3 != 0 {
        return Err(syn::Error::new(
            from_span,
            "quarterly partitions start in January, April, July or October",
        ));
    }
    Ok(PartitionAttr {
        span,
        column,
        interval,
        from: (year, month),
        count,
    })
}

pub fn parse_field(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for_each_item(cx, attrs, |key, meta| {
        let span = meta.path.span();
        match key {
            "primary_key" => {
                no_value(meta, key)?;
                out.primary_key = Some(span);
            }
            "no_default" => {
                no_value(meta, key)?;
                out.no_default = true;
            }
            "column" => {
                let s = lit_str(meta)?;
                out.column = Some(Spanned {
                    value: s.value(),
                    span: s.span(),
                });
            }
            "unique" => {
                no_value(meta, key)?;
                out.unique = Some(span);
            }
            "default" => out.default = Some(parse_default(meta)?),
            "default_sql" => {
                let s = lit_str(meta)?;
                out.default = Some(Spanned {
                    value: DefaultAttr::Sql(s.value()),
                    span: s.span(),
                });
            }
            "check" => out.checks.push(lit_str(meta)?.value()),
            "references" => out.references = Some(parse_references(meta)?),
            "created_at" => {
                no_value(meta, key)?;
                out.created_at = Some(span);
            }
            "updated_at" => {
                no_value(meta, key)?;
                out.updated_at = Some(span);
            }
            "version" => {
                no_value(meta, key)?;
                out.version = Some(span);
            }
            "money" => {
                no_value(meta, key)?;
                out.money = Some(span);
            }
            "numeric" => out.numeric = Some(parse_numeric(meta)?),
            "sql_type" => out.sql_type = Some(parse_sql_type(&lit_str(meta)?)?),
            _ => {
                out.primary_key_typo |=
                    did_you_mean(key, FIELD_KEYS.iter().copied()) == Some("primary_key");
                return Err(unknown(meta, key, "dbpat field", FIELD_KEYS));
            }
        }
        Ok(())
    });
    out
}

fn parse_default(meta: &ParseNestedMeta) -> syn::Result<Spanned<DefaultAttr>> {
    let input: ParseStream = meta.value()?;
    let negative = input.peek(Token![-]);
    if negative {
        input.parse::<Token![-]>()?;
    }
    let lit: Lit = input.parse()?;
    let sign = if negative { "-" } else { "" };
    let value = match &lit {
        Lit::Str(s) if !negative => DefaultAttr::Text(s.value()),
        Lit::Int(i) => DefaultAttr::Literal(format!("{sign}{}", i.base10_digits())),
        Lit::Float(f) => DefaultAttr::Literal(format!("{sign}{}", f.base10_digits())),
        Lit::Bool(b) if !negative => DefaultAttr::Literal(b.value.to_string()),
        _ => {
            return Err(syn::Error::new(
                lit.span(),
                "`default` takes a literal (\"text\", 0, 1.5, true); for an SQL expression use `default_sql = \"NOW()\"`",
            ))
        }
    };
    Ok(Spanned {
        value,
        span: lit.span(),
    })
}

fn parse_numeric(meta: &ParseNestedMeta) -> syn::Result<Spanned<(u8, u8)>> {
    let span = meta.path.span();
    let mut precision = None;
    let mut scale = None;
    meta.parse_nested_meta(|inner| {
        let lit: LitInt = inner.value()?.parse()?;
        if inner.path.is_ident("precision") {
            precision = Some(lit.base10_parse::<u8>()?);
        } else if inner.path.is_ident("scale") {
            scale = Some(lit.base10_parse::<u8>()?);
        } else {
            return Err(inner.error("numeric takes `precision = N` and `scale = N`"));
        }
        Ok(())
    })?;
    let (Some(p), Some(s)) = (precision, scale) else {
        return Err(syn::Error::new(
            span,
            "write `numeric(precision = 19, scale = 4)`",
        ));
    };
    if p == 0 || p > 100 || s > p {
        return Err(syn::Error::new(
            span,
            "NUMERIC needs 1 <= precision <= 100 and scale <= precision",
        ));
    }
    Ok(Spanned {
        value: (p, s),
        span,
    })
}

fn parse_references(meta: &ParseNestedMeta) -> syn::Result<ReferencesAttr> {
    let span = meta.path.span();
    let content;
    syn::parenthesized!(content in meta.input);
    let target: syn::Path = content.parse()?;
    let mut on_delete = None;
    while !content.is_empty() {
        content.parse::<Token![,]>()?;
        if content.is_empty() {
            break;
        }
        let key: Ident = content.parse()?;
        if key != "on_delete" {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "unknown references option `{key}`{}; the option is on_delete = ...",
                    hint(&key.to_string(), ["on_delete"])
                ),
            ));
        }
        content.parse::<Token![=]>()?;
        let action: Ident = content.parse()?;
        let value = match action.to_string().as_str() {
            "cascade" => OnDeleteAttr::Cascade,
            "restrict" => OnDeleteAttr::Restrict,
            "set_null" => OnDeleteAttr::SetNull,
            "set_default" => OnDeleteAttr::SetDefault,
            "no_action" => OnDeleteAttr::NoAction,
            other => {
                return Err(syn::Error::new(
                    action.span(),
                    format!(
                        "unknown ON DELETE action `{other}`{}; use one of: {}",
                        hint(other, ON_DELETE.iter().copied()),
                        ON_DELETE.join(", ")
                    ),
                ))
            }
        };
        on_delete = Some(Spanned {
            value,
            span: action.span(),
        });
    }
    Ok(ReferencesAttr {
        span,
        target,
        on_delete,
    })
}

/// Maps `sql_type = "..."` to a base type, refusing the types the seed's checklist forbids.
fn parse_sql_type(lit: &LitStr) -> syn::Result<SqlTypeAttr> {
    let raw = lit.value();
    let mut text = raw.trim().to_ascii_lowercase();
    let array = text.ends_with("[]");
    if array {
        text.truncate(text.len() - 2);
        text = text.trim().to_owned();
    }
    let err = |msg: &str| syn::Error::new(lit.span(), msg.to_owned());
    let (base, precision_scale) = match text.as_str() {
        "uuid" => ("Uuid", None),
        "smallint" | "int2" => ("SmallInt", None),
        "integer" | "int" | "int4" => ("Integer", None),
        "bigint" | "int8" => ("BigInt", None),
        "boolean" | "bool" => ("Boolean", None),
        "text" => ("Text", None),
        "timestamptz" | "timestamp with time zone" => ("TimestampTz", None),
        "date" => ("Date", None),
        "real" | "float4" => ("Real", None),
        "double precision" | "float8" => ("DoublePrecision", None),
        "jsonb" => ("Jsonb", None),
        "bytea" => ("Bytea", None),
        "json" => return Err(err("JSON keeps no index and re-parses on every read: use sql_type = \"jsonb\" (or just a serde_json::Value / Json<T> field, which is JSONB)")),
        "timestamp" | "timestamp without time zone" => return Err(err("TIMESTAMP has no time zone: use sql_type = \"timestamptz\" (or a chrono::DateTime<Utc> field)")),
        "serial" | "serial4" => return Err(err("SERIAL is a 32-bit integer that runs out: use a Uuid or an i64 (BIGINT identity) primary key")),
        "money" => return Err(err("PostgreSQL's MONEY depends on lc_monetary: use `#[dbpat(money)]` on a rust_decimal::Decimal (NUMERIC(19,4))")),
        t if t.starts_with("numeric") || t.starts_with("decimal") => {
            let inner = t
                .trim_start_matches("numeric")
                .trim_start_matches("decimal")
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')');
            let nums: Vec<u8> = inner.split(',').filter_map(|n| n.trim().parse().ok()).collect();
            match nums.as_slice() {
                [p, s] if *p > 0 && s <= p => ("Numeric", Some((*p, *s))),
                _ => return Err(err("write the precision and scale, e.g. sql_type = \"numeric(19,4)\"")),
            }
        }
        t if t.starts_with("varchar") || t.starts_with("character") || t.starts_with("char") => {
            return Err(err("use sql_type = \"text\" (add a CHECK for a length limit)"))
        }
        _ => {
            return Err(err(
                "unknown SQL type; supported: uuid, smallint, integer, bigint, boolean, text, numeric(p,s), timestamptz, date, real, double precision, jsonb, bytea (add [] for an array)",
            ))
        }
    };
    Ok(SqlTypeAttr {
        span: lit.span(),
        base: base.to_owned(),
        precision_scale,
        array,
    })
}

/// `#[dbpat(rename = "...")]` on an enum variant, and `rename_all` on the enum.
pub fn parse_enum_attrs(
    cx: &Ctxt,
    attrs: &[Attribute],
    container: bool,
) -> Option<Spanned<String>> {
    let mut out = None;
    let key_name = if container { "rename_all" } else { "rename" };
    for_each_item(cx, attrs, |key, meta| {
        if key != key_name {
            return Err(unknown(
                meta,
                key,
                if container {
                    "DbEnum"
                } else {
                    "DbEnum variant"
                },
                &[key_name],
            ));
        }
        let s = lit_str(meta)?;
        out = Some(Spanned {
            value: s.value(),
            span: s.span(),
        });
        Ok(())
    });
    out
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("1d"), Ok(86400));
        assert_eq!(parse_duration("60"), Ok(60));
        assert!(parse_duration("15").is_ok());
        assert!(parse_duration("15x").is_err());
        assert!(parse_duration("1h30").is_err());
        assert_eq!(
            parse_duration("15 minutes"),
            Err("unknown unit `minutes` (units are s, m, h and d)".to_owned())
        );
    }
}
