//! Code generation for the query API: column constants, relation constants (see
//! [`crate::relations`]), `FromRow`, the `Table` glue that binds
//! fields by column position, `find_by_<unique field>` and `search`. All SQL comes from the
//! runtime (`TableSql`), rendered once per entity.

use crate::ast::{respan, Container};
use crate::attr::IndexTarget;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

/// Names an entity already uses for its `Entity` constants; a column constant that would shadow
/// one gets a trailing underscore.
const RESERVED_CONSTS: &[&str] = &["TABLE", "TABLE_NAME", "PRIMARY_KEY", "KEY_SQL_TYPE"];

/// The column constants, `find_by_*`, `search`, `FromRow` and `Table` of a valid model.
pub fn expand(cont: &Container) -> TokenStream {
    let krate = &cont.krate();
    let ident = cont.ident;
    let sqlx = quote!(#krate::__private::sqlx);
    let inherent = inherent_impl(cont, None);

    let mut from_row = Vec::new();
    let mut from_row_at = Vec::new();
    let mut bind_arms = Vec::new();
    let mut unnest_arms = Vec::new();
    for (i, field) in cont.fields.iter().enumerate() {
        let f = field.ident;
        let ty = field.ty;
        // Every use of the field type goes through `<#ty as ColumnType>::...` spanned at the
        // field type: an unsupported type is one `ColumnType` error there (rustc deduplicates
        // the identical errors of every use).
        let span = ty_span(ty);
        let krate = &respan(krate, span);
        let col = &field.column;
        let decode = quote_spanned!(span=> <#ty as #krate::ColumnType>::__decode);
        from_row.push(quote!(#f: #decode(row, #col)?));
        let decode_at = quote_spanned!(span=> <#ty as #krate::ColumnType>::__decode_at);
        from_row_at.push(quote!(#f: #decode_at(row, offset + #i)?));
        let bind = quote_spanned!(span=> <#ty as #krate::ColumnType>::__bind);
        bind_arms.push(quote!(#i => #bind(&self.#f, args)));
        let unnest = quote_spanned!(span=> <#ty as #krate::ColumnType>::__bind_unnest);
        unnest_arms.push(quote! {
            #i => #unnest(rows.iter().map(|r| &r.#f), args)
        });
    }

    let keys: Vec<_> = cont.primary_key().collect();
    let (key_ty, key_expr, bind_key) = match keys.as_slice() {
        [one] => {
            let ty = one.ty;
            let f = one.ident;
            let krate = &respan(krate, ty_span(ty));
            let bind = quote_spanned!(ty_span(ty)=> <#ty as #krate::ColumnType>::__bind);
            (
                quote!(#ty),
                quote!(::core::clone::Clone::clone(&self.#f)),
                quote!(#bind(key, args)),
            )
        }
        many => {
            let tys: Vec<_> = many.iter().map(|k| k.ty).collect();
            let fs = many.iter().map(|k| k.ident);
            let idx = (0..many.len()).map(syn::Index::from);
            let binds = tys.iter().map(|ty| {
                let krate = &respan(krate, ty_span(ty));
                quote_spanned!(ty_span(ty)=> <#ty as #krate::ColumnType>::__bind)
            });
            (
                quote!((#(#tys,)*)),
                quote!((#(::core::clone::Clone::clone(&self.#fs),)*)),
                quote! {
                    #( #binds(&key.#idx, args)?; )*
                    ::core::result::Result::Ok(())
                },
            )
        }
    };

    let version = cont.version_field().map(|f| {
        let fi = f.ident;
        quote! {
            fn version(&self) -> ::core::option::Option<i64> {
                ::core::option::Option::Some(::core::convert::From::from(self.#fi))
            }
        }
    });

    quote! {
        #inherent

        impl<'r> #sqlx::FromRow<'r, #sqlx::postgres::PgRow> for #ident {
            fn from_row(row: &'r #sqlx::postgres::PgRow) -> ::core::result::Result<Self, #sqlx::Error> {
                ::core::result::Result::Ok(#ident { #(#from_row,)* })
            }
        }

        impl #krate::query::TableRow for #ident {
            type Key = #key_ty;

            fn sql() -> &'static #krate::query::TableSql {
                static MODEL: #krate::model::TableDef<'static> = <#ident as #krate::Entity>::TABLE;
                static SQL: ::std::sync::OnceLock<#krate::query::TableSql> = ::std::sync::OnceLock::new();
                SQL.get_or_init(|| #krate::query::TableSql::render(&MODEL))
            }

            fn key(&self) -> Self::Key {
                #key_expr
            }

            fn bind_key(
                key: &Self::Key,
                args: &mut #sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                #bind_key
            }

            fn from_row_at(
                row: &#sqlx::postgres::PgRow,
                offset: usize,
            ) -> ::core::result::Result<Self, #sqlx::Error> {
                ::core::result::Result::Ok(#ident { #(#from_row_at,)* })
            }

            fn bind_column(
                &self,
                index: usize,
                args: &mut #sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                match index {
                    #(#bind_arms,)*
                    _ => ::core::result::Result::Err(::core::convert::From::from("no such column")),
                }
            }

            fn bind_unnest(
                rows: &[Self],
                index: usize,
                args: &mut #sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                match index {
                    #(#unnest_arms,)*
                    _ => ::core::result::Result::Err(::core::convert::From::from("no such column")),
                }
            }

            #version
        }
    }
}

/// `impl Entity { column constants, find_by_<unique field>, search }`. With `placeholder`, every
/// function body is that expression instead (the fallback of a model with errors keeps the
/// signatures, so code using them reports nothing more).
pub fn inherent_impl(cont: &Container, placeholder: Option<&TokenStream>) -> TokenStream {
    let krate = &cont.krate();
    let ident = cont.ident;
    let sqlx = quote!(#krate::__private::sqlx);
    let mut consts = Vec::new();
    let mut taken: std::collections::BTreeSet<String> =
        RESERVED_CONSTS.iter().map(|s| (*s).to_owned()).collect();
    for (i, field) in cont.fields.iter().enumerate() {
        let f = field.ident;
        let ty = field.ty;
        let col = &field.column;
        let raw = f.to_string();
        let mut upper = raw.trim_start_matches("r#").to_ascii_uppercase();
        if RESERVED_CONSTS.contains(&upper.as_str()) {
            upper.push('_');
        }
        taken.insert(upper.clone());
        let cname = syn::Ident::new(&upper, f.span());
        let doc = format!("The `{col}` column: filter, order and patch by it.");
        consts.push(quote! {
            #[doc = #doc]
            pub const #cname: #krate::Column<#ident, #ty> = #krate::Column::new(#i, #col);
        });
    }
    consts.extend(crate::conflict::conflict_consts(cont, &mut taken));
    let mut finders = Vec::new();
    for (i, field) in cont.fields.iter().enumerate() {
        if field.attrs.unique.is_none() {
            continue;
        }
        let ty = field.ty;
        let name = format_ident!(
            "find_by_{}",
            field.ident.to_string().trim_start_matches("r#"),
            span = Span::call_site()
        );
        let doc = format!(
            "The row whose `{}` equals `value` (`SELECT ... WHERE {} = $1`, served by its UNIQUE index).",
            field.column, field.column
        );
        let krate = &respan(krate, ty_span(ty));
        let sqlx = &respan(&sqlx, ty_span(ty));
        let value_ty = quote_spanned!(ty_span(ty)=> <#ty as #krate::ColumnType>::Value);
        let value_param = quote_spanned!(ty_span(ty)=> impl #krate::query::IntoValue<#value_ty>);
        let body = match placeholder {
            Some(placeholder) => quote!(let _ = (ex, value); #placeholder),
            None => quote_spanned! {ty_span(ty)=>
                #krate::__private::find_by_unique::<Self, X, #value_ty>(
                    ex,
                    #i,
                    #krate::query::IntoValue::into_value(value),
                )
                .await
            },
        };
        // Spanned at the field type as a whole: the `async fn` desugaring checks the signature's
        // `<#ty as ColumnType>::Value` again at the tokens of the `fn` itself.
        finders.push(quote_spanned! {ty_span(ty)=>
            #[doc = #doc]
            pub async fn #name<'e, X>(
                ex: X,
                value: #value_param,
            ) -> #krate::Result<::core::option::Option<Self>>
            where
                X: #sqlx::Executor<'e, Database = #sqlx::Postgres>,
            {
                #body
            }
        });
    }
    let has_fulltext = cont
        .attrs
        .indexes
        .iter()
        .any(|i| matches!(i.target, IndexTarget::FullText { .. }));
    let search = has_fulltext.then(|| {
        let body = match placeholder {
            Some(placeholder) => quote!(let _ = query; #placeholder),
            None => quote! {
                #krate::Filter::search_index(
                    &<Self as #krate::query::TableRow>::sql().fulltext[0],
                    ::core::convert::Into::into(query),
                )
            },
        };
        quote! {
            /// Full-text search: `<the full-text index's to_tsvector(...)> @@
            /// websearch_to_tsquery(<language>, $n)`, the exact expression of the index, so
            /// PostgreSQL uses it. Accepts web-search syntax (`"exact phrase"`, `-exclude`, `or`).
            pub fn search(query: impl ::core::convert::Into<::std::string::String>) -> #krate::Filter<Self> {
                #body
            }
        }
    });

    let (relations, belongs_to) = crate::relations::expand(cont, &taken, placeholder);

    quote! {
        impl #ident {
            #(#consts)*
            #(#relations)*
            #(#finders)*
            #search
        }

        #belongs_to
    }
}

fn ty_span(ty: &syn::Type) -> Span {
    syn::spanned::Spanned::span(ty)
}
