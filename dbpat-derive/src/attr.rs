//! Parsing of `#[dbpat(...)]` attributes into plain data, with spans kept for errors.
//!
//! The parser only reads. It reports what cannot be read into the AST: bad syntax, a value of
//! the wrong kind, an unknown key or keyword (with a "did you mean"), a key the attribute needs
//! to be read at all (`partition(by = ...)`), and a key written twice ([`Slot`]). Whether what
//! it read makes a sound model — durations above zero, forbidden SQL types, field references,
//! roles — is decided in [`crate::valid`].
//!
//! The grammar is documented in the attribute reference, `docs/models.md`. Parsing never stops at the
//! first problem: each error goes into the [`Ctxt`] and parsing goes on with the next item.

use crate::case::RENAME_RULES;
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
    "crate",
    "renamed_from",
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
    "renamed_from",
];
const CACHE_KEYS: &[&str] = &["ttl", "negative_ttl", "prefix", "write_through", "hash_tag"];
const INDEX_OPTIONS: &[&str] = &[
    "name", "where", "expr", "language", "unique", "gin", "fulltext",
];
const PARTITION_KEYS: &[&str] = &["by", "interval", "from", "count"];
const REFERENCES_OPTIONS: &[&str] = &["on_delete", "no_index"];
const ON_DELETE: &[&str] = &[
    "cascade",
    "restrict",
    "set_null",
    "set_default",
    "no_action",
];

/// A value with the span of the tokens it was read from.
#[derive(Clone)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// An attribute key that may be written once. Writing it again is an error at the second
/// occurrence; the first value is kept, so the rest of the derive sees one consistent model.
///
/// Two keys that fill the same slot (`default` and `default_sql`) conflict the same way.
struct Slot<T> {
    /// What the key is, for the message: "dbpat attribute", "cache option", ...
    context: &'static str,
    /// Why two different keys of this slot cannot both be written.
    conflict: &'static str,
    value: Option<(String, T)>,
}

impl<T> Slot<T> {
    fn new(context: &'static str) -> Self {
        Slot {
            context,
            conflict: "",
            value: None,
        }
    }

    /// A slot that several keys fill; `conflict` says why only one of them can be written.
    fn shared(context: &'static str, conflict: &'static str) -> Self {
        Slot {
            context,
            conflict,
            value: None,
        }
    }

    fn set(&mut self, cx: &Ctxt, key: &str, span: Span, value: T) {
        match &self.value {
            Some((first, _)) if first == key => cx.error_at(
                span,
                format!(
                    "duplicate {} `{key}`; write it once (the first one is kept)",
                    self.context
                ),
            ),
            Some((first, _)) => cx.error_at(
                span,
                format!(
                    "`{key}` conflicts with the `{first}` before it: {}; keep one",
                    self.conflict
                ),
            ),
            None => self.value = Some((key.to_owned(), value)),
        }
    }

    fn get(self) -> Option<T> {
        self.value.map(|(_, v)| v)
    }
}

/// Struct-level `#[dbpat(...)]` attributes of an entity.
#[derive(Default)]
pub struct ContainerAttrs {
    /// `table = "..."`.
    pub table: Option<Spanned<String>>,
    /// `crate = "..."`: the path of the dbpat facade.
    pub krate: Option<syn::Path>,
    /// `cache(...)` (or a bare `cache`).
    pub cache: Option<CacheAttr>,
    /// Every `index(...)`.
    pub indexes: Vec<IndexAttr>,
    /// Every multi-column `unique(...)`.
    pub uniques: Vec<UniqueAttr>,
    /// Every table `check`.
    pub checks: Vec<CheckAttr>,
    /// `partition(...)`.
    pub partition: Option<PartitionAttr>,
    /// `archive`.
    pub archive: bool,
    /// Every `extension = "..."`.
    pub extensions: Vec<String>,
    /// `renamed_from = "..."`: the table's previous name (a migration hint).
    pub renamed_from: Option<Spanned<String>>,
}

