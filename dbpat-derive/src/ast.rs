//! The derive input as the rest of the macro sees it: an entity ([`Container`]) with its
//! fields, or a `DbEnum` ([`Enum`]) with its variants, attributes already parsed.
//!
//! Building the AST reports only what makes an input unreadable (an entity that is not a
//! struct with named fields, a `DbEnum` that is not an enum); the rules are in
//! [`crate::valid`].

use crate::attr::{self, ContainerAttrs, EnumAttrs, FieldAttrs};
use crate::case::{apply_rename_rule, default_table_name, snake_case};
use crate::ctxt::Ctxt;
use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::{Data, DeriveInput, Fields, Generics, Ident, Type};

/// A `#[derive(Entity)]` input.
pub struct Container<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// Its generics (an entity may have none).
    pub generics: &'a Generics,
    /// Its struct-level `#[dbpat(...)]` attributes.
    pub attrs: ContainerAttrs,
    /// The SQL table name (`table = "..."`, or the pluralised snake_case name).
    pub table: String,
    /// The fields; empty when the input is not a struct with named fields.
    pub fields: Vec<Field<'a>>,
    /// Whether the input is a struct with named fields (otherwise an error was reported).
    pub named: bool,
}

/// One field of an entity: one column.
pub struct Field<'a> {
    /// The field's name.
    pub ident: &'a Ident,
    /// Its type as written.
    pub ty: &'a Type,
    /// Its `#[dbpat(...)]` attributes.
    pub attrs: FieldAttrs,
    /// The SQL column name (the field name, or `column = "..."`).
    pub column: String,
}

impl<'a> Container<'a> {
    /// Reads a `#[derive(Entity)]` input. One that is not a struct with named fields is
    /// reported and read with no fields, so the fallback can still name the type.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let attrs = attr::parse_container(cx, &input.attrs);
        let table = attrs
            .table
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_else(|| default_table_name(&input.ident.to_string()));
        let named = match &input.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(named) => Some(named),
                _ => {
                    cx.error_spanned_by(
                        &input.ident,
                        "#[derive(Entity)] needs a struct with named fields (one per column)",
                    );
                    None
                }
            },
            _ => {
                cx.error_spanned_by(
                    &input.ident,
                    "#[derive(Entity)] is for structs; for a TEXT + CHECK enum use #[derive(DbEnum)]",
                );
                None
            }
        };
        let fields = named
            .into_iter()
            .flat_map(|named| &named.named)
            .map(|f| {
                let ident = f.ident.as_ref().expect("named field");
                let attrs = attr::parse_field(cx, &f.attrs);
                let column = attrs
                    .column
                    .as_ref()
                    .map(|c| c.value.clone())
                    .unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_owned());
                Field {
                    ident,
                    ty: &f.ty,
                    attrs,
                    column,
                }
            })
            .collect();
        Container {
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            table,
            fields,
            named: named.is_some(),
        }
    }

    /// The path generated code uses for the dbpat facade (`crate = "..."`, else `::dbpat`).
    pub fn krate(&self) -> TokenStream {
        krate_path(self.attrs.krate.as_ref())
    }

    /// The field named `ident` (as written in the attribute).
    pub fn field(&self, ident: &Ident) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| *f.ident == *ident)
    }

    /// The field names, in declaration order.
    pub fn field_names(&self) -> impl Iterator<Item = String> + '_ {
        self.fields.iter().map(|f| f.ident.to_string())
    }

    /// The primary-key fields, in declaration order.
    pub fn primary_key(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.attrs.primary_key.is_some())
    }

    /// The `CachePolicy::key_prefix` of a cached entity: `cache(prefix = "...")`, else the
    /// struct name in snake_case.
    pub fn cache_key_prefix(&self) -> Option<String> {
        let cache = self.attrs.cache.as_ref()?;
        Some(
            cache
                .prefix
                .as_ref()
                .map(|p| p.value.clone())
                .unwrap_or_else(|| snake_case(&self.ident.to_string())),
        )
    }

    /// The `#[dbpat(version)]` field, if any.
    pub fn version_field(&self) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.attrs.version.is_some())
    }
}

/// A `#[derive(DbEnum)]` input.
pub struct Enum<'a> {
    /// The enum's name.
    pub ident: &'a Ident,
    /// Its generics (a `DbEnum` may have none).
    pub generics: &'a Generics,
    /// Its `#[dbpat(...)]` attributes.
    pub attrs: EnumAttrs,
    /// Its variants, in declaration order.
    pub variants: Vec<Variant<'a>>,
}

/// One variant of a `DbEnum`: one TEXT value.
pub struct Variant<'a> {
    /// The variant's name.
    pub ident: &'a Ident,
    /// Its fields (a `DbEnum` variant may have none).
    pub fields: &'a Fields,
    /// The TEXT value it is stored as (the rename, or the enum's rename rule applied).
    pub value: String,
    /// Old values a migration maps to this variant (`was = "..."`).
    pub was: Vec<attr::Spanned<String>>,
}

impl<'a> Enum<'a> {
    /// Reads a `#[derive(DbEnum)]` input; `None` (with an error) when it is not an enum.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = attr::parse_enum(cx, &input.attrs);
        let Data::Enum(data) = &input.data else {
            cx.error_spanned_by(
                &input.ident,
                "#[derive(DbEnum)] is for enums whose variants have no fields",
            );
            return None;
        };
        let rule = attrs.rename_all.as_ref().map_or("snake_case", |r| r.value);
        let variants = data
            .variants
            .iter()
            .map(|v| {
                let attrs = attr::parse_variant(cx, &v.attrs);
                let value = attrs
                    .rename
                    .as_ref()
                    .map(|r| r.value.clone())
                    .unwrap_or_else(|| apply_rename_rule(rule, &v.ident.to_string()));
                Variant {
                    ident: &v.ident,
                    fields: &v.fields,
                    value,
                    was: attrs.was,
                }
            })
            .collect();
        Some(Enum {
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            variants,
        })
    }

    /// The path generated code uses for the dbpat facade (`crate = "..."`, else `::dbpat`).
    pub fn krate(&self) -> TokenStream {
        krate_path(self.attrs.krate.as_ref())
    }
}

fn krate_path(path: Option<&syn::Path>) -> TokenStream {
    match path {
        Some(path) => path.to_token_stream(),
        None => quote!(::dbpat),
    }
}

/// `tokens` with every span set to `span`: the facade path inside `quote_spanned!` code, so
/// the errors of that code point where the rest of it does.
pub fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}
