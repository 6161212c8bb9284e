//! `#[derive(DbEnum)]`: a fieldless enum stored as TEXT with a CHECK of its values.

use crate::attr::parse_enum_attrs;
use crate::case::{apply_rename_rule, RENAME_RULES};
use crate::ctxt::Ctxt;
use crate::suggest::hint;
use proc_macro2::TokenStream;
use quote::quote;
use std::collections::BTreeMap;
use syn::{Data, DeriveInput, Fields};

pub fn derive(input: &DeriveInput) -> Result<TokenStream, syn::Error> {
    let cx = Ctxt::new();
    let Data::Enum(data) = &input.data else {
        cx.error_spanned_by(
            &input.ident,
            "#[derive(DbEnum)] is for enums whose variants have no fields",
        );
        return Err(cx.check().unwrap_err());
    };
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(&input.generics, "a DbEnum cannot be generic");
    }
    let rule = parse_enum_attrs(&cx, &input.attrs, true);
    if let Some(r) = &rule {
        if !RENAME_RULES.contains(&r.value.as_str()) {
            cx.error_at(
                r.span,
                format!(
                    "unknown rename rule `{}`{}; use one of: {}",
                    r.value,
                    hint(&r.value, RENAME_RULES.iter().copied()),
                    RENAME_RULES.join(", ")
                ),
            );
        }
    }
    let rule = rule
        .map(|r| r.value)
        .unwrap_or_else(|| "snake_case".to_owned());
    let mut variants = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            cx.error_spanned_by(
                &v.fields,
                "DbEnum variants cannot carry data: each is one TEXT value",
            );
        }
        let rename = parse_enum_attrs(&cx, &v.attrs, false);
        let value = rename
            .map(|r| r.value)
            .unwrap_or_else(|| apply_rename_rule(&rule, &v.ident.to_string()));
        if let Some(first) = seen.insert(value.clone(), v.ident.to_string()) {
            cx.error_spanned_by(
                &v.ident,
                format!("`{}` and `{first}` are both stored as {value:?}", v.ident),
            );
        }
        variants.push((&v.ident, value));
    }
    if variants.is_empty() {
        cx.error_spanned_by(&input.ident, "a DbEnum needs at least one variant");
    }
    cx.check()?;

    let ident = &input.ident;
    let name = ident.to_string();
    let idents: Vec<_> = variants.iter().map(|(i, _)| *i).collect();
    let values: Vec<&String> = variants.iter().map(|(_, v)| v).collect();
    Ok(quote! {
        impl #ident {
            /// Every value this enum is stored as, in declaration order.
            pub const VALUES: &'static [&'static str] = &[#(#values),*];

            /// The TEXT value this variant is stored as.
            pub const fn as_str(&self) -> &'static str {
                match self { #(Self::#idents => #values,)* }
            }
        }

        impl ::dbpat::ColumnType for #ident {
            type Nullability = ::dbpat::column_type::NotNull;
            type Value = Self;
            const SQL_TYPE: ::dbpat::model::SqlType =
                ::dbpat::model::SqlType::scalar(::dbpat::model::BaseType::Text);
            const ENUM_VALUES: ::core::option::Option<&'static [&'static str]> =
                ::core::option::Option::Some(Self::VALUES);
        }

        // Stored as TEXT: binds and decodes like `&str`, and forms TEXT[] arrays (IN filters,
        // batch inserts).
        impl ::dbpat::__private::sqlx::Type<::dbpat::__private::sqlx::Postgres> for #ident {
            fn type_info() -> ::dbpat::__private::sqlx::postgres::PgTypeInfo {
                <&str as ::dbpat::__private::sqlx::Type<::dbpat::__private::sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &::dbpat::__private::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::dbpat::__private::sqlx::Type<::dbpat::__private::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::dbpat::__private::sqlx::postgres::PgHasArrayType for #ident {
            fn array_type_info() -> ::dbpat::__private::sqlx::postgres::PgTypeInfo {
                <&str as ::dbpat::__private::sqlx::postgres::PgHasArrayType>::array_type_info()
            }
            fn array_compatible(ty: &::dbpat::__private::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::dbpat::__private::sqlx::postgres::PgHasArrayType>::array_compatible(ty)
            }
        }

        impl<'q> ::dbpat::__private::sqlx::Encode<'q, ::dbpat::__private::sqlx::Postgres> for #ident {
            fn encode_by_ref(
                &self,
                buf: &mut ::dbpat::__private::sqlx::postgres::PgArgumentBuffer,
            ) -> ::core::result::Result<::dbpat::__private::sqlx::encode::IsNull, ::dbpat::__private::sqlx::error::BoxDynError> {
                <&str as ::dbpat::__private::sqlx::Encode<'q, ::dbpat::__private::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::dbpat::__private::sqlx::Decode<'r, ::dbpat::__private::sqlx::Postgres> for #ident {
            fn decode(
                value: ::dbpat::__private::sqlx::postgres::PgValueRef<'r>,
            ) -> ::core::result::Result<Self, ::dbpat::__private::sqlx::error::BoxDynError> {
                let text = <&str as ::dbpat::__private::sqlx::Decode<'r, ::dbpat::__private::sqlx::Postgres>>::decode(value)?;
                ::core::result::Result::Ok(text.parse::<Self>()?)
            }
        }

        impl ::dbpat::__private::UnnestScalar for #ident {}

        impl ::dbpat::__private::UnnestColumn for #ident {
            fn bind_unnest<'a, I>(
                values: I,
                args: &mut ::dbpat::__private::sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), ::dbpat::__private::sqlx::error::BoxDynError>
            where
                I: ::core::iter::ExactSizeIterator<Item = &'a Self>,
                Self: 'a,
            {
                ::dbpat::__private::unnest_scalars(values, args)
            }

            fn bind_unnest_nullable<'a, I>(
                values: I,
                args: &mut ::dbpat::__private::sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), ::dbpat::__private::sqlx::error::BoxDynError>
            where
                I: ::core::iter::ExactSizeIterator<Item = ::core::option::Option<&'a Self>>,
                Self: 'a,
            {
                ::dbpat::__private::unnest_nullable_scalars(values, args)
            }
        }

        impl ::core::fmt::Display for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for #ident {
            type Err = ::dbpat::UnknownEnumValue;
            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                match s {
                    #(#values => ::core::result::Result::Ok(Self::#idents),)*
                    _ => ::core::result::Result::Err(::dbpat::UnknownEnumValue::new(#name, s, Self::VALUES)),
                }
            }
        }
    })
}
