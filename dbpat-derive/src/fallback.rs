//! What a derive emits for an input with errors, beside the errors themselves.
//!
//! A model with a typo in one attribute is still used all over its crate (`User::find`,
//! `User::EMAIL`, `User::TABLE`). If the derive emitted nothing, every one of those uses
//! would add an error of its own ("no function or associated item named ..."), burying the
//! one that matters. So on error the derive still emits the same trait impls and items, with
//! the same names and signatures, whose bodies are placeholders that are never run (the
//! crate does not compile): the only errors are the model's own.
//!
//! What the fallback leaves out: the link-time registration (a broken model is no table) and
//! the `const` assertions (they would repeat or guess). A generic input gets no fallback, as
//! its impls could not be written without the generics it must not have.

use crate::ast::{respan, Container, Enum, Field};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;

/// The body of every fallback function.
fn placeholder(ident: &syn::Ident, derive: &str) -> TokenStream {
    let msg = format!("`{ident}` has errors in its #[derive({derive})]; this is never run");
    quote!(::core::unimplemented!(#msg))
}

/// The key fields the fallback `Table::Key` and `Entity::PRIMARY_KEY` are made of: the
/// primary key, else a field whose `primary_key` was misspelled, else a field named `id`
/// (`()` and `["id"]` when there is none). A guess that makes the code using the entity, and
/// the entities referencing it, compile as they will once the model is fixed.
fn key_fields<'c, 'a>(cont: &'c Container<'a>) -> Vec<&'c Field<'a>> {
    let keys: Vec<_> = cont.primary_key().collect();
    if !keys.is_empty() {
        return keys;
    }
    cont.fields
        .iter()
        .find(|f| f.attrs.primary_key_typo)
        .or_else(|| cont.fields.iter().find(|f| f.ident == "id"))
        .into_iter()
        .collect()
}

/// `Entity`, the column constants and finders, `FromRow`, `Table` and (when cached)
/// `CacheEntity` of an entity with errors.
pub fn entity(cont: &Container) -> TokenStream {
    if !cont.generics.params.is_empty() {
        return TokenStream::new();
    }
    let krate = &cont.krate();
    let sqlx = quote!(#krate::__private::sqlx);
    let ident = cont.ident;
    let table = &cont.table;
    let entity_name = ident.to_string();
    let body = placeholder(ident, "Entity");
    let keys = key_fields(cont);
    // One column when the key is unknown: an entity referencing this one asserts that.
    let primary_key: Vec<&str> = match keys.as_slice() {
        [] => vec!["id"],
        keys => keys.iter().map(|f| f.column.as_str()).collect(),
    };
    let key_sql_type = match keys.first() {
        Some(key) => {
            let ty = key.ty;
            let krate = &respan(krate, ty.span());
            quote_spanned!(ty.span()=> <#ty as #krate::ColumnType>::SQL_TYPE)
        }
        None => quote!(#krate::model::SqlType::scalar(#krate::model::BaseType::Uuid)),
    };
    let key_ty = match keys.as_slice() {
        [one] => {
            let ty = one.ty;
            quote!(#ty)
        }
        many => {
            let tys = many.iter().map(|k| k.ty);
            quote!((#(#tys,)*))
        }
    };
    let inherent = if cont.named {
        crate::expand_query::inherent_impl(cont, Some(&body))
    } else {
        TokenStream::new()
    };
    let version = cont.version_field().map(|_| {
        quote! {
            fn version(&self) -> ::core::option::Option<i64> {
                #body
            }
        }
    });
    let cache_entity = match (&cont.attrs.cache, keys.as_slice()) {
        (Some(cache), [key]) => {
            // At the `cache(...)` attribute, as in the real expansion: a missing serde or
            // Clone derive is the model's own error, reported there.
            let ident = syn::Ident::new(&ident.to_string(), cache.span);
            let key_ty = key.ty;
            let policy = crate::expand::cache_policy(cont, cache);
            let krate = &respan(krate, cache.span);
            let item = quote_spanned! {cache.span=>
                impl #krate::cache::CacheEntity for #ident {
                    type Id = #key_ty;
                    fn cache_id(&self) -> Self::Id {
                        #body
                    }
                }
                impl #krate::cache::HasCachePolicy for #ident {
                    const POLICY: #krate::model::CachePolicy = #policy;
                }
            };
            quote! { #krate::__private::if_cache! { #item } }
        }
        _ => TokenStream::new(),
    };
    quote! {
        impl #krate::Entity for #ident {
            const TABLE_NAME: &'static str = #table;
            const PRIMARY_KEY: &'static [&'static str] = &[#(#primary_key),*];
            const KEY_SQL_TYPE: #krate::model::SqlType = #key_sql_type;
            const TABLE: #krate::model::TableDef<'static> =
                #krate::model::TableDef::new(#table, #entity_name, &[], &[#(#primary_key),*]);
        }

        #inherent

        impl<'r> #sqlx::FromRow<'r, #sqlx::postgres::PgRow> for #ident {
            fn from_row(_: &'r #sqlx::postgres::PgRow) -> ::core::result::Result<Self, #sqlx::Error> {
                #body
            }
        }

        impl #krate::query::TableRow for #ident {
            type Key = #key_ty;

            fn sql() -> &'static #krate::query::TableSql {
                #body
            }

            fn key(&self) -> Self::Key {
                #body
            }

            fn bind_key(
                _: &Self::Key,
                _: &mut #sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                #body
            }

            fn from_row_at(
                _: &#sqlx::postgres::PgRow,
                _: usize,
            ) -> ::core::result::Result<Self, #sqlx::Error> {
                #body
            }

            fn bind_column(
                &self,
                _: usize,
                _: &mut #sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                #body
            }

            fn bind_unnest(
                _: &[Self],
                _: usize,
                _: &mut #sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                #body
            }

            #version
        }

        #cache_entity
    }
}

/// Every impl of a `DbEnum` with errors; only `FromStr` (which would need distinct values of
/// fieldless variants) is a placeholder.
pub fn db_enum(e: &Enum) -> TokenStream {
    if !e.generics.params.is_empty() {
        return TokenStream::new();
    }
    crate::db_enum::expand(e, Some(&placeholder(e.ident, "DbEnum")))
}