/// `cache(...)`.
pub struct CacheAttr {
    /// The `cache` key.
    pub span: Span,
    /// `ttl = ...`, in seconds.
    pub ttl: Option<Spanned<u64>>,
    /// A `ttl` was written (or a misspelling of it), even if its value was rejected: the
    /// "needs a TTL" error would only repeat the error already reported.
    pub ttl_attempted: bool,
    /// `negative_ttl = ...`, in seconds.
    pub negative_ttl: Option<Spanned<u64>>,
    /// `prefix = "..."`.
    pub prefix: Option<Spanned<String>>,
    /// `write_through`.
    pub write_through: bool,
    /// `hash_tag`.
    pub hash_tag: bool,
}

/// What an index is over.
pub enum IndexTarget {
    /// Fields, each ascending (`false`) or descending (`true`); empty when none were written.
    Columns(Vec<(Ident, bool)>),
    /// `gin(field)` or `gin(field, ops = "...")`.
    Gin { column: Ident, ops: Option<String> },
    /// `expr = "..."`.
    Expr(String),
    /// `fulltext(field, ...)` with its `language` (`english` when not written).
    FullText {
        columns: Vec<Ident>,
        language: String,
    },
}

/// `index(...)`.
pub struct IndexAttr {
    /// The `index` key.
    pub span: Span,
    /// `name = "..."`.
    pub name: Option<Spanned<String>>,
    /// `unique`.
    pub unique: bool,
    /// `where = "..."`.
    pub predicate: Option<String>,
    /// What the index is over.
    pub target: IndexTarget,
    /// `language = "..."`, written (it is already in a full-text target).
    pub language: Option<Spanned<String>>,
    /// The first field written beside `gin(...)`, `expr` or `fulltext(...)`.
    pub stray_column: Option<Span>,
}

/// A struct-level `unique(...)`.
pub struct UniqueAttr {
    /// The `unique` key.
    pub span: Span,
    /// `name = "..."`.
    pub name: Option<String>,
    /// The fields, in order.
    pub columns: Vec<Ident>,
}

/// A table `check = "..."` or `check(name = "...", expr = "...")`.
pub struct CheckAttr {
    /// `name = "..."`.
    pub name: Option<String>,
    /// The SQL expression.
    pub expr: String,
}

/// A partition interval.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// `month`.
    Month,
    /// `quarter`.
    Quarter,
}

/// `partition(by = ..., interval = ..., from = "...", count = N)`.
pub struct PartitionAttr {
    /// `by = <field>`.
    pub column: Ident,
    /// `interval = ...`.
    pub interval: Interval,
    /// (year, month) of the first partition, at the `from` key.
    pub from: Spanned<(i32, u32)>,
    /// How many partitions the DDL creates (1 when not written), at its literal.
    pub count: Spanned<u32>,
}

/// A column default as written.
#[derive(Clone)]
pub enum DefaultAttr {
    /// `default = "text"` (a TEXT value, or an enum value).
    Text(String),
    /// `default = 0`, `1.5`, `true`.
    Literal(String),
    /// `default_sql = "..."`.
    Sql(String),
}

/// An ON DELETE action.
#[derive(Clone, Copy)]
pub enum OnDeleteAttr {
    /// `cascade`.
    Cascade,
    /// `restrict`.
    Restrict,
    /// `set_null`.
    SetNull,
    /// `set_default`.
    SetDefault,
    /// `no_action`.
    NoAction,
}

/// `references(Target, on_delete = ..., no_index)`.
pub struct ReferencesAttr {
    /// The `references` key.
    pub span: Span,
    /// The referenced entity (`Self` for a self-reference).
    pub target: syn::Path,
    /// `on_delete = ...`, at the action.
    pub on_delete: Option<Spanned<OnDeleteAttr>>,
    /// `no_index`: no index on the column for the foreign key (see [`crate::fk_index`]).
    pub no_index: Option<Span>,
}

impl ReferencesAttr {
    /// The span of the referenced entity's path (where type errors about it point).
    pub fn target_span(&self) -> Span {
        self.target.span()
    }
}

/// The SQL type named by `sql_type = "..."`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SqlTypeName {
    /// A type the model has: the name of its `BaseType` variant, and NUMERIC's (p, s).
    Base(&'static str, Option<(u8, u8)>),
    /// `json`.
    Json,
    /// `timestamp` (without time zone).
    Timestamp,
    /// `serial`.
    Serial,
    /// `money`.
    Money,
    /// `varchar(...)`, `char(...)`, `character varying`.
    Varchar,
}

