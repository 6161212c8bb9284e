//! Code generation for `#[derive(Entity)]`: the `Entity` impl with its `const TableDef`,
//! compile-time assertions that need the field types, and the link-time registration.

use crate::ast::{Container, Field};
use crate::attr::{DefaultAttr, IndexTarget, Interval, OnDeleteAttr};
use crate::case::snake_case;
use crate::names::{self, column_of};
use crate::types;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};

pub fn expand(cont: &Container) -> TokenStream {
    let ident = cont.ident;
    let table = &cont.table;
    let entity_name = ident.to_string();
    let columns = cont.fields.iter().map(|f| column_def(cont, f));
    let primary_key: Vec<&str> = cont.primary_key().map(|f| f.column.as_str()).collect();
    let key_type = match cont.primary_key().next() {
        Some(f) => sql_type(f),
        None => quote!(::dbpat::model::SqlType::scalar(
            ::dbpat::model::BaseType::Uuid
        )),
    };
    let uniques = uniques(cont);
    let checks = checks(cont);
    let indexes = cont.attrs.indexes.iter().map(|i| index_def(cont, i));
    let partition = partition(cont);
    let archive = cont.attrs.archive;
    let cache = cache(cont);
    let extensions = &cont.attrs.extensions;
    let assertions = assertions(cont);
    let query = crate::expand_query::expand(cont);
    let cache_entity = cache_entity(cont);

    quote! {
        impl ::dbpat::Entity for #ident {
            const TABLE_NAME: &'static str = #table;
            const PRIMARY_KEY: &'static [&'static str] = &[#(#primary_key),*];
            const KEY_SQL_TYPE: ::dbpat::model::SqlType = #key_type;
            const TABLE: ::dbpat::model::TableDef = ::dbpat::model::TableDef {
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
            };
        }

        const _: () = {
            #(#assertions)*
        };

        ::dbpat::__private::inventory::submit! {
            ::dbpat::EntityRegistration::new(&<#ident as ::dbpat::Entity>::TABLE)
        }

        #query

        #cache_entity
    }
}

