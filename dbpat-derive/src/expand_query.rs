//! Code generation for the query API: column constants, `FromRow`, the `Table` glue that binds
//! fields by column position, `find_by_<unique field>` and `search`. All SQL comes from the
//! runtime (`TableSql`), rendered once per entity.

use crate::ast::Container;
use crate::attr::IndexTarget;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

/// Names an entity already uses for its `Entity` constants; a column constant that would shadow
/// one gets a trailing underscore.
const RESERVED_CONSTS: &[&str] = &["TABLE", "TABLE_NAME", "PRIMARY_KEY", "KEY_SQL_TYPE"];

pub fn expand(cont: &Container) -> TokenStream {
    let ident = cont.ident;
    let sqlx = quote!(::dbpat::__private::sqlx);

    let mut consts = Vec::new();
    let mut from_row = Vec::new();
    let mut bind_arms = Vec::new();
    let mut unnest_arms = Vec::new();
    for (i, field) in cont.fields.iter().enumerate() {
        let f = field.ident;
        let ty = field.ty;
        // Every use of the field type goes through `<#ty as ColumnType>::...` spanned at the
        // field type: an unsupported type is one `ColumnType` error there (rustc deduplicates
        // the identical errors of every use).
        let span = ty_span(ty);
        let col = &field.column;
        let raw = f.to_string();
        let mut upper = raw.trim_start_matches("r#").to_ascii_uppercase();
        if RESERVED_CONSTS.contains(&upper.as_str()) {
            upper.push('_');
        }
        let cname = syn::Ident::new(&upper, f.span());
        let doc = format!("The `{col}` column: filter, order and patch by it.");
        consts.push(quote! {
            #[doc = #doc]
            pub const #cname: ::dbpat::Column<#ident, #ty> = ::dbpat::Column::new(#i, #col);
        });
        let decode = quote_spanned!(span=> <#ty as ::dbpat::ColumnType>::__decode);
        from_row.push(quote!(#f: #decode(row, #col)?));
        let bind = quote_spanned!(span=> <#ty as ::dbpat::ColumnType>::__bind);
        bind_arms.push(quote!(#i => #bind(&self.#f, args)));
        let unnest = quote_spanned!(span=> <#ty as ::dbpat::ColumnType>::__bind_unnest);
        unnest_arms.push(quote! {
            #i => #unnest(rows.iter().map(|r| &r.#f), args)
        });
    }

    let keys: Vec<_> = cont.primary_key().collect();
    let (key_ty, key_expr, bind_key) = match keys.as_slice() {
        [one] => {
            let ty = one.ty;
            let f = one.ident;
            let bind = quote_spanned!(ty_span(ty)=> <#ty as ::dbpat::ColumnType>::__bind);
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
            let binds = tys
                .iter()
                .map(|ty| quote_spanned!(ty_span(ty)=> <#ty as ::dbpat::ColumnType>::__bind));
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

    let version = cont
        .fields
        .iter()
        .find(|f| f.attrs.version.is_some())
        .map(|f| {
            let fi = f.ident;
            quote! {
                fn version(&self) -> ::core::option::Option<i64> {
                    ::core::option::Option::Some(::core::convert::From::from(self.#fi))
                }
            }
        });

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
        let value_ty = quote_spanned!(ty_span(ty)=> <#ty as ::dbpat::ColumnType>::Value);
        let value_param = quote_spanned!(ty_span(ty)=> impl ::dbpat::query::IntoValue<#value_ty>);
        // Spanned at the field type as a whole: the `async fn` desugaring checks the signature's
        // `<#ty as ColumnType>::Value` again at the tokens of the `fn` itself.
        finders.push(quote_spanned! {ty_span(ty)=>
            #[doc = #doc]
            pub async fn #name<'e, X>(
                ex: X,
                value: #value_param,
            ) -> ::dbpat::Result<::core::option::Option<Self>>
            where
                X: #sqlx::Executor<'e, Database = #sqlx::Postgres>,
            {
                ::dbpat::__private::find_by_unique::<Self, X, #value_ty>(
                    ex,
                    #i,
                    ::dbpat::query::IntoValue::into_value(value),
                )
                .await
            }
        });
    }
    let has_fulltext = cont
        .attrs
        .indexes
        .iter()
        .any(|i| matches!(i.target, IndexTarget::FullText { .. }));
    let search = has_fulltext.then(|| {
        quote! {
            /// Full-text search: `<the full-text index's to_tsvector(...)> @@
            /// websearch_to_tsquery(<language>, $n)`, the exact expression of the index, so
            /// PostgreSQL uses it. Accepts web-search syntax (`"exact phrase"`, `-exclude`, `or`).
            pub fn search(query: impl ::core::convert::Into<::std::string::String>) -> ::dbpat::Filter<Self> {
                ::dbpat::Filter::search_index(
                    &<Self as ::dbpat::query::TableRow>::sql().fulltext[0],
                    ::core::convert::Into::into(query),
                )
            }
        }
    });

    quote! {
        impl #ident {
            #(#consts)*
            #(#finders)*
            #search
        }

        impl<'r> #sqlx::FromRow<'r, #sqlx::postgres::PgRow> for #ident {
            fn from_row(row: &'r #sqlx::postgres::PgRow) -> ::core::result::Result<Self, #sqlx::Error> {
                ::core::result::Result::Ok(#ident { #(#from_row,)* })
            }
        }

        impl ::dbpat::query::TableRow for #ident {
            type Key = #key_ty;

            fn sql() -> &'static ::dbpat::query::TableSql {
                static MODEL: ::dbpat::model::TableDef = <#ident as ::dbpat::Entity>::TABLE;
                static SQL: ::std::sync::OnceLock<::dbpat::query::TableSql> = ::std::sync::OnceLock::new();
                SQL.get_or_init(|| ::dbpat::query::TableSql::render(&MODEL))
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

fn ty_span(ty: &syn::Type) -> Span {
    syn::spanned::Spanned::span(ty)
}