/// A `sql_type = "..."` override.
pub struct SqlTypeAttr {
    /// The literal.
    pub span: Span,
    /// The type it names.
    pub name: SqlTypeName,
    /// Written with `[]`.
    pub array: bool,
}

impl SqlTypeAttr {
    /// The base type name and NUMERIC's (p, s); `None` for a refused type.
    pub fn base(&self) -> Option<(&'static str, Option<(u8, u8)>)> {
        match self.name {
            SqlTypeName::Base(base, ps) => Some((base, ps)),
            _ => None,
        }
    }
}

/// Field-level `#[dbpat(...)]` attributes.
#[derive(Default)]
pub struct FieldAttrs {
    /// `primary_key`.
    pub primary_key: Option<Span>,
    /// An unknown key that is a misspelling of `primary_key` (suppresses "no primary key").
    pub primary_key_typo: bool,
    /// `no_default`.
    pub no_default: Option<Span>,
    /// `column = "..."`.
    pub column: Option<Spanned<String>>,
    /// `unique`.
    pub unique: Option<Span>,
    /// `default = ...` or `default_sql = "..."`, at its literal.
    pub default: Option<Spanned<DefaultAttr>>,
    /// Every `check = "..."`.
    pub checks: Vec<String>,
    /// `references(...)`.
    pub references: Option<ReferencesAttr>,
    /// `created_at`.
    pub created_at: Option<Span>,
    /// `updated_at`.
    pub updated_at: Option<Span>,
    /// `version`.
    pub version: Option<Span>,
    /// `numeric(precision = P, scale = S)`, at the `numeric` key.
    pub numeric: Option<Spanned<(u8, u8)>>,
    /// `money`.
    pub money: Option<Span>,
    /// `sql_type = "..."`.
    pub sql_type: Option<SqlTypeAttr>,
    /// `renamed_from = "..."`: the column's previous name (a migration hint).
    pub renamed_from: Option<Spanned<String>>,
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

fn key_of(meta: &ParseNestedMeta) -> String {
    meta.path
        .get_ident()
        .map(|i| i.unraw().to_string())
        .unwrap_or_default()
}

fn lit_str(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    meta.value()?.parse()
}

fn spanned_str(meta: &ParseNestedMeta) -> syn::Result<Spanned<String>> {
    let s = lit_str(meta)?;
    Ok(Spanned {
        value: s.value(),
        span: s.span(),
    })
}

fn no_value(meta: &ParseNestedMeta, key: &str) -> syn::Result<()> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!("`{key}` is a flag and takes no value")));
    }
    Ok(())
}

/// `crate = "path"`: the path generated code uses for the dbpat facade.
fn parse_crate(meta: &ParseNestedMeta) -> syn::Result<syn::Path> {
    let s = lit_str(meta)?;
    s.parse::<syn::Path>().map_err(|_| {
        syn::Error::new(
            s.span(),
            format!(
                "`crate` takes the path of the dbpat crate, e.g. `crate = \"::dbpat\"` or the name it is imported under; {:?} is not a path",
                s.value()
            ),
        )
    })
}

