//! The derive input as the rest of the macro sees it: one container and its fields.

use crate::attr::{self, ContainerAttrs, FieldAttrs};
use crate::case::default_table_name;
use crate::ctxt::Ctxt;
use syn::{Data, DeriveInput, Fields, Ident, Type};

pub struct Container<'a> {
    pub ident: &'a Ident,
    pub attrs: ContainerAttrs,
    pub table: String,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
    /// The SQL column name (the field name, or `column = "..."`).
    pub column: String,
}

impl<'a> Container<'a> {
    /// Reads a `#[derive(Entity)]` input; `None` when it is not a struct with named fields.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let named = match &input.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(named) => named,
                _ => {
                    cx.error_spanned_by(
                        input.ident.clone(),
                        "#[derive(Entity)] needs a struct with named fields (one per column)",
                    );
                    return None;
                }
            },
            _ => {
                cx.error_spanned_by(
                    input.ident.clone(),
                    "#[derive(Entity)] is for structs; for a TEXT + CHECK enum use #[derive(DbEnum)]",
                );
                return None;
            }
        };
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "an entity cannot be generic: a table has one fixed set of column types",
            );
        }
        let attrs = attr::parse_container(cx, &input.attrs);
        let table = attrs
            .table
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_else(|| default_table_name(&input.ident.to_string()));
        let fields = named
            .named
            .iter()
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
        Some(Container {
            ident: &input.ident,
            attrs,
            table,
            fields,
        })
    }

    /// The field named `ident` (as written in the attribute).
    pub fn field(&self, ident: &Ident) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| *f.ident == *ident)
    }

    pub fn field_names(&self) -> impl Iterator<Item = String> + '_ {
        self.fields.iter().map(|f| f.ident.to_string())
    }

    pub fn primary_key(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.attrs.primary_key.is_some())
    }
}