/// For a cached entity: the `CacheEntity` impl (the id is the single key column). Its serde
/// and `Clone` bounds point at the `cache(...)` attribute when the struct lacks them.
fn cache_entity(cont: &Container) -> TokenStream {
    let keys: Vec<&Field> = cont.primary_key().collect();
    let (Some(cache), [key]) = (&cont.attrs.cache, keys.as_slice()) else {
        return TokenStream::new();
    };
    // Every token at the `cache(...)` attribute, the entity's name too: a missing serde or
    // Clone derive is then reported once, there.
    let ident = syn::Ident::new(&cont.ident.to_string(), cache.span);
    let key_ty = key.ty;
    let key_field = key.ident;
    // Wrapped in a macro of the runtime that drops the impl when dbpat's `cache` feature is
    // off (a proc macro cannot see another crate's features).
    let item = quote_spanned! {cache.span=>
        impl ::dbpat::cache::CacheEntity for #ident {
            type Id = #key_ty;
            fn cache_id(&self) -> Self::Id {
                ::core::clone::Clone::clone(&self.#key_field)
            }
        }
    };
    quote! {
        ::dbpat::__private::if_cache! { #item }
    }
}

fn column_type(field: &Field) -> TokenStream {
    let ty = field.ty;
    quote_spanned!(ty_span(field)=> <#ty as ::dbpat::ColumnType>)
}

fn ty_span(field: &Field) -> Span {
    syn::spanned::Spanned::span(field.ty)
}

/// The field's SQL type: from `ColumnType`, with `money`/`numeric`/`sql_type` applied.
fn sql_type(field: &Field) -> TokenStream {
    let ct = column_type(field);
    if let Some(o) = &field.attrs.sql_type {
        let base = syn::Ident::new(&o.base, Span::call_site());
        let base = match o.precision_scale {
            Some((p, s)) => quote!(::dbpat::model::BaseType::Numeric { precision: #p, scale: #s }),
            None => quote!(::dbpat::model::BaseType::#base),
        };
        let array = o.array;
        return quote!(::dbpat::model::SqlType { base: #base, array: #array });
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

fn default_value(d: &DefaultAttr) -> TokenStream {
    match d {
        DefaultAttr::Text(s) => quote!(::dbpat::model::DefaultValue::Text(#s)),
        DefaultAttr::Literal(s) => quote!(::dbpat::model::DefaultValue::Literal(#s)),
        DefaultAttr::Sql(s) => quote!(::dbpat::model::DefaultValue::Expr(#s)),
    }
}

fn column_def(cont: &Container, field: &Field) -> TokenStream {
    let name = &field.column;
    let field_name = field.ident.to_string();
    let ct = column_type(field);
    let sql_type = sql_type(field);
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
        && !a.no_default
        && a.default.is_none()
        && a.references.is_none()
        && a.created_at.is_none()
        && a.updated_at.is_none()
        && a.version.is_none();
    let (default, generated) = if let Some(d) = &a.default {
        let d = default_value(&d.value);
        (
            quote!(::core::option::Option::Some(#d)),
            quote!(::core::option::Option::None),
        )
    } else if a.created_at.is_some() || a.updated_at.is_some() {
        (
            quote!(::core::option::Option::Some(
                ::dbpat::model::DefaultValue::Expr("NOW()")
            )),
            quote!(::core::option::Option::None),
        )
    } else if a.version.is_some() {
        (
            quote!(::core::option::Option::Some(
                ::dbpat::model::DefaultValue::Literal("1")
            )),
            quote!(::core::option::Option::None),
        )
    } else if generated_key {
        (
            quote!(::dbpat::model::key_default(#sql_type)),
            quote!(::dbpat::model::key_generated(#sql_type)),
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
            quote_spanned! {r.target_span()=>
                ::core::option::Option::Some(::dbpat::model::ForeignKeyDef {
                    name: #fk_name,
                    table: <#target as ::dbpat::Entity>::TABLE_NAME,
                    column: <#target as ::dbpat::Entity>::PRIMARY_KEY[0],
                    on_delete: ::dbpat::model::OnDelete::#on_delete,
                })
            }
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        ::dbpat::model::ColumnDef {
            name: #name,
            field: #field_name,
            sql_type: #sql_type,
            nullable: #ct::NULLABLE,
            default: #default,
            generated: #generated,
            primary_key: #primary_key,
            role: ::dbpat::model::ColumnRole::#role,
            enum_values: #ct::ENUM_VALUES,
            references: #references,
        }
    }
}

fn uniques(cont: &Container) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for field in cont.fields.iter().filter(|f| f.attrs.unique.is_some()) {
        let cols = vec![field.column.clone()];
        let name = names::unique_name(&cont.table, &cols);
        out.push(quote!(::dbpat::model::UniqueDef { name: #name, columns: &[#(#cols),*] }));
    }
    for unique in &cont.attrs.uniques {
        let cols: Vec<String> = unique.columns.iter().map(|c| column_of(cont, c)).collect();
        let name = unique
            .name
            .clone()
            .unwrap_or_else(|| names::unique_name(&cont.table, &cols));
        out.push(quote!(::dbpat::model::UniqueDef { name: #name, columns: &[#(#cols),*] }));
    }
    out
}

fn checks(cont: &Container) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for field in &cont.fields {
        let ct = column_type(field);
        let plain = names::field_check_names(&cont.table, field, false);
        let after_enum = names::field_check_names(&cont.table, field, true);
        for ((expr, plain), after_enum) in field.attrs.checks.iter().zip(plain).zip(after_enum) {
            // An enum column's generated CHECK owns `<table>_<col>_check`.
            out.push(quote! {
                ::dbpat::model::CheckDef {
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
        out.push(quote!(::dbpat::model::CheckDef { name: #name, expr: #expr }));
    }
    out
}

fn index_def(cont: &Container, index: &crate::attr::IndexAttr) -> TokenStream {
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
                quote!(::dbpat::model::IndexKey { column: #col, order: ::dbpat::model::SortOrder::#order })
            });
            quote!(::dbpat::model::IndexKind::BTree(&[#(#keys),*]))
        }
        IndexTarget::Gin { column, ops } => {
            let col = column_of(cont, column);
            let opclass = match (ops, cont.field(column)) {
                (Some(op), _) => quote!(::core::option::Option::Some(#op)),
                (None, Some(f)) => {
                    let st = sql_type(f);
                    quote!(::dbpat::model::gin_default_opclass(#st))
                }
                (None, None) => quote!(::core::option::Option::None),
            };
            quote!(::dbpat::model::IndexKind::Gin { column: #col, opclass: #opclass })
        }
        IndexTarget::Expr(expr) => quote!(::dbpat::model::IndexKind::Expression(#expr)),
        IndexTarget::FullText { columns, language } => {
            let cols = columns.iter().map(|c| column_of(cont, c));
            quote!(::dbpat::model::IndexKind::FullText { language: #language, columns: &[#(#cols),*] })
        }
    };
    quote! {
        ::dbpat::model::IndexDef { name: #name, kind: #kind, unique: #unique, predicate: #predicate }
    }
}

fn partition(cont: &Container) -> TokenStream {
    let Some(p) = &cont.attrs.partition else {
        return quote!(::core::option::Option::None);
    };
    let column = column_of(cont, &p.column);
    let interval = match p.interval {
        Interval::Month => quote!(Month),
        Interval::Quarter => quote!(Quarter),
    };
    let (year, month) = p.from;
    let count = p.count;
    quote! {
        ::core::option::Option::Some(::dbpat::model::PartitionDef {
            column: #column,
            interval: ::dbpat::model::PartitionInterval::#interval,
            first: (#year, #month),
            count: #count,
        })
    }
}

fn cache(cont: &Container) -> TokenStream {
    let Some(c) = &cont.attrs.cache else {
        return quote!(::core::option::Option::None);
    };
    let prefix = c
        .prefix
        .as_ref()
        .map(|p| p.value.clone())
        .unwrap_or_else(|| snake_case(&cont.ident.to_string()));
    let ttl = c.ttl.unwrap_or(0);
    let negative = c.negative_ttl.unwrap_or(60);
    let write = if c.write_through {
        quote!(WriteThrough)
    } else {
        quote!(Invalidate)
    };
    let hash_tag = c.hash_tag;
    quote! {
        ::core::option::Option::Some(::dbpat::model::CachePolicy {
            key_prefix: #prefix,
            ttl_secs: #ttl,
            negative_ttl_secs: #negative,
            write: ::dbpat::model::CacheWrite::#write,
            hash_tag: #hash_tag,
        })
    }
}

/// Rules that need the field types (known only after macro expansion) become `const` asserts
/// spanned at the attribute, so a violation is a compile error pointing there.
fn assertions(cont: &Container) -> Vec<TokenStream> {
    let mut out = Vec::new();
    let me = cont.ident;
    for field in &cont.fields {
        let ct = column_type(field);
        let st = sql_type(field);
        let fname = field.ident.to_string();
        if let Some(d) = &field.attrs.default {
            if let DefaultAttr::Text(value) = &d.value {
                let ty = types::strip_option(field.ty)
                    .to_token_stream()
                    .to_string()
                    .replace(' ', "");
                let msg = escape_braces(&format!(
                    "the default {value:?} of `{fname}` is not a value of `{ty}`; write one of `{ty}::VALUES` (the variant names in snake_case, unless renamed)"
                ));
                out.push(quote_spanned! {d.span=>
                    ::core::assert!(::dbpat::model::enum_allows(#ct::ENUM_VALUES, #value), #msg);
                });
            }
        }
        if let Some(r) = &field.attrs.references {
            let target = ref_target(cont, r);
            let target_name = target.to_string().replace(' ', "");
            let msg_key = escape_braces(&format!("`{fname}` references `{target_name}`, whose primary key has several columns; reference an entity with a single-column key"));
            let msg_type = escape_braces(&format!(
                "the type of `{fname}` differs from the primary key of `{target_name}`; declare `{fname}` with the same type as that key (or an Option of it)"
            ));
            out.push(quote_spanned! {r.target_span()=>
                ::core::assert!(<#target as ::dbpat::Entity>::PRIMARY_KEY.len() == 1, #msg_key);
                ::core::assert!(
                    ::dbpat::model::same_type(#st, <#target as ::dbpat::Entity>::KEY_SQL_TYPE),
                    #msg_type
                );
            });
        }
        if field.attrs.created_at.is_some() || field.attrs.updated_at.is_some() {
            let msg = format!("`{fname}` must be a TIMESTAMPTZ (chrono::DateTime<Utc>)");
            out.push(quote_spanned! {ty_span(field)=>
                ::core::assert!(#st.is_scalar(::dbpat::model::BaseType::TimestampTz), #msg);
            });
        }
        if field.attrs.version.is_some() {
            let msg = format!("the version column `{fname}` must be an integer");
            out.push(quote_spanned! {ty_span(field)=>
                ::core::assert!(!#st.array && #st.base.is_integer(), #msg);
            });
        }
    }
    for index in &cont.attrs.indexes {
        match &index.target {
            IndexTarget::Gin { column, ops: None } => {
                if let Some(f) = cont.field(column) {
                    let st = sql_type(f);
                    let msg = format!("a GIN index on `{column}` needs a JSONB or array column; for a TEXT column use fulltext({column}), for equality and ranges a plain index({column})");
                    out.push(quote_spanned! {column.span()=>
                        ::core::assert!(::dbpat::model::gin_default_opclass(#st).is_some() || #st.array, #msg);
                    });
                }
            }
            IndexTarget::FullText { columns, .. } => {
                for c in columns {
                    if let Some(f) = cont.field(c) {
                        let st = sql_type(f);
                        let msg = format!("full-text search needs TEXT columns; `{c}` is not TEXT: remove it from fulltext(...) and give it its own index({c})");
                        out.push(quote_spanned! {c.span()=>
                            ::core::assert!(#st.is_scalar(::dbpat::model::BaseType::Text), #msg);
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(p) = &cont.attrs.partition {
        if let Some(f) = cont.field(&p.column) {
            let st = sql_type(f);
            let msg = format!(
                "the partition key `{}` of {me} must be TIMESTAMPTZ",
                p.column
            );
            out.push(quote_spanned! {p.column.span()=>
                ::core::assert!(#st.is_scalar(::dbpat::model::BaseType::TimestampTz), #msg);
            });
        }
    }
    out
}

/// The referenced entity's type. `Self` (a self-reference, e.g. a parent id) becomes the
/// entity's name, because the assertions live outside the `impl` where `Self` is unknown.
fn ref_target(cont: &Container, r: &crate::attr::ReferencesAttr) -> TokenStream {
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