/// Reads the struct-level attributes of `#[derive(Entity)]`.
pub fn parse_container(cx: &Ctxt, attrs: &[Attribute]) -> ContainerAttrs {
    const CONTEXT: &str = "dbpat attribute";
    let mut table = Slot::new(CONTEXT);
    let mut krate = Slot::new(CONTEXT);
    let mut cache = Slot::new(CONTEXT);
    let mut partition = Slot::new(CONTEXT);
    let mut archive = Slot::new(CONTEXT);
    let mut renamed_from = Slot::new(CONTEXT);
    let mut out = ContainerAttrs::default();
    for_each_item(cx, attrs, |key, meta| {
        let span = meta.path.span();
        match key {
            "table" => table.set(cx, key, span, spanned_str(meta)?),
            "crate" => krate.set(cx, key, span, parse_crate(meta)?),
            "cache" => cache.set(cx, key, span, parse_cache(cx, meta)?),
            "index" => out.indexes.push(parse_index(cx, meta)?),
            "unique" => out.uniques.push(parse_unique(cx, meta)?),
            "check" => out.checks.push(parse_check(cx, meta)?),
            "partition" => partition.set(cx, key, span, parse_partition(cx, meta)?),
            "archive" => {
                no_value(meta, key)?;
                archive.set(cx, key, span, ());
            }
            "extension" => out.extensions.push(lit_str(meta)?.value()),
            "renamed_from" => renamed_from.set(cx, key, span, spanned_str(meta)?),
            _ => return Err(unknown(meta, key, "dbpat struct", CONTAINER_KEYS)),
        }
        Ok(())
    });
    out.table = table.get();
    out.krate = krate.get();
    out.cache = cache.get();
    out.partition = partition.get();
    out.archive = archive.get().is_some();
    out.renamed_from = renamed_from.get();
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

/// A duration in seconds, at its literal (zero is read; [`crate::valid`] refuses it).
fn duration(meta: &ParseNestedMeta, key: &str) -> syn::Result<Spanned<u64>> {
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
    Ok(Spanned {
        value: secs,
        span: lit.span(),
    })
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
    if meta.input.peek(Token![=]) {
        return Err(
            meta.error("`cache` takes its options in parentheses: write `cache(ttl = \"15m\")`")
        );
    }
    if !meta.input.peek(syn::token::Paren) {
        // A bare `cache`: read, and refused for its missing TTL by the validation.
        return Ok(cache);
    }
    const CONTEXT: &str = "cache option";
    let mut ttl = Slot::new(CONTEXT);
    let mut negative_ttl = Slot::new(CONTEXT);
    let mut prefix = Slot::new(CONTEXT);
    let mut write_through = Slot::new(CONTEXT);
    let mut hash_tag = Slot::new(CONTEXT);
    let result = meta.parse_nested_meta(|inner| {
        let key = key_of(&inner);
        let span = inner.path.span();
        let r = match key.as_str() {
            "ttl" => {
                cache.ttl_attempted = true;
                duration(&inner, "ttl").map(|s| ttl.set(cx, &key, span, s))
            }
            "negative_ttl" => {
                duration(&inner, "negative_ttl").map(|s| negative_ttl.set(cx, &key, span, s))
            }
            "prefix" => spanned_str(&inner).map(|s| prefix.set(cx, &key, span, s)),
            "write_through" => {
                no_value(&inner, &key).map(|_| write_through.set(cx, &key, span, ()))
            }
            "hash_tag" => no_value(&inner, &key).map(|_| hash_tag.set(cx, &key, span, ())),
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
    cache.ttl = ttl.get();
    cache.negative_ttl = negative_ttl.get();
    cache.prefix = prefix.get();
    cache.write_through = write_through.get().is_some();
    cache.hash_tag = hash_tag.get().is_some();
    Ok(cache)
}

/// Reads `name = "..."`-style options and field lists inside `index(...)`.
fn parse_index(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<IndexAttr> {
    const CONTEXT: &str = "index option";
    let span = meta.path.span();
    let content;
    syn::parenthesized!(content in meta.input);
    let mut columns: Vec<(Ident, bool)> = Vec::new();
    let mut name = Slot::new(CONTEXT);
    let mut predicate = Slot::new(CONTEXT);
    let mut language = Slot::new(CONTEXT);
    let mut unique = Slot::new(CONTEXT);
    let mut kind = Slot::shared(
        CONTEXT,
        "an index is one of gin(...), expr = \"...\" and fulltext(...)",
    );
    while !content.is_empty() {
        let ident = Ident::parse_any(&content)?;
        let key = ident.to_string();
        if content.peek(Token![=]) {
            content.parse::<Token![=]>()?;
            let value: LitStr = content.parse()?;
            let spanned = Spanned {
                value: value.value(),
                span: value.span(),
            };
            match key.as_str() {
                "name" => name.set(cx, &key, ident.span(), spanned),
                "where" => predicate.set(cx, &key, ident.span(), spanned.value),
                "expr" => kind.set(cx, &key, ident.span(), IndexTarget::Expr(spanned.value)),
                "language" => language.set(cx, &key, ident.span(), spanned),
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
                    kind.set(cx, "gin(...)", ident.span(), IndexTarget::Gin { column, ops });
                }
                "fulltext" => {
                    let cols = inner.parse_terminated(<Ident as syn::parse::Parse>::parse, Token![,])?;
                    kind.set(
                        cx,
                        "fulltext(...)",
                        ident.span(),
                        IndexTarget::FullText {
                            columns: cols.into_iter().collect(),
                            language: String::new(),
                        },
                    );
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
            unique.set(cx, &key, ident.span(), ());
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
    let language: Option<Spanned<String>> = language.get();
    let kind = kind.get();
    let stray_column = match kind {
        Some(_) => columns.first().map(|(c, _)| c.span()),
        None => None,
    };
    let target = match kind {
        Some(IndexTarget::FullText { columns, .. }) => IndexTarget::FullText {
            columns,
            language: language
                .as_ref()
                .map(|l| l.value.clone())
                .unwrap_or_else(|| "english".to_owned()),
        },
        Some(target) => target,
        None => IndexTarget::Columns(columns),
    };
    Ok(IndexAttr {
        span,
        name: name.get(),
        unique: unique.get().is_some(),
        predicate: predicate.get(),
        target,
        language,
        stray_column,
    })
}

fn parse_unique(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<UniqueAttr> {
    let span = meta.path.span();
    let content;
    syn::parenthesized!(content in meta.input);
    let mut name = Slot::new("unique option");
    let mut columns = Vec::new();
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
            let value = content.parse::<LitStr>()?.value();
            name.set(cx, "name", ident.span(), value);
        } else {
            columns.push(ident);
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(UniqueAttr {
        span,
        name: name.get(),
        columns,
    })
}

fn parse_check(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<CheckAttr> {
    if meta.input.peek(Token![=]) {
        return Ok(CheckAttr {
            name: None,
            expr: lit_str(meta)?.value(),
        });
    }
    let mut name = Slot::new("check option");
    let mut expr = Slot::new("check option");
    meta.parse_nested_meta(|inner| {
        let key = key_of(&inner);
        let span = inner.path.span();
        match key.as_str() {
            "name" => name.set(cx, &key, span, lit_str(&inner)?.value()),
            "expr" => expr.set(cx, &key, span, lit_str(&inner)?.value()),
            _ => return Err(inner.error("check takes `name = \"...\"` and `expr = \"...\"`")),
        }
        Ok(())
    })?;
    let expr = expr
        .get()
        .ok_or_else(|| meta.error("check needs `expr = \"...\"`, e.g. check = \"balance >= 0\""))?;
    Ok(CheckAttr {
        name: name.get(),
        expr,
    })
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

fn parse_partition(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<PartitionAttr> {
    const CONTEXT: &str = "partition option";
    let span = meta.path.span();
    let mut column = Slot::new(CONTEXT);
    let mut interval = Slot::new(CONTEXT);
    let mut from = Slot::new(CONTEXT);
    let mut count = Slot::new(CONTEXT);
    meta.parse_nested_meta(|inner| {
        let key = key_of(&inner);
        let key_span = inner.path.span();
        match key.as_str() {
            "by" => column.set(cx, &key, key_span, inner.value()?.parse::<Ident>()?),
            "interval" => {
                let ident: Ident = inner.value()?.parse()?;
                let value = match ident.to_string().as_str() {
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
                };
                interval.set(cx, &key, key_span, value);
            }
            "from" => {
                let value = parse_year_month(&lit_str(&inner)?)?;
                from.set(
                    cx,
                    &key,
                    key_span,
                    Spanned {
                        value,
                        span: key_span,
                    },
                );
            }
            "count" => {
                let lit: LitInt = inner.value()?.parse()?;
                let value = Spanned {
                    value: lit.base10_parse()?,
                    span: lit.span(),
                };
                count.set(cx, &key, key_span, value);
            }
            _ => return Err(unknown(&inner, &key, "partition", PARTITION_KEYS)),
        }
        Ok(())
    })?;
    let example = "write e.g. `partition(by = created_at, interval = quarter, from = \"2025-01-01\", count = 2)`";
    let column = column.get().ok_or_else(|| {
        syn::Error::new(span, format!("partition needs `by = <field>`; {example}"))
    })?;
    let interval = interval.get().ok_or_else(|| {
        syn::Error::new(
            span,
            format!("partition needs `interval = month` or `interval = quarter`; {example}"),
        )
    })?;
    let from = from.get().ok_or_else(|| {
        syn::Error::new(span, format!("partition needs `from = \"YYYY-MM-01\"`, the first partition the DDL creates; {example}"))
    })?;
    Ok(PartitionAttr {
        column,
        interval,
        from,
        count: count.get().unwrap_or(Spanned { value: 1, span }),
    })
}

/// Reads the `#[dbpat(...)]` attributes of one field.
pub fn parse_field(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    const CONTEXT: &str = "dbpat attribute";
    let mut primary_key = Slot::new(CONTEXT);
    let mut no_default = Slot::new(CONTEXT);
    let mut column = Slot::new(CONTEXT);
    let mut unique = Slot::new(CONTEXT);
    let mut default = Slot::shared(CONTEXT, "both set the column's default");
    let mut references = Slot::new(CONTEXT);
    let mut created_at = Slot::new(CONTEXT);
    let mut updated_at = Slot::new(CONTEXT);
    let mut version = Slot::new(CONTEXT);
    let mut numeric = Slot::new(CONTEXT);
    let mut money = Slot::new(CONTEXT);
    let mut sql_type = Slot::new(CONTEXT);
    let mut renamed_from = Slot::new(CONTEXT);
    let mut out = FieldAttrs::default();
    for_each_item(cx, attrs, |key, meta| {
        let span = meta.path.span();
        let flag = |slot: &mut Slot<Span>| -> syn::Result<()> {
            no_value(meta, key)?;
            slot.set(cx, key, span, span);
            Ok(())
        };
        match key {
            "primary_key" => flag(&mut primary_key)?,
            "no_default" => flag(&mut no_default)?,
            "column" => column.set(cx, key, span, spanned_str(meta)?),
            "unique" => flag(&mut unique)?,
            "default" => default.set(cx, key, span, parse_default(meta)?),
            "default_sql" => {
                let s = lit_str(meta)?;
                let value = Spanned {
                    value: DefaultAttr::Sql(s.value()),
                    span: s.span(),
                };
                default.set(cx, key, span, value);
            }
            "check" => out.checks.push(lit_str(meta)?.value()),
            "references" => references.set(cx, key, span, parse_references(cx, meta)?),
            "created_at" => flag(&mut created_at)?,
            "updated_at" => flag(&mut updated_at)?,
            "version" => flag(&mut version)?,
            "money" => flag(&mut money)?,
            "numeric" => numeric.set(cx, key, span, parse_numeric(cx, meta)?),
            "sql_type" => sql_type.set(cx, key, span, parse_sql_type(&lit_str(meta)?)?),
            "renamed_from" => renamed_from.set(cx, key, span, spanned_str(meta)?),
            "no_index" => {
                return Err(meta.error(
                    "`no_index` is an option of the foreign key: write `references(Target, on_delete = ..., no_index)` (a column without `references` gets no index)",
                ))
            }
            _ => {
                out.primary_key_typo |=
                    did_you_mean(key, FIELD_KEYS.iter().copied()) == Some("primary_key");
                return Err(unknown(meta, key, "dbpat field", FIELD_KEYS));
            }
        }
        Ok(())
    });
    out.primary_key = primary_key.get();
    out.no_default = no_default.get();
    out.column = column.get();
    out.unique = unique.get();
    out.default = default.get();
    out.references = references.get();
    out.created_at = created_at.get();
    out.updated_at = updated_at.get();
    out.version = version.get();
    out.numeric = numeric.get();
    out.money = money.get();
    out.sql_type = sql_type.get();
    out.renamed_from = renamed_from.get();
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

/// `numeric(precision = P, scale = S)`; the range of P and S is checked by the validation.
fn parse_numeric(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Spanned<(u8, u8)>> {
    let span = meta.path.span();
    let mut precision = Slot::new("numeric option");
    let mut scale = Slot::new("numeric option");
    meta.parse_nested_meta(|inner| {
        let key = key_of(&inner);
        let key_span = inner.path.span();
        let slot = match key.as_str() {
            "precision" => &mut precision,
            "scale" => &mut scale,
            _ => return Err(inner.error("numeric takes `precision = N` and `scale = N`")),
        };
        let lit: LitInt = inner.value()?.parse()?;
        slot.set(cx, &key, key_span, lit.base10_parse::<u8>()?);
        Ok(())
    })?;
    let (Some(p), Some(s)) = (precision.get(), scale.get()) else {
        return Err(syn::Error::new(
            span,
            "write `numeric(precision = 19, scale = 4)`",
        ));
    };
    Ok(Spanned {
        value: (p, s),
        span,
    })
}

fn parse_references(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<ReferencesAttr> {
    const CONTEXT: &str = "references option";
    let span = meta.path.span();
    let content;
    syn::parenthesized!(content in meta.input);
    let target: syn::Path = content.parse()?;
    let mut on_delete = Slot::new(CONTEXT);
    let mut no_index = Slot::new(CONTEXT);
    while !content.is_empty() {
        content.parse::<Token![,]>()?;
        if content.is_empty() {
            break;
        }
        let key: Ident = content.parse()?;
        match key.to_string().as_str() {
            "on_delete" => {}
            "no_index" => {
                if content.peek(Token![=]) || content.peek(syn::token::Paren) {
                    return Err(syn::Error::new(
                        key.span(),
                        "`no_index` is a flag and takes no value: write `references(Target, on_delete = ..., no_index)`",
                    ));
                }
                no_index.set(cx, "no_index", key.span(), key.span());
                continue;
            }
            other => {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown references option `{other}`{}; the options are on_delete = ... and no_index",
                        hint(other, REFERENCES_OPTIONS.iter().copied())
                    ),
                ));
            }
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
        let value = Spanned {
            value,
            span: action.span(),
        };
        on_delete.set(cx, "on_delete", key.span(), value);
    }
    Ok(ReferencesAttr {
        span,
        target,
        on_delete: on_delete.get(),
        no_index: no_index.get(),
    })
}

/// Reads `sql_type = "..."` into a [`SqlTypeName`]; which names are refused, and why, is in
/// [`crate::valid`].
fn parse_sql_type(lit: &LitStr) -> syn::Result<SqlTypeAttr> {
    let raw = lit.value();
    let mut text = raw.trim().to_ascii_lowercase();
    let array = text.ends_with("[]");
    if array {
        text.truncate(text.len() - 2);
        text = text.trim().to_owned();
    }
    let err = |msg: &str| syn::Error::new(lit.span(), msg.to_owned());
    let name = match text.as_str() {
        "uuid" => SqlTypeName::Base("Uuid", None),
        "smallint" | "int2" => SqlTypeName::Base("SmallInt", None),
        "integer" | "int" | "int4" => SqlTypeName::Base("Integer", None),
        "bigint" | "int8" => SqlTypeName::Base("BigInt", None),
        "boolean" | "bool" => SqlTypeName::Base("Boolean", None),
        "text" => SqlTypeName::Base("Text", None),
        "timestamptz" | "timestamp with time zone" => SqlTypeName::Base("TimestampTz", None),
        "date" => SqlTypeName::Base("Date", None),
        "real" | "float4" => SqlTypeName::Base("Real", None),
        "double precision" | "float8" => SqlTypeName::Base("DoublePrecision", None),
        "jsonb" => SqlTypeName::Base("Jsonb", None),
        "bytea" => SqlTypeName::Base("Bytea", None),
        "json" => SqlTypeName::Json,
        "timestamp" | "timestamp without time zone" => SqlTypeName::Timestamp,
        "serial" | "serial4" => SqlTypeName::Serial,
        "money" => SqlTypeName::Money,
        t if t.starts_with("numeric") || t.starts_with("decimal") => {
            let inner = t
                .trim_start_matches("numeric")
                .trim_start_matches("decimal")
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')');
            let nums: Vec<u8> = inner.split(',').filter_map(|n| n.trim().parse().ok()).collect();
            match nums.as_slice() {
                [p, s] => SqlTypeName::Base("Numeric", Some((*p, *s))),
                _ => return Err(err("write the precision and scale, e.g. sql_type = \"numeric(19,4)\"")),
            }
        }
        t if t.starts_with("varchar") || t.starts_with("character") || t.starts_with("char") => {
            SqlTypeName::Varchar
        }
        _ => {
            return Err(err(
                "unknown SQL type; supported: uuid, smallint, integer, bigint, boolean, text, numeric(p,s), timestamptz, date, real, double precision, jsonb, bytea (add [] for an array)",
            ))
        }
    };
    Ok(SqlTypeAttr {
        span: lit.span(),
        name,
        array,
    })
}

/// Enum-level `#[dbpat(...)]` attributes of a `DbEnum`.
#[derive(Default)]
pub struct EnumAttrs {
    /// `rename_all = "..."`, one of [`RENAME_RULES`].
    pub rename_all: Option<Spanned<&'static str>>,
    /// `crate = "..."`: the path of the dbpat facade.
    pub krate: Option<syn::Path>,
}

/// Reads the enum-level attributes of `#[derive(DbEnum)]`.
pub fn parse_enum(cx: &Ctxt, attrs: &[Attribute]) -> EnumAttrs {
    const KEYS: &[&str] = &["rename_all", "crate"];
    let mut rename_all = Slot::new("dbpat attribute");
    let mut krate = Slot::new("dbpat attribute");
    for_each_item(cx, attrs, |key, meta| {
        let span = meta.path.span();
        match key {
            "rename_all" => {
                let s = lit_str(meta)?;
                let value = s.value();
                let Some(rule) = RENAME_RULES.iter().find(|r| **r == value) else {
                    return Err(syn::Error::new(
                        s.span(),
                        format!(
                            "unknown rename rule `{value}`{}; use one of: {}",
                            hint(&value, RENAME_RULES.iter().copied()),
                            RENAME_RULES.join(", ")
                        ),
                    ));
                };
                let value = Spanned {
                    value: *rule,
                    span: s.span(),
                };
                rename_all.set(cx, key, span, value);
            }
            "crate" => krate.set(cx, key, span, parse_crate(meta)?),
            _ => return Err(unknown(meta, key, "DbEnum", KEYS)),
        }
        Ok(())
    });
    EnumAttrs {
        rename_all: rename_all.get(),
        krate: krate.get(),
    }
}

/// The `#[dbpat(...)]` attributes of an enum variant.
pub struct VariantAttrs {
    /// `rename = "..."`: the TEXT value, instead of the enum's rename rule.
    pub rename: Option<Spanned<String>>,
    /// `was = "..."`, once per old value: values a migration maps to this variant (rows
    /// holding them are updated before the new CHECK), for values removed from the enum.
    pub was: Vec<Spanned<String>>,
}

/// `#[dbpat(rename = "...", was = "...")]` on an enum variant.
pub fn parse_variant(cx: &Ctxt, attrs: &[Attribute]) -> VariantAttrs {
    let mut rename = Slot::new("dbpat attribute");
    let mut was = Vec::new();
    for_each_item(cx, attrs, |key, meta| {
        match key {
            "rename" => rename.set(cx, key, meta.path.span(), spanned_str(meta)?),
            "was" => was.push(spanned_str(meta)?),
            _ => return Err(unknown(meta, key, "DbEnum variant", &["rename", "was"])),
        }
        Ok(())
    });
    VariantAttrs {
        rename: rename.get(),
        was,
    }
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

#[cfg(test)]
mod slot_tests {
    use crate::ctxt::Ctxt;
    use syn::parse_quote;

    fn errors(cx: Ctxt) -> Vec<String> {
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_repeated_key_is_an_error_and_the_first_value_is_kept() {
        let item: syn::DeriveInput = parse_quote! {
            #[dbpat(table = "first")]
            #[dbpat(table = "second", archive, archive)]
            struct S;
        };
        let cx = Ctxt::new();
        let attrs = super::parse_container(&cx, &item.attrs);
        assert_eq!(attrs.table.unwrap().value, "first");
        assert!(attrs.archive);
        assert_eq!(
            errors(cx),
            [
                "duplicate dbpat attribute `table`; write it once (the first one is kept)",
                "duplicate dbpat attribute `archive`; write it once (the first one is kept)",
            ]
        );
    }

    #[test]
    fn default_and_default_sql_conflict() {
        let field: syn::Field = parse_quote! {
            #[dbpat(default_sql = "'x'", default = "y")]
            code: String
        };
        let cx = Ctxt::new();
        let attrs = super::parse_field(&cx, &field.attrs);
        assert!(matches!(
            attrs.default.unwrap().value,
            super::DefaultAttr::Sql(_)
        ));
        assert_eq!(
            errors(cx),
            ["`default` conflicts with the `default_sql` before it: both set the column's default; keep one"]
        );
    }
}
