//! `docs/keyspaces.md` as a doctest: every ```rust block of the page compiles and runs against
//! the local servers of `scripts/services` (`cargo test -p dbpat --doc`).
#![cfg(doctest)]
#[doc = include_str!("../docs/keyspaces.md")]
pub struct Keyspaces;
