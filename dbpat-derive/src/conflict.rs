//! The conflict targets of upserts: one `ConflictTarget<Self>` constant per unique key of the
//! model — `PKEY` (the primary key), `<FIELD>_KEY` for a `#[dbpat(unique)]` field and
//! `<A>_<B>_KEY` for a struct-level `unique(a, b)` — and no other, so an upsert on anything
//! that is not a unique key of the model does not compile. The fallback expansion of a model
//! with errors emits the same constants (they are plain data, no placeholder needed).

use crate::ast::Container;
use crate::names::column_of;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use std::collections::BTreeSet;

/// `name`, or `name_`, `name__`, ... if a constant of the entity already has it.
fn free_name(mut name: String, taken: &mut BTreeSet<String>) -> String {
    while taken.contains(&name) {
        name.push('_');
    }
    taken.insert(name.clone());
    name
}

fn upper(ident: &syn::Ident) -> String {
    ident
        .to_string()
        .trim_start_matches("r#")
        .to_ascii_uppercase()
}

/// The `ConflictTarget` constants; `taken` holds the names of the entity's other constants.
pub fn conflict_consts(cont: &Container, taken: &mut BTreeSet<String>) -> Vec<TokenStream> {
    let krate = &cont.krate();
    let ident = cont.ident;
    // (constant name, SQL columns, what it is)
    let mut keys: Vec<(String, Vec<String>, String)> = Vec::new();
    let mut pk: Vec<String> = cont.primary_key().map(|f| f.column.clone()).collect();
    if pk.is_empty() {
        // Only in the fallback of a model without a primary key: keep `PKEY` so code using it
        // reports nothing more than the model's own error.
        pk.push("id".to_owned());
    }
    keys.push(("PKEY".to_owned(), pk, "the primary key".to_owned()));
    for field in cont.fields.iter().filter(|f| f.attrs.unique.is_some()) {
        keys.push((
            format!("{}_KEY", upper(field.ident)),
            vec![field.column.clone()],
            format!("the `unique` field `{}`", field.ident),
        ));
    }
    for unique in &cont.attrs.uniques {
        if unique.columns.is_empty() {
            continue;
        }
        let name: Vec<String> = unique.columns.iter().map(upper).collect();
        let cols: Vec<String> = unique.columns.iter().map(|c| column_of(cont, c)).collect();
        keys.push((
            format!("{}_KEY", name.join("_")),
            cols.clone(),
            format!("the `unique({})` constraint", cols.join(", ")),
        ));
    }
    let mut seen: Vec<Vec<String>> = Vec::new();
    let mut out = Vec::new();
    for (name, cols, what) in keys {
        if seen.contains(&cols) {
            continue;
        }
        seen.push(cols.clone());
        let name = syn::Ident::new(&free_name(name, taken), Span::call_site());
        let doc = format!(
            "Upsert conflict target: {what}, `ON CONFLICT ({})`. Use with \
             `upsert(ex, &row).on(...)`.",
            cols.join(", ")
        );
        out.push(quote! {
            #[doc = #doc]
            pub const #name: #krate::query::ConflictTarget<#ident> =
                #krate::query::ConflictTarget::new(&[#(#cols),*]);
        });
    }
    out
}
