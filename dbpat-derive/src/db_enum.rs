//! Code generation for `#[derive(DbEnum)]`: a fieldless enum stored as TEXT with a CHECK of
//! its values. The rules are in [`crate::valid`]; this module only emits.

use crate::ast::Enum;
use proc_macro2::TokenStream;
use quote::quote;

/// The impls of a `DbEnum`. With `placeholder` (the fallback of an enum with errors) the
/// `FromStr` body is that expression, as its values may not name distinct fieldless variants.
pub fn expand(e: &Enum, placeholder: Option<&TokenStream>) -> TokenStream {
    let krate = &e.krate();
    let ident = e.ident;
    let name = ident.to_string();
    let idents: Vec<_> = e.variants.iter().map(|v| v.ident).collect();
    let values: Vec<&String> = e.variants.iter().map(|v| &v.value).collect();
    let was = e.variants.iter().flat_map(|v| {
        let value = &v.value;
        v.was.iter().map(move |w| {
            let old = &w.value;
            quote!((#old, #value))
        })
    });
    let from_str = match placeholder {
        Some(placeholder) => quote!(let _ = s; #placeholder),
        None => quote! {
            match s {
                #(#values => ::core::result::Result::Ok(Self::#idents),)*
                _ => ::core::result::Result::Err(#krate::UnknownEnumValue::new(#name, s, Self::VALUES)),
            }
        },
    };
    quote! {
        impl #ident {
            /// Every value this enum is stored as, in declaration order.
            pub const VALUES: &'static [&'static str] = &[#(#values),*];

            /// The TEXT value this variant is stored as.
            pub const fn as_str(&self) -> &'static str {
                match self { #(Self::#idents { .. } => #values,)* }
            }
        }

        impl #krate::ColumnType for #ident {
            type Nullability = #krate::column_type::NotNull;
            type Value = Self;
            const SQL_TYPE: #krate::model::SqlType =
                #krate::model::SqlType::scalar(#krate::model::BaseType::Text);
            const ENUM_VALUES: ::core::option::Option<&'static [&'static str]> =
                ::core::option::Option::Some(Self::VALUES);
            const ENUM_WAS: &'static [(&'static str, &'static str)] = &[#(#was),*];
        }

        // Stored as TEXT: binds and decodes like `&str`, and forms TEXT[] arrays (IN filters,
        // batch inserts).
        impl #krate::__private::sqlx::Type<#krate::__private::sqlx::Postgres> for #ident {
            fn type_info() -> #krate::__private::sqlx::postgres::PgTypeInfo {
                <&str as #krate::__private::sqlx::Type<#krate::__private::sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &#krate::__private::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as #krate::__private::sqlx::Type<#krate::__private::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl #krate::__private::sqlx::postgres::PgHasArrayType for #ident {
            fn array_type_info() -> #krate::__private::sqlx::postgres::PgTypeInfo {
                <&str as #krate::__private::sqlx::postgres::PgHasArrayType>::array_type_info()
            }
            fn array_compatible(ty: &#krate::__private::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as #krate::__private::sqlx::postgres::PgHasArrayType>::array_compatible(ty)
            }
        }

        impl<'q> #krate::__private::sqlx::Encode<'q, #krate::__private::sqlx::Postgres> for #ident {
            fn encode_by_ref(
                &self,
                buf: &mut #krate::__private::sqlx::postgres::PgArgumentBuffer,
            ) -> ::core::result::Result<#krate::__private::sqlx::encode::IsNull, #krate::__private::sqlx::error::BoxDynError> {
                <&str as #krate::__private::sqlx::Encode<'q, #krate::__private::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> #krate::__private::sqlx::Decode<'r, #krate::__private::sqlx::Postgres> for #ident {
            fn decode(
                value: #krate::__private::sqlx::postgres::PgValueRef<'r>,
            ) -> ::core::result::Result<Self, #krate::__private::sqlx::error::BoxDynError> {
                let text = <&str as #krate::__private::sqlx::Decode<'r, #krate::__private::sqlx::Postgres>>::decode(value)?;
                ::core::result::Result::Ok(text.parse::<Self>()?)
            }
        }

        impl #krate::__private::UnnestScalar for #ident {}

        impl #krate::__private::UnnestColumn for #ident {
            fn bind_unnest<'a, I>(
                values: I,
                args: &mut #krate::__private::sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), #krate::__private::sqlx::error::BoxDynError>
            where
                I: ::core::iter::ExactSizeIterator<Item = &'a Self>,
                Self: 'a,
            {
                #krate::__private::unnest_scalars(values, args)
            }

            fn bind_unnest_nullable<'a, I>(
                values: I,
                args: &mut #krate::__private::sqlx::postgres::PgArguments,
            ) -> ::core::result::Result<(), #krate::__private::sqlx::error::BoxDynError>
            where
                I: ::core::iter::ExactSizeIterator<Item = ::core::option::Option<&'a Self>>,
                Self: 'a,
            {
                #krate::__private::unnest_nullable_scalars(values, args)
            }
        }

        impl ::core::fmt::Display for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for #ident {
            type Err = #krate::UnknownEnumValue;
            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                #from_str
            }
        }
    }
}
