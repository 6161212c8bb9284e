//! Derive macros of dbpat: `#[derive(Entity)]` and `#[derive(DbEnum)]`.
//!
//! The macros stay thin, in four steps that each do one thing:
//!
//! 1. [`attr`] and [`ast`] read the input and its `#[dbpat(...)]` attributes (syntax, unknown
//!    and repeated keys are reported there);
//! 2. [`valid`] holds every rule and reports each broken one at its span;
//! 3. [`expand`] (with [`expand_query`]) and [`db_enum`] emit the code of a valid input: a
//!    `const` table model plus small glue, all SQL being rendered by the runtime from that
//!    model;
//! 4. an input with errors gets [`fallback`] impls beside its `compile_error!`s, so the code
//!    using it adds no errors of its own.
//!
//! Errors are gathered in a [`ctxt::Ctxt`] and come out together, in source order. Generated
//! code names the facade `::dbpat`, or the path given by `#[dbpat(crate = "...")]`. Use the
//! macros through the `dbpat` crate.

mod ast;
mod attr;
mod case;
mod conflict;
mod ctxt;
mod db_enum;
mod expand;
mod expand_query;
mod fallback;
mod fk_index;
mod names;
mod relations;
mod suggest;
mod types;
mod valid;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Maps a struct to a PostgreSQL table. See the attribute reference, `docs/models.md` in the dbpat repository.
#[proc_macro_derive(Entity, attributes(dbpat))]
pub fn derive_entity(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let cx = ctxt::Ctxt::new();
    let container = ast::Container::from_ast(&cx, &input);
    container.validate(&cx);
    match cx.check() {
        Ok(()) => expand::expand(&container).into(),
        Err(err) => {
            let mut tokens = fallback::entity(&container);
            tokens.extend(err.to_compile_error());
            tokens.into()
        }
    }
}

/// Stores a fieldless enum as TEXT with `CHECK (col IN (...))`; values are snake_case by
/// default (`#[dbpat(rename_all = "...")]`, `#[dbpat(rename = "...")]` to change).
#[proc_macro_derive(DbEnum, attributes(dbpat))]
pub fn derive_db_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let cx = ctxt::Ctxt::new();
    let db_enum = ast::Enum::from_ast(&cx, &input);
    if let Some(db_enum) = &db_enum {
        db_enum.validate(&cx);
    }
    match (cx.check(), db_enum) {
        (Ok(()), Some(db_enum)) => db_enum::expand(&db_enum, None).into(),
        (Err(err), db_enum) => {
            let mut tokens = db_enum.as_ref().map(fallback::db_enum).unwrap_or_default();
            tokens.extend(err.to_compile_error());
            tokens.into()
        }
        (Ok(()), None) => unreachable!("an input that is not an enum always records an error"),
    }
}
