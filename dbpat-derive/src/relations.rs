//! The relations of a model: one `Relation<Self, Target>` constant per `references(Target, ...)`
//! field, and `BelongsTo<Target>` for each target referenced by exactly one field.
//!
//! The constant is named after the field without its `_id` suffix (`user_id` → `USER`); when
//! the field has no such suffix, or the name is taken by a column constant, another relation
//! or a reserved name, it is `<FIELD>_REL` (`owner` → `OWNER_REL`). A target referenced by
//! several fields (`from_account`, `to_account`) gets no `BelongsTo`: the user names the
//! relation meant, and `belonging_to` on it is a compile error that says so.

use crate::ast::{Container, Field};
use crate::expand::ref_target;
use crate::types::option_inner;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use std::collections::BTreeSet;

/// A `references(...)` field and the name of its relation constant.
pub struct RelationConst<'c, 'a> {
    /// The field.
    pub field: &'c Field<'a>,
    /// Its position among the model's columns.
    pub index: usize,
    /// The constant's name.
    pub name: String,
}

impl<'a> Container<'a> {
    /// The relation constants, in field order, named so none collides with another constant.
    pub fn relations(&self, taken: &BTreeSet<String>) -> Vec<RelationConst<'_, 'a>> {
        let mut taken = taken.clone();
        let mut out = Vec::new();
        for (index, field) in self.fields.iter().enumerate() {
            if field.attrs.references.is_none() {
                continue;
            }
            let upper = field
                .ident
                .to_string()
                .trim_start_matches("r#")
                .to_ascii_uppercase();
            let name = match upper.strip_suffix("_ID") {
                Some(stem) if !stem.is_empty() && !taken.contains(stem) => stem.to_owned(),
                _ => format!("{upper}_REL"),
            };
            taken.insert(name.clone());
            out.push(RelationConst { field, index, name });
        }
        out
    }
}

/// The relation constants (inside the entity's inherent impl) and the `BelongsTo` impls.
/// With `placeholder` (the fallback of a model with errors) the foreign-key readers are that
/// expression, so code using the relations still compiles and reports nothing more.
pub fn expand(
    cont: &Container,
    taken: &BTreeSet<String>,
    placeholder: Option<&TokenStream>,
) -> (Vec<TokenStream>, TokenStream) {
    let krate = &cont.krate();
    let ident = cont.ident;
    let relations = cont.relations(taken);
    let mut consts = Vec::new();
    let mut targets: Vec<(String, &RelationConst)> = Vec::new();
    for rel in &relations {
        let Some(r) = &rel.field.attrs.references else {
            continue;
        };
        let target = ref_target(cont, r);
        let f = rel.field.ident;
        let field_name = f.to_string();
        let field_name = field_name.trim_start_matches("r#");
        let index = rel.index;
        let cname = syn::Ident::new(&rel.name, f.span());
        let read = match placeholder {
            Some(p) => quote!(|_| #p),
            None if option_inner(rel.field.ty).is_some() => {
                quote!(|row: &#ident| ::core::clone::Clone::clone(&row.#f))
            }
            None => quote!(|row: &#ident| ::core::option::Option::Some(
                ::core::clone::Clone::clone(&row.#f)
            )),
        };
        let doc = format!(
            "The foreign key `{}` to `{}`: the parent of a row (`parent_of`), the rows of a parent (`children_of`), eager loads and joins.",
            rel.field.column,
            quote!(#target).to_string().replace(' ', "")
        );
        let span = r.target_span();
        let key_ty = option_inner(rel.field.ty).unwrap_or(rel.field.ty);
        consts.push(quote_spanned! {span=>
            #[doc = #doc]
            pub const #cname: #krate::Relation<#ident, #target, #key_ty> =
                #krate::Relation::new(#field_name, #index, #read);
        });
        targets.push((quote!(#target).to_string(), rel));
    }
    let mut belongs = Vec::new();
    for (target, rel) in &targets {
        if targets.iter().filter(|(t, _)| t == target).count() != 1 {
            continue;
        }
        let Some(r) = &rel.field.attrs.references else {
            continue;
        };
        let target = ref_target(cont, r);
        let cname = syn::Ident::new(&rel.name, rel.field.ident.span());
        let key_ty = option_inner(rel.field.ty).unwrap_or(rel.field.ty);
        belongs.push(quote! {
            impl #krate::BelongsTo<#target> for #ident {
                type ForeignKey = #key_ty;
                const RELATION: #krate::Relation<#ident, #target, #key_ty> = #ident::#cname;
            }
        });
    }
    (consts, quote!(#(#belongs)*))
}
