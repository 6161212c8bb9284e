//! # dbpat
//!
//! PostgreSQL + Redis data patterns from `#[derive(Entity)]`: DDL, typed queries, versioned
//! updates and a cache-aside layer, all rendered from one `const` model per table.
//! See the README for the attribute reference.

#![warn(missing_docs)]

pub use dbpat_derive::{DbEnum, Entity};
pub use dbpat_runtime::*;
