//! Derive macros of dbpat: `#[derive(Entity)]` and `#[derive(DbEnum)]`.
//!
//! The macros stay thin. They parse the `#[dbpat(...)]` attributes ([`attr`]), check them against
//! the seed's checklist ([`check`]), collecting every error with its span in a [`ctxt::Ctxt`],
//! and emit a `const` table model plus small glue ([`expand`]). All SQL is rendered by the
//! runtime from that model. Use them through the `dbpat` crate.

mod ast;
mod attr;
mod case;
mod check;
mod ctxt;
mod db_enum;
mod expand;
mod expand_query;
mod names;
mod suggest;
mod types;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Maps a struct to a PostgreSQL table. See the dbpat README's attribute reference.
#[proc_macro_derive(Entity, attributes(dbpat))]
pub fn derive_entity(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let cx = ctxt::Ctxt::new();
    let container = ast::Container::from_ast(&cx, &input);
    if let Some(container) = &container {
        check::check(&cx, container);
    }
    match (cx.check(), container) {
        (Ok(()), Some(container)) => expand::expand(&container).into(),
        (Err(err), _) => ctxt::to_compile_errors(err).into(),
        (Ok(()), None) => unreachable!("a missing container always records an error"),
    }
}

/// Stores a fieldless enum as TEXT with `CHECK (col IN (...))`; values are snake_case by
/// default (`#[dbpat(rename_all = "...")]`, `#[dbpat(rename = "...")]` to change).
#[proc_macro_derive(DbEnum, attributes(dbpat))]
pub fn derive_db_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match db_enum::derive(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}
