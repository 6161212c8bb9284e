//! Error collection: every problem found in one derive is reported in the same build, in
//! source order.
//!
//! Parsing ([`crate::attr`]) and validation ([`crate::valid`]) push errors here instead of
//! stopping at the first one. [`Ctxt::check`] hands them back sorted by position; a `Ctxt`
//! dropped without being checked is a bug in the macro (its errors would be lost), and panics.

use proc_macro2::Span;
use quote::ToTokens;
use std::cell::RefCell;
use std::fmt::Display;
use std::thread;

/// Gathers errors while parsing and checking; [`Ctxt::check`] hands them back together.
pub struct Ctxt {
    /// `None` once [`Ctxt::check`] has taken the errors.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    /// An empty context; it must be [`Ctxt::check`]ed before it is dropped.
    pub fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// An error at the tokens of `obj`.
    pub fn error_spanned_by<T: ToTokens, M: Display>(&self, obj: T, msg: M) {
        self.push(syn::Error::new_spanned(obj.into_token_stream(), msg));
    }

    /// An error at `span`.
    pub fn error_at<M: Display>(&self, span: Span, msg: M) {
        self.push(syn::Error::new(span, msg));
    }

    /// An error produced by syn while parsing.
    pub fn syn_error(&self, err: syn::Error) {
        self.push(err);
    }

    fn push(&self, err: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt used after check")
            .push(err);
    }

    /// All errors so far, in source order and combined into one, or `Ok` if there were none.
    ///
    /// The order is the position of each error's first token (line, then column). On a
    /// compiler that does not expose span positions (before Rust 1.88) every position reads
    /// as 0 and the stable sort keeps the order in which the errors were found.
    pub fn check(self) -> Result<(), syn::Error> {
        let mut errors = self.errors.borrow_mut().take().expect("Ctxt checked twice");
        errors.sort_by_key(|err| {
            let start = err.span().start();
            (start.line, start.column)
        });
        let mut errors = errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for err in errors {
            combined.combine(err);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !thread::panicking() && self.errors.borrow().is_some() {
            panic!("dbpat-derive: a Ctxt was dropped without checking its errors");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Ctxt;
    use proc_macro2::TokenStream;
    use std::str::FromStr;

    #[test]
    fn errors_come_out_in_source_order() {
        let tokens: Vec<_> = TokenStream::from_str("first\nsecond third")
            .unwrap()
            .into_iter()
            .collect();
        let cx = Ctxt::new();
        cx.error_at(tokens[2].span(), "third");
        cx.error_at(tokens[0].span(), "first");
        cx.error_at(tokens[1].span(), "second");
        let messages: Vec<String> = cx
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages, ["first", "second", "third"]);
    }

    #[test]
    #[should_panic(expected = "without checking")]
    fn an_unchecked_context_panics() {
        let cx = Ctxt::new();
        cx.error_at(proc_macro2::Span::call_site(), "lost");
        drop(cx);
    }
}
