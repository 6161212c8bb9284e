//! Code generation for `#[derive(Entity)]` of a valid model: the `Entity` impl with its
//! `const TableDef`, the `const` assertions of the rules that need the field types (decided in
//! [`crate::valid`]), and the link-time registration. A model with errors is expanded by
//! [`crate::fallback`] instead.
//!
//! Every path to the facade goes through `krate` (`#[dbpat(crate = "...")]`, else `::dbpat`).

use crate::ast::{respan, Container, Field};
use crate::attr::{DefaultAttr, IndexTarget, Interval, OnDeleteAttr};
use crate::names::{self, column_of};
use crate::valid::{Requirement, TypeRule};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};

/// The impls of a model that passed validation.
pub fn expand(cont: &Container) -> TokenStream {
    let krate = &cont.krate();
    let ident = cont.ident;
    let table = &cont.table;
    let entity_name = ident.to_string();
    let columns = cont.fields.iter().map(|f| column_def(cont, f));
    let primary_key: Vec<&str> = cont.primary_key().map(|f| f.column.as_str()).collect();
    let key_type = match cont.primary_key().next() {
        Some(f) => sql_type(krate, f),
        None => quote!(#krate::model::SqlType::scalar(
            #krate::model::BaseType::Uuid
        )),
    };
    let uniques = uniques(cont);
    let checks = checks(cont);
    // The declared indexes, then one on each foreign-key column no index leads with.
    let indexes: Vec<TokenStream> = cont
        .attrs
        .indexes
        .iter()
        .map(|i| index_def(cont, i))
        .chain(cont.fk_indexes().iter().map(|i| fk_index_def(cont, i)))
        .collect();
    let partition = partition(cont);
    let archive = cont.attrs.archive;
    let cache = cache(cont);
    let extensions = &cont.attrs.extensions;
    let table_renamed_from = match &cont.attrs.renamed_from {
        Some(old) => {
            let old = &old.value;
            quote!(::core::option::Option::Some(#old))
        }
        None => quote!(::core::option::Option::None),
    };
    let assertions = assertions(cont);
    let query = crate::expand_query::expand(cont);
    let cache_entity = cache_entity(cont);

    quote! {
        impl #krate::Entity for #ident {
            const TABLE_NAME: &'static str = #table;
            const PRIMARY_KEY: &'static [&'static str] = &[#(#primary_key),*];
            const KEY_SQL_TYPE: #krate::model::SqlType = #key_type;
            const TABLE: #krate::model::TableDef<'static> = #krate::model::TableDef {
                name: #table,
                entity: #entity_name,
                columns: &[#(#columns),*],
                primary_key: &[#(#primary_key),*],
                uniques: &[#(#uniques),*],
                checks: &[#(#checks),*],
                indexes: &[#(#indexes),*],
                partition: #partition,
                archive: #archive,
                cache: #cache,
                extensions: &[#(#extensions),*],
                renamed_from: #table_renamed_from,
            };
        }

        // One `const` per assertion: each violation is reported, not only the first.
        #(const _: () = { #assertions };)*

        #krate::__private::inventory::submit! {
            #krate::EntityRegistration::new(&<#ident as #krate::Entity>::TABLE)
        }

        #query

        #cache_entity
    }
}

/// For a cached entity: the `CacheEntity` impl (the id is the single key column). Its serde
/// and `Clone` bounds point at the `cache(...)` attribute when the struct lacks them.
fn cache_entity(cont: &Container) -> TokenStream {
    let krate = &cont.krate();
    let keys: Vec<&Field> = cont.primary_key().collect();
    let (Some(cache), [key]) = (&cont.attrs.cache, keys.as_slice()) else {
        return TokenStream::new();
    };
    // Every token at the `cache(...)` attribute, the entity's name too: a missing serde or
    // Clone derive is then reported once, there.
    let ident = syn::Ident::new(&cont.ident.to_string(), cache.span);
    let key_ty = key.ty;
    let key_field = key.ident;
    let policy = cache_policy(cont, cache);
    let krate = &respan(krate, cache.span);
    // Wrapped in a macro of the runtime that drops the impls when dbpat's `cache` feature is
    // off (a proc macro cannot see another crate's features).
    let item = quote_spanned! {cache.span=>
        impl #krate::cache::CacheEntity for #ident {
            type Id = #key_ty;
            fn cache_id(&self) -> Self::Id {
                ::core::clone::Clone::clone(&self.#key_field)
            }
            fn entity_name() -> &'static str {
                <Self as #krate::Entity>::TABLE.entity
            }
        }
        impl #krate::cache::HasCachePolicy for #ident {
            const POLICY: #krate::model::CachePolicy = #policy;
        }
    };
    quote! {
        #krate::__private::if_cache! { #item }
    }
}

fn column_type(krate: &TokenStream, field: &Field) -> TokenStream {
    let ty = field.ty;
    let krate = &respan(krate, ty_span(field));
    quote_spanned!(ty_span(field)=> <#ty as #krate::ColumnType>)
}

fn ty_span(field: &Field) -> Span {
    syn::spanned::Spanned::span(field.ty)
}

/// The field's SQL type: from `ColumnType`, with `money`/`numeric`/`sql_type` applied.
fn sql_type(krate: &TokenStream, field: &Field) -> TokenStream {
    let ct = column_type(krate, field);
    if let Some(o) = &field.attrs.sql_type {
        // The validation refused every other name; this runs only on a valid model.
        let (base, precision_scale) = o.base().expect("sql_type validated");
        let base = syn::Ident::new(base, Span::call_site());
        let base = match precision_scale {
            Some((p, s)) => quote!(#krate::model::BaseType::Numeric { precision: #p, scale: #s }),
            None => quote!(#krate::model::BaseType::#base),
        };
        let array = o.array;
        return quote!(#krate::model::SqlType { base: #base, array: #array });
    }
    if let Some(n) = &field.attrs.numeric {
        let (p, s) = n.value;
        return quote!(#ct::SQL_TYPE.with_numeric(#p, #s));
    }
    if field.attrs.money.is_some() {
        return quote!(#ct::SQL_TYPE.with_numeric(19u8, 4u8));
    }
    quote!(#ct::SQL_TYPE)
}

fn default_value(krate: &TokenStream, d: &DefaultAttr) -> TokenStream {
    match d {
        DefaultAttr::Text(s) => quote!(#krate::model::DefaultValue::Text(#s)),
        DefaultAttr::Literal(s) => quote!(#krate::model::DefaultValue::Literal(#s)),
        DefaultAttr::Sql(s) => quote!(#krate::model::DefaultValue::Expr(#s)),
    }
}

fn column_def(cont: &Container, field: &Field) -> TokenStream {
    let krate = &cont.krate();
    let name = &field.column;
    let field_name = field.ident.to_string();
    let ct = column_type(krate, field);
    let sql_type = sql_type(krate, field);
    let a = &field.attrs;
    let role = if a.created_at.is_some() {
        quote!(CreatedAt)
    } else if a.updated_at.is_some() {
        quote!(UpdatedAt)
    } else if a.version.is_some() {
        quote!(Version)
    } else {
        quote!(Plain)
    };
    let generated_key = a.primary_key.is_some()
        && a.no_default.is_none()
        && a.default.is_none()
        && a.references.is_none()
        && a.created_at.is_none()
        && a.updated_at.is_none()
        && a.version.is_none();
    let (default, generated) = if let Some(d) = &a.default {
        let d = default_value(krate, &d.value);
        (
            quote!(::core::option::Option::Some(#d)),
            quote!(::core::option::Option::None),
        )
    } else if a.created_at.is_some() || a.updated_at.is_some() {
        (
            quote!(::core::option::Option::Some(
                #krate::model::DefaultValue::Expr("NOW()")
            )),
            quote!(::core::option::Option::None),
        )
    } else if a.version.is_some() {
        (
            quote!(::core::option::Option::Some(
                #krate::model::DefaultValue::Literal("1")
            )),
            quote!(::core::option::Option::None),
        )
    } else if generated_key {
        (
            quote!(#krate::model::key_default(#sql_type)),
            quote!(#krate::model::key_generated(#sql_type)),
        )
    } else {
        (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        )
    };
    let primary_key = a.primary_key.is_some();
    let references = match &a.references {
        Some(r) => {
            let target = ref_target(cont, r);
            let fk_name = names::foreign_key_name(&cont.table, field);
            let on_delete = match r.on_delete.as_ref().map(|o| o.value) {
                Some(OnDeleteAttr::Cascade) | None => quote!(Cascade),
                Some(OnDeleteAttr::Restrict) => quote!(Restrict),
                Some(OnDeleteAttr::SetNull) => quote!(SetNull),
                Some(OnDeleteAttr::SetDefault) => quote!(SetDefault),
                Some(OnDeleteAttr::NoAction) => quote!(NoAction),
            };
            let krate = &respan(krate, r.target_span());
            quote_spanned! {r.target_span()=>
                ::core::option::Option::Some(#krate::model::ForeignKeyDef {
                    name: #fk_name,
                    table: <#target as #krate::Entity>::TABLE_NAME,
                    column: <#target as #krate::Entity>::PRIMARY_KEY[0],
                    on_delete: #krate::model::OnDelete::#on_delete,
                })
            }
        }
        None => quote!(::core::option::Option::None),
    };
    let renamed_from = match &a.renamed_from {
        Some(old) => {
            let old = &old.value;
            quote!(::core::option::Option::Some(#old))
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #krate::model::ColumnDef {
            name: #name,
            field: #field_name,
            sql_type: #sql_type,
            nullable: #ct::NULLABLE,
            default: #default,
            generated: #generated,
            primary_key: #primary_key,
            role: #krate::model::ColumnRole::#role,
            enum_values: #ct::ENUM_VALUES,
            references: #references,
            renamed_from: #renamed_from,
            enum_was: #ct::ENUM_WAS,
        }
    }
}

fn uniques(cont: &Container) -> Vec<TokenStream> {
    let krate = &cont.krate();
    let mut out = Vec::new();
    for field in cont.fields.iter().filter(|f| f.attrs.unique.is_some()) {
        let cols = vec![field.column.clone()];
        let name = names::unique_name(&cont.table, &cols);
        out.push(quote!(#krate::model::UniqueDef { name: #name, columns: &[#(#cols),*] }));
    }
    for unique in &cont.attrs.uniques {
        let cols: Vec<String> = unique.columns.iter().map(|c| column_of(cont, c)).collect();
        let name = unique
            .name
            .clone()
            .unwrap_or_else(|| names::unique_name(&cont.table, &cols));
        out.push(quote!(#krate::model::UniqueDef { name: #name, columns: &[#(#cols),*] }));
    }
    out
}

fn checks(cont: &Container) -> Vec<TokenStream> {
    let krate = &cont.krate();
    let mut out = Vec::new();
    for field in &cont.fields {
        let ct = column_type(krate, field);
        let plain = names::field_check_names(&cont.table, field, false);
        let after_enum = names::field_check_names(&cont.table, field, true);
        for ((expr, plain), after_enum) in field.attrs.checks.iter().zip(plain).zip(after_enum) {
            // An enum column's generated CHECK owns `<table>_<col>_check`.
            out.push(quote! {
                #krate::model::CheckDef {
                    name: if #ct::ENUM_VALUES.is_some() { #after_enum } else { #plain },
                    expr: #expr,
                }
            });
        }
    }
    let mut unnamed = 0;
    for check in &cont.attrs.checks {
        let name = check.name.clone().unwrap_or_else(|| {
            let n = names::table_check_name(&cont.table, unnamed);
            unnamed += 1;
            n
        });
        let expr = &check.expr;
        out.push(quote!(#krate::model::CheckDef { name: #name, expr: #expr }));
    }
    out
}

fn index_def(cont: &Container, index: &crate::attr::IndexAttr) -> TokenStream {
    let krate = &cont.krate();
    let name = names::index_name(cont, index);
    let unique = index.unique;
    let predicate = match &index.predicate {
        Some(p) => quote!(::core::option::Option::Some(#p)),
        None => quote!(::core::option::Option::None),
    };
    let kind = match &index.target {
        IndexTarget::Columns(cols) => {
            let keys = cols.iter().map(|(c, desc)| {
                let col = column_of(cont, c);
                let order = if *desc { quote!(Desc) } else { quote!(Asc) };
                quote!(#krate::model::IndexKey { column: #col, order: #krate::model::SortOrder::#order })
            });
            quote!(#krate::model::IndexKind::BTree(&[#(#keys),*]))
        }
        IndexTarget::Gin { column, ops } => {
            let col = column_of(cont, column);
            let opclass = match (ops, cont.field(column)) {
                (Some(op), _) => quote!(::core::option::Option::Some(#op)),
                (None, Some(f)) => {
                    let st = sql_type(krate, f);
                    quote!(#krate::model::gin_default_opclass(#st))
                }
                (None, None) => quote!(::core::option::Option::None),
            };
            quote!(#krate::model::IndexKind::Gin { column: #col, opclass: #opclass })
        }
        IndexTarget::Expr(expr) => quote!(#krate::model::IndexKind::Expression(#expr)),
        IndexTarget::FullText { columns, language } => {
            let cols = columns.iter().map(|c| column_of(cont, c));
            quote!(#krate::model::IndexKind::FullText { language: #language, columns: &[#(#cols),*] })
        }
    };
    quote! {
        #krate::model::IndexDef { name: #name, kind: #kind, unique: #unique, predicate: #predicate }
    }
}

/// The plain B-tree index on a foreign-key column (see [`crate::fk_index`]).
fn fk_index_def(cont: &Container, index: &crate::fk_index::FkIndex) -> TokenStream {
    let krate = &cont.krate();
    let name = &index.name;
    let column = &index.field.column;
    quote! {
        #krate::model::IndexDef {
            name: #name,
            kind: #krate::model::IndexKind::BTree(&[#krate::model::IndexKey {
                column: #column,
                order: #krate::model::SortOrder::Asc,
            }]),
            unique: false,
            predicate: ::core::option::Option::None,
        }
    }
}

fn partition(cont: &Container) -> TokenStream {
    let krate = &cont.krate();
    let Some(p) = &cont.attrs.partition else {
        return quote!(::core::option::Option::None);
    };
    let column = column_of(cont, &p.column);
    let interval = match p.interval {
        Interval::Month => quote!(Month),
        Interval::Quarter => quote!(Quarter),
    };
    let (year, month) = p.from.value;
    let count = p.count.value;
    quote! {
        ::core::option::Option::Some(#krate::model::PartitionDef {
            column: #column,
            interval: #krate::model::PartitionInterval::#interval,
            first: (#year, #month),
            count: #count,
        })
    }
}

fn cache(cont: &Container) -> TokenStream {
    let Some(c) = &cont.attrs.cache else {
        return quote!(::core::option::Option::None);
    };
    let policy = cache_policy(cont, c);
    quote!(::core::option::Option::Some(#policy))
}

/// The `CachePolicy` literal of a `cache(...)` attribute (also the `CachedEntity::POLICY`).
pub(crate) fn cache_policy(cont: &Container, c: &crate::attr::CacheAttr) -> TokenStream {
    let krate = &cont.krate();
    let prefix = cont.cache_key_prefix().unwrap_or_default();
    let ttl = c.ttl.as_ref().map_or(0, |t| t.value);
    let negative = c.negative_ttl.as_ref().map_or(60, |t| t.value);
    let write = if c.write_through {
        quote!(WriteThrough)
    } else {
        quote!(Invalidate)
    };
    let hash_tag = c.hash_tag;
    quote! {
        #krate::model::CachePolicy {
            key_prefix: #prefix,
            ttl_secs: #ttl,
            negative_ttl_secs: #negative,
            write: #krate::model::CacheWrite::#write,
            hash_tag: #hash_tag,
        }
    }
}

/// The [`TypeRule`]s of the validation as `const` asserts spanned at the attribute each is
/// about, so a violation is a compile error pointing there.
fn assertions(cont: &Container) -> Vec<TokenStream> {
    let krate = &cont.krate();
    cont.type_rules()
        .iter()
        .map(|rule| assertion(cont, krate, rule))
        .collect()
}

fn assertion(cont: &Container, krate: &TokenStream, rule: &TypeRule) -> TokenStream {
    let krate = &respan(krate, rule.span);
    let msg = escape_braces(&rule.message);
    let holds = match &rule.requirement {
        Requirement::EnumValue { field, value } => {
            return enum_value_assertion(krate, rule, field, value);
        }
        Requirement::SingleColumnKey(r) => {
            let target = ref_target(cont, r);
            quote_spanned!(rule.span=> <#target as #krate::Entity>::PRIMARY_KEY.len() == 1)
        }
        Requirement::SameKeyType { field, references } => {
            let target = ref_target(cont, references);
            let st = sql_type(krate, field);
            quote_spanned!(rule.span=> #krate::model::same_type(#st, <#target as #krate::Entity>::KEY_SQL_TYPE))
        }
        Requirement::TimestampTz(field) => {
            let st = sql_type(krate, field);
            quote_spanned!(rule.span=> #st.is_scalar(#krate::model::BaseType::TimestampTz))
        }
        Requirement::Integer(field) => {
            let st = sql_type(krate, field);
            quote_spanned!(rule.span=> !#st.array && #st.base.is_integer())
        }
        Requirement::GinOperand(field) => {
            let st = sql_type(krate, field);
            quote_spanned!(rule.span=> #krate::model::gin_default_opclass(#st).is_some() || #st.array)
        }
        Requirement::Text(field) => {
            let st = sql_type(krate, field);
            quote_spanned!(rule.span=> #st.is_scalar(#krate::model::BaseType::Text))
        }
    };
    quote_spanned! {rule.span=>
        ::core::assert!(#holds, #msg);
    }
}

/// A text default must be one of the enum's values. The message lists them: it is the rule's
/// message with `ENUM_VALUES` joined by ", " appended, built at compile time (a `const` panic
/// takes one `&str`, so the bytes are joined into a fixed-size array first).
fn enum_value_assertion(
    krate: &TokenStream,
    rule: &TypeRule,
    field: &Field,
    value: &str,
) -> TokenStream {
    let ct = column_type(krate, field);
    let krate = &respan(krate, rule.span);
    let head = &rule.message;
    quote_spanned! {rule.span=>
        if !#krate::model::enum_allows(#ct::ENUM_VALUES, #value) {
            const HEAD: &str = #head;
            const VALUES: &[&str] = match #ct::ENUM_VALUES {
                ::core::option::Option::Some(values) => values,
                ::core::option::Option::None => &[],
            };
            const LEN: usize = {
                let mut len = HEAD.len();
                let mut i = 0;
                while i < VALUES.len() {
                    len += VALUES[i].len() + if i == 0 { 0 } else { 2 };
                    i += 1;
                }
                len
            };
            const BYTES: [u8; LEN] = {
                let mut out = [0u8; LEN];
                let mut at = 0;
                let mut i = 0;
                while i <= VALUES.len() {
                    let part = if i == 0 { HEAD.as_bytes() } else { VALUES[i - 1].as_bytes() };
                    if i > 1 {
                        out[at] = b',';
                        out[at + 1] = b' ';
                        at += 2;
                    }
                    let mut j = 0;
                    while j < part.len() {
                        out[at] = part[j];
                        at += 1;
                        j += 1;
                    }
                    i += 1;
                }
                out
            };
            match ::core::str::from_utf8(&BYTES) {
                ::core::result::Result::Ok(message) => ::core::panic!("{}", message),
                ::core::result::Result::Err(_) => ::core::panic!("{}", HEAD),
            }
        }
    }
}

/// The referenced entity's type. `Self` (a self-reference, e.g. a parent id) becomes the
/// entity's name, because the assertions live outside the `impl` where `Self` is unknown.
pub(crate) fn ref_target(cont: &Container, r: &crate::attr::ReferencesAttr) -> TokenStream {
    if r.target.is_ident("Self") {
        let mut ident = cont.ident.clone();
        ident.set_span(r.target_span());
        ident.into_token_stream()
    } else {
        r.target.to_token_stream()
    }
}

/// A message for `assert!` must not be read as a format string.
fn escape_braces(msg: &str) -> String {
    msg.replace('{', "{{").replace('}', "}}")
}
